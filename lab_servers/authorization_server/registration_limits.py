"""Limits on the registration endpoint. RFC 7591 sets none: an open endpoint accepts any number
of clients from anyone, and each one becomes a record the AS keeps forever. The hardened policy
caps the total and rate-limits each source address; both answer 429 with a description naming
the limit, and the rate limit says when to retry (RFC 9110 §10.2.3 `Retry-After`).

RFC 7591 §3.2.2 defines no error code for "try again later"; it lets a server use others. The lab
answers `temporarily_unavailable`, borrowed from RFC 6749 §4.1.2.1 (the one OAuth code that means
exactly this), with HTTP 429 and, for the rate limit, `Retry-After`; each description says so.

Time is the lab clock, so a flood replays identically: the window only moves when the clock does.
The limiter's own memory is bounded too: see `_forget`.

The cap must hold under concurrency. A registration awaits its logo and key prefetch between the
check and the write, so a check that only counts the records already written lets every request
of a concurrent burst through (each one sees the same count). `admitted` therefore holds a place
under the cap from the check until the record is written or the attempt fails.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from ..determinism import LabClock
from .errors import OAuthError
from .policy import ASPolicy

MAX_REMEMBERED_SOURCES = 10_000  # source addresses the rate limiter keeps counts for at once
_WHY_THIS_CODE = "; RFC 7591 has no code for this, so the lab uses RFC 6749 section 4.1.2.1's temporarily_unavailable"


class RegistrationLimits:
    def __init__(self, clock: LabClock) -> None:
        self.clock = clock
        # source address → times of its recent attempts, least recently active first
        self.recent: dict[str, deque[int]] = {}
        self.in_flight = 0  # registrations past the limits and not yet written or failed

    @contextmanager
    def admitted(self, source: str, registered: int, policy: ASPolicy) -> Iterator[None]:
        """Count one attempt from `source` and hold a place under the cap while it runs. The check
        and the reservation happen with no await between them, and the place is given back
        however the attempt ends (a record written, a refusal, a cancelled request)."""
        self.check(source, registered + self.in_flight, policy)
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    def check(self, source: str, registered: int, policy: ASPolicy) -> None:
        """Count one registration attempt from `source`; raise 429 when a limit is reached.
        `registered` counts the records written and the attempts still running (`admitted`)."""
        if policy.registration_rate_limit is not None:
            self._check_rate(source, *policy.registration_rate_limit)
        if policy.max_registrations is not None and registered >= policy.max_registrations:
            raise OAuthError(
                "temporarily_unavailable",
                f"registration refused: this authorization server holds its maximum of {policy.max_registrations} "
                "dynamically registered clients (registration cap, lab policy; RFC 7591 sets no limit)"
                + _WHY_THIS_CODE,
                429,
            )

    def _check_rate(self, source: str, limit: int, window: int) -> None:
        now = self.clock.now()
        self._forget(now, window)
        # Put back last: the dict stays in the order of each address's latest attempt, refused
        # ones included, so an address that keeps trying is never the least recently seen.
        attempts = self.recent.pop(source, None) or deque()
        self.recent[source] = attempts
        while attempts and attempts[0] <= now - window:
            attempts.popleft()
        if len(attempts) >= limit:
            retry_after = attempts[0] + window - now
            raise OAuthError(
                "temporarily_unavailable",
                f"registration refused: more than {limit} registration{'s' if limit > 1 else ''} from {source} "
                f"within {window} s (rate limit, lab policy); retry after {retry_after} s" + _WHY_THIS_CODE,
                429,
                {"Retry-After": str(retry_after)},
            )
        attempts.append(now)

    def _forget(self, now: int, window: int) -> None:
        """Bound the limiter's own memory under a flood from many addresses, looking only at the
        least recently seen: forget it while it has nothing left to count (each of its attempts
        older than the window) or while MAX_REMEMBERED_SOURCES are remembered; the second is what
        nginx's limit_req does when its zone is full ("the least recently used state is removed").
        An attempt costs the same however many addresses are remembered."""
        while self.recent:
            oldest, attempts = next(iter(self.recent.items()))
            if attempts[-1] > now - window and len(self.recent) < MAX_REMEMBERED_SOURCES:
                return
            del self.recent[oldest]
