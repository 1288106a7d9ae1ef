"""The MCP server's gate (MCP §4.2, §9.2, §10; RFC 6750 §3; RFC 9728)."""

from __future__ import annotations

import json

import httpx
import pytest

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.client import bearer_challenge
from lab_servers.resource_server import rfc6750

pytestmark = pytest.mark.anyio
PRM_URL = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


async def post_mcp(lab: Lab, message: dict, token: str | None = None, url: str = MCP_URL):
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with lab.httpx_client() as http:
        return await http.post(url, content=json.dumps(message), headers=headers)


def mint(lab: Lab, **changes: object) -> str:
    now = lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "aud": MCP_URL, "client_id": "tpc_x", "scope": "notes:read",
              "iat": now, "exp": now + 900, "jti": "j"}  # fmt: skip
    claims.update(changes)
    return lab.auth_server.keys.sign_access_token(claims)


async def post_tools_list_with(lab: Lab, credentials: bytes) -> httpx.Response:
    """A tools/list with `credentials` as the Authorization field, a valid token where it says TOKEN."""
    token = mint(lab).encode()
    async with lab.httpx_client() as http:
        return await http.post(MCP_URL, content=json.dumps(TOOLS_LIST), headers={
            "Authorization": credentials.replace(b"TOKEN", token), "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        })  # fmt: skip


async def test_a_request_without_a_token_gets_401_with_a_challenge_and_no_error_code(lab: Lab) -> None:
    response = await post_mcp(lab, TOOLS_LIST)
    assert response.status_code == 401
    challenge = bearer_challenge(response.headers["www-authenticate"])
    assert challenge is not None
    assert challenge.params == {"resource_metadata": PRM_URL, "scope": "notes:read"}


async def test_protected_resource_metadata_is_at_the_path_inserted_well_known_uri(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        prm = await http.get(PRM_URL)
        root = await http.get("https://mcp.example.com/.well-known/oauth-protected-resource")
    assert prm.status_code == 200 and root.status_code == 404
    assert prm.json()["resource"] == MCP_URL
    assert prm.json()["authorization_servers"] == [ISSUER]
    assert "client_id_metadata_document_supported" not in prm.json()  # that flag belongs in AS metadata


async def test_a_valid_token_is_accepted(lab: Lab) -> None:
    response = await post_mcp(lab, TOOLS_LIST, mint(lab))
    assert response.status_code == 200
    assert {t["name"] for t in response.json()["result"]["tools"]} == {"whoami", "list_notes", "add_note"}


@pytest.mark.parametrize(
    ("token", "mention"),
    [
        (lambda lab: mint(lab)[:-4] + "AAAA", "signature verification failed"),
        (lambda lab: mint(lab, aud="https://other.example/mcp"), "audience"),
        (lambda lab: mint(lab, iss="https://evil.example"), "issuer"),
        (lambda lab: mint(lab, exp=lab.clock.now() - 1), "token expired"),
        (lambda lab: "not-a-jwt", "not a well-formed JWT"),
        (lambda lab: mint(lab, client_id=None), "lacks client_id"),
    ],
    ids=["bad-signature", "wrong-audience", "wrong-issuer", "expired", "garbage", "no-client-id"],
)
async def test_bad_tokens_get_401_invalid_token_naming_the_reason(lab: Lab, token, mention: str) -> None:
    response = await post_mcp(lab, TOOLS_LIST, token(lab))
    assert response.status_code == 401
    challenge = bearer_challenge(response.headers["www-authenticate"])
    assert challenge and challenge.get("error") == "invalid_token"
    assert mention in (challenge.get("error_description") or "")
    assert challenge.get("resource_metadata") == PRM_URL
    # Like the first 401, it names the scopes a new token needs (MCP: servers SHOULD include
    # `scope`), so the client re-authorizes for them, not for every `scopes_supported`.
    assert challenge.get("scope") == "notes:read"


async def test_a_token_expires_with_the_lab_clock(lab: Lab) -> None:
    token = mint(lab)
    lab.clock.advance(901)
    response = await post_mcp(lab, TOOLS_LIST, token)
    assert response.status_code == 401 and "token expired" in response.headers["www-authenticate"]


async def test_a_verified_token_is_remembered_until_it_expires_and_no_longer(lab: Lab) -> None:
    # resource_server/tokens.py: "remembered ... until it expires". A token nobody presents again
    # used to stay until the store held 10,000, in a served lab that runs for hours.
    old = [mint(lab, jti=f"old-{n}") for n in range(3)]
    for token in old:
        assert (await post_mcp(lab, TOOLS_LIST, token)).status_code == 200
    assert all(lab.resource_server.validator.has_verified(token) for token in old)
    lab.clock.advance(901)  # past their exp (RFC 7519 §4.1.4): never accepted again
    new = mint(lab, jti="new")
    assert (await post_mcp(lab, TOOLS_LIST, new)).status_code == 200
    assert [token for token in old if lab.resource_server.validator.has_verified(token)] == []
    assert lab.resource_server.validator.has_verified(new)


async def test_a_tool_needing_more_scope_gets_403_insufficient_scope_with_the_scopes_needed(lab: Lab) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "add_note", "arguments": {"text": "hi"}},
    }
    response = await post_mcp(lab, call, mint(lab))
    assert response.status_code == 403
    challenge = bearer_challenge(response.headers["www-authenticate"])
    assert challenge and challenge.get("error") == "insufficient_scope"
    assert challenge.get("scope") == "notes:read notes:write"  # what was granted plus what is needed


async def test_a_token_in_the_query_string_is_ignored_so_the_request_has_none(lab: Lab) -> None:
    # OAuth 2.1 §5.1: "resource servers MUST ignore access tokens in a URI query parameter": the
    # request sent no credentials (RFC 6750 §3.1: a challenge without an error code). It was 400.
    response = await post_mcp(lab, TOOLS_LIST, url=f"{MCP_URL}?access_token={mint(lab)}")
    assert response.status_code == 401
    assert "error=" not in response.headers["www-authenticate"]


async def test_a_token_in_the_query_string_beside_one_in_the_header_is_ignored(lab: Lab) -> None:
    # The header's token is the request's only credential: the query's is not looked at.
    response = await post_mcp(lab, TOOLS_LIST, mint(lab), url=f"{MCP_URL}?access_token=x&x_access_token=1")
    assert response.status_code == 200, response.text


async def test_a_malformed_authorization_header_is_400_invalid_request(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        response = await http.post(MCP_URL, content=b"{}", headers={"Authorization": "Bearer "})
    assert response.status_code in (400, 401)
    assert response.status_code != 500


async def test_the_lab_client_steps_up_when_a_tool_needs_more_scope(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    result = await connection.client.call_tool("add_note", {"text": "hello"})
    assert result["structuredContent"] == {"added": "hello", "notes": 1}
    assert connection.client.state.tokens["scope"] == "notes:read notes:write"
    # step-up (10) → consent (5) → token (6), all inside the later tool call, which is step 8 (call)
    assert [r.number for r in connection.client.records] == [1, 2, 3, 4, 5, 6, 7, 10, 5, 6, 8]


async def test_a_stateless_server_answers_get_with_405_instead_of_an_endless_stream(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        unauthenticated = await http.get(MCP_URL, headers={"Accept": "text/event-stream"})
        authenticated = await http.get(
            MCP_URL, headers={"Accept": "text/event-stream", "Authorization": f"Bearer {mint(lab)}"}
        )
    assert unauthenticated.status_code == 401  # the gate speaks first
    assert authenticated.status_code == 405 and authenticated.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b"[]", 400), (b'{"jsonrpc":"2.0","id":1,"method":"nope"}', 200)],
    ids=["not-json", "empty-batch", "unknown-method"],
)
async def test_malformed_json_rpc_with_a_valid_token_is_answered_by_mcp_not_a_crash(
    lab: Lab, body: bytes, status: int
) -> None:
    headers = {
        "Authorization": f"Bearer {mint(lab)}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    async with lab.httpx_client() as http:
        response = await http.post(MCP_URL, content=body, headers=headers)
    assert response.status_code == status
    assert "error" in response.json()


async def test_each_lab_s_mcp_server_keeps_its_own_notes() -> None:
    # The tools are built once per process (issue 12); the notes they keep are each server's.
    async with Lab() as first, Lab() as second:
        writer = first.client()
        await writer.run_all()
        await writer.call_tool("add_note", {"text": "only in the first lab"})
        reader = second.client()
        await reader.run_all()
        assert (await reader.call_tool("list_notes"))["structuredContent"] == {"result": []}
        assert [n["text"] for n in (await writer.call_tool("list_notes"))["structuredContent"]["result"]] == [
            "only in the first lab"
        ]


# Rules the mutation audit found untested (RFC 9068 §4, RFC 7519 §4.1.4, RFC 6750 §2.1, MCP §10.1.1) --


async def test_a_token_is_expired_on_the_second_of_its_exp(lab: Lab) -> None:
    # RFC 7519 §4.1.4: the token MUST NOT be accepted "on or after" its exp.
    token = mint(lab, exp=lab.clock.now() + 1)
    assert (await post_mcp(lab, TOOLS_LIST, token)).status_code == 200  # one second before
    lab.clock.advance(1)
    response = await post_mcp(lab, TOOLS_LIST, token)
    assert response.status_code == 401 and "token expired" in response.headers["www-authenticate"]


@pytest.mark.parametrize("iss", [None, [ISSUER], 42], ids=["null", "array", "number"])
async def test_a_token_whose_iss_is_not_the_as_issuer_string_is_refused(lab: Lab, iss: object) -> None:
    # RFC 9068 §4: the RS MUST validate that iss exactly matches the issuer identifier of its AS;
    # a token without one, or with the issuer wrapped in an array, does not.
    response = await post_mcp(lab, TOOLS_LIST, mint(lab, iss=iss))
    assert response.status_code == 401
    assert "issuer" in response.json()["error_description"], response.text


@pytest.mark.parametrize("exp", ["tomorrow", None, {"at": 1}], ids=["string", "null", "object"])
async def test_a_token_without_a_numeric_exp_is_refused_not_a_crash(lab: Lab, exp: object) -> None:
    # RFC 9068 §2.2: exp is REQUIRED, a NumericDate (RFC 7519 §2: a number), never compared as text.
    response = await post_mcp(lab, TOOLS_LIST, mint(lab, exp=exp))
    description = response.json()["error_description"]
    assert response.status_code == 401 and ("no exp" in description or "not a NumericDate" in description), description


async def test_an_exp_with_a_fraction_is_a_numeric_date_and_is_honoured(lab: Lab) -> None:
    # RFC 7519 §2: a NumericDate is a JSON number "that can contain non-integer values"; the MCP
    # server read only integers, and called such a token one with "no exp".
    token = mint(lab, exp=lab.clock.now() + 60.5)
    assert (await post_mcp(lab, TOOLS_LIST, token)).status_code == 200
    lab.clock.advance(61)
    response = await post_mcp(lab, TOOLS_LIST, token)
    assert response.status_code == 401 and "expired" in response.json()["error_description"]


async def test_a_bearer_credential_containing_a_space_is_400_invalid_request(lab: Lab) -> None:
    # RFC 6750 §2.1: b64token is one run of token characters, no spaces; "Bearer a b" is malformed
    # (§3.1: invalid_request, 400), not a token to look up.
    token = mint(lab)
    async with lab.httpx_client() as http:
        response = await http.post(MCP_URL, content=json.dumps(TOOLS_LIST), headers={
            "Authorization": f"Bearer {token} {token}", "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        })  # fmt: skip
    assert response.status_code == 400
    challenge = bearer_challenge(response.headers["www-authenticate"])
    assert challenge and challenge.get("error") == "invalid_request"


@pytest.mark.parametrize(
    ("revision", "scope"),
    [
        pytest.param("2025-11-25", "notes:read notes:write profile:read", id="2025-11-25-accumulates"),
        pytest.param("2026-07-28", "notes:read notes:write", id="2026-07-28-this-operation-only"),
    ],
)
async def test_the_insufficient_scope_challenge_keeps_what_was_granted_until_2026_07_28(
    revision: str, scope: str
) -> None:
    # 2025-11-25 §10.1.1: the challenge names the scopes needed and keeps those already granted
    # (server-side accumulation); 2026-07-28 §11.1.1 (SEP-2350): this operation's scopes only.
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "add_note", "arguments": {"text": "hi"}},
    }
    async with Lab(seed=0, revision=revision) as lab:
        response = await post_mcp(lab, call, mint(lab, scope="notes:read profile:read"))
    assert response.status_code == 403
    challenge = bearer_challenge(response.headers["www-authenticate"])
    assert challenge and challenge.get("error") == "insufficient_scope" and challenge.get("scope") == scope


# RFC 9068 §2.1: "Authorization servers and resource servers conforming to this specification MUST
# include RS256 (as defined in [RFC7518]) among their supported signature algorithms." --------------


async def test_an_as_asked_for_rs256_signs_with_a_2048_bit_key_from_its_seed_and_the_mcp_server_accepts_it() -> None:
    tokens = []
    for _ in range(2):
        async with Lab(seed=0, access_token_algorithm="RS256") as lab:
            [key] = lab.auth_server.keys.jwks()["keys"]
            assert (key["kty"], key["alg"], len(key["n"])) == ("RSA", "RS256", 342)  # 2048 bits (RFC 7518 §3.3)
            connection = await lab.connect("dcr")
            assert connection.whoami["sub"] == "alice"
            tokens.append(connection.access_token)
    assert tokens[0] == tokens[1]  # the same seed, the same key, the same bytes (RFC 8017 §8.2)


def test_serve_offers_exactly_the_algorithms_the_as_can_sign_with() -> None:
    from typing import get_args

    from lab_servers.__main__ import ACCESS_TOKEN_ALGORITHMS
    from lab_servers.authorization_server.keys import AccessTokenAlgorithm

    assert get_args(AccessTokenAlgorithm) == ACCESS_TOKEN_ALGORITHMS


@pytest.mark.parametrize(
    ("alg", "refusal"),
    [
        ("RS256", "signature verification failed"),
        ("HS256", "the token is not an RFC 9068 access token signed by this server's AS"),
    ],
)
async def test_a_token_naming_the_as_s_key_with_another_algorithm_is_refused(lab: Lab, alg: str, refusal: str) -> None:
    """RFC 8725 §2.1 and §3.1: the key decides the algorithm, not the token. RS256 on the AS's
    Ed25519 key is refused (a key of another type verifies nothing); HS256 with the AS's public key
    as the HMAC secret, the classic confusion, is refused before any key is used."""
    import base64

    from joserfc import jwt
    from joserfc.jwk import OctKey, RSAKey

    now = lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "aud": MCP_URL, "client_id": "tpc_x", "scope": "notes:read",
              "iat": now, "exp": now + 900, "jti": "j"}  # fmt: skip
    [public] = lab.auth_server.keys.jwks()["keys"]
    secret = OctKey.import_key(base64.urlsafe_b64decode(public["x"] + "=="))
    key = RSAKey.generate_key(2048) if alg == "RS256" else secret
    header = {"alg": alg, "typ": "at+jwt", "kid": lab.auth_server.keys.kid}
    forged = jwt.encode(header, claims, key, algorithms=[alg])
    response = await post_mcp(lab, TOOLS_LIST, token=forged)
    assert response.status_code == 401
    challenge = bearer_challenge(response.headers["www-authenticate"])
    assert challenge is not None and challenge.get("error_description") == refusal


async def test_every_as_of_an_rs256_lab_signs_rs256_and_each_checks_its_policy() -> None:
    async with Lab(seed=0, access_token_algorithm="RS256") as lab:
        other = lab.add_authorization_server("auth2.example.com", "203.0.113.20")
        assert [key["alg"] for key in other.keys.jwks()["keys"]] == ["RS256"]
        with pytest.raises(TypeError, match="ASPolicy"):
            lab.add_authorization_server("auth3.example.com", "203.0.113.21", policy="naive")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "credentials",
    [b"Bearer \xa0TOKEN", b"Bearer TOKEN\x85", b"Bearer TOKEN\x0b", b"Bearer TOKEN!", b"Bearer\tTOKEN", b"bearer\tTOKEN"],
    ids=["nbsp-before", "nel-after", "vt-after", "not-b64token", "htab-after-scheme", "htab-after-lowercase-scheme"],
)  # fmt: skip
async def test_bearer_credentials_outside_the_b64token_grammar_are_400_invalid_request(
    lab: Lab, credentials: bytes
) -> None:
    # RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token, and b64token is ALPHA / DIGIT / "-" /
    # "." / "_" / "~" / "+" / "/", then "="s. Read as Latin-1, str.strip() also removed NBSP, NEL and
    # VT, and the token around them was accepted (§3.1: a malformed request is invalid_request).
    # An HTAB is no SP: `Bearer<HTAB>token` was read as no bearer credentials at all, 401, where
    # `Bearer <HTAB>token` was 400.
    response = await post_tools_list_with(lab, credentials)
    assert response.status_code == 400
    challenge = bearer_challenge(response.headers["www-authenticate"])
    assert challenge and challenge.get("error") == "invalid_request"
    assert "b64token" in (challenge.get("error_description") or "")


