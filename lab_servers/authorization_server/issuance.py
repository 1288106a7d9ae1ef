"""Minting access tokens (and rotating refresh tokens): what every grant ends with.

The access token is a JWT (RFC 9068 shape) whose `aud` is the one resource it is good for
(RFC 8707 §2, MCP §9.2). Grants differ in how they decide subject, resource and scope, and in
whether a refresh token comes along; they all end here.
"""

from __future__ import annotations

from typing import Any

from .clients import Client
from .grants import AuthorizationCode, RefreshToken
from .state import AuthorizationServerState

ACCESS_TOKEN_LIFETIME = 900  # MCP §11.2: short-lived access tokens


def issue_tokens(
    server: AuthorizationServerState,
    client: Client,
    subject: str,
    resource: str,
    scope: str,
    *,
    code: AuthorizationCode | None = None,
    family: str | None = None,
    act: dict[str, Any] | None = None,
    refresh: bool = True,
) -> dict[str, Any]:
    """Sign an access token for `resource`; add a rotating refresh token when the client
    registered that grant and the grant allows it (`refresh=False`: token exchange, RFC 8693
    §2.2.1 leaves it optional, and jwt-bearer, where the ID-JAG draft says SHOULD NOT)."""
    now = server.clock.now()
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
    response: dict[str, Any] = {
        "access_token": server.keys.sign_access_token(claims),
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "scope": scope,
    }
    offline = not server.offline_access or "offline_access" in scope.split()
    if refresh and offline and "refresh_token" in client.grant_types:
        rotating = RefreshToken(
            token=server.ids.token("refresh-token", 32),
            client_id=client.client_id,
            subject=subject,
            resource=resource,
            scope=scope,
            family=family or server.ids.token("refresh-family", 8),
        )
        server.refresh_tokens[rotating.token] = rotating
        if code is not None:
            code.refresh_tokens.append(rotating.token)
        response["refresh_token"] = rotating.token
        server.grant_of_jti[claims["jti"]] = rotating.family
    server.issued.append(claims)
    return response
