"""A downstream API behind the MCP server (`api.example.com`): it accepts only tokens minted for
it, carrying an actor it trusts.

It validates like any resource server (signature, `iss`, `aud` = this API, `exp`: MCP
2026-07-28 security considerations §9, RFC 8707), then checks the delegation: `act.sub` must be
an MCP server it knows (RFC 8693 §4.1: the outermost `act` is the current actor), and the scope
must cover the call. A user token forwarded by the MCP server fails on `aud`: passthrough refused.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..determinism import LabClock
from ..error_text import error_description
from ..resource_server.tokens import InvalidToken, TokenValidator

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
        self.app = Starlette(routes=[Route("/contacts", self.contacts, methods=["GET"])])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def refuse(self, status: int, error: str, description: str, scope: str | None = None) -> Response:
        # RFC 6750 §3; this API publishes no RFC 9728 metadata (no client is meant to discover it).
        text = error_description(description)
        challenge = f'Bearer error="{error}", error_description="{text}"' + (f', scope="{scope}"' if scope else "")
        return JSONResponse(
            {"error": error, "error_description": text}, status, headers={"WWW-Authenticate": challenge}
        )

    async def contacts(self, request: Request) -> Response:
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return JSONResponse({"error": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"})
        try:
            claims = await self.validator.validate(header[7:].strip())
        except InvalidToken as exc:
            return self.refuse(401, "invalid_token", str(exc))
        act = claims.raw.get("act")
        actor = act.get("sub") if isinstance(act, dict) else None
        if actor is None:
            return self.refuse(
                401,
                "invalid_token",
                "the token names no actor (act): this API serves only delegated calls (RFC 8693 §4.1)",
            )
        if actor not in self.trusted_actors:
            return self.refuse(
                401, "invalid_token", f"actor {actor!r} is not an MCP server this API trusts (RFC 8693 §4.1)"
            )
        if "contacts:read" not in claims.scopes:
            return self.refuse(403, "insufficient_scope", "contacts:read is needed", scope="contacts:read")
        return JSONResponse({"user": claims.subject, "actor": actor, "contacts": CONTACTS.get(claims.subject, [])})
