"""Access-token validation (OAuth 2.1 §5.2, MCP §9.2): signature, issuer, audience, validity window.

The keys come from the AS's JWKS, fetched over the lab network and cached; an unknown `kid`
triggers a re-fetch (the AS may have rotated its key), but at most one every
`JWKS_REFRESH_INTERVAL` seconds: otherwise every bogus token a stranger invents would make this
server fetch the JWKS again (20 tokens, 20 fetches). Concurrent first requests share one fetch.
A token whose signature was verified once is remembered (by its exact string) until it expires;
`exp` and `nbf` (RFC 7519 §4.1.4, §4.1.5) are checked on every request, so the cache never lets
a token be used outside its window.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import KeySet

from ..bounded_json import DEFAULT_LIMITS, JsonRejected, parse_json
from ..determinism import LabClock
from ..loop_local import LoopLocalLock
from ..rfc7517 import import_jwk_set
from ..rfc7519 import (
    JwtRejected,
    audience_is_only,
    check_not_before,
    numeric_date,
    typ_is,
    unverified_parts,
    verify_signature,
)

# The AS's Ed25519, and RS256, which RFC 9068 §2.1 says every resource server MUST support.
ALGORITHMS = ("Ed25519", "RS256")
_MAX_REMEMBERED = 10_000
MAX_TOKEN_CHARS = 8 * 1024  # the lab's tokens are ~700 characters; nothing longer is looked at
JWKS_REFRESH_INTERVAL = 60  # seconds between JWKS re-fetches caused by an unknown kid
JWKS_JSON = DEFAULT_LIMITS.but(max_bytes=64 * 1024, max_depth=4)
TOKEN_JSON = DEFAULT_LIMITS.but(max_bytes=MAX_TOKEN_CHARS, max_depth=8)  # a token's header or claims


def outside_keys_client() -> httpx.AsyncClient:
    """The client that fetches the keys of an AS off the lab network (a lab built with URLs
    elsewhere), verifying its TLS certificate against the CAs httpx trusts by default (certifi's),
    and not through a proxy the environment names."""
    return httpx.AsyncClient(timeout=5, trust_env=False, verify=_certifi_trust())


@functools.cache
def _certifi_trust() -> ssl.SSLContext:
    """httpx's own default context, read once a process: each reads certifi's whole bundle, some
    18 ms of CPU, and a served lab (whose `connect_outside` replaces this client at once) built one
    at every start, the test suite some 160."""
    return httpx.create_ssl_context(trust_env=False)


class InvalidToken(Exception):
    """Why the token is refused: the `error_description` of a 401 invalid_token."""


def refuse_overlong(token: str) -> None:
    """A token longer than any this server's AS issues is refused unread, whoever would check it:
    read here, or sent to the AS, where one over its 64 KiB body limit came back "the authorization
    server refused to introspect (413)", a request for a token no AS here issues."""
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidToken(
            f"the token is longer than {MAX_TOKEN_CHARS} characters, which no token from this server's AS is"
        )


def audience_refusal(aud: object, audience: str) -> InvalidToken:
    """Why a token whose `aud` is not this server alone is refused, whoever read it (the JWT here,
    or the AS's introspection answer): MCP §9.2 / RFC 8707, a token minted for another resource
    must never be accepted here. A token that names no audience was minted for none: passthrough
    was not its fault (a refresh token introspected as active named none), so the rule is named."""
    if aud is None:
        return InvalidToken(
            f"the token names no audience; this server ({audience}) accepts only tokens issued for it as "
            "their audience (MCP §9.2, RFC 8707 §2)"
        )
    return InvalidToken(f"audience {aud!r} is not this server ({audience}); token passthrough is forbidden")


@dataclass(frozen=True)
class TokenClaims:
    client_id: str
    subject: str
    scopes: frozenset[str]
    audience: str
    issuer: str
    expires_at: int | float
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
        self._fetching = LoopLocalLock()
        self._fetched_at: int | None = None
        self.jwks_fetches = 0

    async def _key_set(self, refresh: bool = False) -> KeySet:
        async with self._fetching:  # concurrent first requests wait for one fetch, not one each
            if self._keys is None or (refresh and self._may_refresh()):
                self._fetched_at = self.clock.now()
                self.jwks_fetches += 1
                response = await self.http.get(self.jwks_uri)
                response.raise_for_status()
                self._keys = import_jwk_set(parse_json(response.content, JWKS_JSON, what="the JWKS"))
            return self._keys

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self.clock.now() - self._fetched_at >= JWKS_REFRESH_INTERVAL

    def has_verified(self, token: str) -> bool:
        """Whether `token` passed the full check here and is remembered (so its `iss` is this
        validator's issuer); its window is still checked by `validate`."""
        return token in self._verified

    async def validate(self, token: str, *, header: dict[str, Any] | None = None) -> TokenClaims:
        """`header`: the token's header as `unverified_parts` read it (TOKEN_JSON), if the caller did."""
        claims = self._verified.get(token)
        if claims is None:
            claims = await self._verify(token, header)
            self._forget_expired(self.clock.now())
            if len(self._verified) >= _MAX_REMEMBERED:
                self._verified.clear()  # simple bound; the next request just verifies again
            self._verified[token] = claims
        now = self.clock.now()
        if claims.expires_at <= now:
            del self._verified[token]
            raise InvalidToken("token expired")
        try:
            check_not_before(claims.raw, now, what="the token")
        except JwtRejected as rejected:
            raise InvalidToken(rejected.rule) from None
        return claims

    def _forget_expired(self, now: int) -> None:
        # A token is remembered in the order it was first verified, which is close to the order of
        # its `exp` (one AS, one lifetime): dropping the expired ones from the front costs nothing
        # per request, and a token nobody presents again is not kept past its `exp` until the
        # store fills: a served lab runs for hours, and held each token it had ever verified, to
        # refuse it anyway, until the 10,000th cleared them all.
        while self._verified:
            oldest = next(iter(self._verified))
            if self._verified[oldest].expires_at > now:
                return
            del self._verified[oldest]

    async def _verify(self, token: str, header: dict[str, Any] | None = None) -> TokenClaims:
        refuse_overlong(token)
        if header is None:
            try:
                header, _ = unverified_parts(token, what="the token", limits=TOKEN_JSON)
            except JwtRejected as rejected:
                raise InvalidToken(f"the token is not a well-formed JWT: {rejected.rule}") from None
        # RFC 9068 §4: typ MUST be "at+jwt" or "application/at+jwt", a media type (RFC 7515
        # §4.1.9), so compared case-insensitively.
        if not typ_is(header, "at+jwt") or header.get("alg") not in ALGORITHMS:
            raise InvalidToken("the token is not an RFC 9068 access token signed by this server's AS")
        try:
            keys = await self._key_set()
            if not any(key.kid == header.get("kid") for key in keys.keys):
                keys = await self._key_set(refresh=True)
        except (httpx.HTTPError, JsonRejected, ValueError) as exc:
            raise InvalidToken(f"the authorization server's JWKS could not be loaded: {exc}") from None
        if not any(key.kid == header.get("kid") for key in keys.keys):
            raise InvalidToken(
                f"no key {header.get('kid')!r} in the authorization server's JWKS "
                f"(re-fetched at most once every {JWKS_REFRESH_INTERVAL} s)"
            )
        try:
            claims = verify_signature(token, keys, ALGORITHMS, what="the token")
        except JwtRejected:
            raise InvalidToken("signature verification failed") from None
        if claims.get("iss") != self.issuer:
            raise InvalidToken(f"issuer {claims.get('iss')!r} is not this server's authorization server")
        if not audience_is_only(claims.get("aud"), self.audience):
            raise audience_refusal(claims.get("aud"), self.audience)
        try:
            # RFC 9068 §2.2: exp is REQUIRED; RFC 7519 §2: a NumericDate is a number, fractions allowed.
            exp = numeric_date(claims, "exp", what="the token")
            numeric_date(claims, "nbf", what="the token")  # checked against the clock on every request
        except JwtRejected as rejected:
            raise InvalidToken(rejected.rule) from None
        if exp is None:
            raise InvalidToken("the token has no exp, which an access token MUST contain (RFC 9068 §2.2)")
        client_id, subject, scope = claims.get("client_id"), claims.get("sub"), claims.get("scope", "")
        if not isinstance(client_id, str) or not isinstance(subject, str) or not isinstance(scope, str):
            raise InvalidToken("the token lacks client_id, sub or scope")
        return TokenClaims(client_id, subject, frozenset(scope.split()), self.audience, claims["iss"], exp, claims)
