"""The in-process RSA key (authorization_server/rsa_keys.py): its primes are the lab's own, drawn
from the seed, so what FIPS 186-5 A.1.3 asks of them is checked here, not by `cryptography`."""

from __future__ import annotations

import random

import pytest

from lab_servers.authorization_server import rsa_keys
from lab_servers.determinism import SeededIds, SystemIds

# Composites a Fermat test or a few fixed Miller-Rabin bases let through: Carmichael numbers, and
# strong pseudoprimes to the first prime bases (3215031751 to 2, 3, 5, 7; 3825123056546413051 to
# every prime base up to 23).
PSEUDOPRIMES = [561, 1105, 1729, 2465, 2821, 6601, 8911, 3215031751, 3474749660383, 3825123056546413051]


@pytest.mark.parametrize("n", PSEUDOPRIMES)
def test_miller_rabin_with_random_bases_finds_the_pseudoprimes_composite(n: int) -> None:
    assert not rsa_keys._probably_prime(n, random.Random(0))


def test_miller_rabin_finds_the_primes_prime() -> None:
    stream = random.Random(0)
    assert [n for n in range(5, 60, 2) if rsa_keys._probably_prime(n, stream)] == [
        5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59,
    ]  # fmt: skip


def test_primes_too_close_together_are_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # FIPS 186-5 A.1.3: |p - q| > 2^(nlen/2 - 100). Closer, n = p·q is factored from its square
    # root (Fermat); two independent random primes are that close with probability ~2^-100, so
    # the draw is forced here: a prime and the next one, then two ordinary primes.
    stream = random.Random(1)
    half = rsa_keys.BITS // 2
    close = rsa_keys._prime(stream, half)
    after = next(n for n in range(close + 2, close + 100_000, 2) if rsa_keys._probably_prime(n, stream))
    good = rsa_keys._prime(stream, half), rsa_keys._prime(stream, half)
    drawn = iter([close, after, *good])
    monkeypatch.setattr(rsa_keys, "_prime", lambda _stream, _bits: next(drawn))
    numbers = rsa_keys.rsa_key(SeededIds(0)).private_numbers()
    assert {numbers.p, numbers.q} == set(good)


def test_a_served_key_comes_from_cryptography_not_from_the_labs_own_primes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Served (system randomness), the key is OpenSSL's through `cryptography`; the lab's own
    # prime search is only for seeded, byte-identical replays in process.
    made: list[dict[str, int]] = []
    generate = rsa_keys.rsa.generate_private_key
    monkeypatch.setattr(rsa_keys.rsa, "generate_private_key", lambda **kw: made.append(kw) or generate(**kw))
    monkeypatch.setattr(rsa_keys, "_prime", lambda *_: pytest.fail("a served key's primes came from rsa_keys"))
    key = rsa_keys.rsa_key(SystemIds())
    assert made == [{"public_exponent": 65537, "key_size": 2048}] and key.key_size == 2048
