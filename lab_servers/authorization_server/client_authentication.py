"""Client authentication at the token endpoint (OAuth 2.1 §2.4; RFC 6749 §2.3; RFC 7523 §2.2).

By exactly the method the client registered or declared: `none` (public), `client_secret_basic`,
`client_secret_post`, or `private_key_jwt` (RFC 7523 §2.2, which CIMD -02 §8.2 says the AS MUST
enforce when a document declares it). Every endpoint that takes client credentials (token,
revocation, introspection) authenticates through here.
"""

from __future__ import annotations

import hmac
import math
from typing import Any

from joserfc.jwk import KeySet

from ..bounded_json import DEFAULT_LIMITS
from ..rfc3986 import shown
from ..rfc7517 import import_jwk_set
from ..rfc7519 import (
    JwtRejected,
    audience_is_only,
    check_not_before,
    numeric_date,
    required_string_claim,
    unverified_parts,
    verify_signature,
)
from .cimd import fetch_document
from .client_ids import names_a_document, resolve_client
from .clients import Client
from .errors import OAuthError, invalid_client
from .policy import ASPolicy
from .presented_credentials import basic_attempt, parse_basic, refuse_more_than_one_method
from .state import AuthorizationServerState

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # seconds between now and a client assertion's exp (lab limit)
ASSERTION_JSON = DEFAULT_LIMITS.but(max_bytes=8 * 1024, max_depth=4)  # a JWT header or claims set


# What a token-endpoint request that authenticates no client must send instead, and where that is
# written. /authorize has its own rule (OAuth 2.1 §4.1.1, `client_ids.resolve_client`), and so do
# the endpoints that borrow the token endpoint's client authentication (RFC 7009, RFC 7662).
TOKEN_ENDPOINT_CLIENT_ID = (
    "a client that does not authenticate names itself with client_id (OAuth 2.1 §3.2.2; for a code, §4.1.3)"
)


async def authenticate_client(
    server: AuthorizationServerState,
    form: dict[str, str],
    authorization: str | None,
    *,
    unnamed: str = TOKEN_ENDPOINT_CLIENT_ID,
) -> Client:
    """The client a request authenticates, or names (a public client). `unnamed` says what a
    request naming no client at all is missing, citing the endpoint's own rule: invalid_request.
    Its invalid_client is answered as `client_refusal` answers."""
    try:
        return await _authenticate(server, form, authorization, unnamed)
    except OAuthError as error:
        if error.error != "invalid_client":
            raise
        raise client_refusal(server, error.description, authorization) from None


def client_refusal(server: AuthorizationServerState, description: str, authorization: str | None) -> OAuthError:
    """invalid_client for a request that sent `authorization` (None: no Authorization field), for
    every endpoint that authenticates clients, this module's refusals and an endpoint's own (RFC
    7662's caller). An AS that does not offer HTTP Basic answers a client that did not try it 400,
    not 401: RFC 6749 §5.2's 401 names "which HTTP authentication schemes are supported" (a MAY
    for a client that used none), and a Basic challenge (`errors.invalid_client`) named one this
    AS refuses; RFC 9110 §15.5.2 allows no 401 without a challenge."""
    offers_basic = "client_secret_basic" in server.capabilities.token_endpoint_auth_methods
    if not authorization and not offers_basic:
        return OAuthError("invalid_client", description, 400)
    return invalid_client(description)


