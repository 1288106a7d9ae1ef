"""What the lab's servers SEND in their bodies and redirects, held to the specs' shapes: OAuth
errors (RFC 6749 §5.2) and authorization responses (§4.1.2, §4.1.2.1, RFC 9207), token
responses (§5.1, RFC 8693 §2.2.1), registrations (RFC 7591 §3.2.1), introspection (RFC 7662
§2.2), metadata (RFC 8414 §2, RFC 9728 §2) and JSON-RPC 2.0 at the MCP endpoint (§5, §5.1).
`problems` is the one entry point: the fields (`emitted_http`), then the body its path calls for.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from lab_servers.trace import Exchange

from .emitted_http import ERROR_CODE, ERROR_TEXT, ERROR_URI, SCOPE, header_problems, is_absolute_uri
from .oauth_checks import OAUTH_ERROR_CODES

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
# RFC 6749 §4.1.2.1 (and RFC 8707 §2's invalid_target): what an authorization error may be.
AUTHORIZATION_ERRORS = {
    "invalid_request", "unauthorized_client", "access_denied", "unsupported_response_type", "invalid_scope",
    "server_error", "temporarily_unavailable", "invalid_target",
}  # fmt: skip
MCP_PATHS = {"/mcp"}


def problems(exchange: Exchange, *, issuer: str | None = None) -> list[str]:
    """Every rule the response of `exchange` breaks; `issuer` is the AS's, for `iss` (RFC 9207)."""
    if exchange.status is None:
        return []
    found = header_problems(exchange)
    path = urlsplit(exchange.url).path
    status = exchange.status
    headers = {name.lower(): value for name, value in exchange.response_headers}
    if status in (302, 303) and "location" in headers and path.startswith("/authorize"):
        return found + _authorization_response(headers["location"], exchange, issuer)
    body = _json(exchange)
    # At the MCP endpoint, every answer but the bearer gate's (RFC 6750) is JSON-RPC's.
    if path in MCP_PATHS and (isinstance(body, list) or (isinstance(body, dict) and "jsonrpc" in body)):
        return found + _jsonrpc(body, exchange)
    if body is _NOT_JSON:
        return [*found, "a body labelled application/json is not JSON (RFC 8259)"]
    if body is None:
        return found
    if status >= 400:
        return found + _oauth_error(body)
    if exchange.method != "GET" and path.endswith("/token"):
        return found + _no_store(headers, pragma=True) + _token_response(body, _form(exchange))
    if path.endswith("/register") and status == 201:
        return found + _no_store(headers, pragma=False) + _registration_response(body)
    if path.endswith("/introspect"):
        return found + _no_store(headers, pragma=False) + _introspection_response(body)
    if "/.well-known/oauth-authorization-server" in path or "/.well-known/openid-configuration" in path:
        return found + _as_metadata(body, exchange)
    if "/.well-known/oauth-protected-resource" in path:
        return found + _resource_metadata(body, exchange)
    return found


_NOT_JSON = object()


def _json(exchange: Exchange) -> Any:
    headers = {name.lower(): value for name, value in exchange.response_headers}
    if not headers.get("content-type", "").lower().startswith("application/json") or not exchange.response_body:
        return None  # no content (a HEAD, a 202) is no JSON text to judge
    try:
        return json.loads(exchange.response_body)
    except ValueError:
        return _NOT_JSON


def _form(exchange: Exchange) -> dict[str, str]:
    return dict(parse_qsl(exchange.request_body))


def _text(name: str, value: Any, pattern: Any) -> list[str]:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return [f"{name} {value!r} is no string of RFC 6749 §5.2's characters"]
    return []


def _oauth_error(body: Any) -> list[str]:
    if not isinstance(body, dict) or "error" not in body:
        return [f"an error body without error (RFC 6749 §5.2): {body!r:.200}"]
    found = _text("error", body["error"], ERROR_CODE)
    if body["error"] not in OAUTH_ERROR_CODES:
        found.append(f"error {body['error']!r} is no registered OAuth error code")
    if "error_description" in body:
        found += _text("error_description", body["error_description"], ERROR_TEXT)
    if "error_uri" in body:
        found += _text("error_uri", body["error_uri"], ERROR_URI)
    return found


def _no_store(headers: dict[str, str], *, pragma: bool) -> list[str]:
    found = []
    if "no-store" not in [d.strip().lower() for d in headers.get("cache-control", "").split(",")]:
        found.append("a response carrying credentials without Cache-Control: no-store (RFC 6749 §5.1, RFC 7591 §3.2.1)")
    if pragma and headers.get("pragma", "").lower() != "no-cache":
        found.append("a token response without Pragma: no-cache (RFC 6749 §5.1, RFC 8693 §2.2.1)")
    return found


