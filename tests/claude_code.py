"""Anthropic's Claude Code run as its user runs it (`tests/test_claude_code.py`): installed once
from npm (pinned) into `.cache/claude-code`, its native binary (a Bun-compiled program, shipped in
a per-platform npm package that `@anthropic-ai/claude-code`'s postinstall copies over
`bin/claude.exe`) started directly. Its MCP client is the TypeScript SDK's, its OAuth client the
SDK's `auth()` behind Claude Code's own provider (token store, loopback listener, its CIMD URL).
Two commands, as the README's "Point Claude Code at the lab" has them:

- `claude mcp login lab` signs in: discovery, CIMD or registration, PKCE. It prints "If the
  browser didn't open, visit:" and the URL, then waits for the code on its loopback listener
  (`http://localhost:<ephemeral port>/callback`) or for the redirect URL pasted at its prompt. It
  asks only in a terminal (with none it stops: "this isn't an interactive terminal"), so it runs
  in a pseudo-terminal here; the lab's headless browser plays the user and lands on the listener.
- `claude -p`, whose model is a fake Messages API on loopback (`FakeModel`,
  `ANTHROPIC_BASE_URL`): the model's one move is to call the lab's tool `mcp__lab__<tool>`, which
  Claude Code's MCP client calls with the stored token; `--output-format stream-json` carries the
  tool's result. No Anthropic account and nothing beyond loopback.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import platform
import pty
import re
import struct
import sys
import termios
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab_servers.serve import ServedLab

from .consenting_user import approve
from .fake_model import LoopbackModel
from .npm import npm_install
from .processes import reap, run_to_end

VERSION = "2.1.332"
CLAUDE_CODE = f"@anthropic-ai/claude-code@{VERSION}"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "claude-code"
# The client id it sends where the AS metadata says `client_id_metadata_document_supported`.
ITS_CIMD_URL = "https://claude.ai/oauth/claude-code-client-metadata"
# What `claude mcp login` prints (the URL inside an OSC 8 hyperlink, then again as text), then
# its prompt for a pasted redirect URL.
AUTHORIZE_URL = re.compile(r"If the browser didn't open, visit:\s*(https://\S+/authorize\?\S+)")
PROMPT = "Or paste the redirect URL here:"
ESCAPES = re.compile(r"\x1b\][^\x07]*\x07|\x1b\[[0-9;?]*[A-Za-z]")  # OSC 8 links, cursor moves
# Nothing leaves loopback: no auto-update, no telemetry, error reports or other non-essential
# traffic (feature flags, the release notes), and the model's API is the fake's.
OFFLINE = {
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


def installed() -> Path:
    """The native `claude` binary this platform's package brought (`claude-code-<os>-<arch>`, an
    optional dependency, copied over `bin/claude.exe` by the postinstall), installed once."""
    binary = CACHE / "node_modules" / "@anthropic-ai" / "claude-code" / "bin" / "claude.exe"
    if not _native(binary):
        build = _this_machines_build()
        npm_install(CACHE, CLAUDE_CODE, *((build, "--omit=optional") if build else ()))
    assert _native(binary), f"{CLAUDE_CODE} installed no native binary for this platform under {CACHE}"
    return binary


def _native(binary: Path) -> bool:
    """Whether the postinstall put the native binary in place of the package's small stub."""
    return binary.exists() and binary.stat().st_size > 1_000_000


def _this_machines_build() -> str | None:
    """The one build this machine runs, as the postinstall picks it on Linux (glibc or musl), or
    None elsewhere (npm then fetches every build the platform allows). Named alone, with the
    optional ones left out, it spares a second 186 MB download of a Linux binary never run."""
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine())
    if sys.platform != "linux" or arch is None:
        return None
    musl = platform.libc_ver()[0] != "glibc"
    return f"@anthropic-ai/claude-code-linux-{arch}{'-musl' if musl else ''}@{VERSION}"


def credentials_file(home: Path) -> Path:
    """Where it keeps MCP OAuth clients and tokens on Linux (no keychain): `mcpOAuth`."""
    return home / ".claude" / ".credentials.json"


