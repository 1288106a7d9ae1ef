"""JSON-RPC batches: received at MCP 2025-03-26, refused from 2025-06-18 on.

MCP 2025-03-26 (basic "Batching"): implementations MUST support receiving JSON-RPC batches, and
a Streamable HTTP POST MAY carry one. 2025-06-18 removed them (changelog, PR #416): the body
MUST be a single JSON-RPC message. The SDK takes single messages only, so the lab splits a batch
and hands the SDK one message at a time, after the gate has judged the token and the scopes the
whole batch needs, and answers with the array JSON-RPC 2.0 §6 describes.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope

from ..bounded_json import JsonRejected, parse_json
from .transport import replayed

INVALID_REQUEST, INTERNAL_ERROR = -32600, -32603
# One SDK dispatch per message (about 0.6 ms each): a bound on what one POST can make the server
# do. bounded_json's limit on members would allow 2,000.
MAX_BATCH_MESSAGES = 100
# Versions whose clients may batch: 2025-03-26 itself, and no header at all, which a server of a
# later revision SHOULD take as 2025-03-26 (2025-06-18 transports "Protocol Version Header").
BATCHING_VERSIONS = (None, "2025-03-26")


def batch_refusal(header: str | None, batch: list[Any]) -> Response | None:
    """None when this batch may be served; else 400 with a JSON-RPC Invalid Request (§5.1)."""
    if header not in BATCHING_VERSIONS:
        return _invalid_request(
            f"JSON-RPC batches belong to MCP 2025-03-26 alone (removed in 2025-06-18); at {header} a POST "
            "body MUST be a single JSON-RPC message (Streamable HTTP, Sending Messages to the Server)"
        )
    if not batch:
        return _invalid_request("an empty batch is not a JSON-RPC call (JSON-RPC 2.0 §6)")
    if len(batch) > MAX_BATCH_MESSAGES:
        return _invalid_request(f"this server takes batches of at most {MAX_BATCH_MESSAGES} messages")
    return None


async def serve_batch(app: ASGIApp, scope: Scope, receive: Receive, batch: list[Any]) -> Response:
    """Each message through `app` in turn, in order (so a trace replays byte for byte), and the
    answers as one array: JSON-RPC 2.0 §6 gives notifications no entry, and a batch with no
    entry at all is a 202 with no body (2025-03-26 Streamable HTTP, item 4 of "Sending Messages")."""
    answers = [answer for message in batch if (answer := await _answer(app, scope, receive, message)) is not None]
    return JSONResponse(answers) if answers else Response(status_code=202)


async def _answer(app: ASGIApp, scope: Scope, receive: Receive, message: Any) -> dict[str, Any] | None:
    problem = _malformed(message)
    if problem is not None:
        return _error_entry(_id_of(message), INVALID_REQUEST, f"Invalid Request: {problem}")
    status, body = await _call(app, scope, receive, json.dumps(message).encode())
    if status == 202 or not body:
        return None  # a notification or a response, accepted: no entry
    try:
        answer = parse_json(body, what="the answer")
    except JsonRejected:
        answer = None
    if not isinstance(answer, dict):
        return _error_entry(_id_of(message), INTERNAL_ERROR, f"Internal error: the server answered HTTP {status}")
    return answer


def _malformed(message: Any) -> str | None:
    """What makes `message` no JSON-RPC 2.0 request, notification or response (§4, §5), if anything."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return 'each message in a batch is a JSON-RPC 2.0 object with "jsonrpc": "2.0" (JSON-RPC 2.0 §6)'
    if message.get("method") == "initialize":
        return "the initialize request MUST NOT be part of a JSON-RPC batch (MCP 2025-03-26 lifecycle, Initialization)"
    if not isinstance(message.get("method"), str) and not (
        "id" in message and ("result" in message or "error" in message)
    ):
        return "a message is a request or notification with a method, or a response (JSON-RPC 2.0 §4, §5)"
    return None


def _id_of(message: Any) -> Any:
    """The message's id when it is a valid one (§4: a string, a number or null), else null."""
    value = message.get("id") if isinstance(message, dict) else None
    return value if isinstance(value, str | int | float) and not isinstance(value, bool) else None


def _error_entry(id_: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


def _invalid_request(rule: str) -> Response:
    # JSON-RPC 2.0 §6: a batch that cannot be read as one is answered by a single error object.
    return JSONResponse(_error_entry(None, INVALID_REQUEST, f"Invalid Request: {rule}"), 400)


async def _call(app: ASGIApp, scope: Scope, receive: Receive, body: bytes) -> tuple[int, bytes]:
    """`app`'s status and body for one message POSTed with the batch's own request line and headers."""
    status, chunks = 500, []

    async def capture(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    # A copy of the scope for each message (Starlette's router writes its route into the scope),
    # whose Content-Length is this message's, not the batch's.
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await app({**scope, "headers": headers}, replayed(body, receive), capture)
    return status, b"".join(chunks)
