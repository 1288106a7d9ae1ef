"""Anthropic's Claude Code judges `python -m lab_servers serve` over TLS — the README section "Point
Claude Code at the lab", run as a test.

Claude Code is a Bun-compiled program, so it trusts `ca-bun.pem` (`lab_servers/local_ca.py`). Its
MCP client and OAuth client are the TypeScript SDK's, behind Claude Code's own provider: `claude
mcp login lab` signs in (discovery, its own CIMD URL or registration, PKCE, `resource`, RFC 9207's
`iss`) on an ephemeral loopback port, run in a pseudo-terminal since it asks only in one; `claude
-p`, its model a fake Messages API on loopback, calls whoami with the stored token
(`tests/claude_code.py`). Where it departs from the specs, the test pins what it does and says
which rule it departs from; the lab does not copy it.
"""

from __future__ import annotations

import json
import re
import ssl
import sys
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from lab_servers import ASCapabilities, load_trace
from lab_servers.client_documents import READY_DOCUMENTS
from lab_servers.serve import ServedLab
from lab_servers.trace import Exchange
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import show_token

from .claude_code import (
    ITS_CIMD_URL,
    User,
    approve_as_the_lab_s_browser,
    claude,
    claude_call,
    claude_sign_in,
    config_file,
    credentials_file,
    installed,
    stored,
)
from .consenting_user import answers_at, consent
from .serve_helpers import restartable
from .serve_helpers import served as on_free_ports  # `serving` on ports the system picks
from .served_trace import as_metadata, form_of, mcp_methods, posts_to, query_of

CALLBACK = re.compile(r"http://localhost:(\d+)/callback")  # its listener, on an ephemeral port
DOCUMENT = next(ready for ready in READY_DOCUMENTS if ready.path == "/claude-code.json")
# What `serve --no-cimd` runs: the AS neither advertises nor accepts CIMD, so Claude Code registers.
NO_CIMD = ASCapabilities.for_revision("2026-07-28").but(cimd=False)

pytestmark = [pytest.mark.conformance, pytest.mark.anyio]


@pytest.fixture(scope="module")
def binary() -> Path:
    return installed()


def _signing_in(trace: list[Exchange]) -> list[str]:
    return [e.path for e in trace if e.path in ("/register", "/token") or e.path.startswith("/authorize")]


async def _add(binary: Path, served: ServedLab, home: Path, *options: str) -> None:
    """`claude mcp add --scope user --transport http [options] lab <MCP URL>`, as the README has it."""
    added = await claude(
        binary, served, home, "mcp", "add", "--scope", "user", "--transport", "http", *options, "lab", served.mcp_url
    )
    assert added[0] == 0 and f"Added HTTP MCP server lab with URL: {served.mcp_url} to user config" in added[1], added


