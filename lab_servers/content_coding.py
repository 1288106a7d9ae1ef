"""Request content codings (RFC 9110 §8.4): none of the lab's servers decodes one.

A request's `Content-Encoding` says its content was compressed (gzip, br, …) and is to be decoded
before its media type applies. An origin server "MAY respond with a status code of 415
(Unsupported Media Type) if a representation in the request message has a content coding that is
not acceptable" (§8.4), and the 415 "ought to" carry `Accept-Encoding` to say which codings would
have been (§15.5.16). Read as if no coding had been applied, a compressed body is gibberish that
names no rule: a gzip'd token request was "client_id is required", a gzip'd registration "not
valid UTF-8", and a plain body merely labelled `br` was taken as it stood.

The MCP endpoint applies the rule in its own order of checks (`resource_server/transport.py`);
the AS and the enterprise IdP through `NoContentCoding`, in front of every route.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from .error_text import Refusal

__all__ = ["ACCEPTED_CODINGS", "NoContentCoding", "unsupported_coding"]

# §12.5.3: "identity" is a synonym for "no encoding". It is not a content coding, but a sender
# that names it has applied none, so it is taken like an empty or absent header.
ACCEPTED_CODINGS = {"Accept-Encoding": "identity"}


def unsupported_coding(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The rule a request breaks by declaring a content coding; None when it declares none."""
    codings = [v.decode("latin-1").strip().lower() for k, v in headers if k.lower() == b"content-encoding"]
    if all(coding in ("", "identity") for coding in codings):
        return None
    return (
        f"this server takes no content coding; the request's Content-Encoding is {', '.join(codings)!r} "
        "(RFC 9110 §8.4, §15.5.16)"
    )


class NoContentCoding:
    """ASGI middleware: a request with content in a coding is refused with 415 and
    `Accept-Encoding: identity` (in the server's own error shape, `refusal`) before any route
    reads it. A request with no content (§6.4: neither Content-Length nor Transfer-Encoding, or a
    length of 0) has nothing a coding could apply to, and passes."""

    def __init__(self, app: ASGIApp, *, refusal: Refusal) -> None:
        self.app = app
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        coded = scope["type"] == "http" and _has_content(scope["headers"]) and unsupported_coding(scope["headers"])
        if not coded:
            return await self.app(scope, receive, send)
        refused = self.refusal(scope["path"], 415, coded)
        refused.headers.update(ACCEPTED_CODINGS)
        return await refused(scope, receive, send)


def _has_content(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(
        name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0"))
        for name, value in ((k.lower(), v) for k, v in headers)
    )
