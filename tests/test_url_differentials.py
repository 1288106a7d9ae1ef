"""URL parser differentials: one URL string, read by two parts of the lab (or by the lab and the
user's browser), must mean one scheme, one host and one path to both.

The authorization server judges and shows a redirect URI as Python's `urlsplit` reads it; the
user's browser follows it as the WHATWG URL Standard reads it. Each "browser reads" comment below
is what Node's `URL` (a WHATWG parser) made of the string. The defensive fetch vets a host as
`urlsplit` reads it and httpx connects to the host as httpx reads it; the lab network routes by
the URL httpx sends.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from lab_servers import HARDENED, Lab
from lab_servers.authorization_server.rfc7591 import MetadataError, check_redirect_uri
from lab_servers.client import ConsentPage, Redirect
from lab_servers.client.client_id_url import redirect_uri_problem
from lab_servers.loopback import is_loopback_host, reaches_this_machine
from lab_servers.rfc3986 import browser_reading_problem, grammar_problem, reading_difference, shown
from lab_servers.security.cimd_rules import DOCUMENT_URL, json_response, valid_document
from lab_servers.security.network_fixtures import ADMIN_ADDRESS, add_internal_network
from lab_servers.security.requests import open_authorization, refusal, register

from .registered_clients import PUBLIC_CLIENT as DCR

pytestmark = pytest.mark.anyio


# (id, redirect URI, where a browser goes, a phrase of the rule the AS names)
READ_OTHERWISE_BY_A_BROWSER = [
    # urlsplit: host 127.0.0.1, so "http on loopback" passed the AS's own check (authlib's '@' rule,
    # with no rule named and the wrong error code, was all that stood in the way).
    ("backslash-userinfo", "http://evil.example\\@127.0.0.1/cb", "http://evil.example/@127.0.0.1/cb", "backslash"),
    ("backslash-dot-segments", "https://app.example/cb\\..\\admin", "https://app.example/admin", "backslash"),
    ("backslash-in-host", "https://evil.example\\.app.example/cb", "https://evil.example/.app.example/cb", "backslash"),
    ("userinfo", "https://app.example@evil.example/cb", "https://evil.example/cb", "RFC 3986 section 7.6"),
    ("percent-encoded-host", "https://app%2Eexample/cb", "https://app.example/cb", "percent-decodes"),
    ("decimal-ipv4-host", "https://2130706433/cb", "https://127.0.0.1/cb", "numeric host"),
    ("short-ipv4-host", "https://127.1/cb", "https://127.0.0.1/cb", "numeric host"),
    ("hex-ipv4-host", "https://0x7f.0.0.1/cb", "https://127.0.0.1/cb", "numeric host"),
    ("brace-in-query", "https://app.example/cb?x={1}", "https://app.example/cb?x={1}", "no URI contains"),
    # urlsplit: host ::1%25eth0, loopback to ipaddress, so http was allowed; a browser refuses the URL.
    ("ipv6-zone-id", "http://[::1%25eth0]:3000/cb", "(no URL: Invalid URL)", "IPv6 zone id"),
]


@pytest.mark.parametrize(
    ("uri", "browser_goes_to", "rule"),
    [case[1:] for case in READ_OTHERWISE_BY_A_BROWSER],
    ids=[case[0] for case in READ_OTHERWISE_BY_A_BROWSER],
)
async def test_a_redirect_uri_a_browser_would_read_as_another_url_is_refused_at_registration(
    uri: str, browser_goes_to: str, rule: str
) -> None:
    """RFC 7591 §3.2.2: "invalid_redirect_uri: The value of one or more redirection URIs is
    invalid." The consent page shows the host urlsplit reads (MCP §11.6.2); the code goes where
    the browser reads, so the two must be the same."""
    async with Lab(seed="url-differentials") as lab:
        response = await register(lab, {**DCR, "redirect_uris": [uri]})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_redirect_uri"
        assert rule in response.json()["error_description"]
        assert not lab.registrations


async def test_the_refusal_shows_the_backslash_it_is_about() -> None:
    # RFC 6749 §5.2 allows no backslash in an error_description. The URI was quoted with repr,
    # whose `\\` the description's rule then made `//`: a refusal for a backslash that showed
    # none. A URI is shown percent-encoded, as RFC 3986 §2.1 writes what a URI cannot hold.
    async with Lab(seed="url-differentials") as lab:
        response = await register(lab, {**DCR, "redirect_uris": ["http://evil.example\\@127.0.0.1/cb"]})
    described = response.json()["error_description"]
    assert described.startswith("redirect_uri 'http://evil.example%5C@127.0.0.1/cb' has a character no URI contains")


def test_a_uri_longer_than_a_description_is_shown_by_its_two_ends_and_encoded_no_further() -> None:
    # A description keeps 600 characters (MAX_DESCRIPTION_CHARS): the whole of a 64 KB value was
    # encoded first (786,456 characters for this one, up to 20 times repr's work) only to be cut.
    uri = "https://a.example/" + "\U0001f600" * 65_536 + "/end"
    quoted = shown(uri)
    assert quoted.startswith("'https://a.example/%F0%9F%98%80") and quoted.endswith("%F0%9F%98%80/end'")
    assert " [...] " in quoted and len(quoted) < 8_000


def test_a_uri_as_long_as_a_description_keeps_is_shown_whole() -> None:
    # Only a value longer than the 600 characters a description keeps is cut to its two ends.
    uri = "https://a.example/" + "a" * (600 - len("https://a.example/"))
    assert shown(uri) == f"'{uri}'"
    assert shown(uri + "a") == f"'{uri[:300]} [...] {(uri + 'a')[-300:]}'"  # longer: 300 characters of each end


@pytest.mark.parametrize(
    "uri", [case[1] for case in READ_OTHERWISE_BY_A_BROWSER], ids=[case[0] for case in READ_OTHERWISE_BY_A_BROWSER]
)
async def test_a_cimd_document_listing_such_a_redirect_uri_is_refused_before_consent(uri: str) -> None:
    async with Lab(seed="url-differentials", policy=HARDENED) as lab:
        internal = add_internal_network(lab)
        internal.attacker.publish_response("/client.json", json_response(valid_document(redirect_uris=[uri])))
        refused = refusal(await open_authorization(lab, DOCUMENT_URL, uri))
    assert refused is not None
    assert refused[0] == "invalid_client"
    assert "redirect_uri" in refused[1]


@pytest.mark.parametrize("uri", [case[1] for case in READ_OTHERWISE_BY_A_BROWSER])
def test_the_client_refuses_to_use_such_a_redirect_uri_itself(uri: str) -> None:
    assert redirect_uri_problem(uri) is not None


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/cb",
        "https://app.example:8443/cb?tenant=a&x=%7B1%7D",
        "http://127.0.0.1:3000/callback",
        "http://[::1]:3000/callback",
        "http://localhost:3000/callback",
        "https://192.0.2.10/cb",  # a dotted quad reads alike everywhere
    ],
)
def test_a_redirect_uri_every_parser_reads_alike_is_still_accepted(uri: str) -> None:
    check_redirect_uri(uri)  # raises MetadataError if refused
    assert redirect_uri_problem(uri) is None


def test_the_old_loopback_bypass_is_named_by_the_labs_own_rule_not_only_by_authlib() -> None:
    """urlsplit reads the host after the '@': 127.0.0.1, where http is allowed (MCP §11.3). The
    lab's own check refuses it, whatever the metadata library behind it would say."""
    assert urlsplit("http://evil.example\\@127.0.0.1/cb").hostname == "127.0.0.1"
    with pytest.raises(MetadataError) as refused:
        check_redirect_uri("http://evil.example\\@127.0.0.1/cb")
    assert refused.value.error == "invalid_redirect_uri"


