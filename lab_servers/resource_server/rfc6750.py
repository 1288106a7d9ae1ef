"""RFC 6750: the bearer token a request carries (§2.1), and how a resource server refuses one
(§3): the challenge, with RFC 9728 §5.1's `resource_metadata` parameter, and the JSON body.

Shared by every resource server of the lab: the MCP server and the downstream API behind it.
"""

from __future__ import annotations

import re

from starlette.responses import JSONResponse, Response

from ..error_text import error_description
from ..rfc9110 import OWS

# §2.1: credentials = "Bearer" 1*SP b64token, b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class MalformedBearerRequest(Exception):
    """The request's credentials cannot be read as one bearer token: 400 `invalid_request` (§3.1)."""


def bearer_token(authorizations: list[str]) -> str | None:
    """The token of the request's one `Authorization: Bearer` header (§2.1), from every
    `Authorization` value it sent; None when it sent no bearer credentials at all (§3.1)."""
    bearer = [value for value in authorizations if value[:7].lower() == "bearer "]
    if not bearer:
        return None
    if len(bearer) > 1:
        raise MalformedBearerRequest("more than one bearer token was sent (RFC 6750 §2)")
    # SPs after the scheme (§2.1: "Bearer" 1*SP b64token), and the field's trailing OWS (RFC 9110
    # §5.5): str.strip() also took NBSP and NEL, and strip(OWS) a TAB between the scheme and the token.
    token = bearer[0][7:].lstrip(" ").rstrip(OWS)
    if not _B64TOKEN.fullmatch(token):
        raise MalformedBearerRequest("the Authorization header is malformed: Bearer, then one b64token (RFC 6750 §2.1)")
    return token


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(resource_metadata: str | None, **params: str | None) -> str:
    """`Bearer resource_metadata="…", error="…", …` with the given parameters, in a stable order.
    No `resource_metadata` for a server without RFC 9728 metadata (MCP 2025-03-26). §3: the
    scheme "MUST be followed by one or more auth-param values": a bare `Bearer` is refused here."""
    parts = [f"resource_metadata={_quote(resource_metadata)}"] if resource_metadata else []
    for name in ("error", "error_description", "scope"):
        value = params.get(name)
        if name == "error_description" and value is not None:
            value = error_description(value)  # RFC 6750 §3: printable ASCII, no quotes or backslashes
        if value is not None:
            parts.append(f"{name}={_quote(value)}")
    if not parts:
        raise ValueError("a Bearer challenge needs at least one auth-param (RFC 6750 §3): a scope, say")
    return "Bearer " + ", ".join(parts)


def bearer_refusal(
    status: int,
    resource_metadata: str | None,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
) -> Response:
    """401, 400 or 403 with the challenge; `error=None` for a request that sent no credentials."""
    challenge = bearer_challenge(resource_metadata, error=error, error_description=description, scope=scope)
    if error is None:
        # §3.1: a request with no credentials gets no error code and no other error information;
        # the challenge in WWW-Authenticate is the whole answer.
        return Response(status_code=status, headers={"WWW-Authenticate": challenge})
    body = {"error": error, "error_description": error_description(description or "")}
    return JSONResponse(body, status, headers={"WWW-Authenticate": challenge})