async def test_claude_code_registers_by_dcr_where_the_as_offers_no_cimd_and_calls_whoami(
    binary: Path, tmp_path: Path
) -> None:
    writer = TraceWriter(tmp_path / "claude-code.jsonl")  # what `serve --trace-file` does
    beyond: list[bool] = []

    async def probing_user(served: ServedLab, url: str) -> bool:
        listener = CALLBACK.fullmatch(query_of(url)["redirect_uri"])
        assert listener is not None, url
        beyond.append(await answers_at("127.0.0.2", int(listener.group(1))))
        return await approve_as_the_lab_s_browser(served, url)

    async with on_free_ports(tmp_path / "tls", capabilities=NO_CIMD, on_exchange=writer.write) as served:
        home = tmp_path / "home"
        await _add(binary, served, home)
        sign_in = await claude_sign_in(binary, served, home, user=probing_user if sys.platform == "linux" else None)
        signed_in = list(served.lab.trace)
        listed = await claude(binary, served, home, "mcp", "list")
        seen = len(served.lab.trace)
        turn = await claude_call(binary, served, home)
        trace = list(served.lab.trace)
    print(sign_in.printed)
    assert json.loads(config_file(home).read_text())["mcpServers"]["lab"] == {"type": "http", "url": served.mcp_url}
    assert sign_in.returncode == 0 and sign_in.consents == 1
    assert 'Authenticated with "lab".' in sign_in.printed
    # Discovery by the well-known URIs, no 401 needed (MCP authorization, "Authorization Server
    # Discovery": RFC 9728 §3.1's path-suffixed PRM, then RFC 8414 §3's AS metadata).
    assert [(e.method, e.path, e.status) for e in signed_in[:2]] == [
        ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
        ("GET", "/.well-known/oauth-authorization-server", 200),
    ]  # fmt: skip
    assert "client_id_metadata_document_supported" not in as_metadata(signed_in)
    # One registration (RFC 7591): a public native client (application_type "native", as the
    # 2026-07-28 revision has a loopback client send, SEP-837) on its listener's URI, asking for
    # the PRM's `scopes_supported` (MCP "Scope Selection Strategy": no challenge was read).
    (registration,) = posts_to(signed_in, "/register")
    metadata = json.loads(registration.request_body)
    assert metadata["application_type"] == "native" and metadata["token_endpoint_auth_method"] == "none"
    assert metadata["client_name"] == "Claude Code (lab)" and metadata["scope"] == "notes:read"
    assert metadata["grant_types"] == ["authorization_code", "refresh_token"]
    (redirect_uri,) = metadata["redirect_uris"]
    # Departure, pinned: `localhost`, which RFC 8252 §8.3 calls NOT RECOMMENDED ("use the loopback
    # IP literal"), since a name may resolve elsewhere; the AS takes it (§7.3 allows it).
    assert CALLBACK.fullmatch(redirect_uri)
    # Its listener answers on loopback only (RFC 8252 §8.3): not at 127.0.0.2.
    assert beyond == ([False] if sys.platform == "linux" else [])
    # OAuth 2.1 §4.1.1 (PKCE S256), RFC 8707 §2 (resource).
    query = query_of(sign_in.authorize_url)
    assert query["client_id"] == json.loads(registration.response_body)["client_id"]
    assert query["code_challenge_method"] == "S256" and query["resource"] == served.mcp_url
    assert query["scope"] == "notes:read" and query["redirect_uri"] == redirect_uri
    (token,) = posts_to(signed_in, "/token")
    form = form_of(token)
    assert form["grant_type"] == "authorization_code" and form["resource"] == served.mcp_url and token.status == 200
    assert form["code_verifier"] and form["redirect_uri"] == redirect_uri and form["client_id"] == query["client_id"]
    # Stored in ~/.claude/.credentials.json (no keychain on Linux), with the issuer it signed in at.
    assert stored(home)["clientId"] == query["client_id"] and stored(home)["issuer"] == served.issuer
    assert listed[0] == 0 and f"lab: {served.mcp_url} (HTTP) - ✔ Connected" in listed[1], listed
    # `claude -p`, a second process: the stored token, no sign-in, and whoami called.
    assert turn.result is not None, turn.error
    assert _signing_in(trace[seen:]) == [] and {"mcp__lab__whoami", "mcp__lab__add_note"} <= set(turn.offered)
    assert turn.result["client_id"] == query["client_id"] and turn.result["sub"] == "alice"
    assert turn.result["aud"] == served.mcp_url and turn.result["scope"] == "notes:read"
    # It speaks the 2026-07-28 revision: `server/discover`, no initialize handshake (MCP
    # lifecycle), the version in each request's `_meta`.
    methods = mcp_methods(trace[seen:])
    assert methods[0] == "server/discover" and "initialize" not in methods and "tools/call" in methods
    call = next(e for e in posts_to(trace[seen:], "/mcp") if '"tools/call"' in e.request_body)
    assert json.loads(call.request_body)["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
    # The revision's Streamable HTTP headers, and both media types in Accept (MCP transports):
    # the `Accept: application/json` alone that bug threads quote of its 2.1.96 is gone.
    assert call.request_header("mcp-protocol-version") == "2026-07-28" and call.request_header("mcp-name") == "whoami"
    assert call.request_header("mcp-method") == "tools/call"
    assert call.request_header("accept") == "application/json, text/event-stream"
    writer.close()
    saved = load_trace(tmp_path / "claude-code.jsonl")  # its handshake, for the notebooks' views
    assert {show_token(t).claims["client_id"] for t in access_tokens(saved)} == {turn.result["client_id"]}


def _reading_the_page(pages: list[httpx.Response]) -> User:
    """A user who opens the authorize URL and finds an error page, nothing to approve (kept in
    `pages`); Claude Code, which the page never reaches, goes on waiting."""

    async def user(served: ServedLab, url: str) -> bool:
        assert served.ca is not None
        verify = ssl.create_default_context(cafile=str(served.ca.ca_certificate))
        async with httpx.AsyncClient(verify=verify, trust_env=False) as http:
            pages.append(await http.get(url))
        return False

    return user


async def test_claude_code_sends_its_own_cimd_url_which_the_served_lab_refuses_and_keeps_it_until_logout(
    binary: Path, tmp_path: Path
) -> None:
    """Where the AS metadata says `client_id_metadata_document_supported`, Claude Code sends the URL
    of its own document as its client id (MCP 2025-11-25 authorization, "Client Registration
    Approaches": CIMD first). The served AS fetches documents only from its own documents host,
    never the internet: it refuses the request with `invalid_client` and says why, on the page,
    with no redirect (OAuth 2.1 §4.1.2.1: a client id it cannot check gets no redirect). Claude
    Code learns nothing of it: it waits for a code, and does not fall back to DCR. It stores the
    refused client id, and sends it again to `serve --no-cimd` at the same URLs, whose AS now
    refuses any CIMD client id: only `claude mcp logout` clears it, and it then registers."""
    pages: list[httpx.Response] = []
    refused_user = _reading_the_page(pages)
    home, lab = tmp_path / "home", restartable(tmp_path / "tls")  # the same URLs, so the same entry
    async with lab() as served:
        await _add(binary, served, home)
        sign_in = await claude_sign_in(binary, served, home, user=refused_user)
        trace = list(served.lab.trace)
        kept = stored(home)
    async with lab(capabilities=NO_CIMD) as served:  # what the refusal suggests
        again = await claude_sign_in(binary, served, home, user=refused_user)
        refused_again = list(served.lab.trace)
        logged_out = await claude(binary, served, home, "mcp", "logout", "lab")
        registered = await claude_sign_in(binary, served, home)
        after = list(served.lab.trace)[len(refused_again) :]
    metadata = as_metadata(trace)
    assert metadata["client_id_metadata_document_supported"] is True and "registration_endpoint" in metadata
    # What it sends: its CIMD URL, a loopback redirect URI on an ephemeral port, PKCE S256,
    # `resource` and the PRM's scope.
    query = query_of(sign_in.authorize_url)
    assert query["client_id"] == ITS_CIMD_URL and CALLBACK.fullmatch(query["redirect_uri"])
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] and query["state"]
    assert query["resource"] == served.mcp_url and query["scope"] == "notes:read"
    page, page_again = pages
    assert page.status_code == 400 and "location" not in page.headers
    assert '<code data-field="error">invalid_client</code>' in page.text
    assert "client_id host &#x27;claude.ai&#x27; is not fetched" in page.text and "serve --no-cimd" in page.text
    # Still waiting when stopped: no registration, no token; the refused client id kept.
    assert sign_in.returncode is None and sign_in.consents == 0
    assert not posts_to(trace, "/register") and not posts_to(trace, "/token")
    assert kept["clientId"] == ITS_CIMD_URL and not kept.get("accessToken")
    # Against `serve --no-cimd`: the stored client id again, though the AS no longer offers CIMD.
    assert "client_id_metadata_document_supported" not in as_metadata(refused_again)
    assert query_of(again.authorize_url)["client_id"] == ITS_CIMD_URL and again.returncode is None
    assert page_again.status_code == 400 and "does not support Client ID Metadata Documents" in page_again.text
    assert not posts_to(refused_again, "/register")
    # `claude mcp logout lab` forgets it; the next sign-in registers (DCR) and succeeds.
    assert logged_out == (0, 'Signed out of "lab". Run `claude mcp login lab` to authenticate again.\n')
    (registration,) = posts_to(after, "/register")
    assert query_of(registered.authorize_url)["client_id"] == json.loads(registration.response_body)["client_id"]
    assert registered.returncode == 0 and registered.consents == 1 and posts_to(after, "/token")[0].status == 200


