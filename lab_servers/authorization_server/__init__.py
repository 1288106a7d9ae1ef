"""The lab's OAuth 2.1 authorization server, with DCR (RFC 7591) and CIMD."""

from .cimd import CachedDocument, CimdResolver
from .clients import Client, ClientRegistry, resolve_client
from .errors import OAuthError
from .policy import HARDENED, NAIVE, ASPolicy
from .server import AuthorizationServer

__all__ = [
    "HARDENED", "NAIVE", "ASPolicy", "AuthorizationServer", "CachedDocument", "CimdResolver", "Client",
    "ClientRegistry", "OAuthError", "resolve_client",
]  # fmt: skip
