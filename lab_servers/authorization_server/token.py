"""The token endpoint (OAuth 2.1 §3.2): one dispatcher, and the code and refresh grants.

What the request alone shows can never be granted is refused first (a grant this AS never gives,
a parameter the grant requires), then the client authenticates (§2.4, `client_authentication.py`);
then the grant type picks the module that implements it: the authorization code (§4.1.3) and refresh (§4.3) grants here,
every other grant in a module named after its spec.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .client_authentication import authenticate_client
from .client_credentials import GRANT_TYPE as CLIENT_CREDENTIALS
from .client_credentials import client_credentials_grant
from .clients import Client
from .errors import OAuthError
from .grants import AuthorizationCode, RedeemedCode
from .issuance import ACCESS_TOKEN_LIFETIME, issue_tokens
from .params import single_valued
from .resources import same_resource
from .rfc7523 import GRANT_TYPE as JWT_BEARER
from .rfc7523 import redeem_assertion
from .rfc7636 import verify_code_verifier
from .rfc8693 import GRANT_TYPE as TOKEN_EXCHANGE
from .rfc8693 import exchange_token
from .state import AuthorizationServerState
from .token_records import REFRESH_TOKEN_IDLE_TIMEOUT, REFRESH_TOKEN_LIFETIME

_LIFETIME = f"{REFRESH_TOKEN_LIFETIME // 3600} h"
_IDLE = f"{REFRESH_TOKEN_IDLE_TIMEOUT // 3600} h"

__all__ = ["ACCESS_TOKEN_LIFETIME", "SUPPORTED_GRANT_TYPES", "issue_tokens", "token_request"]

SUPPORTED_GRANT_TYPES = ("authorization_code", "refresh_token", CLIENT_CREDENTIALS, TOKEN_EXCHANGE, JWT_BEARER)


async def token_request(
    server: AuthorizationServerState, items: list[tuple[str, str]], authorization: str | None
) -> dict[str, Any]:
    form = single_valued(items)
    _refuse_from_the_request(server, form)
    client = await authenticate_client(server, form, authorization)
    grant_type = form.get("grant_type")
    if grant_type not in client.grant_types:
        raise OAuthError(
            "unauthorized_client",
            f"this client registered grant_types {client.grant_types}, which do not include {grant_type!r} (RFC 6749 §5.2, RFC 7591 §2)",
        )
    if grant_type == "authorization_code":
        return redeem_code(server, client, form)
    if grant_type == "refresh_token":
        return redeem_refresh_token(server, client, form)
    if grant_type == CLIENT_CREDENTIALS:
        return client_credentials_grant(server, client, form)
    if grant_type == TOKEN_EXCHANGE:
        return exchange_token(server, client, form)
    if grant_type == JWT_BEARER:
        return redeem_assertion(server, client, form)
    raise AssertionError(f"grant_type {grant_type!r} passed _refuse_from_the_request")  # pragma: no cover


# What a grant cannot be judged without (its section says REQUIRED), checked before anything is looked up.
_REQUIRED = {"authorization_code": ("code", "OAuth 2.1 §4.1.3"), "refresh_token": ("refresh_token", "OAuth 2.1 §4.3.1")}


def _refuse_from_the_request(server: AuthorizationServerState, form: dict[str, str]) -> None:
    """What the request alone says can never be granted, refused before the client is looked up:
    for a CIMD URL, that is its document fetched, and the AS must not fetch for a request that can
    never pass (CIMD -02 §8.7: no amplifier). RFC 6749 §5.2 sets no order among the errors."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required (OAuth 2.1 §3.2.2)")
    if grant_type not in SUPPORTED_GRANT_TYPES:
        raise OAuthError(
            "unsupported_grant_type", f"grant_type {grant_type!r} is not supported by this authorization server"
        )
    if grant_type == JWT_BEARER and not server.trusted_idps:
        raise OAuthError(
            "unsupported_grant_type",
            "this authorization server trusts no identity provider, so it takes no JWT bearer grant",
        )
    if grant_type == TOKEN_EXCHANGE and not server.exchange_rules:
        # RFC 6749 §5.2: a grant type the AS does not support is unsupported_grant_type, whoever
        # asks; grant_types_supported does not list it until an exchange rule exists (state.metadata).
        raise OAuthError(
            "unsupported_grant_type",
            "this authorization server has no token exchange rules, so it takes no token exchange (RFC 8693, RFC 6749 §5.2)",
        )
    name, section = _REQUIRED.get(grant_type, (None, ""))
    if name and not form.get(name):
        raise OAuthError("invalid_request", f"{name} is required ({section})")


# Grants ---------------------------------------------------------------------------------------


