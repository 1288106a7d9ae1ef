"""opencode run as its user runs it (`tests/test_opencode.py`): installed once from npm (pinned)
into `.cache/opencode`, its native binary (a Bun-compiled program, shipped in a per-platform npm
package that `opencode-ai`'s postinstall links to `bin/opencode.exe`) started directly. Its MCP
client and OAuth client are the TypeScript SDK's, bundled, with opencode's own provider (token
store, callback listener). Two commands, as the README's "Point opencode at the lab" has them,
with the server in the project's `opencode.json`:

- `opencode mcp auth lab` signs in: discovery from the 401, registration, PKCE. It prints
  "Authorize in your browser:" and the URL, then tries a browser, which it cannot here
  (`_environment`); the lab's headless browser plays the user and lands on opencode's listener,
  `http://127.0.0.1:19876/mcp/oauth/callback` (a fixed port).
- `opencode run`, whose model is a fake on loopback (`FakeModel`): the model's one move is to
  call the lab's tool, which opencode's MCP client calls with the stored token; its JSON events
  carry the tool's result. No model provider account and nothing beyond loopback.
"""

from __future__ import annotations

import asyncio
import json
import platform
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab_servers.serve import ServedLab

from .consenting_user import approve
from .fake_model import LoopbackModel
from .npm import npm_install
from .processes import reap, run_to_end

VERSION = "1.18.33"
OPENCODE = f"opencode-ai@{VERSION}"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "opencode"
CALLBACK = "http://127.0.0.1:19876/mcp/oauth/callback"  # oauth-provider.ts: OAUTH_CALLBACK_PORT, _PATH
# What `opencode mcp auth` prints before it tries a browser (cli/cmd/mcp.ts), then while it waits.
AUTHORIZE_URL = re.compile(r"Authorize in your browser:\W*(https://\S+/authorize\?\S+)")
WAITING = "Waiting for authorization"
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # its spinner's cursor moves and colours
SUCCESS = "Authentication successful!"
# What stops it reaching the internet: no update check, no models.dev catalogue (the bundled
# snapshot serves), no default plugins, no LSP or share downloads, and npm offline for the
# `@opencode-ai/plugin` it otherwise installs in the background into each config directory on
# its first start (registry.npmjs.org; a failure there only logs a warning).
OFFLINE = {
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "npm_config_offline": "true",
}


def installed() -> Path:
    """The native `opencode` binary this platform's package brought (`opencode-<os>-<arch>`, an
    optional dependency of `opencode-ai`, linked by its postinstall), installed once."""
    binary = CACHE / "node_modules" / "opencode-ai" / "bin" / "opencode.exe"
    if not binary.exists():
        build = _this_machines_build()
        npm_install(CACHE, OPENCODE, *((build, "--omit=optional") if build else ()))
    assert binary.exists(), f"{OPENCODE} installed no native binary for this platform under {CACHE}"
    return binary


def _this_machines_build() -> str | None:
    """The one build this machine runs, as `opencode-ai`'s postinstall picks it on glibc Linux
    (x64 without AVX2 takes the baseline build), or None elsewhere (npm then fetches every build
    the platform allows). Named alone, with the optional ones left out, it spares a second 60 MB
    download of an x64 Linux binary that is never run."""
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine())
    if sys.platform != "linux" or arch is None or platform.libc_ver()[0] != "glibc":
        return None
    baseline = arch == "x64" and "avx2" not in Path("/proc/cpuinfo").read_text().split()
    return f"opencode-linux-{arch}{'-baseline' if baseline else ''}@{VERSION}"


def configure(project: Path, served: ServedLab, oauth: dict[str, Any] | None = None) -> Path:
    """The project's `opencode.json`: the lab's MCP server as `lab` (with `oauth` options, if
    any), and the fake model on loopback as the only provider (`opencode_run` sets its port)."""
    project.mkdir(parents=True, exist_ok=True)
    server: dict[str, Any] = {"type": "remote", "url": served.mcp_url} | ({"oauth": oauth} if oauth else {})
    provider = {
        "npm": "@ai-sdk/openai-compatible",  # bundled: nothing is installed
        "options": {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "none"},
        "models": {"m": {"name": "m", "tool_call": True}},
    }
    config = {"mcp": {"lab": server}, "provider": {"fake": provider}, "model": "fake/m", "small_model": "fake/m"}
    (project / "opencode.json").write_text(json.dumps(config, indent=2))
    return project


def auth_store(home: Path) -> Path:
    """Where opencode keeps MCP clients and tokens: `$XDG_DATA_HOME/opencode/mcp-auth.json`."""
    return home / ".local" / "share" / "opencode" / "mcp-auth.json"


def _environment(served: ServedLab, home: Path) -> dict[str, str]:
    """Nothing inherited: no DISPLAY, no BROWSER, and a PATH naming one empty directory, so its
    browser launcher (the `open` package: xdg-open) finds nothing, here or on a developer's
    desktop. The lab's CA as Bun can check it (`ca-bun.pem`: `lab_servers.local_ca`)."""
    assert served.ca is not None
    (home / "bin").mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(home),
        "PATH": str(home / "bin"),
        "NODE_EXTRA_CA_CERTS": str(served.ca.bun_ca_certificate),  # the README's trust step for Bun
    } | OFFLINE


