"""JSON-RPC 2.0 as MCP uses it: what a message must be (§4, §5), and the error object (§5.1).

The SDK (2.3.0) reads a POSTed message as the first of its pydantic models that validates, in
the order request, notification, response, error. A request whose `id` it does not take (an
object, an array, `true`, `null`, `1.5`) fails the request model and passes the notification
model, which ignores members it does not know: on the initialize-era path the server answered
202 and the request was never answered. Any other envelope it could not read came back as
-32602 Invalid params, with pydantic's whole validation dump as the message.

So the lab reads the envelope first, with a few lookups in the message it has already parsed,
and answers one that is not a JSON-RPC message with the error §5.1 names and a message naming
the rule, on every revision (the 2026-07-28 path of the SDK refuses the same ones, with -32600
and one sentence for all of them).
"""

from __future__ import annotations

import enum
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from ..error_text import cut_middle
from .invalid_params import MAX_ECHOED_CHARS, invalid_params_rule

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
_NAMES = {PARSE_ERROR: "Parse error", INVALID_REQUEST: "Invalid Request", INVALID_PARAMS: "Invalid params"}

RequestId = str | int


class NoId(enum.Enum):
    """An error answering a notification or a response: it has no `id` member at all."""

    NO_ID = "no id"


NO_ID = NoId.NO_ID


def is_request_id(value: Any) -> bool:
    """MCP basic "Requests": a request MUST include a string or integer ID, which, unlike base
    JSON-RPC (§4: a String, Number or Null), MUST NOT be null. `true` is no integer, nor is a
    number written with a fraction or an exponent (`1.0`, `1e2`): the SDK takes neither."""
    return isinstance(value, str) or _is_integer(value)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def request_id(message: Any) -> RequestId | None:
    """The id an error answers with: the request's, or null when it has none to echo (§5).
    A response's id names a request of the server's own, so an error about it is no answer to it."""
    if not isinstance(message, dict) or "result" in message or "error" in message:
        return None
    value = message.get("id")
    return value if is_request_id(value) else None


def answer_id(message: Any) -> RequestId | NoId | None:
    """The id of an error answering `message`: the request's; none at all for a notification or a
    response, which have none to answer (MCP Streamable HTTP, "Sending Messages": a server that
    cannot accept one returns an HTTP error whose body MAY be "a JSON-RPC error response that has
    no `id`"; schema 2025-11-25 on, JSONRPCErrorResponse: `id?: RequestId`, no null); null when
    an id could not be read (JSON-RPC 2.0 §5: "it MUST be Null")."""
    if isinstance(message, dict) and message.get("jsonrpc") == "2.0":
        notification = "method" in message and "id" not in message and "result" not in message
        if (notification and "error" not in message) or is_response(message):
            return NO_ID
    return request_id(message)


def is_response(message: dict[str, Any]) -> bool:
    """A response object (JSON-RPC 2.0 §5): a result or an error, and no method."""
    return "method" not in message and ("result" in message or "error" in message)


def error_object(id_: RequestId | NoId | None, code: int, message: str, data: Any = None) -> dict[str, Any]:
    # §5.1: "The message SHOULD be limited to a concise single sentence"; the refusals quote what
    # was sent (a Host, an Origin, a Content-Type), cut as every lab server cuts a description.
    error: dict[str, Any] = {"code": code, "message": cut_middle(message)}
    if data is not None:
        error["data"] = data
    if id_ is NO_ID:
        return {"jsonrpc": "2.0", "error": error}
    return {"jsonrpc": "2.0", "id": id_, "error": error}


def error_response(
    id_: RequestId | NoId | None,
    code: int,
    message: str,
    status: int = 400,
    headers: dict[str, str] | None = None,
    data: Any = None,
) -> Response:
    """A JSON-RPC error object as the whole HTTP answer (400 unless said otherwise: MCP Streamable
    HTTP, "the server MUST return an HTTP error status code (e.g., 400 Bad Request)")."""
    return JSONResponse(error_object(id_, code, message, data), status, headers=headers)


def problem(message: Any) -> tuple[int, str] | None:
    """None for a well-formed request, notification or response; else the §5.1 code and the rule."""
    if not isinstance(message, dict):
        return INVALID_REQUEST, "a JSON-RPC message is a JSON object (JSON-RPC 2.0 §4)"
    if message.get("jsonrpc") != "2.0":
        return INVALID_REQUEST, 'a JSON-RPC message has "jsonrpc": "2.0", exactly (JSON-RPC 2.0 §4)'
    if "method" in message and ("result" in message or "error" in message):
        # The SDK picks whichever of its models fits best, and read such a request as a response.
        return (
            INVALID_REQUEST,
            "a message is a request (with a method) or a response (with a result or an error), never both (JSON-RPC 2.0 §4, §5)",
        )
    if "method" in message:
        return _request_problem(message)
    if "result" in message or "error" in message:
        return _response_problem(message)
    return INVALID_REQUEST, (
        "a JSON-RPC message is a request or notification (with a method) or a response (with a result "
        "or an error) (JSON-RPC 2.0 §4, §5)"
    )


