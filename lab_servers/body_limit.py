"""A request-body cap as ASGI middleware: 413 Content Too Large while the body streams in.

RFC 9110 §15.5.14: a server "is refusing to process a request because the request content is
larger than the server is willing or able to process". Reading the whole body first and then
judging its size protects nothing: a stranger's 500 MB upload is already in memory. So the cap
is applied while the body streams: a `Content-Length` over the limit is refused before a byte
is read, and a chunked body is counted as it arrives and refused the moment it passes the limit.

The middleware sits in front of the resource server, the authorization server and serve mode.
It does not read anything itself, so an app that answers without reading the body (the RS
refusing a request with no token) never reads it at all. When the cap is hit mid-read, the
middleware answers 413 itself and drops whatever the app sends afterwards: the app's own reaction
to an aborted read (a framework's 400 or 500) is not what the client should see.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .error_text import Refusal

__all__ = ["BodyLimit", "BodyTooLarge", "answer_and_close"]


class BodyTooLarge(Exception):
    """Raised into the app from `receive` when the body passes the cap (the 413 is already sent)."""


class BodyLimit:
    """Cap every request body at `max_bytes` (or `per_path[path]`), answering 413 past it."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        *,
        refusal: Refusal,
        per_path: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})
        # The 400 and 413 in the wrapped app's own shape: an OAuth error at the AS and the IdP, a
        # JSON-RPC error at the MCP endpoint.
        self.refusal = refusal

    def __getattr__(self, name: str) -> Any:
        # Transparent for everything but the body: the wrapped app's attributes (a Starlette
        # app's `router`, `state`) stay reachable through the wrapper.
        if name == "app":  # not set yet (copy, unpickling): no recursion through ourselves
            raise AttributeError(name)
        return getattr(self.app, name)

    def limit_for(self, path: str) -> int:
        return self.per_path.get(path, self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        lengths = {v.strip() for k, v in scope["headers"] if k.lower() == b"content-length"}
        if len(lengths) > 1 or any(not value.isdigit() for value in lengths):
            # RFC 9110 §8.6: differing or non-numeric Content-Length values make the framing unknowable.
            why = "the Content-Length header is not one non-negative integer (RFC 9110 §8.6)"
            return await answer_and_close(send, self.refusal(scope["path"], 400, why))
        if lengths and _exceeds(next(iter(lengths)), limit):
            return await answer_and_close(
                send, self.refusal(scope["path"], 413, _too_large(limit, "Content-Length announces more"))
            )
        received = 0
        refused = started = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await answer_and_close(
                            send, self.refusal(scope["path"], 413, _too_large(limit, "the body streamed past it"))
                        )
                    raise BodyTooLarge(f"request body over {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; the app's reaction to the aborted read is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not refused:
                raise


def _exceeds(digits: bytes, limit: int) -> bool:
    """A Content-Length (1*DIGIT, RFC 9110 §8.6) over `limit`, judged by its digits first: int()
    refuses a string of more than 4,300 digits (CPython's limit on int/str conversion, a
    ValueError), and such a value is only a larger number, to be answered 413 like any other."""
    significant = digits.lstrip(b"0")
    return len(significant) > len(str(limit)) or int(significant or b"0") > limit


def _too_large(limit: int, how: str) -> str:
    return f"the request body is larger than this endpoint's limit of {limit} bytes ({how}); RFC 9110 §15.5.14 413 Content Too Large"


async def answer_and_close(send: Send, response: Response) -> None:
    """Send `response` with `Connection: close` (RFC 9112 §9.6): the connection ends with it (the
    rest of the body is not read), which the client is told."""
    headers = [*response.raw_headers, (b"connection", b"close")]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})
