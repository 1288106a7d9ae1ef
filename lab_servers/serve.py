"""`python -m lab_servers serve`: the lab's MCP server and authorization server on loopback
sockets, for MCP clients that live outside this process (MCP Inspector, an IDE, another SDK).

    MCP server            http://127.0.0.1:8000/mcp
    Authorization server  http://127.0.0.1:8001

Inbound exchanges are recorded into the same kind of trace as the in-process lab and printed as
they happen. The AS still reaches client metadata documents through the lab's virtual network
only, so a CIMD `client_id` must be a document on a lab host (publish one with
`lab.publish_client_document`); DCR works for any client. Plain http on loopback is a
development convenience: MCP §11.3 requires HTTPS for every authorization server endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .authorization_server import HARDENED, ASPolicy
from .lab import Lab
from .trace import BodyTap, Exchange, Trace


class TraceRecorder:
    """ASGI middleware recording every HTTP exchange an app serves, whoever the caller is."""

    def __init__(self, app: ASGIApp, trace: Trace, clock_now: Callable[[], int], on_exchange: Callable[[Exchange], None]):
        self.app, self.trace, self.clock_now, self.on_exchange = app, trace, clock_now, on_exchange

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seq = self.trace.start()
        request_body, response_body = BodyTap(), BodyTap()  # bounded: a trace is not a copy of every upload
        response: dict[str, Any] = {"status": None, "headers": ()}

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.add(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["headers"] = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                response_body.add(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
            named = dict(headers)
            host = named.get("host", "")
            query = scope.get("query_string", b"").decode("latin-1")
            user_agent = named.get("user-agent", "").split(" ")[0]
            client = scope.get("client") or ("?", 0)
            self.on_exchange(
                self.trace.record(
                    seq,
                    caller=user_agent or client[0],
                    host=host,
                    address=client[0],
                    method=scope["method"],
                    url=f"{scope['scheme']}://{host}{scope['path']}" + (f"?{query}" if query else ""),
                    request_headers=headers,
                    request_body=request_body.text(),
                    status=response["status"],
                    response_headers=response["headers"],
                    response_body=response_body.text(),
                    at=self.clock_now(),
                )
            )


@dataclass
class ServedLab:
    lab: Lab
    mcp_url: str
    issuer: str


@contextlib.asynccontextmanager
async def serving(
    *,
    host: str = "127.0.0.1",
    mcp_port: int = 8000,
    as_port: int = 8001,
    seed: int | str = 0,
    policy: ASPolicy = HARDENED,
    on_exchange: Callable[[Exchange], None] = lambda _: None,
) -> AsyncIterator[ServedLab]:
    """Serve a lab's MCP server and AS on loopback for the duration of the block."""
    # Bind first, so a port in use is a plain OSError here (uvicorn would call sys.exit).
    sockets = [_bind(host, mcp_port), _bind(host, as_port)]
    lab = Lab(seed=seed, policy=policy, mcp_url=f"http://{host}:{mcp_port}/mcp", issuer=f"http://{host}:{as_port}")
    apps: list[tuple[ASGIApp, Literal["on", "off"]]] = [(lab.resource_server, "on"), (lab.auth_server.app, "off")]
    servers = [
        uvicorn.Server(uvicorn.Config(TraceRecorder(app, lab.trace, lab.clock.now, on_exchange), log_level="warning", lifespan=lifespan))
        for app, lifespan in apps
    ]
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in zip(servers, sockets, strict=True)]
    try:
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                raise RuntimeError("a lab server stopped while starting")
            await asyncio.sleep(0.01)
        yield ServedLab(lab, lab.mcp_url, lab.issuer)
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in sockets:
            sock.close()
        await lab.aclose()


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every response on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


async def serve_until_interrupted(**options: Any) -> None:
    def show(exchange: Exchange) -> None:
        print(exchange.summary(), flush=True)

    async with serving(on_exchange=show, **options) as served:
        print(f"MCP server            {served.mcp_url}")
        print(f"Authorization server  {served.issuer}  (policy: {served.lab.policy.name})")
        print(f"CIMD documents on the lab's virtual hosts, e.g. {served.lab.client_metadata_url}")
        print("Point an MCP client at the MCP server; every exchange is printed below. Ctrl-C stops.\n", flush=True)
        await asyncio.Event().wait()