# The consent page's localhost warning (MCP §11.6.2: the AS SHOULD warn about localhost-only
# redirect URIs) -----------------------------------------------------------------------------

# Every one of these lands on the user's own machine; only the first three were warned about.
THIS_MACHINE = [
    "http://127.0.0.1:3000/cb",
    "http://localhost:3000/cb",
    "http://[::1]:3000/cb",
    "http://127.0.0.2:3000/cb",  # 127.0.0.0/8 is loopback (RFC 1122 §3.2.1.3)
    "http://[0:0::1]:3000/cb",  # ::1 spelled out (RFC 4291 §2.2); a browser writes [::1]
    "https://localhost./cb",  # RFC 6761 §6.3: localhost names resolve to loopback
    "https://app.localhost/cb",  # a browser reads https://app.localhost/cb, resolved to loopback
    "https://[::ffff:127.0.0.1]/cb",  # a browser reads [::ffff:7f00:1]: 127.0.0.1 on a dual stack
    "https://0.0.0.0/cb",  # the unspecified address: a connection to it reaches the local host
]


async def consent_for_a_document_redirecting_to(uri: str) -> ConsentPage | Redirect:
    """The consent page the hardened AS shows for a CIMD client whose one redirect URI is `uri`."""
    async with Lab(seed="url-differentials", policy=HARDENED) as lab:
        internal = add_internal_network(lab)
        internal.attacker.publish_response("/client.json", json_response(valid_document(redirect_uris=[uri])))
        return await open_authorization(lab, DOCUMENT_URL, uri)


@pytest.mark.parametrize("uri", THIS_MACHINE)
async def test_a_cimd_client_whose_only_redirect_lands_on_the_users_machine_is_warned_about(uri: str) -> None:
    page = await consent_for_a_document_redirecting_to(uri)
    assert refusal(page) is None
    assert "only redirects to localhost" in page.fields.get("warning", "")


