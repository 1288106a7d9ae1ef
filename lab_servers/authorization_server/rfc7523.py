"""RFC 7523 JWT bearer grant, for enterprise-managed authorization: the assertion is an ID-JAG
from an identity provider this AS trusts by configuration (`trusted_idps`: issuer → JWKS).

Validation (ext-auth §5.1, §7.4, §7.6; ID-JAG draft §4.4): `typ` oauth-id-jag+jwt; an allowed
`alg` (never `none`); `iss` a trusted IdP and the signature its key; `aud` this AS's issuer;
`exp` in the future and `nbf`, if any, past (RFC 7519 §4.1.5); `client_id` the authenticated
client; `sub` a string; `resource` a resource of this AS; `jti` never seen before (replay). Every
failure of the assertion is `invalid_grant` (RFC 7523 §3.1); a request `resource` other than the
one granted is the request's, `invalid_target` (RFC 8707 §2). No consent screen (the enterprise
decided) and no refresh token (draft §4.4.3: SHOULD NOT).
"""

from __future__ import annotations

import math
from typing import Any

from ..rfc7517 import import_jwk_set
from ..rfc7519 import (
    JwtRejected,
    check_not_before,
    numeric_date,
    required_string_claim,
    typ_is,
    unverified_parts,
    verify_signature,
)
from .clients import Client
from .errors import OAuthError
from .issuance import issue_tokens
from .resources import canonical_resource
from .rfc6749 import is_scope, scope_tokens
from .rfc8414 import JWT_BEARER
from .state import AuthorizationServerState

GRANT_TYPE = JWT_BEARER
ALGORITHMS = ("Ed25519", "ES256")
# RFC 7521 §5.2 (which the ID-JAG draft's processing rules apply in full) lets the AS reject an
# expiry "unreasonably far in the future". Its jti is remembered until that expiry, so without a
# bound one ID-JAG dated for the year 9999 holds a replay entry for good. An hour, what authlib's
# signer gives when told nothing (ext-auth's example, and the lab's own IdP, give five minutes),
# and a minute more for an IdP whose clock runs ahead of this one.
MAX_ID_JAG_LIFETIME = 3600 + 60


