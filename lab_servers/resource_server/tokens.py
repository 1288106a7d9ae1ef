"""Access-token validation (OAuth 2.1 §5.2, MCP §9.2): signature, issuer, audience, expiry.

The keys come from the AS's JWKS, fetched over the lab network and cached; an unknown `kid`
triggers one re-fetch (the AS may have rotated its key). A token whose signature was verified
once is remembered (by its exact string) until it expires; expiry is still checked on every
request, so the cache never lets a token outlive its `exp`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..determinism import LabClock

ALGORITHMS = ["Ed25519"]
_MAX_REMEMBERED = 10_000


class InvalidToken(Exception):
    """Why the token is refused: the `error_description` of a 401 invalid_token."""


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    subject: str
    scopes: frozenset[str]
    audience: str
    issuer: str
    expires_at: int
    raw: dict[str, Any]


class TokenValidator:
    def __init__(self, *, issuer: str, jwks_uri: str, audience: str, http: httpx.AsyncClient, clock: LabClock) -> None:
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self.audience = audience
        self.http = http
        self.clock = clock
        self._keys: KeySet | None = None
        self._verified: dict[str, TokenClaims] = {}

    async def _key_set(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            response = await self.http.get(self.jwks_uri)
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        return self._keys

    async def validate(self, token: str) -> TokenClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = await self._verify(token)
            if len(self._verified) >= _MAX_REMEMBERED:
                self._verified.clear()  # simple bound; the next request just verifies again
            self._verified[token] = claims
        if claims.expires_at <= self.clock.now():
            del self._verified[token]
            raise InvalidToken("token expired")
        return claims

    async def _verify(self, token: str) -> TokenClaims:
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError):
            raise InvalidToken("the token is not a well-formed JWT") from None
        if header.get("typ") != "at+jwt" or header.get("alg") not in ALGORITHMS:
            raise InvalidToken("the token is not an RFC 9068 access token signed by this server's AS")
        keys = await self._key_set()
        if not any(key.kid == header.get("kid") for key in keys.keys):
            keys = await self._key_set(refresh=True)
        try:
            claims = jwt.decode(token, keys, algorithms=ALGORITHMS).claims
        except (JoseError, ValueError):
            raise InvalidToken("signature verification failed") from None
        if claims.get("iss") != self.issuer:
            raise InvalidToken(f"issuer {claims.get('iss')!r} is not this server's authorization server")
        if claims.get("aud") != self.audience:
            # MCP §9.2 / RFC 8707: a token minted for another resource must never be accepted here.
            raise InvalidToken(f"audience {claims.get('aud')!r} is not this server ({self.audience}); token passthrough is forbidden")
        exp = claims.get("exp")
        if not isinstance(exp, int):
            raise InvalidToken("the token has no exp")
        client_id, subject, scope = claims.get("client_id"), claims.get("sub"), claims.get("scope", "")
        if not isinstance(client_id, str) or not isinstance(subject, str) or not isinstance(scope, str):
            raise InvalidToken("the token lacks client_id, sub or scope")
        return TokenClaims(client_id, subject, frozenset(scope.split()), claims["aud"], claims["iss"], exp, claims)
