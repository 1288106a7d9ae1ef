"""The authorization code grant's rules at the AS, one spec sentence each (OAuth 2.1 §4.1): which
redirect URI a request may omit or extend, what a consent decision must say, which resource an
omitted one means, when a code expires; and what a registration response returns (RFC 7591
§3.2.1). Each test guards a line that a mutation audit found unguarded."""

from __future__ import annotations

import pytest

from lab_servers import CLIENT_METADATA_URL, HARDENED, MCP_URL, Lab
from lab_servers.authorization_server.authorize import CODE_LIFETIME
from lab_servers.client import Browser, ConsentPage, Redirect

from .helpers import REDIRECT_URI, assert_oauth_error, code_form, get_code, open_authorization, register, token_request
from .registered_clients import PUBLIC_CLIENT, registered_client

pytestmark = pytest.mark.anyio


async def test_registration_returns_the_grant_and_response_types_it_defaulted(lab: Lab) -> None:
    # RFC 7591 §2: omitted grant_types means ["authorization_code"], omitted response_types
    # ["code"]; §3.2.1: the response holds "all registered metadata about the client, including
    # any fields provisioned by the authorization server itself".
    body = {k: v for k, v in PUBLIC_CLIENT.items() if k not in ("grant_types", "response_types")}
    registered = (await register(lab, body)).json()
    assert registered["grant_types"] == ["authorization_code"] and registered["response_types"] == ["code"]


async def test_only_the_naive_policys_prefix_match_takes_a_redirect_uri_extending_a_registered_one(lab: Lab) -> None:
    # OAuth 2.1 §4.1.1 and MCP §11.5: redirect URIs match exactly (the hardened AS: test_as_authorization_endpoint.py). The
    # naive policy matches by prefix, against any of the client's URIs: how open redirects are
    # born (RFC 9700 §4.1.1), which the experiments show.
    lab.policy = HARDENED.but(exact_redirect_uri_match=False)
    client = await registered_client(lab, redirect_uris=["https://app.example/other", REDIRECT_URI])
    outcome = await open_authorization(lab, client["client_id"], redirect_uri=REDIRECT_URI + "/extra")
    assert isinstance(outcome, ConsentPage) and outcome.is_consent, outcome


async def test_redirect_uri_may_be_omitted_only_when_the_client_registered_exactly_one(lab: Lab) -> None:
    # OAuth 2.1 §4.1.1: redirect_uri is "OPTIONAL if only one redirect URI is registered for this
    # client. REQUIRED if multiple redirect URIs are registered for this client." Until the
    # redirect URI is known, the error is shown to the user, never redirected (§4.1.2.1).
    one = await registered_client(lab)
    consent = await open_authorization(lab, one["client_id"], redirect_uri=None)
    assert isinstance(consent, ConsentPage) and consent.is_consent, consent
    two = await registered_client(lab, redirect_uris=[REDIRECT_URI, "https://app.example/other"])
    refused = await open_authorization(lab, two["client_id"], redirect_uri=None)
    assert isinstance(refused, ConsentPage) and refused.status == 400
    assert refused.fields["error"] == "invalid_request"
    assert "redirect_uri is required" in refused.fields["error_description"]


async def test_a_policy_defaulting_to_the_single_resource_reads_an_omitted_resource_as_it(lab: Lab) -> None:
    # MCP §8 (RFC 8707) makes resource REQUIRED of clients; the served lab's policy
    # (default_to_single_resource, RFC 8707 §2.1's predefined default) reads an omitted one as the
    # AS's only resource, at the authorization endpoint and so in the token's audience.
    lab.policy = HARDENED.but(default_to_single_resource=True)
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"], resource=None)
    response = await token_request(lab, code_form(client["client_id"], code, resource=None))
    assert response.status_code == 200, response.text
    assert lab.auth_server.issued[-1]["aud"] == MCP_URL


async def test_a_code_redeemed_at_the_second_it_expires_is_invalid_grant(lab: Lab) -> None:
    # OAuth 2.1 §4.1.2: the code is short-lived (CODE_LIFETIME here); at its expiry second it is
    # over (RFC 7519 §4.1.4's "on or after", the reading every expiry in this AS follows).
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    lab.clock.advance(CODE_LIFETIME)
    response = await token_request(lab, code_form(client["client_id"], code))
    assert_oauth_error(response, 400, "invalid_grant", "the authorization code expired")


async def test_a_code_redeemed_in_the_last_second_before_it_expires_is_exchanged(lab: Lab) -> None:
    # OAuth 2.1 §4.1.2 and RFC 7519 §4.1.4: a code lives CODE_LIFETIME seconds, its last second included.
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    lab.clock.advance(CODE_LIFETIME - 1)
    response = await token_request(lab, code_form(client["client_id"], code))
    assert response.status_code == 200, response.text


async def test_a_consent_decision_other_than_approve_or_deny_approves_nothing(lab: Lab) -> None:
    # OAuth 2.1 §4.1.2: a code is issued only once the resource owner grants access; a decision
    # that is neither "approve" nor "deny" grants nothing, and leaves the transaction for the
    # user's next click.
    browser = Browser(lab.httpx_client("browser"))
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage) and page.is_consent
    refused = await browser.decide(page, "yes")
    assert isinstance(refused, ConsentPage) and refused.status == 400
    assert refused.fields["error"] == "invalid_request"
    assert "decision must be 'approve' or 'deny'" in refused.fields["error_description"]
    assert len(lab.auth_server.codes) == 0
    assert isinstance(await browser.decide(page, "approve"), Redirect)
