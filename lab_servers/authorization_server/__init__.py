"""The lab's OAuth 2.1 authorization server, with DCR (RFC 7591) and CIMD."""

from .capabilities import DEFAULT_CAPABILITIES, ASCapabilities
from .cimd import CimdResolver
from .client_ids import resolve_client
from .clients import Client, ClientRegistry
from .document_cache import CachedDocument
from .errors import OAuthError
from .policy import HARDENED, NAIVE, ASPolicy
from .server import AuthorizationServer
from .state import AuthorizationServerState

__all__ = [
    "DEFAULT_CAPABILITIES", "HARDENED", "NAIVE", "ASCapabilities", "ASPolicy", "AuthorizationServer", "AuthorizationServerState", "CachedDocument", "CimdResolver", "Client",
    "ClientRegistry", "OAuthError", "resolve_client",
]  # fmt: skip
