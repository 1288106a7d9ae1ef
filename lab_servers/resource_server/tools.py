"""The MCP server itself: an official-SDK `MCPServer` with tools that show who is calling.

The tools read the caller from the validated token that the auth layer attached to the HTTP
request; they never see the raw token, and nothing is passed through to anyone else.
"""

from __future__ import annotations

import functools
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import AnyUrl, ValidationError

from ..revisions import HANDSHAKE_VERSIONS
from .invalid_params import invalid_arguments_rule
from .jsonrpc import INVALID_PARAMS, bounded_echoes
from .tokens import TokenClaims

# MCP server/resources, "Error Handling", up to 2025-11-25: "Resource not found: `-32002`";
# 2026-07-28 made it -32602, noting that "earlier protocol versions used this code".
RESOURCE_NOT_FOUND = -32002

# Tools that need more than the scope every MCP request needs (MCP §10.1.1 step-up).
TOOL_SCOPES: dict[str, set[str]] = {"add_note": {"notes:write"}}
BASE_SCOPES = {"notes:read"}


def scopes_for(message: Any) -> set[str]:
    """Extra scopes for the tools called in this JSON-RPC message (or batch)."""
    messages = message if isinstance(message, list) else [message]
    needed: set[str] = set()
    for item in messages:
        if isinstance(item, dict) and item.get("method") == "tools/call" and isinstance(item.get("params"), dict):
            needed |= TOOL_SCOPES.get(str(item["params"].get("name")), set())
    return needed


# A successful call must not grow the server without end either: the lab has no login, so any
# stranger can get a notes:write token for the lab's one user. The notes are bounded in number
# and length; past the bound add_note answers a tool error naming it (nothing is evicted).
MAX_NOTES = 1_000
MAX_NOTE_CHARS = 1_000


def how_identified(client_id: str) -> dict[str, str]:
    if client_id.startswith("https://"):
        return {
            "method": "CIMD",
            "explanation": "the client_id is the URL of a metadata document the client hosts; "
            "the AS fetched it, so the id names its own origin",
        }
    return {
        "method": "opaque id (DCR or pre-registered)",
        "explanation": "an AS-minted id carries no meaning by itself: from the token alone this server "
        "cannot tell a dynamic registration from a pre-registered client",
    }


def caller(ctx: Context) -> TokenClaims:
    request = ctx.request_context.request
    return request.scope["state"]["lab_token"]  # type: ignore[union-attr]


class NotesServer(MCPServer[Any]):
    """The SDK's `MCPServer` with the lab's tools and its own notes (each lab, its own server)."""

    def __init__(self) -> None:
        super().__init__(
            "lab-notes",
            version=_lab_version(),
            instructions="A tiny notes server protected by OAuth 2.1.",
            tools=list(_tools()),
            # No `subscriptions/listen`: this stateless server publishes no list changes or
            # resource updates, and keeps no stream open (the gate answers GET with 405). Served,
            # it made 2026-07-28 `server/discover` claim listChanged and subscribe (the SDK derives
            # them from that handler alone) while initialize claimed neither; `listChanged` says
            # the server "will emit notifications" when a list changes (server/tools, resources,
            # prompts "Capabilities"), which this one never does.
            subscriptions=False,
        )
        self.notes: list[dict[str, str]] = []
        self.middleware.append(bounded_echoes)  # what an SDK error quotes of the request, bounded

    def tool_input_schema(self, name: str) -> dict[str, Any] | None:
        """The inputSchema of the tool called `name` (None: no such tool), as the SDK's 2026-07-28
        transport reads it to compare a call's Mcp-Param-* headers: the gate judges the same ones."""
        return self._tool_input_schema(name)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        """The SDK's, but arguments the tool's inputSchema refuses are told in one sentence naming
        the argument and the rule: the tool error (MCP server/tools, "Error Handling": input
        validation errors are tool execution errors, for the model to correct) quoted pydantic's
        whole validation dump, several lines and a URL, after "Error executing tool add_note".

        A name no tool has is no tool's failure: "Unknown tool" is a protocol error, -32602 (MCP
        server/tools, "Error Handling", every revision), which the SDK answered as a tool result
        with isError, for a model to retry a tool that does not exist."""
        if self.tool_input_schema(name) is None:
            raise MCPError(
                INVALID_PARAMS, f"Unknown tool: {name} (MCP server/tools, Error Handling: tools/list names them)"
            )
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            if isinstance(error, UnexpectedToolError) or not isinstance(error.__cause__, ValidationError):
                raise
            tool = next((tool for tool in _tools() if tool.name == name), None)
            model = tool.fn_metadata.arg_model if tool is not None else None
            rule = invalid_arguments_rule(name, model, error.__cause__)
            raise ToolError(f"Error executing tool {name}: {rule}") from error.__cause__

    async def read_resource(self, uri: AnyUrl | str, context: Context[Any, Any] | None = None) -> Any:
        """The SDK's, but a resource that does not exist is -32002 to a client of an initialize-era
        revision, as its server/resources "Error Handling" says (SHOULD); the SDK answers -32602,
        2026-07-28's code, whichever revision the request speaks."""
        try:
            return await super().read_resource(uri, context)
        except ResourceNotFoundError as error:
            if context is None or context.request_context.protocol_version not in HANDSHAKE_VERSIONS:
                raise
            raise MCPError(RESOURCE_NOT_FOUND, str(error), {"uri": str(uri)}) from None


async def whoami(ctx: Context) -> dict[str, Any]:
    """Who is calling, as the access token says."""
    token = caller(ctx)
    return {
        "client_id": token.client_id,
        "sub": token.subject,
        "scope": " ".join(sorted(token.scopes)),
        "aud": token.audience,
        "iss": token.issuer,
        "identified_by": how_identified(token.client_id),
    }


async def list_notes(ctx: Context) -> list[dict[str, str]]:
    """The notes of the signed-in user."""
    return [n for n in _notes(ctx) if n["owner"] == caller(ctx).subject]


async def add_note(text: str, ctx: Context) -> dict[str, Any]:
    """Add a note (needs the notes:write scope)."""
    token = caller(ctx)
    notes = _notes(ctx)
    if len(text) > MAX_NOTE_CHARS:
        raise ToolError(f"a note holds at most {MAX_NOTE_CHARS} characters (lab limit)")
    if len(notes) >= MAX_NOTES:
        raise ToolError(f"this server already holds {MAX_NOTES} notes, its limit (lab limit); nothing was added")
    notes.append({"owner": token.subject, "text": text, "added_by": token.client_id})
    return {"added": text, "notes": sum(n["owner"] == token.subject for n in notes)}


def _notes(ctx: Context) -> list[dict[str, str]]:
    server = ctx.mcp_server
    if not isinstance(server, NotesServer):
        raise ToolError("this tool keeps its notes on the lab's NotesServer")
    return server.notes


@functools.cache
def _tools() -> tuple[Tool, ...]:
    # The SDK builds a pydantic model and JSON schemas from each tool's signature: 5 ms for these
    # three, which every Lab() paid (issue 12). They depend only on the functions: build them once.
    return tuple(Tool.from_function(tool) for tool in (whoami, list_notes, add_note))


@functools.cache
def _lab_version() -> str:
    # serverInfo.version (MCP lifecycle, Implementation): the installed package's version.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lab_servers")
    except PackageNotFoundError:
        return "0.1.0"  # run from a checkout without installing: pyproject.toml's version
