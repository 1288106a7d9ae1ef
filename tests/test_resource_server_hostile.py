"""The MCP server under hostile input (issue 7 items 2, 6, 14): no 5xx, nothing read or fetched
that a stranger's request has not earned."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OKPKey

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.client import bearer_challenge
from lab_servers.determinism import LabClock
from lab_servers.resource_server import tokens
from lab_servers.resource_server.server import MAX_MCP_BODY_BYTES
from lab_servers.resource_server.tokens import JWKS_REFRESH_INTERVAL, MAX_TOKEN_CHARS, InvalidToken, TokenValidator

from .helpers import HOSTILE_JWT_HEADERS, assert_oauth_error, jwt_with_header
from .test_resource_server import PRM_URL, TOOLS_LIST, mint, post_mcp

pytestmark = pytest.mark.anyio
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def post_raw(lab: Lab, body: bytes, token: str | None, **headers: str) -> Any:
    sent = {**JSON_HEADERS, **headers, **({"Authorization": f"Bearer {token}"} if token else {})}
    async with lab.httpx_client() as http:
        return await http.post(MCP_URL, content=body, headers=sent)


async def test_deeply_nested_json_with_a_valid_token_is_a_json_rpc_parse_error_naming_the_rule(lab: Lab) -> None:
    response = await post_raw(lab, b"[" * 2000 + b"]" * 2000, mint(lab))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32700
    assert "nested deeper than" in error["message"] and "RFC 8259 §9" in error["message"]


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"x": "\\ud800"}}', "lone surrogate"),
        (b'{"jsonrpc": "2.0", "id": 1e999, "method": "tools/list"}', "out of range"),
        (b"\xff\xfe", "not valid UTF-8"),
        (b"", "not valid JSON"),
    ],
)
async def test_other_hostile_json_rpc_bodies_are_parse_errors(lab: Lab, body: bytes, rule: str) -> None:
    response = await post_raw(lab, body, mint(lab))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700 and rule in response.json()["error"]["message"]


async def test_a_request_without_a_token_gets_no_error_information_in_its_body(lab: Lab) -> None:
    # RFC 6750 §3.1: no credentials → no error code "or other error information".
    response = await post_mcp(lab, TOOLS_LIST)
    assert response.status_code == 401 and response.content == b""
    assert "error" not in response.headers["www-authenticate"]


async def test_the_authorization_header_is_checked_before_a_byte_of_the_body_is_read(lab: Lab) -> None:
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": reads < 100}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "headers": [(b"host", b"mcp.example.com")],
        "query_string": b"",
    }
    await lab.resource_server(scope, receive, send)
    assert sent[0]["status"] == 401
    assert reads == 0


async def test_a_body_over_the_cap_is_refused_with_413_while_it_streams(lab: Lab) -> None:
    async def chunks() -> Any:
        for _ in range(MAX_MCP_BODY_BYTES // 8192 + 2):
            yield b" " * 8192  # no Content-Length: a chunked upload, counted as it arrives

    async with lab.httpx_client() as http:
        response = await http.post(
            MCP_URL, content=chunks(), headers={**JSON_HEADERS, "Authorization": f"Bearer {mint(lab)}"}
        )
    assert response.status_code == 413  # as a JSON-RPC error with a null id, as the endpoint's other refusals
    assert response.json()["id"] is None and response.json()["error"]["code"] == -32600
    assert f"limit of {MAX_MCP_BODY_BYTES} bytes" in response.json()["error"]["message"]


async def test_a_content_length_over_the_cap_is_refused_before_reading(lab: Lab) -> None:
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"", "more_body": reads < 100}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"host", b"mcp.example.com"),
        (b"authorization", f"Bearer {mint(lab)}".encode()),
        (b"content-length", b"500000000"),
    ]
    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers, "query_string": b""}
    await lab.resource_server(scope, receive, send)
    assert sent[0]["status"] == 413 and reads == 0


async def test_a_token_used_before_its_nbf_is_refused(lab: Lab) -> None:
    response = await post_mcp(lab, TOOLS_LIST, mint(lab, nbf=lab.clock.now() + 600))
    assert response.status_code == 401
    assert "RFC 7519 section 4.1.5" in response.json()["error_description"]


async def test_the_same_token_is_accepted_once_its_nbf_has_passed(lab: Lab) -> None:
    token = mint(lab, nbf=lab.clock.now() + 60)
    assert (await post_mcp(lab, TOOLS_LIST, token)).status_code == 401
    lab.clock.advance(60)
    assert (await post_mcp(lab, TOOLS_LIST, token)).status_code == 200


async def test_a_non_numeric_nbf_is_refused(lab: Lab) -> None:
    response = await post_mcp(lab, TOOLS_LIST, mint(lab, nbf="tomorrow"))
    assert response.status_code == 401 and "NumericDate" in response.json()["error_description"]


def forged_kid_token(lab: Lab, kid: str) -> str:
    token = mint(lab)
    header = {"alg": "Ed25519", "typ": "at+jwt", "kid": kid}
    import base64

    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return encoded + token[token.index(".") :]


async def test_tokens_with_unknown_kids_do_not_each_trigger_a_jwks_fetch(lab: Lab) -> None:
    validator = lab.resource_server.validator
    for n in range(20):
        response = await post_mcp(lab, TOOLS_LIST, forged_kid_token(lab, f"bogus-{n}"))
        assert response.status_code == 401
    assert validator.jwks_fetches == 1  # the first fetch; no refresh within the interval
    lab.clock.advance(JWKS_REFRESH_INTERVAL)
    await post_mcp(lab, TOOLS_LIST, forged_kid_token(lab, "bogus-late"))
    assert validator.jwks_fetches == 2  # one refresh once the interval has passed
    assert (await post_mcp(lab, TOOLS_LIST, mint(lab))).status_code == 200


async def test_an_over_long_token_is_refused_without_parsing(lab: Lab) -> None:
    response = await post_mcp(lab, TOOLS_LIST, "a" * 100_000)
    assert response.status_code == 401 and "longer than" in response.json()["error_description"]


async def test_a_token_of_exactly_the_length_limit_is_read_and_one_character_more_is_not() -> None:
    validator = jwks_validator(lambda request: httpx.Response(200, json={"keys": []}))
    with pytest.raises(InvalidToken, match="not a well-formed JWT"):
        await validator.validate("a" * MAX_TOKEN_CHARS)
    with pytest.raises(InvalidToken, match=f"longer than {MAX_TOKEN_CHARS} characters"):
        await validator.validate("a" * (MAX_TOKEN_CHARS + 1))


def jwks_validator(answer: Any) -> TokenValidator:
    """A validator whose AS answers its JWKS request with `answer(request)`."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return TokenValidator(issuer=ISSUER, jwks_uri=f"{ISSUER}/jwks.json", audience=MCP_URL, http=http, clock=LabClock())


