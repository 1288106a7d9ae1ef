"""The client's side of the MCP authorization rules that an audit found the lab client did not keep:
it checks its own identity before presenting it (CIMD §3, §4.1; MCP §5.1.1, §11.3), acts on a
DCR secret's expiry (RFC 7591 §3.2.1), sends a code only to the AS it asked (RFC 9207; MCP
2026-07-28 §7.1), and tracks step-up attempts per resource and operation (MCP §10.1.2)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import pytest
from starlette.requests import Request
from starlette.responses import Response

from lab_servers import Lab, StepError, default_client_metadata
from lab_servers.client.client_id_url import client_id_url_advice, redirect_uri_problem
from lab_servers.client.registration_step import application_type

from .hostile_server import BASE, HOST, HostileServer, _json

pytestmark = pytest.mark.anyio


def _sent(lab: Lab, path: str, host: str | None = None) -> list[Any]:
    return [e for e in lab.trace if e.path == path and (host is None or e.host == host)]


# CIMD §3: the Client Identifier URL, checked before the client presents it -------------------

BROKEN_CLIENT_ID_URLS = [
    ("http://app.example/client.json", r"MUST have the https scheme, not 'http' \(CIMD §3; MCP §5.1.1\)"),
    ("https://app.example", r"MUST contain a path component \(CIMD §3; MCP §5.1.1\)"),
    ("https://app.example/client.json#v1", r"MUST NOT contain a fragment \(CIMD §3\)"),
    ("https://app.example/client.json#", r"MUST NOT contain a fragment \(CIMD §3\)"),  # an empty one is one too
    ("https://agent:hunter2@app.example/client.json", r"MUST NOT contain a username or password \(CIMD §3\)"),
    # A password without a user name, and an empty userinfo, are userinfo too (RFC 3986 §3.2.1).
    ("https://:hunter2@app.example/client.json", r"MUST NOT contain a username or password \(CIMD §3\)"),
    ("https://@app.example/client.json", r"MUST NOT contain a username or password \(CIMD §3\)"),
    ("https://app.example/./client.json", r"MUST NOT contain single-dot or double-dot path segments \(CIMD §3\)"),
    ("https://app.example/a/../client.json", r"MUST NOT contain single-dot or double-dot path segments"),
    ("https://app.example/a/%2E%2e/client.json", r"MUST NOT contain single-dot or double-dot path segments"),
    ("https://app.example/client .json", r"ASCII with no spaces, backslashes, control characters .*\(RFC 3986 §2\)"),
    # The AS refuses these too: httpx sends a '<' in a host as %3C, another name than the one vetted.
    ("https://app<1>.example/client.json", r"or other characters no URI contains \(RFC 3986 §2\)"),
]


@pytest.mark.parametrize("method", ["cimd", "auto"])
@pytest.mark.parametrize(("url", "rule"), BROKEN_CLIENT_ID_URLS, ids=[u for u, _ in BROKEN_CLIENT_ID_URLS])
async def test_a_client_does_not_present_a_client_id_url_that_breaks_cimd_section_3(
    lab: Lab, method: str, url: str, rule: str
) -> None:
    # Its own document says the same URL, so the URL alone is at fault.
    client = lab.client(method, client_metadata_url=url)  # type: ignore[arg-type]
    with pytest.raises(
        StepError, match=rf"^step 4 \(client-id\): this client's document URL .* cannot be its client_id: .*{rule}"
    ):
        await client.run_all()
    assert _sent(lab, "/authorize") == []  # the AS never saw it: no error page for the client's own mistake


async def test_a_client_whose_document_names_another_client_id_does_not_present_its_url(lab: Lab) -> None:
    # CIMD §4, MCP §5.1.1: the document's client_id is exactly its URL. A case-changed host is
    # the same host to DNS, but not the same string.
    document = {**default_client_metadata(), "client_id": "https://APP.example/client.json"}
    client = lab.client("cimd", client_metadata=document)
    with pytest.raises(StepError, match=r"^step 4 \(client-id\): .* the client's document has client_id "
                                        r"'https://APP.example/client.json': it MUST be exactly the URL of the document \(CIMD §4; MCP §5.1.1\)"):  # fmt: skip
        await client.run_all()
    assert _sent(lab, "/authorize") == []


async def test_metadata_of_redirect_uris_alone_is_registered_as_written_and_the_handshake_completes(lab: Lab) -> None:
    # RFC 7591 §2: every other field is optional (the AS applies its defaults), and the lab client
    # reads nothing else of its own metadata; it adds only what it must say (§2's auth method,
    # 2026-07-28's application_type).
    client = lab.client("dcr", client_metadata={"redirect_uris": ["https://app.example/callback"]})
    await client.run_all()
    registered = json.loads(_sent(lab, "/register")[0].request_body)
    assert set(registered) == {"redirect_uris", "token_endpoint_auth_method", "application_type"}
    assert client.state.whoami["client_id"].startswith("tpc_")


async def test_metadata_without_a_client_id_does_not_stop_the_client_presenting_its_url(lab: Lab) -> None:
    # The client's metadata doubles as its DCR request, which has no client_id (RFC 7591 §2): it says
    # nothing against the URL, and the document published there names it (CIMD §4).
    metadata = default_client_metadata()
    del metadata["client_id"]
    client = lab.client(client_metadata=metadata)
    await client.run_all()
    assert client.state.registration_method == "cimd" and client.state.credentials.client_id == lab.client_metadata_url


async def test_a_well_formed_client_id_url_is_presented_and_advice_is_noted_not_refused(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    assert connection.client_id == lab.client_metadata_url
    with_query = "https://app.example/client.json?v=2"
    client = lab.client("cimd", client_metadata_url=with_query)
    for _ in range(4):
        await client.next_step()
    assert client.state.credentials.client_id == with_query  # presented: a SHOULD NOT is no MUST NOT
    assert "a Client Identifier URL SHOULD NOT include a query (CIMD §3)" in client.records[-1].notes
    for with_a_query in ("https://app.example/client.json?v=2", "https://app.example/client.json?"):
        assert client_id_url_advice(with_a_query) == ["a Client Identifier URL SHOULD NOT include a query (CIMD §3)"]
    assert client_id_url_advice("https://app.example/") == [
        "a Client Identifier URL with the root path '/' is NOT RECOMMENDED (CIMD -02 §3)"
    ]


# MCP §11.3: redirect URIs are localhost or HTTPS -------------------------------------------------


@pytest.mark.parametrize(
    ("redirect_uri", "rule"),
    [
        ("http://app.example/callback", r"MUST be either localhost \(loopback\) or use HTTPS \(MCP §11.3"),
        ("myagent://callback", r"MUST be either localhost \(loopback\) or use HTTPS \(MCP §11.3"),
        ("https://app.example/callback#done", r"MUST NOT include a fragment \(RFC 6749 §3.1.2\)"),
    ],
)
async def test_a_client_does_not_send_a_redirect_uri_that_is_neither_https_nor_loopback(
    lab: Lab, redirect_uri: str, rule: str
) -> None:
    document = {**default_client_metadata(), "redirect_uris": [redirect_uri]}
    client = lab.client("cimd", client_metadata=document)
    with pytest.raises(
        StepError, match=rf"^step 5 \(authorize\): this client's redirect URI .* cannot be used: .*{rule}"
    ):
        await client.run_all()
    assert _sent(lab, "/authorize") == []


@pytest.mark.parametrize(
    "uri",
    ["https://app.example/callback", "http://localhost:3000/callback", "http://127.0.0.1/cb", "http://[::1]:9/cb"],
)
def test_https_and_loopback_http_redirect_uris_are_allowed(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize("uri", ["https:///callback", "https:callback", "https://:443/callback"])
def test_an_https_redirect_uri_without_a_host_is_not_allowed(uri: str) -> None:
    # RFC 6749 §3.1.2: an absolute URI; an https URI names the host the browser is sent back to
    # (RFC 9110 §4.2.2: a sender MUST NOT generate one with an empty host). It uses HTTPS: the
    # reason says what it lacks, not "MUST be either localhost or use HTTPS".
    assert redirect_uri_problem(uri) == "an https redirect URI MUST name a host (RFC 6749 §3.1.2; RFC 9110 §4.2.2)"


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example:abc/cb",
        "https://app.example:99999/cb",
        "http://localhost:abc/cb",
        "http://localhost:99999/cb",
    ],
)
def test_a_redirect_uri_whose_port_is_no_tcp_port_is_not_allowed(uri: str) -> None:
    # RFC 3986 §3.2.3: a port is digits, and a TCP port at most 65535; the AS refuses these
    # (redirect_uris.check_redirect_uri), so a client that sent one would fail only at registration.
    problem = redirect_uri_problem(uri)
    assert problem is not None and problem.startswith("it is not a valid URL (Port ")


@pytest.mark.parametrize("uri", ["https://[::1]:8443/callback", "https://127.0.0.2/callback", "http://localhost/cb"])
def test_a_loopback_redirect_uri_makes_a_native_application_type(uri: str) -> None:
    # MCP 2026-07-28 client-registration §3.1: native for localhost redirects, whatever the scheme
    # or the loopback address (127.0.0.0/8, ::1).
    assert application_type([uri]) == "native"
    assert application_type(["https://app.example/callback"]) == "web"


# RFC 7591 §3.2.1: client_secret_expires_at -------------------------------------------------------


def _registering(lab: Lab, expires_in: int | None) -> tuple[HostileServer, list[str]]:
    """An AS that gives each registration a new id and a secret that expires `expires_in` seconds
    from now (0: never, as RFC 7591 §3.2.1 says)."""
    issued: list[str] = []

    def register(request: Request) -> Response:
        issued.append(f"client-{len(issued) + 1}")
        expires_at = 0 if expires_in == 0 else lab.clock.now() + (expires_in or 0)
        return _json({"client_id": issued[-1], "client_secret": "s3cret", "client_secret_expires_at": expires_at,
                      "token_endpoint_auth_method": "client_secret_basic"}, 201)  # fmt: skip

    server = HostileServer(register=register)
    lab.network.add_host(HOST, "93.184.215.90", server.app())
    return server, issued


async def _connect(lab: Lab, store: dict[str, Any]) -> Any:
    client = lab.client("auto", credential_store=store)
    client.mcp_url = f"{BASE}/mcp"
    await client.run_all()
    return client


async def test_a_client_registers_again_once_its_dcr_secret_has_expired(lab: Lab) -> None:
    _, issued = _registering(lab, expires_in=3600)
    store: dict[str, Any] = {}
    first = await _connect(lab, store)
    assert first.state.registration_method == "dcr" and first.state.credentials.client_secret_expires_at > 0
    assert (await _connect(lab, store)).state.registration_method == "stored"  # still valid: reused
    lab.clock.advance(3600)
    again = await _connect(lab, store)
    assert again.state.registration_method == "dcr" and issued == ["client-1", "client-2"]
    assert store[BASE].client_id == "client-2"
    assert "expired at" in again.state.registration_reasons["stored"]
    assert "RFC 7591 §3.2.1" in again.state.registration_reasons["stored"]


async def test_a_client_secret_expires_at_of_zero_never_expires(lab: Lab) -> None:
    _, issued = _registering(lab, expires_in=0)
    store: dict[str, Any] = {}
    await _connect(lab, store)
    lab.clock.advance(10 * 365 * 24 * 3600)
    assert (await _connect(lab, store)).state.registration_method == "stored"
    assert issued == ["client-1"]


# RFC 9207, MCP 2026-07-28 §7.1: the code goes back only to the AS that issued it ----------------


async def test_a_code_is_not_sent_to_an_authorization_server_discovered_after_it_was_issued(lab: Lab) -> None:
    second = "auth2.example.com"
    lab.add_authorization_server(second, "93.184.215.21")
    client = lab.client("cimd")
    for _ in range(5):
        await client.next_step()
    lab.use_authorization_server(f"https://{second}")
    await client.discover_resource_metadata()
    await client.discover_authorization_server()
    with pytest.raises(StepError, match=r"^step 6 \(token\): the code came from 'https://auth.example.com', but the "
                                        r"client now talks to 'https://auth2.example.com'"):  # fmt: skip
        await client.exchange_code()
    assert _sent(lab, "/token") == []  # neither AS got the code: not the new one, and not by accident the old


# MCP §10.1.2: step-up attempts tracked per resource and operation --------------------------------


async def test_step_up_attempts_are_counted_per_operation_across_requests(lab: Lab) -> None:
    challenge = 'Bearer error="insufficient_scope", scope="notes:write"'
    forbidden = Response("{}", 403, headers={"WWW-Authenticate": challenge})

    def mcp(message: dict[str, Any]) -> Response:
        if message["method"] == "tools/list":
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [{"name": "whoami"}]}})
        return forbidden

    server = HostileServer(mcp=mcp)
    lab.network.add_host(HOST, "93.184.215.90", server.app())
    client = lab.client("dcr")
    client.mcp_url = f"{BASE}/mcp"
    for _ in range(6):
        await client.next_step()
    for _ in range(2):  # a program calling the tool again: the user is not asked to consent again
        with pytest.raises(StepError, match=r"tools/call whoami still needs scope 'notes:write' after 2 step-up "
                                            r"authorizations; giving up \(MCP §10.1.2\)"):  # fmt: skip
            await client.call_tool("whoami")
    assert len(server.seen) == 3  # the first authorization and two step-ups, for both calls together


# MCP 2025-06-18 basic/transports: MCP-Protocol-Version after initialize, without a token too ----


class InitializeWithoutToken(HostileServer):
    """A server that lets initialize through without a token and protects what follows, as the
    conformance suite's scope scenarios do."""

    async def mcp(self, request: Request) -> Response:
        message = json.loads(await request.body())
        if "authorization" not in request.headers and message.get("method") == "initialize":
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "serverInfo": {"name": "open", "version": "1"}}})  # fmt: skip
        if "authorization" not in request.headers and message.get("method") == "notifications/initialized":
            return Response(status_code=202)
        return await super().mcp(request)


