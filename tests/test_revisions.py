"""Revisions, runnable: every switch of issue 8, read as the specs' sentences."""

from __future__ import annotations

import json

import pytest
from starlette.responses import Response

from lab_servers import DEFAULT_REVISION, PREVIOUS_REVISION, REVISIONS, ASCapabilities, Credentials, Lab, StepError
from lab_servers.client.revisions import CLIENT_CAPABILITIES_META, PROTOCOL_VERSION_META
from lab_servers.sdk import sdk_whoami
from lab_servers.security.mixup import mixup_table

from .helpers import assert_oauth_error
from .test_resource_server import TOOLS_LIST, post_mcp

pytestmark = pytest.mark.anyio

AS2_HOST, AS2_ADDRESS = "auth2.example.com", "93.184.215.21"


def mcp_posts(lab: Lab) -> list[dict[str, object]]:
    return [json.loads(e.request_body) for e in lab.trace.exchanges if e.url == lab.mcp_url and e.method == "POST"]


async def test_the_default_revision_is_2026_07_28_and_the_previous_one_argument_away() -> None:
    assert (DEFAULT_REVISION, PREVIOUS_REVISION) == ("2026-07-28", "2025-11-25")
    async with Lab() as lab, Lab(revision=PREVIOUS_REVISION) as old:
        assert lab.revision.version == "2026-07-28" and old.revision.version == "2025-11-25"
        assert (await lab.connect()).records[-1].learned["protocol_version"] == "2026-07-28"
        assert (await old.connect()).records[-1].learned["protocol_version"] == "2025-11-25"


async def test_a_2026_07_28_client_sends_no_initialize_and_every_post_carries_the_headers_and_meta() -> None:
    async with Lab() as lab:
        await lab.connect("cimd")
        posts = [e for e in lab.trace.exchanges if e.url == lab.mcp_url]
        assert all(json.loads(e.request_body)["method"] != "initialize" for e in posts)
        for exchange in posts:
            body = json.loads(exchange.request_body)
            assert exchange.request_header("mcp-protocol-version") == "2026-07-28"
            assert exchange.request_header("mcp-method") == body["method"]
            assert body["params"]["_meta"][PROTOCOL_VERSION_META] == "2026-07-28"
            assert CLIENT_CAPABILITIES_META in body["params"]["_meta"]
            if body["method"] == "tools/call":
                assert exchange.request_header("mcp-name") == body["params"]["name"]


async def test_a_2025_11_25_client_initializes_and_sends_the_negotiated_version() -> None:
    async with Lab() as lab:
        await lab.connect("cimd", revision="2025-11-25")
        methods = [p["method"] for p in mcp_posts(lab)]
        assert methods[0] == "initialize" and "notifications/initialized" in methods


@pytest.mark.parametrize("server", list(REVISIONS))
@pytest.mark.parametrize("client", list(REVISIONS))
async def test_a_client_meeting_a_server_of_another_revision_negotiates_falls_back_or_names_the_mismatch(
    server: str, client: str
) -> None:
    async with Lab(revision=server) as lab:
        connector = lab.client(revision=client)
        if client == "2025-03-26" and server != "2025-03-26":
            # 2025-03-26 §2.3.3: no metadata at the MCP origin, so the default endpoints, which a
            # resource-server-only MCP server does not have; only the lab's note says why.
            with pytest.raises(StepError, match=r"^step 4 \(client-id\): registration refused \(404 "):
                await connector.run_all()
            assert any("revision mismatch" in note for note in connector.records[2].notes)
            assert connector.records[3].exchanges[-1].url == "https://mcp.example.com/register"
            return
        await connector.run_all()
        negotiated = connector.state.protocol_version
        # Lifecycle: the older of the two wins; a 2026-07-28 pair needs no initialize at all.
        assert (
            negotiated == min(server, client if client != "2026-07-28" else "2025-11-25")
            or negotiated == "2026-07-28" == server
        )
        assert connector.state.era == ("modern" if "2026-07-28" == server == client else "legacy")


async def test_a_modern_only_server_names_the_revision_an_old_client_is_missing() -> None:
    async with Lab(accept_legacy=False) as lab:
        with pytest.raises(StepError, match=r"-32020.*speaks MCP 2026-07-28.*this client speaks only 2025-11-25"):
            await lab.connect(revision="2025-11-25")


