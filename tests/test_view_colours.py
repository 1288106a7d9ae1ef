"""Every view reads the same in JupyterLab's light and dark themes.

An output's background is the page's: near-black in JupyterLab's dark theme. So each HTML view is
a card whose root paints a light background under dark text (views/_html.py), the SVG drawings
paint the same paper, and Mermaid, which JupyterLab draws in its own theme, gets translucent bands
and notes that carry their own colours. Inside an HTML output JupyterLab's stylesheet colours a
table's text, its striped rows, <code> and <pre> by theme, and the browser gives <mark> its own
colours: each of those says its colours itself, as values (the sanitizer that shows untrusted
outputs drops `inherit`). tests/test_browser.py measures the contrast in the dark theme.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

import lab_servers.views
from lab_servers import HARDENED, NAIVE, Lab
from lab_servers.security import ExperimentResult, SprawlPoint
from lab_servers.security.report import policy_table, results_table, rules_table, sprawl_chart
from lab_servers.views import (
    compare_identities,
    sequence_diagram,
    show_as_state,
    show_consent,
    show_exchange,
    show_step,
    show_token,
)
from lab_servers.views._html import HtmlView
from lab_servers.views.mermaid import BAND_COLOURS
from lab_servers.widgets import HandshakeStepper
from lab_servers.widgets.stepper_html import progress_html, static_html, status_html

pytestmark = pytest.mark.anyio

# What JupyterLab's stylesheet (or the browser's) colours inside an HTML output, by element.
THEMED = {
    "table": {"color"},
    "tr": {"background"},
    "code": {"color", "background"},
    "pre": {"color", "background"},
    "mark": {"color", "background"},
}


def _result(policy: str, **details: Any) -> ExperimentResult:
    return ExperimentResult("colours", policy, "shown", "A summary.", "An explanation.", ("RFC 7591",), (), details)


def _rules(policy: str) -> ExperimentResult:
    row = {"case": "address-loopback", "rule": "no loopback", "outcome": "refused", "error_description": "loopback",
           "internal_requests": 1, "internal_answered": 0}  # fmt: skip
    return _result(policy, rows=[row])


def _sprawl(policy: str) -> ExperimentResult:
    return _result(policy, points=[SprawlPoint(clients, clients, 0, 0, 0, 1, 0) for clients in (10, 20)])


async def html_views(lab: Lab) -> dict[str, Any]:
    """One of every HTML view, keyed by the function that makes it."""
    dcr, cimd = await lab.connect("dcr"), await lab.connect("cimd")
    return {
        "show_exchange": show_exchange(lab.trace.exchanges[0]),
        "show_step": show_step(dcr.records[4]),
        "show_token": show_token(dcr.access_token),
        "show_consent": show_consent(cimd.client.state.consent_page),
        "show_as_state": show_as_state(lab),
        "compare_identities": compare_identities(dcr, cimd),
        "policy_table": policy_table(NAIVE, HARDENED),
        "results_table": results_table(_result("naive"), _result("hardened")),
        "rules_table": rules_table(_rules("naive"), _rules("hardened")),
    }


async def stepper_html(lab: Lab) -> dict[str, str]:
    """The stepper's HTML: its static page, its pills, and its status line, an error's included."""
    stepper = HandshakeStepper(lab)
    try:
        while stepper.next_step_number < 3:
            await stepper.advance()
        pages = {
            "static_html": static_html("dcr", sequence_diagram(stepper.records)),
            "progress_html": progress_html(stepper.records, stepper.next_step_number),
            "status_html": status_html(stepper),
        }
        stepper.error = RuntimeError("the AS went away")
        pages["status_html, an error"] = status_html(stepper)
        return pages
    finally:
        await stepper.aclose()


async def all_html(lab: Lab) -> dict[str, str]:
    """The HTML of every view and of the stepper, keyed by what makes it."""
    return {name: view.html for name, view in (await html_views(lab)).items()} | await stepper_html(lab)


def declarations(style: str) -> dict[str, str]:
    """An inline style's declarations, shorthands named by their property family (`background`)."""
    pairs = (d.split(":", 1) for d in style.split(";") if ":" in d)
    return {name.strip().removesuffix("-color") or name.strip(): value.strip() for name, value in pairs}


class _Elements(HTMLParser):
    """(tag, declarations) of every element, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, declarations(dict(attrs).get("style") or "")))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def contrast(a: str, b: str) -> float:
    """WCAG 2.2 contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *subclasses(direct)}}


