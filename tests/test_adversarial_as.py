"""An adversarial suite for every endpoint of the authorization server: one table, one case a
row, each with the one rule it breaks and the error that rule earns.

Under the hardened policy each hostile request gets a 4xx with the endpoint's own error code (an
OAuth JSON body, or the error page /authorize shows before it trusts the redirect URI) and a
description naming the rule; and it leaves nothing behind: no client record, no cached document,
no pending consent, no code, no token. Under the naive policy the same requests may be accepted,
but never answered with a 5xx.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from lab_servers import CLIENT_METADATA_URL, HARDENED, ISSUER, MCP_URL, NAIVE, Lab, default_client_metadata
from lab_servers.metadata_host import HostedResponse

from .helpers import CHALLENGE, VERIFIER, get_code
from .registered_clients import PUBLIC_CLIENT as DCR

pytestmark = pytest.mark.anyio

APP_REDIRECT = default_client_metadata()["redirect_uris"][0]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20
XSS = b"<html><script>fetch('/authorize/decision',{method:'POST'})</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _authorize(**changes: str) -> dict[str, str]:
    params = {"response_type": "code", "client_id": CLIENT_METADATA_URL, "redirect_uri": APP_REDIRECT, "state": "st",
              "code_challenge": CHALLENGE, "code_challenge_method": "S256", "resource": MCP_URL, "scope": "notes:read"}  # fmt: skip
    return {**params, **changes}


def _redeem(**changes: str) -> dict[str, str]:
    form = {"grant_type": "authorization_code", "code": "{code}", "client_id": CLIENT_METADATA_URL,
            "redirect_uri": APP_REDIRECT, "code_verifier": VERIFIER, "resource": MCP_URL}  # fmt: skip
    return {**form, **changes}


@dataclass(frozen=True)
class Case:
    id: str
    rule: str  # the one rule this request breaks, with its source
    method: str
    path: str
    status: int
    error: str
    says: str  # a phrase the error description contains
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] | None = None
    form: dict[str, str] | None = None  # "{code}" is replaced by a fresh code for the lab's CIMD client
    served: dict[str, HostedResponse] = field(default_factory=dict)  # path on app.example → response


def _logo(body: bytes, content_type: str) -> dict[str, HostedResponse]:
    return {"/logo": HostedResponse(body, 200, {"content-type": content_type})}


CASES = [
    # POST /register (RFC 7591) -------------------------------------------------------------------
    Case("register-nested-2000", "RFC 8259 §9: the lab's parser limits nesting", "POST", "/register", 400,
         "invalid_client_metadata", "nested deeper than 8 levels", content=b"[" * 2000 + b"]" * 2000),
    Case("register-lone-surrogate", "RFC 8259 §8.2: a lone surrogate is not text", "POST", "/register", 400,
         "invalid_client_metadata", "lone surrogate", content=json.dumps({**DCR, "client_name": "\ud800"}).encode()),
    Case("register-nul-in-name", "RFC 7591 §2: client_name is human-readable text", "POST", "/register", 400,
         "invalid_client_metadata", "U+0000", json={**DCR, "client_name": "Example\x00Agent"}),
    Case("register-newline-in-redirect", "RFC 3986 §2: a URI has no control characters", "POST", "/register", 400,
         "invalid_redirect_uri", "U+000A", json={**DCR, "redirect_uris": [APP_REDIRECT + "\n"]}),
    Case("register-space-before-redirect", "RFC 3986 §2: a URI has no spaces", "POST", "/register", 400,
         "invalid_redirect_uri", "printable ASCII", json={**DCR, "redirect_uris": [" http://localhost/cb"]}),
    Case("register-body-over-16kb", "lab limit: registration body <= 16 KB", "POST", "/register", 400,
         "invalid_client_metadata", "limit is 16384 bytes", json={**DCR, "client_name": "x" * 20_000}),
    Case("register-long-name", "lab limit: client_name <= 200 characters", "POST", "/register", 400,
         "invalid_client_metadata", "the limit is 200", json={**DCR, "client_name": "x" * 201}),
    Case("register-11-redirect-uris", "lab limit: <= 10 redirect URIs", "POST", "/register", 400,
         "invalid_redirect_uri", "at most 10", json={**DCR, "redirect_uris": [f"https://app.example/cb{i}" for i in range(11)]}),
    Case("register-long-redirect-uri", "lab limit: a URI <= 1000 characters", "POST", "/register", 400,
         "invalid_redirect_uri", "the limit is 1000", json={**DCR, "redirect_uris": ["https://app.example/" + "a" * 1000]}),
    Case("register-11-keys", "lab limit: jwks <= 10 keys", "POST", "/register", 400,
         "invalid_client_metadata", "at most 10", json={**DCR, "jwks": {"keys": [{"kty": "EC"}] * 11}}),
    Case("register-duplicate-member", "RFC 8259 §4: member names SHOULD be unique", "POST", "/register", 400,
         "invalid_client_metadata", "appears twice", content=b'{"client_name": "a", "client_name": "b"}'),
    Case("register-private-key-jwt-without-keys", "RFC 7591 §2: private_key_jwt needs jwks or jwks_uri", "POST", "/register",
         400, "invalid_client_metadata", "jwks or jwks_uri", json={**DCR, "token_endpoint_auth_method": "private_key_jwt"}),
    Case("register-javascript-logo-uri", "RFC 7591 §2, CIMD §8.6: a URL field holds a known-scheme URL", "POST", "/register",
         400, "invalid_client_metadata", "logo_uri 'javascript:alert(1)' is not an http or https URL (RFC 7591 section 2",
         json={**DCR, "logo_uri": "javascript:alert(1)"}),
    Case("register-file-jwks-uri", "RFC 7591 §2, CIMD §8.6: a URL field holds a known-scheme URL", "POST", "/register",
         400, "invalid_client_metadata", "jwks_uri 'file:///etc/passwd' is not an http or https URL",
         json={**DCR, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "file:///etc/passwd"}),
    Case("register-http-jwks-uri", "RFC 7591 §2.1: no registration into an inconsistent state", "POST", "/register",
         400, "invalid_client_metadata", "jwks_uri must be an https URL to be fetched, got 'http' (CIMD section 8.6",
         json={**DCR, "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://app.example/jwks.json"}),
    Case("register-data-tos-uri", "RFC 7591 §2, CIMD §8.6: a URL field holds a known-scheme URL", "POST", "/register",
         400, "invalid_client_metadata", "tos_uri 'data:text/html,<b>' is not an http or https URL",
         json={**DCR, "tos_uri": "data:text/html,<b>"}),
    Case("register-html-logo", "stored XSS: a logo must be a raster image", "POST", "/register", 400,
         "invalid_client_metadata", "not a PNG, JPEG, GIF or WebP", json={**DCR, "logo_uri": "https://app.example/logo"},
         served=_logo(XSS, "text/html")),
    Case("register-svg-logo", "stored XSS: SVG carries script", "POST", "/register", 400,
         "invalid_client_metadata", "not a PNG, JPEG, GIF or WebP", json={**DCR, "logo_uri": "https://app.example/logo"},
         served=_logo(SVG, "image/svg+xml")),
    Case("register-html-logo-labelled-png", "stored XSS: the AS sniffs, never trusts the label", "POST", "/register", 400,
         "invalid_client_metadata", "not a PNG, JPEG, GIF or WebP", json={**DCR, "logo_uri": "https://app.example/logo"},
         served=_logo(XSS, "image/png")),
    Case("register-put", "RFC 9110 §15.5.6: registration is POST", "PUT", "/register", 405, "invalid_request", "use POST"),
    # GET /authorize (OAuth 2.1 §4.1.1) -------------------------------------------------------------
    Case("authorize-client-id-5kb", "lab limit: client_id <= 2048 characters, refused before any fetch", "GET", "/authorize",
         400, "invalid_client", "longer than 2048", params=_authorize(client_id="https://app.example/" + "a" * 5000)),
    # A CIMD client's redirect URI is one anyone could publish: the error is told on the AS's page,
    # which offers the way back, not redirected at once (RFC 9700 §4.11.2).
    Case("authorize-challenge-newline", "RFC 7636 §4.2: 43-128 unreserved characters, all of them", "GET", "/authorize", 400,
         "invalid_request", "43-128 unreserved", params=_authorize(code_challenge=CHALLENGE + "\n")),
    Case("authorize-resource-bare-query", "RFC 8707 §2: the resource is compared as written", "GET", "/authorize", 400,
         "invalid_target", "is not a protected resource", params=_authorize(resource=MCP_URL + "?")),
    Case("authorize-resource-tab", "RFC 3986 §2: a URI has no control characters", "GET", "/authorize", 400,
         "invalid_target", "printable ASCII", params=_authorize(resource=MCP_URL.replace("/mcp", "/m\tcp"))),
    Case("authorize-resource-leading-space", "RFC 3986 §2: a URI has no spaces", "GET", "/authorize", 400,
         "invalid_target", "printable ASCII", params=_authorize(resource=" " + MCP_URL)),
    Case("authorize-state-9000", "lab limit: a parameter <= 8192 characters (it is stored and echoed)", "GET", "/authorize", 400,
         "invalid_request", "the limit is 8192", params=_authorize(state="s" * 9000)),
    Case("authorize-state-8193", "lab limit: a parameter <= 8192 characters, 8193 is one too many", "GET", "/authorize", 400,
         "invalid_request", "is 8193 characters long; the limit is 8192", params=_authorize(state="s" * 8193)),
    Case("authorize-delete", "RFC 9110 §15.5.6: the authorization endpoint is GET", "DELETE", "/authorize", 405,
         "invalid_request", "use GET, HEAD"),
    # POST /token (OAuth 2.1 §3.2) ------------------------------------------------------------------
    Case("token-get", "OAuth 2.1 §3.2: the token endpoint is POST", "GET", "/token", 405, "invalid_request", "use POST"),
    Case("token-verifier-newline", "RFC 7636 §4.1: 43-128 unreserved characters, all of them", "POST", "/token", 400,
         "invalid_grant", "43-128 unreserved", form=_redeem(code_verifier="v" * 128 + "\n")),
    Case("token-resource-bare-query", "RFC 8707 §2: the resource is compared as written", "POST", "/token", 400,
         "invalid_target", "is not a protected resource", form=_redeem(resource=MCP_URL + "?")),
    Case("token-assertion-header-nested", "RFC 8259 §9: the lab's parser limits nesting", "POST", "/token", 401,
         "invalid_client", "header is nested deeper",
         form={"grant_type": "authorization_code", "code": "x", "client_assertion_type": ASSERTION_TYPE,
               "client_assertion": f"{_b64(b'[' * 2000 + b']' * 2000)}.e30.c2ln"}),
    Case("token-assertion-9000", "lab limit: a parameter <= 8192 characters", "POST", "/token", 400, "invalid_request",
         "the limit is 8192", form={"grant_type": "authorization_code", "code": "x", "client_assertion": "e" * 9000}),
    Case("token-client-id-5kb", "lab limit: client_id <= 2048 characters, refused before any fetch", "POST", "/token", 401,
         "invalid_client", "longer than 2048", form=_redeem(client_id="https://app.example/" + "a" * 5000)),
    # Everything else ------------------------------------------------------------------------------
    Case("unknown-path", "RFC 8414 §2: the endpoints are listed in the metadata", "GET", "/admin", 404, "invalid_request", "no endpoint"),
    Case("jwks-post", "RFC 9110 §15.5.6: the key set is GET", "POST", "/jwks.json", 405, "invalid_request", "use GET, HEAD"),
    Case("decision-get", "RFC 9110 §15.5.6: the consent form posts", "GET", "/authorize/decision", 405, "invalid_request", "use POST"),
    Case("logo-unknown-client", "only a stored raster logo is served", "GET", "/clients/tpc_unknown/logo", 404,
         "invalid_request", "no logo is stored"),
]  # fmt: skip


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The error and description, from a JSON body, an error page, or a redirect's query."""
    if response.status_code == 302:
        query = httpx.URL(response.headers["location"]).params
        return query.get("error", ""), query.get("error_description", "")
    if response.headers.get("content-type", "").startswith("text/html"):
        fields = dict(re.findall(r'data-field="(error|error_description)">([^<]*)<', response.text))
        return fields.get("error", ""), fields.get("error_description", "")
    body = response.json()
    assert set(body) <= {"error", "error_description", "error_uri"}, body  # RFC 6749 §5.2
    return body["error"], body["error_description"]


