"""Whether a URL's host is the user's own machine: the one exception to "https everywhere".

MCP §11.3 (every revision since 2025-03-26): redirect URIs MUST be "either localhost or use
HTTPS"; OAuth 2.1 §1.5 and §8.4.2 (RFC 8252 §7.3) let a native client's redirect, and a
development server's metadata, use http on the loopback interface. The client checks the URLs it
is given by this rule and the AS the redirect URIs it registers, so both read it from here.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """`localhost`, or an address in 127.0.0.0/8 or ::1 (a host as `urlsplit(...).hostname` gives
    it: lowercased, IPv6 without brackets). A name that merely resolves there is not trusted."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
