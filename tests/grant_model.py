"""The model `test_stateful_grants.py` checks the authorization server against: the clients, the
requests they may send, and what the specs say each grant and token must be after every step."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from lab_servers import MCP_URL
from lab_servers.authorization_server.state import OPENID_SCOPES
from lab_servers.story import OTHER_MCP_URL

APP = "https://app.example"
OTHER_CIMD_URL = f"{APP}/second-client.json"
DOWNSTREAM = "https://downstream.example/api"
EXCHANGER = "mcp-exchanger"
RESOURCES = (MCP_URL, OTHER_MCP_URL)
SCOPES = {"notes:read", "notes:write"}
AC, RT, CC = "authorization_code", "refresh_token", "client_credentials"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "model", "version": "1"}}}  # fmt: skip

# Odd but valid DCR requests: several redirect URIs (one with a query), loopback ones, unknown
# members, Unicode and markup in the name, a registered scope, both secret methods, clients with
# no redirection, a public client that registered client_credentials, one with refresh but no
# code grant (refresh alone is refused: RFC 6749 §1.5, RFC 7591 §2.1).
REGISTRATIONS: list[dict[str, Any]] = [
    {"redirect_uris": [f"{APP}/callback"], "grant_types": [AC, RT], "token_endpoint_auth_method": "none"},
    {"redirect_uris": [f"{APP}/callback", "http://127.0.0.1:8976/cb"], "grant_types": [AC, RT],
     "token_endpoint_auth_method": "none", "client_name": "Ünïcødé “agent” <b>&amp;</b>", "x_unknown": {"a": [1]}},
    {"redirect_uris": ["http://localhost:3000/callback"], "token_endpoint_auth_method": "none",
     "application_type": "native", "contacts": ["ops@app.example"]},  # grant_types omitted: code only
    {"redirect_uris": [f"{APP}/callback"], "grant_types": [AC, RT, CC], "token_endpoint_auth_method": "client_secret_basic",
     "scope": "notes:read", "software_id": "model-agent", "software_version": "1.0"},
    {"redirect_uris": [f"{APP}/callback", f"{APP}/callback?second=1"], "grant_types": [AC, RT],
     "token_endpoint_auth_method": "client_secret_post", "tos_uri": f"{APP}/tos"},
    {"grant_types": [CC], "response_types": [], "token_endpoint_auth_method": "client_secret_post"},
    {"grant_types": [CC], "response_types": [], "token_endpoint_auth_method": "none"},
    {"redirect_uris": [f"{APP}/callback"], "grant_types": [CC, RT], "token_endpoint_auth_method": "none"},
]  # fmt: skip
SENT_RESOURCES = [MCP_URL, OTHER_MCP_URL, None, MCP_URL.replace("https://mcp.example.com", "HTTPS://MCP.EXAMPLE.COM"),
                  MCP_URL + "/"]  # fmt: skip
SENT_SCOPES = [None, "notes:read", "notes:write", "notes:read notes:write", "notes:write notes:read notes:write",
               "notes:read offline_access", "notes:admin", " "]  # fmt: skip
REDEEM = ["ok", "ok", "ok", "no_redirect_uri", "no_resource", "wrong_verifier", "no_verifier", "other_client",
          "other_redirect_uri", "other_resource", "uppercase_resource", "unauthenticated", "wrong_secret", "other_method"]  # fmt: skip
REFRESH = ["ok", "ok", "narrow", "wider", "unknown_scope", "blank_scope", "other_client", "other_resource",
           "same_resource", "wrong_secret", "an_access_token"]  # fmt: skip
MANGLE = ["as_is", "as_is", "as_is", "appended", "truncated", "not_a_jwt"]
SWAPPED_METHOD = {"client_secret_basic": "client_secret_post", "client_secret_post": "client_secret_basic"}
BAD_CREDENTIALS = ("unauthenticated", "wrong_secret", "other_method")


def mangled(token: str, how: str) -> str:
    """A token as sent, or a forgery of it: an extra character, a cut signature, a dotted string."""
    return {"as_is": token, "appended": token + "A", "truncated": token[:-2], "not_a_jwt": "a.b.c"}[how]


def canonical(resource: str | None) -> str | None:
    """What the AS makes of a `resource` it accepts (MCP §8.1: scheme and host compared
    case-insensitively); None for one it must refuse with invalid_target (RFC 8707 §2)."""
    if resource is None:
        return None
    lowered = resource.replace("HTTPS://MCP.EXAMPLE.COM", "https://mcp.example.com")
    return lowered if lowered in RESOURCES else None


def granted_scope(scope: str | None, supported: set[str] = SCOPES) -> str | None:
    """The scope the AS grants for a requested one (RFC 6749 §3.3: a set, a blank one means its
    default, `notes:read`; OpenID Connect scopes it does not offer are ignored, OAuth 2.1
    §1.4.1); None when it must refuse it (invalid_scope)."""
    tokens = [s for s in (scope or "").split() if s in supported or s not in OPENID_SCOPES]
    if not tokens:
        return "notes:read"
    return " ".join(dict.fromkeys(tokens)) if set(tokens) <= supported else None


@dataclass
class MClient:
    client_id: str
    grant_types: list[str]
    redirect_uris: list[str]
    auth: str  # token_endpoint_auth_method
    secret: str | None = None
    gone: bool = False  # a CIMD client whose document is no longer served

    @property
    def confidential(self) -> bool:
        return self.auth != "none"

    def credentials(self, how: str = "ok") -> tuple[dict[str, str], dict[str, str]]:
        """(form members, headers) that authenticate this client (OAuth 2.1 §2.4), or fail to:
        no secret, a wrong one, or the other secret method than the registered one."""
        if how == "unauthenticated" or self.auth == "none":
            return {"client_id": self.client_id}, {}
        secret = "not-the-secret" if how == "wrong_secret" else str(self.secret)
        method = SWAPPED_METHOD[self.auth] if how == "other_method" else self.auth
        if method == "client_secret_basic":
            return {}, {"authorization": "Basic " + base64.b64encode(f"{self.client_id}:{secret}".encode()).decode()}
        return {"client_id": self.client_id, "client_secret": secret}, {}

    def refused_as(self, how: str) -> bool:
        """Would the AS refuse to authenticate this request (401 invalid_client)? A secret in the
        form is taken from a client_secret_basic client too (OAuth 2.1 §2.4.1: MUST)."""
        if how == "other_method" and self.auth == "client_secret_basic":
            return self.gone
        return self.gone or (self.confidential and how in BAD_CREDENTIALS)


@dataclass
class MPending:
    client: MClient
    redirect_uri: str
    resource: str
    scope: str
    state: str
    expires_at: int


@dataclass
class MCode:
    client: MClient
    redirect_uri: str
    resource: str
    scope: str
    expires_at: int
    used: bool = False
    redeemed_at: int = 0
    access: list[str] = field(default_factory=list)  # access tokens its redemption issued
    families: list[str] = field(default_factory=list)


@dataclass
class MAccess:
    client_id: str
    sub: str
    aud: str
    scope: str
    exp: int
    family: str | None  # the refresh family (grant) it is based on, if any
    revoked: bool = False
    children: list[str] = field(default_factory=list)  # tokens exchanged for it (RFC 8693)

    def live(self, now: int) -> bool:
        return not self.revoked and self.exp > now


@dataclass
class MRefresh:
    client: MClient
    family: str
    resource: str
    scope: str  # the grant's scope: a narrowed refresh narrows the access token only (RFC 6749 §6)
    family_ends: int
    idle_ends: int
    rotated: bool = False
