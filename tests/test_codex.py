"""OpenAI's Codex CLI judges `python -m lab_servers serve` over TLS — the README section "Point
Codex at the lab", run as a test.

Codex's OAuth client is an independent implementation: the Rust `rmcp` crate's, wrapped by
Codex (`codex-rs/rmcp-client`), where every other outside judge of the served lab is built on
the TypeScript or the Python SDK. `codex mcp add` signs in (discovery, registration, PKCE,
`resource`); `codex app-server`, the service its IDE extensions drive, connects with the stored
token and calls whoami, with no model and no OpenAI account (`tests/codex.py`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lab_servers import ASCapabilities, load_trace
from lab_servers.client_documents import READY_DOCUMENTS
from lab_servers.serve import serving
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import show_token

from .codex import NO_BROWSER, codex_app_server_whoami, codex_home, codex_sign_in, installed
from .serve_helpers import restartable
from .served_trace import form_of, mcp_methods, posts_to, query_of

# Codex's own Client ID Metadata Document, hosted by OpenAI, which it sends to any AS that
# advertises CIMD (`--oauth-client-registration auto`, its default); it cannot send another.
CODEX_DOCUMENT = "https://chatgpt.com/oauth/codex/client.json"
ADD = ("add", "lab", "--url")
DCR = ("--oauth-client-registration", "dcr")  # not its default: OpenAI's CIMD document
DOCUMENT = next(ready for ready in READY_DOCUMENTS if ready.path == "/codex.json")

pytestmark = [pytest.mark.conformance, pytest.mark.anyio]


@pytest.fixture(scope="module")
def codex() -> Path:
    return installed()


async def test_codex_registers_by_dcr_signs_in_with_pkce_and_calls_whoami(codex: Path, tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "codex.jsonl")  # what `serve --trace-file` does
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", on_exchange=writer.write
    ) as served:
        home = tmp_path / "home"
        added = await codex_sign_in(codex, served, home, *ADD, served.mcp_url, *DCR)
        signed_in = list(served.lab.trace)
        run = await codex_app_server_whoami(codex, served, home)
        trace = list(served.lab.trace)
    print(added.printed)
    assert added.returncode == 0 and added.consents == 1 and NO_BROWSER in added.printed
    assert f'url = "{served.mcp_url}"' in (codex_home(home) / "config.toml").read_text()
    # Discovery from the 401 (MCP authorization, "Authorization Server Discovery"): its probe
    # (a GET with no token, to learn whether the server wants OAuth at all), then the PRM the
    # challenge names (RFC 9728 §5.1), then the AS metadata (RFC 8414 §3).
    probe = signed_in[0]
    assert (probe.method, probe.path, probe.status) == ("GET", "/mcp", 401)
    assert [e.path for e in signed_in[1:3]] == ["/.well-known/oauth-protected-resource/mcp",
                                                 "/.well-known/oauth-authorization-server"]  # fmt: skip
    # RFC 7591: a public native client (RFC 8252 §7.3; SEP-837 application_type) on a loopback
    # port of its own, asking for the scope the challenge named (RFC 6750 §3).
    (registration,) = posts_to(signed_in, "/register")
    metadata = json.loads(registration.request_body)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", metadata["redirect_uris"][0]), metadata
    assert metadata["token_endpoint_auth_method"] == "none" and metadata["application_type"] == "native"
    assert metadata["client_name"] == "Codex" and metadata["scope"] == "notes:read"
    # OAuth 2.1 §4.1.1 (PKCE S256), RFC 8707 §2 (resource), MCP "Scope Selection Strategy".
    query = query_of(added.authorize_url)
    assert query["client_id"] == json.loads(registration.response_body)["client_id"]
    assert query["code_challenge_method"] == "S256" and query["resource"] == served.mcp_url
    assert query["scope"] == "notes:read" and query["redirect_uri"] == metadata["redirect_uris"][0]
    (token,) = posts_to(signed_in, "/token")
    form = form_of(token)
    assert form["grant_type"] == "authorization_code" and form["resource"] == served.mcp_url and token.status == 200
    assert form["code_verifier"] and form["redirect_uri"] == metadata["redirect_uris"][0]
    # The app server: the tools listed with the stored token, and whoami called.
    assert run.status["authStatus"] == "oAuth" and run.status["toolsError"] is None
    assert {"whoami", "list_notes"} <= set(run.status["tools"])
    assert run.whoami is not None, run.error
    assert run.whoami["client_id"] == query["client_id"] and run.whoami["client_id"].startswith("tpc_")
    assert run.whoami["sub"] == "alice" and run.whoami["aud"] == served.mcp_url
    # Codex speaks the 2025-06-18 handshake (initialize); the 2026-07-28 server, which still
    # answers initialize-era clients, agrees on that version (MCP lifecycle, "Version Negotiation").
    initialize = next(e for e in posts_to(trace, "/mcp") if '"initialize"' in e.request_body and e.status == 200)
    asked, answered = json.loads(initialize.request_body), json.loads(initialize.response_body)
    assert asked["params"]["protocolVersion"] == answered["result"]["protocolVersion"] == "2025-06-18"
    assert "tools/call" in mcp_methods(trace)
    writer.close()
    saved = load_trace(tmp_path / "codex.jsonl")  # its handshake, for the notebooks' views
    assert [show_token(t).claims["client_id"] for t in access_tokens(saved)] == [run.whoami["client_id"]]


async def test_codex_refreshes_an_expired_token_for_the_same_resource(codex: Path, tmp_path: Path) -> None:
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        home = tmp_path / "home"
        await codex_sign_in(codex, served, home, *ADD, served.mcp_url, *DCR)
        first = await codex_app_server_whoami(codex, served, home)
        # The lab's access tokens live 900 s; Codex refreshes one whose stored `expires_at` (ms)
        # has passed, so that is what expires here.
        store = codex_home(home) / ".credentials.json"
        stored = json.loads(store.read_text())
        ((key, tokens),) = stored.items()
        store.write_text(json.dumps({key: tokens | {"expires_at": 1000}}))
        seen = len(served.lab.trace)
        second = await codex_app_server_whoami(codex, served, home)
        after = list(served.lab.trace)[seen:]
    assert first.whoami is not None and second.whoami is not None, (first.error, second.error)
    assert second.whoami["client_id"] == first.whoami["client_id"] and second.whoami["aud"] == served.mcp_url
    # One refresh (OAuth 2.1 §4.3), for the same resource (RFC 8707 §2), no new sign-in; the AS
    # rotates a public client's refresh token (OAuth 2.1 §4.3.1) and Codex keeps the new one.
    (refresh,) = posts_to(after, "/token")
    form = form_of(refresh)
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == tokens["refresh_token"]
    assert form["resource"] == served.mcp_url and form["client_id"] == first.whoami["client_id"]
    assert refresh.status == 200 and not posts_to(after, "/register")
    assert json.loads(store.read_text())[key]["refresh_token"] != tokens["refresh_token"]


@pytest.mark.parametrize("cimd", [True, False])
async def test_codex_sends_its_own_cimd_document_where_the_as_advertises_cimd_and_registers_elsewhere(
    codex: Path, tmp_path: Path, cimd: bool
) -> None:
    """`--oauth-client-registration auto`, Codex's default, follows the MCP revisions' order of
    preference (2025-11-25 authorization, "Client Registration Approaches"): a Client ID Metadata
    Document where the AS metadata says `client_id_metadata_document_supported`, else DCR. Its
    document is OpenAI's, so the AS would fetch it from chatgpt.com: the test reads the URL Codex
    prints and stops there, and uses no network beyond loopback."""
    capabilities = ASCapabilities.for_revision("2026-07-28").but(cimd=cimd)
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", capabilities=capabilities
    ) as served:
        sign_in = await codex_sign_in(codex, served, tmp_path / "home", *ADD, served.mcp_url, approve=cimd is False)
        trace = list(served.lab.trace)
    print(sign_in.printed)
    query = query_of(sign_in.authorize_url)
    assert query["code_challenge_method"] == "S256" and query["resource"] == served.mcp_url
    if cimd:
        # CIMD §3: the client_id is the document's URL; no registration.
        assert query["client_id"] == CODEX_DOCUMENT and not posts_to(trace, "/register")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", query["redirect_uri"]), query
    else:
        (registration,) = posts_to(trace, "/register")
        assert query["client_id"] == json.loads(registration.response_body)["client_id"]
        assert sign_in.returncode == 0 and sign_in.consents == 1


async def test_codex_given_the_lab_s_document_url_as_its_client_id_links_by_cimd(codex: Path, tmp_path: Path) -> None:
    """`--oauth-client-id` is a client id known beforehand, which Codex sends as-is; a URL is a
    CIMD client id (CIMD §3), so the AS fetches the lab's `/codex.json` and nobody registers."""
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        home, document = tmp_path / "home", f"{served.documents_origin}{DOCUMENT.path}"
        sign_in = await codex_sign_in(codex, served, home, *ADD, served.mcp_url, "--oauth-client-id", document)
        run = await codex_app_server_whoami(codex, served, home)
        trace = list(served.lab.trace)
    print(sign_in.printed)
    assert sign_in.returncode == 0 and sign_in.consents == 1
    assert run.whoami is not None and run.whoami["client_id"] == document, run.error
    assert run.whoami["aud"] == served.mcp_url and run.whoami["identified_by"]["method"] == "CIMD"
    assert not posts_to(trace, "/register") and DOCUMENT.path in [e.path for e in trace]  # CIMD §3, §6
    # The document lists the port-less loopback URI; Codex's ephemeral port matches it (OAuth 2.1 §8.4.2).
    redirect_uri = query_of(sign_in.authorize_url)["redirect_uri"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/callback", redirect_uri), redirect_uri
    (token,) = posts_to(trace, "/token")
    assert form_of(token)["client_id"] == document and form_of(token)["resource"] == served.mcp_url


async def test_codex_reports_the_refused_refresh_after_the_lab_restarts_and_signs_in_again(
    codex: Path, tmp_path: Path
) -> None:
    """`serve` starts with a new signing key and no clients: what Codex stored is stale."""
    home, lab = tmp_path / "home", restartable(tmp_path / "tls")  # the same URLs, so the same entry
    async with lab() as served:
        await codex_sign_in(codex, served, home, *ADD, served.mcp_url, *DCR)
        before = await codex_app_server_whoami(codex, served, home)
    async with lab() as served:
        stale = await codex_app_server_whoami(codex, served, home)
        refused = list(served.lab.trace)
        again = await codex_sign_in(codex, served, home, "login", "lab", *DCR)
        after = await codex_app_server_whoami(codex, served, home)
        trace = list(served.lab.trace)
    assert before.whoami is not None and after.whoami is not None, (before.error, after.error)
    # The stored access token is refused (RFC 6750 §3.1: invalid_token, no such key), then its
    # refresh, naming the unknown client (RFC 6749 §5.2: invalid_client, 401), which Codex shows.
    bearer = [e for e in posts_to(refused, "/mcp") if "Bearer " in (e.request_header("authorization") or "")]
    assert bearer and bearer[0].status == 401
    assert 'error="invalid_token"' in (bearer[0].response_header("www-authenticate") or "")
    refresh = posts_to(refused, "/token")[0]
    assert form_of(refresh)["grant_type"] == "refresh_token" and refresh.status == 401
    assert json.loads(refresh.response_body)["error"] == "invalid_client"
    assert stale.whoami is None and "invalid_client" in stale.error and "invalid_client" in stale.status["toolsError"]
    # `codex mcp login lab` registers again and the user consents again.
    assert again.returncode == 0 and again.consents == 1 and len(posts_to(trace, "/register")) == 1
    assert after.whoami["client_id"] != before.whoami["client_id"] and after.whoami["aud"] == served.mcp_url


@pytest.mark.parametrize("iss", [True, False])
async def test_codex_tells_authorization_servers_apart_by_iss_or_else_by_a_redirect_uri_per_sign_in(
    codex: Path, tmp_path: Path, iss: bool
) -> None:
    """Mix-up defence (RFC 9700 §4.4.2): a client checks the `iss` an AS that advertises
    `authorization_response_iss_parameter_supported` sends with the code (RFC 9207 §2.4), or
    else gives each AS a redirect URI of its own. Codex does the second where the AS metadata
    does not promise `iss` (as at 2025-06-18 here): `/callback/<id>`, registered by DCR, which
    the AS then compares exactly (OAuth 2.1 §4.1.1) like any other."""
    capabilities = ASCapabilities.for_revision("2026-07-28").but(iss_parameter=iss)
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", capabilities=capabilities
    ) as served:
        home = tmp_path / "home"
        sign_in = await codex_sign_in(codex, served, home, *ADD, served.mcp_url, *DCR)
        run = await codex_app_server_whoami(codex, served, home)
        trace = list(served.lab.trace)
    (registration,) = posts_to(trace, "/register")
    (redirect_uri,) = json.loads(registration.request_body)["redirect_uris"]
    assert query_of(sign_in.authorize_url)["redirect_uri"] == redirect_uri
    path = r"/callback" if iss else r"/callback/[A-Za-z0-9_-]+"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+" + path, redirect_uri), redirect_uri
    assert run.whoami is not None and run.whoami["aud"] == served.mcp_url, run.error


