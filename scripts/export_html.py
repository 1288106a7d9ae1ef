#!/usr/bin/env python
"""Static HTML of every notebook, with its stored outputs: the fallback when Binder is slow.

    .venv/bin/python scripts/export_html.py               # → build/html/NN_*.html and index.html
    .venv/bin/python scripts/export_html.py --out /tmp/x  # elsewhere

The pages show what GitHub's notebook view shows (Markdown, code, stored outputs, the
pre-rendered SVG diagrams and the stepper's static fallback), and nothing a learner should not
see yet: the notebooks hold no sanity checks (they live in notebooks/checks/), solutions stay
folded in <details>, and any cell tagged `sanity-check` or `remove-cell` is dropped.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
HIDDEN_TAGS = ("sanity-check", "remove-cell")
# A link from one notebook to another ("Next: 01 · Discovery", 00's table): the pages sit side by
# side as NN_*.html, and no .ipynb is written beside them, so the link names the page.
_NOTEBOOK_LINK = re.compile(r'(href=")([0-9][0-9]_[^"#/?]*)\.ipynb([#?][^"]*)?"')


def exporter() -> HTMLExporter:
    html = HTMLExporter()
    remove = TagRemovePreprocessor(remove_cell_tags=HIDDEN_TAGS, enabled=True)
    html.register_preprocessor(remove, enabled=True)
    return html


def to_html(path: Path, html: HTMLExporter | None = None) -> str:
    body, _ = (html or exporter()).from_notebook_node(nbformat.read(path, as_version=4))
    exported = {p.stem for p in path.parent.glob("[0-9][0-9]_*.ipynb")}
    return _NOTEBOOK_LINK.sub(lambda m: _page_link(m, exported), body)


def _page_link(link: re.Match[str], exported: set[str]) -> str:
    prefix, stem, rest = link.group(1), link.group(2), link.group(3) or ""
    return f'{prefix}{stem}.html{rest}"' if stem in exported else link.group(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "html")
    args = parser.parse_args(argv)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        parser.error(f"--out {args.out}: a file, not a directory")
    except OSError as error:
        parser.error(f"--out {args.out}: {error.strerror}")
    html = exporter()
    links = []
    try:  # a disk that fills, or a page made read-only, while the pages are written
        for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
            target = args.out / f"{path.stem}.html"
            target.write_text(to_html(path, html), encoding="utf-8")
            links.append(f'<li><a href="{target.name}">{path.stem}</a></li>')
            print(f"{target}")
        (args.out / "index.html").write_text(
            "<!doctype html><meta charset=utf-8><title>MCP auth lab</title><h1>MCP auth lab: the notebooks, read-only</h1>"
            f"<p>Stored outputs, no kernel. To run them: <code>make lab</code>.</p><ul>{''.join(links)}</ul>\n",
            encoding="utf-8",
        )
    except OSError as error:
        parser.exit(1, f"{parser.prog}: writing {error.filename}: {error.strerror}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
