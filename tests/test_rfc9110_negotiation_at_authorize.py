"""An error the authorization endpoint may not redirect (OAuth 2.1 §4.1.2.1: an unknown client, a
redirect URI it did not register) is told to whoever asked: a page to a browser, the error object
to a client that asks for JSON over HTML (RFC 9110 §12.1, proactive negotiation; §12.5.1, Accept).

mcp-remote probes a stored client's authorization URL with `Accept: application/json` before it
sends its user there, and registers again on a JSON `invalid_client`; when the lab answered only
in HTML, a user whose lab had restarted was sent to a page naming a client the lab forgot."""

from __future__ import annotations

import httpx
import pytest

from lab_servers import CLIENT_METADATA_URL, Lab
from lab_servers.client import Browser, ConsentPage
from lab_servers.rfc9110 import weight_of

from .helpers import REDIRECT_URI, assert_oauth_error, authorization_url
from .registered_clients import PUBLIC_CLIENT, registered_client

pytestmark = pytest.mark.anyio

# What Chromium and Firefox send when the user follows a link.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


async def _authorize(lab: Lab, client_id: str, accept: str | None, **overrides: str | None) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        if accept is None:
            del http.headers["accept"]  # httpx sends `Accept: */*` unless told otherwise
        else:
            http.headers["accept"] = accept
        return await http.get(authorization_url(client_id, **overrides))


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",  # mcp-remote's probe
        "Application/JSON",  # §8.3.1: type and subtype are case-insensitive
        "application/*",
        "application/json, text/html;q=0.5",
        "text/html;q=0, */*",  # HTML ruled out, anything else welcome
        "text/plain, application/json;q=0.9",
        # §12.5.1: a range's parameters narrow it; the page carries no `level`, so this range names
        # no page, and with it the more specific text/html;level=1 does not outweigh text/html.
        "application/json;q=0.5, text/html;level=1",
        "application/json;q=0.5, text/html;level=1, text/html;q=0.1",
        "application/json;q=0.5, text/html ; q=0",  # §12.4.2: weight = OWS ";" OWS "q=" qvalue
        "text/html;q=5, application/json",  # the malformed weight's range does not count; the rest does
        "application/json;q=0.5, application/json;q=0.9, text/html;q=0.8",  # equally specific: the higher counts
        "text/html;q=0.5, application/json; charset=UTF-8",  # JSON is UTF-8 (RFC 8259 §8.1): the range names it
        "application/json;q=0.5;q=2",  # q once and last (§12.5.1); sent twice, the first is read, as the ABNF judge reads it
    ],
)
async def test_a_client_that_asks_for_json_over_html_gets_the_error_object(lab: Lab, accept: str) -> None:
    response = await _authorize(lab, "tpc_unknown", accept)
    # RFC 6749 §5.2's error object; still no redirect (§4.1.2.1), and never cached (RFC 9700 §4.16's
    # page headers all stay), and the answer says it varied with Accept (RFC 9110 §12.5.5).
    assert_oauth_error(response, 400, "invalid_client", "unknown client_id")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store" and response.headers["vary"] == "Accept"
    assert response.headers["x-frame-options"] == "DENY" and "location" not in response.headers


@pytest.mark.parametrize(
    "accept",
    [
        None,  # §12.5.1: no Accept "will accept any media type": the server's choice, the page
        "*/*",  # httpx, curl
        BROWSER_ACCEPT,
        "text/html, application/json",  # a tie: the page stands
        "application/json;q=0.5, text/*",
        "application/json;q=2",  # §12.4.2: no weight above 1; a range with a malformed weight does not count
        'application/json, text/plain;a="unclosed',  # no Accept list at all: nothing to trust
        "application/json;q=0.5, text/html;level=1, text/*",  # text/* is what names the page
        'application/json;q=0.9, text/html;charset="UTF-8"',  # §8.3.2: charset is case-insensitive
    ],
)
async def test_a_browser_or_a_client_with_no_preference_gets_the_page(lab: Lab, accept: str | None) -> None:
    response = await _authorize(lab, "tpc_unknown", accept)
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
    assert "invalid_client" in response.text and response.headers["vary"] == "Accept"


async def test_an_unregistered_redirect_uri_is_not_redirected_to_whatever_was_asked_for(lab: Lab) -> None:
    response = await _authorize(lab, CLIENT_METADATA_URL, "application/json", redirect_uri="https://evil.example/cb")
    assert_oauth_error(response, 400, "invalid_request", "not in the client's metadata document")
    assert "location" not in response.headers  # §4.1.2.1: "MUST NOT automatically redirect"


