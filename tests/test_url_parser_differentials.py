"""Every URL the lab accepts from a stranger means one place to every party that acts on it.

The lab reads a URL with `urlsplit` (RFC 3986); httpx, which fetches it, with its own RFC 3986
parser and IDNA; a browser, which follows it, with the WHATWG URL Standard (judged here by `ada`,
Node's parser: `url_judges.py`). Where two of them read one URL as different hosts, a check made
on one reading is undone by an action taken on the other (Orange Tsai, "A New Era of SSRF"). So at
each place the lab takes a URL, a URL it accepts must have one origin (RFC 6454 §4) to every
reader that reads it at all, and a URL they part on must be refused, by the spec's error with a
description naming the rule, never a 500.

The places: the AS's CIMD client_id check (CIMD -02 §3) and the trust policy (MCP §11.6.3); the
host the defensive fetch vets and pins against the host httpx connects to (CIMD §8.6); redirect
URI registration (RFC 7591 §2, RFC 6749 §3.1.2) and the Location the AS sends there (RFC 9700
§4.1: the browser lands on the origin the consent page showed); `resource` (RFC 8707 §2); the lab
client's reading of every server-given URL (`server_url`: discovery, WWW-Authenticate's
resource_metadata, AS endpoints) and its browser's resolution of a Location or a form's action
(RFC 9110 §10.2.2, HTML form submission) against where a browser goes.

The generated cross-product of hostile prefixes, hosts and paths runs under `slow`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from lab_servers import Lab
from lab_servers.authorization_server.authorize import redirect_to_client
from lab_servers.authorization_server.cimd import check_client_id_url
from lab_servers.authorization_server.defensive_fetch import FetchRefused, defensive_fetch
from lab_servers.authorization_server.errors import OAuthError
from lab_servers.authorization_server.policy import HARDENED, NAIVE
from lab_servers.authorization_server.resources import canonical_resource
from lab_servers.authorization_server.rfc7591 import MetadataError, check_client_metadata, check_redirect_uri
from lab_servers.client.browser import _resolved
from lab_servers.client.client_id_url import client_id_url_problem
from lab_servers.client.server_data import ServerDataRefused, server_url
from lab_servers.network import PINNED_ADDRESS, PinnedAddress
from lab_servers.security.requests import open_authorization, refusal

from .url_judges import (
    HOSTILE_HOSTS,
    HOSTILE_REFERENCES,
    disagreement,
    generated_urls,
    httpx_reading,
    lab_reading,
    whatwg_reading,
    whatwg_resolved,
)

FAST_URLS = [f"https://{host}/client.json" for host in HOSTILE_HOSTS]
RULE_NAMED = ("§", "section", "lab policy")  # OAuthError writes § as "section" (RFC 6749 §5.2: ASCII)


def _outcome(check: Callable[[str], Any], url: str, refusals: tuple[type[Exception], ...]) -> Exception | None:
    """None when `check` accepts `url`, the refusal when it refuses; anything else fails the test."""
    try:
        check(url)
    except refusals as refused:
        return refused
    return None


# The AS: the CIMD Client Identifier URL (CIMD -02 §3) -----------------------------------------------


def _cimd_disagreements(urls: list[str]) -> list[str]:
    found = []
    for url in urls:
        refused = _outcome(lambda u: check_client_id_url(u, HARDENED), url, (OAuthError,))
        if refused is None:
            # Fetched by httpx from the path the lab checked, so the path must agree too.
            problem = disagreement(url, path=True)
            if problem:
                found.append(problem)
        else:
            assert isinstance(refused, OAuthError) and (refused.error, refused.status) == ("invalid_client", 401)
            assert any(mark in refused.description for mark in RULE_NAMED), refused.description
    return found


def test_every_client_id_url_the_as_accepts_names_one_host_and_path_to_every_reader() -> None:
    assert _cimd_disagreements(FAST_URLS) == []


@pytest.mark.slow
def test_every_generated_client_id_url_the_as_accepts_names_one_host_and_path_to_every_reader() -> None:
    assert _cimd_disagreements(generated_urls()) == []


@pytest.mark.parametrize("url", ["https://%61pp.example/client.json", "https://app%2eexample/client.json"])
def test_a_client_id_with_a_percent_encoded_host_is_refused(url: str) -> None:
    # WHATWG URL host parsing percent-decodes: a browser or Node's fetch reads app.example, urlsplit
    # and httpx "%61pp.example". The AS accepted it.
    assert whatwg_reading(url).host == "app.example" != lab_reading(url).host
    with pytest.raises(OAuthError) as refused:
        check_client_id_url(url, HARDENED)
    assert refused.value.error == "invalid_client"
    assert "percent-decodes" in refused.value.description and "lab policy" in refused.value.description


@pytest.mark.parametrize("url", ["https://app.1/client.json", "https://1.2.3.4.5/client.json"])
def test_a_client_id_whose_host_ends_in_a_number_is_refused_as_the_client_refuses_it(url: str) -> None:
    # WHATWG URL's host parser reads a host whose last label is a number as IPv4 and, being none,
    # refuses the URL; httpx looks the name up. The lab client would not present it
    # (client_id_url_problem says the AS refuses it too), while the hardened AS accepted it.
    assert whatwg_reading(url).error and not httpx_reading(url).error
    assert client_id_url_problem(url, {}) is not None
    with pytest.raises(OAuthError) as refused:
        check_client_id_url(url, HARDENED)
    assert refused.value.error == "invalid_client" and "ends in a number" in refused.value.description


@pytest.mark.parametrize(
    "client_id",
    [
        "https://%65vil.example/client.json",  # evil.example to WHATWG
        "https://evil\u3002example/client.json",  # evil.example to httpx (which fetches) and WHATWG
        "https://evil.example\\.app.example/client.json",  # evil.example to WHATWG
    ],
)
def test_a_denied_domain_spelled_so_a_reader_maps_it_is_refused_by_the_trust_policy(client_id: str) -> None:
    # MCP §11.6.3: an AS MAY deny domains. Each spelling matched no pattern, so the denied
    # evil.example passed the trust policy under a policy that checks nothing else, and the naive AS
    # fetched evil。example from evil.example.
    for policy in (
        NAIVE.but(denied_client_domains=("evil.example",)),
        NAIVE.but(allowed_client_domains=("*.app.example",)),
    ):
        with pytest.raises(OAuthError) as refused:
            check_client_id_url(client_id, policy)
        assert "trust policy, MCP section 11.6.3" in refused.value.description
        assert "cannot judge it" in refused.value.description


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("client_id", "rule"),
    [
        ("https://%65vil.example/client.json", "trust policy, MCP section 11.6.3"),  # evil.example to WHATWG
        ("https://xn--app.example/client.json", "does not resolve"),  # no IDNA label: httpx cannot read it
        ("https://[v1.x]/client.json", "not a URL that can be fetched"),  # IPvFuture: urlsplit's alone
    ],
)
async def test_a_client_id_only_some_readers_can_read_is_refused_at_the_authorization_endpoint(
    client_id: str, rule: str
) -> None:
    # Through the AS itself, the browser at /authorize: the spec's error, the rule named, no 500.
    async with Lab(
        seed="url-parser-differentials", policy=HARDENED.but(denied_client_domains=("evil.example",))
    ) as lab:
        page = await open_authorization(lab, client_id, "https://app.example/cb")
    refused = refusal(page)
    assert refused is not None and refused[0] == "invalid_client", page
    assert rule in refused[1]


def test_the_client_refuses_to_present_a_client_id_whose_host_a_browser_reads_otherwise() -> None:
    # client_id_url.py says the AS checks all of it too; the client presented https://127.1/… and
    # https://%61pp.example/…, which the AS refuses.
    for url in ("https://127.1/client.json", "https://%61pp.example/client.json", "https://0x7f.0.0.1/c.json"):
        assert client_id_url_problem(url, {}) is not None, url


# The defensive fetch: the host vetted and pinned is the host httpx connects to (CIMD §8.6) -----------


async def _pin_misses(urls: list[str], accepts: Callable[[str], bool]) -> list[str]:
    """URLs `accepts` lets through that the defensive fetch fetches with a pin that does not apply
    to the host httpx asks the network for (`network.open` reads it with urlsplit from the URL
    httpx sends): there the network looks the name up a second time, the hole the pin closes
    (DNS rebinding)."""
    misses = []
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, stream=httpx.ByteStream(b"{}"), headers={"content-type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        for url in urls:
            if not accepts(url):
                continue
            sent.clear()
            try:
                await defensive_fetch(
                    url, what="client_id", http=http, resolve=lambda _: "93.184.215.90", policy=HARDENED
                )
            except FetchRefused:
                continue
            connected = (urlsplit(str(sent[0].url)).hostname or "").lower()
            pin = sent[0].extensions.get(PINNED_ADDRESS)
            if not (isinstance(pin, PinnedAddress) and pin.applies_to(connected)):
                misses.append(f"{url!r}: pinned {pin}, connected {connected!r}")
    return misses


def _client_id_accepted(url: str) -> bool:
    return _outcome(lambda u: check_client_id_url(u, HARDENED), url, (OAuthError,)) is None


def _web_url_accepted(url: str) -> bool:
    # RFC 7591 §2's URL fields (logo_uri, jwks_uri…), which the AS fetches at registration.
    metadata = {"redirect_uris": ["https://app.example/cb"], "logo_uri": url}
    return _outcome(lambda _: check_client_metadata(metadata, {}), url, (MetadataError,)) is None


@pytest.mark.anyio
async def test_the_host_the_fetch_vets_and_pins_is_the_host_httpx_connects_to() -> None:
    # `https://app。example/logo.png`: urlsplit's host is "app。example", httpx's (IDNA, as a
    # browser's and getaddrinfo's) app.example. The fetch vetted and pinned the first, so the pin
    # did not apply to the name httpx asked for, and the network resolved it again.
    assert await _pin_misses(FAST_URLS, _client_id_accepted) == []
    assert await _pin_misses(FAST_URLS, _web_url_accepted) == []


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_host_the_fetch_vets_and_pins_is_the_host_httpx_connects_to_for_every_generated_url() -> None:
    assert await _pin_misses(generated_urls(), _client_id_accepted) == []
    assert await _pin_misses(generated_urls(), _web_url_accepted) == []


# Redirect URIs: registered (RFC 7591 §2; the CIMD document's too) and followed ---------------------


def _redirect_disagreements(urls: list[str]) -> list[str]:
    found = []
    server: Any = type("Server", (), {"capabilities": HARDENED, "issuer": "https://auth.example.com"})
    server.capabilities = type("Capabilities", (), {"iss_parameter": True})()
    for uri in urls:
        refused = _outcome(check_redirect_uri, uri, (MetadataError,))
        if refused is not None:
            assert isinstance(refused, MetadataError) and refused.error == "invalid_redirect_uri"
            assert any(mark in refused.description for mark in RULE_NAMED), refused.description
            continue
        # The path is left out: the URI is matched as an exact string (RFC 9700 §4.1.3), so a
        # dot segment only the browser removes is the client's own choice, on its own origin.
        problem = disagreement(uri)
        location = redirect_to_client(server, uri, {"code": "c", "state": "s"}).headers["location"]
        shown_host = urlsplit(uri).hostname  # what the consent page shows (consent.py)
        lands = whatwg_reading(location)
        # A browser that refuses the Location (`[v1.x]`, an IPvFuture literal) lands nowhere: the
        # client gets no code, and no one else does (lenient, harmless).
        if problem or (lands.error is None and lands.host != lab_reading(uri).host) or shown_host is None:
            found.append(problem or f"{uri!r}: consent shows {shown_host!r}, the browser lands on {lands}")
    return found


@pytest.mark.parametrize(("uri", "rule"), [("https://app.example:65536/cb", "65535"), ("https://[zz]/cb", "IPv6")])
def test_a_redirect_uri_urlsplit_cannot_read_is_refused_naming_what_it_lacks(uri: str, rule: str) -> None:
    # RFC 3986 §3.2.3's port is any digits; a TCP port, and WHATWG URL, stop at 65535. A bracketed
    # host must be an IP literal (§3.2.2). The description said "a port of digits" and "closed by ']'",
    # which both of these are.
    assert whatwg_reading(uri).error is not None
    with pytest.raises(MetadataError) as refused:
        check_redirect_uri(uri)
    assert refused.value.error == "invalid_redirect_uri" and rule in refused.value.description


def test_every_redirect_uri_the_as_accepts_lands_the_browser_on_the_origin_it_registered() -> None:
    assert _redirect_disagreements([u.replace("/client.json", "/cb") for u in FAST_URLS]) == []


@pytest.mark.slow
def test_every_generated_redirect_uri_the_as_accepts_lands_the_browser_on_the_origin_it_registered() -> None:
    assert _redirect_disagreements(generated_urls()) == []


# RFC 8707 §2: a resource names one of the AS's protected resources --------------------------------


def test_a_resource_the_as_accepts_is_its_resource_to_every_reader() -> None:
    known = ["https://mcp.example.com/mcp"]
    spellings = [f"{p}{h}/mcp" for p in ("https://", "HTTPS://", "https:") for h in ("MCP.example.com", "mcp.example.com.",
                 "mcp%2eexample.com", "mcp\u3002example.com", "mcp.example.com:443", "x@mcp.example.com")]  # fmt: skip
    for value in spellings:
        refused = _outcome(lambda v: canonical_resource(v, known), value, (OAuthError,))
        if refused is None:
            assert disagreement(value) is None and whatwg_reading(value).origin == whatwg_reading(known[0]).origin
        else:
            assert isinstance(refused, OAuthError) and refused.error == "invalid_target"


# The lab client: every URL a server gives it (discovery, resource_metadata, endpoints, Locations) ----


def _server_url_disagreements(urls: list[str]) -> list[str]:
    found = []
    for url in urls:
        try:
            server_url(url, "the URL")
        except ServerDataRefused:
            continue
        problem = disagreement(url)
        if problem:
            found.append(problem)
    return found


def test_every_url_the_client_takes_from_a_server_names_one_origin_to_every_reader() -> None:
    assert _server_url_disagreements(FAST_URLS) == []


@pytest.mark.slow
def test_every_generated_url_the_client_takes_from_a_server_names_one_origin_to_every_reader() -> None:
    assert _server_url_disagreements(generated_urls()) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com\\@evil.example/authorize",  # httpx: evil.example; WHATWG: auth.example.com
        "https://127.1/.well-known/oauth-authorization-server",  # WHATWG: 127.0.0.1
        "https://%61uth.example.com/token",  # WHATWG: auth.example.com
    ],
)
def test_a_server_url_that_httpx_and_a_browser_read_as_different_hosts_is_refused(url: str) -> None:
    assert disagreement(url) is not None
    with pytest.raises(ServerDataRefused, match="WHATWG URL"):
        server_url(url, "AS metadata token_endpoint", https=True)


def test_a_server_url_beyond_ascii_is_refused_naming_ascii() -> None:
    # UTS #46, WHATWG URL's domain to ASCII, maps a capital sigma to sigma (U+03C3); httpx lowercases the host with
    # Python's str.lower, which makes a final one U+03C2: two names, so server_url refuses every host
    # beyond ASCII (as RFC 3986 §2 has it). Its description named backslashes and never ASCII.
    url = "https://a.\u03a3/mcp"
    assert whatwg_reading(url).host == "a.xn--4xa" != httpx_reading(url).host == "a.xn--3xa"
    with pytest.raises(ServerDataRefused, match="beyond ASCII"):
        server_url(url, "the MCP server URL")


BASE = "https://auth.example.com/authorize?client_id=c"


def test_the_browser_goes_where_a_browser_goes_or_nowhere() -> None:
    # RFC 9110 §10.2.2 (Location), HTML form submission (action): resolved against the page's URL.
    # The lab resolves by RFC 3986 (urljoin), a browser by WHATWG: `/\\evil.example/` stays on the
    # AS for urljoin and is evil.example to a browser. Each reference the browser then follows
    # (server_url) must take it where a browser goes; one it refuses is one a browser reads otherwise
    # or a broken one (`https:evil.example`, which WHATWG resolves on the AS: refused, stricter, safe).
    for reference in HOSTILE_REFERENCES:
        resolved = _resolved(BASE, reference)
        try:
            server_url(resolved, "the Location")
        except ServerDataRefused:
            continue
        browser = whatwg_resolved(BASE, reference)
        assert browser is not None, reference
        assert whatwg_reading(browser).origin == httpx_reading(resolved).origin, (reference, resolved, browser)
