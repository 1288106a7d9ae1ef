"""Enterprise-managed authorization (MCP extension; ID-JAG draft): what the IdP's token exchange
(RFC 8693) checks before it issues an ID-JAG. The request must be a token exchange of an ID token
for an ID-JAG naming its audience, the ID token must be valid now (RFC 7519 §4.1.4, §4.1.5), and
a requested scope travels in the ID-JAG and the response (RFC 8693 §2.1, §2.2.1)."""

from __future__ import annotations

import httpx
import pytest

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.identity_provider import ID_JAG, ID_TOKEN, TOKEN_EXCHANGE, IdentityProvider
from lab_servers.rfc7519 import unverified_parts
from lab_servers.story import ENTERPRISE_CLIENT_ID, IDP_ISSUER, add_enterprise_idp

from .enterprise_requests import basic
from .helpers import assert_oauth_error

pytestmark = pytest.mark.anyio


async def exchange(lab: Lab, idp: IdentityProvider, subject_token: str, **changes: str | None) -> httpx.Response:
    """The IdP's token exchange by the enterprise client; a change of None leaves a parameter out."""
    form: dict[str, str | None] = {
        "grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "subject_token_type": ID_TOKEN,
        "requested_token_type": ID_JAG, "audience": ISSUER, "resource": MCP_URL, **changes,
    }  # fmt: skip
    secret = idp.clients[ENTERPRISE_CLIENT_ID].secret
    async with lab.httpx_client("client") as http:
        return await http.post(f"{IDP_ISSUER}/token", headers=basic(ENTERPRISE_CLIENT_ID, secret),
                               data={name: value for name, value in form.items() if value is not None})  # fmt: skip


NOT_AN_ID_JAG_EXCHANGE = [
    # RFC 6749 §5.2: a grant type the endpoint does not support is unsupported_grant_type.
    pytest.param({"grant_type": "authorization_code"}, "unsupported_grant_type", "token exchange only",
                 id="another-grant-type"),
    # ext-auth §4 (ID-JAG draft §4.3): the request asks for an ID-JAG, with an ID token as subject;
    # either alone being wrong is enough to refuse.
    pytest.param({"requested_token_type": "urn:ietf:params:oauth:token-type:access_token"}, "invalid_request",
                 "ask for an ID-JAG", id="asks-for-an-access-token"),
    pytest.param({"subject_token_type": "urn:ietf:params:oauth:token-type:access_token"}, "invalid_request",
                 "send an ID token", id="subject-is-an-access-token"),
    # ext-auth §4: audience, the MCP server's AS issuer, is what the ID-JAG is for.
    pytest.param({"audience": None}, "invalid_request", "audience", id="no-audience"),
    # RFC 6749 §5.2: a missing required parameter is invalid_request, not unsupported_grant_type.
    pytest.param({"grant_type": None}, "invalid_request", "grant_type is required", id="no-grant-type"),
    # RFC 8693 §2.1: actor_token_type comes with actor_token and never without it; and an actor
    # this IdP does not verify is refused (§2.2.2). Unread, each got an ID-JAG (200).
    pytest.param({"actor_token": "x"}, "invalid_request", "actor_token_type is required", id="actor-token-alone"),
    pytest.param({"actor_token_type": ID_TOKEN}, "invalid_request", "actor_token_type is required", id="actor-type-alone"),
    pytest.param({"actor_token": "x", "actor_token_type": ID_TOKEN}, "invalid_request",
                 "does not accept an actor_token", id="actor-token"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "error", "mention"), NOT_AN_ID_JAG_EXCHANGE)
async def test_the_idp_issues_an_id_jag_only_for_an_id_token_exchanged_for_one_at_a_named_audience(
    lab: Lab, changes: dict[str, str | None], error: str, mention: str
) -> None:
    idp = add_enterprise_idp(lab)
    response = await exchange(lab, idp, idp.sign_in("alice", ENTERPRISE_CLIENT_ID), **changes)
    assert_oauth_error(response, 400, error, mention)


async def test_the_idp_refuses_an_id_token_at_its_expiry_time(lab: Lab) -> None:
    # RFC 7519 §4.1.4: "the current date/time MUST be before the expiration date/time"; at exp it
    # is not. RFC 8693 §2.2.2: an unacceptable subject_token is invalid_request.
    idp = add_enterprise_idp(lab)
    now = lab.clock.now()
    id_token = idp.sign({"iss": IDP_ISSUER, "sub": "alice", "aud": ENTERPRISE_CLIENT_ID, "iat": now - 60, "exp": now})
    assert_oauth_error(await exchange(lab, idp, id_token), 400, "invalid_request", "expired")


