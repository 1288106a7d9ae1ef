"""A real browser: JupyterLab runs notebook 04 in Debian's Chromium, driven by Playwright.

Checks what only a browser shows: every cell runs without error in JupyterLab itself, the
sequence diagram is drawn (an <svg>, from Mermaid or the pre-rendered one), and the handshake
stepper advances when "Next step" is clicked. In JupyterLab's dark theme, every output of notebook
04 (stored ones, Mermaid's drawings, the live stepper) reads at 4.5:1 on what is painted under it.

Needs /usr/bin/chromium (`apt-get install -y chromium`) and the `playwright` Python package
(never `playwright install`: it cannot download a browser here). Without them the test is
skipped on a developer's machine and fails in CI (CI=true).

Screenshots go to /tmp/mcp-auth-lab-browser/ for a person to look at.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.ci import unavailable
from tests.text_contrast import TEXT_CONTRAST

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "04_two_identities.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]  # fmt: skip
SCREENSHOTS = Path("/tmp/mcp-auth-lab-browser")
TOKEN = "mcp-auth-lab-browser-test"
pytestmark = pytest.mark.browser


def require_chromium_and_playwright() -> None:
    """What every browser test needs, or `unavailable`: skipped on a developer's machine, failed in CI."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not found (apt-get install -y chromium)")
    if importlib.util.find_spec("playwright") is None:
        unavailable("the playwright package is not installed (pip install playwright==1.65.2)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings: Path, theme: str | None = None) -> None:
    """Keep every cell in the DOM, and keep JupyterLab from asking about news or updates; `theme`
    (e.g. "JupyterLab Dark") is the theme it starts in."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": '{"fetchNews": "false", "checkForUpdates": false}',
    }
    if theme:
        files["@jupyterlab/apputils-extension/themes.jupyterlab-settings"] = json.dumps({"theme": theme})
    for name, text in files.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(text)


@contextmanager
def running_jupyterlab(
    command: list[str], *, cwd: Path, env: dict[str, str], port: int, log_path: Path, startup_seconds: float = 60
) -> Iterator[str]:
    """Start JupyterLab with `command`, wait until its API answers on `port`, yield its base URL,
    and stop it afterwards (terminate, then kill). Its output goes to `log_path`, whose tail is
    shown if it does not start in time."""
    log = log_path.open("w")
    server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture
def jupyterlab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """JupyterLab on 127.0.0.1, serving a copy of notebook 04 (so autosave never touches the
    committed file), with its own config, settings and runtime directories; in the theme a test
    names by indirect parametrization, else the default (light) one."""
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    for data in NOTEBOOK.parent.glob("*.jsonl"):  # the saved trace notebook 04 opens by a relative path
        shutil.copy(data, work / data.name)
    for name in ("config", "data", "runtime", "settings", "workspaces"):
        (tmp_path / name).mkdir()
    _write_settings(tmp_path / "settings", getattr(request, "param", None))
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}  # fmt: skip
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={work}",
        "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}", "--LabApp.news_url=",
    ]  # fmt: skip
    with running_jupyterlab(command, cwd=work, env=env, port=port, log_path=tmp_path / "jupyterlab.log") as base:
        yield base


# JavaScript run in the page -----------------------------------------------------------------

NOTEBOOK_READY = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.content) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && panel.content.widgets.length > 0;
}"""

ALL_CELLS_RAN = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session.kernel;
  const code = panel.content.widgets.filter(c => c.model.type === 'code');
  return kernel.status === 'idle' && code.every(c => c.model.executionCount !== null);
}"""

CELL_SUMMARY = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  return panel.content.widgets.filter(c => c.model.type === 'code').map(c => ({
    count: c.model.executionCount,
    errors: c.model.outputs.toJSON().filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
    stderr: c.model.outputs.toJSON().filter(o => o.output_type === 'stream' && o.name === 'stderr').map(o => o.text),
  }));
}"""


