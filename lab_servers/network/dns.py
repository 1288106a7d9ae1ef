"""A virtual DNS table: host name → IP addresses, with no resolver and no internet behind it.

The security experiments need real address semantics (is this host on a private network?), DNS
rebinding needs a name whose answer changes between two lookups, and a real name can have
several A/AAAA records in one answer (RFC 1034 §3.6: an RRset), of which a client may connect
to any. All three are modelled here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence


class UnknownHost(LookupError):
    """The name has no record: what a real resolver reports as NXDOMAIN."""


class VirtualDNS:
    def __init__(self) -> None:
        self._answers: dict[str, list[tuple[str, ...]]] = {}
        self._lookups: dict[str, int] = {}

    def set(self, host: str, *answers: str | Sequence[str]) -> None:
        """Point `host` at `answers`: the first lookup gets the first one, the next lookup the
        next one, and the last answer sticks (several answers model a rebinding attacker).
        An answer is one address, or a list of them: several A/AAAA records for the name."""
        if not answers:
            raise ValueError("a DNS record needs at least one address")
        sets = [(answer,) if isinstance(answer, str) else tuple(answer) for answer in answers]
        for addresses in sets:
            if not addresses:
                raise ValueError("a DNS answer needs at least one address")
            for address in addresses:
                ipaddress.ip_address(address)  # reject typos early
        self._answers[host.lower()] = sets
        self._lookups[host.lower()] = 0

    def remove(self, host: str) -> None:
        self._answers.pop(host.lower(), None)
        self._lookups.pop(host.lower(), None)

    def resolve(self, host: str) -> str:
        """One lookup, answered with the first address of the answer set."""
        return self.resolve_all(host)[0]

    def resolve_all(self, host: str) -> tuple[str, ...]:
        """One lookup, answered with every address of the answer set (what `getaddrinfo` lists)."""
        host = host.lower().rstrip(".")
        answers = self._answers.get(host)  # a name first: parsing it as an address raises twice
        if answers is None:
            if _is_ip_literal(host):
                return (host.strip("[]"),)
            raise UnknownHost(f"{host}: name does not resolve")
        n = self._lookups[host]
        self._lookups[host] = n + 1
        return answers[min(n, len(answers) - 1)]

    def lookups(self, host: str) -> int:
        """How many times `host` has been looked up since it was set."""
        return self._lookups.get(host.lower().rstrip("."), 0)

    def addresses(self) -> frozenset[str]:
        """Every address some name here answers with."""
        return frozenset(address for answers in self._answers.values() for answer in answers for address in answer)

    def records(self) -> dict[str, list[str]]:
        """Each name's answers; a multi-record answer is shown as its addresses joined by ", "."""
        return {host: [", ".join(a) for a in answers] for host, answers in sorted(self._answers.items())}


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
