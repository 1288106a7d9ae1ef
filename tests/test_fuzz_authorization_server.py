"""Property-based fuzzing: whatever arrives, the authorization server answers with an OAuth
error (or an error page), never a 500 and never an unhandled exception. Bounded for CI: each
property runs a fixed number of examples with no deadline."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab_servers import HARDENED, NAIVE, Lab
from lab_servers.authorization_server import OAuthError
from lab_servers.authorization_server.cimd import (
    cache_lifetime,
    check_client_id_url,
    check_document,
    check_document_urls,
)
from lab_servers.metadata_host import HostedResponse
from lab_servers.security import valid_document
from lab_servers.security.cimd_rules import DOCUMENT_URL
from lab_servers.security.network_fixtures import add_internal_network
from lab_servers.security.requests import CODE_CHALLENGE, CODE_VERIFIER

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
POLICIES = st.sampled_from([HARDENED, NAIVE])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
hostile_urls = st.builds(
    lambda scheme, userinfo, host, port, path, query, fragment: f"{scheme}{userinfo}{host}{port}{path}{query}{fragment}",
    st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "", "https:", "javascript:", "https:\\\\"]),
    st.sampled_from(["", "user@", "user:pw@", "@"]),
    st.sampled_from(["evil.example", "app.example", "EVIL.example", "127.0.0.1", "[::1]", "[::ffff:a00:5]", "169.254.169.254",
                     "private.evil.example", "rebind.evil.example", "2130706433", "0x7f.1", "nonexistent.example", "", "[", "ex ample"])
    | st.text(max_size=12),
    st.sampled_from(["", ":443", ":0", ":99999", ":x", ":"]),
    st.sampled_from(["/client.json", "/", "", "/a/../client.json", "/%2e%2e/x", "/%252e/"]) | st.text("/.%2eE5c@#?\\ ab\t\n\x00é", max_size=20),
    st.sampled_from(["", "?", "?a=1"]),
    st.sampled_from(["", "#", "#x"]),
)  # fmt: skip
metadata_fields = st.sampled_from([
    "client_id", "client_name", "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "jwks",
    "jwks_uri", "logo_uri", "sector_identifier_uri", "client_secret", "client_secret_expires_at", "scope", "contacts",
    "application_type", "software_statement", "client_uri",
])  # fmt: skip
mutated_documents = st.builds(
    lambda changes, drops: {**{k: v for k, v in valid_document().items() if k not in drops}, **changes},
    st.dictionaries(metadata_fields | st.text(max_size=8), json_values | hostile_urls, max_size=5),
    st.sets(metadata_fields, max_size=3),
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


async def _lab(policy=HARDENED) -> Lab:
    lab = Lab(policy=policy)
    add_internal_network(lab)
    lab.metadata_hosts["evil.example"].publish("/client.json", valid_document())
    return lab


# What authlib's RFC 7591 validator says ("Invalid claim: 'jwks'"), and the lab's fallbacks quoting
# it or a Python exception: none of them names a rule, so none may reach a client.
LIBRARY_WORDS = re.compile(r"Invalid claim|value not accepted|client metadata not accepted")


def _assert_oauth_error_or_success(response: Any, success: tuple[int, ...]) -> None:
    assert response.status_code < 500, response.text
    if response.status_code not in success:
        body = response.json()
        assert isinstance(body.get("error"), str) and isinstance(body.get("error_description"), str), body
        assert body["error_description"].isascii()
        assert not LIBRARY_WORDS.search(body["error_description"]), body


# The validators, called directly ------------------------------------------------------------


@FUZZ
@given(url=hostile_urls | st.text(max_size=60), policy=POLICIES)
def test_the_client_id_url_validator_raises_nothing_but_oauth_errors(url: str, policy) -> None:
    try:
        check_client_id_url(url, policy)
    except OAuthError as error:
        assert error.error == "invalid_client" and error.description


@FUZZ
@given(document=mutated_documents | json_values, policy=POLICIES)
def test_the_document_validator_raises_nothing_but_oauth_errors(document: Any, policy) -> None:
    lab = Lab(policy=policy)
    add_internal_network(lab)
    try:
        checked = check_document(DOCUMENT_URL, document, policy, lab.auth_server.metadata())
        check_document_urls(checked, policy, lab.network.dns.resolve_all)
    except OAuthError as error:
        assert error.error == "invalid_client" and error.description
        assert not LIBRARY_WORDS.search(error.description), error.description


@FUZZ
@given(
    cache_control=st.none() | header_text | st.text(max_size=30),
    other=st.dictionaries(st.sampled_from(["age", "expires", "date", "vary"]), header_text | st.text(max_size=30)),
    now=st.integers(0, 2**33),
    policy=POLICIES,
)
def test_any_caching_headers_give_a_lifetime_within_the_policys_bounds(
    cache_control: str | None, other: dict[str, str], now: int, policy
) -> None:
    assert 0 <= cache_lifetime(cache_control, policy, **other, now=now) <= policy.max_cache_seconds


# Every endpoint, over the lab network ----------------------------------------------------------


@FUZZ
@given(body=st.one_of(mutated_documents, json_values, st.binary(max_size=200)), policy=POLICIES)
async def test_register_answers_201_or_an_oauth_error(body: Any, policy) -> None:
    async with await _lab(policy) as lab, lab.httpx_client("fuzzer") as http:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = await http.post(
            f"{lab.issuer}/register", content=content, headers={"content-type": "application/json"}
        )
    _assert_oauth_error_or_success(response, (201,))
    assert len(lab.registrations) == (1 if response.status_code == 201 else 0)


AUTHORIZE_PARAMETERS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
    "state",
    "resource",
    "scope",
]


@FUZZ
@given(
    client_id=hostile_urls,
    overrides=st.lists(
        st.tuples(st.sampled_from(AUTHORIZE_PARAMETERS) | st.text(max_size=6), st.text(max_size=30) | hostile_urls),
        max_size=4,
    ),
    policy=POLICIES,
)
async def test_authorize_shows_consent_an_error_page_or_redirects_never_a_500(
    client_id: str, overrides: list, policy
) -> None:
    params = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", "https://evil.example/callback"),
              ("code_challenge", CODE_CHALLENGE), ("code_challenge_method", "S256"), ("resource", "https://mcp.example.com/mcp")]  # fmt: skip
    async with await _lab(policy) as lab, lab.httpx_client("browser") as http:
        response = await http.get(f"{lab.issuer}/authorize?" + urlencode(params + overrides))
    assert response.status_code in (200, 302, 400), response.text
    if response.status_code == 400:
        assert 'data-field="error"' in response.text
    requested = {value for key, value in params + overrides if key == "client_id"}
    assert set(lab.cimd_cache) <= requested  # documents are cached under the exact id, or not at all
    assert lab.registrations == {}


@FUZZ
@given(
    status=st.sampled_from([200, 200, 200, 201, 204, 301, 302, 404, 500]),
    content_type=st.sampled_from(["application/json", "application/cimd+json", "text/html", ""]) | header_text,
    cache_control=st.none() | header_text,
    location=st.none() | hostile_urls.filter(str.isascii),
    body=st.one_of(mutated_documents.map(lambda d: json.dumps(d).encode()), st.binary(max_size=300)),
    policy=POLICIES,
)
async def test_any_document_response_is_judged_without_a_500_and_only_valid_ones_are_cached(
    status: int, content_type: str, cache_control: str | None, location: str | None, body: bytes, policy
) -> None:
    headers = {"content-type": content_type}
    if cache_control is not None:
        headers["cache-control"] = cache_control
    if location is not None:
        headers["location"] = location.replace("\n", "").replace("\t", "")
    async with await _lab(policy) as lab, lab.httpx_client("browser") as http:
        lab.metadata_hosts["evil.example"].publish_response("/client.json", HostedResponse(body, status, headers))
        params = {"response_type": "code", "client_id": DOCUMENT_URL, "redirect_uri": "https://evil.example/callback",
                  "code_challenge": CODE_CHALLENGE, "code_challenge_method": "S256", "resource": "https://mcp.example.com/mcp"}  # fmt: skip
        response = await http.get(f"{lab.issuer}/authorize?" + urlencode(params))
    assert response.status_code in (200, 302, 400), response.text
    if response.status_code == 400 and "client metadata document rejected" in response.text:
        assert DOCUMENT_URL not in lab.cimd_cache


@FUZZ
@given(
    form=st.lists(
        st.tuples(st.sampled_from(["txn", "decision"]) | st.text(max_size=6), st.text(max_size=20)), max_size=4
    ),
    policy=POLICIES,
)
async def test_the_consent_decision_never_fails_with_a_500(form: list, policy) -> None:
    async with await _lab(policy) as lab, lab.httpx_client("browser") as http:
        response = await http.post(f"{lab.issuer}/authorize/decision", data=dict(form) if form else None)
    assert response.status_code in (303, 400), response.text


TOKEN_PARAMETERS = ["grant_type", "code", "client_id", "redirect_uri", "code_verifier", "resource", "refresh_token", "scope",
                    "client_secret", "client_assertion", "client_assertion_type"]  # fmt: skip


@FUZZ
@given(
    form=st.lists(
        st.tuples(st.sampled_from(TOKEN_PARAMETERS), st.text(max_size=40) | hostile_urls | st.just(CODE_VERIFIER)),
        max_size=6,
    ),
    authorization=st.none() | st.builds(lambda t: "Basic " + t, header_text) | header_text,
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "multipart/form-data", ""]),
    policy=POLICIES,
)
async def test_token_answers_tokens_or_an_oauth_error(
    form: list, authorization: str | None, content_type: str, policy
) -> None:
    headers = {"content-type": content_type}
    if authorization is not None:
        headers["authorization"] = authorization
    async with await _lab(policy) as lab, lab.httpx_client("client") as http:
        response = await http.post(f"{lab.issuer}/token", content=urlencode(form).encode(), headers=headers)
    _assert_oauth_error_or_success(response, (200,))


@FUZZ
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    path=st.sampled_from(
        [".well-known/oauth-authorization-server", ".well-known/openid-configuration", "jwks.json", "clients/x/logo"]
    )
    | st.text(max_size=30),
    query=st.text(max_size=20),
)
async def test_metadata_and_other_paths_never_answer_a_500(method: str, path: str, query: str) -> None:
    async with await _lab() as lab, lab.httpx_client("client") as http:
        response = await http.request(method, f"{lab.issuer}/{quote(path)}?{quote(query)}")
    assert response.status_code < 500, response.text
