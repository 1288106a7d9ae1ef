"""Well-known URI construction, shared by the servers that publish metadata and the client that
looks for it. Both RFC 9728 §3.1 and RFC 8414 §3.1 *insert* the well-known segment between the
host and the path; only OpenID Connect Discovery *appends* it after the path."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from .rfc3986 import has_query
from .rfc6454 import normalized_authority

PROTECTED_RESOURCE = "/.well-known/oauth-protected-resource"
AUTHORIZATION_SERVER = "/.well-known/oauth-authorization-server"
OPENID_CONFIGURATION = "/.well-known/openid-configuration"


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def normalized_origin(url: str) -> str:
    """The origin as RFC 3986 compares it: scheme and host in lower case (§6.2.2.1: both are
    case-insensitive) and a default port left out (§6.2.3: https://h:443 is https://h), as an
    HTTP client sends it (`Host: h`). The authority is read as a Host field and an Origin field are
    (`rfc6454.normalized_authority`), for the MCP server compares its own origin with theirs.
    Userinfo, when written, stays: it is no origin of the lab's."""
    parts = urlsplit(url)
    userinfo, at, authority = parts.netloc.rpartition("@")
    return f"{parts.scheme.lower()}://{userinfo}{at}{normalized_authority(authority, parts.scheme)}"


def path_of(url: str) -> str:
    """The path with a terminating '/' removed, so that 'https://h/' has the empty path."""
    return urlsplit(url).path.rstrip("/")


def served_path(url: str) -> str:
    """The path a server is asked for at `url`, exactly, as an ASGI request's `path` has it
    (percent-decoded): a trailing '/' stays, for 'https://h/mcp/' is another URL than
    'https://h/mcp' (RFC 9728 §3.1 removes only the '/' right after the host, and §3.3 and
    MCP §8.1 compare the resource exactly); an empty path is asked for as '/' (RFC 9112 §3.2.1)."""
    return unquote(urlsplit(url).path) or "/"


def after_host(url: str) -> str:
    """The path and query a well-known string is inserted before: as they are, except a path that
    is only the '/' directly after the host (RFC 9728 §3.1: "between the host component and the
    path and/or query components"; the terminating slash removed is the one following the host)."""
    parts = urlsplit(url)
    path = "" if parts.path == "/" else parts.path
    return path + (f"?{parts.query}" if has_query(url) else "")


def insert_well_known(url: str, well_known: str) -> str:
    """https://h/public/mcp + /.well-known/x → https://h/.well-known/x/public/mcp; a path's own
    trailing '/' and a query stay (https://h/mcp/?t=a → https://h/.well-known/x/mcp/?t=a). An
    issuer loses its terminating '/' before this (RFC 8414 §3.1 removes it; client/discovery.py)."""
    return origin(url) + well_known + after_host(url)


def append_well_known(url: str, well_known: str) -> str:
    """https://h/tenant1 + /.well-known/openid-configuration → https://h/tenant1/.well-known/…"""
    return origin(url) + path_of(url) + well_known
