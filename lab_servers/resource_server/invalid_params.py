"""-32602 Invalid params in one sentence: which param, and what the MCP schema says it must be.

The SDK (2.3.0) validates a request's params against its revision's MCP schema (`mcp_types`,
the SDK's own) and answered a failure in two ways, neither naming a rule: "Invalid request
parameters" with `data` "" (tools/call `arguments: []`, tools/list `cursor: 5`, logging/setLevel
`level: "nope"`), and for prompts/get, whose failures reach its error handler as a ValueError,
pydantic's whole validation dump, several lines and a URL. JSON-RPC 2.0 §5.1: the message "SHOULD
be limited to a concise single sentence". Here it names the first param in error, the schema's
type for it, and the schema type it belongs to: "params.arguments must be an object (MCP schema
GetPromptRequest)". A tool's arguments, which its own model (its inputSchema) judges, are told the
same way in the tool error the SDK makes of them (`tools.NotesServer.call_tool`).
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from mcp_types.methods import CLIENT_REQUESTS
from pydantic import BaseModel, ValidationError

# pydantic's error types (its `type`), as the JSON value the schema asks for.
_EXPECTED = {
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
    "list_type": "an array",
    "tuple_type": "an array",
    "none_required": "null",
}
_JSON_TYPES: dict[Any, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "an array",
    type(None): "null",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What an error may quote of the request: a method, tool, prompt or resource name is short (MCP
# tool names SHOULD be 1 to 128 characters, server/tools "Tool names"), so more is a stranger's.
MAX_ECHOED_CHARS = 200
# A member name quoted in an error: the schema's are short, a stranger's argument name need not be.
# Counted as the message spells it, escapes included: cut before json.dumps, 64 NULs came out as
# 384 characters ("\u0000" each), and the sentence ran past 500.
MAX_NAME_CHARS = 64
# And a whole path, however many of a stranger's keys it names: within what an error may quote,
# with room left in the sentence for the rule.
MAX_PATH_CHARS = MAX_ECHOED_CHARS * 2 // 3


def invalid_params_rule(method: str, version: str, error: ValidationError) -> str:
    """What is wrong with a request's params, as one sentence naming the param and the rule."""
    model, prefix = _schema_of(error.title, CLIENT_REQUESTS.get((method, version)))
    return f"{_what_is_wrong(error, model, prefix)} (MCP schema {error.title})"


def invalid_arguments_rule(tool: str, model: type[BaseModel] | None, error: ValidationError) -> str:
    """The same for a tool's arguments, which the tool's own model (its inputSchema) judges."""
    return f"{_what_is_wrong(error, model, ('arguments',))} (the inputSchema of tool {tool})"


def _what_is_wrong(error: ValidationError, model: Any, prefix: tuple[str, ...]) -> str:
    """The first member in error and what the schema says it must be; how many more there are."""
    clauses: dict[str, str] = {}
    for detail in error.errors(include_url=False):
        path, union, annotation = _field_path(model, detail["loc"])
        clauses.setdefault(_spelled((*prefix, *path)), union or _expectation(detail, annotation))
    if not clauses:
        return f"{_spelled(prefix)} do not fit the schema"
    (where, what), *others = clauses.items()
    more = f", and {len(others)} more member{'s' if len(others) > 1 else ''} the schema refuses" if others else ""
    return f"{where} {what}{more}"


def _schema_of(title: str, request: type[BaseModel] | None) -> tuple[Any, tuple[str, ...]]:
    """The schema model whose members the error's locations name, and what the locations leave
    out: the whole request (`params.arguments`), as the SDK's first check reads it; its params
    alone (`arguments`), as a handler's model reads them; or, from another model, nothing known."""
    if request is not None and title == request.__name__:
        return request, ()
    if request is not None and title == f"{request.__name__}Params":
        return request.model_fields["params"].annotation, ("params",)
    return None, ("params",)


