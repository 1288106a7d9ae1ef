"""`python -m lab_servers serve`: the lab's servers on loopback sockets over TLS, for clients that
live outside the process — the official SDK here, MCP Inspector in test_inspector.py."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx
import httpx2
import pytest
from mcp.client.auth import AuthorizationCodeResult

from lab_servers import load_trace
from lab_servers.client import Browser
from lab_servers.client_documents import ClientDocumentError, read_client_document
from lab_servers.sdk import HeadlessUser, whoami_over_tls, whoami_with_sdk
from lab_servers.serve import serving
from lab_servers.serve_console import banner, serve_until_interrupted
from lab_servers.serve_process import served_process
from lab_servers.serve_sockets import address_option, bind
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import sequence_diagram, show_exchange, show_token

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


def trusting(tls_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))


def served(tls_dir: Path, **options: Any) -> Any:
    return serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir, **options)


class LoopbackCallback:
    """A real listener at http://127.0.0.1:<port>/callback that keeps the query it receives."""

    def __init__(self) -> None:
        self.received: asyncio.Future[dict[str, str]] | None = None

    async def __aenter__(self) -> LoopbackCallback:
        self.received = asyncio.get_running_loop().create_future()
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/callback"
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        target = request_line.split(" ")[1]
        assert self.received is not None
        if not self.received.done():
            self.received.set_result(dict(parse_qsl(urlsplit(target).query)))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


async def test_the_sdk_client_registers_by_dcr_over_tls_and_every_exchange_is_traced(tls_dir: Path) -> None:
    seen = []
    async with served(tls_dir, on_exchange=seen.append) as lab:
        assert lab.mcp_url.startswith("https://127.0.0.1:") and lab.issuer.startswith("https://127.0.0.1:")
        whoami = await whoami_over_tls(lab.mcp_url, tls_dir / "ca.pem")
        trace = lab.lab.trace
    assert whoami["client_id"].startswith("tpc_") and whoami["aud"] == lab.mcp_url and whoami["iss"] == lab.issuer
    paths = [e.path.split("?")[0] for e in trace]
    assert paths[:4] == [
        "/mcp",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
        "/register",
    ]
    assert "/jwks.json" in paths  # the MCP server fetched the AS's keys over TLS too
    assert sorted(seen, key=lambda e: e.seq) == trace.exchanges


async def test_the_sdk_client_uses_a_published_cimd_document_and_receives_its_code_at_its_redirect_uri(
    tls_dir: Path, tmp_path: Path
) -> None:
    async with LoopbackCallback() as callback:
        document = tmp_path / "my-agent.json"
        document.write_text(
            json.dumps(
                {"client_name": "My agent", "redirect_uris": [callback.url], "token_endpoint_auth_method": "none"}
            )
        )
        async with (
            served(tls_dir, client_documents=(document,)) as lab,
            httpx.AsyncClient(verify=trusting(tls_dir)) as browser_http,
        ):
            client_id = f"{lab.documents_origin}/my-agent.json"
            assert (client_id, f"your document {document}") in lab.client_ids

            class FollowingUser(HeadlessUser):
                async def callback(self) -> AuthorizationCodeResult:
                    assert self.redirect is not None and self.redirect.location.startswith(callback.url + "?")
                    await browser_http.get(self.redirect.location)  # the browser follows the redirect
                    params = await asyncio.wait_for(callback.received, 5)  # type: ignore[arg-type]
                    return AuthorizationCodeResult(
                        code=params["code"], state=params.get("state"), iss=params.get("iss")
                    )

            import lab_servers.sdk as sdk

            original, sdk.HeadlessUser = sdk.HeadlessUser, FollowingUser  # type: ignore[misc]
            try:
                whoami = await whoami_with_sdk(
                    lab.mcp_url, lambda auth: httpx2.AsyncClient(auth=auth, verify=trusting(tls_dir)), Browser(browser_http),
                    client_metadata_url=client_id, redirect_uri=callback.url,
                )  # fmt: skip
            finally:
                sdk.HeadlessUser = original  # type: ignore[misc]
            fetches = [e for e in lab.lab.trace if e.path == "/my-agent.json"]
    assert whoami["client_id"] == client_id
    assert fetches and fetches[0].caller.startswith("python-httpx")  # the AS fetched it over the socket


