"""A virtual DNS table: host name → IP address, with no resolver and no internet behind it.

The security experiments need real address semantics (is this host on a private network?), and
DNS rebinding needs a name whose answer changes between two lookups; both are modelled here.
"""

from __future__ import annotations

import ipaddress


class UnknownHost(LookupError):
    """The name has no record: what a real resolver reports as NXDOMAIN."""


class VirtualDNS:
    def __init__(self) -> None:
        self._answers: dict[str, list[str]] = {}
        self._lookups: dict[str, int] = {}

    def set(self, host: str, *addresses: str) -> None:
        """Point `host` at `addresses`: the first lookup gets the first one, the next lookup the
        next one, and the last answer sticks (several answers model a rebinding attacker)."""
        if not addresses:
            raise ValueError("a DNS record needs at least one address")
        for address in addresses:
            ipaddress.ip_address(address)  # reject typos early
        self._answers[host.lower()] = list(addresses)
        self._lookups[host.lower()] = 0

    def remove(self, host: str) -> None:
        self._answers.pop(host.lower(), None)
        self._lookups.pop(host.lower(), None)

    def resolve(self, host: str) -> str:
        host = host.lower().rstrip(".")
        if _is_ip_literal(host):
            return host.strip("[]")
        answers = self._answers.get(host)
        if answers is None:
            raise UnknownHost(f"{host}: name does not resolve")
        n = self._lookups[host]
        self._lookups[host] = n + 1
        return answers[min(n, len(answers) - 1)]

    def records(self) -> dict[str, list[str]]:
        return {host: list(addresses) for host, addresses in sorted(self._answers.items())}


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
