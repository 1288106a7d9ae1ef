"""The user every outside client judge of `serve` needs (Inspector, mcp-remote, FastMCP, Codex,
Gemini CLI, Claude Code): a real client prints the authorize URL it would open in a browser; the
lab's `Browser`, trusting the served lab's CA, opens it, presses Approve on the consent page, and
follows the redirect to the client's loopback listener, as a person's browser would. And the ports
those listeners take."""

from __future__ import annotations

import asyncio
import socket
import ssl
from urllib.parse import parse_qs, urlsplit

import httpx

from lab_servers.client import Browser, Redirect
from lab_servers.serve import ServedLab


async def consent(served: ServedLab, url: str) -> Redirect:
    """Open `url` and press Approve on the consent page: the redirect the AS sends back, its query
    holding `code`, `state` and RFC 9207's `iss`, not yet followed."""
    async with _browser_http(served) as http:
        page = await Browser(http).open(url)
        assert not isinstance(page, Redirect) and page.is_consent, page
        redirect = await Browser(http).decide(page, "approve")
    assert isinstance(redirect, Redirect), redirect
    assert "code" in parse_qs(urlsplit(redirect.location).query), redirect.location
    return redirect


async def approve(served: ServedLab, url: str, *, listener_may_lag: bool = False) -> tuple[Redirect, httpx.Response]:
    """Open `url`, approve, land on the client's listener. Returns the redirect the AS sent (its
    query holds `code`, `state` and RFC 9207's `iss`) and the listener's answer.

    `listener_may_lag`: FastMCP starts its listener only after handing the URL to the browser, and
    a browser that comes back at once finds nothing there (no spec orders the two; RFC 8252 §7.3
    only has the app listen on loopback, and a person is slower): this browser then retries, as a
    user would reload."""
    redirect = await consent(served, url)
    async with _browser_http(served) as http:
        for _ in range(100 if listener_may_lag else 0):
            try:
                return redirect, await http.get(redirect.location)
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        return redirect, await http.get(redirect.location)


def _browser_http(served: ServedLab) -> httpx.AsyncClient:
    """The user's browser trusts the served lab's CA, and no proxy stands between it and loopback."""
    assert served.ca is not None
    return httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(served.ca.ca_certificate)), trust_env=False)


def port_free(port: int) -> bool:
    """Whether a client could listen on 127.0.0.1:`port` (a fixed callback port) now."""
    with socket.socket() as probe:
        probe.setsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
        )  # as Node and uvicorn bind: TIME_WAIT is no obstacle
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port no one listens on now, for a server the test starts twice at the same URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def answers_at(address: str, port: int) -> bool:
    """Whether something accepts a TCP connection at `address`:`port` (closed at once, unused):
    a client's loopback listener bound to every interface answers at 127.0.0.2 too."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout=5)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True
