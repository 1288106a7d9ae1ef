"""The authorization server's state: configuration, keys, clients, and what it remembers.

The bottom of the AS's layering: endpoint modules (`authorize.py`, `token.py`, one module per
grant or endpoint spec) import this module; it imports none of them, and `server.py` imports
them all to build the HTTP surface. So imports run one way (DESIGN.md principle 8).
"""

from __future__ import annotations

from typing import Any

import httpx

from ..determinism import LabClock, SeededIds
from ..rfc7519 import JwtRejected, check_not_before
from .capabilities import DEFAULT_CAPABILITIES, ASCapabilities
from .cimd import CimdResolver
from .clients import Client, ClientRegistry
from .defensive_fetch import Resolver
from .errors import OAuthError
from .expiring_store import ExpiringStore
from .grants import AuthorizationCode, ExchangeRule, PendingAuthorization, RedeemedCode
from .keys import ALGORITHM, AccessTokenAlgorithm, SigningKey
from .policy import HARDENED, ASPolicy
from .rfc6749 import scope_tokens
from .rfc7591 import Registrar
from .rfc8414 import (
    CLIENT_ASSERTION_ALGORITHMS,
    ID_JAG_PROFILE,
    JWT_BEARER,
    TOKEN_EXCHANGE,
    authorization_server_metadata,
)
from .shared_fetch import SharedFetches
from .spent_jtis import SpentJtis
from .token_records import IssuedAccessTokens, RefreshTokens

# Scope values OpenID Connect defines (OIDC Core 1.0 §3.1.2.1 `openid`, §5.4 the claims'
# `profile` `email` `address` `phone`, §11 `offline_access`): requests to the AS itself, which
# this one ignores unless it offers them (`requested_scopes`).
OPENID_SCOPES = frozenset({"openid", "profile", "email", "address", "phone", "offline_access"})
MAX_PENDING_CONSENTS = 10_000  # consent transactions awaiting a decision (each lives 10 minutes)
MAX_LIVE_CODES = 10_000  # codes, used or not, kept until they expire (60 s)
MAX_REDEEMED_CODES = 10_000  # as many as refresh families: each kept as long as one (reuse detection)