async def test_the_requests_after_an_initialize_let_through_carry_the_negotiated_version(lab: Lab) -> None:
    lab.network.add_host(HOST, "93.184.215.90", InitializeWithoutToken().app())
    client = lab.client("dcr", revision="2025-11-25")
    client.mcp_url = f"{BASE}/mcp"
    await client.request_without_token()
    sent = {json.loads(e.request_body)["method"]: e.request_header("mcp-protocol-version") for e in _sent(lab, "/mcp")}
    # initialize negotiates the version; everything after it states the one negotiated.
    assert sent == {"initialize": None, "notifications/initialized": "2025-06-18", "tools/list": "2025-06-18"}


# Holding the rules the client kept already, over a whole connection with a refresh ------------


async def test_every_mcp_request_with_a_token_carries_it_as_bearer_and_every_token_request_names_the_resource(
    lab: Lab,
) -> None:
    from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME

    client = (await lab.connect("cimd")).client
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    await client.call_tool("whoami")  # 401 invalid_token → refresh → retry
    tokens = {e.response_body for e in _sent(lab, "/token")}
    assert len(tokens) == 2  # the code exchange and the refresh
    with_token = [e for e in lab.trace if e.url == lab.mcp_url and e.step != "challenge"]
    assert len(with_token) >= 4  # step 7's tools/list and tools/call, the refused call and its retry
    for exchange in with_token:
        # MCP §9.1: Authorization: Bearer on every request, even within a session.
        assert (exchange.request_header("authorization") or "").startswith("Bearer ")
    for exchange in lab.trace:
        # MCP §9.1, OAuth 2.1 §5.1: never in a query string.
        assert "access_token" not in exchange.url and "eyJ" not in exchange.url
    for exchange in _sent(lab, "/token"):
        # RFC 8707 §2 (MCP §8): on every token request, the refresh included, the same resource.
        assert dict(parse_qsl(exchange.request_body))["resource"] == lab.mcp_url


