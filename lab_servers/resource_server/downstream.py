"""How the MCP server calls a downstream API for the user: by token exchange (RFC 8693), or by
the forbidden shortcut, token passthrough, kept here as an experiment.

MCP security best practices ("Token Passthrough") and 2026-07-28 security considerations §9: the
server MUST NOT pass through the token it received; the downstream call needs "a separate token".
In `exchange` mode the MCP server authenticates to the AS as a confidential client with a key
(`private_key_jwt`, RFC 7523 §2.2: no shared secret to leak) and asks for a token whose audience
is the API, narrowed in scope, with itself named as the actor (`act`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OKPKey

from ..arguments import one_of
from ..bounded_json import JsonRejected, parse_json
from ..determinism import LabClock, SeededIds
from ..error_text import told

Mode = Literal["exchange", "passthrough"]
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class DownstreamError(Exception):
    """The downstream call failed; the message says at which hop and why."""


@dataclass
class DownstreamCaller:
    client_id: str  # the MCP server's own client_id at the AS
    token_endpoint: str
    issuer: str  # the AS's issuer identifier: its client assertions' sole audience
    api_url: str  # the downstream API's resource identifier (RFC 8707)
    http: httpx.AsyncClient
    clock: LabClock
    ids: SeededIds
    scope: str = "contacts:read"
    mode: Mode = "exchange"
    last_exchange: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        # A notebook switches `downstream.mode` by hand: a misspelt mode must not quietly exchange.
        if name == "mode":
            value = one_of("downstream mode", value, get_args(Mode))
        super().__setattr__(name, value)

    def __post_init__(self) -> None:
        self._key = OKPKey.import_key(
            Ed25519PrivateKey.from_private_bytes(self.ids.bytes(f"client-key:{self.client_id}", 32))
        )
        self.kid = self._key.thumbprint()

    def jwks(self) -> dict[str, Any]:
        """The public half, as the AS's administrator registers it for this client."""
        return {"keys": [{**self._key.as_dict(private=False), "kid": self.kid, "alg": "Ed25519", "use": "sig"}]}

    def client_assertion(self) -> str:
        now = self.clock.now()
        claims = {
            # RFC 7523 §3, as draft-ietf-oauth-rfc7523bis §4 updates it: aud is the AS's issuer
            # identifier alone, never its token endpoint (audience injection).
            "iss": self.client_id, "sub": self.client_id, "aud": self.issuer,
            "iat": now, "exp": now + 60, "jti": self.ids.token("client-assertion-jti", 12),
        }  # fmt: skip
        return jwt.encode({"alg": "Ed25519", "kid": self.kid, "typ": "JWT"}, claims, self._key, algorithms=["Ed25519"])

    async def exchange(self, subject_token: str) -> str:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "resource": self.api_url,
            "scope": self.scope,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(),
        }
        response = await _sent(self.http.post(self.token_endpoint, data=form), "the AS's token endpoint")
        refused = f"token exchange refused: {response.status_code}"
        try:
            body = _json_object(response, "the AS's token-exchange answer")
        except DownstreamError as unreadable:
            if response.status_code == 200:
                raise
            # A refusal from a gateway in front of the AS (an HTML 502): its status still said.
            raise DownstreamError(f"{refused}: {unreadable}") from None
        self.last_exchange = body
        if response.status_code != 200:
            raise DownstreamError(f"{refused} {told(body.get('error'))}: {told(body.get('error_description'))}")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            # A KeyError inside the tool before ("Error executing tool list_contacts"), and a number
            # was sent on as the token its digits spell.
            raise DownstreamError(
                "the AS's token-exchange answer has no access_token string (RFC 8693 §2.2.1: access_token is REQUIRED)"
            )
        return token

    async def get(self, path: str, user_token: str) -> dict[str, Any]:
        token = user_token if self.mode == "passthrough" else await self.exchange(user_token)
        response = await _sent(
            self.http.get(self.api_url.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"}), "the API"
        )
        if response.status_code != 200:
            # Judged before the body is parsed: a refusal may have none (RFC 6750 §3.1, no credentials).
            raise DownstreamError(
                f"the API answered {response.status_code}: "
                f"{told(response.headers.get('www-authenticate') or response.text)}"
            )
        return _json_object(response, "the API's answer")


async def _sent(request: Awaitable[httpx.Response], whom: str) -> httpx.Response:
    """The answer to `request`, or a DownstreamError naming who could not be reached: a connection
    refused or timed out inside the tool was the SDK's bare "Error executing tool list_contacts"
    (and a traceback in the server's log), the cause nowhere a user could read it."""
    try:
        return await request
    except httpx.HTTPError as unreachable:
        raise DownstreamError(f"{whom} could not be reached ({type(unreachable).__name__}: {unreachable})") from None


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """An answer read as every JSON body the lab takes, through the bounded parser (RFC 8259 §9):
    a deeply nested one was a RecursionError inside the tool, not an error naming the limit."""
    try:
        body = parse_json(response.content, what=what)
    except JsonRejected as rejected:
        raise DownstreamError(rejected.rule) from None
    if not isinstance(body, dict):
        raise DownstreamError(f"{what} is not a JSON object")
    return body