@pytest.mark.parametrize(
    "credentials",
    [b" Bearer TOKEN", b"\tBearer TOKEN", b"Bearer TOKEN\t", b"Bearer TOKEN \t"],
    ids=["sp-before", "htab-before", "htab-after", "sp-htab-after"],
)
async def test_the_authorization_fields_edge_whitespace_is_no_part_of_the_token(lab: Lab, credentials: bytes) -> None:
    # RFC 9110 §5.5: a field value's leading and trailing OWS (SP or HTAB) "are not part of the
    # field value"; RFC 9112 §5: "excluded by parsers". h11 drops them served; in process too.
    response = await post_tools_list_with(lab, credentials)
    assert response.status_code == 200, response.text


def test_a_challenge_quotes_its_values_as_quoted_strings_escaping_quotes_and_backslashes() -> None:
    # RFC 9110 §5.6.4: in a quoted-string, '"' and '\\' travel as quoted-pairs. Written bare, a
    # quote in a value would end the string, and the text after it be read as other parameters.
    written = rfc6750.bearer_challenge('https://rs.example/prm?a="b"', scope='x\\" error="forged')
    challenge = bearer_challenge(written)
    assert challenge is not None and challenge.malformed is None
    assert challenge.params == {"resource_metadata": 'https://rs.example/prm?a="b"', "scope": 'x\\" error="forged'}