async def test_two_calls_refused_for_the_same_expired_token_refresh_once_and_the_grant_survives(lab: Lab) -> None:
    # OAuth 2.1 §4.3.1: with rotation, a refresh token presented twice is reuse, and the AS revokes
    # the grant. Two calls at once met the same 401 and both refreshed with the same token: the
    # second looked exactly like a replay. The client serialises its refreshes, and a call whose
    # token was refreshed meanwhile retries with the new one.
    import asyncio

    from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME

    client = (await lab.connect("cimd")).client
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    first, second = await asyncio.gather(client.call_tool("whoami"), client.call_tool("whoami"))
    assert first["structuredContent"]["sub"] == second["structuredContent"]["sub"] == "alice"
    assert [r.name for r in client.records].count("refresh") == 1
    assert len(_sent(lab, "/token")) == 2  # the code exchange and one refresh
    assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"  # the grant lives


async def test_calls_made_at_once_that_need_a_step_up_share_one_and_the_user_consents_once(lab: Lab) -> None:
    # MCP §10.1.2: a program calling a tool repeatedly must not ask the user to consent again each
    # time, nor when it calls at once. Each call started its own authorization: the second's state
    # and PKCE verifier replaced the first's, which then discarded its own redirect as a state
    # mismatch (RFC 6749 §10.12), the user consented twice, and the third call gave up after "2
    # step-up authorizations". One step-up at a time; a call stepped up meanwhile retries.
    import asyncio

    client = (await lab.connect("cimd")).client  # its token has notes:read
    start = len(lab.trace.exchanges)
    results = await asyncio.gather(*(client.call_tool("add_note", {"text": f"note {i}"}) for i in range(3)))
    assert [r["structuredContent"]["added"] for r in results] == ["note 0", "note 1", "note 2"]
    consents = [e for e in lab.trace.exchanges[start:] if e.caller == "browser" and e.method == "POST"]
    assert len(consents) == 1 and [r.name for r in client.records].count("step-up") == 1
    assert client.step_ups == {}  # it went through: the count starts again