def config_file(home: Path) -> Path:
    """`~/.claude.json`: user-scope MCP servers (`claude mcp add --scope user`)."""
    return home / ".claude.json"


def claude_home(home: Path) -> Path:
    """A fresh `$HOME` for one user of Claude Code, and a working directory in it."""
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    (home / "work").mkdir(exist_ok=True)
    return home / "work"


def _environment(served: ServedLab, home: Path, model: FakeModel | None = None) -> dict[str, str]:
    """Nothing inherited: no DISPLAY, no BROWSER, and a PATH naming one empty directory, so its
    browser launcher (xdg-open) finds nothing, here or on a developer's desktop. The lab's CA as
    Bun can check it (`ca-bun.pem`: `lab_servers.local_ca`)."""
    assert served.ca is not None
    return {
        "HOME": str(home),
        "PATH": str(home / "bin"),
        "TMPDIR": str(home / "tmp"),  # where it leaves its probes of file watching, not /tmp
        "TERM": "dumb",  # no colours; its links and cursor moves are still escape sequences
        "NODE_EXTRA_CA_CERTS": str(served.ca.bun_ca_certificate),  # the README's trust step for Bun
        # An API key is an account to `claude -p`; this one reaches only the fake model.
        "ANTHROPIC_API_KEY": "sk-ant-no-model-is-called",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{model.port}" if model else "http://127.0.0.1:9",
        # MCP tools offered to the model as they are, not behind its tool search (a deferred
        # tool the model must first look up).
        "ENABLE_TOOL_SEARCH": "false",
    } | OFFLINE


async def claude(binary: Path, served: ServedLab, home: Path, *args: str) -> tuple[int, str]:
    """`claude <args>` with stdin closed (`mcp add`, `mcp list`): its exit code and output."""
    code, printed, _ = await run_to_end(
        str(binary), *args, cwd=claude_home(home), env=_environment(served, home), seconds=60
    )
    return code, printed.decode()


# Opens the authorize URL; True once it landed on the listener with a code (Claude Code then
# finishes), False if the AS refused the request (it would wait for ever).
User = Callable[[ServedLab, str], Awaitable[bool]]


@dataclass
class SignIn:
    consents: int  # how often it sent the user to the consent page (0 or 1)
    authorize_url: str
    printed: str
    returncode: int | None  # None: still waiting for a code when it was stopped


async def _terminal_output(fd: int) -> bytes:
    """What the program wrote to its terminal since last read (b"" once it closed it)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: every process has closed its end of the terminal
        return b""


async def claude_sign_in(
    binary: Path, served: ServedLab, home: Path, name: str = "lab", *, user: User | None = None
) -> SignIn:
    """`claude mcp login <name>` in a pseudo-terminal, the lab's browser its user once it prints
    the authorize URL and waits (`user`: another user than `approve_as_the_lab_s_browser`; a user
    who does not land on the listener leaves it waiting, and it is stopped)."""
    terminal, its_end = pty.openpty()
    fcntl.ioctl(its_end, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 4000, 0, 0))  # no wrapped URL
    try:
        process = await asyncio.create_subprocess_exec(
            str(binary), "mcp", "login", name, cwd=claude_home(home), env=_environment(served, home),
            stdin=its_end, stdout=its_end, stderr=its_end, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(its_end)
    printed, url, consents, waiting = "", "", 0, False
    try:
        while chunk := await asyncio.wait_for(_terminal_output(terminal), timeout=60):
            printed = ESCAPES.sub("", printed + chunk.decode(errors="replace")).replace("\r", "")
            if not url and PROMPT in printed and (match := AUTHORIZE_URL.search(printed)) is not None:
                url = match.group(1)
                landed = await (user or approve_as_the_lab_s_browser)(served, url)
                consents += landed
                if not landed:
                    waiting = process.returncode is None
                    break
        if not waiting:  # its end of the terminal closed: let it exit before this end closes
            await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        await reap(process)
        os.close(terminal)
    return SignIn(consents, url, printed, None if waiting else process.returncode)


async def approve_as_the_lab_s_browser(served: ServedLab, url: str) -> bool:
    """The user: open the authorize URL, press Approve, land on Claude Code's listener."""
    _, landed = await approve(served, url)
    assert landed.status_code == 200, (landed.status_code, landed.text[:500])
    return True


