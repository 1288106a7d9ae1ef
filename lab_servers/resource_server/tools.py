"""The MCP server itself: an official-SDK `MCPServer` with tools that show who is calling.

The tools read the caller from the validated token that the auth layer attached to the HTTP
request; they never see the raw token, and nothing is passed through to anyone else.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from .tokens import TokenClaims

# Tools that need more than the scope every MCP request needs (MCP §10.1.1 step-up).
TOOL_SCOPES: dict[str, set[str]] = {"add_note": {"notes:write"}}
BASE_SCOPES = {"notes:read"}
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


def build_mcp_server() -> MCPServer:
    mcp = MCPServer("lab-notes", version=_lab_version(), instructions="A tiny notes server protected by OAuth 2.1.")
    notes: list[dict[str, str]] = []

    @mcp.tool()
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

    @mcp.tool()
    async def list_notes(ctx: Context) -> list[dict[str, str]]:
        """The notes of the signed-in user."""
        return [n for n in notes if n["owner"] == caller(ctx).subject]

    @mcp.tool()
    async def add_note(text: str, ctx: Context) -> dict[str, Any]:
        """Add a note (needs the notes:write scope)."""
        token = caller(ctx)
        if len(text) > MAX_NOTE_CHARS:
            raise ToolError(f"a note holds at most {MAX_NOTE_CHARS} characters (lab limit)")
        if len(notes) >= MAX_NOTES:
            raise ToolError(f"this server already holds {MAX_NOTES} notes, its limit (lab limit); nothing was added")
        notes.append({"owner": token.subject, "text": text, "added_by": token.client_id})
        return {"added": text, "notes": sum(n["owner"] == token.subject for n in notes)}

    return mcp


def _lab_version() -> str:
    # serverInfo.version (MCP lifecycle, Implementation): the installed package's version.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lab_servers")
    except PackageNotFoundError:
        return "0.1.0"  # run from a checkout without installing: pyproject.toml's version
