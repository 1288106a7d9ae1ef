"""OpenAI's Codex CLI run as its user runs it (`tests/test_codex.py`): installed once from npm
(pinned) into `.cache/codex`, its native binary (a Rust program, shipped in a per-platform npm
package) started directly. Its MCP client and OAuth client are the Rust `rmcp` crate's, not the
TypeScript or Python SDK's. Two commands, as the README's "Point Codex at the lab" has them:

- `codex mcp add lab --url <MCP URL>` adds the server to `$CODEX_HOME/config.toml` and signs in
  at once: discovery from the 401, registration, PKCE. It prints "Authorize `lab` by opening this
  URL in your browser:" and the URL, then tries a browser, which it cannot here (`_environment`);
  the lab's headless browser plays the user and lands on Codex's loopback listener,
  `http://127.0.0.1:<port>/callback`.
- `codex app-server`, the JSON-RPC service (over stdio) its IDE extensions and desktop app
  drive, asked for `mcpServerStatus/list` (connect, list the tools) and `mcpServer/tool/call`
  (whoami), neither of which needs a model or an OpenAI account.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab_servers.serve import ServedLab

from .consenting_user import approve
from .npm import npm_install
from .processes import reap

CODEX = "@openai/codex@0.171.0"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "codex"
# What `codex mcp login` prints before it tries a browser (codex-rs/rmcp-client, perform_oauth_login).
AUTHORIZE_URL = re.compile(rb"by opening this URL in your browser:\s*\n(\S+)")
NO_BROWSER = "Browser launch failed"
# Written before `mcp add`, which appends the server. The token store is a file under
# CODEX_HOME, not the OS keyring (its default where there is one); its model API is a closed
# loopback port, so starting a thread never reaches OpenAI; no update check.
CONFIG = """\
mcp_oauth_credentials_store = "file"
openai_base_url = "http://127.0.0.1:9/v1"
check_for_update_on_startup = false
"""


def installed() -> Path:
    """The native `codex` binary of this platform's package (`@openai/codex-<os>-<arch>`, an
    optional dependency of `@openai/codex`), installed once."""
    found = sorted(CACHE.glob("node_modules/@openai/codex-*/vendor/*/bin/codex"))
    if not found:
        npm_install(CACHE, CODEX)
        found = sorted(CACHE.glob("node_modules/@openai/codex-*/vendor/*/bin/codex"))
    assert found, f"{CODEX} installed no native binary for this platform under {CACHE}"
    return found[0]


def codex_home(home: Path) -> Path:
    """A fresh `$HOME` and `$CODEX_HOME` (which must exist) for one user of Codex."""
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    (home / "bin").mkdir(exist_ok=True)
    config = home / ".codex" / "config.toml"
    if not config.exists():
        config.write_text(CONFIG)
    return home / ".codex"


def _environment(served: ServedLab, home: Path) -> dict[str, str]:
    """Nothing inherited: no DISPLAY, no BROWSER, and a PATH naming one empty directory, so its
    browser launcher (xdg-open, then the browsers it knows) finds nothing, here or on a
    developer's desktop, and Codex says so after printing the URL."""
    assert served.ca is not None
    return {
        "HOME": str(home),
        "CODEX_HOME": str(codex_home(home)),
        "PATH": str(home / "bin"),
        "SSL_CERT_FILE": str(served.ca.ca_certificate),  # the README's trust step for Codex
    }


@dataclass
class SignIn:
    consents: int  # how often it sent the user to the consent page (0 or 1)
    authorize_url: str
    printed: str
    returncode: int


async def _approve(served: ServedLab, url: str) -> None:
    """The user: open the authorize URL, press Approve, land on Codex's listener."""
    redirect, landed = await approve(served, url)
    # RFC 9207 §2: the code comes back with the issuer where the AS advertises it (all
    # revisions but 2025-06-18 here).
    assert parse_qs(urlsplit(redirect.location).query).get("iss", [served.issuer]) == [served.issuer], redirect
    assert landed.status_code == 200, (landed.status_code, landed.text[:500])


async def codex_sign_in(codex: Path, served: ServedLab, home: Path, *args: str, approve: bool = True) -> SignIn:
    """`codex mcp <args>` (`add lab --url …` or `login lab`), with the lab's browser as its user
    when it prints an authorize URL (`approve=False`: the URL is read, Codex stopped)."""
    process = await asyncio.create_subprocess_exec(
        str(codex), "mcp", *args, cwd=home, env=_environment(served, home),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    printed, url, consents = b"", "", 0
    try:
        while line := await asyncio.wait_for(process.stdout.readline(), timeout=60):
            printed += line
            if not url and (match := AUTHORIZE_URL.search(printed)) is not None:
                url = match.group(1).decode()
                if not approve:
                    break
                await _approve(served, url)
                consents += 1
        if approve:
            await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        await reap(process)
    return SignIn(consents, url, printed.decode(), process.returncode)


@dataclass
class AppServer:
    status: dict[str, Any]  # mcpServerStatus/list's entry for the server
    whoami: dict[str, Any] | None  # the tool's structured result (whoami's), None if the call failed
    error: str  # the call's JSON-RPC error message, if it failed


async def codex_app_server_whoami(
    codex: Path, served: ServedLab, home: Path, call: tuple[str, dict[str, Any]] = ("whoami", {})
) -> AppServer:
    """`codex app-server` as an IDE drives it: initialize, mcpServerStatus/list (Codex connects
    to each server with its stored token and lists its tools), thread/start (no turn, so no
    model), mcpServer/tool/call `call` (whoami) on server `lab` in that thread; then stdin
    closes, which ends it."""
    log = (home / "app-server.log").open("wb")  # its stderr: read on failure, never a full pipe
    process = await asyncio.create_subprocess_exec(
        str(codex), "app-server", cwd=home, env=_environment(served, home),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    async def request(id_: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
        stdin.write(json.dumps({"id": id_, "method": method, "params": params}).encode() + b"\n")
        await stdin.drain()
        while True:  # notifications and its own requests come in between
            line = await asyncio.wait_for(stdout.readline(), timeout=60)
            assert line, f"codex app-server closed its stdout before answering {method}"
            answer: dict[str, Any] = json.loads(line)
            if answer.get("id") == id_ and "method" not in answer:
                return answer

    try:
        started = await request(1, "initialize", {"clientInfo": {"name": "lab", "version": "1"}})
        assert "result" in started, started
        stdin.write(json.dumps({"method": "initialized"}).encode() + b"\n")
        listed = await request(2, "mcpServerStatus/list", {})
        (status,) = [entry for entry in listed["result"]["data"] if entry["name"] == "lab"]
        thread = await request(3, "thread/start", {})
        called = await request(
            4, "mcpServer/tool/call",
            {"server": "lab", "threadId": thread["result"]["thread"]["id"], "tool": call[0], "arguments": call[1]},
        )  # fmt: skip
        stdin.close()
        await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        await reap(process)
        log.close()
    if "error" in called:
        return AppServer(status, None, called["error"]["message"])
    assert called["result"]["isError"] is False, called
    return AppServer(status, called["result"]["structuredContent"], "")
