"""Validating a token by asking the AS (RFC 7662 introspection) instead of checking it locally.

The trade, stated plainly: a local JWT check (`tokens.py`) needs no request per call but cannot
see revocation before `exp`; introspection sees it at once and costs one request to the AS per
call (the lab does not cache answers, so nothing stale hides the effect), and while the AS cannot
be reached no token can be checked, so each is refused. The resource server authenticates to the
AS as a confidential client (RFC 7662 §2.1: the caller must be authorised).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from ..bounded_json import JsonRejected, parse_json
from ..rfc7519 import audience_is_only
from .tokens import InvalidToken, TokenClaims, audience_refusal, refuse_overlong


class IntrospectingValidator:
    def __init__(
        self,
        *,
        endpoint: str,
        client_id: str,
        client_secret: str,
        audience: str,
        http: httpx.AsyncClient,
        method: str = "client_secret_basic",
    ) -> None:
        self.endpoint = endpoint
        self.audience = audience
        self.http = http
        # RFC 7662 §2.1: the caller authenticates, by a method the AS lists for the endpoint
        # (RFC 8414 §2, introspection_endpoint_auth_methods_supported): Basic, or the form.
        self._authorization: str | None = None  # the Basic credentials, or None: in the form
        self._credentials: dict[str, str] = {}
        if method == "client_secret_basic":
            # RFC 6749 §2.3.1: each part form-urlencoded, then joined with ':'.
            pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
            self._authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        elif method == "client_secret_post":
            self._credentials = {"client_id": client_id, "client_secret": client_secret}
        else:
            raise ValueError(f"the MCP server authenticates to introspection with a client secret, not {method!r}")

    async def validate(self, token: str, *, header: dict[str, Any] | None = None) -> TokenClaims:
        # `header`: what the local check reads of the token; the AS reads it all here (unused).
        refuse_overlong(token)  # as the local check does, before asking the AS
        try:
            response = await self.http.post(
                self.endpoint,
                data={"token": token, "token_type_hint": "access_token", **self._credentials},
                headers={"Authorization": self._authorization} if self._authorization else {},
            )
        except httpx.HTTPError as unreachable:
            # An AS that cannot be reached leaves the token unchecked, so refused as when the JWKS
            # cannot be loaded (tokens.py): a 401 naming why, where the exception was a 500.
            raise InvalidToken(
                f"the authorization server's introspection endpoint could not be reached "
                f"({type(unreachable).__name__}: {unreachable}); the token cannot be checked"
            ) from None
        if response.status_code != 200:
            raise InvalidToken(
                f"the authorization server refused to introspect ({response.status_code}); the token cannot be checked"
            )
        try:
            body = parse_json(response.content, what="the introspection response")
        except JsonRejected as rejected:
            raise InvalidToken(f"the introspection response is not usable: {rejected.rule}") from None
        if not isinstance(body, dict):
            raise InvalidToken("the introspection response is not a JSON object (RFC 7662 §2.2)")
        if body.get("active") is not True:
            raise InvalidToken(
                "the authorization server says the token is not active: revoked, expired, unknown or not for this "
                "server (RFC 7662 §2.2, §4)"
            )
        # RFC 7662 §2.2: aud is a string or a list of strings, as in a JWT (RFC 7519 §4.1.3).
        if not audience_is_only(body.get("aud"), self.audience):
            raise audience_refusal(body.get("aud"), self.audience)
        return TokenClaims(
            client_id=str(body.get("client_id", "")),
            subject=str(body.get("sub", "")),
            scopes=frozenset(str(body.get("scope", "")).split()),
            audience=self.audience,
            issuer=str(body.get("iss", "")),
            expires_at=body["exp"] if isinstance(body.get("exp"), int) else 0,
            raw=body,
        )


# Issuer → the MCP server's introspecting validator at that AS, with its credentials there: the
# server introspects each AS's tokens at that AS (`ResourceServer.use_introspection`). Whoever
# makes it registers the server at the AS (the lab's story does); it raises, naming why, where the
# server cannot introspect.
Introspection = Callable[[str], IntrospectingValidator]
