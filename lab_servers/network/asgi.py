"""Calling an ASGI app directly, the way a server would, but with no socket in between: bodies
still travel in pieces, with backpressure, as they would through one."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from ..rfc9110 import imf_fixdate
from .http1 import (
    CONTENT_LENGTH_MAX_DIGITS,
    INTERNAL_ERROR,
    INTERNAL_ERROR_BODY,
    NO_CONTENT,
    ServerDisconnected,
    is_field,
)
from .send_buffer import SendBuffer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


SOCKET_CHUNK = 64 * 1024  # what one read from a socket hands over, at most
# How long an app may run on after its client is done with its answer, before the lab cancels it
# (`StreamedResponse.aclose`, which waits for it, so that what it does comes before the caller's
# next request, run to run): uvicorn sets no bound; the lab's keeps an app that never ends from
# holding its caller for ever. The lab's servers and the MCP SDK end within a few loop iterations.
APP_END_GRACE = 2.0


class DateField:
    """The `Date` a server with a clock adds to what its apps answer, as uvicorn does on a socket.

    RFC 9110 §6.6.1: "An origin server with a clock ... MUST generate a Date header field in all
    2xx (Successful), 3xx (Redirection), and 4xx (Client Error) responses, and MAY generate a Date
    header field in 1xx (Informational) and 5xx (Server Error) responses." The lab's server adds
    it to every answer, 5xx included, as uvicorn does served, so that both modes send the same
    fields. Its clock is the lab's (`LabClock`): it moves only when told, so the bytes repeat run
    to run. The text is written once per clock second (uvicorn: once per tick), not per answer."""

    __slots__ = ("_now", "_second", "_value")

    def __init__(self, now: Callable[[], int]) -> None:
        self._now = now
        self._second: int | None = None
        self._value = ""

    def __call__(self) -> str:
        second = self._now()
        if second != self._second:
            self._second, self._value = second, imf_fixdate(second)
        return self._value


async def _pieces(body: bytes | AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The request body as a socket delivers it: in pieces of at most SOCKET_CHUNK bytes."""
    if isinstance(body, bytes):
        for start in range(0, len(body), SOCKET_CHUNK):
            yield body[start : start + SOCKET_CHUNK]
        return
    async for chunk in body:
        for start in range(0, len(chunk), SOCKET_CHUNK):
            yield chunk[start : start + SOCKET_CHUNK]


class StreamedResponse:
    """A response whose body arrives as the app sends it, with backpressure (`SendBuffer`); it is
    its own async iterator (no async generator per response: issue 12). Closing it hangs up, as
    a client closes its connection (`AppCall.hang_up`): the app sends nothing more, and runs to
    its end, as uvicorn lets it, for `APP_END_GRACE` at most."""

    def __init__(self, status: int, headers: tuple[tuple[str, str], ...], call: AppCall) -> None:
        self.status, self.headers = status, headers
        self._call = call
        self._ended = False

    def __aiter__(self) -> StreamedResponse:
        return self

    async def __anext__(self) -> bytes:
        chunk = None if self._ended else await self._call.body.get()
        if chunk is None:
            self._ended = True
            if self._call.broken is not None:
                raise ServerDisconnected(self._call.broken)
            raise StopAsyncIteration
        return chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    @property
    def complete(self) -> bool:
        return self._ended

    async def aclose(self) -> None:
        task = self._call.task
        if task.done():
            return
        # uvicorn never cancels an app whose client hangs up or whose answer is complete: it runs
        # to its end. The MCP SDK's stateful app keeps the session an initialize opened only once
        # that request's app returns: cancelled here (its SSE answer read up to the response, or
        # read whole), it discarded the session, and the client's next request was answered 404.
        self._call.hang_up()
        watchdog = asyncio.get_running_loop().call_later(APP_END_GRACE, task.cancel)
        task.add_done_callback(lambda _: watchdog.cancel())
        # Wait for the app to end without taking on its outcome. `await task` raised the app's
        # CancelledError, and suppressing it swallowed the caller's own cancellation too when the
        # caller was cancelled meanwhile (a timeout, an interrupted cell): the request then ran
        # on as if nobody had given up. `asyncio.wait` raises only a cancellation of the caller.
        await asyncio.wait((task,))


