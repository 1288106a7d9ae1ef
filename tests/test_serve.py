"""Served on loopback sockets, the lab's servers take clients from outside the process."""

from __future__ import annotations

import socket

import httpx
import httpx2
import pytest

from lab_servers.client import Browser
from lab_servers.sdk import whoami_with_sdk
from lab_servers.serve import _bind, serving

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_the_official_sdk_client_connects_over_real_sockets_and_every_exchange_is_traced() -> None:
    seen = []
    async with serving(mcp_port=free_port(), as_port=free_port(), on_exchange=seen.append) as served:
        async with httpx.AsyncClient() as browser_http:
            whoami = await whoami_with_sdk(
                served.mcp_url, lambda auth: httpx2.AsyncClient(auth=auth), Browser(browser_http),
                redirect_uri="http://127.0.0.1:9/callback",
            )  # fmt: skip
        trace = served.lab.trace
    assert whoami["client_id"].startswith("tpc_") and whoami["aud"] == served.mcp_url and whoami["iss"] == served.issuer
    paths = [e.path.split("?")[0] for e in trace]
    assert paths[:4] == ["/mcp", "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server", "/register"]
    assert "/jwks.json" in paths  # the MCP server fetched the AS's keys over the socket too
    assert seen == trace.exchanges or sorted(seen, key=lambda e: e.seq) == trace.exchanges


async def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match=rf"cannot listen on 127.0.0.1:{taken.getsockname()[1]}"):
            async with serving(mcp_port=taken.getsockname()[1], as_port=free_port()):
                pass


def test_listening_sockets_are_tcp_so_responses_are_not_held_back_by_nagle() -> None:
    # asyncio turns on TCP_NODELAY only for sockets whose proto is IPPROTO_TCP (accepted sockets
    # inherit it from the listener); with proto 0 every kept-alive response waited ~40 ms.
    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
