"""Single use means a second *redemption* fails, not a refused attempt (OAuth 2.1 §4.1.3).

A code, a refresh token, an ID-JAG and a consent transaction are each spent by the grant or the
decision they produce. A request the AS refuses, having issued nothing, leaves them usable until
they expire; two concurrent redemptions of one code can never both succeed, and a second
redemption revokes what the first issued."""

from __future__ import annotations

import asyncio

import pytest

from lab_servers import CLIENT_METADATA_URL, MCP_URL, Lab
from lab_servers.authorization_server.expiring_store import ExpiringStore
from lab_servers.authorization_server.grants import ExchangeRule
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.rfc8693 import ACCESS_TOKEN_TYPE
from lab_servers.authorization_server.rfc8693 import GRANT_TYPE as TOKEN_EXCHANGE
from lab_servers.client import Browser, ConsentPage, Redirect, StepError
from lab_servers.story import add_enterprise_idp

from .enterprise_requests import good, present
from .helpers import (
    assert_oauth_error,
    code_form,
    get_code,
    open_authorization,
    refresh_form,
    register,
    token_request,
)
from .registered_clients import PUBLIC_CLIENT

pytestmark = pytest.mark.anyio
API = "https://api.example/"


async def registered_client(lab: Lab, **changes: object) -> str:
    response = await register(lab, {**PUBLIC_CLIENT, **changes})
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


# The authorization code ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refused", "error"),
    [
        ({"code_verifier": "a" * 43}, "invalid_grant"),
        ({"redirect_uri": "https://app.example/other"}, "invalid_grant"),
        ({"resource": "https://mcp.example.com/other"}, "invalid_target"),
        ({"code_verifier": None}, "invalid_request"),
    ],
    ids=["wrong-verifier", "other-redirect-uri", "other-resource", "no-verifier"],
)
async def test_a_refused_redemption_issues_nothing_and_leaves_the_code_usable(
    lab: Lab, refused: dict[str, str | None], error: str
) -> None:
    client_id = await registered_client(lab)
    code = await get_code(lab, client_id)
    response = await token_request(lab, code_form(client_id, code, **refused))
    assert response.status_code == 400 and response.json()["error"] == error, response.text
    assert not lab.auth_server.issued and not lab.auth_server.refresh_tokens
    assert (await token_request(lab, code_form(client_id, code))).status_code == 200


async def test_a_code_refused_because_the_store_is_full_can_be_redeemed_once_there_is_room(lab: Lab) -> None:
    server = lab.auth_server
    client_id = await registered_client(lab)
    assert (await token_request(lab, code_form(client_id, await get_code(lab, client_id)))).status_code == 200
    code = await get_code(lab, client_id)
    server.issued.max_entries = 1
    refused = await token_request(lab, code_form(client_id, code))
    assert_oauth_error(refused, 503, "temporarily_unavailable", "limit")
    assert refused.headers["Retry-After"] == str(ACCESS_TOKEN_LIFETIME) and not server.codes[code].used
    server.issued.max_entries = 10
    assert (await token_request(lab, code_form(client_id, code))).status_code == 200
    assert_oauth_error(await token_request(lab, code_form(client_id, code)), 400, "invalid_grant", "already used")


async def test_two_concurrent_redemptions_of_one_code_give_exactly_one_token(lab: Lab) -> None:
    client_id = await registered_client(lab)
    code = await get_code(lab, client_id)
    responses = await asyncio.gather(*(token_request(lab, code_form(client_id, code)) for _ in range(2)))
    assert sorted(r.status_code for r in responses) == [200, 400]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 400)
    assert_oauth_error(loser, 400, "invalid_grant", "already used")
    # The second redemption revoked what the first issued (OAuth 2.1 §4.1.3 SHOULD).
    assert lab.auth_server.active_access_token(winner["access_token"]) is None
    assert lab.auth_server.refresh_tokens[winner["refresh_token"]].revoked


async def test_a_second_redemption_revokes_the_access_token_even_without_a_refresh_token(lab: Lab) -> None:
    client_id = await registered_client(lab, grant_types=["authorization_code"])
    code = await get_code(lab, client_id)
    first = (await token_request(lab, code_form(client_id, code))).json()
    assert "refresh_token" not in first
    assert lab.auth_server.active_access_token(first["access_token"]) is not None
    assert_oauth_error(await token_request(lab, code_form(client_id, code)), 400, "invalid_grant", "revoked")
    assert lab.auth_server.active_access_token(first["access_token"]) is None


