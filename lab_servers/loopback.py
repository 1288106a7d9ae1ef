"""Whether a URL's host is the user's own machine: the one exception to "https everywhere".

MCP §11.3 (every revision since 2025-03-26): redirect URIs MUST be "either localhost or use
HTTPS"; OAuth 2.1 §1.5 and §8.4.2 (RFC 8252 §7.3) let a native client's redirect, and a
development server's metadata, use http on the loopback interface. The client checks the URLs it
is given by this rule and the AS the redirect URIs it registers, so both read it from here.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback_host", "reaches_this_machine"]


def is_loopback_host(host: str) -> bool:
    """`localhost`, or an address in 127.0.0.0/8 or ::1 (a host as `urlsplit(...).hostname` gives
    it: lowercased, IPv6 without brackets). A name that merely resolves there is not trusted."""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # The loopback literals themselves, and no other spelling of them: Python 3.13 counts
    # ::ffff:127.0.0.1 as loopback too (3.11 does not), and the rule must not move with the
    # interpreter. Such forms are for `reaches_this_machine`.
    if isinstance(address, ipaddress.IPv6Address):
        return address == ipaddress.IPv6Address("::1")
    return address.is_loopback


def reaches_this_machine(host: str) -> bool:
    """Whether a browser sent to `host` (as `urlsplit(...).hostname` gives it) lands on the user's
    own machine: a loopback host, and the spellings that reach it without being one. A warning
    about such redirect URIs (MCP §11.6.2) must know all of them; `is_loopback_host`, which decides
    where plain http is allowed, is rightly narrower.

    - `localhost.` and any name under `.localhost`: RFC 6761 §6.3, resolvers SHOULD answer them
      with the loopback address, and browsers do without asking DNS;
    - an IPv6 address carrying a loopback IPv4 address (`::ffff:127.0.0.1`, and the deprecated
      `::127.0.0.1`): a dual-stack socket connecting to it reaches 127.0.0.1;
    - the unspecified addresses `0.0.0.0` and `::`: a connection to them reaches the local host.
    """
    if is_loopback_host(host):
        return True
    name = host.lower().removesuffix(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        packed = int(ip)
        inner = ip.ipv4_mapped or (ipaddress.IPv4Address(packed) if packed >> 32 == 0 and packed > 1 else None)
        if inner is not None and (inner.is_loopback or inner.is_unspecified):
            return True
    return ip.is_unspecified
