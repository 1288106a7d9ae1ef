"""How the lab client speaks Streamable HTTP in each era (MCP 2026-07-28 basic/transports §6-§7,
basic/versioning §2 and §4), and how it reads a server's answer to tell the eras apart.

Up to 2025-11-25 a connection starts with `initialize`, and `MCP-Protocol-Version` (2025-06-18 on)
carries the negotiated version afterwards. From 2026-07-28 there is no `initialize` (SEP-2575):
every request is self-contained, its `params._meta` carries the protocol version, the client's
capabilities and (SHOULD) its info, and every POST carries `MCP-Protocol-Version`, `Mcp-Method`
and, for `tools/call` / `prompts/get` / `resources/read`, `Mcp-Name` (SEP-2243).

A dual-era client (versioning §4) sends a modern request first; a 400 whose body is one of the
modern errors means a modern server, anything else means a legacy one, and it falls back to
`initialize`.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from ..error_text import told
from ..revisions import (
    CLIENT_CAPABILITIES_META,
    CLIENT_INFO_META,
    HEADER_MISMATCH,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    NAME_BEARING,
    PLAIN_HEADER_VALUE,
    PROTOCOL_VERSION_META,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from .server_data import ServerDataRefused, server_json

MODERN_ERRORS = {HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION}


def header_value(value: str) -> str:
    """SEP-2243: a value that would not survive an HTTP field travels as `=?base64?…?=`."""
    if PLAIN_HEADER_VALUE.fullmatch(value) and not value.startswith("=?base64?"):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode()}?="


def modern_message(message: dict[str, Any], version: str, client_info: dict[str, Any]) -> dict[str, Any]:
    """The request with the `_meta` triple every 2026-07-28 request carries."""
    params = dict(message.get("params") or {})
    params["_meta"] = {
        **(params.get("_meta") or {}),
        PROTOCOL_VERSION_META: version,
        CLIENT_CAPABILITIES_META: {},
        CLIENT_INFO_META: client_info,
    }
    return {**message, "params": params}


def modern_headers(message: dict[str, Any], version: str) -> dict[str, str]:
    """MCP-Protocol-Version, Mcp-Method and (for name-bearing methods) Mcp-Name."""
    headers = {"MCP-Protocol-Version": version, "Mcp-Method": message["method"]}
    name_param = NAME_BEARING.get(message["method"])
    if name_param is not None:
        headers["Mcp-Name"] = header_value(str((message.get("params") or {}).get(name_param, "")))
    return headers


def modern_error(response: httpx.Response) -> dict[str, Any] | None:
    """The JSON-RPC error of a 400 when it is one only a 2026-07-28 server sends, else None."""
    if response.status_code != 400:
        return None
    try:
        body = server_json(response.content, "the 400's body", rule="JSON-RPC 2.0 §5", expect=None)
    except ServerDataRefused:
        return None  # not JSON the client reads, so not a modern error: a legacy server's 400
    error = body.get("error") if isinstance(body, dict) else None
    # isinstance first: `in` a set hashes the code, and a JSON array is unhashable (TypeError).
    if isinstance(error, dict) and isinstance(error.get("code"), int) and error["code"] in MODERN_ERRORS:
        return error
    return None


def describe_modern_error(error: dict[str, Any], client_version: str) -> str:
    """A step error's reason that names the revision mismatch."""
    supported = (error.get("data") or {}).get("supported") if isinstance(error.get("data"), dict) else None
    if not isinstance(supported, list) or not all(isinstance(version, str) for version in supported):
        supported = None  # a server's list shown to the user: only as the strings it must be
    return (
        f"the server answered {error.get('code')} ({told(error.get('message'))}): it speaks MCP "
        f"{', '.join(supported) if supported else '2026-07-28'} (no initialize; MCP-Protocol-Version on every "
        f"request), and this client speaks only {client_version} (2026-07-28 basic/versioning §4)"
    )
