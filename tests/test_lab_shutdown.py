"""Closing a lab while requests run in the MCP server (`LabNetwork.aclose`), as uvicorn shuts down:
no new connection (a request waiting for the server to start included), the running requests
end, in the order they began, then the lifespan (the SDK's session manager); and a served lab's
stop (`serving`), whose servers answer until they stop. The sweep of every await of a handshake
closed under it is `test_cancellation`'s."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest

from lab_servers import Lab
from lab_servers.serve import serving

from .serve_helpers import trusting
from .test_resource_server import mint

pytestmark = pytest.mark.anyio


async def test_the_first_mcp_request_waiting_for_the_server_to_start_is_refused_when_the_lab_closes() -> None:
    """The MCP server's first request waits for its lifespan to start (the SDK's session manager).
    uvicorn listens only once its startup is done and stops listening before its shutdown, so a
    request the lab closes on while it waits never connected: connection refused. It was sent on
    to an app whose lifespan was ending under it, and answered 500 (a server error nobody made)."""
    lab = Lab()
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {mint(lab)}"}
    async with lab.httpx_client() as http:
        first = asyncio.ensure_future(
            http.post(lab.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers)
        )
        await asyncio.sleep(0)  # the request is sent, and waits for the server to start
        assert not first.done()
        await lab.aclose()
        with pytest.raises(httpx.ConnectError, match="connection refused, the server is shutting down"):
            await first
    refused = lab.trace.exchanges[-1]  # filed as the refusal it is, not as a 500 answer
    assert refused.status is None and (refused.error or "").endswith("connection refused, the server is shutting down")


async def test_closing_the_lab_ends_the_requests_running_in_the_order_they_began() -> None:
    """`Lab.aclose` cancels the MCP server's running requests before its lifespan ends, and each
    caller files its exchange as its request ends (`Exchange.done`). They were kept in a set, whose
    order is its members' memory addresses: the same scenario filed them in another order at each
    run, where the lab's traces are byte-identical (README: outputs are deterministic)."""
    lab = Lab()
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {mint(lab)}"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with lab.httpx_client() as http:
        await http.post(lab.mcp_url, json=ping, headers=headers)  # the server has started
        running = [asyncio.ensure_future(http.post(lab.mcp_url, json=ping, headers=headers)) for _ in range(8)]
        for _ in range(6):  # each request is in the MCP server, fetching the AS's keys
            await asyncio.sleep(0)
        assert not any(request.done() for request in running)
        await lab.aclose()
        await asyncio.gather(*running, return_exceptions=True)
    ended = [exchange for exchange in lab.trace.exchanges if exchange.url.startswith(lab.mcp_url)][1:]
    assert len(ended) == 8 and [e.done for e in ended] == sorted(e.done for e in ended)
    # Given up on, not waited for: each was cancelled mid-request and answered 500, as uvicorn
    # answers a request its shutdown cancels (its app never answered).
    assert {e.status for e in ended} == {500}


async def test_a_lab_closed_and_used_again_on_the_same_loop_serves_mcp_requests() -> None:
    """A clean-up cell's `await lab.aclose()`, then the notebook's earlier cells run again: the MCP
    server's lifespan starts anew, as a server started again would. It had ended for good (the
    SDK's session manager runs once), and every MCP request answered 500 at step 7."""
    lab = Lab(seed=1)
    await lab.connect("dcr")
    await lab.aclose()
    again = await lab.connect("cimd")
    assert again.records[-1].learned["whoami"]["client_id"] == lab.client_metadata_url
    await lab.aclose()


async def test_a_token_checked_while_serve_stops_never_meets_a_closed_key_fetcher(tmp_path: Path) -> None:
    """`serving` once closed the lab's own clients first (the MCP server's, which fetches the AS's
    keys, and the AS's, which fetches documents), while its servers still answered for up to a
    tick of uvicorn's: a token checked then needed the keys, and the closed client's RuntimeError
    came out as a 500 and "Exception in ASGI application". The clients close after the servers."""
    header = {"typ": "at+jwt", "alg": "Ed25519", "kid": "never-fetched"}  # RFC 9068 §2.1's shape
    parts = [base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in (header, {})]
    token = ".".join(parts) + ".c2ln"
    answers: list[int | str] = []
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path) as served:
        fetcher = served.lab.resource_server.http
        close = fetcher.aclose

        async def close_then_ask() -> None:
            await close()
            async with httpx.AsyncClient(verify=trusting(tmp_path), trust_env=False) as http:
                try:
                    asked = await http.post(served.mcp_url, headers={"Authorization": f"Bearer {token}"}, json={})
                    answers.append(asked.status_code)
                except httpx.ConnectError:
                    answers.append("no longer listening")

        fetcher.aclose = close_then_ask  # type: ignore[method-assign]
    assert answers == ["no longer listening"]