class AuthorizationServerState:
    """Everything the AS knows and remembers. Endpoint and grant modules take this object; only
    `server.py` (the HTTP surface) sits above them all."""

    def __init__(
        self,
        issuer: str,
        *,
        resources: dict[str, list[str]],
        http: httpx.AsyncClient,
        resolve: Resolver,
        clock: LabClock,
        ids: SeededIds,
        policy: ASPolicy = HARDENED,
        user: str = "alice",
        capabilities: ASCapabilities = DEFAULT_CAPABILITIES,
        access_token_algorithm: AccessTokenAlgorithm = ALGORITHM,
    ) -> None:
        self.issuer = issuer
        self._capabilities = capabilities.following(capabilities.mcp_revision)
        self.token_endpoint = f"{issuer}/token"
        # Canonical resource URI → the scopes it understands. Copied: callers pass module-level
        # lists, and a change to one AS's scopes must not reach every lab built after it.
        self.resource_scopes = {resource: list(scopes) for resource, scopes in resources.items()}
        self.clock = clock
        self.ids = ids
        self.user = user  # the lab's signed-in user (the lab has no login step)
        self.keys = SigningKey(ids, access_token_algorithm)
        # What a client_assertion may be signed with (RFC 7523 §3, RFC 8414 §2): advertised and
        # enforced from this one value, the AS's own (a tuple: nothing changes it in place).
        self.client_assertion_algorithms: tuple[str, ...] = CLIENT_ASSERTION_ALGORITHMS
        self.registry = ClientRegistry()
        self.cimd = CimdResolver(http, resolve, clock, policy, self.metadata)
        self.registrar = Registrar(self.registry, ids, clock, http=http, resolve=resolve, policy=lambda: self.policy)
        self.pending: ExpiringStore[PendingAuthorization] = ExpiringStore(MAX_PENDING_CONSENTS)
        self.codes: ExpiringStore[AuthorizationCode] = ExpiringStore(MAX_LIVE_CODES)
        # Keyed by the redeeming client, not by address: a client that floods it (a code a
        # minute for a day) pushes out its own oldest, never another client's.
        self.redeemed_codes: ExpiringStore[RedeemedCode] = ExpiringStore(MAX_REDEEMED_CODES)
        self.refresh_tokens = RefreshTokens()  # until their family ends (token_records.py)
        # (iss, jti) → exp of client assertions (RFC 7523 §3 replay). RFC 7519 §4.1.7 makes a jti
        # unique per issuer only, so two issuers' jti may collide: keyed by jti alone, one CIMD
        # client could spend another's jti before it is used.
        self.seen_assertions = SpentJtis("client assertions")
        # (jwks_uri, policy) → its fetch under way: concurrent private_key_jwt requests share one.
        self.key_fetches: SharedFetches[Any] = SharedFetches()
        self.revoked_jtis: dict[str, int] = {}  # access-token jti → exp: the AS's denylist (RFC 7009)
        # access-token jti → its grant (a refresh family, or a code redeemed without one), to revoke a grant whole
        self.grant_of_jti: dict[str, str] = {}
        # access-token jti → the jtis of tokens exchanged for it (RFC 8693), revoked with it; kept
        # while one of those lives, after the token itself expired (token_records.py)
        self.exchanged_from: dict[str, list[str]] = {}
        # Claims of unexpired access tokens; forgetting one forgets its entries in the three above.
        self.issued = IssuedAccessTokens(self.grant_of_jti, self.revoked_jtis, self.exchanged_from)
        self.introspectors: dict[str, str] = {}  # client_id → the resource whose tokens it may introspect
        self.exchange_rules: dict[str, ExchangeRule] = {}  # client_id → RFC 8693 policy
        self.trusted_idps: dict[str, dict[str, Any]] = {}  # IdP issuer → its JWKS (enterprise trust, by configuration)
        self.seen_id_jags = SpentJtis("ID-JAGs")  # ID-JAG (iss, jti) → exp (replay check, as above)
        # MCP 2026-07-28 §10 (SEP-2207): when True, the AS lists offline_access and issues a
        # refresh token only to a grant that includes it (OIDC Core §11's reading).
        self.offline_access = False

    # State the notebooks read, and the policy switch ---------------------------------------

    @property
    def policy(self) -> ASPolicy:
        return self.cimd.policy

    @policy.setter
    def policy(self, policy: ASPolicy) -> None:
        self.cimd.policy = policy
        self.cimd.cache.clear()  # documents accepted under another policy must be re-judged

    @property
    def capabilities(self) -> ASCapabilities:
        """What it offers: advertised and enforced (switchable), and the MCP revision it follows."""
        return self._capabilities

    @capabilities.setter
    def capabilities(self, capabilities: ASCapabilities) -> None:
        # Switched to capabilities that name no revision, the AS keeps the one it follows (its
        # lab's): a 2025-03-26 AS given ASCapabilities(cimd=False) is still a 2025-03-26 AS.
        self._capabilities = capabilities.following(self._capabilities.mcp_revision)

    @property
    def resources(self) -> list[str]:
        return list(self.resource_scopes)

    @property
    def scopes(self) -> list[str]:
        scopes = {s for scopes in self.resource_scopes.values() for s in scopes}
        return sorted(scopes | ({"offline_access"} if self.offline_access else set()))

    def metadata(self) -> dict[str, Any]:
        grant_types = ["authorization_code", "refresh_token", "client_credentials"] + (
            [TOKEN_EXCHANGE] if self.exchange_rules else []
        )
        grant_types += [JWT_BEARER] if self.trusted_idps else []
        metadata = authorization_server_metadata(
            self.issuer, self.scopes, self.resources, grant_types, self.client_assertion_algorithms
        )
        if self.trusted_idps:
            metadata["authorization_grant_profiles_supported"] = [ID_JAG_PROFILE]  # ID-JAG draft §7
        return self.capabilities.apply_to_metadata(metadata)

    def scopes_of(self, resource: str) -> list[str]:
        """The scopes a token for `resource` may carry: those that resource understands (RFC 8707
        §2: the scope is "for" the resource), with offline_access when the AS lists it."""
        scopes = set(self.resource_scopes.get(resource, []))
        return sorted(scopes | ({"offline_access"} if self.offline_access else set()))

    def requested_scopes(self, scope: str | None, resource: str) -> list[str]:
        """The scope tokens of `scope` (RFC 6749 §3.3's grammar; malformed is invalid_scope) less
        the OpenID Connect ones this AS does not offer for `resource`, which it ignores.

        OAuth 2.1 §1.4.1 (RFC 6749 §3.3): the AS "MAY fully or partially ignore the scope
        requested by the client". `OPENID_SCOPES` ask the AS for something of its own, not of a
        resource: an ID token, claims, a refresh token. Real clients add them whatever the AS
        lists: Claude Code and Claude Desktop `offline_access` (anthropics/claude-code#41610,
        modelcontextprotocol/mcpb#188), Cline and n8n `openid`, mcp-remote `openid email
        profile`. Refused, those clients could never sign in here; SEP-2207, the refresh-token
        guidance in MCP 2026-07-28, counts on it: "Clients that already request `offline_access`
        continue to work". A resource's own scopes are never ignored: one this AS lacks is refused."""
        supported = self.scopes_of(resource)
        return [s for s in scope_tokens(scope) if s in supported or s not in OPENID_SCOPES]

    def check_scope(self, scope: str | None, resource: str) -> str:
        """The scope to grant for a token whose audience is `resource`, checked against that
        resource's scopes, not the union of every resource's: a scope another server of this AS
        defines means nothing at this one, and would travel in a token it accepts."""
        supported = self.scopes_of(resource)
        requested = self.requested_scopes(scope, resource)
        if not requested:
            # RFC 6749 §3.3: with no scope requested (or only ones this AS ignores) the AS "MUST
            # either process the request using a pre-defined default value or fail the request
            # indicating an invalid scope". The token response names the scope granted (RFC 6749 §5.1).
            if not supported:
                raise OAuthError(
                    "invalid_scope", "no scope was requested and this AS has none to grant by default (RFC 6749 §3.3)"
                )
            return " ".join(supported[:1])
        unknown = [s for s in requested if s not in supported]
        if unknown:
            raise OAuthError(
                "invalid_scope",
                f"unknown scope(s) {' '.join(unknown)} for {resource}; it supports: {' '.join(supported)} (RFC 6749 §3.3)",
            )
        return " ".join(requested)  # RFC 6749 §3.3: a set; a repeat adds nothing

    def preregister(self, client_id: str, metadata: dict[str, Any], client_secret: str | None = None) -> Client:
        """Add a client the way an administrator would, out of band (MCP §5.2)."""
        return self.registry.add(Client(client_id, "preregistered", dict(metadata), client_secret, self.clock.now()))

    def revoke_family(self, family: str) -> None:
        """End a grant (a refresh family, or a code's `grant`): its refresh tokens, and the access
        tokens based on it (RFC 7009 §2.1 SHOULD; OAuth 2.1 §4.1.3, §4.3.1 on reuse)."""
        for token in self.refresh_tokens.values():
            if token.family == family:
                token.revoked = True
        for jti, token_family in self.grant_of_jti.items():
            if token_family == family:
                self.revoke_access_token(jti)

    def revoke_access_token(self, jti: str) -> None:
        """Deny an access token, and every token a token exchange issued for it: those are based
        on the same grant (RFC 7009 §2.1 SHOULD), and the subject token they stand in for is gone."""
        # Down the chain (S → E1 → E2: E2 stands in for E1, which stood in for S), expired links
        # included; walked with a list, not recursion, however deep a chain grows.
        pending = [jti]
        while pending:
            current = pending.pop()
            exp = self.issued.exp_of_jti.get(current)
            if exp is not None:  # an expired token needs no denying: its exp refuses it (RFC 7519 §4.1.4)
                self.revoked_jtis[current] = exp
            pending.extend(self.exchanged_from.get(current, []))

    def active_access_token(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token this AS issued that is still good: signed by it, not
        expired, not revoked. None otherwise."""
        claims = self.keys.verify(token)
        if claims is None or claims.get("iss") != self.issuer:
            return None
        exp, now = claims.get("exp"), self.clock.now()
        if not isinstance(exp, int) or exp <= now or claims.get("jti") in self.revoked_jtis:
            return None
        try:
            # RFC 7519 §4.1.5: not accepted before its nbf, as the resource server reads it
            # (resource_server/tokens.py): introspection's "active" is the same time window (RFC 7662
            # §2.2), so an introspecting MCP server accepts what a checking one does, and no earlier.
            check_not_before(claims, now, what="the token")
        except JwtRejected:
            return None
        return claims