def _field_path(model: Any, loc: Sequence[int | str]) -> tuple[list[str | int], str | None, Any]:
    """The error's location as the schema's member names; when it lies under a union, what the
    union takes (pydantic puts the member it tried in the location, `progressToken.str`,
    `ref.PromptReference.name`: no param of that name, so the path stops at the union); and the
    schema's annotation there (None when the schema is not known)."""
    path: list[str | int] = []
    current = model
    for segment in loc:
        current = _without_none(current)
        members = _union_members(current)
        if members:
            return path, "must be " + " or ".join(_json_type(member) for member in members), current
        path.append(segment)
        current = _member(current, segment)
    return path, None, current


def _member(annotation: Any, segment: int | str) -> Any:
    """The annotation of `segment` within `annotation`, or None when the schema says nothing."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            if segment in (name, field.alias):
                return field.annotation
        return None
    arguments = typing.get_args(annotation)
    if typing.get_origin(annotation) is dict and len(arguments) == 2:
        return arguments[1]
    if typing.get_origin(annotation) is list and arguments:
        return arguments[0]
    return None


def _without_none(annotation: Any) -> Any:
    members = _union_members(annotation, keep_none=True)
    rest = [member for member in members if member is not type(None)]
    return rest[0] if members and len(rest) == 1 else annotation


def _union_members(annotation: Any, keep_none: bool = False) -> tuple[Any, ...]:
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return ()
    members = typing.get_args(annotation)
    return members if keep_none else tuple(member for member in members if member is not type(None))


def _json_type(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        values = [json.dumps(value) for value in typing.get_args(annotation)]
        return values[0] if len(values) == 1 else f"one of {', '.join(values)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        name = annotation.__name__  # the schema's own name for the object
        return f"{'an' if name[:1] in tuple('AEIOU') else 'a'} {name}"
    return _JSON_TYPES.get(typing.get_origin(annotation) or annotation, str(annotation))


def _expectation(detail: Any, annotation: Any) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "is required"
    if typing.get_origin(annotation) is typing.Literal:
        return f"must be {_json_type(annotation)}"  # as JSON spells the values: "debug", not 'debug'
    if kind in ("literal_error", "enum") and "expected" in detail.get("ctx", {}):
        return f"must be {detail['ctx']['expected']}"
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}"
    message = str(detail["msg"])  # pydantic's own words, for a constraint: "String should have at most 5 characters"
    return f"is invalid: {message[:1].lower()}{message[1:]}"


def _spelled(path: Sequence[str | int]) -> str:
    """`params.arguments`, `params._meta["io.modelcontextprotocol/protocolVersion"]`, `items[0]`:
    a name as it reads in code, any other key (a stranger's argument name) quoted, and cut: each
    name to MAX_NAME_CHARS and the path to MAX_PATH_CHARS, as written in the message."""
    spelled = ""
    for segment in path:
        if isinstance(segment, int):
            part = f"[{segment}]"
        elif _NAME.fullmatch(segment):
            name = segment if len(segment) <= MAX_NAME_CHARS else f"{segment[:MAX_NAME_CHARS]}…"
            part = f".{name}" if spelled else name
        else:
            part = f"[{_quoted(segment)}]"
        if len(spelled) + len(part) > MAX_PATH_CHARS:
            return f"{spelled}…"
        spelled += part
    return spelled


def _quoted(key: str) -> str:
    """`key` as a JSON string, cut to MAX_NAME_CHARS of that string (an ellipsis after the quote
    says what follows was left out): a NUL is six characters there, an "é" six, an "a" one."""
    quoted = json.dumps(key)
    if len(quoted) <= MAX_NAME_CHARS:
        return quoted
    kept, length = "", 2
    for character in key:
        length += len(json.dumps(character)) - 2
        if length > MAX_NAME_CHARS - 1:
            break
        kept += character
    return f"{json.dumps(kept)}…"
