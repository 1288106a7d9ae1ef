"""The authorization server: state, and the FastAPI app that serves it.

Routes map one-to-one onto specs: RFC 8414 metadata (and OpenID discovery), the JWKS, RFC 7591
registration, the OAuth 2.1 authorization and token endpoints. Every failure becomes an OAuth
error response with a description naming the rule; an unexpected exception becomes a
`server_error` JSON 500, which the tests treat as a bug.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..body_limit import BodyLimit
from ..bounded_json import JsonRejected, parse_json
from ..determinism import LabClock, SeededIds
from .authorize import authorization_request, consent_decision
from .cimd import CimdResolver
from .clients import Client, ClientRegistry
from .defensive_fetch import Resolver
from .errors import NO_STORE, OAuthError, http_exception_as_oauth_error
from .grants import AuthorizationCode, ExpiringStore, PendingAuthorization, RefreshToken
from .keys import SigningKey
from .logos import LOGO_HEADERS, sniff_raster_image
from .policy import HARDENED, ASPolicy
from .rfc7591 import REGISTRATION_JSON, Registrar
from .rfc8414 import authorization_server_metadata
from .token import token_request

MAX_PENDING_CONSENTS = 10_000  # consent transactions awaiting a decision (each lives 10 minutes)
MAX_LIVE_CODES = 10_000  # codes, used or not, kept until they expire (60 s) for reuse detection
MAX_REQUEST_BODY_BYTES = 64 * 1024  # any request body, capped while it streams (413); /register's own limit is lower


class AuthorizationServer:
    def __init__(
        self,
        issuer: str,
        *,
        resources: dict[str, list[str]],
        http: httpx.AsyncClient,
        resolve: Resolver,
        clock: LabClock,
        ids: SeededIds,
        policy: ASPolicy = HARDENED,
        user: str = "alice",
    ) -> None:
        self.issuer = issuer
        self.token_endpoint = f"{issuer}/token"
        self.resource_scopes = resources  # canonical resource URI → the scopes it understands
        self.clock = clock
        self.ids = ids
        self.user = user  # the lab's signed-in user (the lab has no login step)
        self.keys = SigningKey(ids)
        self.registry = ClientRegistry()
        self.cimd = CimdResolver(http, resolve, clock, policy, self.metadata)
        self.registrar = Registrar(self.registry, ids, clock, http=http, resolve=resolve, policy=lambda: self.policy)
        self.pending: ExpiringStore[PendingAuthorization] = ExpiringStore(MAX_PENDING_CONSENTS)
        self.codes: ExpiringStore[AuthorizationCode] = ExpiringStore(MAX_LIVE_CODES)
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.seen_assertions: dict[str, int] = {}  # jti → exp of client assertions (RFC 7523 §3 replay)
        self.issued: list[dict[str, Any]] = []
        self.app = BodyLimit(self._build_app(), MAX_REQUEST_BODY_BYTES)

    # State the notebooks read, and the policy switch ---------------------------------------

    @property
    def policy(self) -> ASPolicy:
        return self.cimd.policy

    @policy.setter
    def policy(self, policy: ASPolicy) -> None:
        self.cimd.policy = policy
        self.cimd.cache.clear()  # documents accepted under another policy must be re-judged

    @property
    def resources(self) -> list[str]:
        return list(self.resource_scopes)

    @property
    def scopes(self) -> list[str]:
        return sorted({s for scopes in self.resource_scopes.values() for s in scopes})

    def metadata(self) -> dict[str, Any]:
        return authorization_server_metadata(self.issuer, self.scopes, self.resources)

    def check_scope(self, scope: str | None) -> str:
        if scope is None or not scope.strip():
            return " ".join(self.scopes[:1])  # RFC 6749 §3.3: the AS may apply a default
        unknown = [s for s in scope.split() if s not in self.scopes]
        if unknown:
            raise OAuthError("invalid_scope", f"unknown scope(s) {' '.join(unknown)}; supported: {' '.join(self.scopes)}")
        return " ".join(scope.split())

    def preregister(self, client_id: str, metadata: dict[str, Any], client_secret: str | None = None) -> Client:
        """Add a client the way an administrator would, out of band (MCP §5.2)."""
        return self.registry.add(Client(client_id, "preregistered", dict(metadata), client_secret, self.clock.now()))

    def revoke_refresh_tokens(self, tokens: list[str]) -> None:
        for value in tokens:
            if value in self.refresh_tokens:
                self.revoke_family(self.refresh_tokens[value].family)

    def revoke_family(self, family: str) -> None:
        for token in self.refresh_tokens.values():
            if token.family == family:
                token.revoked = True

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
            return await consent_decision(self, await _form_items(request))

        @app.post("/token")
        async def token(request: Request) -> Response:
            body = await token_request(self, await _form_items(request), request.headers.get("authorization"))
            return JSONResponse(body, headers=NO_STORE)

        return app


async def _form_items(request: Request) -> list[tuple[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded (OAuth 2.1 §3.2.2)")
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - any parser failure is the client's malformed body
        raise OAuthError("invalid_request", "the form body could not be parsed") from None
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
