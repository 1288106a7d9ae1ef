"""Stores of what an anonymous browser can make the AS remember: pending consents and codes.

Anyone can open /authorize, and approve a consent of their own: the lab has no login step, and
a real AS's login lets in anyone with an account. Without bounds, 5,000 anonymous requests would
leave 5,000 records behind, and used codes would pile up forever. So each entry is dropped once
expired, and a store never holds more than `max_entries`.

Which entry makes room in a full store decides whom a flood hurts; RFC 6749 and OAuth 2.1 set
no limit here. Dropping the oldest entry lets one stranger, opening requests faster than they
expire, push out every real user's consent before the user can click Approve; refusing the
newcomer locks every new user out instead. So the address holding the most entries gives up its
own oldest (of several holding as many, the one that came to hold that many first): a flood from
one address pushes out only its own requests, and a user at another keeps theirs. The key is the
source address, as nginx's `limit_req` and `limit_conn` usually key theirs. Behind one address (a
served lab on loopback, a proxy) the oldest entry goes; from many, each keeps an even share.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Protocol, TypeVar


class _Expiring(Protocol):
    @property
    def expires_at(self) -> int: ...  # read only: a frozen record is one too


_T = TypeVar("_T", bound=_Expiring)


class ExpiringStore(Mapping[str, _T]):
    """Entries by key, each with the source address that made it. Read it as a mapping; add
    with `put`, remove with `del`."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, _T] = {}  # every entry of one store lives as long: oldest first is soonest to expire
        self._source_of: dict[str, str] = {}
        self._keys_of: dict[str, dict[str, None]] = {}  # source → its keys, oldest first
        # n → the sources holding n entries, in the order each came to hold n; `_most` is the
        # largest n. Kept as counts change, so the largest holder is found without a scan.
        self._holding: dict[int, dict[str, None]] = {}
        self._most = 0

    def __getitem__(self, key: str) -> _T:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: str, value: _T, now: int, source: str) -> None:
        """Keep `value` under `key`, made by `source`: expired entries go first, then, while the
        store is full, the oldest entry of the address holding the most."""
        if key in self._entries:
            del self[key]
        self.forget_expired(now)
        while self._entries and len(self._entries) >= self.max_entries:
            del self[self._oldest_of_the_largest_holder()]
        self._entries[key] = value
        self._source_of[key] = source
        keys = self._keys_of.setdefault(source, {})
        keys[key] = None
        self._recount(source, len(keys) - 1, len(keys))

    def __delitem__(self, key: str) -> None:
        del self._entries[key]
        source = self._source_of.pop(key)
        keys = self._keys_of[source]
        del keys[key]
        if not keys:
            del self._keys_of[source]
        self._recount(source, len(keys) + 1, len(keys))

    def forget_expired(self, now: int) -> None:
        # Every entry of one store has the same lifetime, so insertion order is expiry order:
        # only the expired prefix is visited, and the cost per request stays constant.
        drop_expired_prefix(self, now)

    def _oldest_of_the_largest_holder(self) -> str:
        # Of the sources holding the most, the first to come to hold that many.
        largest = next(iter(self._holding[self._most]))
        return next(iter(self._keys_of[largest]))

    def _recount(self, source: str, before: int, after: int) -> None:
        """Move `source` from the sources holding `before` entries to those holding `after`."""
        if before:
            holders = self._holding[before]
            del holders[source]
            if not holders:
                del self._holding[before]
        if after:
            self._holding.setdefault(after, {})[source] = None
        if after > self._most:
            self._most = after
        elif before == self._most and before not in self._holding:
            self._most = after  # counts move by one: none holds more than this source now does


def drop_expired_prefix(store: ExpiringStore[_T] | MutableMapping[str, _T], now: int) -> None:
    """Drop a store's entries in insertion order for as long as they have expired; stop at the
    first live one."""
    while store:
        key = next(iter(store))
        if store[key].expires_at > now:
            return
        del store[key]
