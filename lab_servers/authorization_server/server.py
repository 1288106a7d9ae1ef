"""The authorization server's HTTP surface: a FastAPI app over `AuthorizationServerState`.

Routes map one-to-one onto specs: RFC 8414 metadata (and OpenID discovery), the JWKS, RFC 7591
registration, the OAuth 2.1 authorization and token endpoints, RFC 7009 revocation and RFC 7662
introspection. Every failure becomes an OAuth
error response with a description naming the rule; an unexpected exception becomes a
`server_error` JSON 500, which the tests treat as a bug.

A FastAPI app with plain routes: every endpoint reads its raw `Request` itself, because the
spec's parsing rules (repeated parameters, form encoding, JSON limits) are the lesson. So no
FastAPI validation runs, and its OpenAPI pages are switched off (an AS has no business
publishing a schema of itself).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cached_property
from urllib.parse import unquote

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match

from ..body_limit import BodyLimit
from ..bounded_json import JsonRejected, parse_json
from ..literal_routes import literal_route
from ..rfc9110 import NoContentCoding, field_values, media_type
from ..wellknown import AUTHORIZATION_SERVER, OPENID_CONFIGURATION, path_of
from .authorize import authorization_request, consent_decision
from .dcr_modes import check_auth_method_offered, check_registration_allowed
from .errors import NO_STORE, OAuthError, oauth_exception_handlers, oauth_refusal
from .logos import LOGO_HEADERS, sniff_raster_image
from .params import form_items, sent_content_type, source_address
from .presented_credentials import authorization_field
from .rfc7009 import revocation_request
from .rfc7591 import REGISTRATION_JSON
from .rfc7662 import introspection_request
from .rfc8414 import openid_configuration
from .state import AuthorizationServerState
from .token import token_request

Endpoint = Callable[[Request], Awaitable[Response]]
MAX_REQUEST_BODY_BYTES = 64 * 1024  # any request body, capped while it streams (413); /register's own limit is lower


class AuthorizationServer(AuthorizationServerState):
    """The state plus its HTTP surface, `app`, built on first use."""

    @cached_property
    def app(self) -> BodyLimit:
        # Every request body is capped while it streams (413), and one in a content coding
        # refused (415), before any route reads it.
        app = NoContentCoding(self._routes, refusal=oauth_refusal)
        return BodyLimit(app, MAX_REQUEST_BODY_BYTES, refusal=oauth_refusal)

    @cached_property
    def _routes(self) -> FastAPI:
        return self._build_app()

    def serves(self, path: str) -> bool:
        """Whether a request for `path` (decoded, as an ASGI scope has it) reaches one of this AS's
        endpoints or metadata documents, by any method: what a host it shares may not take."""
        scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
        return any(route.matches(scope)[0] is not Match.NONE for route in self._routes.router.routes)

    # The HTTP surface ---------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(
            title="MCP auth lab authorization server",
            openapi_url=None,
            docs_url=None,
            redoc_url=None,
            exception_handlers=oauth_exception_handlers(),
            # An endpoint is its URL, one exact string (RFC 8414 §3.3's issuer, §2's endpoint
            # URLs): `/token/` is no endpoint here, answered 404 as every other unknown path is,
            # not redirected to `/token` by the router, which would hide a client's wrong URL; and
            # the router's redirect is a 307, which repeats a POST's form (the consent decision's
            # too) at the new URL: RFC 9700 §4.12 forbids an AS that redirect.
            redirect_slashes=False,
        )

        # The issuer's path, as a request's path has it (percent-decoded): "" for https://h, and
        # "/tenant1" for https://h/tenant1, one AS of several at one host. Every endpoint is the
        # issuer and a path (rfc8414.py: f"{issuer}/token"), so it is served under the issuer's path;
        # with the root paths, each endpoint an AS with a path advertised was a 404.
        base = unquote(path_of(self.issuer))

        def route(path: str, method: str) -> Callable[[Endpoint], Endpoint]:
            # Plain routes on the FastAPI app: each endpoint parses its raw Request itself, so
            # FastAPI's per-request dependency solving would only add time to every exchange.
            # A GET route answers HEAD too (RFC 9110 §9.3.2); 405 answers sort `Allow` (errors.py).
            def add(endpoint: Endpoint) -> Endpoint:
                app.router.routes.append(literal_route(base, path, endpoint, methods=[method]))
                return endpoint

            return add

        async def metadata(_: Request) -> Response:
            return JSONResponse(self.metadata())

        async def openid_metadata(_: Request) -> Response:
            return JSONResponse(openid_configuration(self.metadata()))

        # RFC 8414 §3.1: the well-known string is inserted between the host and the issuer's path;
        # §3.3: the metadata's `issuer` is the URL it was retrieved from, less that string. So the
        # root URL is this AS's only when its issuer has no path (an AS with one answered there,
        # naming an issuer that was not that URL's). OpenID Connect Discovery 1.0 §4 appends its
        # string to the path; MCP §4.3 has a client try it inserted, then appended.
        # Each path is matched as the literal text it is (`literal_route`: a brace in the issuer's
        # path is no route parameter).
        app.router.routes.append(literal_route(AUTHORIZATION_SERVER + base, "", metadata, methods=["GET"]))
        for path in dict.fromkeys((OPENID_CONFIGURATION + base, base + OPENID_CONFIGURATION)):  # one for a root issuer
            app.router.routes.append(literal_route(path, "", openid_metadata, methods=["GET"]))

        @route("/jwks.json", "GET")
        async def jwks(_: Request) -> Response:
            return JSONResponse(self.keys.jwks())

        @route("/register", "POST")
        async def register(request: Request) -> Response:
            check_registration_allowed(self.capabilities, request.headers.getlist("authorization"))
            sent_as = sent_content_type(request)
            if media_type(sent_as) != "application/json":
                # RFC 7591 §3: the endpoint takes "request parameters encoded in the entity body
                # using the application/json format" (§3.1: the client sends that content type).
                raise OAuthError(
                    "invalid_client_metadata",
                    "a registration request is sent as application/json (RFC 7591 §3.1); this one "
                    + (f"was sent as {sent_as!r}" if sent_as is not None else "had no Content-Type"),
                )
            try:
                body = parse_json(await request.body(), REGISTRATION_JSON, what="the registration body")
            except JsonRejected as rejected:
                raise OAuthError(
                    "invalid_client_metadata",
                    f"{rejected.rule}; a registration request is one JSON object within these limits (RFC 7591 §3.1)",
                ) from None
            check_auth_method_offered(self.capabilities, body)
            return JSONResponse(
                await self.registrar.register(body, self.metadata(), source=source_address(request)),
                status_code=201,
                headers=NO_STORE,
            )

        @route("/clients/{client_id}/logo", "GET")
        async def logo(request: Request) -> Response:
            client_id = request.path_params["client_id"]
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
                    raise OAuthError(
                        "invalid_request",
                        "the stored logo is not a PNG, JPEG, GIF or WebP image; it is not served",
                        404,
                    )
            # Under every policy: no type guessing, no script, no subresource (the naive AS
            # still serves whatever it fetched, which is how the SSRF experiment reads it back).
            return Response(logo.body, media_type=media_type, headers=LOGO_HEADERS)

        @route("/authorize", "GET")
        async def authorize(request: Request) -> Response:
            accept = field_values(request.scope["headers"], b"accept")
            return await authorization_request(self, request.scope["query_string"], accept, source_address(request))

        @route("/authorize/decision", "POST")
        async def decision(request: Request) -> Response:
            accept = field_values(request.scope["headers"], b"accept")
            return await consent_decision(self, await form_items(request), accept, source_address(request))

        @route("/token", "POST")
        async def token(request: Request) -> Response:
            body = await token_request(self, await form_items(request), authorization_field(request))
            return JSONResponse(body, headers=NO_STORE)

        @route("/revoke", "POST")
        async def revoke(request: Request) -> Response:
            await revocation_request(self, await form_items(request), authorization_field(request))
            # RFC 7009 §2.2: 200 for the client's own token and for an unknown or invalid one; another client's was
            # refused in revocation_request (§2.1: 400 invalid_request).
            return Response(status_code=200, headers=NO_STORE)

        @route("/introspect", "POST")
        async def introspect(request: Request) -> Response:
            body = await introspection_request(self, await form_items(request), authorization_field(request))
            return JSONResponse(body, headers=NO_STORE)

        return app