# Run, in order, the first code cell whose source holds each of the given strings.
RUN_CELLS = """async holding => {
  const app = window.jupyterapp, panel = app.shell.currentWidget;
  for (const text of holding) {
    panel.content.activeCellIndex = panel.content.widgets.findIndex(
      c => c.model.type === 'code' && c.model.sharedModel.getSource().includes(text));
    await app.commands.execute('notebook:run-cell');
  }
}"""
STEPPER_CELLS = ['dcr = await lab.connect("dcr")', "HandshakeStepper("]  # its connections, then the widget


@pytest.fixture
def playwright_api() -> tuple[Any, Any]:
    """(sync_playwright, expect), checked before JupyterLab is started for nothing."""
    require_chromium_and_playwright()
    from playwright.sync_api import expect, sync_playwright

    return sync_playwright, expect


@contextmanager
def notebook_04_in_chromium(sync_playwright: Any, jupyterlab: str) -> Iterator[Any]:
    """A Chromium page with notebook 04 open in the given JupyterLab, its kernel ready."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{jupyterlab}/lab/tree/{NOTEBOOK.name}?token={TOKEN}")
            page.wait_for_function(NOTEBOOK_READY, timeout=60_000)
            yield page
        finally:
            browser.close()


def test_notebook_04_runs_in_jupyterlab_and_the_stepper_advances(
    playwright_api: tuple[Any, Any], jupyterlab: str
) -> None:
    sync_playwright, expect = playwright_api
    SCREENSHOTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    with notebook_04_in_chromium(sync_playwright, jupyterlab) as page:
        try:
            # Run All on a notebook cleared of its stored outputs, so what we see is this run's.
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(ALL_CELLS_RAN, timeout=120_000)
            cells = page.evaluate(CELL_SUMMARY)
            assert [c["errors"] for c in cells if c["errors"]] == []
            assert [c["stderr"] for c in cells if c["stderr"]] == []
            assert [c["count"] for c in cells] == list(range(1, len(cells) + 1))

            # The sequence diagram. JupyterLab 4.6 draws the Mermaid block live and shows Mermaid's
            # SVG as an <img> with an SVG data URL; a front end without Mermaid shows our SVG inline.
            diagram = page.locator(".jp-RenderedMermaid img[src^='data:image/svg+xml'], "
                                   ".jp-RenderedMermaid svg, .jp-OutputArea-output svg[aria-label]").first  # fmt: skip
            diagram.wait_for(state="visible", timeout=60_000)
            box = diagram.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 200, box
            drawn = diagram.evaluate(
                "e => e.tagName === 'IMG' ? (e.naturalWidth > 0 && decodeURIComponent(e.src)) : e.outerHTML"
            )
            assert drawn and "<svg" in drawn and "/register" in drawn and "client.json" in drawn, (
                "the diagram has its labels"
            )
            # WCAG 1.1.1: JupyterLab gives Mermaid's <img> the diagram's accTitle as its alt text.
            name = diagram.evaluate("e => e.tagName === 'IMG' ? e.alt : e.getAttribute('aria-label')")
            assert name and name.strip(), "the diagram has a text alternative"
            assert (
                page.locator(
                    ".jp-RenderedMermaid .jp-RenderedMermaid-error, .jp-RenderedMermaid.jp-mod-warning"
                ).count()
                == 0
            )
            diagram.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "04-diagram.png"))

            # The stepper: "Next step" twice, and the status moves on each time.
            next_button = page.get_by_role("button", name="Next step")
            next_button.scroll_into_view_if_needed()
            status = page.locator(".widget-html", has_text="of 7")
            expect(status.first).to_contain_text("next is step 1 of 7", timeout=30_000)
            next_button.click()
            expect(status.first).to_contain_text("next is step 2 of 7", timeout=30_000)
            next_button.click()
            expect(status.first).to_contain_text("next is step 3 of 7", timeout=30_000)
            expect(page.locator(".widget-html svg").first).to_be_visible(
                timeout=30_000
            )  # the diagram grows in the widget
            page.locator(".widget-vbox").first.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "04-stepper.png"))
            # On to consent: "Next step" gives way to Approve / Deny; Approve gets the code.
            next_button.click()
            expect(status.first).to_contain_text("next is step 4 of 7", timeout=30_000)
            next_button.click()
            expect(status.first).to_contain_text("next is step 5 of 7", timeout=30_000)
            approve = page.get_by_role("button", name="Approve")
            if not approve.is_visible():
                next_button.click()  # opens the authorization URL: the consent page waits for the user
            expect(approve).to_be_visible(timeout=30_000)
            expect(page.get_by_role("button", name="Deny")).to_be_visible()
            expect(page.locator(".widget-html", has_text="Allow access to your account?").first).to_be_visible()
            approve.click()
            expect(status.first).to_contain_text("next is step 6 of 7", timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / "04-stepper-consent.png"))
        except Exception:
            page.screenshot(path=str(SCREENSHOTS / "04-failure.png"))  # what the browser showed when it failed
            raise
    print(f"browser test: {time.perf_counter() - started:.1f} s; screenshots in {SCREENSHOTS}")


@pytest.mark.parametrize("jupyterlab", ["JupyterLab Dark"], indirect=True)
def test_in_the_dark_theme_every_output_reads_at_4_5_to_1(playwright_api: tuple[Any, Any], jupyterlab: str) -> None:
    """Notebook 04 in JupyterLab Dark: its stored outputs as an untrusted notebook shows them
    (through the sanitizer), Mermaid's drawings, then the live stepper two steps in. Every run of
    text reads at 4.5:1 (WCAG 1.4.3) on what is painted under it."""
    sync_playwright, expect = playwright_api
    SCREENSHOTS.mkdir(exist_ok=True)
    with notebook_04_in_chromium(sync_playwright, jupyterlab) as page:
        assert page.evaluate("() => document.body.dataset.jpThemeName") == "JupyterLab Dark"
        drawn = page.locator(".jp-RenderedMermaid img[src^='data:image/svg+xml']")
        expect(drawn).to_have_count(2, timeout=60_000)
        runs = page.evaluate(TEXT_CONTRAST)
        drawn.first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "04-dark-diagram.png"))

        page.evaluate(RUN_CELLS, STEPPER_CELLS)
        status = page.locator(".widget-html", has_text="of 7").first
        expect(status).to_contain_text("next is step 1 of 7", timeout=30_000)
        for step in (2, 3):
            page.get_by_role("button", name="Next step").click()
            expect(status).to_contain_text(f"next is step {step} of 7", timeout=30_000)
        expect(page.locator(".widget-html svg").first).to_be_visible(timeout=30_000)
        runs += page.evaluate(TEXT_CONTRAST)
        page.locator(".widget-vbox").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "04-dark-stepper.png"))
    assert {"html", "svg", "svg-img"} <= {run["kind"] for run in runs} and len(runs) > 300
    low = sorted((run for run in runs if run["ratio"] < 4.5), key=lambda run: run["ratio"])
    assert low == [], f"{len(low)} of {len(runs)} runs of text below 4.5:1, the worst: {low[:8]}"


class _CountingServer:
    """A plain HTTP server on loopback that answers 204 and counts the requests it got: the
    tracker a hostile consent page would load."""

    def __init__(self) -> None:
        import http.server
        import threading

        counter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                counter.paths.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.paths: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_hostile_consent_page_shown_in_a_view_makes_the_browser_fetch_nothing(
    playwright_api: tuple[Any, Any],
) -> None:
    from lab_servers.views import show_consent

    sync_playwright, _ = playwright_api
    tracker = _CountingServer()
    page_html = (f'<!doctype html><html><head><link rel="stylesheet" href="{tracker.url}/css"></head><body>'
                 f'<img src="{tracker.url}/pixel"><p style="background:url({tracker.url}/bg)">Allow?</p></body></html>')  # fmt: skip
    # The same page in a bare sandboxed iframe fetches all three: the check can fail.
    bare = f'<iframe sandbox="" srcdoc="{page_html.replace(chr(34), "&quot;")}"></iframe>'
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_content(show_consent(page_html).html, wait_until="load")
                page.wait_for_timeout(300)
                shown = list(tracker.paths)
                page.set_content(bare, wait_until="load")
                page.wait_for_timeout(300)
            finally:
                browser.close()
    finally:
        tracker.close()
    assert shown == []
    assert sorted(tracker.paths) == ["/bg", "/css", "/pixel"]
