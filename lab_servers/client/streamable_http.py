"""The MCP Streamable HTTP transport, as the lab client speaks it (MCP basic/transports).

Every JSON-RPC message is a POST to the one MCP endpoint. The client accepts both answers a
server may give: a single `application/json` body, or a `text/event-stream` whose events carry
JSON-RPC messages (the lab's server uses the first, the conformance suite's mocks the second).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..rfc9110 import RepeatedField, media_type, one_field
from .server_data import ServerDataRefused, server_json
from .server_sent_events import events

PROTOCOL_VERSION = "2025-11-25"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
# JSON-RPC 2.0 §5: "The Response is expressed as a single JSON Object".
_RESPONSE_RULE = "JSON-RPC 2.0 §5: a JSON object"


def json_rpc_response(response: httpx.Response, request_id: int) -> dict[str, Any]:
    """The JSON-RPC response to `request_id`: a Streamable HTTP server answers a POST either with
    application/json or with a text/event-stream whose events carry JSON-RPC messages, read as the
    WHATWG HTML Standard §9.2.6 says (`server_sent_events`). The stream as a whole was read within
    the client's limit (`server_data.receive`)."""
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
        return server_json(response.content, "the JSON-RPC response", rule=_RESPONSE_RULE)
    for event in events(response.content):
        # MCP 2024-11-05 (HTTP with SSE): "Server messages are sent as SSE `message` events"; the
        # Streamable HTTP transport that replaced it names no other type, and the SDKs read only
        # `message` events. An event the server named otherwise carries no JSON-RPC message.
        if event.type != "message":
            continue
        # MCP 2025-11-25 Streamable HTTP: a server "SHOULD immediately send an SSE event consisting
        # of an event ID and an empty `data` field in order to prime the client to reconnect": no
        # message either.
        if not event.data:
            continue
        # Any JSON-RPC message may come first (a notification, a batch); only the response counts.
        message = server_json(event.data, "an event's JSON-RPC message", rule=_RESPONSE_RULE, expect=None)
        if isinstance(message, dict) and message.get("id") == request_id:
            return message
    raise ValueError(f"the event stream carried no response to request {request_id}")
