"""RFC 7662 token introspection: POST /introspect, for authorised resource servers only.

§2.1 requires the caller to be authorised, so that token scanning is not open to anyone: here
the caller authenticates as a confidential client (never `none`) that the AS's administrator
listed in `introspectors`, and it learns only about access tokens for its own resource (§4: a
refresh token is used at no resource server). An inactive token gets `{"active": false}` and
nothing else (§2.2).
"""

from __future__ import annotations

from typing import Any

from .client_authentication import authenticate_client, client_refusal
from .errors import OAuthError
from .params import LOOKED_UP, single_valued
from .state import AuthorizationServerState

REPORTED_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "act")
_NEEDS_CALLER = "introspection needs an authenticated, authorised caller"  # RFC 7662 §2.1


def inactive() -> dict[str, Any]:
    """§2.2's answer for a token that is not active: a new one each time, as every answer here is
    (one module-level dict, handed to each caller, was theirs to change for every later one)."""
    return {"active": False}


async def introspection_request(
    server: AuthorizationServerState, items: list[tuple[str, str]], authorization: str | None
) -> dict[str, Any]:
    form = single_valued(items, looked_up=LOOKED_UP)
    # Empty counts as absent: an empty Authorization field carries no credentials, and an empty
    # parameter is an omitted one (RFC 6749 §3.1).
    if not authorization and not (form.get("client_secret") or form.get("client_assertion")):
        # RFC 6749 §5.2 names "no client authentication included" among invalid_client's causes, and
        # a client_id alone names a public client, never an authorised caller: both are refused from
        # the request, before the id is looked up (for a CIMD URL, its document fetched: CIMD -02
        # §8.7), and answered as client authentication answers (a 401 only with a challenge offered).
        why = "a public client is neither" if form.get("client_id") else "this request authenticates no client"
        raise client_refusal(server, f"{_NEEDS_CALLER}; {why} (RFC 7662 §2.1)", authorization)
    token = form.get("token")
    if not token:  # before the caller is looked up (CIMD -02 §8.7)
        raise OAuthError("invalid_request", "token is required (RFC 7662 §2.1)")
    caller = await authenticate_client(server, form, authorization, unnamed=f"{_NEEDS_CALLER} (RFC 7662 §2.1)")
    if caller.token_endpoint_auth_method == "none":  # whatever reached here as one: never a caller
        raise client_refusal(server, f"{_NEEDS_CALLER}; a public client is neither (RFC 7662 §2.1)", authorization)
    resource = server.introspectors.get(caller.client_id)
    if resource is None:
        raise OAuthError(
            "unauthorized_client",
            f"client {caller.client_id!r} is not authorised to introspect tokens (RFC 7662 §2.1)",
            403,
        )
    if token in server.refresh_tokens:
        # §4: "If the token can be used only at certain resource servers, the authorization server
        # MUST determine whether or not the token can be used at the resource server making the
        # introspection call". A refresh token is used at this AS's token endpoint alone (RFC 6749
        # §1.5), at no resource server, and every caller here is one (`introspectors`): it was
        # answered active, and an MCP server shown one as a bearer token refused it only for
        # naming no audience.
        return inactive()
    claims = server.active_access_token(token)
    if claims is None or claims.get("aud") != resource:
        return inactive()  # §4: a caller learns nothing about tokens meant for someone else
    return {"active": True, "token_type": "Bearer", **{k: claims[k] for k in REPORTED_CLAIMS if k in claims}}