@pytest.mark.parametrize(
    ("accept_legacy", "header", "code"),
    [(False, None, -32020), (False, "2025-11-25", -32022), (True, "2099-01-01", -32022)],
)
async def test_the_2026_07_28_server_answers_400_with_the_modern_error_codes(
    accept_legacy: bool, header: str | None, code: int
) -> None:
    async with Lab(accept_legacy=accept_legacy) as lab:
        token = (await lab.connect()).access_token
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
        if header:
            headers["MCP-Protocol-Version"] = header
        message = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        response = await lab.httpx_client("t").post(lab.mcp_url, json=message, headers=headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == code
        assert response.json()["id"] == 1  # JSON-RPC 2.0 §5: the request's id, not null


async def test_a_legacy_server_refuses_an_unknown_version_with_a_plain_400_so_a_modern_client_falls_back() -> None:
    async with Lab(revision="2025-11-25") as lab:
        connection = await lab.connect(revision="2026-07-28")
        assert any("falling back to initialize" in note for note in connection.records[-1].notes)
        assert connection.records[-1].learned["era"] == "legacy"


async def test_2025_03_26_discovery_starts_at_the_mcp_origin_and_sends_no_resource() -> None:
    async with Lab(revision="2025-03-26") as lab:
        connection = await lab.connect(revision="2025-03-26")
        prm = await lab.httpx_client("t").get("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        assert prm.status_code == 404  # no RFC 9728 before 2025-06-18
        assert "resource_metadata" not in str(connection.records[0].learned.get("resource_metadata"))
        assert connection.records[1].learned["authorization_base_url"] == "https://mcp.example.com"
        assert connection.records[2].learned["issuer"] == "https://mcp.example.com"
        assert "resource=" not in connection.records[4].learned["authorization_url"]


@pytest.mark.parametrize(
    ("urls", "refusal"),
    [
        # serve's loopback URLs: the MCP server and the AS on two origins, no PRM to link them.
        ({"mcp_url": "http://127.0.0.1:9/mcp", "issuer": "http://127.0.0.1:8"}, "is built on the lab's own hosts only"),
        ({"issuer": "https://auth.example.com/tenant1"}, "takes no issuer of its own"),
    ],
    ids=["loopback-urls", "an-issuer-elsewhere"],
)
def test_a_2025_03_26_lab_whose_as_is_not_at_the_mcp_origin_is_refused(urls: dict[str, str], refusal: str) -> None:
    # 2025-03-26 §2.3.2: a client takes the MCP URL's origin as the AS's. Given other URLs, the
    # lab built an MCP server whose 401 named no AS and an AS nowhere a client of that revision
    # looks, silently; `serve --revision 2025-03-26` is refused alike.
    with pytest.raises(ValueError, match=refusal) as refused:
        Lab(revision="2025-03-26", **urls)
    assert "AS lives at the MCP server's origin (MCP 2025-03-26 §2.3.2)" in str(refused.value)


async def test_a_2025_03_26_lab_at_another_mcp_path_keeps_its_as_at_the_mcp_origin() -> None:
    async with Lab(revision="2025-03-26", mcp_url="https://mcp.example.com/notes") as lab:
        assert lab.issuer == "https://mcp.example.com" and lab.co_located is not None
        connection = await lab.connect(revision="2025-03-26")
        assert connection.access_token and connection.whoami["aud"] == "https://mcp.example.com/notes"


@pytest.mark.parametrize(
    "capabilities",
    [ASCapabilities(cimd=False), ASCapabilities(dcr="open")],
    ids=["cimd-off", "dcr-open"],
)
async def test_an_as_given_capabilities_without_a_revision_follows_its_labs_revision(
    capabilities: ASCapabilities,
) -> None:
    # MCP 2025-03-26 has no RFC 8707 resource parameter (MCP §8 came in 2025-06-18): a 2025-03-26
    # lab's AS, whatever it offers, takes its own client's authorization request without one. It
    # was a 2026-07-28 AS (the dataclass's default) and refused it: invalid_target at step 5.
    async with Lab(revision="2025-03-26", capabilities=capabilities) as lab:
        lab.add_authorization_server(AS2_HOST, AS2_ADDRESS, capabilities=capabilities)
        assert [server.capabilities.revision for server in lab.authorization_servers.values()] == ["2025-03-26"] * 2
        connection = await lab.connect(revision="2025-03-26")
        assert connection.client_id.startswith("tpc_")
        # Switched at run time to capabilities naming no revision, the AS keeps the one it follows.
        lab.auth_server.capabilities = ASCapabilities(iss_parameter=False)
        assert lab.auth_server.capabilities.revision == "2025-03-26"


async def test_an_as_whose_capabilities_name_a_revision_ahead_of_its_lab_follows_that_one() -> None:
    # A real deployment: an AS upgraded before its MCP server. Named, the revision is kept, and a
    # 2025-03-26 client that sends no resource is refused as a 2026-07-28 AS refuses it (MCP §8).
    async with Lab(revision="2025-03-26", capabilities=ASCapabilities(revision="2026-07-28")) as lab:
        assert lab.auth_server.capabilities.revision == "2026-07-28"
        with pytest.raises(StepError, match=r"^step 5 \(authorize\): .*invalid_target: resource is required"):
            await lab.connect(revision="2025-03-26")


def test_an_as_built_alone_follows_the_default_revision() -> None:
    assert ASCapabilities().revision is None and ASCapabilities().mcp_revision == DEFAULT_REVISION
    assert ASCapabilities(cimd=False).following("2025-06-18").revision == "2025-06-18"
    assert ASCapabilities(revision="2026-07-28").following("2025-06-18").revision == "2026-07-28"


async def test_2025_03_26_default_endpoints_are_used_when_there_is_no_metadata() -> None:
    async with Lab(revision="2025-03-26") as lab:
        assert lab.co_located is not None
        as_app = lab.co_located.authorization_server

        async def without_metadata(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http" and scope["path"].startswith("/.well-known/"):
                return await Response("not found", 404)(scope, receive, send)
            return await as_app(scope, receive, send)

        lab.co_located.authorization_server = without_metadata
        connection = await lab.connect(revision="2025-03-26")
        assert "default endpoints" in " ".join(connection.records[2].notes)
        assert connection.client_id.startswith("tpc_")


async def test_cimd_off_is_advertised_and_enforced() -> None:
    async with Lab(capabilities=ASCapabilities(cimd=False)) as lab:
        assert "client_id_metadata_document_supported" not in lab.auth_server.metadata()
        connection = await lab.connect()  # auto: falls back to DCR, and says why
        assert connection.client.state.registration_method == "dcr"
        assert "does not advertise" in connection.records[3].learned["reasons"]["cimd"]
        client = lab.client("dcr")
        for _ in range(4):
            await client.next_step()
        client.state.credentials = Credentials(lab.client_metadata_url)  # a client insisting on its URL
        with pytest.raises(StepError, match="does not support Client ID Metadata Documents"):
            await client.authorize()


async def test_an_as_offering_no_method_a_document_may_name_neither_advertises_nor_fetches_cimd() -> None:
    # CIMD -02 §4.1: a document names no shared secret, so with client_secret_post alone no CIMD
    # client can finish; the AS refuses the URL at /authorize, before fetching anything.
    async with Lab(capabilities=ASCapabilities(token_endpoint_auth_methods=("client_secret_post",))) as lab:
        assert "client_id_metadata_document_supported" not in lab.auth_server.metadata()
        client = lab.client("cimd")
        for _ in range(3):  # discovery; step 4 would refuse CIMD, as the metadata says
            await client.next_step()
        client.state.credentials = Credentials(lab.client_metadata_url)  # a client insisting on its URL
        with pytest.raises(StepError, match="does not support Client ID Metadata Documents"):
            await client.authorize()
        assert not lab.cimd_cache
        assert lab.client_metadata_url not in [e.url for e in lab.trace.exchanges]


@pytest.mark.parametrize(
    ("dcr", "status", "error"),
    [
        ("closed", 403, "access_denied"),
        ("removed", 404, "invalid_request"),
    ],
)
async def test_dcr_modes_refuse_registration_with_the_rule(dcr: str, status: int, error: str) -> None:
    async with Lab(capabilities=ASCapabilities(dcr=dcr, initial_access_token="iat-123")) as lab:  # type: ignore[arg-type]
        response = await lab.httpx_client("t").post(
            "https://auth.example.com/register", json={"redirect_uris": ["https://app.example/callback"]}
        )
        assert (response.status_code, response.json()["error"]) == (status, error)
        assert "registration_endpoint" not in lab.auth_server.metadata()


@pytest.mark.parametrize(
    ("authorization", "status", "challenge"),
    [
        # RFC 6750 §3.1: no credentials at all → no error code, no other error information; §3:
        # yet the scheme "MUST be followed by one or more auth-param values" (a bare Bearer was sent).
        (None, 401, 'Bearer realm="registration"'),
        ("Bearer wrong", 401, 'Bearer error="invalid_token"'),
        # RFC 6750 §2.1: 1*SP, then a b64token; str.strip() also took the NBSP (read as Latin-1).
        # Not a b64token: the request is malformed (§3.1 invalid_request, 400), as at the MCP server.
        (b"Bearer \xa0iat-123", 400, 'Bearer error="invalid_request"'),
    ],
)
async def test_registration_behind_an_initial_access_token_challenges_as_rfc_6750_says(
    authorization: str | bytes | None, status: int, challenge: str
) -> None:
    capabilities = ASCapabilities(dcr="initial_access_token", initial_access_token="iat-123")
    async with Lab(capabilities=capabilities) as lab:
        headers = {"Authorization": authorization} if authorization else {}
        response = await lab.httpx_client("t").post(
            "https://auth.example.com/register",
            json={"redirect_uris": ["https://app.example/callback"]},
            headers=headers,
        )
        assert "registration_endpoint" in lab.auth_server.metadata()
    assert (response.status_code, response.headers["www-authenticate"]) == (status, challenge)
    assert ("error" in response.text) == (authorization is not None)


async def test_a_client_refused_for_lack_of_an_initial_access_token_names_the_challenge() -> None:
    async with Lab(
        capabilities=ASCapabilities(cimd=False, dcr="initial_access_token", initial_access_token="x")
    ) as lab:
        with pytest.raises(
            StepError, match=r"registration refused \(401 WWW-Authenticate: Bearer realm=\"registration\"\)"
        ):
            await lab.connect()


async def test_an_initial_access_token_opens_registration() -> None:
    async with Lab(
        capabilities=ASCapabilities(cimd=False, dcr="initial_access_token", initial_access_token="iat-123")
    ) as lab:
        assert (await lab.connect(initial_access_token="iat-123")).client_id.startswith("tpc_")


@pytest.mark.parametrize("token", ["iat secret", "iat:1", "s3cr3t!", "=abc"])
def test_an_initial_access_token_that_no_bearer_header_can_carry_is_refused_when_the_as_is_configured(
    token: str,
) -> None:
    # RFC 7591 §3: an OAuth 2.0 bearer token, so `Authorization: Bearer` and a b64token (RFC 6750
    # §2.1), which /register reads as the resource servers do. Such a token was configured without
    # a word, and every registration, the lab client's own, was then refused 400 as malformed.
    with pytest.raises(ValueError, match=r"is no b64token.* \(RFC 7591 §3, RFC 6750 §2.1"):
        ASCapabilities(dcr="initial_access_token", initial_access_token=token)


async def test_registration_endpoint_advertised_while_dcr_is_closed_fails_the_client() -> None:
    async with Lab(capabilities=ASCapabilities(cimd=False, dcr="closed", advertise_registration_endpoint=True)) as lab:
        with pytest.raises(StepError, match=r"registration refused \(403 access_denied"):
            await lab.connect()


async def test_pre_registered_only_and_the_ask_the_user_option() -> None:
    async with Lab(capabilities=ASCapabilities(cimd=False, dcr="removed")) as lab:
        lab.auth_server.preregister("desk-client", {"client_name": "Desk", "redirect_uris": ["https://app.example/callback"],
                                                    "token_endpoint_auth_method": "none"})  # fmt: skip
        with pytest.raises(StepError, match="no way to get a client_id"):
            await lab.connect()

        async def user(metadata: dict[str, object]) -> Credentials:
            return Credentials("desk-client")

        connection = await lab.connect(ask_user=user)
        assert connection.client_id == "desk-client"
        reasons = connection.records[3].learned["reasons"]
        assert reasons["ask-user"].startswith("chosen") and reasons["dcr"].startswith("skipped")
        connection = await lab.connect(preregistered={lab.issuer: Credentials("desk-client")})
        assert connection.records[3].learned["reasons"]["preregistered"].startswith("chosen")


async def test_token_endpoint_auth_methods_are_advertised_and_enforced_at_registration() -> None:
    async with Lab(capabilities=ASCapabilities(token_endpoint_auth_methods=("client_secret_basic",))) as lab:
        assert lab.auth_server.metadata()["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
        response = await lab.httpx_client("t").post("https://auth.example.com/register", json={
            "redirect_uris": ["https://app.example/callback"], "token_endpoint_auth_method": "none"})  # fmt: skip
        assert response.json()["error"] == "invalid_client_metadata"


@pytest.mark.parametrize(
    ("methods", "advertised"),
    [(("private_key_jwt",), True), (("none",), True), (("client_secret_basic", "client_secret_post"), False)],
)
def test_cimd_is_advertised_only_while_a_method_a_document_may_name_is_offered(
    methods: tuple[str, ...], advertised: bool
) -> None:
    # CIMD -02 §4.1: a document names no shared secret, so a CIMD client authenticates with `none`
    # or `private_key_jwt`; an AS offering either can take one, an AS offering neither cannot.
    metadata = ASCapabilities(cimd=True, token_endpoint_auth_methods=methods).apply_to_metadata({})
    assert ("client_id_metadata_document_supported" in metadata) is advertised


async def test_a_dcr_request_carries_application_type_from_2026_07_28() -> None:
    async with Lab() as lab:
        client = lab.client("dcr", client_metadata={k: v for k, v in lab_metadata().items() if k != "application_type"})
        await client.run_all()
        assert client.records[3].learned["registration"]["application_type"] == "web"


def lab_metadata() -> dict[str, object]:
    from lab_servers import default_client_metadata

    return default_client_metadata()


@pytest.mark.parametrize(("revision", "reregisters"), [("2026-07-28", True), ("2025-11-25", False)])
async def test_when_the_resource_moves_to_another_as_credentials_stay_with_their_issuer(
    revision: str, reregisters: bool
) -> None:
    async with Lab(capabilities=ASCapabilities(cimd=False)) as lab:
        lab.add_authorization_server(AS2_HOST, AS2_ADDRESS, capabilities=ASCapabilities(cimd=False))
        client = lab.client(revision=revision)
        await client.run_all()
        first = client.state.credentials
        lab.use_authorization_server(f"https://{AS2_HOST}")
        assert lab.resource_server.metadata()["authorization_servers"] == [f"https://{AS2_HOST}"]
        if not reregisters:
            # The pre-2026 client keys its registration by the server, carries it to AS2: unknown there.
            with pytest.raises(StepError, match="unknown client_id"):
                await client.call_tool("whoami")
            return
        result = await client.call_tool("whoami")
        assert result["structuredContent"]["client_id"] != first.client_id
        assert set(client.credential_store) == {lab.issuer, f"https://{AS2_HOST}"}


async def test_a_grace_window_keeps_the_old_as_tokens_valid() -> None:
    async with Lab() as lab:
        lab.add_authorization_server(AS2_HOST, AS2_ADDRESS)
        client = lab.client()
        await client.run_all()
        token = client.state.access_token
        lab.use_authorization_server(f"https://{AS2_HOST}", keep_previous=True)
        await client.call_tool("whoami")
        assert client.state.access_token == token  # no rediscovery was needed


async def test_without_a_grace_window_a_token_the_server_accepted_before_the_move_is_refused_after_it() -> None:
    async with Lab() as lab:
        lab.add_authorization_server(AS2_HOST, AS2_ADDRESS)
        client = lab.client()
        await client.run_all()  # the RS verified and remembered this token
        lab.use_authorization_server(f"https://{AS2_HOST}")
        response = await post_mcp(lab, TOOLS_LIST, client.state.access_token)
        assert_oauth_error(response, 401, "invalid_token", f"it now uses https://{AS2_HOST}")


@pytest.mark.parametrize("revision", ["2026-07-28", "2025-11-25"])
async def test_step_up_asks_for_the_union_from_2026_07_28_and_for_the_challenge_alone_before(revision: str) -> None:
    async with Lab(revision=revision) as lab:
        client = lab.client()
        await client.run_all()
        await client.call_tool("add_note", {"text": "hi"})
        forbidden = [e for e in lab.trace.exchanges if e.status == 403]
        assert forbidden and 'scope="notes:read notes:write"' in (
            forbidden[0].response_header("www-authenticate") or ""
        )
        step_up = next(r for r in client.records if r.name == "step-up")
        assert step_up.learned["union"] == "notes:read notes:write"
        assert {"notes:read", "notes:write"} <= set(client.state.tokens["scope"].split())


async def test_the_mixup_attack_succeeds_unless_the_client_checks_iss_and_the_honest_as_sends_it() -> None:
    table = {(r.client_revision, r.policy): r for r in await mixup_table()}
    assert {key: r.attack_succeeded for key, r in table.items()} == {
        ("2025-11-25", "naive"): True, ("2025-11-25", "hardened"): True,
        ("2026-07-28", "naive"): True, ("2026-07-28", "hardened"): False,
    }  # fmt: skip
    assert "possible mix-up attack" in (table[("2026-07-28", "hardened")].stopped_at or "")
    assert not table[("2026-07-28", "hardened")].stolen_token


@pytest.mark.parametrize(
    ("revision", "mode"),
    [("2025-03-26", "legacy"), ("2025-06-18", "legacy"), ("2025-11-25", "legacy"), ("2025-11-25", "auto"),
     ("2026-07-28", "2026-07-28"), ("2026-07-28", "auto"), ("2026-07-28", "legacy")],
)  # fmt: skip
async def test_the_official_sdk_client_works_under_each_revision_it_supports(revision: str, mode: str) -> None:
    async with Lab(revision=revision) as lab:
        whoami = await sdk_whoami(lab, mode=mode)
        assert whoami["client_id"].startswith("tpc_")
        versions = {e.request_header("mcp-protocol-version") for e in lab.trace.exchanges if e.url == lab.mcp_url}
        assert (versions == {"2026-07-28"}) == (mode != "legacy" and revision == "2026-07-28")


async def test_the_stepper_offers_auto_and_step_4_says_why() -> None:
    from lab_servers.widgets.stepper import HandshakeStepper

    async with Lab() as lab:
        stepper = HandshakeStepper(lab, method="auto")
        assert ("auto", "auto") in stepper.method_buttons.options
        while stepper.next_step_number <= 4:
            await stepper.advance("approve")
        assert stepper.records[3].learned["reasons"]["cimd"].startswith("chosen")
        await stepper.aclose()


async def test_a_method_the_as_stops_offering_is_refused_at_the_token_endpoint() -> None:
    async with Lab() as lab:
        client = lab.client("dcr")
        for _ in range(5):
            await client.next_step()
        lab.auth_server.capabilities = lab.auth_server.capabilities.but(
            token_endpoint_auth_methods=("private_key_jwt",)
        )
        with pytest.raises(StepError, match="no longer offers 'none'"):
            await client.exchange_code()


async def test_iss_off_is_advertised_and_enforced_and_each_revision_has_its_as_defaults() -> None:
    async with Lab(capabilities=ASCapabilities(iss_parameter=False)) as lab:
        assert "authorization_response_iss_parameter_supported" not in lab.auth_server.metadata()
        connection = await lab.connect()
        assert "iss=" not in connection.records[4].learned["redirect"]
    assert (
        ASCapabilities.for_revision("2025-06-18").cimd,
        ASCapabilities.for_revision("2025-06-18").iss_parameter,
    ) == (False, False)
    assert (
        ASCapabilities.for_revision("2026-07-28").cimd,
        ASCapabilities.for_revision("2026-07-28").iss_parameter,
    ) == (True, True)


@pytest.mark.parametrize("path", ["/token", "/authorize", "/register", "/.well-known/oauth-authorization-server"])
def test_a_2025_03_26_mcp_url_at_a_path_its_co_located_as_serves_is_refused(path: str) -> None:
    # One host serves both (2025-03-26 §2.3.2); at /token the host sent the AS's token endpoint,
    # which the AS's own metadata advertises, to the MCP server, and no handshake could finish.
    with pytest.raises(ValueError, match=f"{path} is a path of the authorization server at the MCP server's origin"):
        Lab(revision="2025-03-26", mcp_url=f"https://mcp.example.com{path}")


def test_an_mcp_url_with_its_host_in_capitals_is_refused_naming_its_canonical_uri() -> None:
    # MCP §8.1: the AS reads the resource's host in lower case and issues tokens for that; in a
    # 2025-03-26 lab it was refused as off the lab's hosts (compared as written, RFC 3986 §6.2.2.1).
    for revision in ("2025-03-26", DEFAULT_REVISION):
        with pytest.raises(ValueError, match=r"canonical URI, 'https://mcp.example.com/mcp' \(MCP §8.1\)"):
            Lab(revision=revision, mcp_url="https://MCP.example.com/mcp")