async def test_a_second_redemption_revokes_a_token_exchanged_for_the_codes_token_even_after_that_one_expired(
    lab: Lab,
) -> None:
    # OAuth 2.1 §4.1.3: a second use SHOULD revoke "all access tokens and refresh tokens previously
    # issued based on that authorization code"; a token exchanged for the code's access token (RFC 8693) is one, and
    # outlives it. Found modelling tests/test_stateful_grants.py: with no refresh token, the
    # exchanged token was linked only to the code's access token, and the link went with it.
    server = lab.auth_server
    server.preregister(
        "exchanger", {"grant_types": [TOKEN_EXCHANGE, "client_credentials"], "token_endpoint_auth_method": "client_secret_post"},
        "s3cret",
    )  # fmt: skip
    server.exchange_rules["exchanger"] = ExchangeRule(serves=MCP_URL, targets={API: frozenset({"contacts:read"})})
    client_id = await registered_client(lab, grant_types=["authorization_code"])
    code = await get_code(lab, client_id)
    first = (await token_request(lab, code_form(client_id, code))).json()
    lab.clock.advance(ACCESS_TOKEN_LIFETIME - 1)
    exchange = {"grant_type": TOKEN_EXCHANGE, "client_id": "exchanger", "client_secret": "s3cret", "resource": API,
                "subject_token": first["access_token"], "subject_token_type": ACCESS_TOKEN_TYPE}  # fmt: skip
    exchanged = (await token_request(lab, exchange)).json()["access_token"]
    lab.clock.advance(1)  # the code's access token expires, and the next grant forgets its record
    credentials = {
        "grant_type": "client_credentials",
        "client_id": "exchanger",
        "client_secret": "s3cret",
        "resource": MCP_URL,
    }
    assert (await token_request(lab, credentials)).status_code == 200
    assert_oauth_error(await token_request(lab, code_form(client_id, code)), 400, "invalid_grant", "revoked")
    assert server.active_access_token(exchanged) is None


async def test_a_second_redemption_revokes_the_grant_after_the_code_itself_is_forgotten(lab: Lab) -> None:
    # A code lives 60 s, and an expired one is dropped as the next code is stored; the grant its
    # redemption began lives a day. Found by a race-and-replay attack: replayed 15 minutes on,
    # after another user's sign-in, the code was "unknown", and its refresh token stayed good.
    client_id = await registered_client(lab)
    code = await get_code(lab, client_id)
    first = (await token_request(lab, code_form(client_id, code))).json()
    lab.clock.advance(ACCESS_TOKEN_LIFETIME)
    await get_code(lab, await registered_client(lab))  # another user's code: the expired one goes
    assert code not in lab.auth_server.codes
    assert_oauth_error(
        await token_request(lab, code_form(client_id, code)), 400, "invalid_grant", "already used", "revoked"
    )
    refreshed = await token_request(lab, refresh_form(client_id, first["refresh_token"]))
    assert_oauth_error(refreshed, 400, "invalid_grant")
    # Another client presenting it learns nothing, and revokes nothing (the code was not issued to it).
    other = await registered_client(lab)
    assert_oauth_error(await token_request(lab, code_form(other, code)), 400, "invalid_grant", "unknown")


async def test_a_code_whose_redemption_record_was_pushed_out_is_still_single_use(lab: Lab) -> None:
    # OAuth 2.1 §4.1.3: a code is used once. The record that lets a replay revoke its grant is
    # bounded (a client's oldest gives way to its newest); the code's own mark still refuses it.
    lab.auth_server.redeemed_codes = ExpiringStore(1)
    client_id, other = await registered_client(lab), await registered_client(lab)
    code, others_code = await get_code(lab, client_id), await get_code(lab, other)
    assert (await token_request(lab, code_form(client_id, code))).status_code == 200
    assert (await token_request(lab, code_form(other, others_code))).status_code == 200
    assert code not in lab.auth_server.redeemed_codes
    assert_oauth_error(await token_request(lab, code_form(client_id, code)), 400, "invalid_grant", "already used")