class AppCall:
    """One request to an app: the `receive` and `send` it is given, and the task it runs in.

    One object per request rather than closures: with a thousand requests in flight, every
    object an exchange keeps alive is one more for the cyclic GC to walk (issue 12)."""

    def __init__(self, app: ASGIApp, scope: Scope, body: bytes | AsyncIterator[bytes], date: DateField) -> None:
        loop = asyncio.get_running_loop()
        self._app, self._scope, self._date = app, scope, date
        self._pieces = _pieces(body).__aiter__()
        self._request_done = self._ended = False
        self._hung_up = False  # the client closed the connection (`hang_up`)
        # Whoever waits in `receive` for the exchange to end (ASGI's http.disconnect), if anyone.
        self._disconnected: asyncio.Future[None] | None = None
        # RFC 9110 §9.3.2: a server MUST NOT send content in a response to HEAD. An ASGI app may
        # send GET's body anyway (Starlette does), and h11 drops it on a socket: so does the lab.
        # The same for a 204 or a 304, known once the app starts its answer (`NO_CONTENT`).
        self._no_content = scope["method"] == "HEAD"
        # The body's length the app declared (Content-Length), less what it has sent since.
        self._length_left: int | None = None
        # Why the connection ended before the body was complete (`ServerDisconnected`), if it did.
        self.broken: str | None = None
        self.started: asyncio.Future[tuple[int, tuple[tuple[str, str], ...]]] = loop.create_future()
        self.body = SendBuffer()
        # The task copies the caller's context variables, so trace attribution follows the request.
        self.task = loop.create_task(self._run())

    async def receive(self) -> Message:
        if self._hung_up:
            return {"type": "http.disconnect"}
        if not self._request_done:
            try:
                return {"type": "http.request", "body": await self._pieces.__anext__(), "more_body": True}
            except StopAsyncIteration:
                self._request_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
        # A client that stays connected until the response is done, and then, as uvicorn says once a
        # response is complete or its client gone, http.disconnect: an app that waits for it after
        # its answer (as Starlette's streaming answers do) must not wait until `APP_END_GRACE`.
        # Every receiver waits on one future, shielded: Starlette's streaming answer listens while
        # `request.is_disconnected()` asks again under a cancelled scope, and a second future (or
        # the cancel reaching a shared one) left the first listener unwoken, its close held 2 s.
        if not self._ended:
            if self._disconnected is None:
                self._disconnected = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._disconnected)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if not self.started.done():
            if kind != "http.response.start":
                # ASGI's order, which uvicorn enforces: the app's `send` raises, and the app that
                # fails before it answers is answered 500. Its body went nowhere before that.
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got {kind!r}")
            headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", []))
            status = message["status"]
            if not 200 <= status <= 599:
                # RFC 9110 §15: a status code is three digits, 100-599; a final answer is not 1xx
                # (§15.2), and ASGI has no message for an interim one. uvicorn (with h11) cannot
                # write it: the app's `send` raises and the connection closes with no response.
                self._disconnect(
                    f"the server closed the connection without a response: its app answered status {status}, which HTTP/1.1 cannot carry as a final response (RFC 9110 §15)"
                )
            if status in NO_CONTENT:
                self._no_content = True
            self._start(status, headers)
        elif self._ended or self.started.cancelled():
            # A body ended, a connection that closed, or a client that gave up before the headers
            # came: nothing more reaches the client, and uvicorn's `send` to a disconnected
            # client returns quietly. But an app that goes on streaming to a client that hung up
            # (an endless body the reader stopped at its cap) would stream to nobody until the lab
            # gave up on it: it is cancelled there, at its next write, as the lab always did; one
            # that ends its answer, and the work after it, runs on (`hang_up`).
            if self._hung_up and message.get("more_body", False):
                self.task.cancel()
                await asyncio.sleep(0)
            return
        elif kind != "http.response.body":  # a second start: uvicorn raises, and the body is cut short
            raise RuntimeError(f"Expected ASGI message 'http.response.body', but got {kind!r}")
        else:
            chunk = message.get("body")
            if chunk and not self._no_content:
                if self._length_left is not None:
                    self._length_left -= len(chunk)
                    if self._length_left < 0:
                        self._break("its app sent more body than its Content-Length declared (RFC 9112 §6.2)")
                await self.body.put(chunk)
            if not message.get("more_body", False):
                if self._length_left and not self._no_content:
                    self._break("its app ended the body short of its Content-Length (RFC 9112 §6.2)")
                self._end()
                await self.body.put(None)

    def hang_up(self) -> None:
        """The client closes its connection (`StreamedResponse.aclose`), its answer read whole or
        not. As over a socket, the app is not cancelled: what it has not yet had read goes nowhere,
        as does the end of its answer, and `receive` says http.disconnect (ASGI, as uvicorn). One
        that streams on to nobody is cancelled at its next write (`send`)."""
        self._hung_up = True
        self._end()
        self.body.drop()

    def _end(self) -> None:
        """The exchange is over for the app: its answer ended, or the connection closed. Every
        `receive` waiting hears http.disconnect, as uvicorn's do once the response is complete or
        the client gone (ASGI); one left waiting waited until the lab gave up on the app."""
        self._ended = True
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)

    def _disconnect(self, reason: str) -> None:
        """The answer cannot be written: the client sees the connection close instead."""
        self.started.set_exception(ServerDisconnected(reason))
        self.started.exception()  # retrieved here too: a caller that gave up never awaits it
        self._end()  # the connection closes
        self.body.end()
        raise RuntimeError(reason)

    def _break(self, reason: str) -> None:
        """The body cannot be completed: the connection closes where it stands, as uvicorn
        closes it (`transport.close()`), and the app's `send` raises, as h11's does."""
        self.broken = f"the server closed the connection before the body was complete: {reason}"
        self._end()  # the connection closes
        self.body.end()
        raise RuntimeError(self.broken)

    def _start(self, status: int, headers: tuple[tuple[str, str], ...]) -> None:
        # The server's Date goes first, as uvicorn writes it; an app that sends its own keeps it
        # (one Date: a field defined as a singleton, RFC 9110 §5.3).
        has_date = False
        for name, value in headers:
            if not is_field(name, value):
                self._disconnect(
                    f"the server closed the connection without a response: its app sent the field {name!r}: {value!r}, which is no field-name: field-value (RFC 9110 §5.1, §5.5)"
                )
            lowered = name.lower()
            if lowered == "date":
                has_date = True
            elif lowered == "content-length":
                # RFC 9112 §6.2 (Content-Length = 1*DIGIT): h11 will not write another value, and
                # frames the body by it: one that runs longer or shorter breaks the connection.
                if not value.isdigit() or not value.isascii():
                    self._disconnect(
                        f"the server closed the connection without a response: its app sent Content-Length {value!r}, which is no length (RFC 9110 §8.6)"
                    )
                if len(value) > CONTENT_LENGTH_MAX_DIGITS:
                    self._disconnect(
                        f"the server closed the connection without a response: its app sent a Content-Length of {len(value)} digits, more than the {CONTENT_LENGTH_MAX_DIGITS} h11 writes (RFC 9110 §8.6: a recipient bounds large numbers)"
                    )
                self._length_left = int(value)
        if not has_date:
            headers = (("date", self._date()), *headers)
        self.started.set_result((status, headers))

    def abandon(self) -> None:
        """End the answer of an app that is done: a 500 if it never answered, and the end of the
        body. `_run` ends with it; `shut_down` calls it too, for a task cancelled before its first
        step, which never enters its coroutine (nor `_run`'s `finally`), so its caller would wait
        for headers for ever. Nothing here waits: the end of a body is queued as a FIN is."""
        if not self.started.done():
            self._start(*INTERNAL_ERROR)
            self.body.end(INTERNAL_ERROR_BODY)
            self._end()
        if not self._ended:
            self._end()
            self.body.end()

    async def _run(self) -> None:
        try:
            await self._app(self._scope, self.receive, self.send)
        except Exception as exc:  # noqa: BLE001
            # A real server answers 500 and carries on; Starlette has already sent that response
            # when it re-raises, so the client sees exactly what it would see over a socket.
            if not self.started.done():
                self._start(*INTERNAL_ERROR)
                await self.body.put(INTERNAL_ERROR_BODY)
            elif not self._ended and not self._no_content:
                # Once the body has begun, uvicorn can only close the connection: the client
                # reads a body cut short, not one that ended.
                self.broken = f"the server closed the connection before the body was complete: its app failed ({type(exc).__name__})"
        else:
            if self.started.done() and not self._ended and not self._no_content:
                self.broken = (
                    "the server closed the connection before the body was complete: its app returned without ending it"
                )
        finally:
            self.abandon()  # the app returned without answering, or without ending its body