async def test_claude_code_sends_its_own_cimd_url_though_the_as_offers_no_none_method(
    binary: Path, tmp_path: Path
) -> None:
    """Claude's connector documentation has Claude use CIMD only where the AS metadata also lists
    `none` in `token_endpoint_auth_methods_supported` (CIMD -02 §4.1: a document names no shared
    secret), and notebook 06 quotes it. Claude Code 2.1.332 does not apply that condition: an AS
    advertising CIMD (`private_key_jwt` is enough for a document, so the lab advertises it) that
    offers `none` to nobody still gets Claude Code's own document URL, not a registration."""
    pages: list[httpx.Response] = []
    methods = ("private_key_jwt", "client_secret_basic")
    capabilities = ASCapabilities.for_revision("2026-07-28").but(token_endpoint_auth_methods=methods)
    async with on_free_ports(tmp_path / "tls", capabilities=capabilities) as served:
        home = tmp_path / "home"
        await _add(binary, served, home)
        sign_in = await claude_sign_in(binary, served, home, user=_reading_the_page(pages))
        trace = list(served.lab.trace)
    metadata = as_metadata(trace)
    assert metadata["client_id_metadata_document_supported"] is True and "registration_endpoint" in metadata
    assert metadata["token_endpoint_auth_methods_supported"] == list(methods)
    assert query_of(sign_in.authorize_url)["client_id"] == ITS_CIMD_URL and not posts_to(trace, "/register")
    (page,) = pages
    assert page.status_code == 400 and '<code data-field="error">invalid_client</code>' in page.text
    assert sign_in.returncode is None and sign_in.consents == 0  # waiting, as before


