"""CORS and Origin checks for the served lab (`python -m lab_servers serve`).

A browser-based MCP client (MCP Inspector v1's direct mode, a page on a loopback dev server)
calls the metadata, registration and token endpoints and the MCP endpoint from JavaScript, so
those answer CORS preflights and carry `Access-Control-Allow-Origin` (Fetch standard §3.2).
`/authorize` is a page the user's browser navigates to, never a fetch: it gets no CORS.

Origin validation stays the DNS-rebinding defence the MCP transport requires (MCP Streamable
HTTP "Security Warning": servers MUST validate the Origin header): a request whose `Origin` is
neither the lab's own nor a loopback origin is refused with 403, and so is a request whose
`Host` is not a name the lab serves (a rebinding page's requests carry the attacker's name).
Each refusal has the shape of the server it guards (`refusal`): a JSON-RPC error at the MCP
endpoint, as the MCP server's own Origin check answers in process, and an OAuth error at the AS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .error_text import Refusal, refuse_as_invalid_request
from .rfc6454 import SERIALIZED_ORIGIN, normalized_origin
from .rfc9110 import OWS, TOKEN, RepeatedField, field_values, one_field

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
ALLOWED_REQUEST_HEADERS = (
    "authorization, content-type, accept, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name, last-event-id"
)
# MCP 2026-07-28 Custom Headers from Tool Parameters: a tools/call also sends an Mcp-Param-{Name}
# for each argument its tool marks x-mcp-header, names no fixed list can hold. A preflight lists
# the headers the page will send in Access-Control-Request-Headers, and the browser sends the call
# only if Access-Control-Allow-Headers names each of them (Fetch standard, CORS-preflight fetch):
# each Mcp-Param-{Name} asked for is allowed, if its name is a field name (RFC 9110 §5.1: a token)
# and within the lab's bounds, so that a stranger's preflight cannot have any length echoed.
MAX_PARAM_HEADERS = 32
MAX_PARAM_HEADER_CHARS = 128
_PARAM_HEADER = re.compile(rf"mcp-param-{TOKEN}", re.IGNORECASE)
# Response headers a page's script may read besides the CORS-safelisted ones (Fetch standard,
# "CORS-safelisted response-header name"): a 401's challenge, the MCP transport's own, and when
# /register's 429 or /token's 503 says to retry (RFC 9110 §10.2.3).
EXPOSED_HEADERS = "www-authenticate, mcp-session-id, mcp-protocol-version, retry-after"
# Paths a browser page may fetch. /authorize and its consent form are navigations, not fetches.
NO_CORS_PREFIXES = ("/authorize",)


def is_loopback_origin(origin: str) -> bool:
    serialized = SERIALIZED_ORIGIN.fullmatch(origin)
    return serialized is not None and serialized["host"].lower() in LOOPBACK_HOSTS


# An Origin "present and invalid" gets 403 (MCP Streamable HTTP, Security), two of them too.
TWO_ORIGINS = (
    "servers MUST validate the Origin header; present and invalid, it gets 403 (MCP Streamable HTTP, Security)"
)


# h11 refuses an HTTP/1.1 request without Host (RFC 9112 §3.2); HTTP/1.0 may omit it, and then no
# name says which server the request was meant for (RFC 9112 §3.3: its authority is empty).
NO_HOST = "the request has no Host field (HTTP/1.0 may omit it), so nothing says which name it was sent to"


def one_origin(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's Origin (None: none sent); RepeatedField for two. RFC 6454 §7.3: "The user
    agent MUST NOT include more than one Origin header field in any HTTP request"; read first-only
    (or last-only, as a dict of the headers reads it), an allowed origin beside an attacker's
    would be vetted, and echoed."""
    return one_field(field_values(headers, b"origin"), "Origin", "RFC 6454 §7.3")


