"""What the MCP server of each revision accepts on the wire, before the SDK sees the request.

The official SDK's app (2.3.0) is dual-era: a request whose `MCP-Protocol-Version` is missing or
an initialize-era version goes to `initialize`-style handling, anything else to the 2026-07-28
per-request path. The lab narrows it to what a server of one revision would do:

- up to 2025-11-25, a version the server does not know is a 400 (2025-06-18 transports
  "Protocol Version Header": "the server MUST respond with 400 Bad Request"), a plain JSON-RPC
  error, not one of the modern codes: so a dual-era client knows to fall back;
- a 2026-07-28-only server rejects what has no header (HeaderMismatch, -32020: "otherwise it
  MUST be rejected") or carries an initialize-era version (UnsupportedProtocolVersion, -32022,
  with `supported`), so an old client learns the revision it is missing;
- a dual-era 2026-07-28 server (`accept_legacy=True`) lets both through.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from ..revisions import (
    HANDSHAKE_VERSIONS,
    HEADER_MISMATCH,
    MODERN_VERSIONS,
    UNSUPPORTED_PROTOCOL_VERSION,
    Revision,
    handshake_versions_up_to,
)
from .jsonrpc import (
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NO_ID,
    NoId,
    RequestId,
    describe,
    is_response,
    request_id,
)
from .jsonrpc import error_response as _error


def era_gate(
    revision: Revision, accept_legacy: bool, header: str | None, request_id: RequestId | NoId | None
) -> Response | None:
    """None to let the request through, else the 400 this revision's server answers, carrying
    the request's id (JSON-RPC 2.0 §5: null when it could not be read; none for a notification or
    a response, `jsonrpc.answer_id`)."""
    if revision.modern_transport:
        if header in MODERN_VERSIONS or (accept_legacy and (header is None or header in HANDSHAKE_VERSIONS)):
            return None
        if header is None:
            return _error(
                request_id,
                HEADER_MISMATCH,
                "MCP-Protocol-Version header is required (MCP 2026-07-28 streamable-http §6)",
            )
        # The versions a request can name on this path, as server/discover lists them: the
        # conformance suite holds `supported` to that list (sep-2575-server-unsupported-version-
        # error), and so does the SDK's own -32022. A dual-era server's initialize-era versions
        # are reached by falling back to initialize (versioning §4), not by retrying here.
        return _error(
            request_id,
            UNSUPPORTED_PROTOCOL_VERSION,
            f"protocol version {header} is not supported by this 2026-07-28 server",
            data={"supported": list(MODERN_VERSIONS), "requested": header},
        )
    known = handshake_versions_up_to(revision.version)
    if header is None or header in known:
        return None
    return _error(
        request_id,
        INVALID_REQUEST,
        f"Bad Request: unsupported MCP-Protocol-Version {header} (this server speaks up to {revision.version})",
    )


def response_refusal(revision: Revision, header: str | None, message: object) -> Response | None:
    """A JSON-RPC response POSTed to a 2026-07-28 request: "The client MUST NOT send JSON-RPC
    responses" (2026-07-28 streamable-http, "Sending Messages", 4), the server asks the client
    nothing to answer. The SDK refused it with an id of null, which the 2026-07-28 schema has no
    room for (JSONRPCErrorResponse, `id?: RequestId`): refused here with no id, as a message the
    server cannot accept is (`jsonrpc.answer_id`)."""
    if not (revision.modern_transport and header in MODERN_VERSIONS and isinstance(message, dict)):
        return None
    if not is_response(message):
        return None
    rule = "a client MUST NOT send JSON-RPC responses (MCP 2026-07-28 streamable-http, Sending Messages)"
    return _error(NO_ID, INVALID_REQUEST, describe(INVALID_REQUEST, rule))


def unserved_listen(header: str | None, message: object) -> Response | None:
    """404 and -32601 for a 2026-07-28 `subscriptions/listen`, which this server does not
    implement (`tools.NotesServer`, built with `subscriptions=False`): "If the server does not
    implement the requested RPC method, it MUST respond with 404 Not Found and a JSON-RPC error
    with code -32601" (2026-07-28 streamable-http, Protocol Version Header). The SDK answers so a
    listen that accepts text/event-stream, the stream a listen's answer is; one that accepted
    application/json alone got its empty 406 first, before the method was looked for: a refusal
    of a stream this server never opens. Answered here, whatever the Accept, as the SDK answers an
    unknown method; its params unread too (the SDK read them first, and refused a malformed listen
    -32602 when it accepted the stream), since a method the server lacks has no params to judge."""
    if not (header in MODERN_VERSIONS and isinstance(message, dict) and "id" in message):
        return None
    if message.get("method") != "subscriptions/listen":
        return None
    return _error(request_id(message), METHOD_NOT_FOUND, "Method not found", 404, data="subscriptions/listen")


def negotiate_initialize(revision: Revision, message: object, body: bytes) -> bytes:
    """Lifecycle §Version Negotiation: a server that does not support the requested version
    answers with one it does. The SDK supports them all, so an older lab server rewrites the
    request to its own revision and the SDK answers with that. `message` is `body` as the gate
    parsed it: a method is judged by its JSON value, so `"\\u0069nitialize"`, which the SDK reads as
    initialize too, is negotiated like `"initialize"` (RFC 8259 §7: an escape is the character);
    judged by its bytes, a 2025-03-26 server answered such a request with 2025-11-25."""
    if revision.modern_transport or not isinstance(message, dict) or message.get("method") != "initialize":
        return body
    params = message.get("params")
    if not isinstance(params, dict):
        return body
    # Only a version the server does not know is negotiated. A protocolVersion that is missing or
    # not a string is no version at all: the MCP schema's InitializeRequest requires a string, and
    # the SDK refuses it -32602 as the 2026-07-28 server does; rewritten, it was answered 200.
    requested = params.get("protocolVersion")
    if not isinstance(requested, str) or requested in handshake_versions_up_to(revision.version):
        return body
    return json.dumps({**message, "params": {**params, "protocolVersion": revision.version}}).encode()
