"""The client's own identity, checked before it presents it: the CIMD Client Identifier URL (CIMD
§3) and the document behind it (CIMD §4, MCP §5.1.1), and its redirect URIs (MCP §11.3).

The authorization server checks all of this too, and the lab's security experiments show it
refusing each broken URL; they send their requests themselves (`security/requests.py`), not
through this client. A client that knows its identifier is broken does not send it: the user
would get an AS's error page for the client's own mistake.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from ..loopback import is_loopback_host
from ..rfc3986 import browser_reading_problem, has_query, host_reading_problem, is_uri_text


def client_id_url_problem(url: str, document: dict[str, Any]) -> str | None:
    """Why `url` may not be presented as a CIMD client_id with `document` as its document, or
    None. Checked on the raw string: CIMD §3 compares identifiers as exact strings."""
    if not is_uri_text(url):
        # The AS refuses the same (cimd.check_client_id_url): httpx sends a '<' in a host as %3C.
        return "a URL is ASCII with no spaces, backslashes, control characters or other characters no URI contains (RFC 3986 §2)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # a port that is not a number raises here
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if parts.scheme != "https":
        return (
            f"a Client Identifier URL MUST have the https scheme, not {parts.scheme or 'none'!r} (CIMD §3; MCP §5.1.1)"
        )
    if not parts.hostname:
        return "a Client Identifier URL has a host (CIMD §3)"
    if "@" in parts.netloc:
        return "a Client Identifier URL MUST NOT contain a username or password (CIMD §3)"
    if "#" in url:
        return "a Client Identifier URL MUST NOT contain a fragment (CIMD §3)"
    if not parts.path:
        return "a Client Identifier URL MUST contain a path component (CIMD §3; MCP §5.1.1)"
    problem = host_reading_problem(parts.hostname)
    if problem:
        # The AS refuses these too (cimd.check_client_id_url): a WHATWG parser reads another host.
        return f"it {problem}"
    if any(unquote(segment) in (".", "..") for segment in parts.path.split("/")):
        # %2e is '.' (RFC 3986 §2.3: unreserved), so %2e%2e is a double-dot segment too.
        return "a Client Identifier URL MUST NOT contain single-dot or double-dot path segments (CIMD §3)"
    # A document without client_id is DCR-style metadata, whose client_id the published document
    # fills in (as `serve --client-document` does): only an id that names another URL is wrong.
    if "client_id" in document and document["client_id"] != url:
        return (
            f"the client's document has client_id {document.get('client_id')!r}: it MUST be exactly the URL of the "
            "document (CIMD §4; MCP §5.1.1)"
        )
    return None


def client_id_url_advice(url: str) -> list[str]:
    """What CIMD §3 advises against (SHOULD NOT, NOT RECOMMENDED): said, not refused."""
    parts = urlsplit(url)
    advice = []
    if has_query(url):
        advice.append("a Client Identifier URL SHOULD NOT include a query (CIMD §3)")
    if parts.path == "/":
        advice.append("a Client Identifier URL with the root path '/' is NOT RECOMMENDED (CIMD -02 §3)")
    return advice


def redirect_uri_problem(uri: str) -> str | None:
    """Why the client may not use `uri` as its redirect URI, or None. MCP §11.3 (Communication
    Security, every revision since 2025-03-26): "All redirect URIs MUST be either localhost or use
    HTTPS"; RFC 6749 §3.1.2: absolute, and no fragment."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises for a port that is no number of 0-65535, as the AS refuses it
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if "#" in uri:
        return "a redirect URI MUST NOT include a fragment (RFC 6749 §3.1.2)"
    problem = browser_reading_problem(uri)
    if problem:
        # The AS refuses these too (check_redirect_uri): the browser would read another URL.
        return f"it {problem}"
    if parts.scheme == "https":
        # RFC 6749 §3.1.2: an absolute URI; one with no host names no place to return to.
        return None if host else "an https redirect URI MUST name a host (RFC 6749 §3.1.2; RFC 9110 §4.2.2)"
    if parts.scheme == "http" and is_loopback_host(host):
        return None
    return "a redirect URI MUST be either localhost (loopback) or use HTTPS (MCP §11.3; OAuth 2.1 §1.5)"
