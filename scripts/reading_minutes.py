#!/usr/bin/env python
"""How long each notebook takes to read alone, by the facilitator guide's stated model.

    .venv/bin/python scripts/reading_minutes.py

The model (docs/facilitator-guide.md, "How long each notebook takes"): prose at 150 words a
minute, 40 seconds for each cell with an output (step cards and diagrams are meant to be looked
at), 2.5 minutes for each exercise. Counted here, so that the minutes the README, the guide and
each notebook's "**Time:**" line state can be checked against the notebooks as they are now
(`tests/test_workshop_setup.py` does): every word of every Markdown cell, solutions included;
every code cell with at least one output; every "Exercise N" heading.

It is a model, not a measurement of a person: time one real reader before a session.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
WORDS_PER_MINUTE = 150
MINUTES_PER_OUTPUT = 40 / 60
MINUTES_PER_EXERCISE = 2.5
_EXERCISE_HEADING = re.compile(r"^#+ Exercise \d", re.MULTILINE)


@dataclass(frozen=True)
class Reading:
    notebook: str
    words: int
    outputs: int
    exercises: int

    @property
    def minutes(self) -> float:
        return self.words / WORDS_PER_MINUTE + self.outputs * MINUTES_PER_OUTPUT + self.exercises * MINUTES_PER_EXERCISE


def reading(path: Path) -> Reading:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    markdown = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    return Reading(
        notebook=path.stem,
        words=sum(len(text.split()) for text in markdown),
        outputs=sum(1 for c in cells if c["cell_type"] == "code" and c["outputs"]),
        exercises=sum(len(_EXERCISE_HEADING.findall(text)) for text in markdown),
    )


def readings() -> list[Reading]:
    return [reading(path) for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))]


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    print(f"{'notebook':28} {'words':>6} {'outputs':>8} {'exercises':>10} {'minutes':>8}")
    for r in readings():
        print(f"{r.notebook:28} {r.words:6,} {r.outputs:8} {r.exercises:10} {r.minutes:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