async def test_the_hardened_as_trusts_exactly_one_local_origin(tls_dir: Path) -> None:
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        assert lab.lab.policy.trusted_local_origins == (lab.documents_origin,)
        other_loopback = f"https://127.0.0.1:{urlsplit(lab.mcp_url).port}/client.json"
        for client_id, verdict in ((f"{lab.documents_origin}/inspector-cli.json", 200), (other_loopback, 400)):
            page = await http.get(f"{lab.issuer}/authorize", params={
                "response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1:6276/oauth/callback",
                "code_challenge": "x" * 43, "code_challenge_method": "S256", "state": "s", "resource": lab.mcp_url,
            })  # fmt: skip
            assert page.status_code == verdict, page.text
        assert "special-use address" in page.text


async def test_browser_clients_get_cors_on_metadata_registration_and_token_but_not_authorize(tls_dir: Path) -> None:
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        origin = "http://localhost:6274"
        for url in (
            f"{lab.issuer}/.well-known/oauth-authorization-server",
            f"{lab.issuer}/register",
            f"{lab.issuer}/token",
            lab.mcp_url,
        ):
            preflight = await http.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == origin
        metadata = await http.get(f"{lab.issuer}/.well-known/oauth-authorization-server", headers={"Origin": origin})
        assert metadata.status_code == 200 and metadata.headers["access-control-allow-origin"] == origin
        unauthorized = await http.post(lab.mcp_url, json={}, headers={"Origin": lab.issuer})  # the lab's own origin
        assert (
            unauthorized.status_code == 401
            and "www-authenticate" in unauthorized.headers["access-control-expose-headers"]
        )
        authorize = await http.options(
            f"{lab.issuer}/authorize", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        assert authorize.status_code == 403 and "access-control-allow-origin" not in authorize.headers


async def test_origin_validation_refuses_other_origins_and_foreign_host_names(tls_dir: Path) -> None:
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        for url in (lab.mcp_url, f"{lab.issuer}/.well-known/oauth-authorization-server"):
            refused = await http.get(url, headers={"Origin": "https://attacker.example"})
            assert refused.status_code == 403 and "DNS-rebinding" in refused.text
        rebound = await http.get(
            f"{lab.issuer}/.well-known/oauth-authorization-server", headers={"Host": "attacker.example"}
        )
        assert rebound.status_code == 403


async def test_a_foreign_origin_at_the_served_mcp_endpoint_is_the_json_rpc_error_the_mcp_server_gives(
    tls_dir: Path,
) -> None:
    # MCP Streamable HTTP, Security: "If the Origin header is present and invalid, servers MUST
    # respond with HTTP 403 Forbidden. The HTTP response body MAY comprise a JSON-RPC error
    # response", its id null (JSON-RPC 2.0 §5: not read): served as in process (transport.rebinding_refusal), token or none; a foreign
    # Host (a rebinding page's) is refused in the same shape.
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        origin = await http.post(lab.mcp_url, json={}, headers={"Origin": "https://attacker.example"})
        host = await http.post(lab.mcp_url, json={}, headers={"Host": "attacker.example", "Authorization": "Bearer x"})
    for refused in (origin, host):
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/json"
        error = refused.json()
        assert (error["jsonrpc"], error["id"], error["error"]["code"]) == ("2.0", None, -32600)
        assert "DNS-rebinding protection" in error["error"]["message"]
    assert "servers MUST validate the Origin header" in origin.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/token", "/.well-known/oauth-authorization-server", "/jwks.json"])
async def test_a_foreign_origin_at_the_served_as_is_an_oauth_error_with_a_registered_code(
    tls_dir: Path, path: str
) -> None:
    # RFC 6749 §5.2: `error` is one of the registered codes; the lab's refusals of the request itself
    # (its 404s and 405s) are invalid_request, with no-store (§5.1) and the rule as the description.
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        refused = await http.post(f"{lab.issuer}{path}", headers={"Origin": "https://attacker.example"})
        rebound = await http.get(f"{lab.issuer}{path}", headers={"Host": "attacker.example"})
    for response in (refused, rebound):
        assert response.status_code == 403 and response.headers["cache-control"] == "no-store"
        assert response.json()["error"] == "invalid_request"
        assert "DNS-rebinding protection" in response.json()["error_description"]


async def test_localhost_is_told_which_name_is_canonical_in_each_servers_own_shape(tls_dir: Path) -> None:
    # RFC 9110 §15.5.20 421 Misdirected Request; the MCP endpoint answers it as a JSON-RPC error with
    # a null id (JSON-RPC 2.0 §5), the AS as an OAuth error whose code is a registered one (RFC 6749
    # §5.2: `misdirected_request` is none).
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        mcp = await http.post(lab.mcp_url.replace("127.0.0.1", "localhost"), json={})
        oauth = await http.get(f"{lab.issuer}/jwks.json".replace("127.0.0.1", "localhost"))
        document = await http.get(f"{lab.documents_origin}/inspector-web.json".replace("127.0.0.1", "localhost"))
    assert mcp.status_code == oauth.status_code == document.status_code == 421
    assert mcp.json()["id"] is None and mcp.json()["error"]["code"] == -32600
    assert lab.mcp_url.removesuffix("/mcp") in mcp.json()["error"]["message"]
    assert oauth.json()["error"] == document.json()["error"] == "invalid_request"
    assert lab.issuer in oauth.json()["error_description"]


async def test_wall_clock_and_a_fresh_signing_key_on_every_start(tls_dir: Path) -> None:
    import time

    keys = []
    for _ in range(2):
        async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
            keys.append((await http.get(f"{lab.issuer}/jwks.json")).json()["keys"][0]["x"])
            assert abs(lab.lab.clock.now() - time.time()) < 5
    assert keys[0] != keys[1]


async def test_openid_discovery_has_its_required_fields_and_the_server_a_version(tls_dir: Path) -> None:
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        openid = (await http.get(f"{lab.issuer}/.well-known/openid-configuration")).json()
    required = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                "subject_types_supported", "id_token_signing_alg_values_supported")  # fmt: skip
    assert [name for name in required if name not in openid] == [] and "RS256" in openid[
        "id_token_signing_alg_values_supported"
    ]
    assert lab.lab.resource_server.mcp._lowlevel_server.version


