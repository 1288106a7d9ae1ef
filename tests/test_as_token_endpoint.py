"""The authorization server's token endpoint, rule by rule (OAuth 2.1 §4.1.3, RFC 7636, RFC 8707):
a code works once, for its client, its verifier and its resource; refresh tokens rotate and never
widen the scope; a confidential client authenticates as it registered. Each bad request gets the
spec's status, error code and a description that names the rule — never a 500."""

from __future__ import annotations

import base64

import pytest

from lab_servers import ISSUER, MCP_URL, Lab

from .helpers import (
    CHALLENGE,
    assert_oauth_error,
    code_form,
    get_code,
    refresh_form,
    token_request,
)
from .registered_clients import registered_client

pytestmark = pytest.mark.anyio


# The token endpoint (OAuth 2.1 §4.1.3, RFC 7636, RFC 8707) ----------------------------------


async def test_a_code_with_the_right_verifier_gets_a_jwt_bound_to_the_resource(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    response = await token_request(lab, code_form(client["client_id"], code))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "notes:read" and body["refresh_token"]
    claims = lab.auth_server.issued[-1]
    assert claims["aud"] == MCP_URL and claims["client_id"] == client["client_id"] and claims["sub"] == "alice"
    assert set(claims) == {"iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti"}


@pytest.mark.parametrize(
    ("overrides", "error", "mention"),
    [
        ({"code_verifier": None}, "invalid_request", "code_verifier is required"),
        ({"code_verifier": "w" * 43}, "invalid_grant", "PKCE verification failed"),
        # The challenge travels in the authorization request's URL; it is no verifier (S256 only,
        # RFC 7636 §4.6: the server compares BASE64URL(SHA256(verifier)) with the challenge).
        ({"code_verifier": CHALLENGE}, "invalid_grant", "PKCE verification failed"),
        ({"code_verifier": "v" * 129}, "invalid_grant", "43-128"),
        ({"resource": "https://mcp.example.com/other"}, "invalid_target", ""),
        ({"redirect_uri": "https://app.example/elsewhere"}, "invalid_grant", "redirect_uri differs"),
        ({"code": "not-a-code"}, "invalid_grant", "unknown"),
        ({"code": None}, "invalid_request", "code is required"),
        ({"grant_type": "password"}, "unsupported_grant_type", "password"),
        ({"grant_type": None}, "invalid_request", "grant_type is required"),
    ],
    ids=[
        "no-verifier",
        "wrong-verifier",
        "the-challenge-as-verifier",
        "a-129-character-verifier",
        "other-resource",
        "other-redirect",
        "unknown-code",
        "no-code",
        "password-grant",
        "no-grant",
    ],
)
async def test_bad_token_requests_are_refused_with_the_rule(
    lab: Lab, overrides: dict, error: str, mention: str
) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    assert_oauth_error(await token_request(lab, code_form(client["client_id"], code, **overrides)), 400, error, mention)


async def test_a_repeated_parameter_cites_the_token_endpoint_s_rule_too(lab: Lab) -> None:
    # OAuth 2.1 §3.1 says it of the authorization endpoint's parameters and §3.2 of the token
    # endpoint's; one helper refuses both, and cited §3.1 alone at /token.
    async with lab.httpx_client("client") as http:
        response = await http.post(
            f"{ISSUER}/token",
            content="grant_type=authorization_code&grant_type=refresh_token",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert_oauth_error(response, 400, "invalid_request", "'grant_type' is repeated", "section 3.2")


async def test_the_resource_must_match_the_one_authorized(lab: Lab) -> None:
    lab.auth_server.resource_scopes["https://mcp.example.com/other"] = ["notes:read"]
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    response = await token_request(lab, code_form(client["client_id"], code, resource="https://mcp.example.com/other"))
    assert_oauth_error(response, 400, "invalid_target", "differs from the one in the authorization request")


async def test_a_code_works_once_and_its_reuse_revokes_the_refresh_token(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    first = await token_request(lab, code_form(client["client_id"], code))
    assert first.status_code == 200
    assert_oauth_error(
        await token_request(lab, code_form(client["client_id"], code)), 400, "invalid_grant", "already used"
    )
    refresh = refresh_form(client["client_id"], first.json()["refresh_token"])
    # Revoked with the code's grant, never rotated: refused as revoked, not as reuse.
    assert_oauth_error(await token_request(lab, refresh), 400, "invalid_grant", "was revoked", "4.1.3")


async def test_an_expired_code_is_refused(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    lab.clock.advance(61)
    assert_oauth_error(await token_request(lab, code_form(client["client_id"], code)), 400, "invalid_grant", "expired")


async def test_a_code_issued_to_another_client_is_refused(lab: Lab) -> None:
    first, second = await registered_client(lab), await registered_client(lab)
    code = await get_code(lab, first["client_id"])
    assert_oauth_error(
        await token_request(lab, code_form(second["client_id"], code)), 400, "invalid_grant", "another client"
    )


async def test_refresh_tokens_rotate_for_public_clients(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    first = (await token_request(lab, code_form(client["client_id"], code))).json()
    form = refresh_form(client["client_id"], first["refresh_token"], resource=MCP_URL)
    second = await token_request(lab, form)
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    assert_oauth_error(await token_request(lab, form), 400, "invalid_grant", "reuse detected")
    newer = {**form, "refresh_token": second.json()["refresh_token"]}
    assert_oauth_error(
        await token_request(lab, newer), 400, "invalid_grant", "was revoked"
    )  # the whole family is gone: the newest token too, which was never rotated out


async def test_a_refresh_cannot_widen_the_scope(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    first = (await token_request(lab, code_form(client["client_id"], code))).json()
    form = refresh_form(client["client_id"], first["refresh_token"], scope="notes:read notes:write")
    assert_oauth_error(await token_request(lab, form), 400, "invalid_scope", "never widen")


async def test_a_confidential_client_must_authenticate_with_its_registered_method(lab: Lab) -> None:
    client = await registered_client(lab, token_endpoint_auth_method="client_secret_basic")
    code = await get_code(lab, client["client_id"])
    unauthenticated = await token_request(lab, code_form(client["client_id"], code))
    assert_oauth_error(unauthenticated, 401, "invalid_client", "client_secret_basic")
    code = await get_code(lab, client["client_id"])
    wrong = await token_request(
        lab, code_form(client["client_id"], code, client_id=None), auth=(client["client_id"], "wrong")
    )
    assert_oauth_error(wrong, 401, "invalid_client", "wrong client_secret")
    assert wrong.headers["www-authenticate"].startswith("Basic")
    code = await get_code(lab, client["client_id"])
    right = await token_request(
        lab, code_form(client["client_id"], code, client_id=None), auth=(client["client_id"], client["client_secret"])
    )
    assert right.status_code == 200


async def test_the_token_endpoint_wants_a_form_body(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        response = await http.post(f"{ISSUER}/token", json={"grant_type": "authorization_code"})
    assert_oauth_error(response, 400, "invalid_request", "x-www-form-urlencoded")


@pytest.mark.parametrize("part", ["header", "claims"])
async def test_a_client_assertion_nested_2000_levels_is_invalid_client_not_a_crash(lab: Lab, part: str) -> None:
    deep = base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).rstrip(b"=").decode()
    plain = base64.urlsafe_b64encode(b'{"alg": "ES256"}').rstrip(b"=").decode()
    assertion = f"{deep}.{plain}.c2ln" if part == "header" else f"{plain}.{deep}.c2ln"
    form = {"grant_type": "authorization_code", "code": "x", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}  # fmt: skip
    assert_oauth_error(
        await token_request(lab, form), 401, "invalid_client", f"client_assertion {part} is nested deeper"
    )


@pytest.mark.parametrize("target", ["resource", "audience"])
async def test_several_targets_in_one_token_request_are_invalid_target(lab: Lab, target: str) -> None:
    # RFC 8707 §2 and RFC 8693 §2.1 let a client name several; this AS issues each token for one,
    # and says so with invalid_target rather than calling the parameter malformed.
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    form = {**code_form(client["client_id"], code), target: [MCP_URL, "https://other.example/mcp"]}
    assert_oauth_error(await token_request(lab, form), 400, "invalid_target", "named more than once")  # type: ignore[arg-type]