class BrowserOrigins:
    """ASGI middleware: Host and Origin validation, then CORS for fetchable paths."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        own_origins: Iterable[str],
        allowed_hosts: Iterable[str] = (),
        any_host: bool = False,
        refusal: Refusal = refuse_as_invalid_request,
    ):
        self.app = app
        # Compared as RFC 9110 §4.2.3 compares them: `https://127.0.0.1:443` is `https://127.0.0.1`.
        self.own_origins = frozenset(normalized_origin(origin) or origin for origin in own_origins)
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.any_host = any_host
        self.refusal = refusal  # the guarded server's own shape of refusal at a path

    def origin_allowed(self, origin: str) -> bool:
        return normalized_origin(origin) in self.own_origins or is_loopback_origin(origin)

    def host_allowed(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return self.any_host or name.lower() in LOOPBACK_HOSTS or name.lower() in self.allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refuse = self.refusal
        # h11 refuses two Host fields before any application; two Origin fields it passes on, and
        # the dict above kept the last: an allowed origin after an attacker's was vetted, and echoed.
        if not self.host_allowed(headers.get("host", "")):
            named = f"Host {headers['host']!r} is not a name this lab serves" if "host" in headers else NO_HOST
            why = f"{named} (DNS-rebinding protection)"
            await refuse(scope["path"], 403, why)(scope, receive, send)
            return
        try:
            origin = one_origin(scope["headers"])
        except RepeatedField as repeated:
            await refuse(scope["path"], 403, f"{repeated}: {TWO_ORIGINS}")(scope, receive, send)
            return
        cors = not scope["path"].startswith(NO_CORS_PREFIXES)
        if cors:
            # Fetch standard §3.2.5 ("CORS protocol and HTTP caches"): a resource that answers with
            # Access-Control-Allow-Origin to some requests only says `Vary: Origin` on every answer,
            # those to requests without an Origin too; else a cache keeps the answer a navigation
            # got, with no CORS headers, and serves it to the next page's fetch.
            send = _varying_by_origin(send)
        if origin is None:
            await self.app(scope, receive, send)
            return
        if not self.origin_allowed(origin):
            # "null" is an opaque origin's serialization (RFC 6454 §6.2), and so an origin; a value
            # of neither form names none, a loopback host's with a port of six digits too.
            named = "is neither the lab's own nor a loopback origin"
            if origin != "null" and normalized_origin(origin) is None:
                named = 'is no origin (RFC 6454 §7.1: scheme "://" host [ ":" port ], or null)'
            why = (
                f"Origin {origin!r} {named}: servers MUST validate the Origin header (MCP Streamable HTTP,"
                " Security; DNS-rebinding protection)"
            )
            await refuse(scope["path"], 403, why)(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            if not cors:
                why = f"{scope['path']} is a page to navigate to, not an endpoint to fetch: no CORS"
                await refuse(scope["path"], 403, why)(scope, receive, send)
            else:
                await _preflight(send, origin, allowed_request_headers(scope["headers"]))
            return
        # The origin is vetted here; the MCP SDK's own check knows only its Host list and would
        # refuse every Origin, so the header goes no further.
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"origin"]}

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and cors:
                message = {**message, "headers": [*message.get("headers", []), *_cors_headers(origin)]}
            await send(message)

        await self.app(scope, receive, with_cors)


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", EXPOSED_HEADERS.encode()),
    ]


def _varying_by_origin(send: Send) -> Send:
    async def with_vary(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"vary", b"Origin")]}
        await send(message)

    return with_vary


def allowed_request_headers(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """Access-Control-Allow-Headers for a preflight: the fixed list, and the Mcp-Param-{Name}
    names its Access-Control-Request-Headers asks for (a list, its lines combined: RFC 9110
    §5.3), in lower case as the browser sends them, each once, the first MAX_PARAM_HEADERS."""
    asked = ",".join(field_values(headers, b"access-control-request-headers")).split(",")
    params: list[str] = []
    for name in (member.strip(OWS).lower() for member in asked):
        if len(params) == MAX_PARAM_HEADERS:
            break
        if len(name) <= MAX_PARAM_HEADER_CHARS and _PARAM_HEADER.fullmatch(name) and name not in params:
            params.append(name)
    return ", ".join([ALLOWED_REQUEST_HEADERS, *params])


async def _preflight(send: Send, origin: str, allowed_headers: str) -> None:
    headers = [
        *_cors_headers(origin),
        (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
        (b"access-control-allow-headers", allowed_headers.encode()),
        (b"access-control-max-age", b"600"),
    ]  # and no Content-Length: a server MUST NOT send one in a 204 (RFC 9110 §8.6)
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
