"""The lab client's checks that no test guarded until a mutation audit changed them and every test
still passed: the scope it asks for (MCP Scope Selection Strategy; offline_access from 2026-07-28),
the `iss` a client before 2026-07-28 notes but does not check (RFC 9207), no empty `resource` (RFC
8707 §2), the 401 without a Bearer challenge (MCP §4.2), the fallback from a legacy 400 (2026-07-28
versioning §4), the well-known root after the path-inserted URL (RFC 9728 §3.1), RFC 8414 alone
before 2025-11-25, the endpoints RFC 8414 §2 requires, the 2025-03-26 default endpoints only after a
404 (2025-03-26 §2.3.3), a Client Identifier URL without a host (CIMD §3), a PEM private key
(RFC 7523 §3), and one authentication method per token request (RFC 6749 §2.3).

One was wrong: a 2025-06-18 client probed the well-known PRM URLs when the 401 named none, which
2025-11-25 introduced (SEP-985)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lab_servers import Credentials, Lab, StepError, default_client_metadata
from lab_servers.client.base import StepRun
from lab_servers.client.client_id_url import client_id_url_problem

from .hostile_server import BASE, HOST, HostileServer, _json, _metadata, _redirect, _run

pytestmark = pytest.mark.anyio

PRM_URL = f"{BASE}/.well-known/oauth-protected-resource/mcp"
NOT_FOUND = Response(status_code=404)


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _prm(**changes: Any) -> Response:
    return _json({"resource": f"{BASE}/mcp", "authorization_servers": [BASE], **changes})


# MCP authorization, Scope Selection Strategy (2025-11-25 on) ---------------------------------


async def test_the_client_asks_for_the_scope_the_challenge_names_not_every_scope_prm_lists(lab: Lab) -> None:
    # "Use scope parameter from the initial WWW-Authenticate header in the 401 response, if provided".
    server = HostileServer(prm=_prm(scopes_supported=["notes:read", "notes:write"]))
    server.challenge = f'Bearer resource_metadata="{PRM_URL}", scope="notes:read"'
    await _run(lab, server, 5)
    assert _query(server.seen[0])["scope"] == "notes:read"


async def test_without_a_challenge_scope_the_client_asks_for_every_scope_prm_lists(lab: Lab) -> None:
    # "If scope is not available, use all scopes defined in scopes_supported from the Protected
    # Resource Metadata document".
    server = HostileServer(prm=_prm(scopes_supported=["notes:read", "notes:write"]))
    await _run(lab, server, 5)
    assert _query(server.seen[0])["scope"] == "notes:read notes:write"


@pytest.mark.parametrize(
    ("revision", "scope"), [("2026-07-28", "notes:read offline_access"), ("2025-11-25", "notes:read")]
)
async def test_offline_access_is_added_from_2026_07_28_on_when_the_as_lists_it(
    lab: Lab, revision: str, scope: str
) -> None:
    # MCP 2026-07-28 (SEP-2207): a client that wants refresh tokens MAY add offline_access when the
    # AS lists it in scopes_supported; a client of an earlier revision asks for what it was told.
    server = HostileServer(
        prm=_prm(scopes_supported=["notes:read"]),
        as_metadata=_json(_metadata(scopes_supported=["notes:read", "offline_access"])),
    )
    await _run(lab, server, 5, revision=revision)
    assert _query(server.seen[0])["scope"] == scope


async def test_a_client_that_wants_no_refresh_token_does_not_add_offline_access(lab: Lab) -> None:
    # SEP-2207: offline_access is for "a client that wants refresh tokens" (grant_types lists refresh_token).
    server = HostileServer(
        prm=_prm(scopes_supported=["notes:read"]),
        as_metadata=_json(_metadata(scopes_supported=["notes:read", "offline_access"])),
    )
    lab.network.add_host(HOST, "93.184.215.90", server.app())
    client = lab.client("dcr", client_metadata={**default_client_metadata(), "grant_types": ["authorization_code"]})
    client.mcp_url = f"{BASE}/mcp"
    for _ in range(5):
        await client.next_step()
    assert _query(server.seen[0])["scope"] == "notes:read"


async def test_a_client_with_no_scope_to_ask_for_does_not_ask_for_offline_access_alone(lab: Lab) -> None:
    # MCP Scope Selection: no challenge scope and no PRM scopes_supported means the scope is
    # omitted; offline_access is added to a scope, never sent in its place.
    server = HostileServer(as_metadata=_json(_metadata(scopes_supported=["notes:read", "offline_access"])))
    await _run(lab, server, 5, revision="2026-07-28")
    assert "scope" not in _query(server.seen[0])


# RFC 9207 §2.4: a client before MCP 2026-07-28 was not asked to check iss ---------------------


async def test_a_2025_11_25_client_goes_on_past_a_wrong_iss_and_notes_it_only_then(lab: Lab) -> None:
    wrong = HostileServer(authorize=lambda r: _redirect(r, "code=C&state={state}&iss=https%3A%2F%2Fevil.example"))
    client = await _run(lab, wrong, 5, revision="2025-11-25")
    assert client.state.code == "C"
    assert any("'https://evil.example' is not" in note for note in client.records[-1].notes)
    async with Lab(seed=0) as other:
        right = await _run(other, HostileServer(), 5, revision="2025-11-25")
    assert not any("iss" in note for note in right.records[-1].notes)


# RFC 8707 §2: `resource` is an absolute URI, never sent empty ----------------------------------


async def test_a_client_that_found_no_prm_sends_no_resource_parameter_to_the_as(lab: Lab) -> None:
    # No PRM and no resource_metadata: the client falls back to the MCP origin as its AS (MCP
    # 2025-03-26 §2.3.2) and has no resource identifier to name, in the authorization request or
    # in the code exchange.
    server = HostileServer(prm=NOT_FOUND)
    server.challenge = "Bearer"
    await _run(lab, server, 6)
    assert "resource" not in _query(server.seen[0])
    (token_request,) = [e for e in lab.trace if e.path == "/token"]
    assert "resource" not in dict(parse_qsl(token_request.request_body, keep_blank_values=True))


# MCP §4.2: the 401's Bearer challenge --------------------------------------------------------


async def test_a_401_without_a_bearer_challenge_fails_step_1_naming_the_rule(lab: Lab) -> None:
    server = HostileServer()
    server.challenge = 'Basic realm="mcp"'
    with pytest.raises(StepError, match=r"^step 1 \(challenge\): the 401 has no Bearer challenge .*\(MCP §4\.2\)"):
        await _run(lab, server, 1)


class LegacyServer(HostileServer):
    """An initialize-era server that checks its session before the token: a request that is no
    initialize, sent without one, is answered 400 with a JSON-RPC error no 2026-07-28 server sends."""

    async def mcp(self, request: Request) -> Response:
        if "authorization" not in request.headers and json.loads(await request.body())["method"] != "initialize":
            return _json({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "No session"}}, 400)
        return await super().mcp(request)


async def test_a_2026_07_28_client_meeting_a_legacy_400_falls_back_to_initialize(lab: Lab) -> None:
    # MCP 2026-07-28 versioning §4: a 400 that is not one of the new errors means a server of an
    # earlier revision; the client retries the initialize way, and meets the 401 there.
    client = await _run(lab, LegacyServer(), 1)
    assert client.state.era == "legacy"
    assert any("falling back to initialize" in note for note in client.records[-1].notes)


async def test_an_initialize_refused_with_401_is_the_last_request_sent_without_a_token(lab: Lab) -> None:
    # Initialize era: the client goes on without a token only while the server lets it through;
    # after the 401 it authorizes, and sends no notifications/initialized or tools/list first.
    await _run(lab, HostileServer(), 1, revision="2025-11-25")
    assert len([e for e in lab.trace if e.path == "/mcp"]) == 1


# RFC 9728 §3.1, MCP Protected Resource Metadata Discovery (2025-11-25 on) ----------------------


class RootMetadataServer(HostileServer):
    """PRM at the root well-known URI only: the path-inserted one answers 404."""

    def app(self) -> Starlette:
        app = super().app()

        async def root(request: Request) -> Response:
            return _json({"resource": BASE, "authorization_servers": [BASE]})

        app.router.routes.append(Route("/.well-known/oauth-protected-resource", root))
        return app


@pytest.mark.parametrize("revision", ["2025-11-25", "2026-07-28"])
async def test_without_resource_metadata_the_client_tries_the_root_after_the_path_inserted_url(
    lab: Lab, revision: str
) -> None:
    server = RootMetadataServer(prm=NOT_FOUND)
    server.challenge = "Bearer"
    client = await _run(lab, server, 2, revision=revision)
    # The root URL was built from the origin, so that is the resource it must name (RFC 9728 §3.3).
    assert client.state.resource_metadata == {"resource": BASE, "authorization_servers": [BASE]}
    assert [t.split(" ")[0] for t in client.records[-1].learned["tried"]] == [
        PRM_URL,
        f"{BASE}/.well-known/oauth-protected-resource",
    ]


async def test_a_2025_06_18_client_probes_no_well_known_url_when_the_401_names_none(lab: Lab) -> None:
    # 2025-06-18 §2.3.1: the server names its metadata in WWW-Authenticate; the well-known URLs as a
    # fallback came in 2025-11-25 (SEP-985). A 401 naming none is a 2025-03-26 server's, whose origin
    # is the authorization base URL (2025-03-26 §2.3.2). The revision flag was read the wrong way
    # round: the client probed, and found this PRM, where its revision gives it no URL to look at.
    server = HostileServer()
    server.challenge = "Bearer"
    client = await _run(lab, server, 2, revision="2025-06-18")
    assert [e.path for e in lab.trace if e.path.startswith("/.well-known/")] == []
    assert client.state.resource_metadata is None and client.state.legacy_base == BASE


async def test_prm_authorization_servers_with_a_member_that_is_no_string_fails_step_2(lab: Lab) -> None:
    # RFC 9728 §2: authorization_servers is a JSON array of issuer identifiers (strings).
    with pytest.raises(
        StepError, match=r"^step 2 \(resource-metadata\): PRM authorization_servers is not a JSON array of strings"
    ):
        await _run(lab, HostileServer(prm=_prm(authorization_servers=[BASE, 5])), 2)


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"authorization_servers": []}, "PRM lists no authorization_servers (MCP §4.1 requires at least one)"),
        ({"authorization_servers": None}, "PRM lists no authorization_servers"),
        ({"authorization_servers": BASE}, "PRM lists no authorization_servers"),
        # " ".join("notes:read") would have asked for the scopes n o t e s : r e a d.
        ({"scopes_supported": "notes:read"}, "PRM scopes_supported is not a JSON array of strings (RFC 9728 §2)"),
        ({"scopes_supported": ["notes:read", 1]}, "PRM scopes_supported is not a JSON array of strings"),
    ],
    ids=["empty", "null", "a-string", "scopes-a-string", "scopes-with-a-number"],
)  # fmt: skip
async def test_prm_without_an_authorization_server_or_with_scopes_that_are_no_strings_fails_step_2(
    lab: Lab, changes: dict[str, Any], said: str
) -> None:
    # MCP §4.1: the PRM's authorization_servers lists at least one; RFC 9728 §2: both members are
    # JSON arrays of strings.
    with pytest.raises(StepError, match=r"^step 2 \(resource-metadata\): " + re.escape(said)):
        await _run(lab, HostileServer(prm=_prm(**changes)), 2)


# RFC 8414: the authorization server's metadata -------------------------------------------------


async def test_a_2025_06_18_client_looks_for_as_metadata_by_rfc_8414_alone(lab: Lab) -> None:
    # MCP 2025-06-18 Authorization Server Metadata Discovery: RFC 8414 only; OpenID Connect
    # Discovery 1.0 as an alternative arrived in 2025-11-25.
    server = HostileServer(as_metadata=NOT_FOUND)
    with pytest.raises(
        StepError, match=r"tried https://hostile\.example/\.well-known/oauth-authorization-server → 404$"
    ):
        await _run(lab, server, 3, revision="2025-06-18")


@pytest.mark.parametrize("endpoint", ["authorization_endpoint", "token_endpoint"])
async def test_as_metadata_without_an_endpoint_the_flow_needs_fails_step_3_naming_it(lab: Lab, endpoint: str) -> None:
    # RFC 8414 §2: authorization_endpoint is REQUIRED (unless no grant type uses it), and
    # token_endpoint is REQUIRED (unless only the implicit grant is supported).
    metadata = _metadata()
    del metadata[endpoint]
    with pytest.raises(StepError, match=rf"^step 3 \(as-metadata\): AS metadata has no {endpoint} \(RFC 8414 §2\)"):
        await _run(lab, HostileServer(as_metadata=_json(metadata)), 3)


# MCP 2025-03-26 §2.3.3: the default endpoints when the server has no metadata (a 404) ------------


async def test_an_as_metadata_error_at_the_mcp_origin_fails_step_3_instead_of_using_default_endpoints(
    lab: Lab,
) -> None:
    # "For servers that do not implement OAuth 2.0 Authorization Server Metadata" the defaults
    # apply; a 500 is a server that failed to answer, not one without metadata.
    server = HostileServer(prm=NOT_FOUND, as_metadata=Response(status_code=500))
    server.challenge = "Bearer"
    with pytest.raises(
        StepError, match=r"^step 3 \(as-metadata\): AS metadata at https://hostile\.example/.* answered 500"
    ):
        await _run(lab, server, 3)


# CIMD §3: the Client Identifier URL ----------------------------------------------------------


@pytest.mark.parametrize("url", ["https:///client.json", "https://:443/client.json"])
def test_a_client_id_url_without_a_host_is_not_presented(url: str) -> None:
    assert client_id_url_problem(url, {}) == "a Client Identifier URL has a host (CIMD §3)"


# RFC 7523 §3: the client's assertion, signed with a key given as text ------------------------


@pytest.mark.parametrize("algorithm", ["ES256", "Ed25519"])
async def test_a_private_key_given_as_pem_text_signs_the_client_assertion_with_its_algorithm(
    lab: Lab, algorithm: str
) -> None:
    # Credentials.private_key is "a JWK or PEM": PEM text is read as the key type its algorithm
    # names (an EC key for ES256, an OKP key for Ed25519), and the assertion verifies with it.
    key = ECKey.generate_key("P-256") if algorithm == "ES256" else OKPKey.generate_key("Ed25519")
    client = lab.client("dcr")
    client.state.issuer = "https://as.example"
    pem = key.as_pem(private=True).decode()
    credentials = Credentials("c", token_endpoint_auth_method="private_key_jwt", private_key=pem,
                              signing_algorithm=algorithm)  # fmt: skip
    claims = jwt.decode(client._client_assertion(credentials), key, algorithms=[algorithm]).claims
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("c", "c", "https://as.example")


# RFC 6749 §2.3: the client authenticates the one way its method names ----------------------------

STRAY_CREDENTIALS = [
    # RFC 7591 §2: "none" is a public client; a secret it happens to hold is not sent.
    pytest.param(Credentials("c", "s3cret", "none"), {"client_id": "c"}, None, id="none-with-a-secret"),
    # A client_secret_basic client holding a key authenticates with Basic, and sends no assertion.
    pytest.param(Credentials("c", "s3cret", "client_secret_basic", OKPKey.generate_key("Ed25519")), {}, "Basic ",
                 id="basic-with-a-key"),
]  # fmt: skip


@pytest.mark.parametrize(("credentials", "client_fields", "authorization"), STRAY_CREDENTIALS)
async def test_a_token_request_uses_only_the_authentication_method_the_client_registered(
    lab: Lab, credentials: Credentials, client_fields: dict[str, str], authorization: str | None
) -> None:
    # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
    sent: list[tuple[httpx.Headers, bytes]] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        sent.append((request.headers, request.read()))
        body = json.dumps({"access_token": "t", "token_type": "Bearer"}).encode()
        return httpx.Response(200, headers={"Content-Type": "application/json"}, stream=httpx.ByteStream(body))

    client = lab.client("dcr")
    client.state.issuer, client.state.credentials = "https://as.example", credentials
    client.http = httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint))
    await client._token_request("https://as.example/token", {"grant_type": "refresh_token"}, StepRun(6))
    headers, body = sent[0]
    form = dict(parse_qsl(body.decode()))
    assert {name: form[name] for name in form if name.startswith("client_")} == client_fields
    assert (headers.get("authorization") or "")[:6] == (authorization or "")