async def test_claude_code_given_the_lab_s_document_url_as_its_client_id_links_by_cimd(
    binary: Path, tmp_path: Path
) -> None:
    """`claude mcp add --client-id <URL>` is a client id known beforehand, sent as-is in place of
    its own; a URL is a CIMD client id (CIMD §3), so the AS fetches the lab's `/claude-code.json`,
    whose port-less loopback URI takes its ephemeral port (OAuth 2.1 §8.4.2), and nobody registers."""
    async with on_free_ports(tmp_path / "tls") as served:
        home, document = tmp_path / "home", f"{served.documents_origin}{DOCUMENT.path}"
        await _add(binary, served, home, "--client-id", document)
        sign_in = await claude_sign_in(binary, served, home)
        turn = await claude_call(binary, served, home)
        trace = list(served.lab.trace)
    assert sign_in.returncode == 0 and sign_in.consents == 1
    assert turn.result is not None and turn.result["client_id"] == document, turn.error
    assert turn.result["aud"] == served.mcp_url and turn.result["identified_by"]["method"] == "CIMD"
    assert not posts_to(trace, "/register") and DOCUMENT.path in [e.path for e in trace]  # CIMD §3, §6
    assert CALLBACK.fullmatch(query_of(sign_in.authorize_url)["redirect_uri"])
    (token,) = posts_to(trace, "/token")
    assert form_of(token)["client_id"] == document and form_of(token)["resource"] == served.mcp_url


async def test_claude_code_refuses_a_code_whose_iss_names_another_issuer(binary: Path, tmp_path: Path) -> None:
    """Mix-up defence (RFC 9207 §2.4; MCP 2026-07-28 authorization): where the AS metadata says
    `authorization_response_iss_parameter_supported`, a client compares the `iss` that comes with
    the code to the issuer it sent the user to, and redeems nothing on a mismatch. Here the user's
    browser (an attacker's page, in the attack) swaps the lab's `iss` for another: Claude Code
    says so and stops, the code unredeemed."""

    async def swapping_iss(served: ServedLab, url: str) -> bool:
        redirect = await consent(served, url)
        assert query_of(redirect.location)["iss"] == served.issuer
        swapped = query_of(redirect.location) | {"iss": "https://attacker.example"}
        async with httpx.AsyncClient(trust_env=False) as http:
            await http.get(urlsplit(redirect.location)._replace(query=urlencode(swapped)).geturl())
        return True

    async with on_free_ports(tmp_path / "tls", capabilities=NO_CIMD) as served:
        home = tmp_path / "home"
        await _add(binary, served, home)
        sign_in = await claude_sign_in(binary, served, home, user=swapping_iss)
        trace = list(served.lab.trace)
    assert as_metadata(trace)["authorization_response_iss_parameter_supported"] is True
    assert sign_in.returncode == 1 and "Issuer mismatch in authorization response (RFC 9207)" in sign_in.printed
    assert f'expected "{served.issuer}", received "https://attacker.example"' in sign_in.printed
    assert not posts_to(trace, "/token") and not stored(home).get("accessToken")


