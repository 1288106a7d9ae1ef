"""The authorization server's HTTP surface: the FastAPI app over `AuthorizationServerState`.

Routes map one-to-one onto specs: RFC 8414 metadata (and OpenID discovery), the JWKS, RFC 7591
registration, the OAuth 2.1 authorization and token endpoints. Every failure becomes an OAuth
error response with a description naming the rule; an unexpected exception becomes a
`server_error` JSON 500, which the tests treat as a bug.
"""

from __future__ import annotations

from functools import cached_property

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..body_limit import BodyLimit
from ..bounded_json import JsonRejected, parse_json
from .authorize import authorization_request, consent_decision
from .errors import NO_STORE, OAuthError, http_exception_as_oauth_error
from .logos import LOGO_HEADERS, sniff_raster_image
from .params import form_items
from .rfc7591 import REGISTRATION_JSON
from .state import AuthorizationServerState
from .token import token_request

MAX_REQUEST_BODY_BYTES = 64 * 1024  # any request body, capped while it streams (413); /register's own limit is lower

class AuthorizationServer(AuthorizationServerState):
    """The state plus its HTTP surface, `app`, built on first use."""

    @cached_property
    def app(self) -> BodyLimit:
        # Every request body is capped while it streams (413) before any route reads it.
        return BodyLimit(self._build_app(), MAX_REQUEST_BODY_BYTES)

    # The HTTP surface ---------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Lab authorization server", openapi_url=None, docs_url=None, redoc_url=None)

        @app.exception_handler(OAuthError)
        async def oauth_error(_: Request, error: OAuthError) -> Response:
            return error.response()

        @app.exception_handler(StarletteHTTPException)
        async def http_error(request: Request, error: StarletteHTTPException) -> Response:
            # Starlette's own 404/405 would answer {"detail": ...}; an OAuth client reads
            # `error` and `error_description` (RFC 6749 §5.2) wherever it lands.
            return http_exception_as_oauth_error(request, error).response()

        @app.exception_handler(RequestValidationError)
        async def invalid(_: Request, error: RequestValidationError) -> Response:
            return OAuthError("invalid_request", "the request is malformed (RFC 6749 §5.2)").response()

        @app.exception_handler(Exception)
        async def unexpected(_: Request, error: Exception) -> Response:  # pragma: no cover - a bug if reached
            return JSONResponse({"error": "server_error", "error_description": type(error).__name__}, 500, headers=NO_STORE)

        @app.get("/.well-known/oauth-authorization-server")
        @app.get("/.well-known/openid-configuration")
        async def metadata() -> Response:
            return JSONResponse(self.metadata())

        @app.get("/jwks.json")
        async def jwks() -> Response:
            return JSONResponse(self.keys.jwks())

        @app.post("/register")
        async def register(request: Request) -> Response:
            try:
                body = parse_json(await request.body(), REGISTRATION_JSON, what="the registration body")
            except JsonRejected as rejected:
                raise OAuthError("invalid_client_metadata", f"{rejected.rule}; the body must be a JSON object (RFC 7591 §3.1)") from None
            source = request.client.host if request.client else "unknown"
            return JSONResponse(await self.registrar.register(body, self.metadata(), source=source), status_code=201, headers=NO_STORE)

        @app.get("/clients/{client_id}/logo")
        async def logo(client_id: str) -> Response:
            # The AS serves the logo it prefetched (CIMD -02 §8.8), so the user's browser never
            # contacts the client's host. Whatever the AS fetched, it now serves to anyone.
            client = self.registry.get(client_id)
            logo = client.prefetched.get("logo_uri") if client else None
            if logo is None:
                raise OAuthError("invalid_request", f"no logo is stored for client {client_id!r}", 404)
            media_type = logo.content_type or "application/octet-stream"
            if self.policy.logos_must_be_raster_images:
                # Sniffed again at serving time: a record made before a policy switch is judged too.
                media_type = sniff_raster_image(logo.body) or ""
                if not media_type:
                    raise OAuthError("invalid_request", "the stored logo is not a PNG, JPEG, GIF or WebP image; it is not served", 404)
            # Under every policy: no type guessing, no script, no subresource (the naive AS
            # still serves whatever it fetched, which is how the SSRF experiment reads it back).
            return Response(logo.body, media_type=media_type, headers=LOGO_HEADERS)

        @app.get("/authorize")
        async def authorize(request: Request) -> Response:
            return await authorization_request(self, list(request.query_params.multi_items()))

        @app.post("/authorize/decision")
        async def decision(request: Request) -> Response:
            return await consent_decision(self, await form_items(request))

        @app.post("/token")
        async def token(request: Request) -> Response:
            body = await token_request(self, await form_items(request), request.headers.get("authorization"))
            return JSONResponse(body, headers=NO_STORE)

        return app

