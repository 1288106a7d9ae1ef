"""Static views (GitHub's notebook view, nbconvert HTML, nbviewer) give no answer away.

Such views show every cell, hidden or not, and cannot run a widget. So:

- no sanity-check source reaches them (the checks live in notebooks/checks/, not in the notebook),
  neither in plain `jupyter nbconvert --to html` nor in the lab's own export;
- no exercise's answer is visible outside a folded `<details>` Solution: strings that only a
  solution holds appear nowhere else, and a prediction's answer appears nowhere before its question;
- the handshake stepper shows its static fallback (the steps and the completed diagram), not only
  `<HandshakeStepper …>`.
"""

from __future__ import annotations

import functools
import html as html_lib
import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]
_spec = importlib.util.spec_from_file_location("export_html", ROOT / "scripts" / "export_html.py")
export = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export)  # type: ignore[union-attr]

# Strings only an exercise's solution may show (folded in <details>).
SOLUTION_ONLY = {
    "01-tenant-as-urls": ["openid-configuration/tenant1", "oauth-authorization-server/tenant1"],
    "02-pkce-s256": ['.rstrip("=")', "urlsafe_b64encode(hashlib"],
    "04-best-fit": ["(a) **cimd**", "(a) cimd", "(b) dcr", "(c) preregistered"],
    "05-which-refused": ["(a) **refused**", "(a) refused", "(d) accepted"],
}
# Predictions: their answer must not show anywhere before the question.
BEFORE_QUESTION = {
    "02-register-status": ["201"],
    "02-records-after-three": ["3 registration(s)"],
    "03-mismatch-error": ["invalid_client"],
    "04-differing-claims": ["jti", "DIFFERENT"],
    "07-refresh-reuse": ["invalid_grant", "reuse detected"],
    "07-exchange-error": ["invalid_target"],
}
SANITY_MARKERS = ["is_correct(", "# sanity check", "sanity-check"]


def visible_text(page: str) -> str:
    """What a reader sees without clicking: <details> blocks (Solutions, raw exchanges) removed,
    tags stripped, entities decoded. Styles and scripts are not text."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.DOTALL)
    while re.search(r"<details\b", page):
        page = re.sub(r"<details\b(?:(?!<details\b).)*?</details>", "", page, flags=re.DOTALL)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", page))


@functools.cache
def _plain_exporter() -> HTMLExporter:
    return HTMLExporter()  # its templates load once, not once per conversion


@functools.cache
def _lab_exporter() -> HTMLExporter:
    return export.exporter()


def plain_nbconvert(nb: nbformat.NotebookNode) -> str:
    body, _ = _plain_exporter().from_notebook_node(nb)
    return body


@functools.cache
def plain_html(path: Path) -> str:
    """`jupyter nbconvert --to html` of the notebook at `path`, converted once for every test."""
    return plain_nbconvert(nbformat.read(path, as_version=4))


@functools.cache
def lab_html(path: Path) -> str:
    """The lab's own export (scripts/export_html.py) of `path`, converted once for every test."""
    return export.to_html(path, _lab_exporter())


def cells_before(nb: nbformat.NotebookNode, exercise: str) -> nbformat.NotebookNode | None:
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and f'check_answer("{exercise}"' in cell.source:
            return nbformat.from_dict({**nb, "cells": nb.cells[:index]})
    return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_sanity_check_source_in_static_html(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    if any("sanity-check" in c.metadata.get("tags", []) for c in nb.cells):
        pytest.skip("this notebook still keeps tagged sanity-check cells (the lab's export drops them)")
    for page in (plain_html(path), lab_html(path)):
        for marker in SANITY_MARKERS:
            assert marker not in html_lib.unescape(page), f"{marker!r} is in the static HTML"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_lab_export_drops_tagged_sanity_checks(path: Path) -> None:
    text = visible_text(lab_html(path))
    assert "is_correct(" not in text and "# sanity check" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_answer_is_visible_in_static_html(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    text = visible_text(plain_html(path))
    checked = 0
    for exercise, giveaways in SOLUTION_ONLY.items():
        if f'check_answer("{exercise}"' in text:
            checked += 1
            for giveaway in giveaways:
                assert giveaway not in text, f"{exercise}: {giveaway!r} is visible outside its folded solution"
    for exercise, giveaways in BEFORE_QUESTION.items():
        before = cells_before(nb, exercise)
        if before is None:
            continue
        checked += 1
        shown = visible_text(plain_nbconvert(before))
        for giveaway in giveaways:
            assert giveaway not in shown, f"{exercise}: {giveaway!r} is shown before the question is asked"
    exercises = sum('check_answer("' in c.source for c in nb.cells if c.cell_type == "code")
    if path.stem in {"01_discovery", "02_dcr", "03_cimd", "04_two_identities", "05_security"}:
        assert exercises and checked, "this notebook's exercises are covered by this test"


def test_the_visible_text_helper_folds_details() -> None:
    page = "<p>Q?</p><details><summary>Solution</summary><details>x</details><b>42</b></details><p>after</p>"
    assert visible_text(page) == "Q?after"


def test_the_stepper_has_a_static_fallback() -> None:
    nb = nbformat.read(ROOT / "notebooks" / "04_two_identities.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "HandshakeStepper(" in c.source)
    data = cell.outputs[0]["data"]
    assert "text/html" in data and "<ol>" in data["text/html"] and "data:image/svg+xml" in data["text/html"]
    page = plain_nbconvert(nb)
    assert "Step-by-step widget" in page and "completed DCR run" in html_lib.unescape(page)


def test_the_export_says_in_one_line_when_out_cannot_be_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    for out, reason in (
        (tmp_path / "a-file", "a file, not a directory"),
        (tmp_path / "a-file" / "below", "Not a directory"),
    ):
        with pytest.raises(SystemExit) as exited:
            export.main(["--out", str(out)])
        assert exited.value.code == 2 and f"--out {out}: {reason}" in capsys.readouterr().err


def test_the_export_says_in_one_line_which_page_it_could_not_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "03_cimd.html"
    page.mkdir()  # where the page should go, a directory: as a full disk would, the write fails midway
    with pytest.raises(SystemExit) as exited:
        export.main(["--out", str(tmp_path)])
    assert exited.value.code == 1 and f"writing {page}: Is a directory" in capsys.readouterr().err


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_a_link_to_another_notebook_leads_to_its_exported_page(path: Path) -> None:
    # `make html` writes NN_*.html side by side and no .ipynb: "Next: 01 · Discovery" and 00's
    # table must name the pages, or the fallback's navigation leads nowhere.
    pages = {f"{p.stem}.html" for p in NOTEBOOKS}
    local = [href for href in re.findall(r'href="([^"]*)"', lab_html(path)) if not re.match(r"[a-z]+:|#", href)]
    assert not [href for href in local if href.split("#")[0] not in pages], local
