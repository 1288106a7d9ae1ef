"""What an authenticated request to the MCP endpoint must be at the HTTP level, before the SDK,
and what the SDK is then handed (`sdk_headers`, `read_body`, `replayed`).

The SDK refuses some of these itself, each in its own shape: a plain-text 421 or 403 for the
Host or Origin, a plain-text 400 for the Content-Type, a 405 with no body (2026-07-28) or one
whose `Allow` names GET and DELETE, which this server does not serve (initialize era), an empty
406. The lab answers them first, each as a JSON-RPC error object whose id is null, the body not
read (JSON-RPC 2.0 §5; MCP Streamable HTTP: "The HTTP response body MAY comprise a JSON-RPC error
response"; the SDK's own refusals are such objects too, with -32600, and its client reads no
other), with the status the MCP transport or RFC 9110 gives and a message naming the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Message, Receive

from ..browser_origins import NO_HOST, TWO_ORIGINS, one_origin
from ..rfc6454 import normalized_authority, normalized_origin
from ..rfc9110 import (
    ACCEPTED_CODINGS,
    JSON_UTF8,
    RepeatedField,
    field_values,
    media_type,
    one_field,
    unsupported_coding,
    weight_of,
)
from .jsonrpc import INVALID_REQUEST, error_response

# Streamable HTTP "Sending Messages to the Server": every JSON-RPC message is POSTed as JSON.
JSON = "application/json"
JSON_BYTES = JSON.encode()


def transport_refusal(status: int, rule: str, headers: dict[str, str] | None = None) -> Response:
    """An HTTP-level refusal at the MCP endpoint, judged before the body is read: a JSON-RPC error
    whose id is null, the request's id not read (JSON-RPC 2.0 §5: the id "is REQUIRED", and "MUST
    be Null" when it could not be detected). MCP Streamable HTTP, Security, lets a 403's body be
    "a JSON-RPC error response that has no `id`", and the 2025-11-25 schema (`id?: RequestId`) lets
    it be left out; but the SDK client reads these bodies as JSON-RPC 2.0 does (mcp_types
    JSONRPCError: "Required but nullable"), as its own server writes them (`id=None`), and without
    the member showed "Server returned an error response" instead of the rule this names. A body
    that was read and holds a notification or a response is answered with no id (`jsonrpc.answer_id`)."""
    return error_response(None, INVALID_REQUEST, rule, status, headers)


def sdk_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request's fields as the SDK is handed them, once the gate has judged them. The gate read
    the Content-Type as JSON (RFC 9110 §8.3.1: type and subtype are case-insensitive); the SDK
    compares it with the string "application/json" and answered Application/JSON with 415 (the
    initialize-era path): it is handed the type as it spells it. Accept is a list (RFC 9110
    §12.5.1): sent as two lines, the gate read their combination and the SDK the first line alone
    (`Accept: text/event-stream`, then `Accept: application/json` got its 406). §5.3: a recipient
    MAY combine them, in order, into one."""
    headers = [(k, JSON_BYTES) if k.lower() == b"content-type" else (k, v) for k, v in headers]
    accepts = [v for k, v in headers if k.lower() == b"accept"]
    if not accepts:
        # RFC 9110 §12.5.1: no Accept field accepts any media type, as the gate read it; the SDK
        # reads a missing field as accepting nothing and answered its own 406.
        return [*headers, (b"accept", b"*/*")]
    if len(accepts) < 2:
        return headers
    return [*((k, v) for k, v in headers if k.lower() != b"accept"), (b"accept", b", ".join(accepts))]


