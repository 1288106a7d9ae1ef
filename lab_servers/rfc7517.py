"""A JWK Set a stranger published (RFC 7517 §5), read the same way at every lab server.

joserfc's `KeySet.import_key_set` indexes what it is given: `{}` raises KeyError, `[]` and
`{"keys": 1}` TypeError, a key with a malformed member a JoseError or a ValueError. A client's
`jwks` or `jwks_uri`, an AS's JWKS and an IdP's keys all come from a stranger, so each is read
here, and every way it can fail is one ValueError naming the rule, which each caller turns into
its own error (`invalid_client`, `invalid_grant`, `invalid_token`).
"""

from __future__ import annotations

from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

__all__ = ["import_jwk_set"]


def import_jwk_set(document: Any) -> KeySet:
    """The keys of `document`, or a ValueError saying why it is no JWK Set."""
    # §5: "a JSON object that represents a set of JWKs. The JSON object MUST have a "keys" member,
    # with its value being an array of JWKs."
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWK Set (RFC 7517 §5: a JSON object whose "keys" member is an array)')
    try:
        return KeySet.import_key_set(document)  # type: ignore[arg-type]  # its shape is checked above; its keys by joserfc
    except (JoseError, ValueError, TypeError, KeyError) as exc:  # a key joserfc cannot read
        raise ValueError(f"not a JWK Set (RFC 7517 §5): {exc}") from None
