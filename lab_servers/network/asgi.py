"""Calling an ASGI app directly, the way a server would, but with no socket in between: bodies
still travel in pieces, with backpressure, as they would through one."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
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


SOCKET_CHUNK = 64 * 1024  # what one read from a socket hands over, at most
_INTERNAL_ERROR = (500, (("content-type", "text/plain"),))


async def _pieces(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The request body as a socket delivers it: in pieces of at most SOCKET_CHUNK bytes."""
    async for chunk in body:
        for start in range(0, len(chunk), SOCKET_CHUNK):
            yield chunk[start : start + SOCKET_CHUNK]


class StreamedResponse:
    """A response whose body arrives as the app sends it, with backpressure: the app is held at
    its next `send` until the reader takes the previous chunk, the way a full socket buffer holds
    a server. Closing it early disconnects: the app is cancelled and sends nothing more."""

    def __init__(
        self,
        status: int,
        headers: tuple[tuple[str, str], ...],
        chunks: asyncio.Queue[bytes | None],
        task: asyncio.Task[None],
    ) -> None:
        self.status, self.headers = status, headers
        self._chunks, self._task = chunks, task
        self._ended = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._ended:
            chunk = await self._chunks.get()
            if chunk is None:
                self._ended = True
                return
            yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    @property
    def complete(self) -> bool:
        return self._ended

    async def aclose(self) -> None:
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def open_asgi(
    app: ASGIApp,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: AsyncIterator[bytes],
    client_address: str,
) -> StreamedResponse:
    """Start `app` on one request and return as soon as it has sent its status and headers.

    The request body is handed over piece by piece as the app asks for it, and the response body
    piece by piece as the reader asks for it: nothing is buffered whole on either side, so a cap
    on either side bounds memory here as it would over a socket. The app runs in its own task
    (which copies the caller's context variables, so trace attribution follows the request)."""
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
    pieces = _pieces(body).__aiter__()
    request_done = False
    loop = asyncio.get_running_loop()
    started: asyncio.Future[tuple[int, tuple[tuple[str, str], ...]]] = loop.create_future()
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
    ended = False

    async def receive() -> Message:
        nonlocal request_done
        if not request_done:
            try:
                return {"type": "http.request", "body": await pieces.__anext__(), "more_body": True}
            except StopAsyncIteration:
                request_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected until the response is done
        return {"type": "http.disconnect"}  # pragma: no cover

    async def send(message: Message) -> None:
        nonlocal ended
        if message["type"] == "http.response.start" and not started.done():
            headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", []))
            started.set_result((message["status"], headers))
        elif message["type"] == "http.response.body" and not ended:
            if message.get("body"):
                await chunks.put(message["body"])
            if not message.get("more_body", False):
                ended = True
                await chunks.put(None)

    async def run() -> None:
        nonlocal ended
        try:
            await app(scope, receive, send)
        except Exception:  # noqa: BLE001
            # A real server answers 500 and carries on; Starlette has already sent that response
            # when it re-raises, so the client sees exactly what it would see over a socket.
            if not started.done():
                started.set_result(_INTERNAL_ERROR)
                await chunks.put(b"Internal Server Error")
        finally:
            if not started.done():
                started.set_result(_INTERNAL_ERROR)  # the app returned without answering
            if not ended:
                ended = True
                await chunks.put(None)

    task = loop.create_task(run())
    try:
        status, response_headers = await asyncio.shield(started)
    except asyncio.CancelledError:
        task.cancel()
        raise
    return StreamedResponse(status, response_headers, chunks, task)


async def call_asgi(
    app: ASGIApp,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes,
    client_address: str,
) -> RawResponse:
    """The whole exchange at once, for callers that want bytes rather than a stream."""

    async def once() -> AsyncIterator[bytes]:
        yield body

    response = await open_asgi(app, method, url, headers, once(), client_address)
    try:
        return RawResponse(response.status, response.headers, await response.read())
    finally:
        await response.aclose()


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
            # A fresh context: the app's lifespan must not inherit the step (and step collector)
            # of whichever client's request happened to start it.
            self._task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())
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