@pytest.mark.parametrize(
    "uri", ["https://localhost.evil.example/cb", "https://evil.example/localhost", "https://notlocalhost/cb"]
)
async def test_a_redirect_that_only_mentions_localhost_is_not_warned_about(uri: str) -> None:
    page = await consent_for_a_document_redirecting_to(uri)
    assert refusal(page) is None
    assert "warning" not in page.fields


def test_plain_http_stays_narrower_than_the_warning() -> None:
    """RFC 8252 §7.3 / OAuth 2.1 §8.4.2: http is for the loopback IP literal (and localhost); a
    name that merely resolves there, or an IPv4-mapped form, is warned about but not given http."""
    for host in ("localhost.", "app.localhost", "::ffff:127.0.0.1", "0.0.0.0"):
        assert reaches_this_machine(host)
        assert not is_loopback_host(host)


# The defensive fetch: the host the AS vets is the host the network connects to -----------------


def test_httpx_reads_some_hosts_otherwise_than_urlsplit() -> None:
    """The differentials the fetch below must survive (if httpx ever reads these alike, the
    pin test still holds; this one documents why it exists)."""
    assert urlsplit("https://private\u3002evil.example/k").hostname == "private\u3002evil.example"
    assert httpx.URL("https://private\u3002evil.example/k").host == "private.evil.example"
    assert urlsplit("https://a<b.example/k").hostname == "a<b.example"
    assert httpx.URL("https://a<b.example/k").host == "a%3Cb.example"


@pytest.mark.parametrize("field", ["logo_uri", "jwks_uri"])
async def test_a_metadata_url_whose_host_httpx_rewrites_never_reaches_the_internal_host(field: str) -> None:
    """CIMD -02 §8.6: the AS MUST NOT fetch a URL that resolves to a special-use address.
    `private。evil.example` (an ideographic full stop, U+3002) does not resolve as urlsplit reads
    it, while httpx (IDNA) reads private.evil.example, which is 10.0.0.5. The AS vets and pins
    the name httpx connects to (`defensive_fetch.connected_host`), so it refuses that address."""
    url = "https://private\u3002evil.example/api/secrets"
    metadata = {**DCR, field: url}
    if field == "jwks_uri":
        metadata["token_endpoint_auth_method"] = "private_key_jwt"
    async with Lab(seed="url-differentials", policy=HARDENED) as lab:
        add_internal_network(lab)
        response = await register(lab, metadata)
        assert not [e for e in lab.trace if e.address == ADMIN_ADDRESS or e.host == "private.evil.example"]
        assert "private.evil.example resolves to special-use address 10.0.0.5" in response.json()["error_description"]


@pytest.mark.parametrize(
    "uri",
    [
        "com.example.app:/c[b]?next=https://app.example/",  # no authority: the "://" is in the query
        "https://us[er@app.example/cb",  # §3.2.1: userinfo is unreserved, pct-encoded, sub-delims, ":"
        "https://app.exa]mple/cb",  # §3.2.2: a reg-name has no brackets
        "https://[::1]x/cb",  # §3.2.2, §3.2.3: after an IP-literal only ":" port
        "https://[::1/cb",  # an IP-literal never closed
        "https:///@[::1]",  # §3.2: an empty authority; the "@" and the brackets are the path's
    ],
)
def test_a_bracket_outside_the_host_is_found_wherever_the_uri_has_one(uri: str) -> None:
    # RFC 3986 §3.2.2: "[" and "]" are gen-delims that appear in a URI only around an IP literal
    # host, and §3 puts the authority right after the scheme's "//", nowhere else.
    assert "RFC 3986 §3.2.2" in (grammar_problem(uri) or "")
    assert grammar_problem("http://[::1]:8080/cb?next=https://[::1]/") is not None  # the query's are outside
    assert grammar_problem("http://[::1]:8080/cb?next=https://app.example/") is None


@pytest.mark.parametrize("reader", [browser_reading_problem, reading_difference])
def test_a_string_urlsplit_cannot_read_is_left_to_the_callers_own_parse(reader: object) -> None:
    # Written in URI characters yet no URL (an IP literal never closed): which host a browser reads
    # is moot, and the caller's parse refuses it by its own rule.
    assert reader("http://[::1/cb") is None  # type: ignore[operator]


def test_userinfo_is_a_browser_reading_problem_but_no_reading_difference() -> None:
    # RFC 3986 §7.6: the name before '@' looks like the host to a person, so the browser rule names
    # it; a WHATWG parser, urlsplit and httpx all read the host after the '@', so they do not differ.
    uri = "https://app.example@evil.example/cb"
    assert "RFC 3986 §7.6" in (browser_reading_problem(uri) or "")
    assert reading_difference(uri) is None
