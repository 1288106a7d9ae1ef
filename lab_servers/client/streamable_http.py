"""The MCP Streamable HTTP transport, as the lab client speaks it (MCP basic/transports).

Every JSON-RPC message is a POST to the one MCP endpoint. The client accepts both answers a
server may give: a single `application/json` body, or a `text/event-stream` whose events carry
JSON-RPC messages (the lab's server uses the first, the conformance suite's mocks the second).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from ..rfc9110 import RepeatedField, media_type, one_field
from .server_data import ServerDataRefused, server_json, shown
from .server_sent_events import Event, events

PROTOCOL_VERSION = "2025-11-25"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
# JSON-RPC 2.0 §5: "The Response is expressed as a single JSON Object".
_RESPONSE_RULE = "JSON-RPC 2.0 §5: a JSON object"
# MCP Streamable HTTP, "Session Management" (2025-03-26 to 2025-11-25): "The session ID MUST only
# contain visible ASCII characters (ranging from 0x21 to 0x7E)."
_SESSION_ID = re.compile(r"[\x21-\x7e]+")
# MCP 2025-03-26 basic, "Batching": implementations "MUST support receiving JSON-RPC batches", and
# its transports: the responses on a stream "MAY be batched". 2025-06-18 removed batching.
BATCHING_VERSION = "2025-03-26"


# WHATWG HTML §9.2.6: a blank line (a line end, then another) dispatches the event before it. A
# line ends at CR LF, LF, or a CR "not followed by" LF: read as two line ends, CR then LF, a CR LF
# after a field line was a blank line, and the event was taken as complete before its data came.
_BLANK_LINE = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")


def response_watch(
    request_id: int, version: str = PROTOCOL_VERSION
) -> Callable[[httpx.Response], Callable[[bytearray], bool] | None]:
    """For `server_data.receive`: an event stream is read until it has carried the response to
    `request_id`, not to its end. MCP Streamable HTTP: after the response the server "SHOULD"
    close the stream, so it may keep it open, with comments to keep it alive; read to its end,
    step 7 waited for ever (each comment restarted httpx's read timeout) with its answer in hand.
    `version`: the protocol version the server answers in (whether a batch may carry it)."""

    def watch(response: httpx.Response) -> Callable[[bytearray], bool] | None:
        content_type = response.headers.get("content-type")
        return _ResponseWatch(request_id, version) if media_type(content_type) == "text/event-stream" else None

    return watch


class _ResponseWatch:
    """Whether the stream read so far holds the response: each complete event (up to the last
    blank line) read once, as it arrives; the scan for blank lines starts where the last one
    ended, less the 3 bytes a line end split across reads may hold."""

    def __init__(self, request_id: int, version: str = PROTOCOL_VERSION) -> None:
        self.request_id, self.version, self._read, self._scanned = request_id, version, 0, 0

    def __call__(self, body: bytearray) -> bool:
        ends = [found.end() for found in _BLANK_LINE.finditer(body, max(self._read, self._scanned - 3))]
        self._scanned = len(body)
        if not ends:
            return False
        segment, self._read = body[self._read : ends[-1]], ends[-1]
        try:
            found = (_response_in(event, self.request_id, self.version) for event in events(bytes(segment)))
            return any(response is not None for response in found)
        except ServerDataRefused:
            return True  # no JSON-RPC message: `json_rpc_response` says so; nothing more to read


def _response_in(event: Event, request_id: int, version: str) -> dict[str, Any] | None:
    """The response to `request_id` that `event` carries, if it carries it."""
    # MCP 2024-11-05 (HTTP with SSE): "Server messages are sent as SSE `message` events"; the
    # Streamable HTTP transport that replaced it names no other type, and the SDKs read only
    # `message` events. An event the server named otherwise carries no JSON-RPC message. MCP
    # 2025-11-25 Streamable HTTP: a server "SHOULD immediately send an SSE event consisting of an
    # event ID and an empty `data` field in order to prime the client to reconnect": no message
    # either.
    if event.type != "message" or not event.data:
        return None
    # Any JSON-RPC message may come first (a notification, a request); only the response counts.
    message = server_json(event.data, "an event's JSON-RPC message", rule=_RESPONSE_RULE, expect=None)
    return _response_among(message, request_id, version, "an event's JSON-RPC message")


def _response_among(message: Any, request_id: int, version: str, what: str) -> dict[str, Any] | None:
    """The response to `request_id` that `message` is, or (2025-03-26) that its batch holds."""
    if isinstance(message, list):
        if version != BATCHING_VERSION:
            raise ServerDataRefused(
                f"{what} is a JSON-RPC batch (an array), which MCP {version} does not have: batches belong to "
                f"{BATCHING_VERSION} alone (basic, Batching), and 2025-06-18 removed them"
            )
        return next((member for member in message if _is_response_to(member, request_id)), None)
    return message if _is_response_to(message, request_id) else None


def _is_response_to(message: Any, request_id: int) -> bool:
    """JSON-RPC 2.0 §4, §5: a Request has a method; a Response has result or error, and the id of
    the request it answers. MCP Streamable HTTP: the server MAY send requests before its response,
    with ids of its own, which may equal the client's: one was taken for the response (and failed
    the step as "neither result nor error")."""
    return isinstance(message, dict) and "method" not in message and _same_id(message.get("id"), request_id)


def _same_id(value: Any, request_id: int) -> bool:
    """JSON-RPC 2.0 §5: a response's id "MUST be the same as the value of the id member in the
    Request Object". The same JSON value: Python's == takes true and 1.0 for 1 (bool is an int,
    and 1.0 == 1), and the lab sends integer ids."""
    return type(value) is type(request_id) and value == request_id


def _answering(message: dict[str, Any], request_id: int) -> dict[str, Any]:
    """`message`, the response to `request_id` as JSON-RPC 2.0 §5 writes one, or refused."""
    if "method" in message:
        raise ServerDataRefused(
            f"the answer is a JSON-RPC request ({_member_shown(message, 'method')}), not the response to request "
            f"{request_id} (JSON-RPC 2.0 §4, §5: a Request has a method, a Response has result or error)"
        )
    if not _same_id(message.get("id"), request_id):
        raise ServerDataRefused(
            f"the JSON-RPC response {_member_shown(message, 'id')}, not {request_id}, the request's (JSON-RPC 2.0 §5: "
            "the id MUST be the same as the value of the id member in the Request Object)"
        )
    if type(message.get("jsonrpc")) is not str or message["jsonrpc"] != "2.0":
        raise ServerDataRefused(
            f'the JSON-RPC response {_member_shown(message, "jsonrpc")}, not "2.0" (JSON-RPC 2.0 §5: jsonrpc MUST be '
            'exactly "2.0")'
        )
    return message


def _member_shown(message: dict[str, Any], name: str) -> str:
    """'has id true', 'has id "1"', 'has no id': a member as JSON writes it (true, not Python's
    True), in ASCII with every control character escaped, and short."""
    if name not in message:
        return f"has no {name}"
    text = json.dumps(message[name])
    return f"has {name} {text if len(text) <= 40 else text[:39] + '…'}"


def session_id(response: httpx.Response) -> str | None:
    """The session an initialize answer opened: its Mcp-Session-Id (MCP Streamable HTTP, "Session
    Management", 2025-03-26 to 2025-11-25), None when the server assigned none. It goes back in a
    header on every later request: one made of anything but visible ASCII (0x21-0x7E, as the
    section says it MUST be) could carry a line end into that header, and is refused."""
    try:
        value = one_field(response.headers.get_list("mcp-session-id"), "Mcp-Session-Id", "MCP Streamable HTTP",
                          carrier="the initialize answer")  # fmt: skip
    except RepeatedField as repeated:
        raise ServerDataRefused(str(repeated)) from None
    if value is not None and not _SESSION_ID.fullmatch(value):
        raise ServerDataRefused(
            f"the initialize answer's Mcp-Session-Id {shown(value)} is not all visible ASCII (MCP Streamable HTTP, "
            "Session Management: the session ID MUST only contain visible ASCII characters, 0x21 to 0x7E)"
        )
    return value


def json_rpc_response(response: httpx.Response, request_id: int, version: str = PROTOCOL_VERSION) -> dict[str, Any]:
    """The JSON-RPC response to `request_id`: a Streamable HTTP server answers a POST either with
    application/json or with a text/event-stream whose events carry JSON-RPC messages, read as the
    WHATWG HTML Standard §9.2.6 says (`server_sent_events`). The stream was read within the
    client's limit (`server_data.receive`), up to the event that carries the response (`response_watch`).
    `version`: the protocol version the server answers in; at 2025-03-26 a batch may carry the response."""
    # RFC 9110 §8.3.1: the type and subtype are case-insensitive, and a media type is the whole
    # of them: a prefix test took `text/event-streamx` for a stream and `Text/Event-Stream` for JSON.
    # One Content-Type (RFC 9110 §5.3, §8.3): httpx joins two lines with ", ", no media type at all,
    # and the answer was read as JSON, whatever either line said.
    try:
        content_type = one_field(
            response.headers.get_list("content-type"), "Content-Type", "§8.3", carrier="the answer"
        )
    except RepeatedField as repeated:
        raise ServerDataRefused(str(repeated)) from None
    if media_type(content_type) != "text/event-stream":
        return _answering(_json_answer(response.content, request_id, version), request_id)
    for event in events(response.content):
        message = _response_in(event, request_id, version)
        if message is not None:
            return _answering(message, request_id)
    raise ValueError(f"the event stream carried no response to request {request_id}")


def _json_answer(content: bytes, request_id: int, version: str) -> dict[str, Any]:
    """An application/json answer: the response, or at 2025-03-26 a batch holding it. That
    revision's transport asks the server for "one JSON object" there, but its basic "Batching"
    asks every implementation to support receiving batches: the lab client reads one here as it
    reads a batch on a stream, the same one way."""
    message = server_json(content, "the JSON-RPC response", rule=_RESPONSE_RULE, expect=None)
    if isinstance(message, dict):
        return message
    if not isinstance(message, list):  # refused, in the words the reader uses for any other type
        return server_json(content, "the JSON-RPC response", rule=_RESPONSE_RULE)
    found = _response_among(message, request_id, version, "the JSON-RPC answer")
    if found is None:
        raise ServerDataRefused(f"the JSON-RPC batch holds no response to request {request_id} (JSON-RPC 2.0 §6)")
    return found
