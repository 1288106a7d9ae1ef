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
from collections.abc import Sequence
from typing import Any

import httpx

from ..error_text import told
from ..revisions import (
    CLIENT_CAPABILITIES_META,
    CLIENT_INFO_META,
    HANDSHAKE_VERSIONS,
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


def supported_versions(error: dict[str, Any]) -> list[str] | None:
    """The versions a modern error's data.supported lists (-32022's UnsupportedProtocolVersionError
    data), or None when it lists none: a server's list, used only as the strings it must be."""
    supported = error["data"].get("supported") if isinstance(error.get("data"), dict) else None
    if not isinstance(supported, list) or not all(isinstance(version, str) for version in supported):
        return None
    return supported


def initialize_fallback(response: httpx.Response, by_initialize: Sequence[str], legacy_400: str) -> str | None:
    """Why a 2026-07-28 client goes back to initialize after `response` to a modern request, or
    None when it does not: a 400 that is no modern error is a legacy server's (versioning §4,
    said as `legacy_400`); a -32022 listing versions the client speaks by initialize names a
    version both speak: basic/versioning, Version Negotiation, "The client SHOULD select a
    mutually supported version from the supported list and retry the request"."""
    if response.status_code != 400:
        return None
    error = modern_error(response)
    if error is None:
        return legacy_400
    listed = set(supported_versions(error) or ()) if error["code"] == UNSUPPORTED_PROTOCOL_VERSION else set()
    # The client's own versions that the list names, each once: named in the list's order, a
    # version repeated 70,000 times went whole into the note (840 kB), and the step card with it.
    mutual = [version for version in by_initialize if version in listed]
    if not mutual:
        return None
    return (
        f"the server answered -32022 and supports MCP {', '.join(mutual)}, which this client speaks by initialize: "
        "falling back to initialize (2026-07-28 basic/versioning: the client SHOULD select a mutually supported "
        "version and retry)"
    )


def describe_modern_error(error: dict[str, Any], client_version: str, by_initialize: Sequence[str] = ()) -> str:
    """A step error's reason that names the revision mismatch: the versions the server speaks, and
    the ones this client speaks: `client_version` and, for a 2026-07-28 client, `by_initialize`."""
    supported = supported_versions(error)
    if not supported and by_initialize and error.get("code") == UNSUPPORTED_PROTOCOL_VERSION:
        # A 2026-07-28 request refused for its version: 2026-07-28 is the one version not spoken.
        speaks = "it names no version it supports (no data.supported)"
    else:
        listed = supported or ["2026-07-28"]  # a modern error names a server from 2026-07-28 on
        # The list is the server's words too: quoted within bounds (error_text.told), as its
        # message is: a 500 kB version string went whole into the StepError and expect_failure's line.
        speaks = f"it speaks MCP {told(', '.join(listed))}"
        if not any(version in HANDSHAKE_VERSIONS for version in listed):
            speaks += " (no initialize; MCP-Protocol-Version on every request)"
    client = f"only {client_version}"
    if by_initialize:
        client = f"{client_version} and, by initialize, {', '.join(by_initialize)}"
    return (
        f"the server answered {error.get('code')} ({told(error.get('message'))}): {speaks}, and this client speaks "
        f"{client} (2026-07-28 basic/versioning §4)"
    )
