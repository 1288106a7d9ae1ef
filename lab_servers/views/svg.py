"""The diagram model as a standalone SVG, laid out by plain arithmetic.

Static viewers (nbconvert HTML, GitHub, nbviewer) cannot run Mermaid, so the lab draws the same
diagram itself. No JavaScript, fonts or measuring: text widths are estimated from character
counts (labels use a monospace font so the estimate holds), and every coordinate is rounded, so
the same model always gives the same bytes. Only presentation attributes are used (no <style>,
no ids, no markers), so the SVG survives HTML sanitizers and can be inlined many times per page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape as _xml_escape

from ._html import INK, MUTED, PAPER_UNDER_DRAWING, drawing_name, visible_bidi
from .diagram_model import DiagramModel, Message, Note
from .mermaid import NOTE_FILL, NOTE_STROKE, band_colour

MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,'DejaVu Sans Mono',monospace"
SANS = "system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif"
MONO_CHAR = 7.3  # width of one 12px monospace character, rounded up
SANS_CHAR = 8.2  # a generous average for 13px bold sans-serif

MARGIN = 20
BOX_H = 42
ROW = 30
CAPTION = 24
NOTE_H = 22
ACT_W = 8  # activation bar width

# Participant header colours: (fill, stroke), by role; others get the last one.
ROLE_COLOURS = {
    "browser": ("#fff8c5", "#9a6700"),
    "client": ("#ddf4ff", "#0969da"),
    "sdk-client": ("#ddf4ff", "#0969da"),
    "mcp.example.com": ("#dafbe1", "#1a7f37"),
    "auth.example.com": ("#fbefff", "#8250df"),
}
OTHER_COLOURS = ("#f6f8fa", "#57606a")
STATUS_COLOURS = {2: "#116329", 3: "#0969da", 4: "#cf222e", 5: "#cf222e"}  # 4.5:1 on every band


# XML 1.0 §2.2 (Char): these are no characters of an XML document at all. A stranger's User-Agent or
# path in a trace file can hold them (ESC, NUL), and one in a label made the whole SVG ill-formed:
# the <img> of its data: URI and a saved .svg showed nothing. They are drawn as escapes instead.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_chars(text: str) -> str:
    """`text` with every character XML 1.0 forbids shown as its escape (`\\x1b`, `\\ufffe`)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def x(text: object) -> str:
    """XML-escape text and attribute values alike, bidi controls shown (`visible_bidi`)."""
    return _xml_escape(visible_bidi(str(text)), {'"': "&quot;"})


def n(value: float) -> str:
    """Coordinates with at most one decimal and no trailing zeros: stable, compact bytes."""
    return f"{round(value, 1):g}"


def mono_width(text: str) -> float:
    return len(text) * MONO_CHAR


@dataclass
class _Layout:
    centres: list[float]
    box_widths: list[float]
    width: float


def _layout(model: DiagramModel, title: str | None) -> _Layout:
    people = model.participants
    boxes = [max(96.0, len(p.label) * SANS_CHAR + 28, len(p.subtitle) * 6.4 + 20) for p in people]
    gaps = [(boxes[i] + boxes[i + 1]) / 2 + 28 for i in range(len(people) - 1)]
    # Every label must fit between the two lifelines it joins; settle short spans first, then
    # widen longer spans evenly so that no single gap balloons.
    spans = sorted(
        ((min(m.source, m.target), max(m.source, m.target), mono_width(m.label) + 36) for m in model.messages),
        key=lambda s: (s[1] - s[0], s[0], s[1]),
    )
    for lo, hi, need in spans:
        have = sum(gaps[lo:hi])
        # A message to oneself spans no gap (a served stranger whose User-Agent names the Host it
        # sent to; mermaid draws it as a loop): it made this divide by zero.
        if have < need and hi > lo:
            extra = (need - have) / (hi - lo)
            for i in range(lo, hi):
                gaps[i] += extra
    centres: list[float] = [MARGIN + boxes[0] / 2] if people else [float(MARGIN)]
    for gap in gaps:
        centres.append(centres[-1] + gap)
    width = centres[-1] + (boxes[-1] / 2 if people else 0) + MARGIN
    # Captions and notes run across the whole width: make room for the longest.
    texts = [len(b.caption) * 7.4 + len(b.spec) * 6.8 + 50 for b in model.blocks]
    texts += [mono_width(i.text) + 40 for b in model.blocks for i in b.items if isinstance(i, Note)]
    texts.append(len(title or "") * 9.0 + 2 * MARGIN)
    needed = max(texts)
    if needed > width and len(centres) > 1:
        grow = (needed - width) / (len(centres) - 1)
        centres = [c + grow * i for i, c in enumerate(centres)]
        width = needed
    return _Layout(centres, boxes, max(width, needed))


