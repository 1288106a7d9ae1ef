"""The checks of what the lab sends (`emitted_http`, `emitted_bodies`) find what they look for:
each answer below breaks one rule, and the checks name it. Without this, a sweep that finds
nothing could be a sweep that reads nothing."""

from __future__ import annotations

import json

import pytest

from lab_servers.trace import Exchange

from .emitted_bodies import problems
from .emitted_http import challenges

MCP = "https://mcp.example.com/mcp"
ISSUER = "https://auth.example.com"
JSON_TYPE = ("content-type", "application/json")


def answer(status: int, headers: list[tuple[str, str]], body: object = "", *, method: str = "POST", url: str = MCP,
           request: str = "") -> Exchange:  # fmt: skip
    text = body if isinstance(body, str) else json.dumps(body)
    return Exchange(0, None, "test", "h", None, method, url, (), request, status, tuple(headers), text)


BEARER = 'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'
TOKEN_URL = f"{ISSUER}/token"
CASES = [
    ("a quote not escaped", answer(401, [("www-authenticate", 'Bearer error="a"b"')]), "#challenge"),
    ("a scope with a quote", answer(403, [("www-authenticate", r'Bearer error="insufficient_scope", scope="a\"b"')]), "scope-token"),
    ("a scope with a tab", answer(401, [("www-authenticate", 'Bearer scope="a\tb"')]), "scope-token"),
    ("a description with non-ASCII", answer(401, [("www-authenticate", 'Bearer error="invalid_token", error_description="é"')]), "RFC 6750"),
    ("a bare Bearer", answer(401, [("www-authenticate", "Bearer")]), "one or more auth-param"),
    ("error twice", answer(401, [("www-authenticate", 'Bearer error="invalid_token", error="invalid_token"')]), "more than once"),
    ("the wrong status for the error", answer(401, [("www-authenticate", 'Bearer error="insufficient_scope"')]), "pairs them"),
    ("a relative resource_metadata", answer(401, [("www-authenticate", 'Bearer resource_metadata="/x"')]), "RFC 9728"),
    ("Basic without realm", answer(401, [("www-authenticate", 'Basic charset="UTF-8"')]), "REQUIRED"),
    ("a 401 without a challenge", answer(401, []), "RFC 9110 §15.5.2"),
    ("a 405 without Allow", answer(405, []), "MUST carry Allow"),
    ("a 405 allowing its method", answer(405, [("allow", "GET, POST")]), "lists POST"),
    ("a 204 with a length", answer(204, [("content-length", "0")]), "MUST NOT send one"),
    ("a 415 naming nothing", answer(415, []), "§15.5.16"),
    ("Retry-After in minutes", answer(429, [("retry-after", "1.5")]), "delta-seconds"),
    ("a Location with a bad escape", answer(302, [("location", "https://a.example/cb%zz?code=1")], method="GET", url=f"{ISSUER}/x"), "URI-reference"),
    ("a field value with a trailing space", answer(200, [("x-a", "b ")]), "field-value"),
    ("text without a charset", answer(200, [("content-type", "text/html")], "<p>"), "charset"),
    ("a wrong Content-Length", answer(200, [("content-length", "3"), ("content-type", "text/plain; charset=utf-8")], "ab"), "Content-Length"),
    ("a description with a quote", answer(400, [JSON_TYPE], {"error": "invalid_request", "error_description": 'a"b'}), "§5.2"),
    ("an unregistered error code", answer(400, [JSON_TYPE], {"error": "nope"}), "registered"),
    ("expires_in as a string", answer(200, [JSON_TYPE, ("cache-control", "no-store"), ("pragma", "no-cache")], {"access_token": "a", "token_type": "Bearer", "expires_in": "900"}, url=TOKEN_URL), "expires_in"),
    ("a token response that may be stored", answer(200, [JSON_TYPE, ("pragma", "no-cache")], {"access_token": "a", "token_type": "Bearer"}, url=TOKEN_URL), "no-store"),
    ("a token response without Pragma", answer(200, [JSON_TYPE, ("cache-control", "no-store")], {"access_token": "a", "token_type": "Bearer"}, url=TOKEN_URL), "Pragma"),
    ("an exchange without issued_token_type", answer(200, [JSON_TYPE, ("cache-control", "no-store"), ("pragma", "no-cache")], {"access_token": "a", "token_type": "N_A"}, url=TOKEN_URL, request="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange"), "issued_token_type"),
    ("a secret without its expiry", answer(201, [JSON_TYPE, ("cache-control", "no-store")], {"client_id": "c", "client_secret": "s"}, url=f"{ISSUER}/register"), "client_secret_expires_at"),
    ("active as a string", answer(200, [JSON_TYPE, ("cache-control", "no-store")], {"active": "true"}, url=f"{ISSUER}/introspect"), "boolean active"),
    ("an inactive token described", answer(200, [JSON_TYPE, ("cache-control", "no-store")], {"active": False, "sub": "alice"}, url=f"{ISSUER}/introspect"), "inactive"),
    ("metadata without response types", answer(200, [JSON_TYPE], {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/a", "token_endpoint": f"{ISSUER}/t"}, method="GET", url=f"{ISSUER}/.well-known/oauth-authorization-server"), "response_types_supported"),
    ("metadata of another issuer", answer(200, [JSON_TYPE], {"issuer": "https://evil.example", "authorization_endpoint": f"{ISSUER}/a", "token_endpoint": f"{ISSUER}/t", "response_types_supported": ["code"]}, method="GET", url=f"{ISSUER}/.well-known/oauth-authorization-server"), "RFC 8414 §3.3"),
    ("PRM of another resource", answer(200, [JSON_TYPE], {"resource": "https://mcp.example.com/other"}, method="GET", url="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"), "RFC 9728 §3.3"),
    ("a JSON-RPC error code as a string", answer(400, [JSON_TYPE], {"jsonrpc": "2.0", "id": None, "error": {"code": "1", "message": "m"}}), "integer code"),
    ("another request's id", answer(200, [JSON_TYPE], {"jsonrpc": "2.0", "id": 8, "result": {}}, request='{"jsonrpc":"2.0","id":7,"method":"ping"}'), "id is the request's"),
]  # fmt: skip


@pytest.mark.parametrize(("exchange", "rule"), [pytest.param(e, r, id=name) for name, e, r in CASES])
def test_an_answer_that_breaks_a_rule_is_found_out(exchange: Exchange, rule: str) -> None:
    found = problems(exchange, issuer=ISSUER)
    assert any(rule in p for p in found), found


def test_a_redirect_with_another_iss_or_a_state_not_sent_is_found_out() -> None:
    redirect = answer(302, [("location", "https://app.example/cb?code=c&state=other&iss=https%3A%2F%2Fevil.example")],
                      method="GET", url=f"{ISSUER}/authorize?state=mine")  # fmt: skip
    found = " ".join(problems(redirect, issuer=ISSUER))
    assert "RFC 9207" in found and "not the request's" in found


def test_the_challenges_the_lab_writes_read_back_as_written() -> None:
    assert challenges(f'{BEARER}, error="invalid_token", error_description="a \\"b\\"", scope="x y"') == [
        ("Bearer", [("resource_metadata", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
                    ("error", "invalid_token"), ("error_description", 'a "b"'), ("scope", "x y")]),
    ]  # fmt: skip
    assert challenges('Basic realm="token", Bearer') == [("Basic", [("realm", "token")]), ("Bearer", [])]
