"""Google's Gemini CLI judges `python -m lab_servers serve` over TLS — the README section "Point
Gemini CLI at the lab", run as a test.

Gemini CLI's MCP client is the TypeScript SDK's, but its OAuth client is its own
(`packages/core/src/mcp/oauth-provider.ts`, `oauth-utils.ts`): discovery, registration, PKCE,
`resource`, RFC 9207's `iss`. `gemini -p "/mcp auth lab"` signs in; a second process, a headless
turn whose model is a file of scripted answers, connects with the stored token and calls whoami,
with no model and no Google account (`tests/gemini_cli.py`). Where it departs from the specs,
the test pins what it does and says which rule it departs from; the lab does not copy it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from lab_servers import ASCapabilities, load_trace
from lab_servers.client_documents import READY_DOCUMENTS
from lab_servers.serve import ServedLab
from lab_servers.trace import Exchange
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import show_token

from .gemini_cli import (
    NO_BROWSER,
    NOT_HEADLESS,
    configure_server,
    gemini,
    gemini_call,
    gemini_sign_in,
    installed,
    settings_file,
    tokens_file,
)
from .serve_helpers import restartable
from .serve_helpers import served as on_free_ports  # `serving` on ports the system picks
from .served_trace import as_metadata, form_of, posts_to, query_of

CALLBACK = re.compile(r"http://localhost:\d+/oauth/callback")  # oauth-flow.ts, getRedirectUri
DOCUMENT = next(ready for ready in READY_DOCUMENTS if ready.path == "/gemini-cli.json")

pytestmark = [pytest.mark.conformance, pytest.mark.anyio]


@pytest.fixture(scope="module")
def script() -> Path:
    return installed()


async def _add(script: Path, served: ServedLab, home: Path) -> None:
    """`gemini mcp add --scope user --transport http lab <MCP URL>`, as the README has it."""
    added = await gemini(
        script, served, home, "mcp", "add", "--scope", "user", "--transport", "http", "lab", served.mcp_url
    )
    assert added == (0, 'MCP server "lab" added to user settings. (http)\n'), added


async def test_gemini_cli_registers_by_dcr_signs_in_with_pkce_and_calls_whoami(script: Path, tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "gemini-cli.jsonl")  # what `serve --trace-file` does
    async with on_free_ports(tmp_path / "tls", on_exchange=writer.write) as served:
        home = tmp_path / "home"
        await _add(script, served, home)
        sign_in = await gemini_sign_in(script, served, home)
        signed_in = list(served.lab.trace)
        listed = await gemini(script, served, home, "mcp", "list")
        seen = len(served.lab.trace)
        turn = await gemini_call(script, served, home)
        trace = list(served.lab.trace)
    print(sign_in.printed)
    assert json.loads(settings_file(home).read_text())["mcpServers"]["lab"] == {"url": served.mcp_url, "type": "http"}
    assert sign_in.consents == 1 and NO_BROWSER in sign_in.printed and "Successfully authenticated" in sign_in.printed
    # A slash command's answer is not something a headless run can show: it exits 42 after the
    # sign-in succeeded (its defect, not the lab's).
    assert sign_in.returncode == 42 and NOT_HEADLESS in sign_in.printed
    # Discovery (MCP authorization, "Authorization Server Discovery"): the start-up connection's
    # 401, its own probe (a HEAD), the PRM the challenge names (RFC 9728 §5.1), the AS metadata
    # (RFC 8414 §3), read a second time to find the registration endpoint it did not keep.
    assert [(e.method, e.path, e.status) for e in signed_in[:5]] == [
        ("POST", "/mcp", 401), ("HEAD", "/mcp", 401), ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
        ("GET", "/.well-known/oauth-authorization-server", 200), ("GET", "/.well-known/oauth-authorization-server", 200),
    ]  # fmt: skip
    challenge = signed_in[0].response_header("www-authenticate") or ""
    assert 'scope="notes:read"' in challenge
    # The AS advertises CIMD (2026-07-28); Gemini CLI has no document of its own and registers.
    assert as_metadata(signed_in)["client_id_metadata_document_supported"] is True
    (registration,) = posts_to(signed_in, "/register")
    metadata = json.loads(registration.request_body)
    assert CALLBACK.fullmatch(metadata["redirect_uris"][0]) and metadata["token_endpoint_auth_method"] == "none"
    assert metadata["client_name"] == "Gemini CLI MCP Client"
    assert metadata["grant_types"] == ["authorization_code", "refresh_token"]
    # Departures, pinned: no `application_type`, which 2026-07-28 client-registration §3.1
    # (SEP-837) has a DCR client send ("native" for a CLI; the lab's AS reads none and registers
    # it all the same); and every scope of the AS metadata's `scopes_supported`, where MCP's
    # "Scope Selection Strategy" (2025-11-25 authorization §6) has a client ask for the
    # challenge's `scope` (notes:read), else the PRM's list, never the AS's.
    assert "application_type" not in metadata
    assert metadata["scope"] == "notes:read notes:write" == " ".join(as_metadata(signed_in)["scopes_supported"])
    # OAuth 2.1 §4.1.1 (PKCE S256), RFC 8707 §2 (resource).
    query = query_of(sign_in.authorize_url)
    assert query["client_id"] == json.loads(registration.response_body)["client_id"]
    assert query["code_challenge_method"] == "S256" and query["resource"] == served.mcp_url
    assert query["scope"] == "notes:read notes:write" and query["redirect_uri"] == metadata["redirect_uris"][0]
    # Departure, pinned: its listener is bound to every interface (Node's listen(port) with no
    # host), where RFC 8252 §8.3 has a client "listen on the loopback network interface only, in
    # order to avoid interference by other network actors": a code from elsewhere is useless
    # without the PKCE verifier (RFC 7636 §1), but a request with a wrong `state` from anyone who
    # finds the port ends the sign-in (oauth-flow.ts closes the listener on it).
    assert sign_in.listens_beyond_127_0_0_1 is (True if sys.platform == "linux" else None)
    # RFC 9207 §2: the code came back with the issuer, which its listener checked.
    assert query_of(sign_in.redirect)["iss"] == served.issuer and "Authentication Successful" in sign_in.landed
    (token,) = posts_to(signed_in, "/token")
    form = form_of(token)
    assert form["grant_type"] == "authorization_code" and form["resource"] == served.mcp_url and token.status == 200
    assert form["code_verifier"] and form["redirect_uri"] == metadata["redirect_uris"][0]
    assert form["client_id"] == query["client_id"]
    # `gemini mcp list` connects with the stored token.
    assert listed[0] == 0 and f"lab: {served.mcp_url} (http) - Connected" in listed[1], listed
    # The turn, another process: the stored token, no new sign-in, whoami called.
    assert turn.result is not None, turn.error
    assert turn.result["client_id"] == query["client_id"] and turn.result["client_id"].startswith("tpc_")
    assert turn.result["sub"] == "alice" and turn.result["aud"] == served.mcp_url
    assert turn.result["scope"] == "notes:read notes:write"
    turn_trace = trace[seen:]
    assert not [e for e in turn_trace if e.path in ("/register", "/token") or e.path.startswith("/authorize")]
    # Its SDK speaks the 2025-06-18 handshake (initialize); the 2026-07-28 server, which still
    # answers initialize-era clients, agrees on that version (MCP lifecycle, "Version Negotiation").
    initialize = next(e for e in posts_to(turn_trace, "/mcp") if '"initialize"' in e.request_body and e.status == 200)
    asked, answered = json.loads(initialize.request_body), json.loads(initialize.response_body)
    assert asked["params"]["clientInfo"]["name"] == "gemini-cli-mcp-client"
    assert asked["params"]["protocolVersion"] == answered["result"]["protocolVersion"] == "2025-06-18"
    writer.close()
    saved = load_trace(tmp_path / "gemini-cli.jsonl")  # its handshake, for the notebooks' views
    assert {show_token(t).claims["client_id"] for t in access_tokens(saved)} == {turn.result["client_id"]}


async def test_gemini_cli_refreshes_a_token_near_its_expiry_for_the_same_resource(script: Path, tmp_path: Path) -> None:
    async with on_free_ports(tmp_path / "tls") as served:
        home = tmp_path / "home"
        await _add(script, served, home)
        await gemini_sign_in(script, served, home)
        # The lab's access tokens live 900 s; Gemini CLI refreshes one whose stored `expiresAt`
        # (ms) is less than five minutes away, so that is what expires here.
        (stored,) = json.loads(tokens_file(home).read_text())
        tokens_file(home).write_text(json.dumps([stored | {"token": stored["token"] | {"expiresAt": 1000}}]))
        seen = len(served.lab.trace)
        turn = await gemini_call(script, served, home)
        after = list(served.lab.trace)[seen:]
    assert turn.result is not None, turn.error
    assert turn.result["client_id"] == stored["clientId"] and turn.result["aud"] == served.mcp_url
    # One refresh (OAuth 2.1 §4.3) for the same resource (RFC 8707 §2), no new sign-in; the AS
    # rotates a public client's refresh token (OAuth 2.1 §4.3.1) and Gemini CLI keeps the new one.
    (refresh,) = posts_to(after, "/token")
    form = form_of(refresh)
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == stored["token"]["refreshToken"]
    assert form["resource"] == served.mcp_url and form["client_id"] == stored["clientId"] and "scope" not in form
    assert refresh.status == 200 and not posts_to(after, "/register")
    (kept,) = json.loads(tokens_file(home).read_text())
    assert kept["token"]["refreshToken"] != stored["token"]["refreshToken"] and kept["token"]["expiresAt"] > 1000


async def test_gemini_cli_refuses_a_code_without_iss_even_from_an_as_that_never_promised_one(
    script: Path, tmp_path: Path
) -> None:
    """Departure, pinned. RFC 9207 §2.4 has a client reject a response without `iss` only from an
    AS whose metadata says `authorization_response_iss_parameter_supported`; MCP 2026-07-28
    (SEP-2468) spells it out: no flag and no `iss`, proceed. Gemini CLI expects `iss` from every
    AS whose metadata names an `issuer` (all of them, RFC 8414 §2), so it cannot sign in to the
    lab's 2025-06-18 AS (`serve --revision 2025-06-18`), nor to any other that sends no `iss`."""
    async with on_free_ports(tmp_path / "tls", revision="2025-06-18") as served:
        home = tmp_path / "home"
        await _add(script, served, home)
        sign_in = await gemini_sign_in(script, served, home)
        trace = list(served.lab.trace)
    assert "authorization_response_iss_parameter_supported" not in as_metadata(trace)
    assert sign_in.consents == 1 and "iss" not in query_of(sign_in.redirect) and "code" in query_of(sign_in.redirect)
    assert "Missing issuer parameter in response" in sign_in.landed
    assert not posts_to(trace, "/token") and not tokens_file(home).exists()  # the code is never redeemed


