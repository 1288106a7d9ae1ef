"""`python -m lab_servers serve`: the lab's servers on loopback sockets over TLS, for clients that
live outside the process — the official SDK here, MCP Inspector in test_inspector.py. A real
client's whole handshake completes (DCR, a published CIMD document, IPv6 loopback, behind a
proxy named by the environment) and every exchange is traced."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import httpx2
import pytest
from mcp.client.auth import AuthorizationCodeResult

from lab_servers import load_trace
from lab_servers.client import Browser
from lab_servers.sdk import HeadlessUser, whoami_over_tls, whoami_with_sdk
from lab_servers.serve_binding import bind
from lab_servers.serve_console import banner
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import sequence_diagram, show_exchange, show_token

from .serve_helpers import served, tls_dir, trusting

__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py
pytestmark = pytest.mark.anyio


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
