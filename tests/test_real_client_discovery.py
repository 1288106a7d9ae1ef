"""What real MCP clients send for discovery and to the MCP server itself, as public threads quote
it (2025-2026).

Each test is one client's requests, as a thread quotes them, run against the lab's MCP server and
AS in process (the browser's CORS preflights against the served lab, the only place a browser
reaches). The client's own values (paths, headers, the JSON-RPC body) are kept; its server's are
the lab's. Where the lab refuses one, a spec it follows requires or permits the refusal, and the
answer names that rule. The AS's side of the handshake (/register, /authorize, /token) is
test_real_client_requests' and test_real_client_metadata's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab_servers import REVISIONS, Lab

from .serve_helpers import served, tls_dir, trusting

__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py
pytestmark = pytest.mark.anyio
MCP_ORIGIN = "https://mcp.example.com"
WITH_PRM = [r for r in REVISIONS if r != "2025-03-26"]  # RFC 9728 metadata from 2025-06-18 on

# Claude Code against an MCP server at http://localhost:8000/mcp, taylorwilsdon/google_workspace_mcp
# #382 (2026-01-23), the requests as the thread lists them: "GET /.well-known/oauth-authorization-
# server/mcp → 404, GET /.well-known/openid-configuration/mcp → 404, GET /mcp/.well-known/openid-
# configuration → 404, GET /.well-known/oauth-protected-resource/mcp → 404, GET /.well-known/oauth-
# protected-resource → 404, GET /.well-known/oauth-authorization-server → 404, GET /.well-known/
# openid-configuration → 404, POST /register → 404" (the POST's body is not quoted: not sent here).
# It then read the 404's plain-text body as an OAuth error: "HTTP 404: Invalid OAuth error
# response: SyntaxError: Unexpected token 'N', "Not Found" is not valid JSON".
CLAUDE_CODE_PROBES = [
    "/.well-known/oauth-authorization-server/mcp",
    "/.well-known/openid-configuration/mcp",
    "/mcp/.well-known/openid-configuration",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
]
# MCP Inspector in a browser, routecraftjs/routecraft#320 (2026-05-18): "GET /.well-known/oauth-
# protected-resource/mcp, GET /.well-known/oauth-protected-resource, GET /.well-known/oauth-
# authorization-server, GET /.well-known/openid-configuration" ("Inspector probes the MCP-path-
# suffixed variant first").
INSPECTOR_PROBES = CLAUDE_CODE_PROBES[3:]
# The initialize request of HarperFast/harper#1611 (2026-07-06), sent with "content-type:
# application/json" and "accept: application/json, text/event-stream", no MCP-Protocol-Version.
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "0"}}}  # fmt: skip
HARPER_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
# The version each lab answers that initialize with (Lifecycle, Version Negotiation): its own, if
# older; a 2026-07-28 server answers initialize-era clients in their era (`accept_legacy`).
NEGOTIATED = {"2025-03-26": "2025-03-26", "2025-06-18": "2025-06-18", "2025-11-25": "2025-06-18",
              "2026-07-28": "2025-06-18"}  # fmt: skip


def token(lab: Lab, scope: str = "notes:read") -> str:
    """An access token the lab's AS issued for its MCP server (the handshake's end, minted)."""
    now = lab.clock.now()
    claims = {"iss": lab.issuer, "sub": "alice", "aud": lab.mcp_url, "client_id": "tpc_x", "scope": scope,
              "iat": now, "exp": now + 900, "jti": "j"}  # fmt: skip
    return lab.auth_server.keys.sign_access_token(claims)


async def post_initialize(lab: Lab, headers: dict[str, str | None]) -> Any:
    """INITIALIZE POSTed with exactly `headers` (None: the field is not sent, not even httpx's own
    `Accept: */*`)."""
    async with lab.httpx_client() as http:
        request = http.build_request("POST", lab.mcp_url, content=json.dumps(INITIALIZE))
        for name, value in headers.items():
            request.headers.pop(name, None)
            if value is not None:
                request.headers[name] = value
        return await http.send(request)


def served_version(response: Any) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["result"]["protocolVersion"])


def json_rpc_refusal(response: Any) -> str:
    """The message of an HTTP-level refusal at the MCP endpoint: a JSON-RPC error, its id null."""
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None and body["error"]["code"] == -32600, body
    return str(body["error"]["message"])


# Discovery: the paths real clients GET, in their order ------------------------------------------


@pytest.mark.parametrize("probes", [CLAUDE_CODE_PROBES, INSPECTOR_PROBES], ids=["claude-code", "inspector"])
@pytest.mark.parametrize("revision", REVISIONS)
async def test_every_discovery_probe_is_answered_in_json_and_the_ones_the_revision_names_are_found(
    revision: str, probes: list[str]
) -> None:
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        answers = {path: await http.get(MCP_ORIGIN + path) for path in probes}
        for path, answer in answers.items():
            # Claude Code read a 404's body as an OAuth error response (RFC 6749 §5.2: JSON with
            # `error`): each one here is JSON and names what was missing.
            assert answer.headers["content-type"] == "application/json", (path, answer.text)
            if answer.status_code != 200:
                assert answer.status_code == 404 and answer.json()["error"] == "invalid_request", (path, answer.text)
                assert path in answer.json()["error_description"]
        found = {path for path, answer in answers.items() if answer.status_code == 200}
        if revision == "2025-03-26":
            # 2025-03-26 §2.3.2: no PRM; the AS metadata is at the MCP server's origin (RFC 8414 at
            # the root, and the OpenID name for it), its endpoints there too.
            assert found == set(probes) & {"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}  # fmt: skip
            metadata = answers["/.well-known/oauth-authorization-server"].json()
            assert metadata["issuer"] == MCP_ORIGIN
            assert [metadata[f"{e}_endpoint"] for e in ("authorization", "token", "registration")] == [
                f"{MCP_ORIGIN}/authorize", f"{MCP_ORIGIN}/token", f"{MCP_ORIGIN}/register"]  # fmt: skip
            return
        # RFC 9728 §3.1: the path-inserted document, whose `resource` is the MCP URL exactly (§3.3);
        # the AS's metadata is at its issuer, not at the MCP server's origin (MCP §4.3).
        assert found == {"/.well-known/oauth-protected-resource/mcp"}
        prm = answers["/.well-known/oauth-protected-resource/mcp"].json()
        assert prm["resource"] == lab.mcp_url and prm["authorization_servers"] == [lab.issuer]
        # claude.ai, anthropics/claude-ai-mcp#490 (2026-06-25): after the PRM, "GET /.well-known/
        # oauth-authorization-server (under the issuer URL returned above)".
        metadata = await http.get(f"{lab.issuer}/.well-known/oauth-authorization-server")
        assert metadata.status_code == 200 and metadata.json()["issuer"] == lab.issuer


@pytest.mark.parametrize("revision", WITH_PRM)
async def test_chatgpts_root_metadata_probe_is_404_and_the_challenge_names_the_document_to_use(revision: str) -> None:
    # ChatGPT, kernel/kernel-mcp-server#91 (2026-03-09): "ChatGPT strips the `/mcp` path suffix and
    # checks the base URL", GET /.well-known/oauth-protected-resource. MCP §4.2 lets a server publish
    # at the path-inserted URI or the root; a root document describes https://mcp.example.com, and
    # one whose `resource` is not that "MUST NOT be used" (RFC 9728 §3.3): this server is /mcp. The
    # 401 names its document (§5.1), and a client MUST use that URL when given (MCP §4.2).
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        root = await http.get(f"{MCP_ORIGIN}/.well-known/oauth-protected-resource")
        challenge = (await http.post(lab.mcp_url, json=INITIALIZE, headers=HARPER_HEADERS)).headers["www-authenticate"]
    assert root.status_code == 404 and "MCP is served at /mcp" in root.json()["error_description"]
    assert challenge.startswith(f'Bearer resource_metadata="{MCP_ORIGIN}/.well-known/oauth-protected-resource/mcp"')


@pytest.mark.parametrize("revision", REVISIONS)
async def test_discovery_requests_carrying_mcp_protocol_version_are_answered(revision: str) -> None:
    # MCP 2025-03-26 §2.3.1: clients SHOULD send MCP-Protocol-Version during metadata discovery; MCP
    # Inspector sends it on the PRM request too (envoyproxy/ai-gateway#2307, 2026-07-01: the
    # document's CORS answer lists "access-control-allow-headers: mcp-protocol-version"). A
    # metadata document is the same for every version: the field changes nothing.
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        prm_url = f"{MCP_ORIGIN}/.well-known/oauth-protected-resource/mcp"
        urls = [prm_url] * (revision != "2025-03-26") + [f"{lab.issuer}/.well-known/oauth-authorization-server"]
        for url in urls:
            answer = await http.get(url, headers={"MCP-Protocol-Version": revision, "Accept": "application/json"})
            assert answer.status_code == 200, (url, answer.text)


async def test_mcp_inspectors_preflights_are_answered_before_any_token_is_asked_for(tls_dir: Path) -> None:
    # MCP Inspector in a browser: "it sends `Mcp-Protocol-Version` and `Mcp-Session-Id` request
    # headers ... so the browser first issues an `OPTIONS` preflight" (GDKsoftware/Delphi-MCP-
    # Server#16, 2026-07-07); a server whose /mcp answered that preflight "HTTP 401 due to an
    # authorization error" locked it out: "By design, the CORS preflight calls are unauthenticated"
    # (envoyproxy/ai-gateway#2307, 2026-07-01). Fetch standard §3.2.2: the preflight carries no
    # credentials; the served lab answers it (browser_origins.py) before the MCP server's gate.
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        origin = "http://localhost:6274"
        prm = lab.mcp_url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
        asked = {prm: ("GET", "mcp-protocol-version"),
                 lab.mcp_url: ("POST", "authorization, mcp-protocol-version, mcp-session-id")}  # fmt: skip
        for url, (method, headers) in asked.items():
            preflight = await http.options(url, headers={
                "Origin": origin, "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers})  # fmt: skip
            assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == origin
            allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
            assert {h.strip() for h in headers.split(",")} <= allowed, (url, allowed)
        document = await http.get(prm, headers={"Origin": origin, "MCP-Protocol-Version": "2025-11-25"})
        assert document.status_code == 200 and document.headers["access-control-allow-origin"] == origin
        # The 401's challenge is readable by the page's script (Fetch: exposed, not safelisted).
        unauthorized = await http.post(lab.mcp_url, json=INITIALIZE, headers={"Origin": origin, **HARPER_HEADERS})
        assert unauthorized.status_code == 401
        assert "www-authenticate" in unauthorized.headers["access-control-expose-headers"]


# The MCP requests: Accept ------------------------------------------------------------------------

# Claude Code 2.1.96 "appears to send only `Accept: application/json`" (anthropics/claude-code
# #45368, 2026-04-08); opencode v1.17.18 sends "Accept: */*" (anomalyco/opencode#37019,
# 2026-07-15); Google Antigravity "injects its own `Accept` header internally, e.g.: Accept:
# application/json, application/mcp+json" (vercel/vercel-mcp-overview#1, 2026-05-15).
ACCEPTED = {"claude-code": "application/json", "opencode": "*/*",
            "antigravity": "application/json, application/mcp+json"}  # fmt: skip


@pytest.mark.parametrize("client", list(ACCEPTED))
@pytest.mark.parametrize("revision", REVISIONS)
async def test_an_accept_that_admits_json_is_served_since_json_is_all_this_server_sends(
    revision: str, client: str
) -> None:
    # MCP Streamable HTTP ("Sending Messages to the Server" item 2): the client MUST list both
    # application/json and text/event-stream. This server answers every POST in JSON, which each of
    # these accepts (RFC 9110 §12.5.1): nothing to refuse.
    async with Lab(revision=revision) as lab:
        answer = await post_initialize(lab, {**HARPER_HEADERS, "accept": ACCEPTED[client],
                                             "authorization": f"Bearer {token(lab)}"})  # fmt: skip
    assert served_version(answer) == NEGOTIATED[revision]


@pytest.mark.parametrize("revision", REVISIONS)
async def test_a_post_with_no_accept_field_is_served_as_accepting_any_media_type(revision: str) -> None:
    # opencode v1.1.2 "doesn't send the required Accept ... header" (anomalyco/opencode#6972,
    # 2026-01-05; "OpenCode doesn't send the Accept header in an MCP request", modelcontextprotocol/
    # ruby-sdk#287, 2026-04-01), and "Some MCP clients (e.g., Claude Code) don't send an `Accept`
    # header" (vectorize-io/hindsight#571, 2026-03-13). RFC 9110 §12.5.1: "A request without any
    # Accept header field implies that the user agent will accept any media type in response". The
    # transport's MUST binds the client and tells the server to refuse nothing; the lab answered
    # 406, which (§15.5.7) says the request's negotiation fields ruled JSON out: none were sent.
    async with Lab(revision=revision) as lab:
        answer = await post_initialize(lab, {**HARPER_HEADERS, "accept": None, "authorization": f"Bearer {token(lab)}"})
    assert served_version(answer) == NEGOTIATED[revision]


@pytest.mark.parametrize("revision", REVISIONS)
async def test_a_post_accepting_only_an_event_stream_is_406_naming_the_rule(revision: str) -> None:
    # "Java MCP SDK — sends only `Accept: text/event-stream`" (honojs/middleware#1799, 2026-03-17,
    # as the PR lists it). This server answers in JSON alone; RFC 9110 §12.5.1 lets it honour the
    # field with 406 (§15.5.7), and the transport makes the client list application/json: the
    # refusal stays, and says so.
    async with Lab(revision=revision) as lab:
        answer = await post_initialize(lab, {**HARPER_HEADERS, "accept": "text/event-stream",
                                             "authorization": f"Bearer {token(lab)}"})  # fmt: skip
    assert answer.status_code == 406
    message = json_rpc_refusal(answer)
    assert "MUST accept application/json and text/event-stream" in message and "RFC 9110 §15.5.7" in message


# The MCP requests: the token, the media type, the version ----------------------------------------


@pytest.mark.parametrize("revision", REVISIONS)
async def test_a_lowercase_bearer_scheme_is_the_bearer_scheme(revision: str) -> None:
    # An MCP client configured with "headers": { "Authorization": "bearer eyJ0e......." }
    # (SAP-docs/btp-integration-suite#245, 2026-09-09), the token_type its AS returned. RFC 9110
    # §11.1: "It uses a case-insensitive token to identify the authentication scheme"; OAuth 2.1
    # §5.1.1 too. The token itself is compared as sent.
    async with Lab(revision=revision) as lab:
        answer = await post_initialize(lab, {**HARPER_HEADERS, "authorization": f"bearer {token(lab)}"})
        assert served_version(answer) == NEGOTIATED[revision]
        changed = token(lab).swapcase()
        refused = await post_initialize(lab, {**HARPER_HEADERS, "authorization": f"bearer {changed}"})
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]


# Open WebUI and VS Code send "an empty `Authorization: Bearer` header (or `Authorization: Bearer `
# with trailing space)" before they hold a token (IBM/mcp-context-forge#3993, 2026-04-02); MCP
# Inspector 0.16.8 sent "Authorization header received: "Bearer"" (modelcontextprotocol/inspector
# #826, 2025-09-23).
EMPTY_BEARERS = ["Bearer", "Bearer "]


@pytest.mark.parametrize("authorization", EMPTY_BEARERS, ids=["bare", "trailing-space"])
@pytest.mark.parametrize("revision", REVISIONS)
async def test_an_empty_bearer_is_no_credentials_and_gets_the_challenge_that_starts_discovery(
    revision: str, authorization: str
) -> None:
    # RFC 9110 §5.5, RFC 9112 §5: a field's trailing whitespace is no part of its value, so both are
    # the scheme with no token: the request "lacks any authentication information", and gets a 401
    # whose challenge has no error code (RFC 6750 §3.1) and names the metadata (RFC 9728 §5.1), the
    # one answer a client starts discovery from (MCP §4.2). In process the trailing space made a
    # malformed token, 400 invalid_request, where h11 served had already dropped it: 401.
    async with Lab(revision=revision) as lab:
        answer = await post_initialize(lab, {**HARPER_HEADERS, "authorization": authorization})
    assert answer.status_code == 401 and "error=" not in answer.headers["www-authenticate"]
    assert ("resource_metadata=" in answer.headers["www-authenticate"]) == (revision != "2025-03-26")


@pytest.mark.parametrize("revision", REVISIONS)
async def test_a_content_type_with_a_charset_is_json(revision: str) -> None:
    # The C# SDK's HttpClientTransport "sends `Content-Type: application/json; charset=utf-8`"
    # (modelcontextprotocol/csharp-sdk#1527, 2026-04-21), refused 415 by a strict server. RFC 9110
    # §8.3.1: the media type is type/subtype; a parameter does not make it another one.
    async with Lab(revision=revision) as lab:
        answer = await post_initialize(lab, {**HARPER_HEADERS, "content-type": "application/json; charset=utf-8",
                                             "authorization": f"Bearer {token(lab)}"})  # fmt: skip
    assert served_version(answer) == NEGOTIATED[revision]


@pytest.mark.parametrize("revision", REVISIONS)
async def test_an_initialize_with_no_protocol_version_header_is_negotiated_in_its_body(revision: str) -> None:
    # HarperFast/harper#1611 (2026-07-06): "many clients don't send the header on the first
    # `initialize` (the version isn't negotiated yet; it's carried in the body's
    # `params.protocolVersion`)". 2025-06-18 transports: a server without the header SHOULD assume
    # 2025-03-26; a 2026-07-28 server that still speaks the initialize era takes it that way.
    async with Lab(revision=revision) as lab:
        answer = await post_initialize(lab, {**HARPER_HEADERS, "authorization": f"Bearer {token(lab)}"})
    assert served_version(answer) == NEGOTIATED[revision]


# The MCP requests: GET /mcp ----------------------------------------------------------------------


@pytest.mark.parametrize("revision", REVISIONS)
async def test_the_get_stream_clients_open_after_oauth_is_405_with_allow_post(revision: str) -> None:
    # "MCP clients such as Claude open this GET listen stream right after the OAuth handshake"
    # (n8n-io/n8n#34835, 2026-07-24); Claude Desktop's reconnect: "GET /mcp (auth'd, no session
    # id)" (akutishevsky/withings-mcp#21, 2026-04-19). Streamable HTTP ("Listening for Messages from
    # the Server"): a server that offers no stream MUST answer 405, and the SDK client then goes on
    # with POSTs; RFC 9110 §15.5.6: a 405 names the methods it takes in Allow.
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {token(lab)}"}
        answer = await http.get(lab.mcp_url, headers=headers)
        # Without a token the request is judged by its credentials first: 401 and the challenge,
        # which a client reads as "authorize" (RFC 6750 §3.1), never a 405 that hides the AS.
        stranger = await http.get(lab.mcp_url, headers={"Accept": "text/event-stream"})
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert "offers no SSE stream" in json_rpc_refusal(answer)
    assert stranger.status_code == 401 and stranger.headers["www-authenticate"].startswith("Bearer ")


@pytest.mark.parametrize("revision", REVISIONS)
async def test_a_head_request_gets_the_challenge_with_one_resource_metadata(revision: str) -> None:
    # What the rmcp (Rust) client met, as its reporter reproduced it: "curl -I https://mcp.sentry.dev/
    # mcp -H "mcp-protocol-version: 2024-11-05"" (getsentry/sentry-mcp#939, 2026-05-08); the server
    # sent two resource_metadata parameters, and "Spec-strict clients such as the Rust `rmcp` crate
    # read the first value" (#955). RFC 9110 §11.2: each parameter name "MUST only occur once per
    # challenge"; §9.3.2: HEAD is answered as GET would be, without the body.
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        answer = await http.head(lab.mcp_url, headers={"mcp-protocol-version": "2024-11-05"})
        challenge = answer.headers["www-authenticate"]
        assert answer.status_code == 401 and answer.content == b""
        assert challenge.count("resource_metadata=") == (revision != "2025-03-26")  # 2025-03-26: no PRM
        if revision != "2025-03-26":
            document = await http.get(challenge.split('resource_metadata="')[1].split('"')[0])
            assert document.status_code == 200 and document.json()["resource"] == lab.mcp_url


async def test_the_endpoint_with_a_trailing_slash_is_another_uri_answered_404_naming_the_right_one() -> None:
    # langchain-ai/langchain-mcp-adapters#206 (2025-06-08) told its users "--mcp-url
    # http://localhost:8000/mcp/"; claude.ai's connector "strips trailing slashes from the configured
    # server URL, rewriting /mcp/ to /mcp" (anthropics/claude-ai-mcp#234, 2026-04-25). RFC 3986
    # §6.2.3: the two are different resources, and the slashed one is no resource this AS issues
    # tokens for (RFC 8707 §2, MCP §8.1). No redirect either: a client replays no POST across one
    # ("they don't reliably replay a streamed POST/SSE request across an HTTP redirect",
    # Morelitea/initiative#1773, 2026-09-19). The 404 names the endpoint.
    async with Lab() as lab, lab.httpx_client() as http:
        slashed = await http.post(f"{lab.mcp_url}/", json=INITIALIZE, headers=HARPER_HEADERS)
        stripped = await http.post(lab.mcp_url, json=INITIALIZE, headers=HARPER_HEADERS)
    assert slashed.status_code == 404 and "location" not in slashed.headers
    assert "MCP is served at /mcp" in slashed.json()["error_description"]
    assert stripped.status_code == 401  # the challenge that starts discovery


@pytest.mark.parametrize("revision", REVISIONS)
async def test_a_client_that_requests_exactly_the_challenged_scopes_gets_through_after_step_up(revision: str) -> None:
    # Claude Code "reads the scope parameter from the WWW-Authenticate header and requests exactly
    # those scopes" (anthropics/claude-code#44652, 2026-04-07), and from v2.1.85 does so on a
    # 403 insufficient_scope too (#39626, 2026-03-27, quoting the changelog). MCP §10.1.1: the 403
    # names the scopes this operation needs; 2025-11-25 adds those already granted, 2026-07-28
    # (SEP-2350) leaves the union to the client. Either way the challenged set is enough by itself.
    add_note = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "add_note", "arguments": {"text": "x"}}}  # fmt: skip
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        refused = await http.post(
            lab.mcp_url, json=add_note, headers={**HARPER_HEADERS, "authorization": f"Bearer {token(lab)}"}
        )
        challenge = refused.headers["www-authenticate"]
        assert refused.status_code == 403 and 'error="insufficient_scope"' in challenge
        scope = challenge.split('scope="')[1].split('"')[0]
        stepped_up = await http.post(lab.mcp_url, json=add_note, headers={
            **HARPER_HEADERS, "authorization": f"Bearer {token(lab, scope=scope)}"})  # fmt: skip
    assert scope == "notes:read notes:write"
    assert stepped_up.status_code == 200 and "error" not in stepped_up.json(), stepped_up.text


@pytest.mark.parametrize("revision", REVISIONS)
async def test_a_delete_at_disconnect_is_405_and_a_stale_session_id_is_ignored(revision: str) -> None:
    # LiteLLM's MCP gateway "will send an HTTP DELETE to the MCP endpoint with the Mcp-Session-Id
    # header ... once it's done", and Copilot Studio "calls DELETE regularly" (platformatic/mcp#25,
    # 2025-08-28, 2025-10-28); to a stateless server, clients "have none to send on the DELETE they
    # emit at disconnect" (ThinkInAIXYZ/go-mcp#202, 2026-06-15). Streamable HTTP, Session
    # Management: the server MAY answer 405; MCP SDK clients treat it as "not offered, continue"
    # (hyperdxio/hyperdx#2691, 2026-07-21). Ids "sent by clients that connected to an older build
    # are ignored, not rejected" (weaviate/weaviate#12789, 2026-08-25): this server issues none, and
    # a session is never authentication (SBP, Session Hijacking): the token is judged alone.
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        bearer = {"Authorization": f"Bearer {token(lab)}"}
        deletes = [
            await http.delete(lab.mcp_url, headers={**bearer, **extra})
            for extra in ({"Mcp-Session-Id": "85be2a64"}, {})
        ]
        stale = await post_initialize(
            lab, {**HARPER_HEADERS, "mcp-session-id": "85be2a64", "authorization": bearer["Authorization"]}
        )
    for answer in deletes:
        assert answer.status_code == 405 and answer.headers["allow"] == "POST"
        assert "no session to terminate" in json_rpc_refusal(answer)
    assert served_version(stale) == NEGOTIATED[revision] and "mcp-session-id" not in stale.headers
