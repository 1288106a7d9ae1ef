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

from .jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, describe, error_object, problem, request_id
from .transport import replayed

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
    found = _malformed(message)
    if found is not None:
        code, rule = found
        if code == INVALID_PARAMS and "id" not in message:
            # A valid JSON-RPC notification whose params MCP cannot take: not delivered, and not
            # answered either ("The Server MUST NOT reply to a Notification", JSON-RPC 2.0 §4.1).
            return None
        return error_object(request_id(message), code, describe(code, rule))
    status, body = await _call(app, scope, receive, json.dumps(message).encode())
    if status == 202 or not body:
        return None  # a notification or a response, accepted: no entry
    # The SDK's own answer, not a stranger's bytes: read whole, as a single message's is passed on
    # unread. Read within the bounded parser's limits for strangers, an answer past them (an id of
    # 9,000 characters the request was allowed, 40 notes listed) became -32603 for a call that ran.
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return error_object(request_id(message), INTERNAL_ERROR, f"Internal error: the server answered HTTP {status}")
    return answer


def _malformed(message: Any) -> tuple[int, str] | None:
    """What makes `message` no JSON-RPC 2.0 request, notification or response (§4, §5), or no
    message a batch may carry, if anything: its §5.1 code and the rule."""
    if isinstance(message, dict) and message.get("method") == "initialize":
        rule = "the initialize request MUST NOT be part of a JSON-RPC batch (MCP 2025-03-26 lifecycle, Initialization)"
        return INVALID_REQUEST, rule
    return problem(message)


def _invalid_request(rule: str) -> Response:
    # JSON-RPC 2.0 §6: a batch that cannot be read as one is answered by a single error object.
    return JSONResponse(error_object(None, INVALID_REQUEST, describe(INVALID_REQUEST, rule)), 400)


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