User = Callable[[ServedLab, str], Awaitable[None]]  # opens the authorize URL, lands on the listener


@dataclass
class SignIn:
    consents: int  # how often it sent the user to the consent page (0 or 1)
    authorize_url: str
    printed: str
    returncode: int | None


async def opencode_sign_in(
    opencode: Path, served: ServedLab, home: Path, project: Path, *, approve_it: bool = True, user: User | None = None
) -> SignIn:
    """`opencode mcp auth lab` in `project`, with the lab's browser as its user once it prints
    the authorize URL and waits (`approve_it=False`: the URL is read, opencode stopped; `user`:
    another user than `approve_as_the_lab_s_browser`)."""
    process = await asyncio.create_subprocess_exec(
        str(opencode), "mcp", "auth", "lab", cwd=project, env=_environment(served, home),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    printed, url, consents = "", "", 0
    try:
        # Its spinner redraws without newlines: read what comes, not lines.
        while chunk := await asyncio.wait_for(process.stdout.read(65536), timeout=60):
            printed = ESCAPES.sub("", printed + chunk.decode(errors="replace"))
            if not url and WAITING in printed and (match := AUTHORIZE_URL.search(printed)) is not None:
                url = match.group(1)
                if not approve_it:
                    break
                await (user or approve_as_the_lab_s_browser)(served, url)
                consents += 1
        if approve_it:
            await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        await reap(process)
    return SignIn(consents, url, printed, process.returncode)


async def approve_as_the_lab_s_browser(served: ServedLab, url: str) -> None:
    """The user: open the authorize URL, press Approve, land on opencode's listener."""
    redirect, landed = await approve(served, url)
    # RFC 9207 §2: the code comes back with the issuer where the AS advertises it.
    assert parse_qs(urlsplit(redirect.location).query).get("iss", [served.issuer]) == [served.issuer], redirect
    assert landed.status_code == 200, (landed.status_code, landed.text[:500])


class FakeModel(LoopbackModel):
    """An OpenAI-compatible chat completions endpoint on loopback whose one move is to call
    `lab_<tool>` (opencode names MCP tools `<server>_<tool>`) once it is offered; every other
    request (the session title, the turn after the tool's result) gets "done"."""

    def respond(self, body: dict[str, Any]) -> tuple[str, bytes]:
        chunks = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                  for delta, finish in self._answer(body)]  # fmt: skip
        return "text/event-stream", "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"

    def _answer(self, body: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
        offered = [tool["function"]["name"] for tool in body.get("tools", [])]
        answered = any(message["role"] == "tool" for message in body["messages"])
        if f"lab_{self.tool}" not in offered or answered:
            return [({"role": "assistant", "content": "done"}, None), ({}, "stop")]
        call = {"index": 0, "id": "call_1", "type": "function",
                "function": {"name": f"lab_{self.tool}", "arguments": json.dumps(self.arguments)}}  # fmt: skip
        return [({"role": "assistant", "tool_calls": [call]}, None), ({}, "tool_calls")]


@dataclass
class Run:
    state: dict[str, Any]  # the tool part's state: status, input, output or error ({}: never called)
    result: dict[str, Any] | None  # the tool's result (whoami's claims), None if the call failed
    offered: list[str]  # the tools opencode offered the model
    printed: str


async def opencode_run(
    opencode: Path, served: ServedLab, home: Path, project: Path, call: tuple[str, dict[str, Any]] = ("whoami", {})
) -> Run:
    """`opencode run --format json` in `project`, the fake model calling `call` (whoami)."""
    model = FakeModel(*call)
    config = json.loads((project / "opencode.json").read_text())
    config["provider"]["fake"]["options"]["baseURL"] = f"http://127.0.0.1:{model.port}/v1"
    (project / "opencode.json").write_text(json.dumps(config, indent=2))
    log = home / "run.log"  # its stderr: read on failure, never a full pipe
    try:
        with log.open("wb") as stderr:
            _, printed, _ = await run_to_end(
                str(opencode), "run", "--format", "json", f"Call the lab's {call[0]} tool.", cwd=project,
                env=_environment(served, home), seconds=90, stderr=stderr,
            )  # fmt: skip
    finally:
        model.close()
    events = [json.loads(line) for line in printed.decode().splitlines() if line.startswith("{")]
    tools = [e["part"] for e in events if e.get("type") == "tool_use" and e["part"]["tool"] == f"lab_{call[0]}"]
    assert len(tools) <= 1, printed.decode()
    offered = sorted({tool["function"]["name"] for body in model.requests for tool in body.get("tools", [])})
    if not tools:  # the model was not offered the tool: the server is not connected
        assert f"lab_{call[0]}" not in offered, f"{printed.decode()}\n{log.read_text()}"
        return Run({}, None, offered, printed.decode())
    state = tools[0]["state"]
    result = json.loads(state["output"]) if state["status"] == "completed" else None
    return Run(state, result, offered, printed.decode())