def to_svg(model: DiagramModel, title: str | None = None) -> str:
    lay = _layout(model, title)
    cx = lay.centres
    bands: list[str] = []
    activations: list[str] = []
    front: list[str] = []
    y = MARGIN
    if title:
        front.append(
            f'<text x="{MARGIN}" y="{n(y + 14)}" font-family="{SANS}" font-size="15" font-weight="700" fill="{INK}">{x(title)}</text>'
        )
        y += 30
    header_top = y
    y += BOX_H + 16
    active = [0] * len(model.participants)  # open exchanges each participant is serving
    opened: dict[int, float] = {}  # exchange seq → y where its activation starts

    for position, block in enumerate(model.blocks):
        top = y
        r, g, b = band_colour(block, position)
        halo = f"rgb({r},{g},{b})"
        y += CAPTION
        for item in block.items:
            if isinstance(item, Note):
                front.append(_note(item.text, lay.width, y))
                y += NOTE_H + 8
                continue
            arrow_y = y + 19
            if item.kind == "request":
                active[item.target] += 1
                opened[item.exchange.seq] = arrow_y
            x1 = _edge(cx, item.source, item.target, active[item.source] > 0)
            x2 = _edge(cx, item.target, item.source, active[item.target] > 0)
            if item.kind == "response":
                active[item.source] -= 1
                start = opened.pop(item.exchange.seq, arrow_y)
                activations.append(
                    f'<rect x="{n(cx[item.source] - ACT_W / 2)}" y="{n(start - 4)}" width="{ACT_W}" '
                    f'height="{n(arrow_y - start + 8)}" fill="#ffffff" stroke="#8c959f"/>'
                )
            front.append(_arrow(item, x1, x2, arrow_y, halo))
            y += ROW
        y += 8
        bands.append(
            f'<rect x="{MARGIN // 2}" y="{n(top)}" width="{n(lay.width - MARGIN)}" height="{n(y - top)}" '
            f'rx="6" fill="rgb({r},{g},{b})"/>'
            f'<text x="{MARGIN}" y="{n(top + 16)}" font-family="{SANS}" font-size="12" font-weight="700" '
            f'fill="{"#cf222e" if block.failed else "#57606a"}">{x(block.caption)}'
            + (f'<tspan font-weight="400" fill="{MUTED}">  {x(block.spec)}</tspan>' if block.spec else "")
            + "</text>"
        )
        y += 8
    bottom = y
    lifelines = [
        f'<line x1="{n(c)}" y1="{n(header_top + BOX_H)}" x2="{n(c)}" y2="{n(bottom)}" stroke="#afb8c1" stroke-dasharray="4 4"/>'
        for c in cx[: len(model.participants)]
    ]
    headers = [
        _header(p.key, p.label, p.subtitle, cx[i], lay.box_widths[i], header_top)
        for i, p in enumerate(model.participants)
    ]
    height = bottom + MARGIN - 8
    name, title_element = drawing_name(model.description(title))  # a name that says what it shows
    return xml_chars(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{n(lay.width)}" height="{n(height)}" '
        f'viewBox="0 0 {n(lay.width)} {n(height)}"{name}>{title_element}'
        # The views' paper under the whole drawing: its dark text and pale bands never meet a dark page.
        + PAPER_UNDER_DRAWING
        + "".join(bands + lifelines + activations + headers + front)
        + "</svg>"
    )


