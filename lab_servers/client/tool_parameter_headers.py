"""MCP 2026-07-28 streamable-http, "Custom Headers from Tool Parameters" (SEP-2243), as the lab
client does it.

A server MAY mark a parameter of a tool's `inputSchema` with `x-mcp-header: "Region"`; "clients
MUST support this feature": every `tools/call` then carries that argument's value in an
`Mcp-Param-Region` header too, so that a gateway can route on it without reading the body, and
the server checks that header and body agree (400, -32020 HeaderMismatch, when they do not).

The client learns each tool's designated parameters from `tools/list` (`read_tools_list`),
where a tool whose annotations break the Schema Extension's constraints is left out ("the client
MUST exclude the invalid tool from the result of tools/list"), and builds a call's headers from
its arguments (`param_headers`), as Value Encoding says.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..rfc9110 import TOKEN
from .revisions import header_value
from .server_data import shown

X_MCP_HEADER = "x-mcp-header"
PARAM_HEADER_PREFIX = "Mcp-Param-"
RULE = "MCP 2026-07-28 streamable-http, Custom Headers from Tool Parameters"
# Schema Extension: the value MUST match RFC 9110's field-name token, `1*tchar` (§5.6.2), which
# has no control characters, CR and LF among them.
_TOKEN = re.compile(TOKEN)
# "MUST only be applied to parameters with primitive types (integer, string, boolean).
# Parameters with type `number` are not permitted."
_PRIMITIVE_TYPES = ("string", "integer", "boolean")
# JSON Schema members that hold instance values, not subschemas: an "x-mcp-header" key inside a
# `default` or an `enum` is data, not an annotation.
_INSTANCE_VALUES = frozenset({"const", "default", "enum", "examples"})
# The subschemas and values walked to find the annotations: for one tool, and for a whole listing.
# A real inputSchema has tens; a server's hundred tools of 45,000 properties each took 39 s to
# walk. A tool past them is left out, as one whose annotations are invalid: they cannot be checked.
TOOL_SCHEMA_NODES = 10_000
LISTING_SCHEMA_NODES = 100_000

# A tool's designated parameters: the path of `properties` keys to each, and the {Name} of its
# Mcp-Param-{Name} header.
Designated = dict[tuple[str, ...], str]


Annotations = list[tuple[tuple[str, ...] | None, dict[str, Any]]]


class SchemaTooLarge(ValueError):
    """An inputSchema with more subschemas and values than the client walks for it."""


def _annotated(input_schema: Any, limit: int) -> tuple[Annotations, int]:
    """Every subschema carrying `x-mcp-header`, with its path of `properties` keys from the root,
    or None when the chain to it passes through anything else (`items`, `oneOf`, `$defs`, ...);
    and how many subschemas and values were walked, `SchemaTooLarge` past `limit`. Walked with a
    stack: the schema is a server's, however deep."""
    found: Annotations = []
    stack: list[tuple[tuple[str, ...] | None, Any]] = [((), input_schema)]
    walked = 0
    while stack:
        walked += 1
        if walked > limit:
            raise SchemaTooLarge(
                f"its inputSchema has more than {limit:,} subschemas and values, more than the lab client walks "
                "to check its x-mcp-header annotations"
            )
        path, schema = stack.pop()
        if isinstance(schema, list):
            stack.extend((None, item) for item in schema)
            continue
        if not isinstance(schema, dict):
            continue
        if X_MCP_HEADER in schema:
            found.append((path, schema))
        for key, value in schema.items():
            if key in _INSTANCE_VALUES:
                continue
            if key == "properties" and isinstance(value, dict):
                stack.extend((None if path is None else (*path, name), sub) for name, sub in value.items())
            else:
                stack.append((None, value))
    return found, walked


def designated_parameters(input_schema: Any, limit: int = TOOL_SCHEMA_NODES) -> Designated:
    """The tool's designated parameters; a ValueError naming the constraint an annotation breaks
    (Schema Extension: "Clients using the Streamable HTTP transport MUST reject tool definitions
    where any x-mcp-header value violates these constraints"), or that the schema is too large
    to check within `limit` subschemas and values."""
    return _checked(_annotated(input_schema, limit)[0])


