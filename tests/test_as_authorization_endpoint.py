"""The authorization server's authorization endpoint and consent page, rule by rule (OAuth 2.1
§4.1): a bad client or redirect URI is shown to the user, never redirected; other bad parameters
are redirected back with state and iss, at once to a redirect URI the AS trusts and through a page
the user may follow to any other (RFC 9700 §4.11.2); the consent transaction works once, and its
pages are neither framed, cached nor referred."""

from __future__ import annotations

import pytest

from lab_servers import CLIENT_METADATA_URL, HARDENED, ISSUER, NAIVE, ASPolicy, Lab
from lab_servers.authorization_server.authorize import CONSENT_LIFETIME
from lab_servers.client import Browser, ConsentPage, Redirect

from .helpers import (
    REDIRECT_URI,
    authorization_url,
    code_form,
    get_code,
    open_authorization,
    register,
    sent_back,
    token_request,
)
from .registered_clients import PUBLIC_CLIENT, registered_client

pytestmark = pytest.mark.anyio


# The authorization endpoint (OAuth 2.1 §4.1) ----------------------------------------------------


async def test_consent_for_a_dcr_client_marks_the_name_unverified(lab: Lab) -> None:
    client = await registered_client(lab, client_name="Claude Desktop")
    page = await open_authorization(lab, client["client_id"])
    assert isinstance(page, ConsentPage) and page.is_consent
    assert "unverified" in page.html and "Claude Desktop" in page.html


async def test_consent_for_a_cimd_client_shows_both_hostnames(lab: Lab) -> None:
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage)
    assert page.fields["client_id"] == CLIENT_METADATA_URL
    assert page.fields["redirect_host"].startswith("app.example")
    assert '<span class="host">app.example</span>' in page.html


async def test_consent_page_cannot_be_framed(lab: Lab) -> None:
    async with lab.httpx_client("browser") as http:
        from .helpers import authorization_url

        response = await http.get(authorization_url(CLIENT_METADATA_URL))
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("overrides", "error", "mention"),
    [
        ({"redirect_uri": "https://evil.example/callback"}, "invalid_request", "not registered for this client"),
        ({"redirect_uri": "https://app.example/callback/extra"}, "invalid_request", "must match exactly"),
        # OAuth 2.1 §4.1.1, MCP §11.5: compared as exact strings, so what a URL normaliser would
        # call the same URI is another one (only a loopback http one may change its port, §8.4.2).
        ({"redirect_uri": "https://app.example/callback/"}, "invalid_request", "must match exactly"),
        ({"redirect_uri": "https://APP.example/callback"}, "invalid_request", "must match exactly"),
        ({"redirect_uri": "https://app.example:443/callback"}, "invalid_request", "must match exactly"),
        ({"client_id": "tpc_unknown"}, "invalid_client", "unknown client_id"),
        ({"client_id": None}, "invalid_request", "client_id is required"),
        ({"state": "a\tb"}, "invalid_request", "state must be printable ASCII"),
    ],
    ids=[
        "foreign-redirect",
        "prefix-redirect",
        "redirect-with-a-slash-added",
        "redirect-in-another-case",
        "redirect-with-the-default-port",
        "unknown-client",
        "no-client",
        "state-with-a-tab",
    ],
)
async def test_bad_client_or_redirect_uri_is_shown_to_the_user_never_redirected(
    lab: Lab, overrides: dict, error: str, mention: str
) -> None:
    client = await registered_client(lab)
    outcome = await open_authorization(lab, client["client_id"], **overrides)
    assert isinstance(outcome, ConsentPage) and not outcome.is_consent
    assert outcome.status == 400
    assert outcome.fields["error"] == error
    assert mention in outcome.fields["error_description"]


async def test_redirect_uri_not_in_the_cimd_document_is_refused(lab: Lab) -> None:
    outcome = await open_authorization(lab, CLIENT_METADATA_URL, redirect_uri="https://app.example/other")
    assert isinstance(outcome, ConsentPage) and outcome.status == 400
    assert "not in the client's metadata document" in outcome.fields["error_description"]


