"""The sockets side of `python -m lab_servers serve`: binding, the trace recorder every served app
sits behind, and the canonical-host rule."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .trace import BodyTap, Exchange, Trace

# A served process lives as long as its user wants and answers anyone: its in-memory trace keeps
# only the latest exchanges (each body is already capped by BodyTap). Every exchange is still
# printed and, with --trace-file, saved whole to the file as it happens.
MAX_SERVED_EXCHANGES = 10_000


class TraceRecorder:
    """ASGI middleware recording every HTTP exchange an app serves, whoever the caller is."""

    def __init__(
        self, app: ASGIApp, trace: Trace, clock_now: Callable[[], int], on_exchange: Callable[[Exchange], None]
    ):
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
                response["headers"] = tuple(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
                )
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
            if len(self.trace.exchanges) > MAX_SERVED_EXCHANGES:
                del self.trace.exchanges[: len(self.trace.exchanges) - MAX_SERVED_EXCHANGES]


def bind(host: str, port: int) -> socket.socket:
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


def canonical_host_only(app: ASGIApp, canonical: str, origin: str) -> ASGIApp:
    """Answer 421 to a request for this server under another loopback name (`localhost:8000`
    for `127.0.0.1:8000`). Resource identifiers and issuers are compared as exact strings (RFC
    8707 §2, RFC 9728 §3.3, RFC 8414 §3.3): a client that connected as `localhost` would find
    metadata naming `127.0.0.1` and rightly refuse it, so the lab says which name is canonical."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if host != canonical:
                description = f"this lab server's canonical name is {origin}; connect to that URL, not {host!r} (identifiers are compared exactly)"
                body = json.dumps({"error": "misdirected_request", "error_description": description}).encode()
                await send(
                    {"type": "http.response.start", "status": 421, "headers": [(b"content-type", b"application/json")]}
                )
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded
