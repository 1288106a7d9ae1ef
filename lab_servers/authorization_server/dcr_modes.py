"""RFC 7591 registration as the AS's capabilities allow it: open, behind an initial access token
(RFC 7591 §3: "the authorization server MAY require an initial access token", an OAuth 2.0
bearer token), closed, or removed. What a client sees in each case is what it must cope with
(MCP 2026-07-28 client-registration §3: clients MUST handle DCR rejections)."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.responses import Response

from ..rfc6750 import MalformedBearerRequest, bearer_token
from .capabilities import ASCapabilities
from .clients import auth_method_not_offered
from .errors import NO_STORE, OAuthError


class NoCredentials(OAuthError):
    """A request with no credentials at all, where a bearer token is needed. RFC 6750 §3.1: the
    answer "SHOULD NOT include an error code or other error information", so it is a 401 with
    the challenge alone, as the MCP server gives (resource_server/server.py); the description stays in
    the exception for the trace and for whoever raised it, never in the response."""

    def __init__(self, description: str) -> None:
        # RFC 6750 §3: the scheme "MUST be followed by one or more auth-param values"; with no
        # error to name, the realm does (the Basic challenge at /token is realm="token").
        super().__init__("invalid_request", description, 401, {"WWW-Authenticate": 'Bearer realm="registration"'})

    def response(self) -> Response:
        return Response(status_code=self.status, headers={**NO_STORE, **self.headers})


def check_registration_allowed(capabilities: ASCapabilities, authorizations: list[str]) -> None:
    """Raise the error this AS answers a registration with, or return to let it through
    (`authorizations`: every Authorization field the request sent)."""
    if capabilities.dcr == "removed":
        raise OAuthError(
            "invalid_request",
            "this authorization server has no endpoint at /register: dynamic client registration was removed",
            404,
        )
    if capabilities.dcr == "closed":
        # RFC 7591 defines no code for "registration is off"; 403 access_denied says it plainly.
        raise OAuthError(
            "access_denied",
            "dynamic client registration is closed on this authorization server (RFC 7591 §3 lets an AS restrict it)",
            403,
        )
    if capabilities.dcr == "initial_access_token":
        expected = capabilities.initial_access_token or ""
        try:
            # Read as every resource server of the lab reads a bearer token: two of them, or one
            # that is no b64token, is "otherwise malformed" (RFC 6750 §2.1, §3.1: invalid_request,
            # 400), not a wrong token; the first of two was taken before, the second never read.
            given = bearer_token(authorizations)
        except MalformedBearerRequest as malformed:
            raise OAuthError(
                "invalid_request",
                f"{malformed} (RFC 7591 §3)",
                400,
                {"WWW-Authenticate": 'Bearer error="invalid_request"'},
            ) from None
        if given is None:
            raise NoCredentials("registration needs an initial access token as a Bearer token (RFC 7591 §3)")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise OAuthError("invalid_token", "the initial access token is not valid (RFC 7591 §3, RFC 6750 §3.1)", 401,
                             {"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip


def check_auth_method_offered(capabilities: ASCapabilities, body: Any) -> None:
    """A registration asking for a token endpoint auth method the AS does not offer is refused,
    and so is one that names none when the default (RFC 7591 §2: client_secret_basic) is not
    offered: registered so, the client got a secret that /token then refused either way."""
    if not isinstance(body, dict):
        return
    refusal = auth_method_not_offered(body, "dcr", capabilities.token_endpoint_auth_methods)
    if refusal:
        raise OAuthError("invalid_client_metadata", refusal)