async def test_gemini_cli_given_the_lab_s_document_url_as_its_client_id_links_by_cimd(
    script: Path, tmp_path: Path
) -> None:
    """Gemini CLI has no Client ID Metadata Document of its own and never sends one by itself
    (the first test: it registers though the AS advertises CIMD). A client id in its settings
    (`"oauth": {"clientId": …}`) it sends as-is; a URL is a CIMD client id (CIMD §3), so the AS
    fetches the lab's `/gemini-cli.json` and nobody registers."""
    async with on_free_ports(tmp_path / "tls") as served:
        home, document = tmp_path / "home", f"{served.documents_origin}{DOCUMENT.path}"
        await _add(script, served, home)
        configure_server(home, oauth={"clientId": document})
        sign_in = await gemini_sign_in(script, served, home)
        turn = await gemini_call(script, served, home)
        trace = list(served.lab.trace)
    print(sign_in.printed)
    assert sign_in.consents == 1 and "Authentication Successful" in sign_in.landed
    assert turn.result is not None and turn.result["client_id"] == document, turn.error
    assert turn.result["aud"] == served.mcp_url and turn.result["identified_by"]["method"] == "CIMD"
    assert not posts_to(trace, "/register") and DOCUMENT.path in [e.path for e in trace]  # CIMD §3, §6
    # The document lists the port-less loopback URI; its ephemeral port matches it (OAuth 2.1 §8.4.2).
    assert CALLBACK.fullmatch(query_of(sign_in.authorize_url)["redirect_uri"])
    (token,) = posts_to(trace, "/token")
    assert form_of(token)["client_id"] == document and form_of(token)["resource"] == served.mcp_url


