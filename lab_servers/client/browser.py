"""The user's browser: opens the authorization URL, shows the consent page, submits the user's
decision, and hands the redirect back to the client without following it (the client captures
the redirect, as a native or CLI app does with its callback)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from ..error_text import told
from ..rfc9110 import RepeatedField, one_field
from .server_data import ServerDataRefused, receive, server_url


@dataclass
class ConsentPage:
    url: str
    status: int
    html: str
    action: str | None = None
    hidden: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)  # the page's data-field values (what the user reads)
    # An error page's link back to the client: the redirect an AS offers rather than sends, to a
    # redirect URI it does not trust (RFC 9700 §4.11.2). The user, not the browser, may follow it.
    way_back: str | None = None

    @property
    def is_consent(self) -> bool:
        return self.action is not None


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = ConsentPage("", 0, "")
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            # HTML form submission: an absent action is the empty string, the page's own URL (`_resolved`).
            self.page.action = a.get("action", "")
        elif tag == "input" and a.get("type") == "hidden":
            self.page.hidden[a.get("name", "")] = a.get("value", "")
        if tag == "a" and a.get("data-field") == "way_back":
            self.page.way_back = a.get("href")
        if "data-field" in a:
            self._field = a["data-field"]
            self.page.fields[self._field] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("dd", "code", "p", "a"):
            self._field = None

    def handle_data(self, data: str) -> None:
        if self._field:
            self.page.fields[self._field] += data


def _read_page(html: str) -> _PageParser:
    """A page parsed as far as html.parser can: CPython's `_markupbase` raises AssertionError on a
    marked section it cannot name (`<![ x]>`), which escaped step 5 as a traceback; a page the
    browser cannot read is the server's to answer for (`ServerDataRefused` fails the step)."""
    parser = _PageParser()
    try:
        parser.feed(html)
    except AssertionError as unreadable:
        raise ServerDataRefused(f"the page is not HTML this browser can read ({told(str(unreadable))})") from None
    return parser


@dataclass
class Redirect:
    location: str

    @property
    def _pairs(self) -> list[tuple[str, str]]:
        # keep_blank_values: `iss=` is an iss, and an empty one, which RFC 9207 §2.4's exact
        # comparison refuses; parse_qs's default drops it, so it read as no iss at all.
        return parse_qsl(urlsplit(self.location).query, keep_blank_values=True)

    @property
    def params(self) -> dict[str, str]:
        """Each parameter's first value (see `repeated` for those that came more than once)."""
        params: dict[str, str] = {}
        for name, value in self._pairs:
            params.setdefault(name, value)
        return params

    @property
    def repeated(self) -> list[str]:
        """The parameters given more than once: RFC 6749 §3.1 (OAuth 2.1 §3.1) says MUST NOT."""
        names = [name for name, _ in self._pairs]
        return sorted({name for name in names if names.count(name) > 1})


class Browser:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def open(self, url: str, *, stop_at: str | None = None) -> ConsentPage | Redirect:
        """GET `url`. With `stop_at` (the client's redirect URI) the browser follows redirects
        elsewhere, as a real one does, and hands back the first one that goes to `stop_at`."""
        # `url` is the client's own authorization request, built on an endpoint discovery already
        # checked (server_url); the Locations below are the servers', and are checked here.
        response = await receive(self.http, "GET", url)
        for _ in range(5):
            if not response.is_redirect or stop_at is None or _location(response, url).startswith(stop_at):
                break
            url = server_url(_location(response, url), f"the Location {url} redirected the browser to")
            response = await receive(self.http, "GET", url)
        if response.is_redirect:
            return Redirect(_location(response, url))
        parser = _read_page(response.text)
        page = parser.page
        page.url, page.status, page.html = url, response.status_code, response.text
        page.action = None if page.action is None else _resolved(url, page.action)
        page.way_back = None if page.way_back is None else _resolved(url, page.way_back)
        return page

    async def decide(self, page: ConsentPage, decision: str) -> Redirect | ConsentPage:
        """Press Approve or Deny on the consent page."""
        if page.action is None:
            raise ValueError("this page has no consent form")
        action = server_url(page.action, "the consent form's action")
        response = await receive(self.http, "POST", action, data={**page.hidden, "decision": decision})
        if response.is_redirect:
            return Redirect(_location(response, action))
        parser = _read_page(response.text)
        parser.page.url, parser.page.status, parser.page.html = action, response.status_code, response.text
        parser.page.action = None if parser.page.action is None else _resolved(action, parser.page.action)
        return parser.page


def _location(response: httpx.Response, url: str) -> str:
    """Where a redirect goes. RFC 9110 §10.2.2: Location is a URI-reference, and a relative one "is
    interpreted relative to the target URI": `/login` from https://as.example/authorize is
    https://as.example/login, which the browser had refused as no absolute URL. One Location, a
    singleton (RFC 9110 §5.3): httpx joins two lines with ", ", which read as one relative
    reference, and the browser went to `https://a.example/x,%20https://b.example/y`."""
    try:
        location = one_field(response.headers.get_list("location"), "Location", "§10.2.2", carrier="the redirect")
    except RepeatedField as repeated:
        raise ServerDataRefused(str(repeated)) from None
    return _resolved(url, location or "")


def _resolved(base: str, reference: str) -> str:
    """`reference` resolved against `base` (RFC 3986 §5.2), an absolute one kept as it came. A
    Location (RFC 9110 §10.2.2), and a form's action (HTML: a URL parsed relative to the page's;
    an empty one is the page's own)."""
    try:
        return reference if urlsplit(reference).scheme else urljoin(base, reference)
    except ValueError:  # no URL at all (`http://[::1`): as it came, for server_url to refuse by name
        return reference