async def test_the_idp_refuses_an_id_token_before_its_not_before_time(lab: Lab) -> None:
    # RFC 7519 §4.1.5: the JWT "MUST NOT be accepted for processing" before its nbf.
    idp = add_enterprise_idp(lab)
    now = lab.clock.now()
    claims = {"iss": IDP_ISSUER, "sub": "alice", "aud": ENTERPRISE_CLIENT_ID, "iat": now, "exp": now + 600}
    id_token = idp.sign({**claims, "nbf": now + 60})
    assert_oauth_error(await exchange(lab, idp, id_token), 400, "invalid_request", "not valid before")


async def test_a_requested_scope_travels_in_the_id_jag_and_the_response(lab: Lab) -> None:
    # RFC 8693 §2.1: scope as in RFC 6749 §3.3; §2.2.1: the response's scope is the issued token's.
    idp = add_enterprise_idp(lab)
    response = await exchange(lab, idp, idp.sign_in("alice", ENTERPRISE_CLIENT_ID), scope="notes:read")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "notes:read"
    _, claims = unverified_parts(response.json()["access_token"], what="the ID-JAG")
    assert claims["scope"] == "notes:read"


async def test_the_idp_names_the_resource_the_enterprise_does_not_allow(lab: Lab) -> None:
    # RFC 8693 §2.2.2: a resource the IdP will not issue for is invalid_target; the description
    # (RFC 6749 §5.2) names that resource, not the audience's AS, so the user can see which it was.
    idp = add_enterprise_idp(lab)
    idp.clients[ENTERPRISE_CLIENT_ID].allowed_resources.clear()
    response = await exchange(lab, idp, idp.sign_in("alice", ENTERPRISE_CLIENT_ID))
    assert_oauth_error(response, 400, "invalid_target", f"to reach {MCP_URL!r}")


async def test_the_idp_names_an_audience_it_registered_the_client_at_no_authorization_server(lab: Lab) -> None:
    # RFC 8693 §2.2.2: invalid_target, naming the audience, not the (allowed) resource: the ID-JAG's
    # client_id is the client's id at that AS (ID-JAG draft §3.1), and the IdP knows none there.
    idp = add_enterprise_idp(lab)
    id_token = idp.sign_in("alice", ENTERPRISE_CLIENT_ID)
    for audience in ("https://evil.example", ISSUER + "/"):  # issuers compare exactly (RFC 8414 §3.3)
        response = await exchange(lab, idp, id_token, audience=audience)
        assert_oauth_error(response, 400, "invalid_target", f"audience {audience!r} is no authorization server",
                           f"it knows {ISSUER!r}, compared exactly")  # fmt: skip
        assert MCP_URL not in response.json()["error_description"]


async def test_the_idp_refuses_an_exchange_that_names_no_resource_saying_why(lab: Lab) -> None:
    # ext-auth §4 makes resource OPTIONAL, but this enterprise's policy allows MCP servers, not an AS
    # and all it protects; the refusal says so, not that the AS itself is out of reach.
    idp = add_enterprise_idp(lab)
    id_token = idp.sign_in("alice", ENTERPRISE_CLIENT_ID)
    for resource in (None, ""):
        response = await exchange(lab, idp, id_token, resource=resource)
        assert_oauth_error(response, 400, "invalid_target", "no resource", "optional in ext-auth section 4")
        assert f"reach {ISSUER!r}" not in response.json()["error_description"]


async def test_the_idp_names_each_reason_an_id_token_is_refused_for(lab: Lab) -> None:
    # One description named two causes ("issued to another client, or expired"); each now says its own.
    idp = add_enterprise_idp(lab)
    response = await exchange(lab, idp, idp.sign_in("alice", "some-other-client"))
    assert_oauth_error(response, 400, "invalid_request", "issued to another client ('some-other-client')")
    now = lab.clock.now()
    expired = idp.sign(
        {"iss": IDP_ISSUER, "sub": "alice", "aud": ENTERPRISE_CLIENT_ID, "iat": now - 60, "exp": now - 1}
    )
    response = await exchange(lab, idp, expired)
    assert_oauth_error(response, 400, "invalid_request", f"the ID token expired at {now - 1}")
    assert "another client" not in response.json()["error_description"]
    no_exp = idp.sign({"iss": IDP_ISSUER, "sub": "alice", "aud": ENTERPRISE_CLIENT_ID, "iat": now})
    assert_oauth_error(await exchange(lab, idp, no_exp), 400, "invalid_request", "has no exp")