def redeem_code(server: AuthorizationServerState, client: Client, form: dict[str, str]) -> dict[str, Any]:
    code_value = form["code"]  # present: _refuse_from_the_request
    redeemed = server.redeemed_codes.get(code_value)  # expired ones go only as others are stored
    if redeemed is not None and redeemed.client_id == client.client_id and redeemed.expires_at > server.clock.now():
        _deny_second_use(server, redeemed.grants)
    code = server.codes.get(code_value)
    if code is None or code.client_id != client.client_id:
        raise OAuthError(
            "invalid_grant", "the authorization code is unknown or was issued to another client (OAuth 2.1 §4.1.3)"
        )
    if code.used:  # its record was pushed out of a full `redeemed_codes`: still single use
        _deny_second_use(server, _grants_of(server, code))
    if code.expires_at <= server.clock.now():
        raise OAuthError("invalid_grant", "the authorization code expired (OAuth 2.1 §4.1.2)")
    if "redirect_uri" in form and form["redirect_uri"] != code.redirect_uri:
        raise OAuthError(
            "invalid_grant", "redirect_uri differs from the one in the authorization request (OAuth 2.1 §10.2)"
        )
    verify_code_verifier(form.get("code_verifier"), code.code_challenge)
    resource = same_resource(form.get("resource"), code.resource, server.resources, "the authorization request")
    # The code is spent by a redemption, not by an attempt (OAuth 2.1 §4.1.3: single use means a
    # *second* redemption fails): a refusal above, or issue_tokens refusing before it records
    # anything (a full store: 503), leaves it usable until it expires. No await from the `used`
    # check to here, so two concurrent redemptions cannot both pass it; issuing first and marking
    # after is safe for the same reason, and means a failed issuance can never burn the code.
    response = issue_tokens(server, client, code.subject, resource, code.scope, code=code)
    code.used = True
    now = server.clock.now()
    record = RedeemedCode(client.client_id, _grants_of(server, code), now + REFRESH_TOKEN_LIFETIME)
    server.redeemed_codes.put(code_value, record, now, source=client.client_id)
    return response


def _grants_of(server: AuthorizationServerState, code: AuthorizationCode) -> tuple[str, ...]:
    """The grants a code's redemption began: its refresh token's family, and the grant the code
    itself is (issuance.py), which its access token, and every token exchanged for that one, are
    linked to when no refresh token came with them."""
    families = (server.refresh_tokens[t].family for t in code.refresh_tokens if t in server.refresh_tokens)
    return (*families, code.grant)


def _deny_second_use(server: AuthorizationServerState, grants: tuple[str, ...]) -> NoReturn:
    # OAuth 2.1 §4.1.3: "If an authorization code is used more than once, the authorization
    # server SHOULD deny the request and SHOULD revoke (when possible) all tokens previously
    # issued based on that authorization code": for as long as any of them can live (24 h),
    # not only while the code itself is remembered (60 s).
    for grant in grants:
        server.revoke_family(grant)
    raise OAuthError(
        "invalid_grant", "the authorization code was already used; tokens issued from it are revoked (OAuth 2.1 §4.1.3)"
    )


def redeem_refresh_token(server: AuthorizationServerState, client: Client, form: dict[str, str]) -> dict[str, Any]:
    value = form["refresh_token"]  # present: _refuse_from_the_request
    token = server.refresh_tokens.get(value)
    if token is None or token.client_id != client.client_id:
        raise OAuthError(
            "invalid_grant",
            f"the refresh token is unknown, expired (a grant's refresh tokens last {_LIFETIME}) or was issued to another client",
        )
    if token.expires_at <= server.clock.now():
        raise OAuthError(
            "invalid_grant",
            f"the refresh token expired: a grant's refresh tokens last {_LIFETIME} from consent, rotation does not extend it (OAuth 2.1 §4.3; lab's choice)",
        )
    if token.revoked and not token.rotated:
        raise OAuthError(
            "invalid_grant",
            "the refresh token was revoked: its grant ended (RFC 7009 §2.1 revocation, or a code or refresh token "
            "used twice, OAuth 2.1 §4.1.3, §4.3.1); authorize again",
        )
    if token.revoked:
        # A rotated-out token came back: someone holds a copy. Revoke the whole family.
        server.revoke_family(token.family)
        raise OAuthError(
            "invalid_grant", "refresh token reuse detected; every token of this grant is revoked (OAuth 2.1 §4.3.1)"
        )
    if token.idle_expires_at <= server.clock.now():
        # After the reuse check: a rotated-out copy coming back late is still reuse, and kills
        # the family; this is the current token, left unused too long.
        raise OAuthError(
            "invalid_grant",
            f"the refresh token went unused for {_IDLE}, this server's idle timeout (each refresh starts a new "
            f"{_IDLE} window, within the grant's {_LIFETIME}); authorize again (RFC 9700 §4.14.2, OAuth 2.1 §4.3.3; lab's choice)",
        )
    scope = token.scope
    # OAuth 2.1 §4.3.1: "if omitted", the scope is the one originally granted. A blank scope names
    # no scope token (RFC 6749 §3.3: one or more), so it is read as omitted, as at /authorize
    # (state.check_scope), never as a request for a token with no scope at all. OpenID Connect
    # scopes this AS ignored at /authorize are ignored here too: a client that refreshes with the
    # scope it asked for there (mcp-remote does since punkpeye/mcp-remote#357) widens nothing.
    requested = server.requested_scopes(form.get("scope"), token.resource)
    if requested:
        if not set(requested) <= set(token.scope.split()):
            raise OAuthError(
                "invalid_scope", "a refresh may narrow the granted scope, never widen it (OAuth 2.1 §4.3.1)"
            )
        scope = " ".join(requested)
    resource = same_resource(form.get("resource"), token.resource, server.resources, "the original grant")
    response = issue_tokens(server, client, token.subject, resource, scope, family=token)
    if "refresh_token" in response:
        # Rotation (MCP §11.2): a refresh token works once, once it has been replaced. A refresh
        # that brings no replacement (the scope narrowed to drop offline_access) leaves it alone:
        # RFC 6749 §6 lets the AS revoke the old token only "after issuing a new refresh token".
        token.revoked = token.rotated = True
    else:
        # Kept, it was still just used: the idle timeout counts time the token "has not been used
        # to obtain new access tokens" (RFC 9700 §4.14.2), so its window starts again, never past
        # the grant's end, as a replacement's would.
        token.idle_expires_at = min(server.clock.now() + REFRESH_TOKEN_IDLE_TIMEOUT, token.expires_at)
    return response
