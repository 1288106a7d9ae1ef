"""mcp-remote, the stdio↔remote bridge that Claude Desktop, Cursor and Windsurf users run for
remote MCP servers, judges `python -m lab_servers serve` over TLS — the README section "Point
mcp-remote (Claude Desktop, Cursor, Windsurf) at the lab", run as a test.

mcp-remote bundles the TypeScript SDK's OAuth client and adds its own: the callback listener,
token storage under `MCP_REMOTE_CONFIG_DIR`, CIMD (`--client-metadata-url`), the 2026-07-28 bridge
(`--protocol auto`) and the client credentials grant. This test is its MCP host, and the lab's
headless browser its user (`tests/mcp_remote.py`).
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lab_servers import load_trace
from lab_servers.client_documents import READY_DOCUMENTS
from lab_servers.serve import serving
from lab_servers.trace import Exchange
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import show_token

from .consenting_user import free_port
from .mcp_remote import NO_BROWSER, installed, mcp_remote_whoami, start
from .serve_helpers import restartable
from .served_trace import form_of, posts_to, query_of

# What mcp-remote prints when it will not start a sign-in because another is pending.
STALLED = b"A sign-in for this server is already under way"
DOCUMENT = next(ready for ready in READY_DOCUMENTS if ready.path == "/mcp-remote.json")

pytestmark = [pytest.mark.conformance, pytest.mark.anyio]


@pytest.fixture(scope="module")
def proxy() -> Path:
    return installed()


def _authorize_query(trace: list[Exchange]) -> dict[str, str]:
    (request,) = [e for e in trace if e.method == "GET" and e.path.startswith("/authorize?")]
    return query_of(request.path)


def _mcp_methods(trace: list[Exchange]) -> list[str | None]:
    return [e.request_header("mcp-method") for e in posts_to(trace, "/mcp") if e.status == 200]


async def test_mcp_remote_registers_by_dcr_and_speaks_the_2025_handshake(proxy: Path, tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "mcp-remote.jsonl")  # what `serve --trace-file` does
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", on_exchange=writer.write
    ) as served:
        run = await mcp_remote_whoami(proxy, served, tmp_path / "config")
        trace = list(served.lab.trace)
    print(run.printed)
    assert run.consents == 1 and NO_BROWSER in run.printed  # the URL was printed; no browser started
    assert run.whoami["client_id"].startswith("tpc_") and run.whoami["aud"] == served.mcp_url
    assert run.whoami["sub"] == "alice" and "whoami" in run.tools
    (registration,) = posts_to(trace, "/register")
    metadata = json.loads(registration.request_body)
    # A public native client on a loopback port (RFC 8252 §7.3; 2026-07-28 client-registration
    # §3.1, SEP-837: application_type), the port derived from the server URL.
    assert re.fullmatch(r"http://localhost:\d+/oauth/callback", metadata["redirect_uris"][0]), metadata
    assert metadata["token_endpoint_auth_method"] == "none" and metadata["application_type"] == "native"
    query = _authorize_query(trace)
    assert (
        query["code_challenge_method"] == "S256" and query["resource"] == served.mcp_url
    )  # OAuth 2.1 §4.1.1, RFC 8707 §2
    (token,) = posts_to(trace, "/token")
    assert form_of(token)["grant_type"] == "authorization_code" and form_of(token)["resource"] == served.mcp_url
    # The default protocol is legacy: the host's initialize goes through to the 2026-07-28
    # server, which still answers initialize-era clients (after mcp-remote's own probe).
    assert "initialize" in _mcp_methods(trace) and "server/discover" not in _mcp_methods(trace)
    assert run.handshake["protocolVersion"] == "2025-11-25"
    writer.close()
    saved = load_trace(tmp_path / "mcp-remote.jsonl")  # its handshake, for the notebooks' views
    assert [show_token(t).claims["client_id"] for t in access_tokens(saved)] == [run.whoami["client_id"]]


async def test_mcp_remote_reuses_its_stored_tokens_then_refreshes_them(proxy: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        first = await mcp_remote_whoami(proxy, served, config)
        seen = len(served.lab.trace)
        again = await mcp_remote_whoami(proxy, served, config)
        second = list(served.lab.trace)[seen:]
        # The lab's access tokens live 900 s on the wall clock; mcp-remote refreshes one that
        # expires within a minute, by the `expires_at` (ms) it stored, so that is what expires
        # here: a second after 1970 (0 would read as "never": it tests `expires_at &&`).
        (stored,) = (config / "mcp-remote-v1").glob("*_tokens.json")
        tokens = json.loads(stored.read_text())
        stored.write_text(json.dumps(tokens | {"expires_at": 1000}))
        seen = len(served.lab.trace)
        refreshed = await mcp_remote_whoami(proxy, served, config)
        third = list(served.lab.trace)[seen:]
    print(again.printed + refreshed.printed)
    assert (first.consents, again.consents, refreshed.consents) == (1, 0, 0)
    assert first.whoami["client_id"] == again.whoami["client_id"] == refreshed.whoami["client_id"]
    # Run two: the stored client and token, no registration, no consent, no token request.
    assert [e.path for e in second if e.path in ("/register", "/token") or e.path.startswith("/authorize")] == []
    # Run three: one refresh (OAuth 2.1 §4.3) for the same resource (RFC 8707 §2), and a new
    # refresh token in place of the old one: the AS rotates them for public clients (§4.3.1).
    (refresh,) = posts_to(third, "/token")
    form = form_of(refresh)
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == tokens["refresh_token"]
    assert form["resource"] == served.mcp_url and refresh.status == 200
    assert json.loads(stored.read_text())["refresh_token"] != tokens["refresh_token"]
    assert "/register" not in [e.path for e in third]


async def test_mcp_remote_signs_in_again_after_the_lab_restarts(proxy: Path, tmp_path: Path) -> None:
    """`serve` starts with a new signing key and no clients: what mcp-remote stored is stale."""
    config, lab = tmp_path / "config", restartable(tmp_path / "tls")  # the same URLs, so the same store
    async with lab() as served:
        before = await mcp_remote_whoami(proxy, served, config)
    async with lab() as served:
        after = await mcp_remote_whoami(proxy, served, config)
        trace = list(served.lab.trace)
    print(after.printed)
    # The stored access token is refused (RFC 6750 §3.1, invalid_token: no such key), then its
    # refresh, naming the unknown client (RFC 6749 §5.2, invalid_client), so mcp-remote forgets
    # that client, registers again and sends the user to consent.
    refused = [
        e
        for e in posts_to(trace, "/mcp")
        if e.status == 401 and "Bearer ey" in (e.request_header("authorization") or "")
    ]
    assert refused and 'error="invalid_token"' in (refused[0].response_header("www-authenticate") or "")
    refresh = next(e for e in posts_to(trace, "/token") if form_of(e)["grant_type"] == "refresh_token")
    assert refresh.status == 401 and json.loads(refresh.response_body)["error"] == "invalid_client"
    assert after.consents == 1 and len(posts_to(trace, "/register")) == 1
    assert after.whoami["client_id"] != before.whoami["client_id"] and after.whoami["aud"] == served.mcp_url


async def test_a_client_the_restarted_lab_forgot_is_registered_again_after_a_json_invalid_client(
    proxy: Path, tmp_path: Path
) -> None:
    """Holding a registered client but no token (nothing to refresh), mcp-remote probes the
    authorization URL with `Accept: application/json` and forgets the client on a JSON
    `invalid_client` there. The AS tells an error it may not redirect to whoever asked (OAuth 2.1
    §4.1.2.1; RFC 9110 §12.1): the error object to this probe. It once answered only a page, to
    which mcp-remote sent its user, naming a client the lab had forgotten, until the user removed
    ~/.mcp-auth by hand."""
    config, lab = tmp_path / "config", restartable(tmp_path / "tls")
    async with lab() as served:
        before = await mcp_remote_whoami(proxy, served, config)
    for tokens in (config / "mcp-remote-v1").glob("*_tokens.json"):
        tokens.unlink()
    async with lab() as served:
        process = await start(proxy, served, config)
        assert process.stderr is not None
        printed = b""
        try:
            # mcp-remote 0.15.1 registers again, then refuses to start a second sign-in while the
            # stale one is pending (its `ownsPendingFlow`) and waits: its own defect. What it stored
            # is the new client, so its next start, as a host's restart, signs in.
            while STALLED not in printed:
                line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
                assert line, printed.decode()
                printed += line
        finally:
            process.kill()
            await process.communicate()
        after = await mcp_remote_whoami(proxy, served, config)
        trace = list(served.lab.trace)
    print(printed.decode(), after.printed)
    probe = next(e for e in trace if e.method == "GET" and e.path.startswith("/authorize?"))
    assert probe.request_header("accept") == "application/json" and probe.status == 400
    assert json.loads(probe.response_body)["error"] == "invalid_client"
    (registration,) = posts_to(trace, "/register")
    assert json.loads(registration.response_body)["client_id"] == after.whoami["client_id"]
    assert after.consents == 1 and after.whoami["client_id"] != before.whoami["client_id"]
    assert after.whoami["aud"] == served.mcp_url


async def test_mcp_remote_steps_up_when_a_tool_needs_more_scope(proxy: Path, tmp_path: Path) -> None:
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        run = await mcp_remote_whoami(
            proxy, served, tmp_path / "config", call=("add_note", {"text": "from mcp-remote"})
        )
        trace = list(served.lab.trace)
    print(run.printed)
    # add_note needs notes:write: the MCP server answers 403 insufficient_scope naming the scopes
    # the call needs (RFC 6750 §3.1; MCP 2026-07-28 §11.1.2), mcp-remote asks the same client for
    # them (a second consent, no second registration) and the call goes through.
    (refused,) = [e for e in posts_to(trace, "/mcp") if e.status == 403]
    challenge = refused.response_header("www-authenticate") or ""
    assert 'error="insufficient_scope"' in challenge and 'scope="notes:read notes:write"' in challenge, challenge
    authorizations = [e for e in trace if e.method == "GET" and e.path.startswith("/authorize?")]
    assert len(authorizations) == run.consents == 2 and len(posts_to(trace, "/register")) == 1
    assert "notes:write" in parse_qs(urlsplit(authorizations[1].path).query)["scope"][0].split()
    assert run.whoami["scope"] == "notes:read notes:write"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])  # its default, and `--host 127.0.0.1`
async def test_mcp_remote_uses_the_lab_s_cimd_document(proxy: Path, tmp_path: Path, host: str) -> None:
    # The document names the README's port; any free one works, since the AS allows any port on
    # a loopback redirect URI (OAuth 2.1 §8.4.2, RFC 8252 §7.3). mcp-remote takes a port passed
    # explicitly as-is, and with --client-metadata-url never moves off it.
    port = free_port()
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        document = f"{served.documents_origin}{DOCUMENT.path}"
        args = [str(port), "--client-metadata-url", document] + (["--host", host] if host != "localhost" else [])
        run = await mcp_remote_whoami(proxy, served, tmp_path / "config", *args)
        trace = list(served.lab.trace)
    print(run.printed)
    assert run.consents == 1 and run.whoami["client_id"] == document and run.whoami["aud"] == served.mcp_url
    assert posts_to(trace, "/register") == [] and DOCUMENT.path in [e.path for e in trace]  # CIMD §3, §6
    assert _authorize_query(trace)["redirect_uri"] == f"http://{host}:{port}/oauth/callback"
    # Not the lab's to judge, but seen here: mcp-remote's bundled SDK warns that the stored CIMD
    # client carries no issuer stamp, so keying credentials by issuer (2026-07-28
    # client-registration §4, SEP-2352) is inactive for it; its store is keyed by server URL.


@pytest.mark.parametrize("revision", ["2026-07-28", "2025-11-25"])
async def test_mcp_remote_protocol_auto_bridges_to_2026_07_28_or_falls_back_to_initialize(
    proxy: Path, tmp_path: Path, revision: str
) -> None:
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", revision=revision
    ) as served:
        run = await mcp_remote_whoami(proxy, served, tmp_path / "config", "--protocol", "auto")
        trace = list(served.lab.trace)
    print(run.printed)
    assert run.whoami["client_id"].startswith("tpc_") and run.whoami["aud"] == served.mcp_url
    assert run.handshake["protocolVersion"] == "2025-11-25"  # what its host asked for, either way
    (call,) = [e for e in posts_to(trace, "/mcp") if e.request_header("mcp-method") == "tools/call"]
    if revision == "2026-07-28":
        # It answers its host's initialize itself and sends the server only modern requests:
        # server/discover, then each with MCP-Protocol-Version, Mcp-Method and, for tools/call,
        # Mcp-Name (2026-07-28 transports, SEP-2575, SEP-2243), which the server checks.
        assert "speaks MCP 2026-07-28" in run.printed
        assert _mcp_methods(trace) == ["server/discover", "server/discover", "tools/list", "tools/call"]
        assert (
            call.request_header("mcp-protocol-version") == "2026-07-28" and call.request_header("mcp-name") == "whoami"
        )
    else:
        # A 2025-11-25 server refuses server/discover (400), and mcp-remote falls back to initialize.
        refused = [e.status for e in posts_to(trace, "/mcp") if e.request_header("mcp-method") == "server/discover"]
        assert refused and set(refused) <= {400, 401} and "initialize" in _mcp_methods(trace)
        assert call.request_header("mcp-protocol-version") == "2025-11-25"


async def test_mcp_remote_client_credentials_for_a_registered_confidential_client(proxy: Path, tmp_path: Path) -> None:
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        assert served.ca is not None
        verify = ssl.create_default_context(cafile=str(served.ca.ca_certificate))
        async with httpx.AsyncClient(verify=verify, trust_env=False) as http:
            # mcp-remote takes the client from --static-oauth-client-info: registered beforehand,
            # here by DCR, as a confidential client of this grant alone (RFC 7591 §2: no redirect
            # URIs for a client with no redirect-based flow).
            registered = await http.post(
                f"{served.issuer}/register",
                json={"client_name": "nightly job", "grant_types": ["client_credentials"], "response_types": [],
                      "token_endpoint_auth_method": "client_secret_basic"},
            )  # fmt: skip
        assert registered.status_code == 201, registered.text
        client = {key: registered.json()[key] for key in ("client_id", "client_secret")}
        run = await mcp_remote_whoami(
            proxy, served, tmp_path / "config", "--client-credentials", "--static-oauth-client-info", json.dumps(client)
        )
        trace = list(served.lab.trace)
    print(run.printed)
    # OAuth 2.1 §4.2: no user, no consent; the token is the client's own.
    assert not run.consents and not any(e.path.startswith("/authorize") for e in trace)
    assert run.whoami["client_id"] == run.whoami["sub"] == client["client_id"] and run.whoami["aud"] == served.mcp_url
    (token,) = posts_to(trace, "/token")
    assert form_of(token)["grant_type"] == "client_credentials" and form_of(token)["resource"] == served.mcp_url
    # The registered method, Basic (RFC 6749 §2.3.1), and no refresh token (RFC 6749 §4.4.3).
    assert (token.request_header("authorization") or "").startswith(
        "Basic "
    ) and "refresh_token" not in token.response_body