@pytest.mark.parametrize(
    ("status", "body", "mention"),
    [
        (503, {"keys": []}, "503"),
        (200, {"error": "not a key set"}, "not a JWK Set (RFC 7517 §5"),
        (200, ["a", "list"], "not a JWK Set (RFC 7517 §5"),
        (200, {"keys": 1}, "not a JWK Set (RFC 7517 §5"),
        (200, {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "!!"}]}, "not a JWK Set (RFC 7517 §5)"),
    ],
    ids=["503", "object-without-keys", "array", "keys-not-an-array", "key-not-base64url"],
)
async def test_a_jwks_that_cannot_be_loaded_makes_the_token_invalid_not_a_500(
    status: int, body: Any, mention: str
) -> None:
    # RFC 6750 §3.1: a token the resource server cannot validate is invalid_token (a 401 with its
    # challenge). A JWKS answer that is an error status, or JSON but no JWK Set (RFC 7517 §5: an
    # object whose "keys" is an array), leaves no key to validate with: the server's answer is
    # still that 401, never an exception out of the validator (a 500).
    validator = jwks_validator(lambda request: httpx.Response(status, json=body))
    header = json.dumps({"alg": "Ed25519", "typ": "at+jwt", "kid": "k1"})
    with pytest.raises(InvalidToken, match="JWKS could not be loaded") as refused:
        await validator.validate(jwt_with_header(header, {"iss": ISSUER}))
    assert mention in str(refused.value)


