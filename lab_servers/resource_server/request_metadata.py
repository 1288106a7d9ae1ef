"""MCP 2026-07-28 Streamable HTTP "Request Metadata": the headers that mirror a request's body.

A 2026-07-28 request states its routing twice, in the body and in `MCP-Protocol-Version`,
`Mcp-Method` and `Mcp-Name` (SEP-2243), so that a load balancer can route on the headers; the
server "MUST reject requests where the values specified in the headers do not match the
corresponding values in the request body" (§Server Validation), with 400 and -32020
HeaderMismatch. The SDK (2.3.0) compares them on its 2026-07-28 path, and the lab keeps three
cases it lets through:

- its era routing reads the header alone, so a request whose `_meta` says 2026-07-28 but whose
  header is missing or names an initialize-era version went the initialize way and was served
  (200): the header and the body disagree, which §Protocol Version Header makes a HeaderMismatch.
  The `io.modelcontextprotocol/` prefix is reserved, so no initialize-era request carries the key;
- it compares the values only after decoding them, so a raw `Mcp-Name` with a byte outside
  printable ASCII (read as Latin-1: `café` in ISO-8859-1 matched the body's `café`) or a control
  character was served: a value a client "MUST" send as `=?base64?…?=` (§Value Encoding), and
  "a header value contains invalid characters" is a validation failure (§Server Validation);
- the same held for a tool's `Mcp-Param-{Name}` headers (§Custom Headers from Tool Parameters),
  which the SDK compares with the arguments the same way: "Servers MUST reject requests with a
  recognized Mcp-Param-{Name} header that contains invalid characters" (§Server Behavior for
  Custom Headers). Recognized is what the SDK compares: a header an `x-mcp-header` of the called
  tool's inputSchema names, the schema valid (its `find_invalid_x_mcp_header`); any other
  `Mcp-Param-*` is not recognized, and ignored, as an intermediary "MUST forward it and otherwise
  ignore it". The base64 form (padded, canonical, UTF-8) the SDK checks itself, as for `Mcp-Name`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mcp.shared.inbound import find_invalid_x_mcp_header, x_mcp_header_map
from starlette.responses import Response

from ..revisions import HEADER_MISMATCH, NAME_BEARING, PLAIN_HEADER_VALUE, PROTOCOL_VERSION_META
from ..rfc9110 import RepeatedField, field_values, one_field
from .jsonrpc import INVALID_REQUEST, NoId, RequestId, bounded, error_response

_MIRRORED = {b"mcp-method": "Mcp-Method", b"mcp-name": "Mcp-Name"}
# The called tool's inputSchema (None: no such tool), which says which Mcp-Param-* it recognizes.
InputSchema = Callable[[str], Mapping[str, Any] | None]


def header_mismatch(
    headers: list[tuple[bytes, bytes]], message: Any, request_id: RequestId | None, input_schema: InputSchema
) -> Response | None:
    """None when the request's mirrored headers may be compared with its body; else 400 -32020."""
    rule = _mismatch_rule(headers, message, input_schema)
    return None if rule is None else _mismatch(request_id, rule)


def batch_header_mismatch(
    headers: list[tuple[bytes, bytes]], batch: list[Any], input_schema: InputSchema
) -> Response | None:
    """A batch's headers are each of its messages' (the SDK gets them one at a time, under the
    batch's headers): the first message its headers disagree with refuses the whole POST, 400
    -32020 (§Protocol Version Header: "reject the request"), with a null id, as JSON-RPC 2.0 §6
    answers a batch refused as a whole. Judged on the whole body alone, a batch was never
    compared: a message whose _meta said 2026-07-28, POSTed with no header, was served."""
    for number, message in enumerate(batch, 1):
        rule = _mismatch_rule(headers, message, input_schema)
        if rule is not None:
            return _mismatch(None, f"message {number} of the batch: {rule}")
    return None