async def test_a_non_loopback_host_needs_the_explicit_flag() -> None:
    with pytest.raises(ValueError, match="allow-non-loopback"):
        async with serving(host="0.0.0.0", mcp_port=0, as_port=0):
            pass


async def test_a_proxy_named_by_the_environment_does_not_stand_between_the_lab_and_itself(
    tls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind a company proxy (HTTPS_PROXY set, loopback not in NO_PROXY) the served MCP server
    # fetched the AS's keys through the proxy, which cannot reach this machine's loopback: every
    # request with an access token got 401. The lab's own SDK driver went to the proxy too.
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing answers there
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with served(tls_dir) as lab:
        whoami = await whoami_over_tls(lab.mcp_url, tls_dir / "ca.pem")
    assert whoami["sub"] == "alice" and whoami["client_id"].startswith("tpc_")


def test_on_windows_no_other_process_may_bind_the_labs_port_beside_it() -> None:
    # SO_REUSEADDR on Windows lets a second socket bind a port already bound, so a local stranger
    # could sit on the lab's port and take its connections; the lab set it everywhere.
    assert address_option("posix") == socket.SO_REUSEADDR
    assert address_option("nt") != socket.SO_REUSEADDR
    assert address_option("nt") == getattr(socket, "SO_EXCLUSIVEADDRUSE", None)


async def test_a_port_in_use_is_a_clear_error(tls_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match=rf"cannot listen on 127.0.0.1:{taken.getsockname()[1]}"):
            async with serving(mcp_port=taken.getsockname()[1], as_port=0, tls_directory=tls_dir):
                pass


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _open_sockets() -> set[str]:
    """This process's sockets: uvicorn's first start closes pytest's log file (its dictConfig
    closes every logging handler), so a count of all descriptors would differ for that alone."""
    links = (os.path.realpath(f"/proc/self/fd/{name}") for name in os.listdir("/proc/self/fd"))
    return {link for link in links if "socket:" in link}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts this process's open descriptors in /proc")
async def test_a_start_refused_after_its_ports_were_bound_closes_their_sockets(tls_dir: Path, tmp_path: Path) -> None:
    # A notebook keeps the last error's traceback (sys.last_traceback), and with it every local of
    # the frames it passed through: the sockets a refused start had bound stayed open (on macOS,
    # where SO_REUSEADDR does not let a second socket bind the port, the second try then found
    # its port in use).
    broken = tmp_path / "client.json"
    broken.write_text("{", encoding="utf-8")
    before = _open_descriptors()
    with pytest.raises(ClientDocumentError) as refused:
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir, client_documents=(broken,)):
            pass
    assert _open_descriptors() == before
    with socket.socket() as taken:  # the AS's port in use: the MCP server's socket, bound before it, is closed
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        before = _open_descriptors()
        with pytest.raises(OSError, match="cannot listen") as in_use:
            async with serving(mcp_port=0, as_port=taken.getsockname()[1], documents_port=0, tls_directory=tls_dir):
                pass
        assert _open_descriptors() == before
    assert refused.traceback and in_use.traceback  # held to the end, as the notebook would


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts this process's open descriptors in /proc")
@pytest.mark.parametrize("cancelled", ["while starting", "while serving"])
async def test_a_block_its_cancel_scope_leaves_stops_the_servers_and_closes_their_sockets(
    tls_dir: Path, cancelled: str
) -> None:
    # anyio's `move_on_after` or `fail_after` around `serving`: a cancelled scope cancels again at
    # every await in it, the clean-up's first one too. The three servers served on after the
    # block, their sockets and tasks kept, and the loop kept serving's exception handler.
    loop = asyncio.get_running_loop()
    before, handler, tasks = _open_sockets(), loop.get_exception_handler(), asyncio.all_tasks()
    with anyio.CancelScope() as scope:
        if cancelled == "while starting":
            scope.cancel()  # the first await of the start, after the ports are bound, is cancelled
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir):
            scope.cancel()
            await anyio.sleep(10)
    assert scope.cancelled_caught
    assert asyncio.all_tasks() == tasks and _open_sockets() == before
    assert loop.get_exception_handler() is handler


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ({"mcp_port": 70000}, "--mcp-port 70000 is not a TCP port"),
        ({"documents_port": -1}, "--documents-port -1 is not a TCP port"),
        ({"mcp_port": 8123, "as_port": 8123}, "--mcp-port and --as-port are both 8123"),
        ({"as_port": 8124, "documents_port": 8124}, "--as-port and --documents-port are both 8124"),
    ],
)
async def test_each_server_needs_a_tcp_port_of_its_own(tls_dir: Path, ports: dict[str, int], message: str) -> None:
    # Two servers on one port: the second bound, failed to listen, and uvicorn stopped without a word
    # ("a lab server stopped while starting"); a port past 65535 was an OverflowError from bind.
    with pytest.raises(ValueError, match=re.escape(message)):
        async with serving(**{"mcp_port": 0, "as_port": 0, "documents_port": 0, **ports}, tls_directory=tls_dir):
            pass