async def test_a_token_signed_by_any_key_of_a_several_key_jwks_is_accepted_without_a_refetch() -> None:
    # RFC 7517 §5: a JWK Set holds several keys (an AS rolling its key over publishes both); the
    # token's kid picks one. A kid the set holds is no reason to fetch the set again, however
    # long ago it was fetched: only an unknown kid is (and then at most once per interval).
    keys = {kid: OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32), {"kid": kid})
            for n, kid in ((1, "old"), (2, "new"))}  # fmt: skip
    served = {"keys": [key.as_dict(private=False) for key in keys.values()]}
    validator = jwks_validator(lambda request: httpx.Response(200, json=served))

    def signed(kid: str) -> str:
        now = validator.clock.now()
        claims = {"iss": ISSUER, "aud": MCP_URL, "sub": "alice", "client_id": "c", "scope": "notes:read",
                  "exp": now + 60, "jti": kid}  # fmt: skip
        return jwt.encode({"alg": "Ed25519", "typ": "at+jwt", "kid": kid}, claims, keys[kid], algorithms=["Ed25519"])

    assert (await validator.validate(signed("new"))).subject == "alice"
    validator.clock.advance(JWKS_REFRESH_INTERVAL)
    assert (await validator.validate(signed("old"))).subject == "alice"
    assert validator.jwks_fetches == 1


async def test_verified_tokens_are_remembered_up_to_the_bound_and_no_further(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cache of verified tokens is bounded (issue 7: a stranger's requests must not grow the
    # server without limit): once it holds the bound, it is emptied before one more is stored.
    monkeypatch.setattr(tokens, "_MAX_REMEMBERED", 2)
    validator = lab.resource_server.validator
    assert isinstance(validator, TokenValidator)
    for jti in ("j1", "j2", "j3"):
        await validator.validate(mint(lab, jti=jti))
        assert len(validator._verified) <= 2


async def test_a_token_with_a_deeply_nested_payload_is_refused_not_a_500(lab: Lab) -> None:
    # The RS reads the (unverified) payload's iss to pick a validator: a stranger's JSON.
    import base64

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "Ed25519", "typ": "at+jwt", "kid": "x"}).encode())
    token = f"{header}.{b64(b'[' * 2500 + b']' * 2500)}.{b64(b'sig')}"
    response = await post_mcp(lab, TOOLS_LIST, token)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("header", HOSTILE_JWT_HEADERS)
async def test_a_token_whose_header_is_not_a_json_object_is_invalid_token(lab: Lab, header: str) -> None:
    # RFC 7515 §4: the JOSE header is a JSON object. The iss names this server's AS, so the token
    # reaches the full check, not only the choice of validator.
    token = jwt_with_header(header, {"iss": ISSUER, "aud": MCP_URL, "exp": lab.clock.now() + 60})
    response = await post_mcp(lab, TOOLS_LIST, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "token header is a JSON" in response.json()["error_description"]
    challenge = bearer_challenge(response.headers["www-authenticate"])
    assert challenge is not None and challenge.get("error") == "invalid_token"
    assert challenge.get("resource_metadata") == PRM_URL  # RFC 9728 §5.1: the client can rediscover


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_protected_resource_metadata_answers_only_get(lab: Lab, method: str) -> None:
    async with lab.httpx_client() as http:
        response = await http.request(
            method, "https://mcp.example.com/.well-known/oauth-protected-resource/mcp", content=b"x"
        )
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


# A path or a method the server does not serve: the status RFC 9110 gives, and a JSON error ---------
# (the MCP endpoint's own refusals are JSON-RPC errors: test_resource_server_transport)

WRONG_ROUTES = [
    pytest.param("GET", "https://mcp.example.com/admin", 404, "no endpoint at /admin", None, id="rs-unknown-path"),
    pytest.param("POST", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp", 405,
                 "RFC 9728 section 3.1", "GET, HEAD", id="rs-post-metadata"),
    pytest.param("GET", "https://app.example/nothing.json", 404, "nothing published at /nothing.json", None,
                 id="metadata-host-unknown-path"),
    pytest.param("POST", "https://app.example/client.json", 405, "use GET, HEAD", "GET, HEAD",
                 id="metadata-host-post-document"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "url", "status", "mention", "allow"), WRONG_ROUTES)
async def test_a_wrong_path_or_method_is_a_json_error_naming_the_rule_never_plain_text(
    lab: Lab, method: str, url: str, status: int, mention: str, allow: str | None
) -> None:
    headers = {"Accept": "application/json, text/event-stream"}
    async with lab.httpx_client() as http:
        response = await http.request(method, url, headers=headers)
    assert response.status_code == status and response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "invalid_request" and mention in response.json()["error_description"]
    assert response.headers.get("allow") == allow


def with_typ(lab: Lab, typ: str) -> str:
    """A token the AS's own key signs, with another spelling of `typ` (the AS always writes at+jwt)."""
    from joserfc import jwt

    keys = lab.auth_server.keys
    now = lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "aud": MCP_URL, "client_id": "tpc_x", "scope": "notes:read",
              "iat": now, "exp": now + 900, "jti": "j"}  # fmt: skip
    return jwt.encode({"alg": "Ed25519", "typ": typ, "kid": keys.kid}, claims, keys._key, algorithms=["Ed25519"])


