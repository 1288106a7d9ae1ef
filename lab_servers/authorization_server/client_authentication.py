"""Client authentication at the token endpoint (OAuth 2.1 §2.4; RFC 6749 §2.3; RFC 7523 §2.2).

By exactly the method the client registered or declared: `none` (public), `client_secret_basic`,
`client_secret_post`, or `private_key_jwt` (RFC 7523 §2.2, which CIMD -02 §8.2 says the AS MUST
enforce when a document declares it). Every endpoint that takes client credentials (token,
revocation, introspection) authenticates through here.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any
from urllib.parse import unquote

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from ..bounded_json import DEFAULT_LIMITS, JsonRejected, parse_json
from .cimd import fetch_document
from .client_ids import resolve_client
from .clients import Client
from .errors import OAuthError, invalid_client
from .rfc8414 import CLIENT_ASSERTION_ALGORITHMS
from .state import AuthorizationServerState

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 300  # seconds between now and a client assertion's exp (lab limit)
ASSERTION_JSON = DEFAULT_LIMITS.but(max_bytes=8 * 1024, max_depth=4)  # a JWT header or claims set


async def authenticate_client(
    server: AuthorizationServerState, form: dict[str, str], authorization: str | None
) -> Client:
    # RFC 6749 §5.2: once the client tried HTTP Basic, every invalid_client is a 401 whose
    # WWW-Authenticate names the Basic scheme, whichever check below refuses it.
    basic = authorization is not None and authorization[:6].lower() == "basic "
    if authorization and basic:
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
        raise invalid_client("client_id in the body differs from the authenticated client", basic_auth_attempted=basic)
    if client.token_endpoint_auth_method not in server.capabilities.token_endpoint_auth_methods:
        # ASCapabilities: what token_endpoint_auth_methods_supported lists is also what is honoured.
        raise invalid_client(
            f"this AS no longer offers {client.token_endpoint_auth_method!r}; token_endpoint_auth_methods_supported lists "
            f"{', '.join(server.capabilities.token_endpoint_auth_methods)} (RFC 8414 section 2)",
            basic_auth_attempted=basic,
        )
    return client


async def _resolve(server: AuthorizationServerState, client_id: str, basic: bool = False) -> Client:
    try:
        return await resolve_client(client_id, server.registry, server.cimd, cimd_supported=server.capabilities.cimd)
    except OAuthError as exc:
        if exc.error == "invalid_request" and not basic:
            raise  # no client_id at all: the request is malformed, no client tried to authenticate
        # Credentials that name no client, or one this AS cannot find, fail to authenticate it
        # (RFC 6749 §5.2: invalid_client, "unknown client"); with Basic, an empty user-id too.
        raise invalid_client(exc.description, basic_auth_attempted=basic) from None


def _parse_basic(authorization: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        client_id, secret = decoded.split(":", 1)
    except ValueError:
        raise invalid_client("malformed HTTP Basic credentials", basic_auth_attempted=True) from None
    if not client_id:
        raise invalid_client(
            "the HTTP Basic user-id is empty: it must be the client_id (RFC 6749 §2.3.1)", basic_auth_attempted=True
        )
    # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _require_method(client: Client, used: str, basic: bool = False) -> None:
    expected = client.token_endpoint_auth_method
    if expected != used:
        raise invalid_client(
            f"client authenticated with {used!r} but its token_endpoint_auth_method is {expected!r}",
            basic_auth_attempted=basic,
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


async def _check_client_assertion(server: AuthorizationServerState, client: Client, form: dict[str, str]) -> None:
    if form.get("client_assertion_type") != JWT_BEARER_ASSERTION:
        raise invalid_client(f"client_assertion_type must be {JWT_BEARER_ASSERTION} (RFC 7523 §2.2)")
    _unverified_claims(form["client_assertion"])
    keys = client.metadata.get("jwks")
    jwks_uri = client.metadata.get("jwks_uri")
    if keys is None and isinstance(jwks_uri, str):
        keys = (
            await fetch_document(
                jwks_uri, http=server.cimd.http, resolve=server.cimd.resolve_host, policy=server.policy, what="jwks_uri"
            )
        ).document
    if keys is None:
        # Registration refuses this (RFC 7591 §2); a record made any other way still gets an answer.
        raise invalid_client(
            "the client declared private_key_jwt but publishes no jwks or jwks_uri to verify it with (RFC 7591 §2)"
        )
    try:
        token = jwt.decode(
            form["client_assertion"], KeySet.import_key_set(keys), algorithms=CLIENT_ASSERTION_ALGORITHMS
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise invalid_client(
            f"client_assertion signature not verified with the client's published keys: {exc}"
        ) from None
    claims = token.claims
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    now, exp = server.clock.now(), claims.get("exp")
    checks = [
        (
            claims.get("iss") == client.client_id and claims.get("sub") == client.client_id,
            "iss and sub must both be the client_id",
        ),
        (
            server.token_endpoint in audiences or server.issuer in audiences,
            "aud must name this token endpoint or issuer",
        ),
        (isinstance(exp, int) and exp > now, "the assertion is expired or has no exp"),
        # §3 lets the AS reject an exp "unreasonably far in the future"; the jti is remembered
        # until exp, so this bound is what keeps the replay cache small.
        (
            isinstance(exp, int) and exp <= now + MAX_ASSERTION_LIFETIME,
            f"exp is more than {MAX_ASSERTION_LIFETIME} s away",
        ),
        (
            isinstance(claims.get("jti"), str) and claims["jti"] not in server.seen_assertions,
            "jti is missing or was already used",
        ),
    ]
    for passed, rule in checks:
        if not passed:
            raise invalid_client(f"client_assertion rejected: {rule} (RFC 7523 §3)")
    for jti in [j for j, exp in server.seen_assertions.items() if exp <= now]:
        del server.seen_assertions[jti]  # an expired assertion is refused by its exp anyway
    # Spent here, by the authentication it performed, even if the grant is then refused: unlike a
    # code, an assertion costs its client nothing to mint again, and one that authenticated once
    # must never authenticate a second request (RFC 7523 §3). No await since the jti check above,
    # so two concurrent requests with one assertion cannot both pass it.
    server.seen_assertions[claims["jti"]] = claims["exp"]
