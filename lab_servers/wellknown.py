"""Well-known URI construction, shared by the servers that publish metadata and the client that
looks for it. Both RFC 9728 §3.1 and RFC 8414 §3.1 *insert* the well-known segment between the
host and the path; only OpenID Connect Discovery *appends* it after the path."""

from __future__ import annotations

from urllib.parse import urlsplit

PROTECTED_RESOURCE = "/.well-known/oauth-protected-resource"
AUTHORIZATION_SERVER = "/.well-known/oauth-authorization-server"
OPENID_CONFIGURATION = "/.well-known/openid-configuration"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def path_of(url: str) -> str:
    """The path with a terminating '/' removed, so that 'https://h/' has the empty path."""
    return urlsplit(url).path.rstrip("/")


def insert_well_known(url: str, well_known: str) -> str:
    """https://h/public/mcp + /.well-known/x → https://h/.well-known/x/public/mcp"""
    return origin(url) + well_known + path_of(url)


def append_well_known(url: str, well_known: str) -> str:
    """https://h/tenant1 + /.well-known/openid-configuration → https://h/tenant1/.well-known/…"""
    return origin(url) + path_of(url) + well_known
