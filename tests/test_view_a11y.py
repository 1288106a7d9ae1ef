"""The views say what they show to someone who cannot see their colours or their drawings (WCAG 2.2).

1.4.1: a stepper pill's state (done, failed, next, to come) is told by a symbol, not by colour alone.
1.1.1 and 4.1.2: every drawing is one image with a name (inline SVG: role="img", aria-label and a
<title>; the <img> of an embedded diagram: alt text; Mermaid: accTitle and accDescr), the consent
page's iframe has a title. 1.3.1: every header cell says which cells it heads. 4.1.3: the
stepper's status line is a live region, read out as it changes.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from lab_servers import Lab
from lab_servers.client import StepRecord
from lab_servers.security.report import sprawl_chart
from lab_servers.views import sequence_diagram
from lab_servers.widgets.stepper_html import PILL_STYLES, progress_html

from .test_view_colours import _sprawl, all_html, stepper_html

pytestmark = pytest.mark.anyio

# The symbol before a pill's number, by state: the error line's ✕ for a failed step.
PILL_MARKERS = {"done": "✓ ", "failed": "✕ ", "next": "▶ ", "later": ""}


class _Tags(HTMLParser):
    """(tag, attributes, its text up to the next tag) of every element, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs), ""))

    def handle_data(self, data: str) -> None:
        if self.tags:
            tag, attrs, text = self.tags[-1]
            self.tags[-1] = (tag, attrs, text + data)


def tags(html: str) -> list[tuple[str, dict[str, str | None], str]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _pill_states(html: str) -> list[tuple[str, str, dict[str, str | None]]]:
    """(state, text, attributes) of each pill, the state read off its colours."""
    state_of = {style: state for state, style in PILL_STYLES.items()}
    return [(state_of[a["style"] or ""], text, a) for tag, a, text in tags(html)[1:] if tag == "span"]


def _record(number: int, name: str, *, failed: bool = False) -> StepRecord:
    return StepRecord(number, name, name, [], {"error": "no"} if failed else {}, "", "")


async def test_a_pill_says_its_state_in_a_symbol_not_only_in_its_colour(lab: Lab) -> None:
    # WCAG 1.4.1: green "done" and red "failed" differed by hue alone.
    records = [_record(1, "challenge"), _record(2, "resource-metadata", failed=True)]
    after = [_record(8, "refresh", failed=True), _record(9, "mcp")]
    pages = [progress_html(records, 2), progress_html(records[:1], 2), progress_html(records + after, 3)]
    pages.append((await stepper_html(lab))["progress_html"])
    seen = set()
    for page in pages:
        for state, text, attrs in _pill_states(page):
            seen.add(state)
            marker = PILL_MARKERS[state]
            assert text.startswith(marker) and re.match(r"\d", text.removeprefix(marker)), (state, text)
            assert (attrs.get("aria-current") == "step") == (state == "next"), (state, attrs)
    assert seen == set(PILL_STYLES)


async def test_the_status_line_is_a_live_region(lab: Lab) -> None:
    # WCAG 4.1.3: what Next step did is read out without the learner moving to it.
    pages = await stepper_html(lab)
    for name in ("status_html", "status_html, an error"):
        _tag, root, _text = tags(pages[name])[0]
        assert root.get("role") == "status" and root.get("aria-live") == "polite", (name, root)
    for name in ("progress_html", "static_html"):  # the rest is not announced at every change
        assert "aria-live" not in pages[name], name


async def test_every_header_cell_says_what_it_heads(lab: Lab) -> None:
    # WCAG 1.3.1.
    header_cells = 0
    for name, html in (await all_html(lab)).items():
        for tag, attrs, _text in tags(html):
            if tag == "th":
                header_cells += 1
                assert attrs.get("scope") in ("col", "row"), (name, attrs)
                assert "border" in (attrs.get("style") or ""), (name, attrs)  # still styled
    assert header_cells > 20


async def test_every_drawing_is_one_named_image(lab: Lab) -> None:
    # WCAG 1.1.1 and 4.1.2: an inline SVG is role="img" with a name that says what it shows.
    connection = await lab.connect("dcr")
    drawings = {
        "sequence_diagram": sequence_diagram(lab.trace).svg,
        "sequence_diagram, titled": sequence_diagram(connection, title="DCR").svg,
        "sprawl_chart": sprawl_chart(_sprawl("naive"), _sprawl("hardened"))._repr_svg_(),
    }
    for name, svg in drawings.items():
        root = tags(svg)[0]
        label = root[1].get("aria-label") or ""
        assert root[0] == "svg" and root[1].get("role") == "img", (name, root)
        assert len(label) > 20, (name, label)  # more than "sequence diagram": what it shows
        assert svg.startswith(f"{svg.split('>', 1)[0]}><title>{label}</title>"), name
    assert "10 exchanges in 7 steps between Browser, Client, MCP server, AS" in drawings["sequence_diagram"]
    assert "DCR records 20 (refused 0)" in drawings["sprawl_chart"] and "hardened:" in drawings["sprawl_chart"]


async def test_mermaid_names_its_drawing_and_embedded_images_and_frames_have_text(lab: Lab) -> None:
    connection = await lab.connect("dcr")
    text = sequence_diagram(connection, title="DCR; the #1 run").mermaid
    # Mermaid writes accTitle and accDescr into the SVG it draws (<title>, <desc>, aria-labelledby).
    acc = dict(re.findall(r"^    (accTitle|accDescr): (.+)$", text, re.MULTILINE))
    assert acc == {"accTitle": "DCR the 1 run", "accDescr": "DCR the 1 run: 10 exchanges in 7 steps between "
                   "Browser, Client, MCP server, AS"}  # fmt: skip
    for name, html in (await all_html(lab)).items():
        for tag, attrs, _text in tags(html):
            if tag == "img":
                assert attrs.get("alt"), (name, attrs)
            if tag == "iframe":
                assert attrs.get("title"), (name, attrs)


async def test_a_drawing_of_one_exchange_is_named_in_the_singular(lab: Lab) -> None:
    # A screen reader reads the accessible name aloud; "1 exchanges in 1 steps" is what it said.
    connection = await lab.connect("dcr")
    one_step = sequence_diagram([connection.records[1]])
    assert "Sequence diagram: 1 exchange in 1 step between Client, MCP server" in one_step.svg
    assert repr(one_step) == "<SequenceDiagram 1 exchange, 1 step band; Client, MCP server>"
    assert repr(connection.records[1]).startswith("<step 2 resource-metadata: 1 exchange;")