def _checked(annotated: Annotations) -> Designated:
    """The designated parameters of the `annotated` subschemas, or the ValueError of the first
    that breaks a constraint of the Schema Extension."""
    designated: Designated = {}
    seen: dict[str, str] = {}
    for path, schema in annotated:
        name = schema[X_MCP_HEADER]
        if not path:
            where = "the schema's root" if path == () else "a subschema"
            raise ValueError(
                f"{X_MCP_HEADER} on {where} is not on a property reached from the root through `properties` alone"
            )
        where = shown(".".join(path))  # the server's names, quoted short
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"{X_MCP_HEADER} of property {where} is not an HTTP field-name token (RFC 9110 §5.6.2)")
        if schema.get("type") not in _PRIMITIVE_TYPES:
            raise ValueError(f"{X_MCP_HEADER} of property {where} is not on an integer, string or boolean parameter")
        if name.lower() in seen:
            raise ValueError(f"{X_MCP_HEADER} {shown(name)} of property {where} repeats that of {seen[name.lower()]}")
        seen[name.lower()] = where
        designated[path] = name
    return designated


def read_tools_list(
    result: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Designated], dict[str, str], list[str]]:
    """A tools/list result without the tools whose annotations are invalid; the designated
    parameters of each tool kept, by name; why each tool left out was; and the names listed more
    than once. A tool's name is how a call names it, and "SHOULD be unique within a server" (MCP
    server/tools, Tool Names): a name listed again is its first definition's, in the result and
    its designations alike (the SDK's server checks a call's headers against its first tool of
    that name), and the later ones are left out. A tool whose schema is past what the client walks
    for one tool (`TOOL_SCHEMA_NODES`), or that comes after the tools that took what it walks in a
    listing (`LISTING_SCHEMA_NODES`), is left out too: its annotations cannot be checked."""
    tools = result.get("tools")
    if not isinstance(tools, list):
        return result, {}, {}, []  # refused by name where the result is read (mcp_step)
    kept: list[Any] = []
    designations: dict[str, Designated] = {}
    rejected: dict[str, str] = {}
    repeated: list[str] = []
    left = LISTING_SCHEMA_NODES
    for tool in tools:
        name = tool.get("name") if isinstance(tool, dict) else None
        if not isinstance(name, str):
            kept.append(tool)  # no tool at all: refused by name where the result is read (mcp_step)
            continue
        if name in designations or name in rejected:
            if name not in repeated:
                repeated.append(name)
            continue
        limit = min(TOOL_SCHEMA_NODES, left)
        try:
            annotated, walked = _annotated(tool.get("inputSchema"), limit)
            left -= walked
            designations[name] = _checked(annotated)
        except SchemaTooLarge as too_large:
            left -= limit
            rejected[name] = str(too_large) if limit == TOOL_SCHEMA_NODES else (
                f"the tools listed before it have the {LISTING_SCHEMA_NODES:,} subschemas and values the lab client "
                "walks in one listing to check x-mcp-header annotations"
            )  # fmt: skip
            continue
        except ValueError as invalid:
            rejected[name] = str(invalid)
            continue
        kept.append(tool)
    return {**result, "tools": kept}, designations, rejected, repeated


def param_headers(designated: Designated, arguments: Any) -> dict[str, str]:
    """Client Behavior, steps 3-5: the value at each designated parameter's path, encoded, as
    `Mcp-Param-{Name}`. A value that is absent or null has no header ("Client MUST omit")."""
    headers = {}
    for path, name in designated.items():
        text = _as_text(_value_at(arguments, path))
        if text is not None:
            headers[f"{PARAM_HEADER_PREFIX}{name}"] = header_value(text)
    return headers


def _value_at(arguments: Any, path: tuple[str, ...]) -> Any:
    """Header extraction: "the instance value at the exact property path"; None where there is none."""
    for key in path:
        if not isinstance(arguments, dict):
            return None
        arguments = arguments.get(key)
    return arguments


def _as_text(value: Any) -> str | None:
    """Value Encoding, "Type conversion": a string as is, an integer in decimal, a boolean as
    `true` or `false`. An object or an array has no header form, and is not mirrored."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 42.0 is the integer 42 (JSON has one number type)
    if isinstance(value, int | float):
        return json.dumps(value)
    return value if isinstance(value, str) else None