async def test_every_view_is_a_card_that_paints_its_own_background_under_its_text(lab: Lab) -> None:
    views = await html_views(lab)
    assert subclasses(HtmlView) <= {type(view) for view in views.values()}, "a view with no case here"
    public = {name for name in lab_servers.views.__all__ if name[0].islower() and name != "sequence_diagram"}
    assert public <= set(views), "a public view function with no case here"
    pages = {name: view.html for name, view in views.items()} | await stepper_html(lab)
    for name, html in pages.items():
        _tag, root = elements(html)[0]
        background, text = root.get("background", ""), root.get("color", "")
        assert re.fullmatch("#[0-9a-f]{6}", background) and re.fullmatch("#[0-9a-f]{6}", text), (name, root)
        assert contrast(background, text) >= 7, name


async def test_what_jupyterlab_colours_by_theme_says_its_own_colours(lab: Lab) -> None:
    pages = await all_html(lab)
    seen = set()
    for name, html in pages.items():
        for tag, declared in elements(html):
            seen.add(tag)
            assert THEMED.get(tag, set()) <= declared.keys(), (name, tag, declared)
            assert "inherit" not in declared.values(), (name, tag, declared)
    assert seen >= THEMED.keys()  # each is checked somewhere


VOID = frozenset({"br", "img", "meta", "hr", "input", "wbr"})  # elements with no end tag


class _Text(HTMLParser):
    """(text, its colour, the background under it) of every run of text: the nearest colour and
    background declared on the element or an ancestor (None where nothing declares one)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.runs: list[tuple[str, str | None, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.stack.append((tag, declarations(dict(attrs).get("style") or "")))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def nearest(self, name: str) -> str | None:
        return next((d[name] for _, d in reversed(self.stack) if d.get(name, "transparent") != "transparent"), None)

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.runs.append((data.strip(), self.nearest("color"), self.nearest("background")))


async def test_every_piece_of_text_reads_at_4_5_to_1_on_what_is_painted_under_it(lab: Lab) -> None:
    # WCAG 1.4.3: 4.5:1 for text; muted text (dimmed headers, spec sections, steps to come) included.
    pages = await all_html(lab)
    for name, html in pages.items():
        parser = _Text()
        parser.feed(html)
        for text, colour, background in parser.runs:
            assert colour and background, (name, text)
            assert contrast(colour, background) >= 4.5, (name, text, colour, background)


async def test_the_drawings_paint_their_own_paper(lab: Lab) -> None:
    await lab.connect("dcr")
    for svg in (sequence_diagram(lab.trace, title="DCR").svg, sprawl_chart(_sprawl("naive"))._repr_svg_()):
        drawn = re.sub(r"^<svg [^>]*>(<title>[^<]*</title>)?", "", svg)
        assert re.match(r'<rect width="100%" height="100%" fill="#f[0-9a-f]{5}"/>', drawn), svg[:300]


async def test_mermaid_bands_are_tints_over_either_page_and_its_notes_carry_their_own_colours(lab: Lab) -> None:
    await lab.connect("dcr")
    text = sequence_diagram(lab.trace).mermaid
    bands = re.findall(r"^ *rect rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)$", text, re.MULTILINE)
    assert len(bands) == 7
    for *rgb, alpha in bands:
        # Translucent, and over white exactly the SVG rendering's band.
        assert alpha and 0 < float(alpha) < 1
        over_white = tuple(round(float(alpha) * int(c) + (1 - float(alpha)) * 255) for c in rgb)
        assert over_white in BAND_COLOURS
    front_matter = text.split("sequenceDiagram", 1)[0]
    note = re.search(r'noteBkgColor: "(#[0-9a-f]{6})".*noteTextColor: "(#[0-9a-f]{6})"', front_matter, re.DOTALL)
    assert note and contrast(*note.groups()) >= 7


async def test_the_as_s_own_pages_paint_their_background_under_their_text_and_say_they_are_light(lab: Lab) -> None:
    # The consent page and the error page are real pages (a browser opens them in served mode): a
    # browser in dark mode paints a dark canvas under a page that names only its text colour.
    client = (await lab.connect("cimd")).client
    consent = client.state.consent_page
    assert consent is not None
    async with lab.httpx_client("browser") as http:
        error_page = (await http.get(f"{lab.issuer}/authorize?client_id=https://nowhere.example/c.json")).text
    for page in (consent.html, error_page):
        assert "color-scheme:light" in page
        assert re.search(r"body\{[^}]*color:#1f2328[^}]*background:#fff", page)
