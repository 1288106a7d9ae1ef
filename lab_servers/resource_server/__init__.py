"""The lab's MCP resource server: an official-SDK MCP server behind a readable OAuth gate."""

from .downstream import DownstreamCaller, DownstreamError
from .rfc7662 import IntrospectingValidator
from .server import ResourceServer
from .tokens import InvalidToken, TokenClaims, TokenValidator, outside_keys_client

__all__ = [
    "DownstreamCaller", "DownstreamError", "IntrospectingValidator", "InvalidToken", "ResourceServer", "TokenClaims", "TokenValidator",
    "outside_keys_client",
]  # fmt: skip