async def test_an_error_the_client_may_hear_is_redirected_whatever_the_accept(lab: Lab) -> None:
    # Once client and redirect URI are known, errors go back to the client on the redirect (§4.1.2.1),
    # at once to a redirect URI the AS trusts: one an administrator registered (RFC 9700 §4.11.2).
    client_id = lab.auth_server.preregister("admin-app", {**PUBLIC_CLIENT, "redirect_uris": [REDIRECT_URI]}).client_id
    response = await _authorize(lab, client_id, "application/json", response_type="token")
    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT_URI + "?error=unsupported_response_type")


async def test_an_error_for_a_redirect_uri_anyone_could_register_is_told_in_the_shape_asked_for(lab: Lab) -> None:
    # RFC 9700 §4.11.2: a DCR client's redirect URI is not trusted, so its error is not redirected
    # at once: a client asking for JSON gets the error object; a browser, a page with the way back.
    client = await registered_client(lab)
    response = await _authorize(lab, client["client_id"], "application/json", response_type="token")
    assert_oauth_error(response, 400, "unsupported_response_type", "response_type must be 'code'")
    assert "location" not in response.headers
    page = await Browser(lab.httpx_client("browser")).open(
        authorization_url(client["client_id"], response_type="token")
    )
    assert isinstance(page, ConsentPage) and page.status == 400 and page.fields["error"] == "unsupported_response_type"
    assert page.way_back is not None and page.way_back.startswith(REDIRECT_URI + "?error=unsupported_response_type")


async def test_a_consent_decision_refused_answers_json_to_a_client_asking_for_it(lab: Lab) -> None:
    async with lab.httpx_client("client") as http:
        response = await http.post(
            f"{lab.issuer}/authorize/decision",
            data={"txn": "no-such-transaction", "decision": "approve"},
            headers={"Accept": "application/json"},
        )
    assert_oauth_error(response, 400, "invalid_request", "unknown or already used consent transaction")
    # The lab's browser, as a user's, asks for no JSON: it still gets the page it can read.
    page = await Browser(lab.httpx_client("browser")).open(authorization_url("tpc_unknown"))
    assert isinstance(page, ConsentPage) and not page.is_consent and page.fields["error"] == "invalid_client"


async def test_accept_sent_as_several_lines_is_weighed_as_the_one_list_they_make(lab: Lab) -> None:
    # RFC 9110 §5.3: a recipient may combine a list field's lines, in order, "into one field
    # line"; reading only the first or the last line would weigh a different list.
    for lines in (["text/html;q=0.1", "application/json"], ["application/json", "text/html;q=0.1"]):
        async with lab.httpx_client("client") as http:
            response = await http.get(authorization_url("tpc_unknown"), headers=[("Accept", line) for line in lines])
        assert_oauth_error(response, 400, "invalid_client", "unknown client_id")


# RFC 9110 §12.5.1's own example: "Accept: text/*;q=0.3, text/html;q=0.7, text/html;level=1,
# text/html;level=2;q=0.4, */*;q=0.5 would cause the following values to be associated".
SECTION_12_5_1 = "text/*;q=0.3, text/html;q=0.7, text/html;level=1, text/html;level=2;q=0.4, */*;q=0.5"


@pytest.mark.parametrize(
    ("media_type", "value"),
    [("text/html;level=1", 1), ("text/html", 0.7), ("text/plain", 0.3), ("image/jpeg", 0.5),
     ("text/html;level=2", 0.4), ("text/html;level=3", 0.7)],
)  # fmt: skip
def test_the_weights_of_rfc_9110_s_own_accept_example(media_type: str, value: float) -> None:
    assert weight_of(SECTION_12_5_1, media_type) == value


def test_a_value_that_is_no_accept_list_gives_no_weight_at_all() -> None:
    # What is no list says nothing a server can trust (not "weight 0", which a list can say).
    assert weight_of('application/json, text/plain;a="unclosed', "application/json") is None
    assert weight_of("text/plain", "application/json") == 0.0


@pytest.mark.parametrize("written", ["level=1", 'level="1"', 'level="\\1"', "LEVEL=1"])
def test_a_range_s_parameter_is_compared_as_its_value_however_it_is_written(written: str) -> None:
    # §5.6.6: a parameter name is case-insensitive, and a value "as either a token or within a
    # quoted-string" is the same value; §5.6.4: a quoted-pair stands for the octet it escapes.
    accept = f"text/html;{written};q=0.5, text/html;q=0.1"
    assert weight_of(accept, "text/html;level=1") == 0.5
    assert weight_of(accept, "text/html;level=2") == 0.1
