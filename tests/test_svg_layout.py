"""The sequence diagram's SVG, laid out by arithmetic (views/svg.py), read back as a viewer draws
it: the title on top, each label between the two lifelines it joins, the participants side by
side, nothing outside the drawing, and each status in the colour of its class (RFC 9110 §15)."""

from __future__ import annotations

from itertools import pairwise
from xml.etree import ElementTree

import pytest

from lab_servers import Exchange, Lab
from lab_servers.views import sequence_diagram
from lab_servers.views.svg import MONO_CHAR, STATUS_COLOURS

SVG = "{http://www.w3.org/2000/svg}"
pytestmark = pytest.mark.anyio

TITLE = "Two registrations, drawn side by side: DCR first, then the agent's client metadata document"


async def test_the_svg_draws_the_title_every_label_between_its_lifelines_and_nothing_outside(lab: Lab) -> None:
    await lab.connect("dcr")
    await lab.connect("cimd")
    drawing = ElementTree.fromstring(sequence_diagram(lab.trace, title=TITLE).svg)
    width, height = float(drawing.attrib["width"]), float(drawing.attrib["height"])
    shapes = list(drawing)
    texts = [e for e in shapes if e.tag == f"{SVG}text"]
    (title,) = [t for t in texts if "".join(t.itertext()) == TITLE]
    headers = [r for r in shapes if r.tag == f"{SVG}rect" and r.attrib.get("stroke-width") == "1.5"]
    assert float(title.attrib["y"]) < min(float(r.attrib["y"]) for r in headers)  # on top, above the participants
    arrows = 0
    for line, _head, label in zip(shapes, shapes[1:], shapes[2:], strict=False):
        if line.tag != f"{SVG}line" or line.attrib.get("stroke-width") not in ("1.5", "1.3"):
            continue  # not a message's arrow (a lifeline)
        span = abs(float(line.attrib["x2"]) - float(line.attrib["x1"]))
        assert len("".join(label.itertext())) * MONO_CHAR + 8 <= span, "a label must fit between its lifelines"
        arrows += 1
    assert arrows == 2 * len(lab.trace)  # a request and a response each
    boxes = sorted((float(r.attrib["x"]), float(r.attrib["width"])) for r in headers)
    assert len(boxes) >= 4
    for (left, w), (next_left, _) in pairwise(boxes):
        assert left + w + 20 <= next_left, "participants' boxes stand apart"
    for shape in shapes:
        for name in ("x", "x1", "x2"):
            if name in shape.attrib:
                assert 0 <= float(shape.attrib[name]) <= width
        for name in ("y", "y1", "y2"):
            if name in shape.attrib:
                assert 0 <= float(shape.attrib[name]) <= height


async def test_each_status_is_drawn_in_the_colour_of_its_class(lab: Lab) -> None:
    await lab.connect("dcr")
    drawing = ElementTree.fromstring(sequence_diagram(lab.trace).svg)
    drawn = {t.text: t.attrib["fill"] for t in drawing.iter(f"{SVG}tspan") if t.attrib.get("font-weight") == "700"}
    assert drawn["200"] == STATUS_COLOURS[2] == "#116329"  # success, green
    assert drawn["303"] == STATUS_COLOURS[3] == "#0969da"  # redirection, blue
    assert drawn["401"] == STATUS_COLOURS[4] == "#cf222e"  # client error, red


async def test_the_svg_draws_each_steps_band_activations_subtitles_and_room_for_a_long_title(lab: Lab) -> None:
    connection = await lab.connect("dcr")
    title = "A title longer than the drawing is wide. " * 5
    drawing = ElementTree.fromstring(sequence_diagram(lab.trace, title=title).svg)
    texts = ["".join(t.itertext()) for t in drawing.iter(f"{SVG}text")]
    # Each step's band: its caption, then the spec sections it follows.
    assert "1 · Request without a token → 401  MCP §4.2; RFC 6750 §3; RFC 9728 §5.1" in texts
    assert len([t for t in texts if " · " in t]) == len(connection.records)
    # An activation bar on the callee for each exchange; no exchange here went unanswered (no ✕).
    bars = [r for r in drawing.iter(f"{SVG}rect") if r.attrib.get("stroke") == "#8c959f"]
    assert len(bars) == len(lab.trace) and not list(drawing.iter(f"{SVG}path"))
    subtitles = {t.text for t in drawing.iter(f"{SVG}text") if t.attrib.get("font-size") == "10.5"}
    assert subtitles == {"mcp.example.com", "auth.example.com"}
    assert float(drawing.attrib["width"]) >= len(title) * 9.0  # the title fits
    # WCAG 1.1.1: its name says what it shows, counting exchanges (a request and its response) once.
    named = f"{len(lab.trace)} exchanges in {len(connection.records)} steps between Browser, Client, MCP server, AS"
    assert drawing.attrib["aria-label"] == f"{title}: {named}"


def test_an_exchange_that_got_no_response_is_drawn_with_a_cross_and_its_error() -> None:
    # A connection refused or reset (served mode, a trace file): no status to read, the error instead.
    refused = Exchange(
        seq=1, step=None, caller="client", host="mcp.example.com", address="127.0.0.1", method="POST",
        url="https://mcp.example.com/mcp", request_headers=(), request_body="", status=None, response_headers=(),
        response_body="", done=1, error="connection refused",
    )  # fmt: skip
    drawing = ElementTree.fromstring(sequence_diagram([refused]).svg)
    assert "✕ connection refused" in ["".join(t.itertext()) for t in drawing.iter(f"{SVG}text")]
    assert len(list(drawing.iter(f"{SVG}path"))) == 1  # the ✕ where an arrowhead would be