def _authorization_response(location: str, exchange: Exchange, issuer: str | None) -> list[str]:
    parts = urlsplit(location)
    found = [f"the redirect {location!r} has a fragment (RFC 6749 §3.1.2)"] if parts.fragment else []
    params = parse_qsl(parts.query, keep_blank_values=True)
    names = [name for name, _ in params]
    found += [
        f"the redirect carries {name} {names.count(name)} times (RFC 6749 §3.1: at most once)"
        for name in ("code", "error", "error_description", "state", "iss")
        if names.count(name) > 1
    ]
    values = dict(params)
    if ("code" in values) == ("error" in values):
        found.append(f"the redirect {location!r} carries neither or both of code and error (RFC 6749 §4.1.2)")
    if "error" in values:
        found += _text("error", values["error"], ERROR_CODE)
        if values["error"] not in AUTHORIZATION_ERRORS:
            found.append(f"error {values['error']!r} is no authorization error (RFC 6749 §4.1.2.1)")
        found += _text("error_description", values.get("error_description", ""), ERROR_TEXT)
    if issuer is not None and values.get("iss") != issuer:
        found.append(f"iss {values.get('iss')!r} is not exactly the issuer {issuer!r} (RFC 9207 §2)")
    request = dict(parse_qsl(urlsplit(exchange.url).query, keep_blank_values=True))
    if exchange.method == "GET" and request.get("state") != values.get("state"):
        found.append(f"state {values.get('state')!r} is not the request's {request.get('state')!r} (RFC 6749 §4.1.2)")
    return found


def _token_response(body: Any, form: dict[str, str]) -> list[str]:
    if not isinstance(body, dict):
        return ["a token response is a JSON object (RFC 6749 §5.1)"]
    found = [f"{n} is REQUIRED (RFC 6749 §5.1)" for n in ("access_token", "token_type") if n not in body]
    found += [
        f"{name} {body[name]!r} is no string (RFC 6749 §5.1, RFC 8693 §2.2.1)"
        for name in ("access_token", "token_type", "refresh_token", "issued_token_type")
        if name in body and not (isinstance(body[name], str) and body[name])
    ]
    if "expires_in" in body and not (type(body["expires_in"]) is int and body["expires_in"] > 0):
        found.append(f"expires_in {body['expires_in']!r} is no positive number of seconds (RFC 6749 §5.1)")
    if "scope" in body and not (isinstance(body["scope"], str) and SCOPE.fullmatch(body["scope"])):
        found.append(f"scope {body['scope']!r} is no RFC 6749 §3.3 scope")
    if form.get("grant_type") == TOKEN_EXCHANGE and "issued_token_type" not in body:
        found.append("a token exchange response without issued_token_type (RFC 8693 §2.2.1: REQUIRED)")
    return found


def _registration_response(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["a registration response is a JSON object (RFC 7591 §3.2.1)"]
    found = [] if isinstance(body.get("client_id"), str) else ["client_id is REQUIRED, a string (RFC 7591 §3.2.1)"]
    found += [
        f"{name} {body[name]!r} is no number of seconds since 1970 (RFC 7591 §3.2.1)"
        for name in ("client_id_issued_at", "client_secret_expires_at")
        if name in body and not (type(body[name]) is int and body[name] >= 0)
    ]
    if "client_secret" in body and "client_secret_expires_at" not in body:
        found.append("client_secret_expires_at is REQUIRED with a client_secret (RFC 7591 §3.2.1)")
    return found + _string_arrays(body, ["redirect_uris", "grant_types", "response_types"], "RFC 7591 §2")


_INTROSPECTION_STRINGS = ("scope", "client_id", "username", "token_type", "sub", "iss", "jti")


def _introspection_response(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
        return [f"an introspection response has a boolean active (RFC 7662 §2.2): {body!r:.200}"]
    if body["active"] is False and set(body) != {"active"}:
        return [f"an inactive token SHOULD get no other member (RFC 7662 §2.2): {sorted(body)}"]
    found = [
        f"{n} is a string (RFC 7662 §2.2)" for n in _INTROSPECTION_STRINGS if n in body and not isinstance(body[n], str)
    ]
    found += [f"{n} is an integer NumericDate (RFC 7662 §2.2)" for n in ("exp", "iat", "nbf") if n in body and type(body[n]) is not int]  # fmt: skip
    aud = body.get("aud", "")
    if not (isinstance(aud, str) or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))):
        found.append("aud is a string or an array of strings (RFC 7662 §2.2, RFC 7519 §4.1.3)")
    if isinstance(body.get("scope"), str) and not SCOPE.fullmatch(body["scope"]):
        found.append(f"scope {body['scope']!r} is no RFC 6749 §3.3 scope (RFC 7662 §2.2)")
    return found


def _string_arrays(body: dict[str, Any], names: list[str], rule: str) -> list[str]:
    return [
        f"{name} is a JSON array of strings ({rule})"
        for name in names
        if name in body and not (isinstance(body[name], list) and all(isinstance(v, str) for v in body[name]))
    ]


_METADATA_NAMES = ("oauth-authorization-server", "openid-configuration")
_AS_BOOLEANS = {"authorization_response_iss_parameter_supported", "client_id_metadata_document_supported"}