def _state(lab: Lab) -> dict[str, Any]:
    server = lab.auth_server
    # The lab's own valid document may be cached: a request at fault does not make it invalid.
    return {"records": dict(lab.registrations), "cached": [u for u in lab.cimd_cache if u != CLIENT_METADATA_URL],
            "pending": dict(server.pending), "codes": sorted(server.codes), "refresh": len(server.refresh_tokens),
            "issued": len(server.issued), "assertions": dict(server.seen_assertions)}  # fmt: skip


def _fetches(lab: Lab) -> int:
    return len([e for e in lab.trace if e.caller == "auth.example.com"])


async def _send(lab: Lab, case: Case) -> httpx.Response:
    for path, response in case.served.items():
        lab.metadata_hosts["app.example"].publish_response(path, response)
    form = case.form
    if form is not None and "{code}" in form.values():
        code = await get_code(lab, CLIENT_METADATA_URL, redirect_uri=APP_REDIRECT)
        form = {k: code if v == "{code}" else v for k, v in form.items()}
    state = {**_state(lab), "fetches": _fetches(lab)}
    async with lab.httpx_client("attacker") as http:
        response = await http.request(
            case.method, f"{ISSUER}{case.path}", json=case.json, content=case.content, params=case.params, data=form,
            headers={"content-type": "application/json"} if case.content is not None else None,
        )  # fmt: skip
    response.extensions["state_before"] = state
    return response


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
async def test_a_hostile_request_gets_its_rule_and_leaves_no_state(case: Case) -> None:
    async with Lab(seed=0, policy=HARDENED) as lab:
        response = await _send(lab, case)
        error, description = _error_of(response)
        assert (response.status_code, error) == (case.status, case.error), (response.status_code, error, description)
        assert case.says in description, description
        assert description.isascii() and len(description) <= 600
        # Nothing is left behind (a code is spent by any attempt to redeem it: single use, OAuth 2.1 §4.1.3).
        before = response.extensions["state_before"]
        assert _state(lab) == {k: v for k, v in before.items() if k != "fetches"}
        if "longer than 2048" in case.says:
            assert _fetches(lab) == before["fetches"]  # refused before anything was fetched


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
async def test_the_naive_policy_may_accept_a_hostile_request_but_never_answers_5xx(case: Case) -> None:
    async with Lab(seed=0, policy=NAIVE) as lab:
        response = await _send(lab, case)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            _error_of(response)  # still a well-formed OAuth error


@pytest.mark.parametrize("path", ["/token", "/register", "/revoke", "/introspect", "/authorize/decision"])
async def test_a_head_to_a_post_endpoint_gets_the_content_length_a_get_would_have(path: str) -> None:
    # RFC 9110 §9.3.2: HEAD is answered with the header fields GET would have had; §8.6: a server
    # MUST NOT send a Content-Length in it unless that is the length GET's content would have been.
    async with Lab(seed=0) as lab, lab.httpx_client() as http:
        get = await http.get(f"{ISSUER}{path}")
        head = await http.head(f"{ISSUER}{path}")
    assert head.status_code == get.status_code == 405 and head.headers["allow"] == get.headers["allow"]
    assert head.headers["content-length"] == get.headers["content-length"]
    # §9.3.2: "The server MUST NOT send content in the response" (h11 drops it on a socket; so does
    # the lab network in process).
    assert get.content and head.content == b""
