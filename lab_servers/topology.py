"""One host serving both the MCP server and its authorization server, as MCP 2025-03-26 has it.

2025-03-26 §2.3.2 takes the MCP URL with its path discarded as the authorization base URL: the
AS metadata and the default /authorize, /token and /register endpoints live at the MCP
server's own origin. The lab keeps the two apps separate and routes by path.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class CoLocated:
    def __init__(self, resource_server: ASGIApp, authorization_server: ASGIApp, *, mcp_path: str) -> None:
        self.resource_server = resource_server
        self.authorization_server = authorization_server
        self.mcp_path = mcp_path or "/"

    @property
    def lifespan_app(self) -> ASGIApp:
        """What has this host's lifespan: the MCP server's (the AS has none); see `LifespanRunner`."""
        return getattr(self.resource_server, "lifespan_app", self.resource_server)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] == self.mcp_path
            or scope["path"].startswith("/.well-known/oauth-protected-resource")
        ):
            return await self.resource_server(scope, receive, send)  # lifespan too: the SDK's session manager
        return await self.authorization_server(scope, receive, send)
