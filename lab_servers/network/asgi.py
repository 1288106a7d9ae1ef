"""Calling an ASGI app directly, the way a server would, but with no socket in between."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


async def call_asgi(
    app: ASGIApp,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    client_address: str,
) -> RawResponse:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    default_port = 443 if scheme == "https" else 80
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": scheme,
        "path": unquote(parts.path or "/"),
        "raw_path": (parts.path or "/").encode(),
        "root_path": "",
        "query_string": parts.query.encode(),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "server": (parts.hostname or "", parts.port or default_port),
        "client": (client_address, 50000),
        "state": {},
        "extensions": {},
    }
    request_sent = False

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected until the response is done
        return {"type": "http.disconnect"}  # pragma: no cover

    status: int | None = None
    response_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await app(scope, receive, send)
    except Exception:  # noqa: BLE001
        # A real server answers 500 and carries on; Starlette has already sent that response
        # when it re-raises, so the client sees exactly what it would see over a socket.
        if status is None:
            return RawResponse(500, (("content-type", "text/plain"),), b"Internal Server Error")
    return RawResponse(status or 500, tuple(response_headers), b"".join(chunks))


class LifespanRunner:
    """Runs an app's ASGI lifespan in a background task (the MCP server's session manager lives
    there) and shuts it down on `stop`. A task, not a thread: the lab stays single-threaded."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._shutdown = asyncio.Event()
        self._stopped = asyncio.Event()
        self._failure: str | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        await self._started.wait()
        if self._failure:
            raise RuntimeError(f"lifespan startup failed: {self._failure}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._shutdown.set()
        await self._stopped.wait()
        await self._task

    async def _run(self) -> None:
        messages = iter([{"type": "lifespan.startup"}])

        async def receive() -> Message:
            message = next(messages, None)
            if message is not None:
                return message
            await self._shutdown.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: Message) -> None:
            kind = message["type"]
            if kind.startswith("lifespan.startup"):
                if kind.endswith("failed"):
                    self._failure = message.get("message", "unknown")
                self._started.set()
            elif kind.startswith("lifespan.shutdown"):
                self._stopped.set()

        try:
            await self._app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
        finally:
            self._started.set()
            self._stopped.set()