def _edge(cx: list[float], me: int, other: int, is_active: bool) -> float:
    """Where an arrow meets a lifeline: at the edge of its activation bar if it has one."""
    if not is_active:
        return cx[me]
    return cx[me] + (ACT_W / 2 if cx[other] > cx[me] else -ACT_W / 2)


def _arrow(message: Message, x1: float, x2: float, y: float, halo: str) -> str:
    # The halo (a stroke in the band's colour painted under the glyphs) hides lifelines that
    # would otherwise run through the label.
    halo_attrs = f'stroke="{halo}" stroke-width="5" stroke-linejoin="round" paint-order="stroke"'
    direction = 1 if x2 > x1 else -1
    back = x2 - direction * 10
    mid = (x1 + x2) / 2
    if message.kind == "request":
        line = f'<line x1="{n(x1)}" y1="{n(y)}" x2="{n(back)}" y2="{n(y)}" stroke="#24292f" stroke-width="1.5"/>'
        head = f'<polygon points="{n(x2)},{n(y)} {n(back)},{n(y - 5)} {n(back)},{n(y + 5)}" fill="#24292f"/>'
        text = f'<text x="{n(mid)}" y="{n(y - 6)}" text-anchor="middle" font-family="{MONO}" font-size="12" fill="{INK}" {halo_attrs}>{x(message.label)}</text>'
        return line + head + text
    colour = STATUS_COLOURS.get((message.status or 500) // 100, "#57606a")
    line = f'<line x1="{n(x1)}" y1="{n(y)}" x2="{n(x2)}" y2="{n(y)}" stroke="#57606a" stroke-width="1.3" stroke-dasharray="6 4"/>'
    if message.status is None:
        head = (
            f'<path d="M{n(x2 - 5)} {n(y - 5)}L{n(x2 + 5)} {n(y + 5)}M{n(x2 - 5)} {n(y + 5)}L{n(x2 + 5)} {n(y - 5)}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
    else:
        head = f'<polyline points="{n(back)},{n(y - 5)} {n(x2)},{n(y)} {n(back)},{n(y + 5)}" fill="none" stroke="#57606a" stroke-width="1.3"/>'
    status, _, rest = message.label.partition(" ")
    text = (
        f'<text x="{n(mid)}" y="{n(y - 6)}" text-anchor="middle" font-family="{MONO}" font-size="12" fill="#57606a" {halo_attrs}>'
        f'<tspan fill="{colour}" font-weight="700">{x(status)}</tspan> {x(rest)}</text>'
    )
    return line + head + text


def _note(text: str, width: float, y: float) -> str:
    w = min(mono_width(text) + 24, width - 2 * MARGIN)
    left = (width - w) / 2
    return (
        f'<rect x="{n(left)}" y="{n(y)}" width="{n(w)}" height="{NOTE_H}" rx="4" fill="{NOTE_FILL}" stroke="{NOTE_STROKE}"/>'
        f'<text x="{n(width / 2)}" y="{n(y + 15)}" text-anchor="middle" font-family="{MONO}" font-size="12" fill="{INK}">{x(text)}</text>'
    )


def _header(key: str, label: str, subtitle: str, centre: float, width: float, top: float) -> str:
    fill, stroke = ROLE_COLOURS.get(key, OTHER_COLOURS)
    out = (
        f'<rect x="{n(centre - width / 2)}" y="{n(top)}" width="{n(width)}" height="{BOX_H}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
    )
    label_y = top + (18 if subtitle else 26)
    out += (
        f'<text x="{n(centre)}" y="{n(label_y)}" text-anchor="middle" font-family="{SANS}" font-size="13" '
        f'font-weight="700" fill="{INK}">{x(label)}</text>'
    )
    if subtitle:
        out += (
            f'<text x="{n(centre)}" y="{n(top + 33)}" text-anchor="middle" font-family="{MONO}" font-size="10.5" '
            f'fill="#57606a">{x(subtitle)}</text>'
        )
    return out
