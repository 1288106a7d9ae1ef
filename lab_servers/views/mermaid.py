"""The diagram model as Mermaid `sequenceDiagram` text (rendered live by JupyterLab ≥ 4.1 and
Notebook ≥ 7.1 from a ```mermaid block in Markdown output)."""

from __future__ import annotations

import re

from ._html import INK, visible_bidi
from .diagram_model import Block, DiagramModel, Message, Note

# Pale, distinct bands so neighbouring steps can be told apart; picked by step number so the same
# step always gets the same colour, in both renderings.
BAND_COLOURS = [
    (234, 242, 255),
    (232, 247, 238),
    (255, 246, 229),
    (243, 236, 255),
    (230, 246, 250),
    (253, 236, 240),
    (242, 244, 236),
]


def band_colour(block: Block, position: int) -> tuple[int, int, int]:
    return BAND_COLOURS[((block.number or position + 1) - 1) % len(BAND_COLOURS)]


# JupyterLab draws Mermaid in its own theme: dark text on white in the light theme, light text on
# near-black in the dark one. An opaque pale band would put that light text on a pale band, so
# Mermaid gets each band as a translucent tint instead: over white it is exactly the pale colour
# above (the SVG rendering's), over a dark page a faint wash of the same hue under light text.
BAND_ALPHA = 0.15


def band_tint(colour: tuple[int, int, int]) -> str:
    """`rgba(...)` that composites over white to `colour` (each channel c = a·tint + (1 − a)·255)."""
    r, g, b = (round(255 - (255 - c) / BAND_ALPHA) for c in colour)
    return f"rgba({r}, {g}, {b}, {BAND_ALPHA})"


# The notes (each step's caption) in both renderings: pale yellow under dark text. Mermaid would
# take a note's colours from JupyterLab's theme, grey on grey in the dark one (4.49:1); the
# front matter pins its note to these, a note that carries its own background, as the views do.
NOTE_FILL, NOTE_STROKE = "#fff8c5", "#d4a72c"
FRONT_MATTER = (
    "---\nconfig:\n  themeVariables:\n"
    f'    noteBkgColor: "{NOTE_FILL}"\n    noteBorderColor: "{NOTE_STROKE}"\n    noteTextColor: "{INK}"\n---\n'
)


_ENTITIES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", '"': "#quot;", "%": "#37;"}
_SPECIAL = re.compile('[#;<>"%]')


def mermaid_text(text: str) -> str:
    """Message text Mermaid cannot misread: `;` and `#` start statements and entity codes, `%%`
    starts a comment, and `<`/`>` would reach its HTML labels; Mermaid's own entity codes stand in
    for them (in one pass, so that the codes themselves are not escaped again)."""
    return _SPECIAL.sub(lambda m: _ENTITIES[m.group(0)], _one_line(text))


def _acc_text(text: str) -> str:
    return _SPECIAL.sub("", _one_line(text))


def _one_line(text: str) -> str:
    """`text` on one line (a Mermaid statement ends at the line's end), bidi controls made visible."""
    return " ".join(visible_bidi(text).split())


def to_mermaid(model: DiagramModel, title: str | None = None) -> str:
    lines = [FRONT_MATTER + "sequenceDiagram"]
    if not model.participants:  # Mermaid rejects a diagram with nobody in it
        return "\n".join([*lines, "    participant Client", "    Note over Client: no exchanges yet", ""])
    if title:
        lines.append(f"    title {mermaid_text(title)}")
    # WCAG 1.1.1: Mermaid writes these into the drawn SVG's <title> and <desc> (aria-labelledby,
    # aria-describedby). They run to the end of the line, with no entity codes: the characters
    # Mermaid would misread are dropped.
    lines.append(f"    accTitle: {_acc_text(title or 'Sequence diagram')}")
    lines.append(f"    accDescr: {_acc_text(model.description(title))}")
    lines.extend(f"    participant {p.id} as {mermaid_text(p.label)}" for p in model.participants)
    ids = [p.id for p in model.participants]
    for position, block in enumerate(model.blocks):
        lines.append(f"    rect {band_tint(band_colour(block, position))}")
        used = sorted({i for m in block.items if isinstance(m, Message) for i in (m.source, m.target)})
        # A step that sent nothing (CIMD's step 4) is the client's own business: note it there.
        client = next((i for i, p in enumerate(model.participants) if p.key in ("client", "sdk-client")), None)
        lo, hi = (used[0], used[-1]) if used else (client, client) if client is not None else (0, len(ids) - 1)
        span = ids[lo] if lo == hi else f"{ids[lo]},{ids[hi]}"
        lines.append(f"        Note over {span}: {mermaid_text(block.caption)}")
        for item in block.items:
            if isinstance(item, Note):
                lines.append(f"        Note over {span}: {mermaid_text(item.text)}")
                continue
            arrow = "->>" if item.kind == "request" else "-->>" if item.status is not None else "--x"
            lines.append(f"        {ids[item.source]}{arrow}{ids[item.target]}: {mermaid_text(item.label)}")
        lines.append("    end")
    return "\n".join(lines) + "\n"