@pytest.mark.parametrize("typ", ["application/at+jwt", "AT+JWT", "Application/At+Jwt"])
async def test_typ_is_compared_as_a_media_type(lab: Lab, typ: str) -> None:
    # RFC 9068 §4: the RS MUST accept "at+jwt" or "application/at+jwt"; RFC 7515 §4.1.9: typ is a
    # media type, "application/" may be omitted, and media type names are case-insensitive.
    assert (await post_mcp(lab, TOOLS_LIST, with_typ(lab, typ))).status_code == 200


@pytest.mark.parametrize("typ", ["JWT", "application/jwt", "text/at+jwt", "at+jwt; x=1"])
async def test_any_other_typ_is_refused(lab: Lab, typ: str) -> None:
    response = await post_mcp(lab, TOOLS_LIST, with_typ(lab, typ))
    assert response.status_code == 401 and "RFC 9068" in response.json()["error_description"]


# An introspecting MCP server does not take the AS's word for more than it says (RFC 7662 §2.2) -----


@pytest.mark.parametrize(
    ("answer", "mention"),
    [
        pytest.param({"active": 1}, "not active", id="active-1"),
        pytest.param({"active": "true"}, "not active", id="active-string"),
        pytest.param({"active": True, "aud": "https://other.example/mcp"}, "audience", id="another-audience"),
        pytest.param({"active": True}, "the token names no audience", id="no-audience"),
        pytest.param({"active": True, "aud": [MCP_URL, "https://other.example/mcp"]}, "audience", id="another-beside"),
    ],
)
async def test_an_introspection_answer_is_accepted_only_when_active_is_true_and_the_audience_is_this_server(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, answer: dict, mention: str
) -> None:
    # RFC 7662 §2.2: active is a boolean, and only `true` means active; MCP §9.2: a token whose
    # audience is not this server is refused even when its AS vouches for it (no passthrough).
    from lab_servers.authorization_server import server as as_server
    from lab_servers.story import use_introspection

    async def hostile_answer(*args: object) -> dict:
        return {"client_id": "tpc_x", "sub": "alice", "scope": "notes:read", "iss": ISSUER, **answer}

    use_introspection(lab)
    monkeypatch.setattr(as_server, "introspection_request", hostile_answer)
    response = await post_raw(lab, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode(), "opaque")
    assert response.status_code == 401 and mention in response.json()["error_description"], response.text
    # The same answer, said properly, is accepted; RFC 7662 §2.2: aud is a string or a list of them.
    for aud in (MCP_URL, [MCP_URL]):
        answer.update(active=True, aud=aud)
        response = await post_raw(
            lab, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode(), "opaque"
        )
        assert response.status_code == 200, response.text


async def tools_list_introspected_by(lab: Lab, answer: Callable[[httpx.Request], httpx.Response]) -> httpx.Response:
    """A tools/list with a valid token, at an MCP server whose AS answers its introspection request so."""
    from lab_servers.story import use_introspection

    use_introspection(lab).http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    return await post_raw(lab, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode(), mint(lab))


@pytest.mark.parametrize(
    ("answer", "mention"),
    [
        pytest.param(httpx.Response(401, json={"error": "invalid_client"}), "refused to introspect (401)", id="refused"),
        pytest.param(httpx.Response(200, text="<html>"), "not usable: the introspection response is not valid JSON", id="html"),
        pytest.param(httpx.Response(200, json=["active"]), "not a JSON object (RFC 7662 section 2.2)", id="array"),
    ],
)  # fmt: skip
async def test_an_introspection_answer_that_is_no_introspection_response_leaves_the_token_refused(
    lab: Lab, answer: httpx.Response, mention: str
) -> None:
    # RFC 7662 §2.2: the answer is a JSON object with `active`; §2.3: an error status is about the
    # request, not the token. Either way the token is unchecked, so refused, naming why.
    response = await tools_list_introspected_by(lab, lambda request: answer)
    assert_oauth_error(response, 401, "invalid_token", mention)


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("connection refused"), httpx.ReadTimeout("no answer in time")],
    ids=["refused", "timed-out"],
)
async def test_an_introspecting_server_whose_as_cannot_be_reached_refuses_the_token_naming_why_not_a_500(
    lab: Lab, failure: httpx.HTTPError
) -> None:
    # The token cannot be checked, so it is refused as when the JWKS cannot be loaded (RFC 6750
    # §3.1, invalid_token, with the challenge a client re-authorizes from): the exception the
    # AS's silence raised went out of the gate as a 500 "Internal Server Error".
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise failure

    response = await tools_list_introspected_by(lab, unreachable)
    assert response.status_code == 401 and "invalid_token" in response.headers["www-authenticate"]
    assert response.json()["error_description"] == (
        f"the authorization server's introspection endpoint could not be reached ({type(failure).__name__}: "
        f"{failure}); the token cannot be checked"
    )


