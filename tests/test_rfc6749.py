"""RFC 6749's grammar for what a client sends, read as written: parameters are
application/x-www-form-urlencoded with names and values "encoded using UTF-8" (Appendix B), and
scope = scope-token *( SP scope-token ) with scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (§3.3).

The AS read queries and form bodies with Starlette's parsers, which replace a percent-escape that
is not UTF-8 with U+FFFD and read raw bytes as Latin-1, and split scopes with `str.split()`,
which splits on every Unicode space."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab_servers import ISSUER, Lab
from lab_servers.authorization_server.errors import OAuthError
from lab_servers.authorization_server.rfc6749 import form_urlencoded, scope_tokens
from lab_servers.client import Browser, ConsentPage, Redirect

from .helpers import (
    assert_oauth_error,
    authorization_url,
    code_form,
    get_code,
    open_authorization,
    refresh_form,
    sent_back,
    token_request,
)
from .registered_clients import registered_client

pytestmark = pytest.mark.anyio

# Spaces and separators that are not SP: HTAB, VT, NBSP, NEL, ideographic space, line separator.
NOT_SP = ["\t", "\x0b", "\u00a0", "\u0085", "\u3000", "\u2028"]


# Appendix B: UTF-8, then percent-encoded ----------------------------------------------------------


def test_names_and_values_are_percent_decoded_utf_8_with_plus_as_space() -> None:
    assert form_urlencoded(b"state=caf%C3%A9+au+lait&scope=a%20b&e=&flag&&x=%2B") == [
        ("state", "café au lait"), ("scope", "a b"), ("e", ""), ("flag", ""), ("x", "+"),
    ]  # fmt: skip


def test_raw_utf_8_bytes_read_as_their_percent_encoding_does_not_as_latin_1() -> None:
    # Starlette read the raw bytes of "é" as Latin-1, "Ã©"; a form is bytes, and the bytes are UTF-8.
    assert form_urlencoded("state=é".encode()) == form_urlencoded(b"state=%C3%A9") == [("state", "é")]


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)  # any Unicode a str encodes to UTF-8


@given(st.lists(st.tuples(TEXT, TEXT), max_size=5))
def test_whatever_a_form_serializer_writes_reads_back_as_it_was(pairs: list[tuple[str, str]]) -> None:
    # Both of Python's serializers: "+" for a space (urlencode) and "%20" with "~" unencoded (quote).
    assert form_urlencoded(urlencode(pairs).encode()) == pairs
    assert form_urlencoded("&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs).encode()) == pairs


@pytest.mark.parametrize("body", [b"state=%FF", b"state=%C3", b"state=%ED%A0%80", b"%FF=x", b"state=\xff"])
def test_a_name_or_value_that_is_not_utf_8_is_invalid_request_never_replaced(body: bytes) -> None:
    with pytest.raises(OAuthError) as refused:
        form_urlencoded(body)
    assert refused.value.error == "invalid_request" and "RFC 6749 Appendix B" in refused.value.description


async def test_a_state_that_is_not_utf_8_is_refused_not_echoed_back_as_another_value(lab: Lab) -> None:
    # RFC 6749 §4.1.2: state goes back "exactly" as received. Read as U+FFFD, state=%FF went back to
    # the client as state=%EF%BF%BD: a value it never sent, which its check of state refuses at best.
    page = await Browser(lab.httpx_client("browser")).open(authorization_url(lab.client_metadata_url) + "&state=%FF")
    assert isinstance(page, ConsentPage) and not page.is_consent and page.status == 400
    assert "RFC 6749 Appendix B" in page.html


async def test_a_state_of_printable_ascii_goes_back_exactly_as_it_came(lab: Lab) -> None:
    # Appendix A.5: state = 1*VSCHAR, VSCHAR = %x20-7E: the space, the quote and the backslash too.
    redirect = await _approved(lab, authorization_url(lab.client_metadata_url, state=' a"b\\c&d=e#f ~'))
    assert redirect.params["state"] == ' a"b\\c&d=e#f ~'


@pytest.mark.parametrize(
    # VSCHAR's bounds: U+001F just below %x20, DEL (%x7F) just above %x7E, U+0080 the first past ASCII.
    "state",
    ["café ✓", "a\tb", "\u2028", "a\x1fb", "a\x7fb", "\x7f", "a\x80b"],
    ids=["utf-8", "tab", "line-separator", "unit-separator", "del", "del-alone", "first-past-ascii"],
)
async def test_a_state_outside_appendix_a5_is_refused_on_the_page(lab: Lab, state: str) -> None:
    # §4.1.2 sends state back as "the exact value received from the client", which Appendix A.5
    # would not allow here; the AS sent "café ✓" back as it came, outside the grammar.
    page = await Browser(lab.httpx_client("browser")).open(authorization_url(lab.client_metadata_url, state=state))
    assert isinstance(page, ConsentPage) and not page.is_consent and page.status == 400
    assert "RFC 6749 Appendix A.5" in page.html


async def test_a_token_request_with_a_value_that_is_not_utf_8_is_invalid_request(lab: Lab) -> None:
    code = await get_code(lab, lab.client_metadata_url)
    form = code_form(lab.client_metadata_url, code)
    async with lab.httpx_client("client") as http:
        body = "&".join(f"{k}={v}" for k, v in form.items() if k != "code_verifier") + "&code_verifier=%FF" + "v" * 43
        response = await http.post(
            f"{ISSUER}/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert_oauth_error(response, 400, "invalid_request", "code_verifier", "not UTF-8", "RFC 6749 Appendix B")


# §3.3: scope-tokens separated by SP -----------------------------------------------------------------


def test_a_scope_is_its_tokens_each_once() -> None:
    assert scope_tokens("notes:read notes:write notes:read") == ["notes:read", "notes:write"]
    # The lab's reading of what names no token: omitted, as it always was.
    assert scope_tokens(None) == scope_tokens("") == scope_tokens("  ") == []


@pytest.mark.parametrize("separator", NOT_SP, ids=repr)
def test_a_scope_separated_by_anything_but_sp_is_malformed(separator: str) -> None:
    with pytest.raises(OAuthError) as refused:
        scope_tokens(f"notes:read{separator}notes:write")
    assert refused.value.error == "invalid_scope" and "RFC 6749 section 3.3" in refused.value.description


@pytest.mark.parametrize(
    # NQCHAR's bounds too: U+001F below %x21 (and %x20 only separates), DEL (%x7F) above %x7E.
    "scope",
    ['notes:"read"', "notes\\read", "notes:réad", "notes:read\x00", "\u3000", "notes:read\x1f", "notes:read\x7f"],
    ids=repr,
)
def test_a_scope_token_outside_its_characters_is_malformed(scope: str) -> None:
    with pytest.raises(OAuthError, match=r"RFC 6749 section 3\.3"):
        scope_tokens(scope)


@pytest.mark.parametrize("separator", NOT_SP, ids=repr)
async def test_at_the_authorization_endpoint_a_scope_split_by_another_space_is_invalid_scope(
    lab: Lab, separator: str
) -> None:
    # str.split() read "notes:read<TAB>notes:write" as two scopes, and the user approved both.
    outcome = sent_back(
        await open_authorization(lab, lab.client_metadata_url, scope=f"notes:read{separator}notes:write")
    )
    assert outcome.params["error"] == "invalid_scope" and "RFC 6749 section 3.3" in outcome.params["error_description"]


async def test_a_scope_of_only_another_space_is_invalid_scope_not_the_default(lab: Lab) -> None:
    # str.strip() made U+3000 no scope at all, and the AS granted its default.
    outcome = sent_back(await open_authorization(lab, lab.client_metadata_url, scope="\u3000"))
    assert outcome.params["error"] == "invalid_scope", outcome


async def test_a_refresh_narrowed_to_a_malformed_scope_is_invalid_scope(lab: Lab) -> None:
    client_id = lab.client_metadata_url
    code = await get_code(lab, client_id, scope="notes:read notes:write")
    granted = (await token_request(lab, code_form(client_id, code))).json()
    response = await token_request(lab, refresh_form(client_id, granted["refresh_token"], scope="notes:read\u00a0"))
    assert_oauth_error(response, 400, "invalid_scope", "RFC 6749 section 3.3")


async def _approved(lab: Lab, url: str) -> Redirect:
    browser = Browser(lab.httpx_client("browser"))
    page = await browser.open(url)
    assert isinstance(page, ConsentPage) and page.is_consent, page
    redirect = await browser.decide(page, "approve")
    assert isinstance(redirect, Redirect)
    return redirect


async def test_a_form_whose_media_type_is_padded_with_nbsp_is_not_a_form(lab: Lab) -> None:
    # OAuth 2.1 §3.2.2 and RFC 9110 §5.6.3: OWS is SP and HTAB; str.strip() also took the NBSP.
    async with lab.httpx_client("client") as http:
        response = await http.post(
            f"{ISSUER}/token",
            content=b"grant_type=client_credentials",
            headers={"Content-Type": b"application/x-www-form-urlencoded\xa0"},
        )
    assert_oauth_error(response, 400, "invalid_request", "application/x-www-form-urlencoded")


# §3.1, §3.2: "Parameters sent without a value MUST be treated as if they were omitted from the
# request" (OAuth 2.1 §3.1 and §3.2 say the same) ------------------------------------------------


async def test_a_state_sent_without_a_value_is_no_state_and_the_redirect_carries_none(lab: Lab) -> None:
    # The AS echoed `state=` back: a client that sent no state must find none (§4.1.2: "REQUIRED if
    # the "state" parameter was present in the client authorization request").
    redirect = await _approved(lab, authorization_url(lab.client_metadata_url, state=""))
    assert "state" not in redirect.params and redirect.params["code"]


async def test_a_redirect_uri_sent_without_a_value_is_the_one_registered_at_both_endpoints(lab: Lab) -> None:
    # OAuth 2.1 §4.1.1: redirect_uri is OPTIONAL when the client registered only one; §4.1.3: the
    # token request names it only if the authorization request did.
    redirect = await _approved(lab, authorization_url(lab.client_metadata_url, redirect_uri=""))
    assert redirect.location.startswith("https://app.example/callback?")
    response = await token_request(lab, code_form(lab.client_metadata_url, redirect.params["code"], redirect_uri=""))
    assert response.status_code == 200, response.text


async def test_a_public_client_sending_client_secret_without_a_value_sends_no_secret(lab: Lab) -> None:
    # A public client (token_endpoint_auth_method "none") that fills in an empty client_secret
    # authenticates with none: an empty value is no value.
    code = await get_code(lab, lab.client_metadata_url)
    response = await token_request(lab, code_form(lab.client_metadata_url, code, client_secret=""))
    assert response.status_code == 200, response.text


async def test_a_basic_client_sending_client_secret_without_a_value_uses_one_method(lab: Lab) -> None:
    # §2.3: "MUST NOT use more than one authentication method in each request"; an empty
    # client_secret in the body is no second method.
    client = await registered_client(lab, token_endpoint_auth_method="client_secret_basic")
    code = await get_code(lab, client["client_id"])
    credentials = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    form = code_form(client["client_id"], code, client_id=None, client_secret="")
    response = await token_request(lab, form, headers={"Authorization": f"Basic {credentials}"})
    assert response.status_code == 200, response.text


async def test_a_revocation_hint_sent_without_a_value_is_no_hint(lab: Lab) -> None:
    code = await get_code(lab, lab.client_metadata_url)
    tokens = (await token_request(lab, code_form(lab.client_metadata_url, code))).json()
    async with lab.httpx_client("client") as http:
        form = {"token": tokens["access_token"], "token_type_hint": "", "client_id": lab.client_metadata_url}
        response = await http.post(f"{ISSUER}/revoke", data=form)
    assert response.status_code == 200, response.text