async def test_gemini_cli_without_a_client_id_cannot_sign_in_where_registration_is_gone(
    script: Path, tmp_path: Path
) -> None:
    """The AS offers CIMD and no registration endpoint (2026-07-28 deprecates DCR): Gemini CLI,
    with no document to send, stops before the authorization request. The reason ("No client ID
    provided and dynamic registration not supported") is the slash command's answer, which a
    headless run does not show."""
    capabilities = ASCapabilities.for_revision("2026-07-28").but(dcr="removed")
    async with on_free_ports(tmp_path / "tls", capabilities=capabilities) as served:
        home = tmp_path / "home"
        await _add(script, served, home)
        sign_in = await gemini_sign_in(script, served, home)
        trace = list(served.lab.trace)
    metadata = as_metadata(trace)
    assert metadata["client_id_metadata_document_supported"] is True and "registration_endpoint" not in metadata
    assert sign_in.consents == 0 and not sign_in.authorize_url and NOT_HEADLESS in sign_in.printed
    assert not [e for e in trace if e.path == "/register" or e.path.startswith("/authorize")]


def _stand_in_registrations(trace: list[Exchange]) -> list[dict[str, Any]]:
    """What its SDK's `auth()` registers when a request with the stored token fails: the client
    metadata of Gemini CLI's stored-token provider (stored-token-provider.ts), which has no
    redirect URI and no grant, so nothing it could use."""
    bodies = [json.loads(e.request_body) for e in posts_to(trace, "/register")]
    return [body for body in bodies if body["client_name"] == "Gemini CLI (Stored OAuth)"]