async def test_codex_shows_a_403_insufficient_scope_and_a_login_with_more_scopes_steps_up(
    codex: Path, tmp_path: Path
) -> None:
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        home = tmp_path / "home"
        await codex_sign_in(codex, served, home, *ADD, served.mcp_url, *DCR)
        note = ("add_note", {"text": "from Codex"})
        refused = await codex_app_server_whoami(codex, served, home, note)
        seen = len(served.lab.trace)
        more = await codex_sign_in(codex, served, home, "login", "lab", "--scopes", "notes:read,notes:write", *DCR)
        added = await codex_app_server_whoami(codex, served, home, note)
        trace = list(served.lab.trace)
    # The server names the scope the call needs (RFC 6750 §3.1; MCP authorization, "Scope
    # Challenge Handling"). Codex reports it rather than signing in again by itself: that step-up
    # is a SHOULD, and an app server with no user to send to a browser cannot do it.
    (forbidden,) = [e for e in posts_to(trace[:seen], "/mcp") if e.status == 403]
    challenge = forbidden.response_header("www-authenticate") or ""
    assert 'error="insufficient_scope"' in challenge and 'scope="notes:read notes:write"' in challenge
    assert refused.whoami is None and "Insufficient scope" in refused.error
    # `codex mcp login lab --scopes …` (a new sign-in: a new registration) asks for both (RFC 6749 §3.3), for the same resource.
    query = query_of(more.authorize_url)
    assert query["scope"] == "notes:read notes:write" and query["resource"] == served.mcp_url and more.consents == 1
    assert added.whoami is not None, added.error
    assert any(e.status == 200 and '"add_note"' in e.request_body for e in posts_to(trace[seen:], "/mcp"))