class FakeModel(LoopbackModel):
    """An Anthropic Messages API on loopback (`POST /v1/messages`, streamed) whose one move is to
    call `mcp__lab__<tool>` (Claude Code names MCP tools `mcp__<server>__<tool>`) once it is
    offered; every other request (a title, the turn after the tool's result) gets "done"."""

    def respond(self, body: dict[str, Any]) -> tuple[str, bytes]:
        message, blocks = self._answer(body)
        if body.get("stream"):
            return "text/event-stream", _events(message, blocks)
        return "application/json", json.dumps(message).encode()

    def _answer(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        offered = [tool.get("name") for tool in body.get("tools", [])]
        answered = any(
            isinstance(message["content"], list)
            and any(part.get("type") == "tool_result" for part in message["content"])
            for message in body.get("messages", [])
        )
        name = f"mcp__lab__{self.tool}"
        if name not in offered or answered:
            blocks, stop = [{"type": "text", "text": "done"}], "end_turn"
        else:
            blocks, stop = [{"type": "tool_use", "id": "toolu_1", "name": name, "input": self.arguments}], "tool_use"
        message = {
            "id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model", "m"),
            "content": blocks, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }  # fmt: skip
        return message, blocks


def _events(message: dict[str, Any], blocks: list[dict[str, Any]]) -> bytes:
    """The message as the Messages API streams it (server-sent events)."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message | {"content": [], "stop_reason": None}})
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start, delta = block | {"text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            start, delta = (
                block | {"input": {}},
                {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
            )
        events += [
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": message["stop_reason"],
                           "stop_sequence": None}, "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


@dataclass
class Turn:
    result: dict[str, Any] | None  # the tool's result (whoami's claims), None if the call failed
    error: str  # the tool_result's text if it failed, or what the run printed
    offered: list[str]  # the tools Claude Code offered the model
    events: list[dict[str, Any]]  # what `--output-format stream-json` wrote
    returncode: int


async def claude_call(
    binary: Path, served: ServedLab, home: Path, call: tuple[str, dict[str, Any]] = ("whoami", {})
) -> Turn:
    """`claude -p` whose fake model calls the lab's tool `call` (whoami), allowed beforehand
    (`--allowedTools`: no one is asked to allow the call)."""
    model = FakeModel(*call)
    tool = f"mcp__lab__{call[0]}"
    try:
        code, out, err = await run_to_end(
            str(binary), "-p", f"Call the lab's {call[0]} tool.", "--output-format", "stream-json", "--verbose",
            "--allowedTools", tool, "--model", "claude-sonnet-4-5", "--no-session-persistence",
            cwd=claude_home(home), env=_environment(served, home, model), seconds=90, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    finally:
        model.close()
    events = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    offered = sorted({tool["name"] for body in model.requests for tool in body.get("tools", []) if "name" in tool})
    results = [
        part
        for event in events
        if event.get("type") == "user"
        for part in event["message"]["content"]
        if isinstance(part, dict) and part.get("type") == "tool_result"
    ]
    if len(results) == 1 and not results[0].get("is_error"):
        content = results[0]["content"]
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        return Turn(json.loads(text), "", offered, events, code)
    errors = [str(r["content"]) for r in results] or [out.decode() + err.decode()]
    return Turn(None, "\n".join(errors), offered, events, code)


def stored(home: Path) -> dict[str, Any]:
    """The one server's entry in `mcpOAuth` (keyed `<name>|<hash of its config>`): its client id,
    tokens, `scope`, the issuer and redirect URI of its sign-in, a `stepUpScope` it was refused."""
    (entry,) = json.loads(credentials_file(home).read_text())["mcpOAuth"].values()
    return dict(entry)