async def test_a_tls_dir_or_trace_file_that_cannot_be_used_is_named(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(OSError, match=re.escape(f"--tls-dir {not_a_directory}")):
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=not_a_directory):
            pass
    with pytest.raises(OSError, match=re.escape(f"--trace-file {tmp_path}: Is a directory")):
        await serve_until_interrupted(trace_file=tmp_path)


def test_a_users_client_document_is_read_no_further_than_the_as_would_fetch(tmp_path: Path) -> None:
    # CIMD §8.7: the AS reads at most its limit of a document; so does serve, which otherwise read
    # --client-document /dev/zero until memory ran out.
    document = tmp_path / "client.json"
    document.write_text('{"client_name": "' + "x" * 6000 + '"}', encoding="utf-8")
    with pytest.raises(ClientDocumentError, match=re.escape("over 5120 bytes")):
        read_client_document(document, lambda path: f"https://127.0.0.1:1{path}", max_bytes=5 * 1024)
    if Path("/dev/zero").exists():
        with pytest.raises(ClientDocumentError, match=re.escape("over 5120 bytes")):
            read_client_document(Path("/dev/zero"), lambda path: f"https://127.0.0.1:1{path}", max_bytes=5 * 1024)


async def test_a_saved_trace_loads_into_the_same_views(tls_dir: Path, tmp_path: Path) -> None:
    saved = tmp_path / "trace.jsonl"
    writer = TraceWriter(saved)
    async with served(tls_dir, on_exchange=writer.write) as lab:
        await whoami_over_tls(lab.mcp_url, tls_dir / "ca.pem")
        live = lab.lab.trace
    writer.close()
    loaded = load_trace(saved)
    assert loaded.exchanges == live.exchanges
    assert "sequenceDiagram" in sequence_diagram(loaded).mermaid
    raw = show_exchange(next(e for e in loaded if e.path == "/register"))._repr_html_()
    assert "POST" in raw and "/register" in raw and "201" in raw
    assert access_tokens(loaded) and "at+jwt" in show_token(access_tokens(loaded)[0])._repr_html_()