def redeem_assertion(server: AuthorizationServerState, client: Client, form: dict[str, str]) -> dict[str, Any]:
    if client.token_endpoint_auth_method == "none":
        raise OAuthError(
            "unauthorized_client", "the ID-JAG grant is for confidential clients (ID-JAG draft section 8.1)"
        )
    assertion = form.get("assertion")
    if not assertion:
        raise OAuthError("invalid_request", "assertion is required (RFC 7523 section 2.1)")
    try:
        header, unverified = unverified_parts(assertion, what="the assertion")
    except JwtRejected as rejected:
        raise _invalid(rejected.rule) from None
    if not typ_is(header, "oauth-id-jag+jwt"):  # a media type (RFC 7515 §4.1.9), compared as one
        raise _invalid(f"typ is {header.get('typ')!r}, not oauth-id-jag+jwt (ID-JAG draft section 3.1)")
    if header.get("alg") not in ALGORITHMS:
        raise _invalid(f"alg {header.get('alg')!r} is not allowed here")
    try:
        issuer = required_string_claim(unverified, "iss", what="the assertion", required_by="RFC 7523 §3 item 1")
    except JwtRejected as rejected:
        raise _invalid(rejected.rule) from None
    keys = server.trusted_idps.get(issuer)
    if keys is None:
        raise _invalid(f"issuer {issuer!r} is not an identity provider this AS trusts")
    try:
        trusted_keys = import_jwk_set(keys)
    except ValueError as unusable:  # the configured set, not the assertion, is at fault: say so
        raise _invalid(f"the keys configured for issuer {issuer!r} cannot be used: {unusable}") from None
    try:
        claims = verify_signature(assertion, trusted_keys, ALGORITHMS, what="the assertion")
    except (JwtRejected, ValueError):
        raise _invalid("the signature does not verify with the trusted IdP's keys") from None
    audience = claims.get("aud")
    if (audience if isinstance(audience, list) else [audience]) != [server.issuer]:
        raise _invalid(f"aud is {audience!r}, not this authorization server ({server.issuer})")
    now = server.clock.now()
    try:
        # RFC 7523 §3 items 4-6: exp and iat are NumericDates, and the assertion MUST NOT be
        # accepted before its nbf (RFC 7519 §4.1.5).
        exp, iat = numeric_date(claims, "exp", what="the assertion"), numeric_date(claims, "iat", what="the assertion")
        check_not_before(claims, now, what="the assertion")
        # RFC 7523 §3 item 2: it MUST contain sub, a StringOrURI (RFC 7519 §4.1.2); the jti and
        # scope are strings too (RFC 7519 §4.1.7, RFC 8693 §4.2). none is stringified.
        subject = required_string_claim(claims, "sub", what="the assertion", required_by="RFC 7523 §3 item 2")
        jti = required_string_claim(claims, "jti", what="the assertion", required_by="ext-auth §7.6: the replay check")
        granted_scope = claims.get("scope", "")
        if not isinstance(granted_scope, str) or not is_scope(granted_scope):
            # RFC 8693 §4.2: "a space-separated list of scopes", each a scope-token (RFC 6749 §3.3).
            raise JwtRejected("the assertion's scope is not a string of space-delimited scopes (RFC 8693 §4.2)")
    except JwtRejected as rejected:
        raise _invalid(rejected.rule) from None
    if exp is None or exp <= now or iat is None:
        raise _invalid("the assertion is expired, or lacks exp or iat (RFC 7523 section 3)")
    if exp > now + MAX_ID_JAG_LIFETIME:
        raise _invalid(
            f"exp is more than {MAX_ID_JAG_LIFETIME} s away, unreasonably far in the future (RFC 7521 section 5.2)"
        )
    if claims.get("client_id") != client.client_id:
        raise _invalid(
            f"the assertion was issued for client {claims.get('client_id')!r}, not the authenticated {client.client_id!r}"
        )
    # RFC 8707 §2.2: the request may name only a resource granted, compared as the code and
    # refresh grants compare it (scheme and host case-insensitively, MCP §8.1); one the ID-JAG
    # does not grant is the request's fault, invalid_target (§2), not the assertion's.
    resource = _granted_resource(server, claims.get("resource"), form.get("resource"))
    # The wording predates the typed jti check above (a missing jti is refused there now); it is
    # kept because notebook 07 shows it.
    if (issuer, jti) in server.seen_id_jags:  # RFC 7519 §4.1.7: unique per issuer, so keyed by both
        raise _invalid("jti is missing or was already used: replay (ext-auth section 7.6)")
    # The ID-JAG's scope, narrowed to what the resource the token is for defines: a scope another
    # resource of this AS defines means nothing there (RFC 6749 §3.3: the AS may grant less than
    # asked, and says so in `scope`). Then the request's, intersected (ext-auth §7.2.1).
    known = set(server.resource_scopes[resource])
    granted = (set(granted_scope.split()) or known) & known
    requested = set(scope_tokens(form.get("scope")))  # a blank scope names none: read as omitted
    scope = requested & granted if requested else granted
    if not scope:
        # RFC 6749 §3.3: a scope is one or more scope tokens; a token granting nothing is no grant.
        raise OAuthError(
            "invalid_scope",
            f"nothing would be granted at {resource}: it defines {' '.join(sorted(known)) or 'no scope'}, the ID-JAG "
            f"grants {granted_scope or 'all of them'}, the request asks for {' '.join(sorted(requested)) or 'those'}, "
            "and they have no scope in common (ext-auth section 7.2.1, RFC 6749 §3.3)",
        )
    server.seen_id_jags.make_room(now)  # before issuing: a full replay set refuses the grant (503), not its answer
    response = issue_tokens(server, client, subject, resource, " ".join(sorted(scope)), refresh=False)
    # The jti is spent by the grant it produced, not by an attempt: a refused issuance (a full
    # store, 503) leaves the ID-JAG usable, so the client need not go back to its IdP. No await
    # since the replay check above, so two concurrent uses cannot both pass it.
    # A fractional exp (RFC 7519 §2) is kept until it passes.
    server.seen_id_jags.spend((issuer, jti), math.ceil(exp), now)
    return response


def _granted_resource(server: AuthorizationServerState, claim: Any, requested: str | None) -> str:
    """The one resource of this AS the token will be for (ext-auth: audience-restricted to the
    ID-JAG's `resource`), canonical. ID-JAG draft §3.1: the claim is "either a single URI or an
    array of URIs"; a request `resource` picks one of them, and without one the ID-JAG must name
    exactly one resource of this AS (the token is for one audience, MCP §9.2)."""
    if claim is None:
        # Optional in the draft; required here, since the token's audience is what it names.
        raise _invalid("the ID-JAG has no resource claim; this AS issues tokens only for the resource it names")
    uris = claim if isinstance(claim, list) else [claim]
    if not uris or not all(isinstance(uri, str) for uri in uris):
        raise _invalid(f"resource {claim!r} is neither a URI nor a non-empty array of URIs (ID-JAG draft section 3.1)")
    granted = list(dict.fromkeys(ours for uri in uris if (ours := _ours(server, uri)) is not None))
    if not granted:
        raise _invalid(
            f"resource {claim!r} is not a resource of this AS, nor an array naming one (ID-JAG draft section 3.1)"
        )
    if requested is not None:
        sent = canonical_resource(requested, server.resources)  # invalid_target if not one of ours
        if sent not in granted:
            raise OAuthError(
                "invalid_target",
                f"resource {requested!r} is not one the ID-JAG grants ({', '.join(granted)}) (RFC 8707 §2, §2.2)",
            )
        return sent
    if len(granted) > 1:
        raise OAuthError(
            "invalid_target",
            f"the ID-JAG grants {len(granted)} resources of this AS ({', '.join(granted)}); name the one this token "
            "is for with resource (RFC 8707 §2: a token for one audience, MCP §9.2)",
        )
    return granted[0]


def _ours(server: AuthorizationServerState, uri: str) -> str | None:
    try:
        return canonical_resource(uri, server.resources)
    except OAuthError:
        return None  # an array may name resources of other authorization servers too


def _invalid(rule: str) -> OAuthError:
    return OAuthError("invalid_grant", f"ID-JAG rejected: {rule}")
