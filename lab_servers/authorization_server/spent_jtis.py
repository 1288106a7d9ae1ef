"""Spent JWT identifiers: the replay check of client assertions (RFC 7523 §3 item 7) and of
ID-JAGs (ext-auth §7.6). RFC 7523 §3: the AS "MAY ensure that JWTs are not replayed by
maintaining the set of used "jti" values for the length of time for which the JWT would be
considered valid based on the applicable "exp" instant". So each (issuer, jti) is kept until its
JWT's `exp`, and forgotten then: an expired JWT is refused by its `exp` anyway.

The `exp` of one JWT is not the next one's (a client chooses its assertion's, up to 300 s away),
so the order they were spent in is not the order they expire in: a heap keeps the soonest expiry
first, and forgetting the expired ones never looks at the others. (A scan of the whole set on
every authentication made a flood of assertions quadratic.)

At most `MAX_SPENT_JTIS` are kept. When that many are unexpired, a new JWT is refused with 503
`temporarily_unavailable` until the soonest expires (`Retry-After` says when), as the token stores
refuse a grant when full (`token_records.py`): forgetting a live jti would let its JWT be replayed.
"""

from __future__ import annotations

import heapq

from .errors import OAuthError

MAX_SPENT_JTIS = 10_000  # unexpired JWTs whose jti is remembered, per kind (assertions, ID-JAGs)

Spender = tuple[str, str]  # (issuer, jti): RFC 7519 §4.1.7 makes a jti unique per issuer only


class SpentJtis(dict[Spender, int]):
    """(issuer, jti) → the `exp` of the JWT that spent it, while that JWT is unexpired."""

    def __init__(self, what: str, max_entries: int = MAX_SPENT_JTIS) -> None:
        super().__init__()
        self.what = what  # "client assertions", in the refusal's words
        self.max_entries = max_entries
        self._expiries: list[tuple[int, Spender]] = []  # a heap: the soonest exp first

    def make_room(self, now: int) -> None:
        """Forget what has expired; refuse (503) when the set is still full. Call it before the
        work a spent jti stands for, then `spend` with no await in between."""
        while self._expiries and self._expiries[0][0] <= now:
            del self[heapq.heappop(self._expiries)[1]]
        if len(self) >= self.max_entries:
            retry_after = self._expiries[0][0] - now
            raise OAuthError(
                "temporarily_unavailable",
                f"this authorization server already remembers the jti of {self.max_entries} unexpired {self.what}, "
                f"its limit (each is kept until its exp to refuse a replay, RFC 7523 §3); none expires for "
                f"{retry_after} s (lab limit; temporarily_unavailable borrowed from RFC 6749 §4.1.2.1)",
                503,
                {"Retry-After": str(retry_after)},
            )

    def spend(self, spender: Spender, exp: int, now: int) -> None:
        self.make_room(now)
        self[spender] = exp
        heapq.heappush(self._expiries, (exp, spender))