async def _authenticate(
    server: AuthorizationServerState, form: dict[str, str], authorization: str | None, unnamed: str
) -> Client:
    # Every other refusal below is invalid_client: a 401 whose WWW-Authenticate names Basic (errors.py).
    basic = basic_attempt(authorization)
    refuse_more_than_one_method(form, basic is not None)
    if basic is not None:
        client_id, secret = parse_basic(basic)
        _refuse_unoffered(server, "client_secret_basic")
        if form.get("client_id", client_id) != client_id:
            raise invalid_client("client_id in the body differs from the authenticated client")
        _refuse_secret_for_document(server, client_id, "client_secret_basic")
        client = await _resolve(server, client_id)
        _require_method(client, "client_secret_basic")
        _check_secret(client, secret)
    elif "client_assertion" in form:
        _refuse_unoffered(server, "private_key_jwt")
        client_id = form.get("client_id") or _assertion_issuer(form["client_assertion"])
        # An assertion that could never pass is refused before the client's id is resolved (for a
        # CIMD client, a fetch of its document) and before its keys are fetched.
        _check_assertion_unverified(server, client_id, form)
        client = await _resolve(server, client_id)
        _require_method(client, "private_key_jwt")
        await _check_client_assertion(server, client, form)
    else:
        if not form.get("client_id"):
            # No credentials and no client_id: no client tried and failed to authenticate; the
            # request lacks a parameter (RFC 6749 §5.2: invalid_request).
            raise OAuthError("invalid_request", f"client_id is required: {unnamed}")
        if "client_secret" in form:
            _refuse_unoffered(server, "client_secret_post")
            _refuse_secret_for_document(server, form["client_id"], "client_secret_post")
            client = await _resolve(server, form["client_id"])
            _require_secret_in_body(server, client)
            _check_secret(client, form["client_secret"])
        else:
            _refuse_unoffered(server, "none")
            client = await _resolve(server, form["client_id"])
            _require_method(client, "none")
    return client


def _refuse_unoffered(server: AuthorizationServerState, used: str) -> None:
    """ASCapabilities: what token_endpoint_auth_methods_supported lists is also what is honoured,
    judged by the method this request uses: a client registered for Basic may send its secret in
    the form while the AS offers that (OAuth 2.1 §2.4.1), Basic gone or not. The method is read
    from the request alone, so this is judged before anything is looked up or fetched: a request
    by a method the AS does not take could never pass (CIMD -02 §8.6, §8.7)."""
    if used not in server.capabilities.token_endpoint_auth_methods:
        raise invalid_client(
            f"this AS no longer offers {used!r}; token_endpoint_auth_methods_supported lists "
            f"{', '.join(server.capabilities.token_endpoint_auth_methods)} (RFC 8414 section 2)",
        )


def _refuse_secret_for_document(server: AuthorizationServerState, client_id: str, used: str) -> None:
    """A CIMD client holds no shared secret (CIMD -02 §4.1: the AS keeps none for it, and the
    hardened one refuses a document naming one), so a secret for an id this AS resolves by fetching
    its document could never pass: refused from the request alone, before any fetch (§8.6, §8.7:
    no amplifier), as `_refuse_unoffered` is. An AS without CIMD fetches nothing: `_resolve` says so."""
    if server.capabilities.cimd_usable and names_a_document(client_id, server.registry):
        raise invalid_client(
            f"client_id {shown(client_id)} is a Client ID Metadata Document URL, and a CIMD client has no shared "
            f"secret (CIMD -02 §4.1), so {used!r} can never authenticate it; refused before its document is "
            "fetched (CIMD -02 §8.7)"
        )


async def _resolve(server: AuthorizationServerState, client_id: str) -> Client:
    """The client a non-empty `client_id` names (authenticate_client refuses a request naming
    none, _parse_basic an empty user-id, and an assertion's iss is a non-empty string)."""
    try:
        return await resolve_client(client_id, server.registry, server.cimd, server.capabilities)
    except OAuthError as exc:
        # Credentials that name no client, or one this AS cannot find, fail to authenticate it
        # (RFC 6749 §5.2: invalid_client, "unknown client").
        raise invalid_client(exc.description) from None


def _require_method(client: Client, used: str) -> None:
    expected = client.token_endpoint_auth_method
    if expected != used:
        raise invalid_client(f"client authenticated with {used!r} but its token_endpoint_auth_method is {expected!r}")


def _require_secret_in_body(server: AuthorizationServerState, client: Client) -> None:
    """A client may put its secret in the form when it registered client_secret_post, or
    client_secret_basic while this AS offers client_secret_post. OAuth 2.1 §2.4.1: "To support
    clients in possession of a client secret, the authorization server MUST support the client
    including the client credentials in the request body content"; HTTP Basic is the one this
    AS "MAY support", so it takes Basic only from a client that registered it. Claude's
    connectors send a configured secret in the form, whatever the client was registered with
    (anthropics/claude-ai-mcp#667), and a client registered with no method is client_secret_basic
    (RFC 7591 §2's default)."""
    if client.token_endpoint_auth_method == "client_secret_basic" and (
        "client_secret_post" in server.capabilities.token_endpoint_auth_methods
    ):
        return
    _require_method(client, "client_secret_post")


