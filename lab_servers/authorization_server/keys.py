"""The AS signing key and its JWKS. Ed25519 by default (RFC 8037, algorithm name `Ed25519` per
RFC 9864): its signatures are deterministic, so a seeded key gives byte-identical tokens on every
run. RS256 on request (RFC 9068 §2.1: an AS conforming to it "MUST include RS256 ... among [its]
supported signature algorithms"), from a key `rsa_keys` derives from the same seed."""

from __future__ import annotations

from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OKPKey, RSAKey

from ..determinism import SeededIds
from ..rfc7519 import JwtRejected, typ_is, unverified_parts, verify_signature
from .rsa_keys import rsa_key

ALGORITHM: Final = "Ed25519"
AccessTokenAlgorithm = Literal["Ed25519", "RS256"]


class SigningKey:
    def __init__(self, ids: SeededIds, algorithm: AccessTokenAlgorithm = ALGORITHM) -> None:
        self.algorithm = algorithm
        if algorithm == "RS256":
            self._key: OKPKey | RSAKey = RSAKey.import_key(rsa_key(ids))
        else:
            self._key = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(ids.bytes("as-signing-key", 32)))
        self.kid = self._key.thumbprint()

    def jwks(self) -> dict[str, Any]:
        public = {**self._key.as_dict(private=False), "kid": self.kid, "alg": self.algorithm, "use": "sig"}
        return {"keys": [public]}

    def sign_access_token(self, claims: dict[str, Any]) -> str:
        # RFC 9068 §2.1: JWT access tokens carry typ "at+jwt" so they cannot pass for ID tokens.
        header = {"alg": self.algorithm, "typ": "at+jwt", "kid": self.kid}
        return jwt.encode(header, claims, self._key, algorithms=[self.algorithm])

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this key signed (signature and `typ` only), or None."""
        try:
            # A stranger's string (a subject_token, a token to revoke or introspect): its header and
            # claims must be JSON objects before joserfc reads them (lab_servers.rfc7519).
            header, _ = unverified_parts(token, what="the token")
            claims = verify_signature(token, self._key, [self.algorithm], what="the token")
        except JwtRejected:
            return None
        return claims if typ_is(header, "at+jwt") else None  # RFC 9068 §4, RFC 7515 §4.1.9