def _mismatch_rule(headers: list[tuple[bytes, bytes]], message: Any, input_schema: InputSchema) -> str | None:
    """How the request's mirrored headers disagree with `message`'s body, or None."""
    if not isinstance(message, dict) or "id" not in message:
        return None  # "header requirements for notification POSTs are not defined by this revision"
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict) or PROTOCOL_VERSION_META not in meta:
        return None  # an initialize-era request: nothing in its body to mirror
    versions = [v.decode("latin-1") for k, v in headers if k.lower() == b"mcp-protocol-version"]
    if versions != [meta[PROTOCOL_VERSION_META]]:
        # §Protocol Version Header: "The header value MUST match the io.modelcontextprotocol/
        # protocolVersion field carried in the request body's _meta. If the values do not match,
        # the server MUST reject the request with 400 Bad Request and a HeaderMismatch".
        sent = (
            f"MCP-Protocol-Version {bounded(versions[0])!r}"
            if len(versions) == 1
            else "no MCP-Protocol-Version headers"
            if not versions
            # two lines of a header that names one version are none (RFC 9110 §5.3)
            else f"{len(versions)} MCP-Protocol-Version headers, where it is sent once (RFC 9110 §5.3)"
        )
        return (
            f"the request's _meta says protocol version {bounded(repr(meta[PROTOCOL_VERSION_META]))} and it sent {sent}; the header MUST match "
            "the _meta version (MCP 2026-07-28 streamable-http, Protocol Version Header)"
        )
    for name, spelled in _MIRRORED.items():
        lines = field_values(headers, name)
        if len(lines) > 1:
            # A header that mirrors the body names one method, or one name: two lines of it are
            # "malformed" (§Server Validation), and a router may route on the other one.
            return _repeated(len(lines), spelled, "Server Validation")
    sent_names = {name.lower() for name, _ in headers}
    for required in (b"mcp-method", b"mcp-name") if message.get("method") in NAME_BEARING else (b"mcp-method",):
        if required not in sent_names:
            # The SDK answers this -32020 too, saying the header "does not match" the body: say
            # what is wrong, and which rule makes the header REQUIRED.
            return (
                f"the request has no {_MIRRORED[required]} header, which a 2026-07-28 request MUST carry (MCP 2026-07-28 "
                "streamable-http, Request Metadata; SEP-2243)"
            )
    for name, value in headers:
        if name.lower() in _MIRRORED and not _sent_plain(value.decode("latin-1")):
            return _unencoded(_MIRRORED[name.lower()], "Server Validation")
    recognized = _recognized_params(message, input_schema)
    for name, value in headers:
        if name.lower() in recognized and not _sent_plain(value.decode("latin-1")):
            return _unencoded(recognized[name.lower()], "Server Behavior for Custom Headers")
    return None


def _recognized_params(message: dict[str, Any], input_schema: InputSchema) -> dict[bytes, str]:
    """The Mcp-Param-{Name} headers a tools/call's tool recognizes (lower-cased name → as the
    schema spells it): those its valid inputSchema's x-mcp-header annotations name, as the SDK
    compares them. A schema that breaks the Schema Extension's constraints names none: conforming
    clients leave the tool out (§Schema Extension) and the SDK validates nothing for it."""
    params = message.get("params")
    tool = params.get("name") if message.get("method") == "tools/call" and isinstance(params, dict) else None
    schema = input_schema(tool) if isinstance(tool, str) else None
    if schema is None or find_invalid_x_mcp_header(schema) is not None:
        return {}
    # A valid annotation is an RFC 9110 token (§Schema Extension): ASCII, and case-insensitive.
    return {f"mcp-param-{token}".lower().encode(): f"Mcp-Param-{token}" for token in x_mcp_header_map(schema).values()}


def _unencoded(header: str, section: str) -> str:
    """A raw value the SDK reads as Latin-1 and compares decoded: café in ISO-8859-1 matched."""
    return (
        f"the {header} header carries a character a header value cannot (non-ASCII, a control character or "
        f"edge whitespace): such a value is sent as =?base64?…?= (MCP 2026-07-28 streamable-http, Value "
        f"Encoding and {section})"
    )


def _repeated(count: int, name: str, section: str) -> str:
    return (
        f"the request carries {count} {name} headers; the header holds one value and is sent once "
        f"(RFC 9110 §5.3; MCP 2026-07-28 streamable-http, {section})"
    )


def _mismatch(request_id: RequestId | None, rule: str) -> Response:
    return error_response(request_id, HEADER_MISMATCH, f"Header mismatch: {rule}")


def _sent_plain(value: str) -> bool:
    """§Value Encoding: a value is sent plain only as printable ASCII with no leading or trailing
    whitespace (an empty one too); anything else (non-ASCII, control characters) is encoded."""
    return not value or PLAIN_HEADER_VALUE.fullmatch(value) is not None


def protocol_version(
    headers: list[tuple[bytes, bytes]], modern: bool, request_id: RequestId | NoId | None
) -> tuple[str | None, Response | None]:
    """The request's one MCP-Protocol-Version (None: none sent), or the 400 for two of them. The
    header names the one version the request speaks (2025-06-18 and later, "Protocol Version
    Header"; a server answers "an invalid or unsupported MCP-Protocol-Version" with 400): read
    first-only, as the era gate and the SDK read it, a router reading the last saw another one.
    2026-07-28 answers with -32020, whose failures include a malformed required header."""
    try:
        return one_field(field_values(headers, b"mcp-protocol-version"), "MCP-Protocol-Version", "MCP "
                         "Streamable HTTP, Protocol Version Header"), None  # fmt: skip
    except RepeatedField as repeated:
        return None, error_response(request_id, HEADER_MISMATCH if modern else INVALID_REQUEST, str(repeated))
