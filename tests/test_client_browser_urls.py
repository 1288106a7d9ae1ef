"""The lab client's browser reads the URLs a server gives it as a browser does: a relative
Location (RFC 9110 §10.2.2) and a consent form's relative action (HTML form submission) are
resolved against the URL they came from (RFC 3986 §5), not refused as no absolute URL. The servers
are `hostile_server.py`'s."""

from __future__ import annotations

from html import escape

import pytest
from starlette.requests import Request
from starlette.responses import Response

from lab_servers import Lab, StepError

from .hostile_server import BASE, HostileServer, _redirect, _run

pytestmark = pytest.mark.anyio


async def test_a_relative_location_is_followed_from_the_url_that_sent_it(lab: Lab) -> None:
    # RFC 9110 §10.2.2: Location is a URI-reference; a relative one "is interpreted relative to the
    # target URI" (RFC 3986 §5). The browser refused `/authorize?hop=1…` as no absolute URL.
    def relative_hop(request: Request) -> Response:
        if "hop" in request.query_params:
            return _redirect(request)
        return Response(status_code=302, headers={"location": f"/authorize?hop=1&{request.url.query}"})

    server = HostileServer(authorize=relative_hop)
    client = await _run(lab, server, 5)
    assert client.records[-1].learned["redirect"].startswith(client.redirect_uri + "?code=C")
    assert server.seen[1].startswith(f"{BASE}/authorize?hop=1&")


async def test_a_consent_forms_relative_action_is_posted_to_the_url_it_names_from_the_page(lab: Lab) -> None:
    # HTML form submission: the action is a URL parsed relative to the page's; the browser refused it.
    def consent_page(request: Request) -> Response:
        if request.method == "POST":
            return _redirect(request)
        form = f'<form method="post" action="authorize?{escape(request.url.query)}"><input type="hidden" name="t" value="1"></form>'
        return Response(form, media_type="text/html")

    server = HostileServer(authorize=consent_page)
    client = await _run(lab, server, 5)
    assert client.records[-1].learned["redirect"].startswith(client.redirect_uri + "?code=C")


async def test_a_consent_form_with_no_action_is_posted_to_the_page_it_is_on(lab: Lab) -> None:
    # HTML form submission: "If action is the empty string, let action be the URL of the form
    # document", and an absent action attribute is the empty string. The browser took a page
    # whose form names no action for no consent page at all, and the step failed.
    def consent_page(request: Request) -> Response:
        if request.method == "POST":
            return _redirect(request)
        return Response('<form method="post"><input type="hidden" name="t" value="1"></form>', media_type="text/html")

    server = HostileServer(authorize=consent_page)
    client = await _run(lab, server, 5)
    assert client.records[-1].learned["redirect"].startswith(client.redirect_uri + "?code=C")
    assert server.seen[1] == server.seen[0]  # posted to the authorization URL the page came from


@pytest.mark.parametrize("location", ["/\\evil.example/cb", "https://127.1/authorize", "https://%65vil.example/cb"])
async def test_a_location_a_browser_reads_as_another_host_is_refused_not_followed_elsewhere(
    lab: Lab, location: str
) -> None:
    # RFC 9110 §10.2.2 resolves a Location by RFC 3986 §5, which urljoin follows: `/\\evil.example/cb`
    # stayed on the AS (path /%5Cevil.example/cb), where a browser (WHATWG URL: "\\" is "/" in an
    # http(s) URL) goes to evil.example. The lab's browser stands in for a real one: it refuses
    # what the two read as different hosts (tests/test_url_parser_differentials.py has the judge).
    server = HostileServer(authorize=Response(status_code=302, headers={"location": location}))
    with pytest.raises(StepError, match="WHATWG URL") as refused:
        await _run(lab, server, 5)
    assert "the Location" in str(refused.value)
    assert len(server.seen) == 1  # not followed: the AS's /authorize was the only page opened


async def test_the_browser_follows_at_most_five_redirects_then_hands_back_the_last(lab: Lab) -> None:
    # An AS that redirects to itself forever: the browser stops after five hops (the lab's bound,
    # where a real browser gives up after about twenty), and the client refuses a redirect that is
    # not to its redirect URI (RFC 6749 §3.1.2) rather than looping.
    def forever(request: Request) -> Response:
        return Response(status_code=302, headers={"location": f"/authorize?hop={len(server.seen)}"})

    server = HostileServer(authorize=forever)
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the AS redirected to 'https://hostile\.example/"
                                        r"authorize\?hop=6', not to this client's redirect_uri$"):  # fmt: skip
        await _run(lab, server, 5)
    assert len(server.seen) == 6  # the authorization request and five redirects followed
