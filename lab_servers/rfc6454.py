"""Origins and authorities as one reading compares them (RFC 6454, RFC 9110 §4.2.3).

The MCP server's own origin is read from its URL (`wellknown.normalized_origin`) and a request's
from its Origin field (`normalized_origin` here), and the two meet in one comparison
(`resource_server/transport.OwnNames`, `browser_origins.BrowserOrigins`); a Host field's
authority is compared with the server's own the same way. All of them read an authority here, so
one default port, one case rule and one reading of a port hold on both sides of each comparison.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_PORTS", "SERIALIZED_ORIGIN", "normalized_authority", "normalized_origin"]

# RFC 9110 §4.2.1, §4.2.2: the port an http or https URI has when it names none.
DEFAULT_PORTS = {"http": "80", "https": "443"}

# An Origin field is "null" or an origin's serialization (RFC 6454 §7.1): scheme "://" host, and
# ":" port unless it is the scheme's default (§6.2). Nothing else: no userinfo, path, query or
# fragment. Read with `urlsplit`, `http://127.0.0.1:6274.evil.example` was host 127.0.0.1 with an
# unread port, and `http://x@127.0.0.1` and `http://127.0.0.1?x` were loopback origins too.
# A port is its number, up to five digits, with any leading zeros, as a Host field's is
# (`normalized_authority`): a browser never sends them (§6.2 serializes the port as a decimal
# number, as the WHATWG URL standard does), but refused in an Origin and read in a Host, one port
# was two (`Host: 127.0.0.1:019300` served, `Origin: https://127.0.0.1:019300` refused as no
# loopback origin). Read on both sides, each names the one port RFC 6454 §5 compares by number.
SERIALIZED_ORIGIN = re.compile(
    r"(?:http|https)://(?P<host>\[[0-9a-f:.]+\]|[^\[\]/?#@:\s]+)(?::0*[0-9]{1,5})?", re.IGNORECASE
)


def normalized_authority(authority: str, scheme: str) -> str:
    """A Host field's value (RFC 9110 §7.2: Host = uri-host [":" port]) as RFC 9110 §4.2.3 compares
    the URIs it names: the host in lower case (RFC 3986 §3.2.2) and the port left out when it is
    empty or the scheme's default ("https://example.com:443/" and "https://example.com/" are
    equivalent). Compared as written, `mcp.example.com:443`, the server's own https address with
    its port spelled out, was refused 421 as a name it does not answer to. A port is a decimal
    number (RFC 3986 §3.2.3: port = *DIGIT; RFC 6454 §5 compares origins' ports as numbers), so
    leading zeros go: 0444 was kept as written, another port than 444, while 0443 was https's 443."""
    authority = authority.lower()
    host, colon, port = authority.rpartition(":")
    if not colon or (":" in host and not (host.startswith("[") and host.endswith("]"))):
        return authority  # no port (`[::1]` alone has a ':' of its own)
    if port == "":
        return host
    if not (port.isascii() and port.isdigit()):
        return authority  # no number: compared as written
    # Read as digits, not int(): a port of 5,000 zeros before "443" is no number int() reads.
    number = port.lstrip("0") or "0"
    return host if number == DEFAULT_PORTS.get(scheme.lower()) else f"{host}:{number}"


def normalized_origin(origin: str) -> str | None:
    """An Origin field's value as RFC 9110 §4.2.3 compares it (scheme and host in lower case, no
    default port: `https://mcp.example.com:443` is the origin `https://mcp.example.com`), or None
    when it is no serialized origin (RFC 6454 §6.2)."""
    if SERIALIZED_ORIGIN.fullmatch(origin) is None:
        return None
    scheme, authority = origin.split("://", 1)
    return f"{scheme.lower()}://{normalized_authority(authority, scheme)}"
