"""The token endpoint (OAuth 2.1 §3.2, §4.1.3, §4.3): codes and refresh tokens → access tokens.

Client authentication comes first (§2.4), by exactly the method the client registered or
declared: `none` (public), `client_secret_basic`, `client_secret_post`, or `private_key_jwt`
(RFC 7523 §2.2, which CIMD -02 §8.2 says the AS MUST enforce when a document declares it).
"""

from __future__ import annotations

import base64
import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..bounded_json import DEFAULT_LIMITS, JsonRejected, parse_json
from .authorize import single_valued
from .cimd import fetch_document
from .clients import Client, resolve_client
from .errors import OAuthError, invalid_client
from .grants import AuthorizationCode, RefreshToken
from .resources import canonical_resource
from .rfc7636 import verify_code_verifier
from .rfc8414 import CLIENT_ASSERTION_ALGORITHMS

if TYPE_CHECKING:
    from .server import AuthorizationServer

ACCESS_TOKEN_LIFETIME = 900  # MCP §11.2: short-lived access tokens
JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # seconds between now and a client assertion's exp (lab limit)
SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token")
ASSERTION_JSON = DEFAULT_LIMITS.but(max_bytes=8 * 1024, max_depth=4)  # a JWT header or claims set


async def token_request(server: AuthorizationServer, items: list[tuple[str, str]], authorization: str | None) -> dict[str, Any]:
    form = single_valued(items)
    client = await authenticate_client(server, form, authorization)
    grant_type = form.get("grant_type")
    if grant_type in SUPPORTED_GRANT_TYPES and grant_type not in client.grant_types:
        raise OAuthError(
            "unauthorized_client",
            f"this client registered grant_types {client.grant_types}, which do not include {grant_type!r} (RFC 6749 §5.2, RFC 7591 §2)",
        )
    if grant_type == "authorization_code":
        return redeem_code(server, client, form)
    if grant_type == "refresh_token":
        return redeem_refresh_token(server, client, form)
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required (OAuth 2.1 §3.2.2)")
    raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported by this authorization server")


# Client authentication (OAuth 2.1 §2.4) --------------------------------------------------------


async def authenticate_client(server: AuthorizationServer, form: dict[str, str], authorization: str | None) -> Client:
    if authorization and authorization[:6].lower() == "basic ":
        client_id, secret = _parse_basic(authorization)
        client = await _resolve(server, client_id, basic=True)
        _require_method(client, "client_secret_basic", basic=True)
        _check_secret(client, secret, basic=True)
    elif "client_assertion" in form:
        client = await _resolve(server, form.get("client_id") or _assertion_issuer(form["client_assertion"]))
        _require_method(client, "private_key_jwt")
        await _check_client_assertion(server, client, form)
    else:
        client = await _resolve(server, form.get("client_id", ""))
        if "client_secret" in form:
            _require_method(client, "client_secret_post")
            _check_secret(client, form["client_secret"])
        else:
            _require_method(client, "none")
    if form.get("client_id", client.client_id) != client.client_id:
        raise invalid_client("client_id in the body differs from the authenticated client")
    return client


async def _resolve(server: AuthorizationServer, client_id: str, basic: bool = False) -> Client:
    try:
        return await resolve_client(client_id, server.registry, server.cimd)
    except OAuthError as exc:
        if exc.error == "invalid_request":
            raise
        raise invalid_client(exc.description, basic_auth_attempted=basic) from None