@pytest.mark.parametrize(
    ("overrides", "error", "mention"),
    [
        ({"code_challenge": None}, "invalid_request", "PKCE is mandatory"),
        ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"code_challenge_method": None}, "invalid_request", "plain"),
        ({"code_challenge": "short"}, "invalid_request", "43-128"),
        ({"response_type": "token"}, "unsupported_response_type", "code"),
        ({"response_type": None}, "invalid_request", "response_type is required"),
        ({"resource": None}, "invalid_target", "resource is required"),
        ({"resource": "https://other.example/mcp"}, "invalid_target", "not a protected resource"),
        ({"resource": "https://mcp.example.com/mcp#frag"}, "invalid_target", "fragment"),
        ({"resource": "urn:example:notes"}, "invalid_target", "not a protected resource"),
        ({"resource": "/mcp"}, "invalid_target", "must be an absolute URI"),
        ({"scope": "admin"}, "invalid_scope", "admin"),
    ],
    ids=[
        "no-pkce",
        "plain",
        "method-omitted",
        "short-challenge",
        "implicit",
        "no-response-type",
        "no-resource",
        "foreign-resource",
        "resource-fragment",
        "resource-with-no-authority",
        "resource-relative",
        "unknown-scope",
    ],
)
@pytest.mark.parametrize("trusted", [False, True], ids=["dcr-client", "preregistered-client"])
async def test_bad_authorization_parameters_are_redirected_back_with_state_and_iss(
    lab: Lab, overrides: dict, error: str, mention: str, trusted: bool
) -> None:
    # RFC 9700 §4.11.2: sent at once only to a redirect URI the AS trusts (one an administrator
    # registered); to one anyone could register, the error page offers the user the way back.
    if trusted:
        client_id = lab.auth_server.preregister(
            "admin-app", {**PUBLIC_CLIENT, "redirect_uris": [REDIRECT_URI]}
        ).client_id
    else:
        client_id = (await registered_client(lab))["client_id"]
    outcome = await open_authorization(lab, client_id, **overrides)
    assert isinstance(outcome, Redirect) == trusted, outcome
    back = sent_back(outcome)
    assert back.location.startswith(REDIRECT_URI + "?")
    assert back.params["error"] == error
    assert mention in back.params["error_description"]
    assert back.params["state"] == "st" and back.params["iss"] == ISSUER


@pytest.mark.parametrize("policy", [HARDENED, NAIVE], ids=["hardened", "naive"])
async def test_the_as_is_no_open_redirector_for_a_redirect_uri_anyone_can_register(policy: ASPolicy) -> None:
    # RFC 9700 §4.11.2's first attack: register a client by DCR with a phishing page as its
    # redirect URI, then send a request broken on purpose. A link on the AS's own domain sent any
    # browser to evil.example at once; the hardened AS tells the user, naming where the link goes.
    async with Lab(seed=0, policy=policy) as lab:
        registered = await register(
            lab, {"redirect_uris": ["https://evil.example/landing"], "token_endpoint_auth_method": "none"}
        )
        outcome = await Browser(lab.httpx_client("browser")).open(
            f"{ISSUER}/authorize?client_id={registered.json()['client_id']}&response_type=x"
        )
    if policy is NAIVE:
        assert isinstance(outcome, Redirect) and outcome.location.startswith("https://evil.example/landing?error=")
        return
    assert isinstance(outcome, ConsentPage) and outcome.status == 400 and not outcome.is_consent
    assert outcome.way_back and outcome.way_back.startswith(
        "https://evil.example/landing?error=unsupported_response_type"
    )
    assert "evil.example" in outcome.html and "does not vouch for" in outcome.html


@pytest.mark.parametrize(
    ("repeated", "error"),
    [("resource=https%3A%2F%2Fmcp.example.com%2Fmcp", "invalid_target"), ("scope=notes%3Aread", "invalid_request"),
     ("code_challenge_method=S256", "invalid_request")],
    ids=["resource", "scope", "code_challenge_method"],
)  # fmt: skip
async def test_a_repeat_of_a_parameter_other_than_where_errors_go_is_sent_back_to_the_client(
    lab: Lab, repeated: str, error: str
) -> None:
    # RFC 8707 §2 lets a client send several resources (its Figure 2), and §2.1 has an AS that
    # will not serve them refuse with invalid_target; as every error once the client and its
    # redirect URI are known, back to the client with state (OAuth 2.1 §4.1.2.1). Read before
    # them, a repeat of any parameter was an AS page the client never heard of.
    client = await registered_client(lab)
    page = await Browser(lab.httpx_client("browser")).open(authorization_url(client["client_id"]) + "&" + repeated)
    back = sent_back(page)
    assert (back.params["error"], back.params["state"]) == (error, "st")
    assert "more than once" in back.params["error_description"]


async def test_uppercase_scheme_and_host_in_resource_are_accepted_as_the_canonical_uri(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"], resource="HTTPS://MCP.EXAMPLE.COM/mcp")
    response = await token_request(lab, code_form(client["client_id"], code))
    assert response.status_code == 200


async def test_a_repeated_parameter_is_refused(lab: Lab) -> None:
    from .helpers import authorization_url

    async with lab.httpx_client("browser") as http:
        response = await http.get(authorization_url(CLIENT_METADATA_URL) + "&client_id=tpc_other")
    assert response.status_code == 400 and "repeated" in response.text


async def test_deny_redirects_with_access_denied(lab: Lab) -> None:
    from lab_servers.client import Browser

    browser = Browser(lab.httpx_client("browser"))
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage)
    redirect = await browser.decide(page, "deny")
    assert isinstance(redirect, Redirect)
    assert redirect.params["error"] == "access_denied" and redirect.params["iss"] == ISSUER


