"""An in-process enterprise identity provider (`idp.example.com`) for enterprise-managed
authorization: it issues ID tokens to signed-in users and, at its token endpoint, exchanges
them (RFC 8693) for identity assertion grants (ID-JAG, IETF draft, `typ: oauth-id-jag+jwt`).

The user's sign-in itself is not modelled (`sign_in` just issues the ID token an OIDC login
would end with). What is modelled is what the enterprise controls: which client may obtain a
grant for which MCP server (`allow`), and the client's id at that server's AS (`client_id`
claim), checked at the token endpoint with client authentication (ext-auth §7.7).

Its token endpoint reads requests as the lab's AS does, with the AS's own pieces: the body capped
while it streams (413), a form body only, each parameter once (RFC 6749 §3.1), and every refusal,
404 and 405 included, an OAuth error body (RFC 6749 §5.2).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OKPKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..authorization_server.errors import NO_STORE, OAuthError, invalid_client, oauth_exception_handlers, oauth_refusal
from ..authorization_server.params import form_items, single_valued
from ..authorization_server.presented_credentials import (
    authorization_field,
    basic_attempt,
    basic_credentials,
    refuse_more_than_one_method,
)
from ..authorization_server.rfc6749 import scope_tokens
from ..authorization_server.rfc8693 import refuse_actor_token
from ..authorization_server.server import MAX_REQUEST_BODY_BYTES
from ..body_limit import BodyLimit
from ..determinism import LabClock, SeededIds
from ..rfc7519 import (
    JwtRejected,
    check_not_before,
    numeric_date,
    required_string_claim,
    typ_is,
    unverified_parts,
    verify_signature,
)
from ..rfc9110 import NoContentCoding

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"
ID_JAG_TYP = "oauth-id-jag+jwt"
ID_JAG_LIFETIME = 300  # ext-auth's example: five minutes


@dataclass
class EnterpriseClient:
    secret: str
    client_ids: dict[str, str]  # MCP AS issuer → this client's client_id there
    allowed_resources: set[str] = field(default_factory=set)  # the enterprise's policy


class IdentityProvider:
    def __init__(self, issuer: str, *, clock: LabClock, ids: SeededIds) -> None:
        self.issuer = issuer
        self.clock = clock
        self.ids = ids
        self.key = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(ids.bytes("idp-signing-key", 32)))
        self.kid = self.key.thumbprint()
        self.clients: dict[str, EnterpriseClient] = {}
        routes = [Route("/token", self.token, methods=["POST"]), Route("/jwks.json", self.jwks_endpoint)]
        no_endpoint = "this identity provider has no endpoint at {path}; it serves /token and /jwks.json"
        app = Starlette(routes=routes, exception_handlers=oauth_exception_handlers(no_endpoint=no_endpoint))
        app.router.redirect_slashes = False  # `/token/` is no endpoint: 404, as at the AS (server.py)
        self.app = BodyLimit(NoContentCoding(app, refusal=oauth_refusal), MAX_REQUEST_BODY_BYTES, refusal=oauth_refusal)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**self.key.as_dict(private=False), "kid": self.kid, "alg": "Ed25519", "use": "sig"}]}

    async def jwks_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.jwks())

    def sign(self, claims: dict[str, Any], typ: str = "JWT", key: OKPKey | None = None) -> str:
        return jwt.encode(
            {"alg": "Ed25519", "typ": typ, "kid": self.kid}, claims, key or self.key, algorithms=["Ed25519"]
        )

    def sign_in(self, user: str, client_id: str) -> str:
        """The ID token the user's OIDC sign-in at this IdP ends with, for client `client_id`."""
        now = self.clock.now()
        return self.sign({"iss": self.issuer, "sub": user, "aud": client_id, "iat": now, "exp": now + 3600})

    def mint_id_jag(self, *, sub: str, audience: str, client_id: str, resource: str, scope: str | None = None,
                    key: OKPKey | None = None, **overrides: Any) -> str:  # fmt: skip
        now = self.clock.now()
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": sub, "aud": audience, "client_id": client_id, "resource": resource,
            "jti": self.ids.token("id-jag-jti", 12), "iat": now, "exp": now + ID_JAG_LIFETIME,
        }  # fmt: skip
        if scope:
            claims["scope"] = scope
        return self.sign({**claims, **overrides}, typ=ID_JAG_TYP, key=key)

    async def token(self, request: Request) -> Response:
        # RFC 8693 §2.1 is a token request like any other: a form, each parameter at most once.
        form = single_valued(await form_items(request))
        body = self._exchange(form, authorization_field(request))
        # RFC 8693 §2.2.1: the response is RFC 6749 §5.1's, which carries Cache-Control: no-store
        # "as well as the Pragma response header field with a value of no-cache", as the AS's does.
        return JSONResponse(body, headers=NO_STORE)

    def _exchange(self, form: dict[str, str], authorization: str | None) -> dict[str, Any]:
        client_id, client = self._authenticate(form, authorization)
        if not form.get("grant_type"):
            # RFC 6749 §5.2: a request missing a required parameter is invalid_request.
            raise OAuthError("invalid_request", "grant_type is required (RFC 6749 §4.1.3, RFC 8693 §2.1)")
        if form.get("grant_type") != TOKEN_EXCHANGE:
            raise OAuthError("unsupported_grant_type", "this IdP's token endpoint takes token exchange only (RFC 8693)")
        refuse_actor_token(form, "this IdP")
        if form.get("requested_token_type") != ID_JAG or form.get("subject_token_type") != ID_TOKEN:
            raise OAuthError("invalid_request", "send an ID token and ask for an ID-JAG (ext-auth section 4)")
        audience = form.get("audience")
        if not audience:
            raise OAuthError(
                "invalid_request", "audience (the MCP server's AS issuer) is required (ext-auth section 4)"
            )
        # RFC 8693 §2.2.2: a subject_token "invalid for any reason" is invalid_request (not
        # invalid_grant, which is for the AS's own grants: codes, refresh tokens, assertions).
        subject_token = form.get("subject_token", "")
        try:
            header, _ = unverified_parts(subject_token, what="the subject_token")
            claims = verify_signature(subject_token, self.key, ["Ed25519"], what="the subject_token")
        except JwtRejected as rejected:
            raise OAuthError(
                "invalid_request", f"the subject_token is not an ID token from this IdP: {rejected.rule}"
            ) from None
        self._check_id_token(header, claims)
        try:
            check_not_before(claims, self.clock.now(), what="the ID token")  # RFC 7519 §4.1.5
            # OIDC Core §2: sub is REQUIRED, a string; it becomes the ID-JAG's sub, never str() of
            # an object (RFC 7519 §4.1.2: StringOrURI).
            subject = required_string_claim(claims, "sub", what="the ID token", required_by="OIDC Core §2")
        except JwtRejected as rejected:
            raise OAuthError("invalid_request", rejected.rule) from None
        self._check_id_token_for(client_id, claims)
        at_as, resource = self._target(client_id, client, audience, form.get("resource"))
        # RFC 8693 §2.1: scope as in RFC 6749 §3.3 (malformed: invalid_scope); it travels in the ID-JAG.
        scope = " ".join(scope_tokens(form.get("scope"))) or None
        assertion = self.mint_id_jag(sub=subject, audience=audience, client_id=at_as, resource=resource, scope=scope)
        response = {
            "access_token": assertion,
            "issued_token_type": ID_JAG,
            "token_type": "N_A",
            "expires_in": ID_JAG_LIFETIME,
        }
        return {**response, "scope": scope} if scope else response

    def _check_id_token_for(self, client_id: str, claims: dict[str, Any]) -> None:
        """The ID token is the authenticated client's, and valid now (ID-JAG draft §4.3: the IdP
        checks the subject token's audience is the client; RFC 8693 §2.2.2: else invalid_request)."""
        if claims.get("aud") != client_id:
            raise OAuthError(
                "invalid_request",
                f"the ID token was issued to another client ({claims.get('aud')!r}), not to {client_id!r}, which "
                "authenticated: an ID token is exchanged only by its audience (ID-JAG draft section 4.3, "
                "RFC 8693 §2.2.2)",
            )
        try:
            exp = numeric_date(claims, "exp", what="the ID token")
        except JwtRejected as rejected:
            raise OAuthError("invalid_request", rejected.rule) from None
        if exp is None:
            raise OAuthError("invalid_request", "the ID token has no exp (OIDC Core §2: exp is REQUIRED)")
        if exp <= self.clock.now():
            # RFC 7519 §4.1.4: at or after exp it is not accepted; the user signs in at the IdP again.
            raise OAuthError(
                "invalid_request",
                f"the ID token expired at {exp} (now {self.clock.now()}): the user signs in at the IdP again "
                "(RFC 7519 §4.1.4, RFC 8693 §2.2.2)",
            )

    @staticmethod
    def _target(client_id: str, client: EnterpriseClient, audience: str, resource: str | None) -> tuple[str, str]:
        """The client's id at the audience's AS and the resource, when the enterprise's policy lets
        it reach that resource; each refusal is invalid_target (RFC 8693 §2.2.2: unwilling to issue a token for
        the target the resource or audience parameters name), naming which of the two it was."""
        at_as = client.client_ids.get(audience)
        if at_as is None:
            # The ID-JAG's client_id is the client's id at that AS (ID-JAG draft §3.1), which the
            # enterprise knows only for an AS it registered the client at; issuers compare exactly.
            known = ", ".join(repr(issuer) for issuer in sorted(client.client_ids)) or "none"
            raise OAuthError(
                "invalid_target",
                f"audience {audience!r} is no authorization server the enterprise registered client {client_id!r} "
                f"at (it knows {known}, compared exactly), so it has no client_id there for the ID-JAG "
                "(ID-JAG draft section 3.1, RFC 8693 §2.2.2)",
            )
        if not resource:
            # ext-auth §4 makes resource OPTIONAL, but this enterprise's policy allows MCP servers,
            # not authorization servers: an ID-JAG naming the AS alone would reach whatever it
            # protects, and the AS here takes only an ID-JAG that names its resource.
            raise OAuthError(
                "invalid_target",
                f"no resource: the enterprise allows client {client_id!r} particular MCP servers, not all that "
                f"{audience!r} protects; name the one with resource (optional in ext-auth section 4, but this IdP "
                "issues an ID-JAG only for a resource its policy allows; RFC 8693 §2.2.2)",
            )
        if resource not in client.allowed_resources:
            raise OAuthError(
                "invalid_target",
                f"the enterprise does not allow client {client_id!r} to reach {resource!r} (its policy; RFC 8693 §2.2.2)",
            )
        return at_as, resource

    def _check_id_token(self, header: dict[str, Any], claims: dict[str, Any]) -> None:
        """What makes a JWT this IdP's key verified an ID token, and not another JWT it signed."""
        typ = header.get("typ")
        if typ is not None and not typ_is(header, "jwt"):
            # RFC 8725 §3.11-§3.12: this key signs ID tokens and ID-JAGs alike, and explicit typing
            # keeps the kinds apart only if every reader checks it. An ID token is typed "JWT" or
            # not at all (`sign_in`); an ID-JAG (oauth-id-jag+jwt) or an access token (at+jwt) is
            # another kind of JWT, whatever its aud says.
            raise OAuthError(
                "invalid_request",
                f"the subject_token is typed {typ!r}: a JWT of another kind, not an ID token (RFC 8725 §3.11, §3.12)",
            )
        if claims.get("iss") != self.issuer:
            # OIDC Core §3.1.3.7 step 2: the iss MUST exactly match the OP's issuer; RFC 8725 §3.8:
            # the key that verified it must be the issuer's, and this is this IdP's key.
            raise OAuthError(
                "invalid_request",
                f"the ID token's iss is {claims.get('iss')!r}, not this IdP's issuer {self.issuer} "
                "(OIDC Core §3.1.3.7, RFC 8725 §3.8)",
            )

    def _authenticate(self, form: dict[str, str], authorization: str | None) -> tuple[str, EnterpriseClient]:
        basic = basic_attempt(authorization)
        refuse_more_than_one_method(form, basic is not None)
        if basic is not None:
            try:
                client_id, secret = basic_credentials(basic)
            except ValueError:
                raise invalid_client("malformed Basic credentials (RFC 7617 section 2)") from None
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            raise invalid_client("client authentication at the IdP failed (ext-auth section 7.7)")
        return client_id, client
