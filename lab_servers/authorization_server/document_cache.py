"""CIMD -02 §5, step 4 of a resolution (cimd.py): the AS "SHOULD respect HTTP caching" of a fetched
client document and MUST NOT cache errors. How long a valid document may be reused (RFC 9111
freshness, within the AS's policy), and the bounded cache that holds it meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..rfc9110 import http_date
from ..rfc9111 import cache_directives, delta_seconds, varies_past_matching
from .policy import ASPolicy


def cache_lifetime(
    cache_control: str | None,
    policy: ASPolicy,
    *,
    age: str | None = None,
    expires: str | None = None,
    date: str | None = None,
    vary: str | None = None,
    now: int,
) -> int:
    """Seconds the document may be reused: its RFC 9111 freshness lifetime (§4.2.1: the first
    `max-age`, else `Expires` − `Date`, else the policy's default) less its current age (§4.2.3:
    the `Age` header), within the policy's bounds; none with `Vary: *` (§4.1). `now`, the AS's
    clock, stands in for a missing `Date` and places a two-digit year (`rfc9110.http_date`)."""
    if vary is not None and varies_past_matching(vary):
        return 0
    directives = cache_directives(cache_control or "")
    if directives is None or "no-store" in directives or "no-cache" in directives:
        return 0  # a Cache-Control that is no list of directives (RFC 9111 §5.2) says nothing to trust
    if "max-age" in directives:
        seconds = delta_seconds(directives["max-age"])
    elif expires is not None:
        # §5.3: an invalid Expires ("0" above all) is a time in the past. For an invalid Date,
        # RFC 9110 §6.6.1 lets a recipient use the time it got the response; this AS does not
        # reuse a document whose sending time it cannot tell.
        expires_at, sent_at = http_date(expires, now), http_date(date, now) if date is not None else now
        seconds = expires_at - sent_at if expires_at is not None and sent_at is not None else 0
    else:
        seconds = policy.default_cache_seconds
    if age is not None:
        # §5.1 says a cache SHOULD ignore an invalid Age (and use a list's first member); this AS,
        # unable to tell how old the document is, reads it as stale instead: fetched again.
        seconds -= delta_seconds(age, invalid=seconds)
    return max(0, min(seconds, policy.max_cache_seconds))


class DocumentCache(OrderedDict[str, "CachedDocument"]):
    """Valid documents by URL, least recently used first. Unlike a registry, a cache may forget:
    when it holds `max_entries` documents, storing one more evicts the least recently used."""

    def store(self, entry: CachedDocument, max_entries: int | None) -> None:
        self[entry.url] = entry
        self.move_to_end(entry.url)
        while max_entries is not None and len(self) > max_entries:
            self.popitem(last=False)

    def fresh(self, url: str, now: int) -> CachedDocument | None:
        entry = self.get(url)
        if entry is None or entry.expires_at <= now:
            self.pop(url, None)  # an expired entry is dropped before the re-fetch, never reused
            return None
        self.move_to_end(url)
        entry.hits += 1
        return entry


@dataclass
class CachedDocument:
    url: str
    document: dict[str, Any]
    fetched_at: int
    expires_at: int
    hits: int = 0