def test_the_command_line_refuses_a_non_loopback_host_without_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    # In process: the next test runs the same command as a child (`python -m lab_servers serve`).
    from lab_servers.__main__ import main

    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "--allow-non-loopback" in capsys.readouterr().err


@pytest.mark.parametrize(("host", "reachable"), [("127.0.0.2", False), ("192.0.2.7", True)])
def test_a_host_the_lab_does_not_name_is_refused_without_calling_loopback_what_is_not(
    host: str, reachable: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    # 127.0.0.2 is a loopback address (RFC 1122 §3.2.1.3): it needs the flag, since the lab's URLs
    # name 127.0.0.1, ::1 or localhost, but nobody else can reach it ("is not a loopback address",
    # "others can then reach the lab" said otherwise).
    from lab_servers.__main__ import main

    assert main(["serve", "--host", host, "--mcp-port", "70000"]) == 2
    err = capsys.readouterr().err
    assert f"--host {host} is none of 127.0.0.1, ::1, localhost; pass --allow-non-loopback" in err
    assert ("others can then reach the lab" in err) is reachable and "not a loopback address" not in err


async def test_a_lab_on_another_loopback_address_still_refuses_a_host_it_does_not_serve() -> None:
    # 127.0.0.2 (over --http, since the CA signs only 127.0.0.1 and ::1) needs --allow-non-loopback,
    # which switched the Host gates off as for 0.0.0.0: a DNS-rebinding page, whose same-origin GETs
    # carry no Origin, read the lab's answers under its own name.
    async with serving(
        host="127.0.0.2", allow_non_loopback=True, tls=False, mcp_port=0, as_port=0, documents_port=0
    ) as served:
        metadata = f"{served.issuer}/.well-known/oauth-authorization-server"
        port = urlsplit(served.issuer).port
        async with httpx.AsyncClient() as http:
            assert (await http.get(metadata)).status_code == 200
            rebound = await http.get(metadata, headers={"Host": f"rebind.example:{port}"})
    assert rebound.status_code == 403 and "DNS-rebinding" in rebound.json()["error_description"]


@pytest.mark.slow  # a served process and a whole SDK handshake for each signal
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_stops_a_used_lab_cleanly_after_closing_its_own_connections(
    stop: signal.Signals, tmp_path: Path
) -> None:
    """After a client's handshake the MCP server keeps a TLS connection to the AS (for its keys).
    Stopping must close it before the servers stop: when each uvicorn server took the signal for
    itself, the AS waited out its 5 s graceful shutdown for it and logged an error."""
    with served_process("--tls-dir", str(tmp_path), stop=stop) as server:
        # Ports 0: the three URLs come from the banner, each on a port the system picked.
        ports = {urlsplit(url).port for url in (server.mcp_url, server.issuer, server.documents_origin)}
        assert len(ports) == 3 and not ports & {None, 0, 8000, 8001, 8002}
        assert asyncio.run(whoami_over_tls(server.mcp_url, tmp_path / "ca.pem"))["sub"] == "alice"
    assert server.returncode == 0, server.log[-2000:]
    assert "ERROR" not in server.log and "graceful shutdown exceeded" not in server.log, server.log[-2000:]


RECORD_TRACE = Path(__file__).resolve().parent.parent / "scripts" / "record_trace.py"


@pytest.mark.slow  # a served process and a whole SDK handshake
def test_record_trace_saves_a_real_clients_handshake_that_loads_into_the_views(tmp_path: Path) -> None:
    """What notebook 04's "Watch a real client" loads (notebooks/sdk-client-trace.jsonl) is made so."""
    saved = tmp_path / "trace.jsonl"
    done = subprocess.run(
        [sys.executable, str(RECORD_TRACE), str(saved)], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "whoami:" in done.stdout and "'sub': 'alice'" in done.stdout
    trace = load_trace(saved)
    assert f"saved {len(trace.exchanges)} exchanges to {saved}" in done.stdout
    assert any(e.method == "POST" and e.path == "/register" for e in trace) and access_tokens(trace)


def test_record_trace_names_a_file_it_cannot_write_before_starting_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("record_trace", RECORD_TRACE)
    record_trace = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(record_trace)  # type: ignore[union-attr]
    with pytest.raises(SystemExit) as exited:
        record_trace.main([str(tmp_path)])
    assert exited.value.code == 2 and f"{tmp_path}: Is a directory" in capsys.readouterr().err


def test_a_serve_child_that_cannot_start_is_reported_with_what_it_printed() -> None:
    refused = r"(?s)serve exited before it was ready:.*--allow-non-loopback"
    with pytest.raises(RuntimeError, match=refused), served_process("--host", "0.0.0.0"):
        pass


def test_a_serve_child_without_a_banner_in_time_is_stopped_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lab_servers.serve_process

    started: list[subprocess.Popen[str]] = []
    popen = subprocess.Popen
    monkeypatch.setattr(
        lab_servers.serve_process.subprocess, "Popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1]
    )
    # Started with SIGINT ignored, as a non-interactive shell starts a background job: an early
    # Ctrl-C would be lost, so a child that never showed its banner gets SIGTERM.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with (
            pytest.raises(TimeoutError, match="serve printed no banner in time"),
            served_process("--tls-dir", str(tmp_path), startup_seconds=0),
        ):
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
    assert started[0].returncode == -signal.SIGTERM  # stopped by SIGTERM, not killed a minute later


def test_listening_sockets_are_tcp_so_responses_are_not_held_back_by_nagle() -> None:
    # asyncio turns on TCP_NODELAY only for sockets whose proto is IPPROTO_TCP (accepted sockets
    # inherit it from the listener); with proto 0 every kept-alive response waited ~40 ms.
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25", "2026-07-28"])
async def test_a_served_lab_follows_its_revision_and_the_lab_client_of_that_revision_completes_the_handshake(
    tls_dir: Path, version: str
) -> None:
    from lab_servers.client import LabClient
    from lab_servers.determinism import SeededIds
    from lab_servers.lab import default_client_metadata

    async with served(tls_dir, revision=version) as lab:
        assert lab.lab.revision.version == version
        assert lab.lab.auth_server.capabilities.revision == version  # the AS follows it too
        assert f"MCP revision          {version}" in banner(lab, seed=None, trace_file=None)
        verify = trusting(tls_dir)
        async with httpx.AsyncClient(verify=verify) as http, httpx.AsyncClient(verify=verify) as browser_http:
            client = LabClient(
                lab.mcp_url, http=http, browser=Browser(browser_http), trace=lab.lab.trace,
                ids=SeededIds(f"serve-rev:{version}"), method="dcr", client_metadata=default_client_metadata(),
                client_metadata_url=None, revision=version,
            )  # fmt: skip
            await client.run_all()
        trace = lab.lab.trace
    assert client.state.whoami is not None and client.state.whoami["aud"] == lab.mcp_url
    assert client.state.whoami["client_id"].startswith("tpc_")
    to_mcp = [e for e in trace if urlsplit(e.url).path == "/mcp" and e.method == "POST"]
    methods = [json.loads(e.request_body).get("method") for e in to_mcp if e.request_body]
    if version == "2026-07-28":
        # 2026-07-28 Streamable HTTP: no initialize; every POST names its protocol version.
        assert "initialize" not in methods
        assert {e.request_header("MCP-Protocol-Version") for e in to_mcp} == {"2026-07-28"}
    else:
        assert methods[0] == "initialize"


async def test_2025_03_26_is_refused_in_served_mode_because_its_as_lives_at_the_mcp_origin(tls_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"2025-03-26 is not served: .*MCP server.s origin"):
        async with served(tls_dir, revision="2025-03-26"):
            pass
    with pytest.raises(ValueError, match="unknown MCP revision"):
        async with served(tls_dir, revision="2024-11-05"):
            pass


def test_the_command_line_passes_revision_through_and_defaults_to_the_labs_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lab_servers.serve_console as serve_module
    from lab_servers.__main__ import main
    from lab_servers.revisions import DEFAULT_REVISION

    received: list[dict[str, Any]] = []

    async def record(**options: Any) -> None:
        received.append(options)

    monkeypatch.setattr(serve_module, "serve_until_interrupted", record)
    assert main(["serve"]) == 0
    assert main(["serve", "--revision", "2025-11-25"]) == 0
    assert [options["revision"] for options in received] == [DEFAULT_REVISION, "2025-11-25"]
    with pytest.raises(SystemExit) as refused:
        main(["serve", "--revision", "2025-03-26"])
    assert refused.value.code == 2
    assert "invalid choice: '2025-03-26'" in capsys.readouterr().err


async def test_a_served_as_without_cimd_and_with_dcr_closed_advertises_and_enforces_both(tls_dir: Path) -> None:
    from lab_servers.authorization_server import ASCapabilities

    capabilities = ASCapabilities.for_revision("2025-11-25").but(cimd=False, dcr="closed")
    async with served(tls_dir, revision="2025-11-25", capabilities=capabilities) as lab:
        assert "AS capabilities: cimd=False, dcr='closed'" in banner(lab, seed=None, trace_file=None)
        async with httpx.AsyncClient(verify=trusting(tls_dir)) as http:
            metadata = (await http.get(f"{lab.issuer}/.well-known/oauth-authorization-server")).json()
            registered = await http.post(f"{lab.issuer}/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]})
    assert "client_id_metadata_document_supported" not in metadata
    assert "registration_endpoint" not in metadata
    assert registered.status_code == 403 and registered.json()["error"] == "access_denied"


def test_the_command_line_maps_no_cimd_and_dcr_onto_the_revisions_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    import lab_servers.serve_console as serve_module
    from lab_servers.__main__ import main
    from lab_servers.authorization_server import ASCapabilities

    received: list[dict[str, Any]] = []

    async def record(**options: Any) -> None:
        received.append(options)

    monkeypatch.setattr(serve_module, "serve_until_interrupted", record)
    assert main(["serve"]) == 0
    assert main(["serve", "--revision", "2025-11-25", "--no-cimd", "--dcr", "removed"]) == 0
    assert received[0]["capabilities"] is None  # the revision's own defaults, as in Lab(revision=…)
    assert received[1]["capabilities"] == ASCapabilities.for_revision("2025-11-25").but(cimd=False, dcr="removed")


async def _tls_connection(lab: Any, url: str, tls_dir: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(
        "127.0.0.1", urlsplit(url).port, ssl=trusting(tls_dir), server_hostname="127.0.0.1"
    )


def _get(url: str) -> bytes:
    parts = urlsplit(url)
    return f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()


async def test_a_request_that_has_not_arrived_whole_by_the_deadline_is_answered_408_and_closed(tls_dir: Path) -> None:
    """uvicorn's keep-alive timer runs only between requests: a request dripping in (slow-loris)
    held its connection for as long as the client liked."""
    async with served(tls_dir, request_deadline=1) as lab:
        host = urlsplit(lab.issuer).netloc
        headers_only = f"POST /token HTTP/1.1\r\nHost: {host}\r\nX-Slow: a".encode()
        form = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100"
        part_of_the_body = f"POST /token HTTP/1.1\r\nHost: {host}\r\n{form}\r\n\r\ngrant_type".encode()

        async def send_and_wait(partial: bytes) -> bytes:
            reader, writer = await _tls_connection(lab, lab.issuer, tls_dir)
            writer.write(partial)
            answer = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closes
            writer.close()
            return answer

        # Both at once: each connection has its own deadline.
        for answer in await asyncio.gather(send_and_wait(headers_only), send_and_wait(part_of_the_body)):
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"connection: close" in answer
            assert answer.endswith(b"the request did not arrive whole within 1 s")


async def test_at_its_connection_limit_a_server_serves_every_connection_it_keeps_and_refuses_the_next(
    tls_dir: Path,
) -> None:
    """The limit bounds descriptors, not service: with uvicorn's limit equal to the lab's, a burst
    that filled the slots had every request on them answered 503 (200 clients, 200 failed)."""
    async with served(tls_dir, max_connections=2) as lab:
        metadata = f"{lab.issuer}/.well-known/oauth-authorization-server"
        first_reader, first = await _tls_connection(lab, lab.issuer, tls_dir)
        second_reader, second = await _tls_connection(lab, lab.issuer, tls_dir)  # two: the limit
        third_reader, third = await _tls_connection(lab, lab.issuer, tls_dir)
        refused_at_once = await asyncio.wait_for(third_reader.read(), 10)  # before it sent anything
        answers = []
        for reader, writer in ((first_reader, first), (second_reader, second)):
            writer.write(_get(metadata))
            answers.append(await asyncio.wait_for(reader.readuntil(b"\r\n"), 10))
        for writer in (first, second, third):
            writer.close()
    assert (
        refused_at_once.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        and b"too many open connections" in refused_at_once
    )
    assert answers == [b"HTTP/1.1 200 OK\r\n"] * 2  # both connections within the limit are served


def test_descriptors_running_out_is_logged_once_a_minute_not_once_per_failed_accept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from lab_servers.serve_sockets import QuietOutOfFiles

    others: list[dict[str, Any]] = []
    handler = QuietOutOfFiles(lambda loop, context: others.append(context))
    loop = asyncio.new_event_loop()
    try:
        out_of_files = {
            "message": "socket.accept() out of system resource",
            "exception": OSError(24, "Too many open files"),
        }
        for _ in range(1000):
            handler(loop, out_of_files)
        handler(loop, {"message": "something else"})
    finally:
        loop.close()
    logged = [r for r in caplog.records if "out of file descriptors" in r.getMessage()]
    assert len(logged) == 1 and handler.suppressed == 999
    assert others == [{"message": "something else"}]


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
@pytest.mark.parametrize("host", ["::1", "[::1]"])  # bracketed as in a URL (RFC 3986 §3.2.2), too
async def test_serving_on_ipv6_loopback_names_it_in_every_url_and_a_client_completes_the_handshake(
    tls_dir: Path, host: str
) -> None:
    try:
        bind("::1", 0).close()
    except OSError:
        pytest.skip("no ::1 on this machine")
    async with served(tls_dir, host=host) as lab:
        assert lab.mcp_url.startswith("https://[::1]:") and lab.issuer.startswith("https://[::1]:")
        assert lab.documents_origin.startswith("https://[::1]:")
        whoami = await whoami_over_tls(lab.mcp_url, tls_dir / "ca.pem")
        assert "use [::1], not localhost" in banner(lab, seed=None, trace_file=None)
    assert whoami["aud"] == lab.mcp_url and whoami["iss"] == lab.issuer


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ('{"client_name": "a", "client_name": "b"}', "appears twice"),
        ('{"x": ' + "[" * 2000 + "]" * 2000 + "}", "RFC 8259 §9"),
        ('{"client_name": NaN}', "NaN"),
    ],
    ids=["duplicate-name", "nested-2000-deep", "nan"],
)
def test_a_users_client_document_the_as_would_refuse_is_refused_at_start_naming_the_rule(
    tmp_path: Path, text: str, rule: str
) -> None:
    # The AS reads a fetched document with the bounded parser (CIMD §4 via bounded_json):
    # serve --client-document reads it the same way, so the user hears of it before a handshake.
    document = tmp_path / "client.json"
    document.write_text(text, encoding="utf-8")
    with pytest.raises(ClientDocumentError, match=re.escape(rule)):
        read_client_document(document, lambda path: f"https://127.0.0.1:1{path}", max_bytes=5 * 1024)


@pytest.mark.parametrize(
    ("host", "warned"), [("[::1]", False), ("::1", False), ("127.0.0.2", False), ("0.0.0.0", True)]
)
def test_the_non_loopback_warning_is_for_non_loopback_hosts_however_written(
    host: str, warned: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from lab_servers.__main__ import main

    # The serve stops at its port before binding anything; the warning comes first, if at all.
    assert main(["serve", "--host", host, "--allow-non-loopback", "--mcp-port", "70000"]) == 2
    err = capsys.readouterr().err
    assert "is not a TCP port" in err and ("WARNING: listening on" in err) is warned


async def test_a_body_h11_cannot_parse_after_the_answer_was_sent_adds_no_second_answer(tls_dir: Path) -> None:
    """The MCP server answers 401 from the headers alone, before the body has come; a chunk h11
    then cannot parse (RFC 9112 §7.1: chunk-size is hex) got a second answer, a 400 written
    after the 401 with no request to answer: a client reads one response per request (RFC 9112
    §9.3). The connection is closed, and nothing more is written."""
    async with served(tls_dir) as lab:
        url = urlsplit(lab.mcp_url)
        reader, writer = await _tls_connection(lab, lab.mcp_url, tls_dir)
        writer.write(
            f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.write(b"zz\r\n")  # no chunk-size
        rest = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closes
        writer.close()
    assert head.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"HTTP/1.1 400" not in rest, rest
