"""A downstream API behind the MCP server (`api.example.com`): it accepts only tokens minted for
it, carrying an actor it trusts.

It validates like any resource server (signature, `iss`, `aud` = this API, `exp`: MCP
2026-07-28 security considerations §9, RFC 8707), then checks the delegation: `act.sub` must be
an MCP server it knows (RFC 8693 §4.1: the outermost `act` is the current actor), and the scope
must cover the call. A user token forwarded by the MCP server fails on `aud`: passthrough refused.

It refuses as the MCP server does, with the same RFC 6750 code (`resource_server.rfc6750`): no
credentials get a challenge naming the scope and no error code (§3.1), and every other refusal, a
wrong path or method included, a JSON body with `error` and `error_description`.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..determinism import LabClock
from ..error_text import request_refusal
from ..resource_server.rfc6750 import MalformedBearerRequest, bearer_refusal, bearer_token
from ..resource_server.tokens import InvalidToken, TokenValidator

CONTACTS_SCOPE = "contacts:read"
CONTACTS = {"alice": [{"name": "Bob", "email": "bob@example.com"}, {"name": "Carol", "email": "carol@example.com"}]}


class DownstreamApi:
    def __init__(
        self, url: str, *, issuer: str, trusted_actors: set[str], http: httpx.AsyncClient, clock: LabClock
    ) -> None:
        self.url = url  # its resource identifier, e.g. https://api.example.com/
        self.trusted_actors = trusted_actors
        self.validator = TokenValidator(
            issuer=issuer, jwks_uri=f"{issuer}/jwks.json", audience=url, http=http, clock=clock
        )
        self.app = Starlette(
            routes=[Route("/contacts", self.contacts, methods=["GET"])],
            exception_handlers={HTTPException: _routing_error, Exception: _unexpected},
        )
        self.app.router.redirect_slashes = False  # `/contacts/` is no endpoint: 404, as at the AS (server.py)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def refuse(
        self, status: int, error: str | None, description: str | None = None, scope: str | None = None
    ) -> Response:
        # RFC 6750 §3; this API publishes no RFC 9728 metadata (no client is meant to discover it).
        return bearer_refusal(status, None, error, description, scope)

    async def contacts(self, request: Request) -> Response:
        try:
            token = bearer_token(request.headers.getlist("authorization"))
        except MalformedBearerRequest as malformed:
            return self.refuse(400, "invalid_request", str(malformed))
        if token is None:
            # RFC 6750 §3.1: a request with no credentials gets the challenge and no error code; §3:
            # the challenge has one auth-param at least, here the scope a token needs (as the MCP
            # server's challenge names its own).
            return self.refuse(401, None, scope=CONTACTS_SCOPE)
        try:
            claims = await self.validator.validate(token)
        except InvalidToken as exc:
            return self.refuse(401, "invalid_token", str(exc))
        act = claims.raw.get("act")
        actor = act.get("sub") if isinstance(act, dict) else None
        if not isinstance(actor, str):
            # RFC 8693 §4.1: act's sub is a StringOrURI, as a token's own (RFC 7519 §4.1.2); an
            # object or a list there was a 500 (`actor not in trusted_actors`: unhashable).
            return self.refuse(
                401,
                "invalid_token",
                "the token names no actor (act, with a string sub): this API serves only delegated calls (RFC 8693 §4.1)",
            )
        if actor not in self.trusted_actors:
            return self.refuse(
                401, "invalid_token", f"actor {actor!r} is not an MCP server this API trusts (RFC 8693 §4.1)"
            )
        if CONTACTS_SCOPE not in claims.scopes:
            return self.refuse(403, "insufficient_scope", f"{CONTACTS_SCOPE} is needed", scope=CONTACTS_SCOPE)
        return JSONResponse({"user": claims.subject, "actor": actor, "contacts": CONTACTS.get(claims.subject, [])})


async def _routing_error(request: Request, error: Exception) -> Response:
    # Starlette's own 404 and 405 answer in plain text; a client of this API reads JSON errors.
    assert isinstance(error, HTTPException)
    path = request.url.path
    if error.status_code == 405:
        return request_refusal(
            405, f"{request.method} is not allowed on {path}; use GET, HEAD (RFC 9110 §15.5.6)", {"Allow": "GET, HEAD"}
        )
    return request_refusal(error.status_code, f"this API has no endpoint at {path}; it serves GET /contacts")


async def _unexpected(_: Request, error: Exception) -> Response:  # pragma: no cover - a bug if reached
    return JSONResponse({"error": "server_error", "error_description": type(error).__name__}, 500)
