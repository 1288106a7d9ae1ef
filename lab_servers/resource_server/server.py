"""The MCP resource server: RFC 9728 metadata, the bearer-token gate, and the MCP endpoint.

The gate is the lab's own code, in front of the SDK's Streamable HTTP app, so that every rule
is visible: first, as JSON-RPC errors, 421 or 403 for a foreign Host or Origin, token or none
(`transport.py`); 401 with a challenge and no `error` when no token was sent (RFC 6750 §3.1), 401
`invalid_token` for a bad, expired or wrong-audience token (MCP §9.2), 403 `insufficient_scope`
naming the scopes needed (MCP §10.1.1), 400 for a malformed request; then, as JSON-RPC errors,
405, 415 or 406 for a method or media type the endpoint does not take (`transport.py`), 413 for a
body over the cap (`refusal`), 400 for a body that is no JSON-RPC message (`jsonrpc.py`),
JSON-RPC batches served at MCP 2025-03-26 and refused after it (`batches.py`), and 404 for a
2026-07-28 `subscriptions/listen`, a method this server lacks (`revisions.unserved_listen`).

Order matters under attack: the `Authorization` header is judged before a byte of the body is
read, so a stranger with no valid token cannot make this server hold their upload, and the body
of an authenticated request is capped while it streams (413, `lab_servers.body_limit`) and parsed
by the lab's bounded parser (a JSON-RPC parse error naming the rule, never a 500).
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

import httpx
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import CallToolResult, TextContent
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..body_limit import BodyLimit
from ..bounded_json import DEFAULT_LIMITS, JsonRejected, parse_json
from ..determinism import LabClock
from ..error_text import request_refusal
from ..revisions import Revision
from ..revisions import revision as revision_named
from ..rfc7519 import JwtRejected, unverified_parts
from ..wellknown import PROTECTED_RESOURCE, insert_well_known, normalized_origin, served_path
from .batches import batch_refusal, serve_batch
from .downstream import DownstreamCaller, DownstreamError
from .jsonrpc import PARSE_ERROR, answer_id, describe, error_response, invalid_message, request_id
from .per_loop_app import PerLoopApp
from .request_metadata import batch_header_mismatch, header_mismatch, protocol_version
from .revisions import era_gate, negotiate_initialize, response_refusal, unserved_listen
from .rfc6750 import MalformedBearerRequest, bearer_refusal, bearer_token
from .rfc7662 import IntrospectingValidator, Introspection
from .rfc9728 import protected_resource_metadata
from .tokens import TOKEN_JSON, InvalidToken, TokenClaims, TokenValidator
from .tools import BASE_SCOPES, NotesServer, caller, scopes_for
from .transport import OwnNames, media_refusal, method_refusal, read_body, replayed, sdk_headers, transport_refusal

MAX_MCP_BODY_BYTES = 256 * 1024  # one JSON-RPC message or batch; the lab's tools take short text
# MCP 2025-03-26 §2.3.3's default OAuth endpoints, which a client with no AS metadata guesses here.
OAUTH_DEFAULT_PATHS = frozenset({"/authorize", "/token", "/register"})
# JSON-RPC messages are parsed within these limits (RFC 8259 §9); a note's text may fill the body.
JSONRPC_JSON = DEFAULT_LIMITS.but(max_bytes=MAX_MCP_BODY_BYTES, max_string_chars=MAX_MCP_BODY_BYTES)


# Where the SDK's app is routed a request the gate has let through (`_serve`), whatever the
# resource's own path is.
SDK_PATH = "/mcp"


class ResourceServer:
    def __init__(
        self,
        resource: str,
        *,
        issuer: str,
        http: httpx.AsyncClient,
        clock: LabClock,
        revision: str | Revision | None = None,
        accept_legacy: bool = True,
    ) -> None:
        self.resource = resource  # the canonical URI (MCP §8.1), e.g. https://mcp.example.com/mcp
        self.issuer = issuer  # the AS its PRM names now (switch with use_authorization_server)
        self.revision = revision_named(revision)
        # A 2026-07-28 server that still answers initialize-era clients (the SDK's dual-era app).
        self.accept_legacy = accept_legacy
        self.metadata_url = insert_well_known(resource, PROTECTED_RESOURCE)
        # Served at exactly these two URLs' paths: 'https://h/mcp/' at '/mcp/' and its metadata at
        # '/.well-known/oauth-protected-resource/mcp/', the URL its challenges name. Compared with
        # the '/' cut off, the server answered its own URL 404 and the advertised metadata URL too.
        self.endpoint_path, self.metadata_path = served_path(resource), served_path(self.metadata_url)
        self.http, self.clock = http, clock
        # Issuer → the local JWT check for every AS whose tokens this server accepts (SEP-2352: each
        # AS is independent; after a move the old one may be honoured for a grace window, or not).
        self.local_validators = {issuer: self._local_validator(issuer, http)}
        # How this server checks tokens, one choice for every AS it accepts: locally by default, or,
        # once `use_introspection` gave it a way to introspect at an AS, by asking each AS about
        # its own tokens (RFC 7662). `validators` is what that choice gives for each issuer.
        self.introspection: Introspection | None = None
        self.validators: dict[str, TokenValidator | IntrospectingValidator] = dict(self.local_validators)
        self.validator = self.validators[issuer]  # the current AS's
        self.downstream: DownstreamCaller | None = None
        self.mcp = NotesServer()
        # DNS-rebinding protection: the names this server answers to, and the one origin whose pages
        # may call it (its own; served, `BrowserOrigins` vets every Origin before this server sees it).
        # As a client sends them: https://mcp.example.com:443 is asked for as Host mcp.example.com
        # (RFC 3986 §6.2.3), and https://mcp.example.com?x=1's host is not "mcp.example.com?x=1".
        own_origin = normalized_origin(resource)
        scheme, own_authority = own_origin.split("://", 1)  # a Host's default port is this scheme's
        self.own_names = OwnNames.of((own_authority, "127.0.0.1:*", "localhost:*"), (own_origin,), scheme)
        self.mcp_app = PerLoopApp(functools.partial(
            self.mcp.streamable_http_app,
            # The gate answers at `endpoint_path` alone and hands the SDK each request at this path:
            # Starlette reads braces in a route's path as parameters, so the resource's own path
            # (https://h/%7Bm%7D is /{m} decoded) answered every path, or failed Lab() outright.
            streamable_http_path=SDK_PATH,
            # Stateless JSON mode: no session id, so no session to mistake for authentication
            # (SBP "Session hijacking"), and byte-identical replays.
            stateless_http=True,
            json_response=True,
            # The gate checks Host and Origin itself (`transport.OwnNames`), before the
            # token, with these lists. The SDK's own check compares exact strings, so a Host the
            # gate rightly accepts in capitals (RFC 9110 §4.2.3) would get its plain-text 421.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        ))  # fmt: skip
        self._capped = BodyLimit(self._serve, MAX_MCP_BODY_BYTES, refusal=self.refusal)

    def refusal(self, path: str, status: int, description: str) -> Response:
        """A refusal from in front of the routes (a body over the cap; served, a foreign Origin or
        Host), in the shape of the rest at `path`: at the MCP endpoint a JSON-RPC error with a null
        id (JSON-RPC 2.0 §5, as `transport.py`), elsewhere (metadata, no such path) the JSON
        `request_refusal` this server's other paths answer with."""
        if path == self.endpoint_path:
            return transport_refusal(status, description)
        return request_refusal(status, description)

    def connect_downstream(self, downstream: DownstreamCaller) -> None:
        """Give this MCP server a downstream API and the tool that calls it on the user's behalf."""
        self.downstream = downstream
        # The tool lives in the SDK's app, which the lifespan task holds (`lifespan_app`); the
        # caller's HTTP client reaches the lab network, so the tool finds it through this server,
        # weakly, and the task does not keep a dropped lab's network alive.
        server = weakref.ref(self)

        @self.mcp.tool()
        async def list_contacts(ctx: Context) -> dict[str, Any]:
            """The user's contacts, from the downstream API (token exchange, or passthrough as an experiment)."""
            request = ctx.request_context.request
            user_token = request.scope["state"]["lab_bearer"]  # type: ignore[union-attr]
            this = server()
            assert this is not None and this.downstream is not None, "a request reached the server, so it is alive"
            try:
                return await this.downstream.get("/contacts", user_token)
            except DownstreamError as exc:
                return _tool_failure({"error": str(exc), "caller": caller(ctx).subject})

    def metadata(self) -> dict[str, Any]:
        return protected_resource_metadata(self.resource, [self.issuer], sorted(BASE_SCOPES))

    def use_authorization_server(
        self, issuer: str, *, keep_previous: bool = False, http: httpx.AsyncClient | None = None
    ) -> None:
        """Point PRM at `issuer` from now on. The previous AS's tokens stay valid only with
        `keep_previous` (a grace window); otherwise they get 401 and the client rediscovers. An
        introspecting server keeps introspecting, each AS's tokens at that AS: it went back to
        local checks, and a token revoked at the old AS was accepted again during the window."""
        local = dict(self.local_validators) if keep_previous else {}
        local[issuer] = self.local_validators.get(issuer) or self._local_validator(issuer, http or self.http)
        self._check_tokens(self.introspection, issuer, local)

    def use_introspection(self, introspection: Introspection) -> None:
        """Ask the AS about every token (RFC 7662) instead of checking it here, from now on and
        across `use_authorization_server`: `introspection(issuer)` is this server's introspecting
        validator at that AS, which authenticates there as an authorised caller (RFC 7662 §2.1)."""
        self._check_tokens(introspection, self.issuer, self.local_validators)

    def use_local_jwt_check(self) -> None:
        """Back to the default: each JWT checked here, with the keys of the AS that signed it."""
        self._check_tokens(None, self.issuer, self.local_validators)

    def _check_tokens(self, introspection: Introspection | None, issuer: str, local: dict[str, TokenValidator]) -> None:
        # Every validator first, then the switch: an AS where this server cannot introspect fails
        # `introspection` with the reason, and the server stays as it was.
        validators = {iss: introspection(iss) if introspection else check for iss, check in local.items()}
        self.introspection, self.local_validators, self.validators = introspection, local, validators
        self.issuer, self.validator = issuer, validators[issuer]

    def _local_validator(self, issuer: str, http: httpx.AsyncClient) -> TokenValidator:
        return TokenValidator(
            issuer=issuer, jwks_uri=f"{issuer}/jwks.json", audience=self.resource, http=http, clock=self.clock
        )

    @property
    def publishes_metadata(self) -> bool:
        return self.revision.protected_resource_metadata  # 2025-06-18 on (RFC 9728)

    @property
    def lifespan_app(self) -> ASGIApp:
        """What has this server's ASGI lifespan: the SDK's app, whose session manager runs the
        MCP requests' task group. The lab network runs it in a task of its own (`LifespanRunner`);
        this server, which reaches the network through its `http`, stays out of that task."""
        return self.mcp_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.mcp_app(scope, receive, send)  # lifespan: the SDK's session manager
        return await self._capped(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == self.metadata_path and self.publishes_metadata:
            if scope["method"] not in ("GET", "HEAD"):
                # RFC 9728 §3.1: the metadata is retrieved with GET; RFC 9110 §15.5.6 for the rest.
                not_allowed = request_refusal(
                    405,
                    f"{scope['method']} is not allowed on {path}; use GET, HEAD (RFC 9728 §3.1, RFC 9110 §15.5.6)",
                    {"Allow": "GET, HEAD"},
                )
                return await not_allowed(scope, receive, send)
            return await JSONResponse(self.metadata())(scope, receive, send)
        if path != self.endpoint_path:
            where = f"this MCP server has no endpoint at {path}; MCP is served at {self.endpoint_path}"
            if path in OAUTH_DEFAULT_PATHS and self.publishes_metadata:
                # The MCP SDK (mcp 2.3.0, and FastMCP on it) posts a registration with no
                # registration_endpoint advertised, and a refresh with no AS metadata kept, to
                # these paths at the MCP server's origin: 2025-03-26 §2.3.3's defaults, for an AS
                # there. Its user read only that the path is missing here; say where OAuth is.
                where += (
                    f". {path} is an OAuth endpoint of this server's authorization server, {self.issuer},"
                    " named in this server's protected resource metadata (RFC 9728 §2); that server's"
                    " own metadata lists its endpoints (RFC 8414 §2)"
                )
            not_found = request_refusal(404, where)
            return await not_found(scope, receive, send)
        # DNS rebinding before the token: "If the Origin header is present and invalid, servers MUST
        # respond with HTTP 403 Forbidden" (MCP Streamable HTTP, Security), a token or none; served,
        # `BrowserOrigins` answers so before this server is reached.
        refused = self.own_names.refusal(scope["headers"])
        if refused is not None:
            return await refused(scope, receive, send)
        claims = await self.authenticate(scope)  # the header first: no body is read for a stranger
        if isinstance(claims, Response):
            return await claims(scope, receive, send)
        refused = method_refusal(scope["method"], path) or media_refusal(scope["headers"])
        if refused is not None:
            return await refused(scope, receive, send)
        scope = {**scope, "path": SDK_PATH, "headers": sdk_headers(scope["headers"])}
        body = await read_body(receive)  # capped at MAX_MCP_BODY_BYTES by BodyLimit
        try:
            message = parse_json(body, JSONRPC_JSON, what="the JSON-RPC message")
        except JsonRejected as rejected:
            # JSON-RPC 2.0 §5.1: invalid JSON is -32700 Parse error, with a null id (none could be read).
            return await error_response(None, PARSE_ERROR, describe(PARSE_ERROR, rejected.rule))(scope, receive, send)
        # The envelope before anything reads it: a request with an id the SDK does not take would
        # otherwise pass for a notification and never be answered (a batch's messages, each in turn).
        refused = None if isinstance(message, list) else invalid_message(message)
        version, two_versions = protocol_version(scope["headers"], self.revision.modern_transport, answer_id(message))
        # Judged after the parse, so that the refusal carries the request's id (JSON-RPC 2.0 §5);
        # a header that disagrees with the body first, as the SDK's own ladder does: a client that
        # disagrees with itself is told so, not that the version it named is unsupported.
        if self.revision.modern_transport and isinstance(message, list):
            refused = refused or batch_header_mismatch(scope["headers"], message, self.mcp.tool_input_schema)
        elif self.revision.modern_transport:
            refused = refused or header_mismatch(
                scope["headers"], message, request_id(message), self.mcp.tool_input_schema
            )
        refused = refused or two_versions
        refused = refused or era_gate(self.revision, self.accept_legacy, version, answer_id(message))
        refused = refused or response_refusal(self.revision, version, message)
        refused = refused or (batch_refusal(version, message) if isinstance(message, list) else None)
        # A batch needs the scopes of all its tool calls: one 403 names them, and the client steps
        # up once, instead of some messages run and others refused inside the answer.
        refused = refused or self.check_scopes(claims, message)
        refused = refused or unserved_listen(version, message)
        if refused is not None:
            return await refused(scope, receive, send)
        scope.setdefault("state", {})["lab_token"] = claims
        # Kept only for the downstream tool, which exchanges it (never forwards it, unless the
        # passthrough experiment is switched on).
        scope["state"]["lab_bearer"] = _bearer_token(scope)
        if isinstance(message, list):
            return await (await serve_batch(self.mcp_app, scope, receive, message))(scope, receive, send)
        body = negotiate_initialize(self.revision, message, body)
        return await self.mcp_app(scope, replayed(body, receive), send)

    async def authenticate(self, scope: Scope) -> TokenClaims | Response:
        """The bearer-token gate, from the request line and headers alone."""
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        # A token in the query string is not read at all: OAuth 2.1 §5.1, "clients MUST NOT send the
        # access token in a URI query parameter, and resource servers MUST ignore access tokens in a
        # URI query parameter" (MCP §9.1 builds on it). The lab once answered such a request 400: it
        # judged it by a credential the server must not look at, and refused a valid Authorization
        # field beside it too.
        try:
            token = bearer_token([v for k, v in headers if k == "authorization"])
        except MalformedBearerRequest as malformed:
            return self.refuse(400, "invalid_request", str(malformed))
        # Every 401 names the scopes a new token needs (MCP authorization, "Protected Resource
        # Metadata Discovery Requirements": servers SHOULD include `scope`; RFC 6750 §3 allows it
        # beside any error): a client whose token expired or was revoked re-authorizes from this
        # challenge as from the first one, instead of falling back to every `scopes_supported`.
        base_scopes = " ".join(sorted(BASE_SCOPES))
        if token is None:
            # No credentials: a challenge without an error code (RFC 6750 §3.1).
            return self.refuse(401, scope=base_scopes)
        try:
            validator, header = self._validator_for(token)
            return await validator.validate(token, header=header)  # a header read once, to pick the validator
        except InvalidToken as exc:
            return self.refuse(401, "invalid_token", str(exc), scope=base_scopes)

    def check_scopes(self, claims: TokenClaims, message: Any) -> Response | None:
        """403 insufficient_scope when a tool called in `message` needs more than the token grants."""
        needed = BASE_SCOPES | scopes_for(message)
        if needed <= claims.scopes:
            return None
        # 2025-11-25 §10.1.1: name what is needed, keeping what was granted so nothing is
        # lost (server-side accumulation). 2026-07-28 §11.1.1 (SEP-2350): this operation's
        # scopes only; the client unions them with what it holds.
        wanted = " ".join(sorted(needed if self.revision.scope_union else needed | claims.scopes))
        missing = " ".join(sorted(needed - claims.scopes))
        return self.refuse(403, "insufficient_scope", f"this request needs {missing}", scope=wanted)

    def _validator_for(self, token: str) -> tuple[TokenValidator | IntrospectingValidator, dict[str, Any] | None]:
        # Pick the AS by the token's (unverified) iss; the chosen validator verifies it in full.
        # The current AS's is always `self.validator` (which may be an introspecting one). With it,
        # the header read here (None when not read), so that the validator does not read it again.
        if isinstance(self.validator, TokenValidator) and self.validator.has_verified(token):
            return self.validator, None  # its iss was verified to be the current AS's: no need to decode it again
        try:
            # Unverified, so a stranger's: header and claims must be JSON objects within the bounded
            # parser's limits (lab_servers.rfc7519); the validator says why when they are not.
            header, claims = unverified_parts(token, what="the token", limits=TOKEN_JSON)
        except JwtRejected:
            return self.validator, None
        iss = claims.get("iss")
        if not isinstance(iss, str) or iss == self.issuer:
            return self.validator, header
        if iss in self.validators:
            return self.validators[iss], header
        raise InvalidToken(f"issuer {iss!r} is not an authorization server of this resource; it now uses {self.issuer}")

    def refuse(
        self, status: int, error: str | None = None, description: str | None = None, scope: str | None = None
    ) -> Response:
        metadata_url = self.metadata_url if self.publishes_metadata else None
        return bearer_refusal(status, metadata_url, error, description, scope)


def _tool_failure(failure: dict[str, Any]) -> Any:
    """A tool execution error: MCP server/tools, "Error Handling": an API failure is "reported in
    tool results with isError: true", so that a model knows the call failed. list_contacts gave
    its failures as a successful result, which a model reads as the contacts. The message is the
    text content, and the whole failure (who called, too) the structured content. The SDK hands a
    CallToolResult a tool returns on as it is (`func_metadata.convert_result`), whatever the
    tool's annotation says, so the published outputSchema stays that of the contacts."""
    return CallToolResult(
        content=[TextContent(type="text", text=failure["error"])], structured_content=failure, is_error=True
    )


def _bearer_token(scope: Scope) -> str:
    # The gate has read it already (one bearer token, a b64token): the same reading, not a second one.
    return bearer_token([v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"authorization"]) or ""