@pytest.mark.parametrize(
    ("aud", "status"),
    [
        pytest.param([MCP_URL], 200, id="this-server-in-an-array-of-one"),
        pytest.param([MCP_URL, "https://other.example/mcp"], 401, id="this-server-and-another"),
        pytest.param([], 401, id="an-empty-array"),
        pytest.param(["https://other.example/mcp"], 401, id="another-in-an-array"),
        # MCP §8.1: https://mcp.example.com/mcp/ is another URI than the canonical one, and the
        # server answers there as another URL; a token for it is not one for this server.
        pytest.param(MCP_URL + "/", 401, id="this-server-with-a-slash-added"),
        pytest.param([MCP_URL + "/"], 401, id="this-server-with-a-slash-added-in-an-array"),
    ],
)
async def test_the_audience_is_this_server_alone_as_a_string_or_an_array_of_one(
    lab: Lab, aud: Any, status: int
) -> None:
    # RFC 7519 §4.1.3: one audience MAY be a single string, so an array of one says the same, and
    # RFC 9068 §4 asks only that aud contain the server. A token naming another audience beside it
    # could be replayed there: the lab accepts only a token issued for this server (MCP §9.2).
    response = await post_mcp(lab, TOOLS_LIST, mint(lab, aud=aud))
    assert response.status_code == status, response.text
    if status == 401:
        assert "is not this server" in response.json()["error_description"]


async def test_a_token_that_names_no_audience_is_refused_by_the_audience_rule_not_as_passthrough(lab: Lab) -> None:
    # MCP §9.2 / RFC 8707: only a token issued for this server as its audience is accepted. One
    # that names none was minted for no resource; "token passthrough" (a token for another) was
    # not the rule it broke, though the refusal said so.
    now = lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "client_id": "tpc_x", "scope": "notes:read", "iat": now, "exp": now + 900}
    response = await post_mcp(lab, TOOLS_LIST, lab.auth_server.keys.sign_access_token({**claims, "jti": "j"}))
    assert_oauth_error(response, 401, "invalid_token", "the token names no audience", "(MCP section 9.2, RFC 8707")
    assert "passthrough" not in response.json()["error_description"]


async def test_a_long_value_reflected_into_a_json_rpc_refusal_is_cut_keeping_the_rule(lab: Lab) -> None:
    # JSON-RPC 2.0 §5.1: "The message SHOULD be limited to a concise single sentence". The MCP
    # endpoint's HTTP-level refusals quoted a Host, an Origin, a Content-Type or a coding whole
    # (16 KB served, the head's limit; any length in process), where every other refusal is cut.
    long = "x" * 5_000
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}
    bearer = {
        "Authorization": f"Bearer {(await lab.connect('cimd')).access_token}",
        "Accept": "application/json, text/event-stream",
    }
    async with lab.httpx_client("client") as http:
        refusals = [
            await http.post(MCP_URL, json=call, headers={**bearer, "Host": f"{long}.example"}),
            await http.post(MCP_URL, json=call, headers={**bearer, "Origin": f"https://{long}.example"}),
            await http.post(MCP_URL, content=b"{}", headers={**bearer, "Content-Type": long}),
        ]
    assert [r.status_code for r in refusals] == [421, 403, 415]
    for refusal in refusals:
        message = refusal.json()["error"]["message"]
        assert len(message) <= 600 and "[...]" in message, message
        assert message.endswith(("§15.5.20)", "DNS-rebinding protection)", "(RFC 9110 §15.5.16)")), message