async def test_a_client_credentials_client_calling_at_once_asks_for_the_wider_scope_once(lab: Lab) -> None:
    import asyncio

    from lab_servers.story import connect_service, publish_service_client

    client = await connect_service(lab, publish_service_client(lab))
    start = len(lab.trace.exchanges)
    results = await asyncio.gather(*(client.call_tool("add_note", {"text": f"n{i}"}) for i in range(3)))
    assert [r["structuredContent"]["added"] for r in results] == ["n0", "n1", "n2"]
    assert sum(e.path == "/token" for e in lab.trace.exchanges[start:]) == 1


# MCP §10.1.2: a client_credentials client MAY step up; with no user, it asks for itself -----------


async def test_a_client_credentials_client_steps_up_and_renews_its_token_with_client_credentials(lab: Lab) -> None:
    # Before, both went to the authorization code flow, which this client never registered for:
    # step 5, unauthorized_client.
    from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
    from lab_servers.story import connect_service, publish_service_client

    client = await connect_service(lab, publish_service_client(lab))
    added = await client.call_tool("add_note", {"text": "nightly report"})  # needs notes:write: 403
    assert added["structuredContent"]["added"] == "nightly report"
    assert [r.name for r in client.records][-3:] == ["step-up", "client-credentials", "call"]
    assert client.records[-2].learned["scope"] == "notes:read notes:write"
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)  # expired, and no refresh token: ask again
    assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "https://app.example/service.json"
    assert [r.name for r in client.records][-2:] == ["client-credentials", "call"]
    assert _sent(lab, "/authorize") == []