async def test_a_consent_transaction_works_once(lab: Lab) -> None:
    from lab_servers.client import Browser

    browser = Browser(lab.httpx_client("browser"))
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage)
    assert isinstance(await browser.decide(page, "approve"), Redirect)
    again = await browser.decide(page, "approve")
    assert isinstance(again, ConsentPage) and again.status == 400
    assert again.fields["error"] == "invalid_request"
    assert "already used" in again.fields["error_description"]


async def test_a_scope_only_another_resource_of_this_as_defines_is_invalid_scope_at_authorize(lab: Lab) -> None:
    # The scope is for the resource the token is for (RFC 8707 §2, RFC 6749 §3.3): a scope the AS
    # knows from another server means nothing at this one, and would ride in a token it accepts.
    lab.auth_server.resource_scopes["https://admin.example.com/mcp"] = ["admin:all"]
    client = await registered_client(lab)
    outcome = sent_back(await open_authorization(lab, client["client_id"], scope="notes:read admin:all"))
    assert outcome.params["error"] == "invalid_scope"
    assert "admin:all for https://mcp.example.com/mcp" in outcome.params["error_description"]


async def test_a_request_without_redirect_uri_is_refused_when_the_client_registered_several(lab: Lab) -> None:
    # OAuth 2.1 §4.1.1 / RFC 6749 §3.1.2.3: redirect_uri may be left out only when exactly one is
    # registered; with several, the AS cannot tell which one the client means.
    client = await registered_client(lab, redirect_uris=[REDIRECT_URI, "https://app.example/other"])
    outcome = await open_authorization(lab, client["client_id"], redirect_uri=None)
    assert isinstance(outcome, ConsentPage) and not outcome.is_consent and outcome.status == 400
    assert "redirect_uri is required" in outcome.fields["error_description"]
    single = await registered_client(lab)
    assert isinstance(await open_authorization(lab, single["client_id"], redirect_uri=None), ConsentPage)


async def test_the_redirect_carrying_the_code_is_not_cacheable(lab: Lab) -> None:
    # The authorization response carries a credential (the code, OAuth 2.1 §4.1.2); like every
    # response holding one (OAuth 2.1 §3.2.3: Cache-Control: no-store) no cache may keep it.
    async with lab.httpx_client("browser") as http:
        page = await Browser(http).open(authorization_url(CLIENT_METADATA_URL))
        assert isinstance(page, ConsentPage) and page.action is not None
        response = await http.post(page.action, data={**page.hidden, "decision": "approve"})
    assert response.status_code == 303 and "code=" in response.headers["location"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_the_answer_to_the_consent_forms_post_is_a_303_see_other(lab: Lab, decision: str) -> None:
    # RFC 9700 §4.12: the AS redirecting a form POST "MUST NOT use the HTTP 307 status code" and
    # "SHOULD use HTTP status code 303 'See Other'": only a 303 makes every user agent follow with
    # a GET, so the form is never posted on to the client.
    async with lab.httpx_client("browser") as http:
        page = await Browser(http).open(authorization_url(CLIENT_METADATA_URL))
        assert isinstance(page, ConsentPage) and page.action is not None
        response = await http.post(page.action, data={**page.hidden, "decision": decision})
    assert response.status_code == 303
    assert response.headers["location"].startswith(REDIRECT_URI + "?")


@pytest.mark.parametrize("client_id", [CLIENT_METADATA_URL, "tpc_unknown"], ids=["consent", "error"])
async def test_the_authorization_endpoints_pages_suppress_the_referer(lab: Lab, client_id: str) -> None:
    # RFC 9700 §4.2.4: the authorization endpoint's page should "suppress the Referer header by
    # applying an appropriate Referrer Policy to the document": its URL carries the request's state.
    # `same-origin` sends no Referer to any other origin, and keeps the form's POST from carrying
    # `Origin: null` (as under `no-referrer`), which the served lab's Origin check would refuse.
    async with lab.httpx_client("browser") as http:
        response = await http.get(authorization_url(client_id))
    assert response.status_code in (200, 400) and "text/html" in response.headers["content-type"]
    assert response.headers["referrer-policy"] == "same-origin"


async def test_a_consent_decision_at_the_second_the_transaction_expires_is_refused(lab: Lab) -> None:
    # A consent transaction lives CONSENT_LIFETIME seconds; at its expiry second it is over
    # (RFC 7519 §4.1.4's "on or after", the reading every expiry in this AS follows).
    browser = Browser(lab.httpx_client("browser"))
    page = await browser.open(authorization_url(CLIENT_METADATA_URL))
    assert isinstance(page, ConsentPage) and page.is_consent
    lab.clock.advance(CONSENT_LIFETIME)
    outcome = await browser.decide(page, "approve")
    assert isinstance(outcome, ConsentPage) and outcome.status == 400
    assert outcome.fields["error"] == "invalid_request"
    assert "consent transaction expired" in outcome.fields["error_description"]