def _refused_refreshes(trace: list[Exchange], refresh_token: str) -> list[Exchange]:
    refreshes = [e for e in posts_to(trace, "/token") if form_of(e)["grant_type"] == "refresh_token"]
    assert refreshes and all(form_of(e)["refresh_token"] == refresh_token for e in refreshes)
    assert all(e.status == 400 and json.loads(e.response_body)["error"] == "unauthorized_client" for e in refreshes)
    return refreshes


async def test_gemini_cli_answers_a_403_insufficient_scope_with_a_client_that_cannot_step_up(
    script: Path, tmp_path: Path
) -> None:
    """Signed in with least privilege (`"oauth": {"scopes": ["notes:read"]}`, the challenge's
    scope), add_note is refused 403 `insufficient_scope` naming both scopes (RFC 6750 §3.1; MCP
    authorization, "Scope Challenge Handling"). Gemini CLI's own OAuth client is not asked: the
    SDK's transport runs its `auth()` with Gemini CLI's stored-token provider, which registers a
    client with no grant and presents the stored refresh token as that client, refused (RFC 6749
    §5.2: unauthorized_client). No step-up (a SHOULD); `/mcp auth lab` with both scopes is the
    way, a new registration and a new consent."""
    async with on_free_ports(tmp_path / "tls") as served:
        home = tmp_path / "home"
        await _add(script, served, home)
        configure_server(home, oauth={"scopes": ["notes:read"]})
        first = await gemini_sign_in(script, served, home)
        (stored,) = json.loads(tokens_file(home).read_text())
        seen = len(served.lab.trace)
        note = ("add_note", {"text": "from Gemini CLI"})
        refused = await gemini_call(script, served, home, note)
        refusal = list(served.lab.trace)[seen:]
        configure_server(home, oauth={"scopes": ["notes:read", "notes:write"]})
        more = await gemini_sign_in(script, served, home)
        added = await gemini_call(script, served, home, note)
        trace = list(served.lab.trace)
    assert query_of(first.authorize_url)["scope"] == "notes:read" and stored["token"]["scope"] == "notes:read"
    (forbidden,) = [e for e in posts_to(refusal, "/mcp") if e.status == 403]
    challenge = forbidden.response_header("www-authenticate") or ""
    assert 'error="insufficient_scope"' in challenge and 'scope="notes:read notes:write"' in challenge
    (stand_in,) = _stand_in_registrations(refusal)
    assert stand_in["redirect_uris"] == [] and stand_in["grant_types"] == []
    _refused_refreshes(refusal, stored["token"]["refreshToken"])
    # What the model is told is the refused refresh's error_description, not the 403.
    assert refused.result is None and "registered grant_types [], which do not include 'refresh_token'" in refused.error
    assert not [e for e in refusal if e.path.startswith("/authorize")]  # no one was asked for more
    # The new sign-in asks for both (RFC 6749 §3.3), for the same resource.
    query = query_of(more.authorize_url)
    assert query["scope"] == "notes:read notes:write" and query["resource"] == served.mcp_url and more.consents == 1
    assert added.result is not None and added.result["added"] == "from Gemini CLI", added.error
    assert len([e for e in posts_to(trace, "/register") if '"Gemini CLI MCP Client"' in e.request_body]) == 2


async def test_gemini_cli_after_the_lab_restarts_reports_the_refused_token_and_signs_in_again(
    script: Path, tmp_path: Path
) -> None:
    """`serve` starts with a new signing key and no clients: what Gemini CLI stored is stale."""
    home, lab = tmp_path / "home", restartable(tmp_path / "tls")  # the same URLs, so the same entry
    async with lab() as served:
        await _add(script, served, home)
        await gemini_sign_in(script, served, home)
        before = await gemini_call(script, served, home)
        (stored,) = json.loads(tokens_file(home).read_text())
    async with lab() as served:
        stale = await gemini_call(script, served, home)
        refused = list(served.lab.trace)
        again = await gemini_sign_in(script, served, home)
        after = await gemini_call(script, served, home)
    assert before.result is not None and after.result is not None, (before.error, after.error)
    # The stored access token is refused (RFC 6750 §3.1: invalid_token, no such key); its SDK's
    # `auth()` then registers the stand-in client and presents the refresh token as it, refused.
    bearer = [e for e in posts_to(refused, "/mcp") if "Bearer " in (e.request_header("authorization") or "")]
    assert bearer and bearer[0].status == 401
    assert 'error="invalid_token"' in (bearer[0].response_header("www-authenticate") or "")
    assert _stand_in_registrations(refused) and _refused_refreshes(refused, stored["token"]["refreshToken"])
    # The server is left out of the turn: its tools are missing.
    assert stale.result is None and 'Tool "mcp_lab_whoami" not found' in stale.error
    # `/mcp auth lab` registers again and the user consents again.
    assert again.consents == 1 and "Authentication Successful" in again.landed
    assert after.result["client_id"] != before.result["client_id"] and after.result["aud"] == served.mcp_url