# RFC 8414 §2: an issuer has no query or fragment --------------------------------------------------


@pytest.mark.parametrize("issuer", [f"{BASE}?tenant=a", f"{BASE}/#a"])
async def test_an_issuer_with_a_query_or_a_fragment_fails_step_3(lab: Lab, issuer: str) -> None:
    # Its metadata even agrees: the issuer identifier itself breaks the rule.
    server = HostileServer(
        prm=_json({"resource": f"{BASE}/mcp", "authorization_servers": [issuer]}),
        as_metadata=_json({"issuer": issuer, "authorization_endpoint": f"{BASE}/authorize",
                           "token_endpoint": f"{BASE}/token", "code_challenge_methods_supported": ["S256"]}),
    )  # fmt: skip
    lab.network.add_host(HOST, "93.184.215.90", server.app())
    client = lab.client("dcr")
    client.mcp_url = f"{BASE}/mcp"
    await client.next_step()
    await client.next_step()
    with pytest.raises(
        StepError, match=r"^step 3 \(as-metadata\): the issuer .* has a query or a fragment: .*\(RFC 8414 §2\)"
    ):
        await client.next_step()


async def test_a_client_credentials_client_does_not_carry_its_secret_to_an_authorization_server_the_resource_moved_to(
    lab: Lab,
) -> None:
    # MCP 2026-07-28 (SEP-2352): credentials are keyed by the issuer and MUST NOT be reused with
    # another AS. Rediscovery after the move asked the new AS for a token with the old AS's secret.
    from lab_servers.client.state import Credentials

    lab.auth_server.preregister(
        "nightly-job",
        {
            "grant_types": ["client_credentials"],
            "response_types": [],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        "s3cret-of-the-first-as",
    )
    second = "auth2.example.com"
    lab.add_authorization_server(second, "93.184.215.21")
    secret = Credentials("nightly-job", "s3cret-of-the-first-as", "client_secret_basic")
    client = lab.client("auto", preregistered={lab.issuer: secret})
    for _ in range(4):
        await client.next_step()
    await client.client_credentials()
    assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "nightly-job"
    lab.use_authorization_server(f"https://{second}")
    before = len(client.records)
    with pytest.raises(StepError, match=r"^step 13 \(client-credentials\): .*MUST NOT be reused with another"):
        await client.call_tool("whoami")
    assert _sent(lab, "/token", second) == []
    # Filed under the step it names, as every failure is: it was filed under the call's step 8 alone.
    failed = [(r.number, r.name) for r in client.records[before:] if "error" in r.learned]
    assert failed == [(13, "client-credentials"), (8, "call")]
