"""`sequence_diagram(...)`: one diagram, two renderings, and a display that picks the right one.

A notebook front end shows one representation per output: the first its own ranking supports.
The bundle is `{text/vnd.mermaid, image/svg+xml, text/plain}`, because the two kinds of viewer
rank those two the other way round (checked against the pinned versions):

- JupyterLab 4.6 and Notebook 7.6 have a Mermaid renderer for `text/vnd.mermaid` (rank 61,
  `safe`, so it also renders in untrusted notebooks) that outranks `image/svg+xml` (rank 80):
  the diagram is drawn live by Mermaid.
- nbconvert 7.17 HTML (hence nbviewer) ranks `image/svg+xml` above `text/vnd.mermaid`, and
  GitHub's notebook view knows only the SVG: our pre-rendered SVG is shown.

Not `text/html` (every viewer would pick it and never run Mermaid), and not a ```` ```mermaid ````
block in `text/markdown` (nbconvert ranks Markdown above SVG and then needs Mermaid from a CDN).
One caveat: after drawing, JupyterLab stores Mermaid's own SVG into the output's `image/svg+xml`,
so a notebook *saved from JupyterLab* carries Mermaid's SVG instead of ours. Regenerate stored
outputs with a script (nbconvert/nbclient), not by saving from the browser.
"""

from __future__ import annotations

import base64
from functools import cached_property
from html import escape
from typing import Any

from ..arguments import wrong_type
from ..trace import plural, printable
from .diagram_model import DiagramModel, Source, build_model
from .mermaid import to_mermaid
from .svg import to_svg


class SequenceDiagram:
    def __init__(self, model: DiagramModel, title: str | None = None) -> None:
        self.model = model
        self.title = title

    @cached_property
    def mermaid(self) -> str:
        """The Mermaid `sequenceDiagram` source."""
        return to_mermaid(self.model, self.title)

    @cached_property
    def svg(self) -> str:
        """The same diagram as a standalone SVG document (deterministic bytes)."""
        return to_svg(self.model, self.title)

    @property
    def markdown(self) -> str:
        """A ```mermaid block, e.g. for `IPython.display.Markdown` or a Markdown file."""
        return f"```mermaid\n{self.mermaid}```\n"

    @property
    def data_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode()).decode()

    @property
    def html(self) -> str:
        """The SVG as an <img>, for embedding in other HTML (the step view, the stepper widget).
        An image, not inline <svg>: sanitizers (JupyterLab's for untrusted notebooks, GitHub's)
        drop inline SVG but keep a data: image."""
        alt = escape(repr(self), quote=True)
        return f'<div style="overflow-x:auto;max-width:100%"><img src="{self.data_uri}" alt="{alt}" style="max-width:100%;height:auto"></div>'

    def save_svg(self, path: str) -> str:
        """Write the SVG (for a Markdown cell to reference as a committed image); returns `path`."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.svg + "\n")
        return path

    def save_mermaid(self, path: str) -> str:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.mermaid)
        return path

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": repr(self), "text/vnd.mermaid": self.mermaid, "image/svg+xml": self.svg}

    def __repr__(self) -> str:
        steps = [b.number for b in self.model.blocks if b.number]
        names = ", ".join(p.label for p in self.model.participants)
        what = f"{plural(len(self.model.messages) // 2, 'exchange')}, {plural(len(steps), 'step band')}"
        head = f"{self.title}: " if self.title else ""
        # Printed by a terminal and the <img>'s alt text: escape codes and bidi overrides shown as escapes.
        return printable(f"<SequenceDiagram {head}{what}; {names}>")


def sequence_diagram(
    source: Source, *, title: str | None = None, marks: dict[int, str] | None = None
) -> SequenceDiagram:
    """A sequence diagram of exchanges: pass `lab.trace`, a list of exchanges, a step record's
    `.exchanges`, a list of step records, or a connection (`await lab.connect(...)`).
    `marks={seq: "text"}` writes a note across the diagram right before exchange #seq."""
    if title is not None and not isinstance(title, str):
        raise wrong_type("sequence_diagram(title=…) takes the diagram's title, a string", title)
    if marks is not None and not (
        isinstance(marks, dict) and all(type(seq) is int and isinstance(text, str) for seq, text in marks.items())
    ):
        # A seq given as a string ("12") matched no exchange and the note silently went missing.
        raise wrong_type(
            "sequence_diagram(marks=…) maps an exchange's seq number to a note's text, such as "
            "{exchange.seq: 'CIMD starts here'}",
            marks,
        )
    model = build_model(source, marks)
    if not model.blocks:
        raise ValueError("nothing to draw: what was passed holds no exchanges and no steps (has anything run yet?)")
    return SequenceDiagram(model, title)
