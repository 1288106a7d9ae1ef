"""The endpoint × rule matrix's data: every endpoint of the lab's servers (the AS, the enterprise
IdP, the MCP server under each revision, the downstream API, the metadata host), what each one
is (`Endpoint.kinds`), and a sample request of its own. Rules stated once for every endpoint of a
kind (RFC 9110's methods, RFC 6749 §3's parameters, §5.2's errors, RFC 6750 §3's challenges) are
in `tests/test_rule_matrix.py`; a cell applies when the endpoint is of the rule's kind, and a cell
that deliberately does not is listed in `EXEMPT` with the spec sentence that lets it go.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.client.revisions import modern_headers, modern_message
from lab_servers.story import API_URL, IDP_ISSUER, MCP_SERVER_CLIENT_ID

from .helpers import CHALLENGE, REDIRECT_URI, VERIFIER
from .registered_clients import PUBLIC_CLIENT as DCR_BODY
from .test_resource_server_transport import JSON_HEADERS, TOOLS_LIST, mint

CLIENT_ID, CLIENT_SECRET = "matrix-client", "matrix-secret"  # a confidential client, client_secret_basic
INITIAL_ACCESS_TOKEN = "matrix-initial-access-token"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"

# What an endpoint is; a rule applies to the endpoints of its kind. Each kind, and what an
# endpoint not of that kind is, so that every cell left out says why.
KINDS = {
    "any": "",
    "get": "is not read with GET",
    "body": "reads no request body",
    "form": "takes no application/x-www-form-urlencoded body (OAuth 2.1 §3.2.2 is for the AS's POST endpoints)",
    "params": "takes no OAuth request parameters (RFC 6749 §3.1, §3.2)",
    "oauth-json": "does not answer with RFC 6749 §5.2 JSON errors (an HTML page, a JSON-RPC or RFC 6750 answer)",
    "client-auth": "authenticates no client (RFC 6749 §2.3)",
    "credentials": "answers with no credential (RFC 6749 §5.1's no-store is for tokens and secrets)",
    "bearer": "is no protected resource: it takes no bearer token (RFC 6750 §3)",
    "scoped": "has no scopes to be short of (RFC 6750 §3.1 insufficient_scope)",
    "prm": "is no resource an MCP client discovers (RFC 9728 §5.1's resource_metadata)",
    "jsonrpc": "is no JSON-RPC endpoint",
}

# RFC 6749 §5.2 and the extensions' registered codes, per endpoint: what an error there may say.
RFC6749_CODES = {"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope"}  # fmt: skip
TOKEN_CODES = RFC6749_CODES | {"invalid_target"}  # RFC 8707 §2, RFC 8693 §2.2.2
REVOCATION_CODES = RFC6749_CODES | {"unsupported_token_type"}  # RFC 7009 §2.2.1
INTROSPECTION_CODES = RFC6749_CODES  # RFC 7662 §2.3: the errors of RFC 6749 §5.2
# RFC 7591 §3.2.2; RFC 6750 §3.1 behind an initial access token (§3); 403 access_denied when closed (dcr_modes.py).
REGISTRATION_CODES = {"invalid_redirect_uri", "invalid_client_metadata", "invalid_software_statement",
                      "unapproved_software_statement", "invalid_request", "invalid_token", "access_denied"}  # fmt: skip
ROUTING_CODES = {"invalid_request"}  # 404, 405, 413, 415 answered before the endpoint's own code runs


@dataclass(frozen=True)
class Endpoint:
    id: str
    lab: str  # which shared lab serves it (LABS)
    url: str
    methods: tuple[str, ...]  # the methods it takes; a GET endpoint takes HEAD too (RFC 9110 §9.3.2)
    kinds: frozenset[str]
    # The request a client would send: query or form parameters, or a JSON body.
    params: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    basic: tuple[str, str] | None = None  # client_secret_basic credentials sent with it
    error_codes: frozenset[str] = frozenset()

    @property
    def method(self) -> str:
        return self.methods[0]


def _endpoint(id: str, lab: str, url: str, method: str, kinds: str, **more: Any) -> Endpoint:
    codes = frozenset(more.pop("error_codes", set()) | ROUTING_CODES)
    return Endpoint(id, lab, url, (method,), frozenset({"any", *kinds.split()}), error_codes=codes, **more)


_AUTHORIZE = {"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "state": "st",
              "code_challenge": CHALLENGE, "code_challenge_method": "S256", "resource": MCP_URL, "scope": "notes:read"}  # fmt: skip
_CODE = {"grant_type": "authorization_code", "code": "no-such-code", "redirect_uri": REDIRECT_URI,
         "code_verifier": VERIFIER, "resource": MCP_URL}  # fmt: skip
_EXCHANGE = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": "not-an-id-token",
             "subject_token_type": ID_TOKEN, "requested_token_type": ID_JAG, "audience": ISSUER, "resource": MCP_URL}  # fmt: skip
_TOKEN = {"token": "no-such-token", "token_type_hint": "access_token"}
_AS_FORM = "body form params oauth-json client-auth"
CO_LOCATED = "https://mcp.example.com"  # MCP 2025-03-26 §2.3.2: the MCP server's origin is its AS

# fmt: off
ENDPOINTS = [
    _endpoint("as-metadata", "full", f"{ISSUER}/.well-known/oauth-authorization-server", "GET", "get"),
    _endpoint("as-openid-configuration", "full", f"{ISSUER}/.well-known/openid-configuration", "GET", "get"),
    _endpoint("as-jwks", "full", f"{ISSUER}/jwks.json", "GET", "get"),
    _endpoint("as-logo", "full", f"{ISSUER}/clients/{CLIENT_ID}/logo", "GET", "get oauth-json"),
    _endpoint("as-authorize", "full", f"{ISSUER}/authorize", "GET", "get params", params=_AUTHORIZE),
    _endpoint("as-consent-decision", "full", f"{ISSUER}/authorize/decision", "POST", "body form params",
              params={"txn": "no-such-transaction", "decision": "approve"}),
    _endpoint("as-register", "full", f"{ISSUER}/register", "POST", "body oauth-json credentials",
              json_body=DCR_BODY, error_codes=REGISTRATION_CODES),
    _endpoint("as-register-initial-access-token", "initial-access-token", f"{ISSUER}/register", "POST",
              "body oauth-json credentials bearer", json_body=DCR_BODY, error_codes=REGISTRATION_CODES),
    _endpoint("as-token", "full", f"{ISSUER}/token", "POST", f"{_AS_FORM} credentials", params=_CODE,
              basic=(CLIENT_ID, CLIENT_SECRET), error_codes=TOKEN_CODES),
    _endpoint("as-revoke", "full", f"{ISSUER}/revoke", "POST", _AS_FORM, params=_TOKEN,
              basic=(CLIENT_ID, CLIENT_SECRET), error_codes=REVOCATION_CODES),
    _endpoint("as-introspect", "full", f"{ISSUER}/introspect", "POST", f"{_AS_FORM} credentials", params=_TOKEN,
              basic=(CLIENT_ID, CLIENT_SECRET), error_codes=INTROSPECTION_CODES),
    # MCP 2025-03-26: the AS's endpoints at the MCP server's origin, beside /mcp (CoLocated).
    _endpoint("as-metadata@2025-03-26", "2025-03-26", f"{CO_LOCATED}/.well-known/oauth-authorization-server", "GET", "get"),
    _endpoint("as-token@2025-03-26", "2025-03-26", f"{CO_LOCATED}/token", "POST", f"{_AS_FORM} credentials",
              params={k: v for k, v in _CODE.items() if k != "resource"}, basic=(CLIENT_ID, CLIENT_SECRET), error_codes=TOKEN_CODES),
    _endpoint("idp-token", "full", f"{IDP_ISSUER}/token", "POST", f"{_AS_FORM} credentials", params=_EXCHANGE,
              basic=(CLIENT_ID, CLIENT_SECRET), error_codes=TOKEN_CODES),
    _endpoint("idp-jwks", "full", f"{IDP_ISSUER}/jwks.json", "GET", "get"),
    _endpoint("api-contacts", "full", f"{API_URL}contacts", "GET", "get bearer scoped prm"),
    _endpoint("metadata-host-client-document", "full", "https://app.example/client.json", "GET", "get"),
    *[
        _endpoint(f"mcp@{revision}", revision, MCP_URL, "POST", "body bearer scoped jsonrpc prm",
                  json_body=TOOLS_LIST)
        for revision in ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
    ],
    *[
        _endpoint(f"prm@{revision}", revision, "https://mcp.example.com/.well-known/oauth-protected-resource/mcp", "GET", "get")
        for revision in ("2025-06-18", "2025-11-25", "2026-07-28")
    ],
]
# fmt: on
BY_ID = {endpoint.id: endpoint for endpoint in ENDPOINTS}

# Cells of a rule's kind that deliberately do not apply, each with the sentence that lets it go.
EXEMPT: dict[tuple[str, str], str] = {
    ("bearer-resource-metadata", "mcp@2025-03-26"): "MCP 2025-03-26 has no RFC 9728 metadata: the client finds "
    "the AS at the MCP server's origin (2025-03-26 §2.3.2), so the challenge has none to name",
    ("bearer-resource-metadata", "api-contacts"): "RFC 9728 is the resource's choice; the downstream API is "
    "called only by the MCP server, configured with its AS, and publishes none (downstream_api/__init__.py)",
}

# Fields the lab deliberately lets through when repeated (RFC 9110 §5.3 binds the sender; a
# recipient has nothing to pick from a field it never reads, or from lines that agree), each with
# the sentence that lets it go. The `repeated-kept` rule sends them to every MCP endpoint.
REPEATS_KEPT = {
    "Mcp-Session-Id": "the lab's MCP servers are stateless and read no session id (2026-07-28 has no sessions; "
    "earlier revisions: a server MAY assign one, Session Management), so two of them judge nothing",
    "Content-Length": "RFC 9110 §8.6 (RFC 9112 §6.3): of several lines with the same decimal value, the recipient "
    "MAY either reject the message as invalid or replace them with a single valid Content-Length (h11 and "
    "body_limit.py do so; test_served_http1.py)",
    "Host, Origin elsewhere": "only the MCP endpoint reads Host and Origin in process; served, h11 refuses two "
    "Host lines (RFC 9112 §3.2) and BrowserOrigins two Origin lines (RFC 6454 §7.3) before any application",
}


async def send(
    lab: Lab,
    endpoint: Endpoint,
    *,
    method: str | None = None,
    params: dict[str, str] | list[tuple[str, str]] | None = None,
    headers: list[tuple[str, str]] | None = None,
    content: bytes | None = None,
    token: str | None = "valid",
    basic: tuple[str, str] | None = None,
    json_body: Any = None,
    url: str | None = None,
) -> httpx.Response:
    """The endpoint's own request (or one changed as asked), sent as its clients send it: to a
    protected resource with a token it accepts, unless `token` is another one, or None for none."""
    method = method or endpoint.method
    if token == "valid":
        token = valid_token(lab, endpoint) if "bearer" in endpoint.kinds else None
    sent = list(headers or [])
    query: Any = None
    if content is None and method in ("POST", "PUT", "PATCH"):
        if endpoint.json_body is not None:
            body = endpoint.json_body if json_body is None else json_body
            if endpoint.id == "mcp@2026-07-28":
                body = modern_message(body, "2026-07-28", {"name": "matrix", "version": "1"})
                sent += list(modern_headers(body, "2026-07-28").items())
            content = json.dumps(body).encode()
            sent += [(k, v) for k, v in JSON_HEADERS.items() if k.lower() not in {n.lower() for n, _ in sent}]
        else:
            pairs = params if params is not None else endpoint.params
            content = urlencode(pairs).encode()
            if not any(n.lower() == "content-type" for n, _ in sent):
                sent.append(("Content-Type", "application/x-www-form-urlencoded"))
    elif method in ("GET", "HEAD"):
        query = params if params is not None else (endpoint.params or None)
    if endpoint.id.startswith("mcp@") and endpoint.lab in ("2025-06-18", "2025-11-25"):
        sent.append(("MCP-Protocol-Version", endpoint.lab))
    basic = basic if basic is not None else endpoint.basic
    if basic is not None and not any(n.lower() == "authorization" for n, _ in sent):
        sent.append(("Authorization", httpx.BasicAuth(*basic)._auth_header))
    if token is not None and not any(n.lower() == "authorization" for n, _ in sent):
        sent.append(("Authorization", f"Bearer {token}"))
    async with lab.httpx_client("client") as http:
        return await http.request(method, url or endpoint.url, params=query, headers=sent, content=content)


def valid_token(lab: Lab, endpoint: Endpoint, scope: str | None = None) -> str:
    """A token this protected resource accepts (with `scope`, one short of the scope it needs)."""
    if endpoint.id.startswith("mcp@"):
        return mint(lab, scope=scope or "notes:read")
    if endpoint.id == "api-contacts":
        now = lab.clock.now()
        claims = {"iss": lab.issuer, "sub": "alice", "aud": API_URL, "client_id": MCP_SERVER_CLIENT_ID,
                  "scope": scope or "contacts:read", "act": {"sub": MCP_SERVER_CLIENT_ID}, "iat": now, "exp": now + 900,
                  "jti": "matrix"}  # fmt: skip
        return lab.auth_server.keys.sign_access_token(claims)
    assert endpoint.id == "as-register-initial-access-token", endpoint.id
    return INITIAL_ACCESS_TOKEN


def error_of(response: httpx.Response) -> str | None:
    """The OAuth error an answer carries: in a JSON body, a redirect's query, an HTML error page
    or an RFC 6750 challenge; None for none."""
    location = response.headers.get("location")
    if location:
        return httpx.URL(location).params.get("error")
    if response.headers.get("content-type", "").startswith("text/html"):
        found = re.search(r'data-field="error">([^<]*)<', response.text)
        return found[1] if found else None
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return body["error"]
    challenge = re.search(r'error="([^"]*)"', response.headers.get("www-authenticate", ""))
    return challenge[1] if challenge else None
