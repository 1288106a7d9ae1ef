"""Steps 4-7 as a program drives them: each step's method returns the record of its step, and an
authorization endpoint that answers with a page that is neither a consent form nor an OAuth error
fails step 5 saying what the page was (OAuth 2.1 §4.1.2.1: errors come back in the redirect)."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from lab_servers import Lab
from lab_servers.client import ConsentPage, StepError
from lab_servers.client.browser import Browser
from lab_servers.client.state import decode_jwt_payload

from .hostile_server import HostileServer, _json, _redirect, _run

pytestmark = pytest.mark.anyio


async def test_each_step_method_returns_the_record_of_its_step(lab: Lab) -> None:
    client = await _run(lab, HostileServer(), 3)
    steps = ((client.get_client_id, 4), (client.authorize, 5), (client.exchange_code, 6), (client.call_mcp, 7))
    for method, number in steps:
        record = await method()
        assert record is client.records[-1] and record.number == number


async def test_steps_5_and_6_record_the_code_and_iss_then_what_the_token_response_said(lab: Lab) -> None:
    # What a learner reads on the step cards: the redirect's code and iss (RFC 9207 §2), then the
    # token response's token_type and expires_in (RFC 6749 §5.1) and whether a refresh token came.
    token = {"access_token": "opaque", "token_type": "Bearer", "expires_in": 300, "refresh_token": "r"}
    client = await _run(lab, HostileServer(token=_json(token)), 6)
    assert client.records[4].learned["code"] == "C" and client.records[4].learned["iss"] == "https://hostile.example"
    learned = client.records[5].learned
    assert (learned["token_type"], learned["expires_in"], learned["refresh_token"]) == ("Bearer", 300, True)


async def test_the_pkce_verifier_is_43_characters_and_the_state_holds_128_random_bits(lab: Lab) -> None:
    # RFC 7636 §4.1: "a 32-octet sequence ... base64url-encoded to produce a 43-octet URL safe
    # string"; RFC 6749 §10.10: guessing a generated value SHOULD have probability <= 2^-128, and
    # 16 random octets are 22 base64url characters.
    client = await _run(lab, HostileServer(), 5)
    assert len(client.state.code_verifier) == 43
    assert len(client.state.oauth_state) >= 22


async def test_a_page_that_is_neither_consent_nor_an_oauth_error_fails_step_5_naming_its_status(lab: Lab) -> None:
    server = HostileServer(authorize=Response("<h1>Maintenance</h1>", 503, media_type="text/html"))
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the AS refused the request: HTTP 503 without an "
                                        r"OAuth error \('<h1>Maintenance</h1>'\)$"):  # fmt: skip
        await _run(lab, server, 5)


@pytest.mark.parametrize("query", ["state={state}&iss=https%3A%2F%2Fhostile.example", "code=&state={state}"],
                         ids=["no-code", "empty-code"])  # fmt: skip
async def test_a_redirect_without_a_code_fails_step_5(lab: Lab, query: str) -> None:
    # RFC 6749 §4.1.2: code is REQUIRED in the authorization response; an empty one is none to redeem.
    server = HostileServer(authorize=lambda request: _redirect(request, query))
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the redirect carries no code$"):
        await _run(lab, server, 5)


async def test_a_redirect_carrying_an_error_fails_step_5_even_beside_a_code(lab: Lab) -> None:
    # RFC 6749 §4.1.2.1: a response with `error` says the request failed; a code beside it is no
    # grant the client may redeem.
    query = "code=C&error=access_denied&state={state}&iss=https%3A%2F%2Fhostile.example"
    server = HostileServer(authorize=lambda request: _redirect(request, query))
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the AS answered access_denied"):
        await _run(lab, server, 5)


async def test_a_consent_decision_answered_with_a_page_fails_step_5_naming_the_page(lab: Lab) -> None:
    # The decision posted, the AS answers with a page instead of the redirect back (OAuth 2.1
    # §4.1.2): the step fails with what the page says, never reading the page as a redirect.
    def consent(request: Request) -> Response:
        if request.method == "POST":
            return Response("<p>Session expired</p>", 400, media_type="text/html")
        return Response('<form method="post"><input type="hidden" name="t" value="1"></form>', media_type="text/html")

    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the consent form failed: HTTP 400 without an OAuth "
                                        r"error \('<p>Session expired</p>'\)$"):  # fmt: skip
        await _run(lab, HostileServer(authorize=consent), 5)


async def test_the_consent_page_is_read_field_by_field_as_the_user_sees_it(lab: Lab) -> None:
    # Each data-field ends with its element (dd, code, p); a <span> inside one does not end it.
    connection = await lab.connect("cimd")
    assert connection.records[4].learned["consent_shows"] == {
        "who": "app.example — “Example Agent” wants to act on your behalf, alice.",
        "provenance": "verified origin: the client_id is a document hosted at app.example.",
        "client_id": "https://app.example/client.json",
        "redirect_host": "app.example (https://app.example/callback)",
        "resource": "https://mcp.example.com/mcp",
    }


async def test_the_browser_opens_a_page_once_and_posts_the_decision_once(lab: Lab) -> None:
    # A page is no redirect: the browser follows only 3xx answers with a Location.
    def consent(request: Request) -> Response:
        if request.method == "POST":
            return _redirect(request)
        return Response(
            '<form method="post" action><input type="hidden" name="t" value="1"></form>', media_type="text/html"
        )

    server = HostileServer(authorize=consent)
    await _run(lab, server, 5)
    assert len(server.seen) == 2 and server.seen[1] == server.seen[0]  # `action` with no value: the page's URL


async def test_deciding_on_a_page_with_no_form_is_refused() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(ValueError, match=r"^this page has no consent form$"):
            await Browser(http).decide(ConsentPage("https://as.example/authorize", 200, "<p>hi</p>"), "approve")


async def test_a_user_who_gives_no_client_details_fails_step_4_naming_the_option(lab: Lab) -> None:
    # MCP §5, option 4: the client prompts the user; a user who gives nothing leaves no client_id.
    async def gives_nothing(metadata: dict[str, object]) -> None:
        return None

    client = lab.client("ask-user", ask_user=gives_nothing)
    for _ in range(3):
        await client.next_step()
    with pytest.raises(
        StepError, match=r"^step 4 \(client-id\): the user gave no client details \(MCP §5, option 4\)$"
    ):
        await client.next_step()


def test_a_token_that_is_no_string_has_no_claims_to_show() -> None:
    # RFC 6749 §5.1: access_token is a string; a token from an AS's JSON may be any JSON value.
    assert decode_jwt_payload(5) is None and decode_jwt_payload(["a.b.c"]) is None


async def test_a_redirect_to_the_redirect_uri_itself_is_the_clients_and_fails_on_its_missing_state(lab: Lab) -> None:
    # RFC 6749 §3.1.2: the AS redirects to the registered URI exactly, its parameters added; with
    # none added, it is still the client's redirect URI, and what is missing is the state.
    server = HostileServer(
        authorize=lambda request: Response(status_code=302, headers={"location": request.query_params["redirect_uri"]})
    )
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): state in the redirect does not match the request"):
        await _run(lab, server, 5)


async def test_a_2026_07_28_client_takes_a_response_without_iss_from_an_as_that_does_not_advertise_it(
    lab: Lab,
) -> None:
    # RFC 9207 §2.4: the client compares iss when the response has one, and refuses a response
    # without it only when the AS metadata says authorization_response_iss_parameter_supported.
    server = HostileServer(authorize=lambda request: _redirect(request, "code=C&state={state}"))
    client = await _run(lab, server, 5, revision="2026-07-28")
    assert client.state.code == "C"


async def test_a_client_before_2026_07_28_notes_no_iss_when_the_response_has_none(lab: Lab) -> None:
    # Such a client does not check iss (MCP asked none of it); it notes a wrong one, and an absent
    # one is not wrong.
    server = HostileServer(authorize=lambda request: _redirect(request, "code=C&state={state}"))
    client = await _run(lab, server, 5, revision="2025-11-25")
    assert client.state.code == "C" and not any("iss" in note for note in client.records[-1].notes)


async def test_a_token_response_without_an_access_token_fails_step_6(lab: Lab) -> None:
    # RFC 6749 §5.1: access_token is REQUIRED.
    server = HostileServer(token=_json({"token_type": "Bearer", "expires_in": 60}))
    with pytest.raises(StepError, match=r"^step 6 \(token\): the token response has no bearer access_token$"):
        await _run(lab, server, 6)


async def test_step_6_run_again_does_not_send_the_code_a_second_time(lab: Lab) -> None:
    # RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more than once" (OAuth 2.1
    # §4.1.3: the AS would refuse it and revoke the tokens issued from it): step 6 again, without a
    # new step 5, fails before any request.
    client = await _run(lab, HostileServer(), 6)
    sent = [e for e in lab.trace if e.path == "/token"]
    with pytest.raises(StepError, match=r"^step 6 \(token\): this client already sent its authorization code"):
        await client.exchange_code()
    assert [e for e in lab.trace if e.path == "/token"] == sent and len(sent) == 1


async def test_the_decision_given_to_authorize_overrides_the_clients_own(lab: Lab) -> None:
    # The user decides at consent (OAuth 2.1 §4.1.2): a "deny" passed for this authorization is the
    # answer, whatever the client was built to answer; the AS then redirects with access_denied.
    connection = await lab.connect("cimd")
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the AS answered access_denied"):
        await connection.client.authorize(decision="deny")