async def read_body(receive: Receive) -> bytes:
    """The request's body, to the message that says no more (ASGI: `more_body` defaults to False)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # The client went before its body was read (served: uvicorn's `http.disconnect`).
            # What came is no whole message: judged as one, it was answered -32700 "not valid
            # JSON", a parse error the trace blamed on a client that had sent valid JSON.
            raise ClientDisconnect
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replayed(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the SDK the body the gate already read (to check it) as one message,
    then whatever the connection sends next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def method_refusal(method: str, path: str) -> Response | None:
    """None for POST; else 405 with `Allow` (RFC 9110 §15.5.6: the origin server MUST send one)."""
    if method == "POST":
        return None
    # RFC 9110 §8.6: a HEAD's Content-Length, if sent, MUST be what GET's would be; so is its description.
    method = "GET" if method == "HEAD" else method
    if method == "GET":
        # A server that offers no SSE stream answers GET with 405 (Streamable HTTP, 2025-03-26 to
        # 2025-11-25 "Listening for Messages from the Server"). A stateless server has nothing to
        # push, and an open stream would only hang the caller.
        why = "this server offers no SSE stream (MCP Streamable HTTP)"
    elif method == "DELETE":
        # DELETE ends a session (2025-03-26 to 2025-11-25 "Session Management": the server MAY
        # answer 405); 2026-07-28 has no sessions and answers 405 ("Backward Compatibility").
        why = "this stateless server has no session to terminate (MCP Streamable HTTP: 405 for DELETE)"
    else:
        why = "the MCP endpoint takes JSON-RPC messages by POST (MCP Streamable HTTP)"
    description = f"{method} is not allowed on {path}: {why}; send JSON-RPC messages with POST (RFC 9110 §15.5.6)"
    return transport_refusal(405, description, {"Allow": "POST"})


@dataclass(frozen=True)
class OwnNames:
    """The Host names and origins a server answers to, normalized once, when the server is built
    (RFC 9110 §4.2.3, `rfc6454`), not again for every request. The lists read as the SDK's
    `TransportSecuritySettings` read them (`name:*` is that name with any port), whose own check,
    answering in plain text, the server turns off: this one is the server's. `scheme` is the
    server's own, whose default port a Host may name."""

    scheme: str
    authorities: frozenset[str]  # the names at one port, normalized
    any_port: tuple[str, ...]  # the names of `name:*` entries, in lower case
    origins: frozenset[str]

    @classmethod
    def of(cls, hosts: Iterable[str], origins: Iterable[str], scheme: str) -> OwnNames:
        # The entry itself is no Host (RFC 9110 §7.2: port = *DIGIT): read as one, a request naming
        # `localhost:*` matched the entry `localhost:*` as written.
        entries = [entry.lower() for entry in hosts]
        return cls(
            scheme,
            frozenset(normalized_authority(entry, scheme) for entry in entries if not entry.endswith(":*")),
            tuple(entry[:-2] for entry in entries if entry.endswith(":*")),
            frozenset(normalized_origin(own) or own for own in origins),
        )

    def host_listed(self, host: str) -> bool:
        # A host name compares case-insensitively, and a port that is the scheme's default as no
        # port (RFC 9110 §4.2.3, RFC 3986 §3.2.2): `MCP.EXAMPLE.COM` and `mcp.example.com:443`
        # (https) are this server's name too (`normalized_authority`).
        authority = normalized_authority(host, self.scheme)
        return bool(host) and (
            authority in self.authorities or any(_with_any_port(name, authority) for name in self.any_port)
        )

    def origin_listed(self, origin: str) -> bool:
        return normalized_origin(origin) in self.origins

    def refusal(self, headers: list[tuple[bytes, bytes]]) -> Response | None:
        """None when the Host is one this server answers to and the Origin, if any, one it serves;
        else 421 or 403."""
        try:
            # RFC 9112 §3.2: a server "MUST respond with a 400 (Bad Request) status code to any
            # HTTP/1.1 request message ... that contains more than one Host header field line" (h11
            # does so served; in process the first was judged here, and the SDK and Starlette read
            # the first too).
            host = one_field(field_values(headers, b"host"), "Host", "§7.2; RFC 9112 §3.2")
        except RepeatedField as repeated:
            return transport_refusal(400, str(repeated))
        if host is None or not self.host_listed(host):
            # RFC 9110 §15.5.20: 421 for a request directed at a server that will not answer for
            # that authority; a DNS-rebinding page's requests carry the attacker's name.
            named = NO_HOST if host is None else f"Host {host!r} is not a name this MCP server answers to"
            return transport_refusal(421, f"{named} (DNS-rebinding protection, RFC 9110 §15.5.20)")
        try:
            origin = one_origin(headers)
        except RepeatedField as repeated:
            return transport_refusal(403, f"{repeated}: {TWO_ORIGINS}")
        if origin and not self.origin_listed(origin):
            # MCP Streamable HTTP, Security: servers MUST validate the Origin header; "If the Origin
            # header is present and invalid, servers MUST respond with HTTP 403 Forbidden".
            return transport_refusal(
                403,
                f"Origin {origin!r} is not an origin of this MCP server: servers MUST validate the Origin header "
                "(MCP Streamable HTTP, Security; DNS-rebinding protection)",
            )
        return None


