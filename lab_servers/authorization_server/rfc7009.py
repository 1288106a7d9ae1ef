"""RFC 7009 token revocation: POST /revoke with `token` and an optional `token_type_hint`.

What revocation reaches: a refresh token ends its whole grant (its rotated siblings and the
access tokens they produced, §2.1 SHOULD, with the tokens a token exchange issued for those); an
access token goes on the AS's denylist, with what was exchanged for it. What it
cannot reach: a resource server that validates JWTs locally never asks the AS, so a revoked
access token keeps working there until its `exp` (see `resource_server/rfc7662.py` for the
introspecting alternative).
"""

from __future__ import annotations

from .client_authentication import authenticate_client
from .errors import OAuthError
from .params import LOOKED_UP, single_valued
from .state import AuthorizationServerState


async def revocation_request(
    server: AuthorizationServerState, items: list[tuple[str, str]], authorization: str | None
) -> None:
    form = single_valued(items, looked_up=LOOKED_UP)
    # §2.1: the client authenticates as it does at the token endpoint (public clients send client_id).
    unnamed = (
        "a client that does not authenticate names itself with client_id, so that the AS can check the token "
        "was issued to it (RFC 7009 §2.1)"
    )
    token = form.get("token")
    if not token:  # before the client is looked up: for a CIMD URL, its document fetched (CIMD -02 §8.7)
        raise OAuthError("invalid_request", "token is required (RFC 7009 §2.1)")
    client = await authenticate_client(server, form, authorization, unnamed=unnamed)
    # `token_type_hint` is only a hint (§2.1): where the hinted type does not find the token, the
    # AS "MUST extend its search across all of its supported token types", and it "MAY ignore this
    # parameter". Both token types this AS issues are looked up whatever the hint says, so an
    # unknown hint is ignored too; `unsupported_token_type` (§2.2.1) is for a token of a type the
    # AS cannot revoke, and there is none.
    refresh = server.refresh_tokens.get(token)
    if refresh is not None:
        if refresh.client_id != client.client_id:
            raise OAuthError(
                "invalid_request", "this refresh token was not issued to the client asking to revoke it (RFC 7009 §2.1)"
            )
        server.revoke_family(refresh.family)
        return
    claims = server.keys.verify(token)
    if claims is not None and claims.get("iss") == server.issuer and isinstance(claims.get("jti"), str):
        if claims.get("client_id") != client.client_id:
            raise OAuthError(
                "invalid_request", "this access token was not issued to the client asking to revoke it (RFC 7009 §2.1)"
            )
        server.revoke_access_token(claims["jti"])
    # §2.2: an unknown or invalid token is answered with 200 too: the client's goal is reached.