def sent_url(url: str) -> str:
    """`url` as its request line carries it: with "/" for an empty path (RFC 9112 §3.2.1: "If the
    target URI's path component is empty, the client MUST send "/" as the path"). httpx writes
    `OPTIONS https://host` as `OPTIONS /` and `open_asgi` hands the app "/", where the trace kept
    the URL without it, and a view then showed `OPTIONS *` (§3.2.4), which was never sent."""
    scheme = url.find("://")
    if scheme == -1:
        return url
    start = scheme + 3
    end = min((i for i in (url.find(c, start) for c in "/?#") if i >= 0), default=len(url))
    return url if url.startswith("/", end) else f"{url[:end]}/{url[end:]}"


async def open_asgi(
    app: ASGIApp,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes | AsyncIterator[bytes],
    client_address: str,
    date: DateField,
    in_flight: dict[AppCall, None] | None = None,
) -> StreamedResponse:
    """Start `app` on one request and return as soon as it has sent its status and headers.

    The request body is handed over piece by piece as the app asks for it, and the response body
    piece by piece as the reader asks for it: nothing is buffered whole on either side, so a cap
    on either side bounds memory here as it would over a socket. The answer carries `date`, the
    server's `Date`, unless the app sent one (`DateField`). With `in_flight`, the request is in
    it until its app's task ends (what a server shutting down waits for: `shut_down`)."""
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
    call = AppCall(app, scope, body, date)
    if in_flight is not None:
        in_flight[call] = None
        call.task.add_done_callback(functools.partial(_forget_call, in_flight, call))
    try:
        status, response_headers = await call.started
    except asyncio.CancelledError:
        # The caller gave up before the headers came: disconnect. (`started` is cancelled with
        # it, which `send` tolerates: it only ever sets a future that is not done.)
        call.task.cancel()
        raise
    return StreamedResponse(status, response_headers, call)


def _forget_call(in_flight: dict[AppCall, None], call: AppCall, task: asyncio.Task[None]) -> None:
    in_flight.pop(call, None)


async def shut_down(in_flight: dict[AppCall, None]) -> None:
    """End the requests still running in an app before its lifespan ends, as uvicorn does at
    shutdown: each is given up on (cancelled), and answered 500 if its app never answered.
    `in_flight` is a dict, in the order the requests began: they are cancelled, and so end and
    are filed (`Exchange.done`), in that order. A set's order is its members' addresses, so the
    same scenario filed them in a different order at each run, where traces are byte-identical."""
    loop = asyncio.get_running_loop()
    calls = [call for call in in_flight if call.task.get_loop() is loop]  # another loop's have ended
    for call in calls:
        call.task.cancel()
    if calls:
        await asyncio.wait([call.task for call in calls])
    for call in calls:
        call.abandon()