def _with_any_port(name: str, authority: str) -> bool:
    # `authority` is normalized: the name alone is the name at the scheme's default port, which any
    # port takes in. Read as written, Host 127.0.0.1:443 (https) was accepted and 127.0.0.1, the
    # same authority (RFC 9110 §4.2.3), or 127.0.0.1: with its port empty, refused 421.
    port = authority[len(name) + 1 :]
    return authority == name or (authority.startswith(f"{name}:") and port.isascii() and port.isdigit())


def media_refusal(headers: list[tuple[bytes, bytes]]) -> Response | None:
    """None when the POST carries JSON and accepts a JSON answer; else 415 or 406."""
    try:
        content_type = one_field(field_values(headers, b"content-type"), "Content-Type", "§8.3")
    except RepeatedField as repeated:
        # Two Content-Type fields are no format at all (not one this server does not take): 400.
        return transport_refusal(400, str(repeated))
    if media_type(content_type) != JSON:
        # RFC 9110 §15.5.16: 415 for content in a format the method does not take, and an
        # `Accept` response header can name the media types that would have been accepted.
        sent = repr(content_type) if content_type is not None else "0 Content-Type headers"
        return transport_refusal(
            415,
            f"a JSON-RPC message is sent as {JSON} (MCP Streamable HTTP); this request sent {sent} (RFC 9110 §15.5.16)",
            {"Accept": JSON},
        )
    coded = unsupported_coding(headers)
    if coded is not None:
        return transport_refusal(415, coded, ACCEPTED_CODINGS)  # RFC 9110 §8.4 (rfc9110.py)
    accepts = field_values(headers, b"accept")
    # RFC 9110 §12.5.1: "A request without any Accept header field implies that the user agent
    # will accept any media type in response", JSON too. The client MUST list application/json and
    # text/event-stream ("Sending Messages to the Server" item 2), but nothing tells the server to
    # refuse one that did not: opencode and Claude Code sent no Accept and got a 406 that, by
    # §15.5.7, says the field they never sent ruled JSON out.
    if accepts and not _accepts_json(",".join(accepts)):
        # This server answers every request in JSON, so it needs only the first; without it,
        # RFC 9110 §15.5.7's 406 (the SDK's answer too, which it sent with no body).
        listed = repr(",".join(accepts))
        return transport_refusal(
            406,
            f"this server answers in {JSON}, and the request's Accept lists {listed}; a client MUST "
            f"accept {JSON} and text/event-stream (MCP Streamable HTTP, RFC 9110 §15.5.7)",
        )
    return None


def _accepts_json(accept: str) -> bool:
    """RFC 9110 §12.5.1: `application/json`, `application/*` or `*/*`, with a weight above 0, the
    most specific deciding (`rfc9110.weight_of`). A field that is no Accept list says nothing this
    server can trust: JSON is not accepted."""
    weight = weight_of(accept, JSON_UTF8)
    return weight is not None and weight > 0