async def test_the_client_never_sends_its_code_twice(lab: Lab) -> None:
    """RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more than once." Step 6
    run again (a learner re-running the cell) is refused by the client, which sends nothing, so
    the AS has no reason to revoke the token the first redemption brought (OAuth 2.1 §4.1.3)."""
    client = lab.client("dcr")
    for _ in range(6):
        await client.next_step()
    token, requests = client.state.access_token, len(lab.trace.exchanges)
    with pytest.raises(StepError, match=r"MUST NOT use a code more than once \(RFC 6749 §4\.1\.2.*Run step 5 again"):
        await client.exchange_code()
    assert len(lab.trace.exchanges) == requests and client.records[-1].exchanges == []
    assert not lab.auth_server.revoked_jtis and client.state.access_token == token
    await client.call_mcp()  # the token still works
    await client.authorize()  # a new code ...
    await client.exchange_code()  # ... is sent once
    assert client.state.access_token != token


# Refresh tokens --------------------------------------------------------------------------------


async def test_a_refresh_that_brings_no_new_refresh_token_leaves_the_old_one_usable(lab: Lab) -> None:
    # RFC 6749 §6: the AS MAY revoke the old refresh token "after issuing a new refresh token".
    lab.auth_server.offline_access = True
    client_id = await registered_client(lab)
    code = await get_code(lab, client_id, scope="notes:read offline_access")
    refresh_token = (await token_request(lab, code_form(client_id, code, resource=MCP_URL))).json()["refresh_token"]
    form = refresh_form(client_id, refresh_token)
    narrowed = await token_request(lab, {**form, "scope": "notes:read"})
    assert narrowed.status_code == 200 and "refresh_token" not in narrowed.json()
    again = await token_request(lab, form)
    assert again.status_code == 200 and again.json()["refresh_token"] != refresh_token


async def test_two_concurrent_refreshes_of_one_token_give_exactly_one_token_and_count_as_reuse(lab: Lab) -> None:
    client_id = await registered_client(lab)
    code = await get_code(lab, client_id)
    refresh_token = (await token_request(lab, code_form(client_id, code))).json()["refresh_token"]
    form = refresh_form(client_id, refresh_token)
    responses = await asyncio.gather(token_request(lab, form), token_request(lab, form))
    assert sorted(r.status_code for r in responses) == [200, 400]
    assert_oauth_error(next(r for r in responses if r.status_code == 400), 400, "invalid_grant", "reuse detected")
    # The AS cannot tell which of the two was the thief: the winner's new token dies too (OAuth 2.1 §4.3.1).
    winner = next(r for r in responses if r.status_code == 200).json()
    assert lab.auth_server.refresh_tokens[winner["refresh_token"]].revoked


# ID-JAG (RFC 7523 grant) -------------------------------------------------------------------------


async def test_an_id_jag_refused_because_the_store_is_full_can_be_presented_again(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    assertion = good(idp)
    assert (await present(lab, good(idp))).status_code == 200
    lab.auth_server.issued.max_entries = 1
    assert_oauth_error(await present(lab, assertion), 503, "temporarily_unavailable", "limit")
    lab.auth_server.issued.max_entries = 10
    assert (await present(lab, assertion)).status_code == 200
    assert_oauth_error(await present(lab, assertion), 400, "invalid_grant", "replay")


async def test_two_concurrent_presentations_of_one_id_jag_give_exactly_one_token(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    assertion = good(idp)
    responses = await asyncio.gather(present(lab, assertion), present(lab, assertion))
    assert sorted(r.status_code for r in responses) == [200, 400]


# Consent transactions --------------------------------------------------------------------------


async def test_a_refused_consent_decision_leaves_the_transaction_for_the_next_click(lab: Lab) -> None:
    browser = Browser(lab.httpx_client("browser"))
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage)
    refused = await browser.decide(page, "maybe")
    assert isinstance(refused, ConsentPage) and refused.status == 400
    assert "decision must be" in refused.fields["error_description"]
    approved = await browser.decide(page, "approve")
    assert isinstance(approved, Redirect) and "code" in approved.params
    again = await browser.decide(page, "approve")  # a decision spends it
    assert isinstance(again, ConsentPage) and "already used" in again.fields["error_description"]


async def test_two_concurrent_decisions_on_one_transaction_give_exactly_one_code(lab: Lab) -> None:
    browser = Browser(lab.httpx_client("browser"))
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage)
    results = await asyncio.gather(browser.decide(page, "approve"), browser.decide(page, "approve"))
    assert sorted(isinstance(r, Redirect) for r in results) == [False, True]
