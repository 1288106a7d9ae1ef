"""Enterprise-managed authorization (MCP extension; ID-JAG draft): the IdP's token endpoint, whose
token exchange (RFC 8693) turns an ID token into an ID-JAG, reads requests as the AS does (RFC 6749
§3.1, §5.2): a client authenticates one way, and a malformed request or subject token gets an
OAuth error naming the rule."""

from __future__ import annotations

import pytest

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.story import (
    ENTERPRISE_CLIENT_ID,
    IDP_ISSUER,
    add_enterprise_idp,
)

from .enterprise_requests import basic, idp_exchange
from .helpers import HOSTILE_JWT_HEADERS, assert_oauth_error, jwt_with_header

pytestmark = pytest.mark.anyio


async def test_the_idp_refuses_a_client_that_does_not_authenticate(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{IDP_ISSUER}/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "client_id": ENTERPRISE_CLIENT_ID,
            "subject_token": idp.sign_in("alice", ENTERPRISE_CLIENT_ID), "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag", "audience": ISSUER, "resource": MCP_URL,
        })  # fmt: skip
    assert_oauth_error(response, 401, "invalid_client", "ext-auth section 7.7")


# The IdP's token endpoint reads requests as the AS does (RFC 6749 §3.1, §5.2; RFC 8693 §2.1) --------

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


MALFORMED_IDP_REQUESTS = [
    pytest.param("POST", "/token", {"content": b"x", "headers": {"Content-Type": "multipart/form-data"}},
                 400, "x-www-form-urlencoded", id="multipart-without-boundary"),
    pytest.param("POST", "/token", {"content": b"client_id=a&client_id=" + ENTERPRISE_CLIENT_ID.encode(), "headers": FORM},
                 400, "MUST NOT be included more than once", id="repeated-parameter"),
    pytest.param("POST", "/token", {"json": {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange"}},
                 400, "x-www-form-urlencoded", id="json-body"),
    pytest.param("GET", "/token", {}, 405, "use POST", id="get-token"),
    pytest.param("GET", "/admin", {}, 404, "no endpoint at /admin", id="unknown-path"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "request_kwargs", "status", "mention"), MALFORMED_IDP_REQUESTS)
async def test_the_idp_answers_a_malformed_request_with_an_oauth_error_naming_the_rule(
    lab: Lab, method: str, path: str, request_kwargs: dict, status: int, mention: str
) -> None:
    add_enterprise_idp(lab)
    async with lab.httpx_client("client") as http:
        response = await http.request(method, f"{IDP_ISSUER}{path}", **request_kwargs)
    assert_oauth_error(response, status, "invalid_request", mention)
    assert response.headers["cache-control"] == "no-store"


async def test_a_parameter_sent_twice_never_authenticates_at_the_idp_even_when_one_copy_is_right(lab: Lab) -> None:
    # RFC 6749 §3.1: parameters MUST NOT be included more than once; "last one wins" would let a
    # proxy and the IdP read different requests from the same bytes.
    idp = add_enterprise_idp(lab)
    secret = idp.clients[ENTERPRISE_CLIENT_ID].secret
    body = f"client_id={ENTERPRISE_CLIENT_ID}&client_secret=wrong&client_secret={secret}".encode()
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{IDP_ISSUER}/token", content=body, headers=FORM)
    assert_oauth_error(response, 400, "invalid_request", "'client_secret' is repeated")


async def test_malformed_basic_credentials_at_the_idp_get_a_basic_challenge(lab: Lab) -> None:
    add_enterprise_idp(lab)
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{IDP_ISSUER}/token", data={"a": "b"}, headers={"Authorization": "Basic !!!"})
    assert_oauth_error(response, 401, "invalid_client", "malformed Basic credentials")
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("header", HOSTILE_JWT_HEADERS)
async def test_the_idp_refuses_a_subject_token_whose_header_is_not_a_json_object(lab: Lab, header: str) -> None:
    idp = add_enterprise_idp(lab)
    secret = idp.clients[ENTERPRISE_CLIENT_ID].secret
    claims = {"iss": IDP_ISSUER, "sub": "alice", "aud": ENTERPRISE_CLIENT_ID, "exp": lab.clock.now() + 60}
    subject = jwt_with_header(header, claims)
    response = await idp_exchange(lab, subject, basic(ENTERPRISE_CLIENT_ID, secret)["Authorization"])
    # RFC 8693 §2.2.2: a subject_token invalid for any reason is invalid_request.
    assert_oauth_error(response, 400, "invalid_request", "subject_token header is a JSON", "not a JSON object")


async def test_the_idp_answers_a_client_that_tried_basic_with_a_basic_challenge(lab: Lab) -> None:
    # RFC 6749 §5.2: invalid_client after HTTP Basic is a 401 whose WWW-Authenticate names Basic.
    idp = add_enterprise_idp(lab)
    id_token = idp.sign_in("alice", ENTERPRISE_CLIENT_ID)
    response = await idp_exchange(lab, id_token, basic(ENTERPRISE_CLIENT_ID, "wrong")["Authorization"])
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_the_idp_refuses_a_client_authenticating_two_ways_at_once(lab: Lab) -> None:
    # RFC 6749 §2.3: one authentication method per request; §5.2: otherwise invalid_request.
    idp = add_enterprise_idp(lab)
    secret = idp.clients[ENTERPRISE_CLIENT_ID].secret
    async with lab.httpx_client("client") as http:
        response = await http.post(
            f"{IDP_ISSUER}/token",
            data={"client_id": ENTERPRISE_CLIENT_ID, "client_secret": secret},
            headers={"Authorization": basic(ENTERPRISE_CLIENT_ID, secret)["Authorization"]},
        )
    assert_oauth_error(response, 400, "invalid_request", "HTTP Basic, client_secret")


async def test_the_idp_refuses_an_id_token_issued_to_another_client_with_invalid_request(lab: Lab) -> None:
    # RFC 8693 §2.2.2: the IdP leg is a token exchange; an unacceptable subject_token is invalid_request.
    idp = add_enterprise_idp(lab)
    secret = idp.clients[ENTERPRISE_CLIENT_ID].secret
    id_token = idp.sign_in("alice", "some-other-client")
    response = await idp_exchange(lab, id_token, basic(ENTERPRISE_CLIENT_ID, secret)["Authorization"])
    assert_oauth_error(response, 400, "invalid_request", "issued to another client")


async def test_the_idp_refuses_an_id_token_without_a_sub_string(lab: Lab) -> None:
    # OIDC Core §2: an ID token's sub is REQUIRED; the IdP would otherwise fail with a 500 or
    # mint an ID-JAG naming nobody.
    idp = add_enterprise_idp(lab)
    secret = idp.clients[ENTERPRISE_CLIENT_ID].secret
    now = lab.clock.now()
    for sub in (None, {"x": 1}):
        claims = {"iss": IDP_ISSUER, "aud": ENTERPRISE_CLIENT_ID, "iat": now, "exp": now + 60}
        id_token = idp.sign(claims if sub is None else {**claims, "sub": sub})
        response = await idp_exchange(lab, id_token, basic(ENTERPRISE_CLIENT_ID, secret)["Authorization"])
        assert_oauth_error(response, 400, "invalid_request", "sub")