async def test_claude_code_signs_in_without_iss_where_the_as_never_promised_one_and_falls_back_to_initialize(
    binary: Path, tmp_path: Path
) -> None:
    """`serve --revision 2025-06-18`: the AS neither promises nor sends RFC 9207's `iss`, and
    Claude Code redeems the code all the same, as RFC 9207 §2.4 has it (no promise, no check). The
    2025-06-18 server refuses its `server/discover` probe (a 2026-07-28 request, 400), and Claude
    Code falls back to the `initialize` handshake it offers at 2025-11-25, which the server
    answers with the version it speaks (MCP lifecycle, "Version Negotiation")."""
    async with on_free_ports(tmp_path / "tls", revision="2025-06-18") as served:
        home = tmp_path / "home"
        await _add(binary, served, home)
        sign_in = await claude_sign_in(binary, served, home)
        seen = len(served.lab.trace)
        turn = await claude_call(binary, served, home)
        trace = list(served.lab.trace)
    metadata = as_metadata(trace)
    assert "authorization_response_iss_parameter_supported" not in metadata
    assert "client_id_metadata_document_supported" not in metadata  # CIMD came in 2025-11-25
    assert sign_in.returncode == 0 and posts_to(trace, "/register") and posts_to(trace, "/token")[0].status == 200
    assert turn.result is not None and turn.result["aud"] == served.mcp_url, turn.error
    probe, handshake = posts_to(trace[seen:], "/mcp")[:2]
    assert json.loads(probe.request_body)["method"] == "server/discover" and probe.status == 400
    asked, answered = json.loads(handshake.request_body), json.loads(handshake.response_body)
    assert asked["method"] == "initialize" and asked["params"]["protocolVersion"] == "2025-11-25"
    assert answered["result"]["protocolVersion"] == "2025-06-18"


async def test_claude_code_steps_up_on_insufficient_scope_with_a_new_sign_in_for_both_scopes(
    binary: Path, tmp_path: Path
) -> None:
    """add_note needs notes:write: the server refuses it 403 `insufficient_scope` naming both
    scopes (RFC 6750 §3.1; MCP authorization, "Scope Challenge Handling"). Claude Code neither
    refreshes nor retries: it keeps the challenge's scope and tells the model to have the user
    sign in again; `claude mcp login` then revokes the old tokens (RFC 7009) and asks, for the same
    client, for the challenge's scopes (the step-up MCP describes), and add_note works."""
    async with on_free_ports(tmp_path / "tls", capabilities=NO_CIMD) as served:
        home = tmp_path / "home"
        await _add(binary, served, home)
        await claude_sign_in(binary, served, home)
        first = stored(home)
        seen = len(served.lab.trace)
        note = ("add_note", {"text": "from Claude Code"})
        refused = await claude_call(binary, served, home, note)
        refusal = list(served.lab.trace)[seen:]
        kept = stored(home)
        again = await claude_sign_in(binary, served, home)
        added = await claude_call(binary, served, home, note)
        trace = list(served.lab.trace)
    (forbidden,) = [e for e in posts_to(refusal, "/mcp") if e.status == 403]
    challenge = forbidden.response_header("www-authenticate") or ""
    assert 'error="insufficient_scope"' in challenge and 'scope="notes:read notes:write"' in challenge
    assert refused.result is None and 'needs additional permissions (scope: "notes:read notes:write")' in refused.error
    assert _signing_in(refusal) == []  # no refresh, no new authorization request by itself
    assert kept["stepUpScope"] == "notes:read notes:write" and kept["scope"] == "notes:read"
    revoked = {form_of(e)["token"] for e in posts_to(trace, "/revoke")}
    assert revoked == {first["accessToken"], first["refreshToken"]}
    query = query_of(again.authorize_url)
    assert query["scope"] == "notes:read notes:write" and query["client_id"] == first["clientId"]
    assert query["resource"] == served.mcp_url and again.consents == 1 and len(posts_to(trace, "/register")) == 1
    assert added.result is not None and added.result["added"] == "from Claude Code", added.error