def _request_problem(message: dict[str, Any]) -> tuple[int, str] | None:
    if "id" in message and not is_request_id(message["id"]):
        return INVALID_REQUEST, (
            "a request's id MUST be a string or an integer, and MUST NOT be null (MCP basic, Requests; "
            f"JSON-RPC 2.0 §4); this one is {_kind(message['id'])}"
        )
    if not isinstance(message["method"], str):
        return INVALID_REQUEST, f'"method" is a string (JSON-RPC 2.0 §4); this one is {_kind(message["method"])}'
    params = message.get("params")
    if params is None or isinstance(params, dict):
        return None  # null is taken as no params, as the SDK takes it
    if isinstance(params, list):
        # A valid JSON-RPC request (§4.2: by position), but every MCP method takes its
        # parameters by name: the parameters are what is wrong, not the request.
        return (
            INVALID_PARAMS,
            "MCP methods take their parameters by name: params is an object (MCP schema; JSON-RPC 2.0 §4.2)",
        )
    return (
        INVALID_REQUEST,
        f"params, when present, is a structured value (JSON-RPC 2.0 §4.2); this one is {_kind(params)}",
    )


def _response_problem(message: dict[str, Any]) -> tuple[int, str] | None:
    if "result" in message and "error" in message:
        return INVALID_REQUEST, "a response has a result or an error, never both (JSON-RPC 2.0 §5)"
    if "error" in message:
        # §5: an error's id is null when the request's could not be read; the member is REQUIRED.
        if "id" not in message or not (message["id"] is None or is_request_id(message["id"])):
            return (
                INVALID_REQUEST,
                "an error response carries the id of the request it answers, or null (JSON-RPC 2.0 §5)",
            )
        error = message["error"]
        if not (isinstance(error, dict) and _is_integer(error.get("code")) and isinstance(error.get("message"), str)):
            return (
                INVALID_REQUEST,
                "an error is an object with an integer code and a string message (JSON-RPC 2.0 §5.1)",
            )
        return None
    if not is_request_id(message.get("id")):
        return (
            INVALID_REQUEST,
            "a response carries the id of the request it answers: a string or an integer (JSON-RPC 2.0 §5)",
        )
    if not isinstance(message["result"], dict):
        return INVALID_REQUEST, "an MCP result is a JSON object (MCP schema, Result)"
    return None


def invalid_message(message: Any) -> Response | None:
    """None when `message` is a JSON-RPC message; else 400 with its error, naming the rule."""
    found = problem(message)
    if found is None:
        return None
    code, rule = found
    return error_response(answer_id(message), code, describe(code, rule))


def describe(code: int, rule: str) -> str:
    """The message of an error: its §5.1 name, then the rule."""
    return f"{_NAMES[code]}: {rule}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number written with a fraction or an exponent"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def bounded(text: str) -> str:
    """`text` as an error may quote it: whole up to MAX_ECHOED_CHARS, else its head and its length."""
    if len(text) <= MAX_ECHOED_CHARS:
        return text
    return f"{text[:MAX_ECHOED_CHARS]}[... {len(text)} characters in all]"


def _bounded_data(value: Any) -> Any:
    if isinstance(value, str):
        return bounded(value)
    if isinstance(value, dict):
        return {key: _bounded_data(item) for key, item in value.items()}
    return [_bounded_data(item) for item in value] if isinstance(value, list) else value


async def bounded_echoes(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """SDK middleware for the refusals the SDK writes itself, which quote the request whole: the
    method in a -32601's `data` (a 100 KB method name came back whole), a resource's URI in a
    -32602's `message` and `data`, an unknown tool's name in its -32602 (tools.py). Each quote is cut
    to MAX_ECHOED_CHARS (JSON-RPC 2.0 §5.1: the `message` is "a short description", `data`
    "additional information"). And an unknown prompt, which the SDK answered with code 0 (no
    JSON-RPC code) and logged as a crash, is -32602 Invalid params (MCP server/prompts, "Error
    Handling": invalid prompt name). Params the MCP schema refuses are -32602 too, as the SDK
    answers them, but in one sentence naming the param and the rule (`invalid_params`): the SDK
    said "Invalid request parameters" and nothing more, and for prompts/get, whose ValueError
    handler caught them, quoted pydantic's whole validation dump."""
    try:
        result = await call_next(ctx)
    except MCPError as error:
        raise MCPError(error.code, bounded(error.message), _bounded_data(error.data)) from None
    except ValidationError as error:  # a ValueError too: before the prompts/get handler below
        rule = invalid_params_rule(ctx.method, ctx.protocol_version, error)
        raise MCPError(INVALID_PARAMS, describe(INVALID_PARAMS, rule)) from None
    except ValueError as error:
        if ctx.method != "prompts/get":
            raise
        raise MCPError(INVALID_PARAMS, bounded(str(error))) from None
    if ctx.method == "tools/call" and isinstance(result, dict) and result.get("isError") is True:
        return {**result, "content": _bounded_data(result.get("content"))}
    return result
