"""A JWK Set a stranger published (RFC 7517 §5), read the same way at every lab server.

joserfc's `KeySet.import_key_set` indexes what it is given: `{}` raises KeyError, `[]` and
`{"keys": 1}` TypeError, a key with a malformed member a JoseError or a ValueError. A client's
`jwks` or `jwks_uri`, an AS's JWKS and an IdP's keys all come from a stranger, so each is read
here, and every way it can fail is one ValueError naming the rule, which each caller turns into
its own error (`invalid_client`, `invalid_grant`, `invalid_token`).

A published set holds public keys only (RFC 7591 §2: `jwks` "contains the client's public keys";
RFC 7517 §5's sets are what a party publishes). A key with a private member is a leaked key that
anyone who fetched it can sign with, so it is refused wherever it is read, never quietly used for
its public half. authlib refuses `d` in a client's `jwks` since 1.9.10; this covers every member.
And an RSA key in it is 2048 bits or larger (RFC 7518 §3.3, §3.5), which joserfc only warns about.
"""

from __future__ import annotations

import base64
import re
from collections import deque
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .error_text import reason

__all__ = ["import_jwk_set", "private_key_member"]

# The members that make a JWK private: "d" of an EC key (RFC 7518 §6.2.2.1) and of an OKP key
# (RFC 8037 §2), RSA's private members (RFC 7518 §6.3.2), and "k", a symmetric key, which is
# nothing but a secret (RFC 7518 §6.4.1).
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
# The public members that are base64url-encoded numbers or points (RFC 7518 §6.2.1, §6.3.1;
# RFC 8037 §2): the URL-safe alphabet with no padding (RFC 7515 §2).
BASE64URL_MEMBERS = ("x", "y", "n", "e")
BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
MIN_RSA_BITS = 2048  # RFC 7518 §3.3, §3.5


def import_jwk_set(document: Any) -> KeySet:
    """The keys of `document`, or a ValueError saying why it is no JWK Set."""
    # §5: "a JSON object that represents a set of JWKs. The JSON object MUST have a "keys" member,
    # with its value being an array of JWKs."
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWK Set (RFC 7517 §5: a JSON object whose "keys" member is an array)')
    # §5: "an array of JWKs", and §4: "A JWK is a JSON object". joserfc skipped a 5 silently and
    # then said "No keys to import", or named the next key's missing member.
    if (index := next((i for i, key in enumerate(document["keys"]) if not isinstance(key, dict)), None)) is not None:
        raise ValueError(f"not a JWK Set (RFC 7517 §4, §5): key {index} is not a JSON object")
    if found := private_key_member(document):
        raise ValueError(
            f"not public keys: {found}; a published JWK Set holds public keys only (RFC 7591 §2, RFC 7518 §6)"
        )
    if found := _short_rsa_key(document):
        raise ValueError(f"too weak: {found}")
    try:
        return KeySet.import_key_set(document)  # type: ignore[arg-type]  # its shape is checked above; its keys by joserfc
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # a key joserfc cannot read
        raise ValueError(f"not a JWK Set (RFC 7517 §5): {_unreadable_key(document['keys'], exc)}") from None


def _unreadable_key(keys: list[Any], exc: Exception) -> str:
    """Which key joserfc could not read, and why. Its own message can be empty (binascii.Error
    for an 'x' that is not base64url), which left a description reading "not a JWK Set: ."."""
    for index, key in enumerate(keys):
        for member in BASE64URL_MEMBERS:
            value = key.get(member) if isinstance(key, dict) else None
            if isinstance(value, str) and not _is_base64url(value):
                return f"key {index}'s {member!r} is not base64url (RFC 7518 §6, RFC 8037 §2; RFC 7515 §2)"
    return reason(exc)


def _is_base64url(value: str) -> bool:
    # One character past a multiple of four encodes no whole byte (RFC 4648 §5).
    return bool(BASE64URL.fullmatch(value)) and len(value) % 4 != 1


