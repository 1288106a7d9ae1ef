"""The lab's MCP resource server: an official-SDK MCP server behind a readable OAuth gate."""

from .server import ResourceServer
from .tokens import InvalidToken, TokenClaims, TokenValidator

__all__ = ["InvalidToken", "ResourceServer", "TokenClaims", "TokenValidator"]
