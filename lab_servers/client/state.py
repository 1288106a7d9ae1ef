"""What the lab client knows: its credentials, and everything the handshake has learned so far."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ..bounded_json import DEFAULT_LIMITS, parse_json
from .browser import ConsentPage
from .www_authenticate import Challenge


@dataclass
class Credentials:
    client_id: str
    client_secret: str | None = None
    token_endpoint_auth_method: str = "none"
    # private_key_jwt (RFC 7523 §2.2): the client's private key (a JWK or PEM) and its algorithm.
    # repr=False: a private key never lands in a notebook output or a log line.
    private_key: Any = field(default=None, repr=False)
    signing_algorithm: str = field(default="Ed25519", repr=False)
    # RFC 7591 §3.2.1: when the secret stops working, in seconds since the epoch; 0 means never,
    # None that no expiry was given (no secret, or credentials the client did not register).
    # Not in the repr, which the notebooks show: a public client has no secret to expire.
    client_secret_expires_at: int | None = field(default=None, repr=False)

    def secret_expired(self, now: int) -> bool:
        """RFC 7591 §3.2.1: a secret with a non-zero expiry is dead from that second on."""
        return bool(self.client_secret and self.client_secret_expires_at and now >= self.client_secret_expires_at)


@dataclass
class IdpSignIn:
    """Enterprise-managed authorization: what the client keeps of the user's sign-in at the
    enterprise IdP, to ask it for a new ID-JAG whenever the AS's token no longer does (expired, or
    a step-up): no refresh token comes with it (ID-JAG draft §4.4.3), and no browser is asked.
    repr=False: an ID token and a secret never land in a notebook output or a log line."""

    token_endpoint: str
    id_token: str = field(repr=False)
    client_id: str
    client_secret: str | None = field(default=None, repr=False)


@dataclass
class HandshakeState:
    """Everything the client has learned so far; each step adds to it."""

    challenge: Challenge | None = None
    resource_metadata: dict[str, Any] | None = None
    # MCP 2025-03-26: the MCP origin, when discovery had to start there (no PRM).
    legacy_base: str | None = None
    issuer: str | None = None
    as_metadata: dict[str, Any] | None = None
    credentials: Credentials | None = None
    registration_method: str | None = None
    code_verifier: str | None = None
    oauth_state: str | None = None
    # The issuer of the AS the authorization request went to, kept with the PKCE verifier and
    # state (MCP 2026-07-28 §7.1; RFC 9207): the code goes back to that AS's token endpoint only.
    request_issuer: str | None = None
    scope: str | None = None
    authorization_url: str | None = None
    consent_page: ConsentPage | None = None
    code: str | None = None
    # How the current token was obtained when it was not by steps 5-6: "client_credentials" (no
    # user: a new token, or a step-up, is simply asked for again, MCP §10.1.2) or "jwt-bearer" (an
    # ID-JAG: a new one is asked of the enterprise IdP, with the sign-in kept in `idp_sign_in`).
    grant: str | None = None
    # RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more than once." Set when
    # step 6 sends the code (whatever the answer), cleared when step 5 brings a new one.
    code_sent: bool = False
    tokens: dict[str, Any] | None = None
    # The issuer of the AS `tokens` came from: their refresh token goes back there only (RFC 6749 §10.4).
    tokens_issuer: str | None = None
    protocol_version: str | None = None
    # The Mcp-Session-Id the last initialize's answer assigned (MCP Streamable HTTP, "Session
    # Management", 2025-03-26 to 2025-11-25); sent on every request after it. 2026-07-28 has none.
    session_id: str | None = None
    # "modern" (2026-07-28, no initialize) or "legacy" (initialize); cached once known (versioning §4).
    era: str | None = None
    # 2026-07-28, from tools/list: each tool's parameters marked `x-mcp-header`, by tool name (path
    # of `properties` keys → the {Name} of Mcp-Param-{Name}), and the tools left out, with why.
    tool_headers: dict[str, dict[tuple[str, ...], str]] = field(default_factory=dict)
    rejected_tools: dict[str, str] = field(default_factory=dict)
    # Registration options considered at step 4: option → why taken or why skipped.
    registration_reasons: dict[str, str] | None = None
    whoami: dict[str, Any] | None = None
    id_jag: str | None = None  # enterprise-managed authorization: the IdP's identity assertion grant
    idp_sign_in: IdpSignIn | None = None  # and the sign-in at the IdP it was asked with

    @property
    def resource(self) -> str | None:
        return self.resource_metadata["resource"] if self.resource_metadata else None

    @property
    def access_token(self) -> str | None:
        return self.tokens.get("access_token") if self.tokens else None


_SHOWN_CLAIMS = DEFAULT_LIMITS.but(max_bytes=16 * 1024, max_depth=8)  # one JWT's claims, for display


def decode_jwt_payload(token: Any) -> dict[str, Any] | None:
    """The claims, unverified, for display only; None for an opaque token. To an OAuth client an
    access token is opaque (RFC 6749 §1.4): only the resource server validates it."""
    if not isinstance(token, str):
        return None  # a token from an AS's JSON may be any JSON value; RFC 6749 §5.1 says a string
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        # Bounded: the token comes from whatever AS the client met, and a hostile one could nest
        # its payload deep enough for json.loads to raise RecursionError (not a ValueError).
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = parse_json(payload, _SHOWN_CLAIMS, what="the token's claims")
    except ValueError:  # binascii.Error, JsonRejected
        return None
    return claims if isinstance(claims, dict) else None
