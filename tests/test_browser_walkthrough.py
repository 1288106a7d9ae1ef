"""A learner's session in a real browser: the lab as `make lab` serves it, every notebook run and saved.

JupyterLab is started the way `make lab` starts it (scripts/lab_setup.py: the learner's copies in
my-notebooks/, the lab's settings overrides), on a throwaway copy of the repository's notebooks.
In Debian's Chromium each notebook is opened, Run All, left until every Mermaid diagram is drawn,
and saved.
Then:

- every cell ran without an error or stderr, and no "official Jupyter news" pop-up covered it;
- the long outputs (02's step 5 and step 7 cards) are folded after Run All;
- the saved copies are valid notebooks a learner can reopen;
- the repository's notebooks are byte-for-byte untouched, so the suite's own strict nbval run
  judges exactly the files it would have judged without this walk-through.

The time each notebook took (open, Run All, render, save) is printed, and screenshots go to
/tmp/mcp-auth-lab-browser/ for a person to look at. Marked `browser` (slow: a few minutes).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.test_browser import (
    CELL_SUMMARY,
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    TOKEN,
    _free_port,
    running_jupyterlab,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location("lab_setup", ROOT / "scripts" / "lab_setup.py")
lab_setup = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab_setup)  # type: ignore[union-attr]
pytestmark = pytest.mark.browser

# The notebook named `name` is the current widget, its kernel idle (null-safe: while a page loads
# and between notebooks, the session or its kernel may not exist yet).
NOTEBOOK_READY = """name => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const session = panel && panel.sessionContext && panel.sessionContext.session;
  return !!(session && session.kernel && session.kernel.status === 'idle' && panel.context.path.endsWith(name)
            && panel.content && panel.content.widgets.length > 0);
}"""
ALL_CELLS_RAN = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const session = panel && panel.sessionContext && panel.sessionContext.session;
  if (!session || !session.kernel || session.kernel.status !== 'idle') return false;
  return panel.content.widgets.filter(c => c.model.type === 'code').every(c => c.model.executionCount !== null);
}"""
# Every Mermaid output (`text/vnd.mermaid`, the step diagrams) is drawn: JupyterLab renders each
# as an <img> of the SVG, after the output itself has arrived.
MERMAID_DRAWN = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const outputs = panel.content.widgets.filter(c => c.model.type === 'code')
    .flatMap(c => Array.from({length: c.model.outputs.length}, (_, i) => c.model.outputs.get(i)));
  const wanted = outputs.filter(o => 'text/vnd.mermaid' in o.data).length;
  const drawn = [...panel.node.querySelectorAll('.jp-RenderedMermaid img')].filter(i => i.complete && i.naturalWidth > 0);
  return drawn.length === wanted && {drawn: wanted};
}"""
SAVED = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.context.model.dirty === false;
}"""


def _digest(paths: list[Path]) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _mermaid_outputs(path: Path) -> int:
    cells = nbformat.read(path, as_version=4).cells
    return sum("text/vnd.mermaid" in output.get("data", {}) for cell in cells for output in cell.get("outputs", []))


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab as `make lab` runs it, on copies made by scripts/lab_setup.py."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found (apt-get install -y chromium)") if os.environ.get(
            "CI"
        ) == "true" else pytest.skip("no chromium")
    pytest.importorskip("playwright")
    originals = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", originals)
    copies = tmp_path / "my-notebooks"
    copied = lab_setup.copy_notebooks(originals, copies)
    assert sum(line.endswith(".ipynb to my-notebooks/") for line in copied) == len(NOTEBOOKS)
    assert (copies / "sdk-client-trace.jsonl").exists()  # notebook 04 opens it by a relative path
    app_settings = tmp_path / "app-settings"
    lab_setup.write_overrides(app_settings)  # where `make lab` writes them: {sys.prefix}/share/jupyter/lab/settings
    user_settings = tmp_path / "user-settings" / "@jupyterlab" / "notebook-extension"
    user_settings.mkdir(parents=True)
    (user_settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')  # every cell in the DOM
    for name in ("config", "runtime", "workspaces"):
        (tmp_path / name).mkdir()
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    command = lab_setup.lab_command(
        copies, "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", "--LabApp.expose_app_in_browser=True",
        f"--LabApp.app_settings_dir={app_settings}", f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    )  # fmt: skip
    log_path = tmp_path / "jupyterlab.log"
    with running_jupyterlab(command, cwd=copies, env=env, port=port, log_path=log_path, startup_seconds=90) as base:
        yield base, copies


def test_a_learner_runs_and_saves_every_notebook_and_nothing_the_tests_compare_changes(
    make_lab: tuple[str, Path],
) -> None:
    from playwright.sync_api import sync_playwright

    base, copies = make_lab
    before = _digest(NOTEBOOKS)
    SCREENSHOTS.mkdir(exist_ok=True)
    timings: dict[str, float] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page: Any = browser.new_page(viewport={"width": 1400, "height": 1000})
            for path in NOTEBOOKS:
                started = time.perf_counter()
                page.goto(f"{base}/lab/tree/{path.name}?token={TOKEN}")
                page.wait_for_function(NOTEBOOK_READY, arg=path.name, timeout=90_000)
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.wait_for_function(ALL_CELLS_RAN, timeout=240_000)
                cells = page.evaluate(CELL_SUMMARY)
                assert [c["errors"] for c in cells if c["errors"]] == [], path.name
                assert [c["stderr"] for c in cells if c["stderr"]] == [], path.name
                assert [c["count"] for c in cells] == list(range(1, len(cells) + 1)), (
                    f"{path.name}: every cell ran, in this kernel"
                )
                if (
                    path.stem == "02_dcr"
                ):  # long step cards (step 5 with the consent page, step 7) are folded after a run
                    folded = page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output details')]
                        .filter(d => d.querySelector('summary').textContent.startsWith('The whole step card')).map(d => d.open)""")
                    assert folded == [False, False], folded
                drawn = page.wait_for_function(MERMAID_DRAWN, timeout=30_000).json_value()["drawn"]
                assert drawn == _mermaid_outputs(path), f"{path.name}: every diagram drawn before saving"
                assert page.get_by_text("official Jupyter news").count() == 0, "the news pop-up must not cover outputs"
                page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
                page.wait_for_function(SAVED, timeout=30_000)
                timings[path.stem] = time.perf_counter() - started
                page.screenshot(path=str(SCREENSHOTS / f"walkthrough-{path.stem}.png"))
        finally:
            browser.close()
    for path in NOTEBOOKS:
        saved = nbformat.read(copies / path.name, as_version=4)
        nbformat.validate(saved)
        assert all(c.execution_count for c in saved.cells if c.cell_type == "code"), (
            f"{path.name}: saved with its outputs"
        )
    assert _digest(NOTEBOOKS) == before, "the repository's notebooks were not touched"
    print("walk-through, seconds per notebook (open, Run All, render, save):",
          ", ".join(f"{name} {seconds:.0f}" for name, seconds in timings.items()))  # fmt: skip
