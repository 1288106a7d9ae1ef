"""RFC 6750: the bearer token a request carries (§2.1), and how a resource server refuses one
(§3): the challenge, with RFC 9728 §5.1's `resource_metadata` parameter, and the JSON body.

Shared by every resource server of the lab: the MCP server and the downstream API behind it. The
reading of the token itself is `lab_servers.rfc6750`'s, which the AS's /register uses too.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from ..error_text import error_description
from ..rfc6750 import MalformedBearerRequest, bearer_token

__all__ = ["MalformedBearerRequest", "bearer_challenge", "bearer_refusal", "bearer_token"]


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