def _as_metadata(body: Any, exchange: Exchange) -> list[str]:
    if not isinstance(body, dict):
        return ["AS metadata is a JSON object (RFC 8414 §3.2)"]
    found = [f"{n} is REQUIRED (RFC 8414 §2)" for n in ("issuer", "response_types_supported") if n not in body]
    found += [f"{n} is REQUIRED with the code grant (RFC 8414 §2)" for n in ("authorization_endpoint", "token_endpoint") if n not in body]  # fmt: skip
    for name, value in body.items():
        if name.endswith(("_endpoint", "_uri")) or name == "issuer":
            if not (isinstance(value, str) and is_absolute_uri(value) and value.startswith(("https://", "http://"))):
                found.append(f"{name} {value!r} is no URL (RFC 8414 §2)")
        elif name in _AS_BOOLEANS:
            if not isinstance(value, bool):
                found.append(f"{name} is a boolean (RFC 8414 §2, RFC 9207 §3, CIMD -02)")
        elif name.endswith("_supported"):
            found += _string_arrays(body, [name], "RFC 8414 §2")
    issuer = body.get("issuer")
    if isinstance(issuer, str):
        # RFC 8414 §3.1: the well-known suffix inserted between the issuer's host and its path;
        # OpenID Connect Discovery 1.0 §4: appended to the issuer.
        parts = urlsplit(issuer)
        origin, issuer_path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
        made_from = {f"{origin}/.well-known/{name}{issuer_path}" for name in _METADATA_NAMES}
        made_from.add(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
        if exchange.url not in made_from:
            found.append(f"issuer {issuer!r} is not the one the metadata URL was made from (RFC 8414 §3.3)")
    return found


def _resource_metadata(body: Any, exchange: Exchange) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("resource"), str):
        return ["resource is REQUIRED, a string (RFC 9728 §2)"]
    # §3.3: the resource "MUST be identical to the protected resource's resource identifier value
    # into which the well-known URI path suffix was inserted to create the URL used".
    parts = urlsplit(exchange.url)
    suffix = parts.path.removeprefix("/.well-known/oauth-protected-resource")
    found = (
        []
        if body["resource"] == f"{parts.scheme}://{parts.netloc}{suffix}"
        else [f"resource {body['resource']!r} is not the URL the metadata was asked for (RFC 9728 §3.3)"]
    )
    found += _string_arrays(
        body, ["authorization_servers", "scopes_supported", "bearer_methods_supported"], "RFC 9728 §2"
    )
    if not set(body.get("bearer_methods_supported", [])) <= {"header", "body", "query"}:
        found.append("bearer_methods_supported takes header, body, query (RFC 9728 §2)")
    return found + [f"{n} is a string (RFC 9728 §2)" for n in ("resource_name", "jwks_uri") if n in body and not isinstance(body[n], str)]  # fmt: skip


def _request_ids(exchange: Exchange) -> Any:
    """The id of the one request `exchange` sent, or None (a batch, a notification, no JSON)."""
    try:
        request = json.loads(exchange.request_body)
    except ValueError:
        return None
    if (
        isinstance(request, dict)
        and "method" in request
        and (isinstance(request.get("id"), str) or type(request.get("id")) is int)
    ):
        return request["id"]
    return None


def _jsonrpc(body: Any, exchange: Exchange) -> list[str]:
    if exchange.status == 202 and not exchange.response_body:
        return []  # a notification or response accepted (MCP Streamable HTTP)
    messages = body if isinstance(body, list) else [body]
    found = []
    for message in messages:
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            found.append(f'a JSON-RPC response has "jsonrpc": "2.0" (JSON-RPC 2.0 §5): {message!r:.200}')
            continue
        if ("result" in message) == ("error" in message):
            found.append("a JSON-RPC response has exactly one of result and error (JSON-RPC 2.0 §5)")
        id_ = message.get("id", "missing")
        asked = _request_ids(exchange)
        # MCP Streamable HTTP: an error for a notification or a response MAY be "a JSON-RPC error
        # response that has no id"; one for a request refused on its head has a null id (§5: not
        # read), which the SDK client reads (test_jsonrpc_unread_id.py), where it refuses no id.
        if "id" not in message and "error" in message and asked is None:
            id_ = asked = None
        if len(messages) == 1 and asked is not None and id_ != asked and not (id_ is None and "error" in message):
            found.append(f"a response's id is the request's, {asked!r}, not {id_!r} (JSON-RPC 2.0 §5)")
        if not (isinstance(id_, str) or (type(id_) is int) or (id_ is None and "error" in message)):
            found.append(f"a JSON-RPC response id is the request's, or null on an error (§5): {id_!r}")
        if "error" in message:
            error = message["error"]
            if not (
                isinstance(error, dict) and type(error.get("code")) is int and isinstance(error.get("message"), str)
            ):
                found.append(f"a JSON-RPC error has an integer code and a string message (§5.1): {error!r:.200}")
    return found