def _check_secret(client: Client, secret: str) -> None:
    if client.client_secret is None or not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
        raise invalid_client("client authentication failed: wrong client_secret")


def _assertion_issuer(assertion: str) -> str:
    """The assertion's `iss`, read before verification: it names whose keys verify it."""
    try:
        # RFC 7523 §3 item 1: it MUST contain an iss, for client authentication the client_id
        # (§3 item 2.B), a StringOrURI (RFC 7519 §4.1.1). An empty one names no client: the
        # request did authenticate, and failed (invalid_client), not "client_id is required".
        return required_string_claim(
            _unverified_parts(assertion)[1], "iss", what="the client_assertion", required_by="RFC 7523 §3 item 1"
        )
    except JwtRejected as rejected:
        raise invalid_client(rejected.rule) from None


def _unverified_parts(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS whose header and claims are JSON objects within the
    bounded parser's limits, before any JOSE library sees them (`lab_servers.rfc7519`)."""
    try:
        return unverified_parts(assertion, what="the client_assertion", limits=ASSERTION_JSON)
    except JwtRejected as rejected:
        raise invalid_client(rejected.rule) from None


def _check_assertion_unverified(server: AuthorizationServerState, client_id: str, form: dict[str, str]) -> None:
    """RFC 7523 §3, the part judged from the request alone. The keys may be a fetch of a URL the
    client chose (jwks_uri), and a CIMD client's id is one, so an assertion that could never pass
    (of another type, signed with an algorithm this AS does not take, expired, for another
    audience, its jti spent) is refused from its header and claims, before anything is fetched
    (CIMD -02 §8.6, §8.7: the AS must not become an amplifier)."""
    if form.get("client_assertion_type") != JWT_BEARER_ASSERTION:
        raise invalid_client(f"client_assertion_type must be {JWT_BEARER_ASSERTION} (RFC 7523 §2.2)")
    header, claims = _unverified_parts(form["client_assertion"])
    if header["alg"] not in server.client_assertion_algorithms:
        # RFC 8414 §2: token_endpoint_auth_signing_alg_values_supported lists what this AS takes
        # (and never "none"); no key the client publishes makes another alg verify.
        raise invalid_client(
            f"the client_assertion's alg {header['alg'][:40]!r} is not one this AS takes: "
            f"token_endpoint_auth_signing_alg_values_supported lists "
            f"{', '.join(server.client_assertion_algorithms)} (RFC 8414 section 2, RFC 7523 §3)"
        )
    _check_assertion_claims(server, client_id, claims)


async def _check_client_assertion(server: AuthorizationServerState, client: Client, form: dict[str, str]) -> None:
    """RFC 7523 §3, once `_check_assertion_unverified` has passed the claims as sent: the
    client's keys, the signature, and the claims judged again once verified, after the fetch:
    another request may have spent the jti while this one awaited it."""
    if client.metadata.get("jwks") is None and not isinstance(client.metadata.get("jwks_uri"), str):
        # Registration refuses this (RFC 7591 §2); a record made any other way still gets an answer.
        raise invalid_client(
            "the client declared private_key_jwt but publishes no jwks or jwks_uri to verify it with (RFC 7591 §2)"
        )
    # The client's keys (an await when they live at its jwks_uri).
    key_set = await _client_keys(server, client)
    try:
        # The signature. Its parts were read (bounded) before the client was resolved.
        claims = verify_signature(
            form["client_assertion"], key_set, server.client_assertion_algorithms, what="the client_assertion"
        )
    except JwtRejected as rejected:
        raise invalid_client(f"{rejected.rule}, checked with the client's published keys") from None
    # The same rules on the verified claims, then the jti is spent, with no await in between.
    _check_assertion_claims(server, client.client_id, claims)
    _spend_jti(server, client, claims)


async def _client_keys(server: AuthorizationServerState, client: Client) -> KeySet:
    """The client's public keys: its `jwks`, or the document at its `jwks_uri`, fetched defensively."""
    keys: Any = client.metadata.get("jwks")  # checked by the caller: present, or a jwks_uri is
    jwks_uri = client.metadata.get("jwks_uri")
    if keys is None and isinstance(jwks_uri, str):
        policy = server.policy
        try:
            # Requests at once for one client's keys share one fetch (shared_fetch.py).
            keys = await server.key_fetches.run((jwks_uri, policy), lambda: _fetch_keys(server, jwks_uri, policy))
        except OAuthError as refused:
            # CIMD §8.2: the key comes from the client's metadata; without it, authentication fails
            # (a 401 with its challenge, as every invalid_client), not the document's rejection.
            raise invalid_client(
                f"the client's keys could not be read, so its assertion cannot be verified (CIMD §8.2): "
                f"{refused.description.removeprefix('client metadata document rejected: ')}"
            ) from None
    try:
        return import_jwk_set(keys)
    except ValueError as exc:
        raise invalid_client(f"the client's published keys are {exc}") from None


async def _fetch_keys(server: AuthorizationServerState, jwks_uri: str, policy: ASPolicy) -> Any:
    fetched = await fetch_document(
        jwks_uri, http=server.cimd.http, resolve=server.cimd.resolve_host, policy=policy, what="jwks_uri"
    )
    return fetched.document


def _check_assertion_claims(server: AuthorizationServerState, client_id: str, claims: dict[str, Any]) -> None:
    now = server.clock.now()
    try:
        # RFC 7523 §3 items 4-6: exp, nbf and iat are NumericDates, and the assertion MUST NOT be
        # accepted before its nbf (RFC 7519 §4.1.5).
        exp = numeric_date(claims, "exp", what="the client_assertion")
        numeric_date(claims, "iat", what="the client_assertion")
        check_not_before(claims, now, what="the client_assertion")
    except JwtRejected as rejected:
        raise invalid_client(f"client_assertion rejected: {rejected.rule} (RFC 7523 §3)") from None
    if not audience_is_only(claims.get("aud"), server.issuer):
        # draft-ietf-oauth-rfc7523bis §4 (updating RFC 7523 §3 item 3): for client authentication
        # aud "MUST use the issuer identifier of the authorization server as its sole value", "the
        # token endpoint URL ... MUST NOT be used", and the AS "MUST reject any JWT that does not
        # contain its issuer identifier as its sole audience value". An array of the issuer alone
        # is that sole value (the draft's -03 allows "an array with a single member").
        raise invalid_client(
            f"client_assertion rejected: aud must be this authorization server's issuer identifier, {server.issuer}, "
            "as its sole value, not its token endpoint and with no other audience (draft-ietf-oauth-rfc7523bis §4, "
            "updating RFC 7523 §3): an endpoint URL or a second audience lets an AS that lists this one's endpoint as "
            "its own replay here the assertion a client signed for it (audience injection); aud is "
            f"{_shown_audience(claims.get('aud'))}"
        )
    checks = [
        (
            claims.get("iss") == client_id and claims.get("sub") == client_id,
            "iss and sub must both be the client_id",
        ),
        (exp is not None and exp > now, "the assertion is expired or has no exp"),
        # §3 lets the AS reject an exp "unreasonably far in the future"; the jti is remembered
        # until exp, so this bound is what keeps the replay cache small.
        (
            exp is not None and exp <= now + MAX_ASSERTION_LIFETIME,
            f"exp is more than {MAX_ASSERTION_LIFETIME} s away",
        ),
        (
            # RFC 7519 §4.1.7: a jti is unique for its issuer, so the cache is keyed by both.
            isinstance(claims.get("jti"), str) and (client_id, claims["jti"]) not in server.seen_assertions,
            "jti is missing or was already used by this client",
        ),
    ]
    for passed, rule in checks:
        if not passed:
            raise invalid_client(f"client_assertion rejected: {rule} (RFC 7523 §3)")


def _shown_audience(audience: Any) -> str:
    """The aud as sent, quoted for a description (`rfc3986.shown`), an array by its first values."""
    if isinstance(audience, list):
        return f"[{', '.join(shown(value) for value in audience[:3])}{', …' if len(audience) > 3 else ''}]"
    return shown(audience)


def _spend_jti(server: AuthorizationServerState, client: Client, claims: dict[str, Any]) -> None:
    """Spent here, by the authentication it performed, even if the grant is then refused: unlike a
    code, an assertion costs its client nothing to mint again, and one that authenticated once
    must never authenticate a second request (RFC 7523 §3). The caller checked the jti with no
    await since, so two concurrent requests with one assertion cannot both pass it."""
    # a fractional exp (RFC 7519 §2) is kept until it passes
    server.seen_assertions.spend((client.client_id, claims["jti"]), math.ceil(claims["exp"]), server.clock.now())