def _parse_basic(authorization: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        client_id, secret = decoded.split(":", 1)
    except ValueError:
        raise invalid_client("malformed HTTP Basic credentials", basic_auth_attempted=True) from None
    # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _require_method(client: Client, used: str, basic: bool = False) -> None:
    expected = client.token_endpoint_auth_method
    if expected != used:
        raise invalid_client(
            f"client authenticated with {used!r} but its token_endpoint_auth_method is {expected!r}", basic_auth_attempted=basic
        )


def _check_secret(client: Client, secret: str, basic: bool = False) -> None:
    if client.client_secret is None or not hmac.compare_digest(client.client_secret.encode(), secret.encode()):
        raise invalid_client("client authentication failed: wrong client_secret", basic_auth_attempted=basic)


def _assertion_issuer(assertion: str) -> str:
    """The assertion's `iss`, read before verification: it names whose keys verify it."""
    issuer = _unverified_claims(assertion).get("iss")
    if not isinstance(issuer, str):
        raise invalid_client("client_assertion has no iss claim (RFC 7523 section 3)")
    return issuer


def _unverified_claims(assertion: str) -> dict[str, Any]:
    """The header and claims of a compact JWS, through the bounded parser before any JOSE library
    sees them: joserfc parses both with `json.loads`, and the header is parsed before the
    signature is checked, so 2,000 nested brackets there would be a RecursionError (a 500)."""
    _check_header(assertion)
    try:
        extracted = jws.extract_compact(assertion.encode())
    except (JoseError, ValueError, AttributeError):
        raise invalid_client("client_assertion is not a compact JWS (RFC 7515 §7.1)") from None
    claims = _bounded(extracted.payload, "claims")
    if not isinstance(claims, dict):
        raise invalid_client("client_assertion claims must be a JSON object (RFC 7519 §7.2)")
    return claims


def _bounded(segment: bytes, what: str) -> Any:
    try:
        return parse_json(segment, ASSERTION_JSON, what=f"the client_assertion {what}")
    except JsonRejected as rejected:
        raise invalid_client(f"{rejected.rule}; client_assertion is not a JWT (RFC 7519 §7.2)") from None


def _check_header(assertion: str) -> None:
    header_segment = assertion.split(".", 1)[0]
    try:
        header = base64.urlsafe_b64decode(header_segment + "=" * (-len(header_segment) % 4))
    except ValueError:
        raise invalid_client("client_assertion header is not base64url (RFC 7515 §7.1)") from None
    _bounded(header, "header")


async def _check_client_assertion(server: AuthorizationServer, client: Client, form: dict[str, str]) -> None:
    if form.get("client_assertion_type") != JWT_BEARER_ASSERTION:
        raise invalid_client(f"client_assertion_type must be {JWT_BEARER_ASSERTION} (RFC 7523 §2.2)")
    _unverified_claims(form["client_assertion"])
    keys = client.metadata.get("jwks")
    jwks_uri = client.metadata.get("jwks_uri")
    if keys is None and isinstance(jwks_uri, str):
        keys = (
            await fetch_document(jwks_uri, http=server.cimd.http, resolve=server.cimd.resolve_host, policy=server.policy, what="jwks_uri")
        ).document
    if keys is None:
        # Registration refuses this (RFC 7591 §2); a record made any other way still gets an answer.
        raise invalid_client("the client declared private_key_jwt but publishes no jwks or jwks_uri to verify it with (RFC 7591 §2)")
    try:
        token = jwt.decode(form["client_assertion"], KeySet.import_key_set(keys), algorithms=CLIENT_ASSERTION_ALGORITHMS)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise invalid_client(f"client_assertion signature not verified with the client's published keys: {exc}") from None
    claims = token.claims
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    now, exp = server.clock.now(), claims.get("exp")
    checks = [
        (claims.get("iss") == client.client_id and claims.get("sub") == client.client_id, "iss and sub must both be the client_id"),
        (server.token_endpoint in audiences or server.issuer in audiences, "aud must name this token endpoint or issuer"),
        (isinstance(exp, int) and exp > now, "the assertion is expired or has no exp"),
        # §3 lets the AS reject an exp "unreasonably far in the future"; the jti is remembered
        # until exp, so this bound is what keeps the replay cache small.
        (isinstance(exp, int) and exp <= now + MAX_ASSERTION_LIFETIME, f"exp is more than {MAX_ASSERTION_LIFETIME} s away"),
        (isinstance(claims.get("jti"), str) and claims["jti"] not in server.seen_assertions, "jti is missing or was already used"),
    ]
    for passed, rule in checks:
        if not passed:
            raise invalid_client(f"client_assertion rejected: {rule} (RFC 7523 §3)")
    for jti in [j for j, exp in server.seen_assertions.items() if exp <= now]:
        del server.seen_assertions[jti]  # an expired assertion is refused by its exp anyway
    server.seen_assertions[claims["jti"]] = claims["exp"]


# Grants ---------------------------------------------------------------------------------------


def redeem_code(server: AuthorizationServer, client: Client, form: dict[str, str]) -> dict[str, Any]:
    code_value = form.get("code")
    if not code_value:
        raise OAuthError("invalid_request", "code is required (OAuth 2.1 §4.1.3)")
    code = server.codes.get(code_value)
    if code is None or code.client_id != client.client_id:
        raise OAuthError("invalid_grant", "the authorization code is unknown or was issued to another client (OAuth 2.1 §4.1.3)")
    if code.used:
        # OAuth 2.1 §4.1.3: deny a second use, and revoke what the first use issued.
        server.revoke_refresh_tokens(code.refresh_tokens)
        raise OAuthError("invalid_grant", "the authorization code was already used; tokens issued from it are revoked (OAuth 2.1 §4.1.3)")
    code.used = True
    if code.expires_at <= server.clock.now():
        raise OAuthError("invalid_grant", "the authorization code expired (OAuth 2.1 §4.1.2)")
    if "redirect_uri" in form and form["redirect_uri"] != code.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the one in the authorization request (OAuth 2.1 §10.2)")
    verify_code_verifier(form.get("code_verifier"), code.code_challenge)
    resource = _same_resource(server, form.get("resource"), code.resource, "the authorization request")
    return issue_tokens(server, client, code.subject, resource, code.scope, code=code)


def redeem_refresh_token(server: AuthorizationServer, client: Client, form: dict[str, str]) -> dict[str, Any]:
    value = form.get("refresh_token")
    if not value:
        raise OAuthError("invalid_request", "refresh_token is required (OAuth 2.1 §4.3.1)")
    token = server.refresh_tokens.get(value)
    if token is None or token.client_id != client.client_id:
        raise OAuthError("invalid_grant", "the refresh token is unknown or was issued to another client")
    if token.revoked:
        # A rotated-out token came back: someone holds a copy. Revoke the whole family.
        server.revoke_family(token.family)
        raise OAuthError("invalid_grant", "refresh token reuse detected; every token of this grant is revoked (OAuth 2.1 §4.3.1)")
    scope = token.scope
    if "scope" in form:
        requested = form["scope"].split()
        if not set(requested) <= set(token.scope.split()):
            raise OAuthError("invalid_scope", "a refresh may narrow the granted scope, never widen it (OAuth 2.1 §4.3.1)")
        scope = " ".join(requested)
    resource = _same_resource(server, form.get("resource"), token.resource, "the original grant")
    token.revoked = True  # rotation (MCP §11.2): each refresh token works once
    return issue_tokens(server, client, token.subject, resource, scope, family=token.family)


def _same_resource(server: AuthorizationServer, sent: str | None, granted: str, where: str) -> str:
    # RFC 8707 §2.2: a token request may only name resources from the original grant.
    if sent is not None and canonical_resource(sent, server.resources) != granted:
        raise OAuthError("invalid_target", f"resource {sent!r} differs from the one in {where}, {granted!r} (RFC 8707 §2.2)")
    return granted


def issue_tokens(
    server: AuthorizationServer,
    client: Client,
    subject: str,
    resource: str,
    scope: str,
    *,
    code: AuthorizationCode | None = None,
    family: str | None = None,
) -> dict[str, Any]:
    now = server.clock.now()
    claims = {
        "iss": server.issuer,
        "sub": subject,
        "aud": resource,  # RFC 8707 §2 / MCP §9.2: the token is good for this MCP server only
        "client_id": client.client_id,
        "scope": scope,
        "iat": now,
        "exp": now + ACCESS_TOKEN_LIFETIME,
        "jti": server.ids.token("access-token-jti", 12),
    }
    response: dict[str, Any] = {
        "access_token": server.keys.sign_access_token(claims),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "scope": scope,
    }
    if "refresh_token" in client.grant_types:
        refresh = RefreshToken(
            token=server.ids.token("refresh-token", 32),
            client_id=client.client_id,
            subject=subject,
            resource=resource,
            scope=scope,
            family=family or server.ids.token("refresh-family", 8),
        )
        server.refresh_tokens[refresh.token] = refresh
        if code is not None:
            code.refresh_tokens.append(refresh.token)
        response["refresh_token"] = refresh.token
    server.issued.append(claims)
    return response
