"""Property-based fuzzing with the values that broke the servers before: the whole of Unicode
(lone surrogates, bidi controls, NUL), deep nesting and huge values, at every endpoint of the
authorization server. Whatever arrives, the answer is a success or a well-formed OAuth error,
never a 5xx; and a refused request leaves no record, cached document or pending consent behind.
Bounded for CI: a fixed number of examples per property, no deadline."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab_servers import CLIENT_METADATA_URL, HARDENED, ISSUER, MCP_URL, NAIVE, Lab, default_client_metadata
from lab_servers.metadata_host import HostedResponse

from .helpers import CHALLENGE, VERIFIER
from .oauth_checks import assert_well_formed
from .registered_clients import PUBLIC_CLIENT as DCR
from .test_fuzz_authorization_server import AUTHORIZE_PARAMETERS

pytestmark = pytest.mark.anyio

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
POLICIES = st.sampled_from([HARDENED, NAIVE])
REDIRECT = DCR["redirect_uris"][0]

# Every code point, surrogates included, and the ones known to cause trouble, often.
SPECIALS = [
    "\ud800",
    "\udfff",
    "\ud83d",
    "\x00",
    "\u202e",
    "\u2066",
    "\u200b",
    "\ufeff",
    "\uffff",
    "\U0010ffff",
    "\n",
    "\t",
    "\\",
    '"',
]
wide_char = st.characters(exclude_categories=()) | st.sampled_from(SPECIALS)
wide_text = st.text(wide_char, max_size=40) | st.sampled_from(
    ["%00", "%ED%A0%80", "https://app.example/\u202e", "a\x00b"]
)
huge_text = st.sampled_from(["x", "\u202e", "[", "é"]).flatmap(lambda c: st.integers(300, 40_000).map(lambda n: c * n))
hostile_text = wide_text | huge_text
nested = st.integers(9, 3_000).flatmap(lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n]))
huge_number = st.sampled_from(["1e999", "-1e999", "9" * 5000, "1" + "0" * 400, "NaN", "Infinity", "-0.0e-99999"])


def _raw_json_value() -> st.SearchStrategy[str]:
    """A JSON text fragment: encoded wide strings (surrogates as escapes), nesting, huge numbers."""
    escaped = wide_text.map(json.dumps)  # ensure_ascii: a lone surrogate becomes "\ud800"
    return escaped | nested | huge_number | huge_text.map(json.dumps)


METADATA_FIELDS = ["client_name", "redirect_uris", "token_endpoint_auth_method", "grant_types", "logo_uri", "jwks", "jwks_uri",
                   "scope", "contacts", "client_uri", "software_id", "client_id", "client_secret", "x_unknown"]  # fmt: skip


def _form(items: list[tuple[str, str]]) -> bytes:
    # quote with surrogatepass: a lone surrogate travels as the bytes ED A0 80, as an attacker would send it.
    return "&".join(f"{quote(k, errors='surrogatepass')}={quote(v, errors='surrogatepass')}" for k, v in items).encode()


def _state(lab: Lab) -> tuple[int, list[str], int]:
    return len(lab.registrations), sorted(lab.cimd_cache), len(lab.auth_server.pending)


@FUZZ
@given(field=st.sampled_from(METADATA_FIELDS), value=_raw_json_value(), as_list=st.booleans(), policy=POLICIES)
async def test_register_with_wide_unicode_deep_or_huge_values_answers_201_or_a_well_formed_error(
    field: str, value: str, as_list: bool, policy: Any
) -> None:
    body = json.dumps(DCR)[:-1] + f", {json.dumps(field)}: {'[' + value + ']' if as_list else value}}}"
    async with Lab(seed=0, policy=policy) as lab, lab.httpx_client("fuzzer") as http:
        response = await http.post(
            f"{ISSUER}/register",
            content=body.encode("utf-8", "surrogatepass"),
            headers={"content-type": "application/json"},
        )
        assert_well_formed(response)
        assert len(lab.registrations) == (1 if response.status_code == 201 else 0)
        if response.status_code == 201:  # what was stored can be shown: the consent page renders
            page = await http.get(f"{ISSUER}/authorize", params={"response_type": "code", "client_id": response.json()["client_id"],
                                  "redirect_uri": REDIRECT, "code_challenge": CHALLENGE, "code_challenge_method": "S256", "resource": MCP_URL})  # fmt: skip
            assert page.status_code in (200, 302, 400), page.text[:300]


@FUZZ
@given(body=nested.map(str.encode) | st.binary(max_size=300) | huge_text.map(lambda t: t.encode()), policy=POLICIES)
async def test_register_with_any_raw_body_answers_a_well_formed_error(body: bytes, policy: Any) -> None:
    async with Lab(seed=0, policy=policy) as lab, lab.httpx_client("fuzzer") as http:
        response = await http.post(f"{ISSUER}/register", content=body, headers={"content-type": "application/json"})
    assert_well_formed(response)
    # 413 past the AS's streaming body cap (lab_servers.body_limit), 400 below it.
    assert response.status_code in (400, 413) and lab.registrations == {}


@FUZZ
@given(
    name=st.sampled_from(AUTHORIZE_PARAMETERS), value=wide_text | huge_text.map(lambda t: t[:6000]), policy=POLICIES
)  # httpx caps URLs at 64 KB
async def test_authorize_with_a_hostile_parameter_never_answers_5xx(name: str, value: str, policy: Any) -> None:
    params = {"response_type": "code", "client_id": CLIENT_METADATA_URL, "redirect_uri": REDIRECT, "code_challenge": CHALLENGE,
              "code_challenge_method": "S256", "resource": MCP_URL, "state": "s", name: value}  # fmt: skip
    async with Lab(seed=0, policy=policy) as lab, lab.httpx_client("browser") as http:
        response = await http.get(f"{ISSUER}/authorize?" + _form(list(params.items())).decode())
        assert_well_formed(response)
        if response.status_code != 200:
            assert lab.auth_server.pending == {}


@FUZZ
@given(
    field=st.sampled_from(["client_name", "redirect_uris", "client_id", "jwks", "logo_uri", "grant_types"]),
    value=_raw_json_value(),
    policy=POLICIES,
)
async def test_a_cimd_document_with_hostile_values_is_judged_without_5xx_and_refused_ones_are_not_cached(
    field: str, value: str, policy: Any
) -> None:
    document = {k: v for k, v in default_client_metadata().items() if k != field}
    body = (json.dumps(document)[:-1] + f", {json.dumps(field)}: {value}}}").encode("utf-8", "surrogatepass")
    async with Lab(seed=0, policy=policy) as lab, lab.httpx_client("browser") as http:
        lab.metadata_hosts["app.example"].publish_response(
            "/client.json", HostedResponse(body, 200, {"content-type": "application/json"})
        )
        response = await http.get(f"{ISSUER}/authorize", params={"response_type": "code", "client_id": CLIENT_METADATA_URL,
                                  "redirect_uri": REDIRECT, "code_challenge": CHALLENGE, "code_challenge_method": "S256", "resource": MCP_URL})  # fmt: skip
        assert_well_formed(response)
        if response.status_code == 400:
            assert CLIENT_METADATA_URL not in lab.cimd_cache and lab.auth_server.pending == {}


TOKEN = ["grant_type", "code", "client_id", "redirect_uri", "code_verifier", "resource", "refresh_token", "scope", "client_secret",
         "client_assertion", "client_assertion_type"]  # fmt: skip


def _assertion(header: str, claims: str) -> str:
    return (
        ".".join(
            base64.urlsafe_b64encode(p.encode("utf-8", "surrogatepass")).rstrip(b"=").decode() for p in (header, claims)
        )
        + ".c2ln"
    )


@FUZZ
@given(
    name=st.sampled_from(TOKEN),
    value=hostile_text | st.builds(_assertion, _raw_json_value(), _raw_json_value()),
    basic=st.none() | hostile_text,
    policy=POLICIES,
)
async def test_token_with_a_hostile_parameter_answers_a_well_formed_error(
    name: str, value: str, basic: str | None, policy: Any
) -> None:
    form = {"grant_type": "authorization_code", "code": "c", "client_id": CLIENT_METADATA_URL, "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER, "resource": MCP_URL, name: value}  # fmt: skip
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if basic is not None:
        headers["authorization"] = "Basic " + base64.b64encode(basic.encode("utf-8", "surrogatepass")).decode()
    async with Lab(seed=0, policy=policy) as lab, lab.httpx_client("client") as http:
        response = await http.post(f"{ISSUER}/token", content=_form(list(form.items())), headers=headers)
    assert_well_formed(response)
    assert response.status_code != 200


@FUZZ
@given(txn=hostile_text, decision=hostile_text | st.sampled_from(["approve", "deny"]), policy=POLICIES)
async def test_the_consent_decision_with_hostile_values_never_answers_5xx(txn: str, decision: str, policy: Any) -> None:
    async with Lab(seed=0, policy=policy) as lab, lab.httpx_client("browser") as http:
        response = await http.post(f"{ISSUER}/authorize/decision", content=_form([("txn", txn), ("decision", decision)]),
                                   headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert_well_formed(response)


@FUZZ
@given(
    path=wide_text | huge_text.map(lambda t: t[:6000]),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
)
async def test_any_path_and_method_answers_a_well_formed_error_or_success(path: str, method: str) -> None:
    async with Lab(seed=0) as lab, lab.httpx_client("client") as http:
        response = await http.request(method, f"{ISSUER}/{quote(path, errors='surrogatepass')}")
    assert_well_formed(response)


@FUZZ
@given(
    path=st.sampled_from(["/revoke", "/introspect"]),
    name=st.sampled_from(["token", "token_type_hint", "client_id", "client_secret", "client_assertion"]),
    value=hostile_text | st.builds(_assertion, _raw_json_value(), _raw_json_value()),
    policy=POLICIES,
)
async def test_revocation_and_introspection_with_hostile_values_answer_well_formed(
    path: str, name: str, value: str, policy: Any
) -> None:
    form = {"token": "t", "client_id": CLIENT_METADATA_URL, name: value}
    async with Lab(seed=0, policy=policy) as lab, lab.httpx_client("client") as http:
        response = await http.post(
            f"{ISSUER}{path}",
            content=_form(list(form.items())),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert_well_formed(response)
        assert lab.auth_server.revoked_jtis == {} and lab.registrations == {}