def _short_rsa_key(document: Any) -> str | None:
    """Which of `document`'s RSA keys is shorter than 2048 bits ("key 0 is a 1024-bit RSA key"),
    or None. RFC 7518 §3.3 (RS256) and §3.5 (PS256): "A key of size 2048 bits or larger MUST be
    used with these algorithms", and every other RSA algorithm of JWA asks the same (§4.2, §4.3),
    so a shorter key is good for none of them: refused wherever a set is read (a client's jwks at
    registration, in a CIMD document and at its jwks_uri; an IdP's keys; an AS's JWKS), before
    joserfc, which only warns, reads it. Its size is its modulus' (RFC 7518 §6.3.1.1: "n", a
    base64urlUInt); a modulus that is not base64url is left to the reader's own refusal."""
    keys = document.get("keys") if isinstance(document, dict) else None
    for index, key in enumerate(keys if isinstance(keys, list) else []):
        modulus = key.get("n") if isinstance(key, dict) and key.get("kty") == "RSA" else None
        if isinstance(modulus, str) and _is_base64url(modulus):
            bits = int.from_bytes(base64.urlsafe_b64decode(modulus + "=" * (-len(modulus) % 4))).bit_length()
            if bits < MIN_RSA_BITS:
                return (
                    f"key {index} is a {bits}-bit RSA key, and a key of size {MIN_RSA_BITS} bits or larger MUST be "
                    "used with RS256 and PS256 (RFC 7518 §3.3, §3.5)"
                )
    return None


# A key's public members (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2): beside a private one, key
# material whatever else the object lacks, a "kty" above all.
_PUBLIC_KEY_MEMBERS = frozenset({"crv", "x", "y", "n", "e"})


def private_key_member(document: Any) -> str | None:
    """Which of `document`'s keys is not public ("key 0 holds the private member 'd'"), or None.

    Every object in it is looked at, at any depth, not only a JWK Set's "keys": a `jwks` that is
    a bare JWK (`{"kty": "OKP", …, "d": …}`), a list of JWKs or a set whose "keys" is an object
    was no set to look inside, and serve published the private key it held (CIMD §4.1). Whatever
    shape carries a private member (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2), the key it
    belongs to is leaked. A key is a JWK: an object with a "kty" (RFC 7517 §4.1: REQUIRED), an
    entry of a "keys" list, where a set holds its keys (§5.1), or an object with a key's public
    members (`{"crv", "x", "d"}`, a key written without its kty, hidden in an extension member).
    Any other object is an extension member's value, which a reader MUST ignore (§4, §5):
    `{"x-policy": {"d": "2026-12-07"}}` is no key.
    Breadth first, so a set's keys are named in their order; the walk is linear in what was
    parsed, which the bounded parser has already bounded."""
    pending: deque[tuple[tuple[str | int, ...], Any]] = deque([((), document)])
    while pending:
        where, value = pending.popleft()
        if isinstance(value, dict):
            is_key = (
                "kty" in value
                or (len(where) >= 2 and where[-2] == "keys" and isinstance(where[-1], int))
                or not _PUBLIC_KEY_MEMBERS.isdisjoint(value)  # a key written without its kty
            )
            if is_key and (member := next((m for m in PRIVATE_MEMBERS if m in value), None)):
                return f"{_named(where)} holds the private member {member!r}"
            pending.extend(((*where, name), inner) for name, inner in value.items())
        elif isinstance(value, list):
            pending.extend(((*where, index), inner) for index, inner in enumerate(value))
    return None


def _named(where: tuple[str | int, ...]) -> str:
    """A JWK Set's key as "key 0"; any other object by its JSON Pointer (RFC 6901)."""
    if len(where) == 2 and where[0] == "keys" and isinstance(where[1], int):
        return f"key {where[1]}"
    pointer = "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in where)
    return f"the object at {pointer}" if pointer else "the top-level object"
