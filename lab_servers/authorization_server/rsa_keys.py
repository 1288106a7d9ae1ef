"""An RSA key for RS256 access tokens (RFC 9068 §2.1: authorization servers and resource servers
"MUST include RS256 ... among their supported signature algorithms"; RFC 7518 §3.3: a key of
2048 bits or larger).

`cryptography` makes RSA keys from the operating system's randomness only, so in process, where
the same seed must give byte-identical tokens (RS256 signatures are deterministic, RFC 8017
§8.2), the two primes are drawn from the lab's seeded stream and tested here (Miller-Rabin,
FIPS 186-5 A.1.3's probable primes); the rest of the key is derived as RFC 8017 §3.2 defines
it. Served, with system randomness, `cryptography` makes the key.
"""

from __future__ import annotations

import math
import random

from cryptography.hazmat.primitives.asymmetric import rsa

from ..determinism import SeededIds, SystemIds

BITS = 2048
PUBLIC_EXPONENT = 65537
_SMALL_PRIMES = [p for p in range(3, 2000, 2) if all(p % d for d in range(3, math.isqrt(p) + 1, 2))]
# FIPS 186-5 Table B.1: for the 1024-bit primes of a 2048-bit key, 5 rounds of Miller-Rabin on a
# random candidate keep the error probability below 2^-112, the key's security strength. (40
# rounds, the bound for a candidate chosen by an adversary, tripled the time of a seeded key.)
_ROUNDS = 5


def rsa_key(ids: SeededIds) -> rsa.RSAPrivateKey:
    if isinstance(ids, SystemIds):
        return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=BITS)
    stream = ids.generator("as-rsa-key-primes")
    while True:
        p, q = _prime(stream, BITS // 2), _prime(stream, BITS // 2)
        lam = math.lcm(p - 1, q - 1)
        # FIPS 186-5 A.1.3: |p - q| > 2^(nlen/2 - 100), else n falls to Fermat's factoring from √n.
        far_apart = abs(p - q) > 2 ** (BITS // 2 - 100)
        if far_apart and (p * q).bit_length() == BITS and math.gcd(PUBLIC_EXPONENT, lam) == 1:
            break
    d = pow(PUBLIC_EXPONENT, -1, lam)
    public = rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public)
    return numbers.private_key()


def _prime(stream: random.Random, bits: int) -> int:
    """A probable prime of exactly `bits` bits, its top two bits set (so p·q has 2·bits bits)."""
    while True:
        candidate = stream.getrandbits(bits) | (0b11 << (bits - 2)) | 1
        if all(candidate % p for p in _SMALL_PRIMES) and _probably_prime(candidate, stream):
            return candidate


def _probably_prime(n: int, stream: random.Random) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(_ROUNDS):
        x = pow(stream.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True
