"""The lab's sources of time and randomness, injectable so that a scenario replays byte for byte.

A real server reads the wall clock and a CSPRNG. The lab reads a `LabClock` that moves only when
told to, and a `SeededIds` whose streams are derived from one seed and a purpose name, so that
adding a draw in one place (say, one more `state` value) never shifts the ids minted elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import UTC, datetime
from typing import Any

from .arguments import int_text, wrong_type

# 2026-01-01T00:00:00Z: a fixed, readable starting instant for every lab.
DEFAULT_START = 1_767_225_600


class LabClock:
    """Seconds since the epoch; stands still until `advance` moves it."""

    def __init__(self, start: int = DEFAULT_START) -> None:
        self._now = _when(_whole_seconds("LabClock", start, "such as LabClock(1767225600) for 2026-01-01"))

    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> int:
        seconds = _whole_seconds("lab.clock.advance", seconds, "such as advance(600) for ten minutes")
        if seconds < 0:
            raise ValueError("the lab clock does not run backwards")
        self._now = _when(self._now + seconds)
        return self._now

    def isoformat(self) -> str:
        return datetime.fromtimestamp(self._now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _whole_seconds(what: str, seconds: object, example: str) -> int:
    """A whole number of seconds (a float such as 90.0 too), as `what` takes it."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise wrong_type(f"{what} takes a number of seconds, {example}", seconds)
    if isinstance(seconds, float) and not seconds.is_integer():  # NaN and infinity are not either
        raise ValueError(f"the lab clock counts whole seconds; {what}({seconds}) is not a whole number")
    return int(seconds)


def _when(now: int) -> int:
    """`now`, if a date can show it: tokens' exp and the views' dates are written as years 1 to 9999.
    A clock beyond them (advance(1e300)) ran on, and each view of it raised an OverflowError."""
    if not _FIRST <= now <= _LAST:
        raise ValueError(f"the lab clock reads seconds since 1970 within the years 1 to 9999; {int_text(now)} is not")
    return now


_FIRST, _LAST = -62_135_596_800, 253_402_300_799  # 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z


class SeededIds:
    """Deterministic stand-in for `secrets`: one independent stream per purpose."""

    def __init__(self, seed: int | str = 0) -> None:
        if not isinstance(seed, int | str):  # a list or None was written into every id as its repr
            raise wrong_type("SeededIds takes a seed, an int or a str such as SeededIds(7)", seed)
        if isinstance(seed, int) and seed.bit_length() > 13_000:
            # Written into each stream's name: past 4,300 digits Python refuses to write it.
            raise ValueError(f"SeededIds takes a seed of at most about 3,900 digits; got {int_text(seed)}")
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def _stream(self, purpose: str) -> random.Random:
        if purpose not in self._streams:
            # str seeds go through SHA-512 in `random.seed`, so they do not depend on PYTHONHASHSEED.
            self._streams[purpose] = random.Random(f"{self.seed}:{purpose}")
        return self._streams[purpose]

    def generator(self, purpose: str) -> random.Random:
        """The stream itself, for what draws more than bytes (the primes of an RSA key)."""
        return self._stream(purpose)

    def bytes(self, purpose: str, n: int) -> bytes:
        return self._stream(purpose).randbytes(n)

    def token(self, purpose: str, n: int = 16, prefix: str = "") -> str:
        """URL-safe text of `n` random bytes, like `secrets.token_urlsafe(n)`."""
        return prefix + base64.urlsafe_b64encode(self.bytes(purpose, n)).rstrip(b"=").decode()

    def alphanumeric(self, purpose: str, n: int, prefix: str = "") -> str:
        """`n` characters from [A-Za-z0-9]: ids that read cleanly in a URL or a table."""
        stream = self._stream(purpose)
        return prefix + "".join(stream.choice(_ALPHANUMERIC) for _ in range(n))

    def derived(self, name: str) -> SeededIds:
        """The source for one part of the lab (a client, another AS), from the same seed: its
        draws never shift another part's."""
        return SeededIds(f"{self.seed}:{name}")


class SystemIds(SeededIds):
    """Ids, codes, PKCE verifiers, `state` values and signing keys from the OS's CSPRNG
    (`random.SystemRandom`), for what real clients and servers meet: `serve` and the conformance
    client. What it derives draws from the CSPRNG too. Derived from a seed, as in process, every
    served client's PKCE verifier and `state` would be the same in every run, guessable by anyone
    (RFC 7636 §7.1: "cannot be guessed"; RFC 6749 §10.12)."""

    def __init__(self) -> None:
        super().__init__("system")

    def _stream(self, purpose: str) -> Any:
        return random.SystemRandom()

    def derived(self, name: str) -> SeededIds:
        return SystemIds()


_ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def fingerprint(text: str) -> str:
    """Short stable digest, for display (never for security decisions)."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]