async def test_claude_code_refreshes_an_expired_token_for_the_same_resource(binary: Path, tmp_path: Path) -> None:
    async with on_free_ports(tmp_path / "tls", capabilities=NO_CIMD) as served:
        home = tmp_path / "home"
        await _add(binary, served, home)
        await claude_sign_in(binary, served, home)
        # The expiry it stored (ms) has passed; the token itself (900 s) has not.
        before = stored(home)
        credentials = json.loads(credentials_file(home).read_text())
        (key,) = credentials["mcpOAuth"]
        credentials["mcpOAuth"][key]["expiresAt"] = 1000
        credentials_file(home).write_text(json.dumps(credentials))
        seen = len(served.lab.trace)
        turn = await claude_call(binary, served, home)
        after = list(served.lab.trace)[seen:]
    assert turn.result is not None and turn.result["client_id"] == before["clientId"], turn.error
    # Refreshed before the first request (OAuth 2.1 §4.3), for the same resource (RFC 8707 §2);
    # the AS rotates a public client's refresh token (OAuth 2.1 §4.3.1), which Claude Code keeps.
    (refresh,) = posts_to(after, "/token")
    form = form_of(refresh)
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == before["refreshToken"]
    assert form["resource"] == served.mcp_url and form["client_id"] == before["clientId"] and "scope" not in form
    refreshed = json.loads(refresh.response_body)["access_token"]
    assert {e.request_header("authorization") for e in posts_to(after, "/mcp")} == {f"Bearer {refreshed}"}
    assert stored(home)["refreshToken"] != before["refreshToken"] and stored(home)["expiresAt"] > 1000


async def test_claude_code_after_the_lab_restarts_forgets_the_client_and_signs_in_again(
    binary: Path, tmp_path: Path
) -> None:
    """`serve` starts with a new signing key and no clients: what Claude Code stored is stale."""
    home, lab = tmp_path / "home", restartable(tmp_path / "tls", capabilities=NO_CIMD)  # the same URLs
    async with lab() as served:
        await _add(binary, served, home)
        await claude_sign_in(binary, served, home)
        before = stored(home)
    async with lab() as served:
        stale = await claude_call(binary, served, home)
        refused = list(served.lab.trace)
        listed = await claude(binary, served, home, "mcp", "list")
        forgotten = stored(home)
        again = await claude_sign_in(binary, served, home)
        after = await claude_call(binary, served, home)
    # The stored access token is refused (RFC 6750 §3.1: invalid_token, no such key), then its
    # refresh, naming the unknown client (RFC 6749 §5.2: invalid_client); Claude Code forgets
    # the client and its tokens, and the lab's tools are missing from the session.
    bearer = [e for e in posts_to(refused, "/mcp") if "Bearer " in (e.request_header("authorization") or "")]
    assert bearer and 'error="invalid_token"' in (bearer[0].response_header("www-authenticate") or "")
    (refresh,) = posts_to(refused, "/token")
    assert form_of(refresh)["refresh_token"] == before["refreshToken"] and refresh.status == 401
    assert json.loads(refresh.response_body)["error"] == "invalid_client"
    assert not posts_to(refused, "/register") and "clientId" not in forgotten and "refreshToken" not in forgotten
    assert stale.result is None and "mcp__lab__whoami" not in stale.offered
    assert "lab: " in listed[1] and "Needs authentication" in listed[1], listed
    # `claude mcp login lab` registers again and the user consents again.
    assert again.returncode == 0 and again.consents == 1
    assert after.result is not None and after.result["client_id"] != before["clientId"], after.error
    assert after.result["aud"] == served.mcp_url
