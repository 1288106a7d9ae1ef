"""Minting access tokens (and rotating refresh tokens): what every grant ends with.

The access token is a JWT (RFC 9068 shape) whose `aud` is the one resource it is good for
(RFC 8707 §2, MCP §9.2). Grants differ in how they decide subject, resource and scope, and in
whether a refresh token comes along; they all end here.
"""

from __future__ import annotations

from typing import Any

from .clients import Client
from .errors import OAuthError
from .grants import AuthorizationCode, RefreshToken
from .state import AuthorizationServerState
from .token_records import REFRESH_TOKEN_IDLE_TIMEOUT, REFRESH_TOKEN_LIFETIME

ACCESS_TOKEN_LIFETIME = 900  # MCP §11.2: short-lived access tokens


def issue_tokens(
    server: AuthorizationServerState,
    client: Client,
    subject: str,
    resource: str,
    scope: str,
    *,
    code: AuthorizationCode | None = None,
    family: RefreshToken | None = None,
    act: dict[str, Any] | None = None,
    exchanged_from: str | None = None,
    refresh: bool = True,
) -> dict[str, Any]:
    """Sign an access token for `resource`; add a rotating refresh token when the client
    registered that grant and the grant allows it (`refresh=False`: token exchange, RFC 8693
    §2.2.1 leaves it optional, and jwt-bearer, where the ID-JAG draft says SHOULD NOT)."""
    if not scope.split():
        # Every grant checks this first, naming its own reason; this is the backstop.
        raise OAuthError(
            "invalid_scope", "no scope would be granted; a token's scope is one or more scope tokens (RFC 6749 §3.3)"
        )
    now = server.clock.now()
    offline = not server.offline_access or "offline_access" in scope.split()
    with_refresh = refresh and offline and "refresh_token" in client.grant_types
    # Room first, so that a refused grant leaves nothing behind (token_records.py).
    server.issued.make_room(now)
    if with_refresh:
        server.refresh_tokens.make_room(now)
    claims: dict[str, Any] = {
        "iss": server.issuer,
        "sub": subject,
        "aud": resource,  # RFC 8707 §2 / MCP §9.2: the token is good for this MCP server only
        "client_id": client.client_id,
        "scope": scope,
        "iat": now,
        "exp": now + ACCESS_TOKEN_LIFETIME,
        "jti": server.ids.token("access-token-jti", 12),
    }
    if act is not None:
        claims["act"] = act  # RFC 8693 §4.1: who is acting on the subject's behalf
    elif (actor := _may_act_for(server, resource)) is not None:
        # RFC 8693 §4.4: the token says who may act for its subject. The AS's exchange rule lets
        # one MCP server exchange the tokens sent to it (`ExchangeRule.serves`), so a token for
        # that server names it; token exchange then checks the claim against the client (rfc8693.py).
        claims["may_act"] = {"sub": actor}
    response: dict[str, Any] = {
        "access_token": server.keys.sign_access_token(claims),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "scope": scope,
    }
    if with_refresh:
        family_end = family.expires_at if family else now + REFRESH_TOKEN_LIFETIME
        rotating = RefreshToken(
            token=server.ids.token("refresh-token", 32),
            client_id=client.client_id,
            subject=subject,
            resource=resource,
            # RFC 6749 §6: a new refresh token's scope "MUST be identical to that of the refresh
            # token included by the client in the request"; only the access token is narrowed.
            scope=family.scope if family else scope,
            # Rotation (`family` is the token being rotated) keeps the family's id and its end.
            family=family.family if family else server.ids.token("refresh-family", 8),
            expires_at=family_end,
            # Each token opens a fresh idle window, so rotation resets it, never past the family's end.
            idle_expires_at=min(now + REFRESH_TOKEN_IDLE_TIMEOUT, family_end),
        )
        server.refresh_tokens[rotating.token] = rotating
        if code is not None:
            code.refresh_tokens.append(rotating.token)
        response["refresh_token"] = rotating.token
        server.grant_of_jti[claims["jti"]] = rotating.family
    elif family is not None:
        # A refresh without a replacement (narrowed to drop offline_access) still mints from the
        # grant: revoking it (RFC 7009 §2.1) or detecting reuse (OAuth 2.1 §4.3.1) must reach
        # this access token too.
        server.grant_of_jti[claims["jti"]] = family.family
    elif code is not None:
        # No refresh token: the code's redemption is the whole grant. Linked to it, this token and
        # those exchanged for it (RFC 8693, below) are reached by a second redemption (OAuth 2.1
        # §4.1.3), each by its own link to the grant.
        server.grant_of_jti[claims["jti"]] = code.grant
    if exchanged_from is not None:
        # RFC 8693: this token stands in for the subject token (`exchanged_from` is its jti), so
        # it is based on the subject's grant. Revoking the grant (RFC 7009 §2.1 SHOULD revoke
        # "all access tokens based on the same authorization grant"), detecting refresh reuse
        # (OAuth 2.1 §4.3.1) or code reuse (§4.1.3) must reach it: through the subject token
        # (state.revoke_access_token, expired or not), and through the grant's family.
        server.issued.link_exchange(exchanged_from, claims["jti"])
        if exchanged_from in server.grant_of_jti:
            server.grant_of_jti[claims["jti"]] = server.grant_of_jti[exchanged_from]
    server.issued.append(claims)
    return response


def _may_act_for(server: AuthorizationServerState, resource: str) -> str | None:
    """The one client whose exchange rule serves `resource`; None when no rule does, or several
    do (a `may_act` names one actor, RFC 8693 §4.4)."""
    actors = [client_id for client_id, rule in server.exchange_rules.items() if rule.serves == resource]
    return actors[0] if len(actors) == 1 else None
