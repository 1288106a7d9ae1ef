"""What every test that runs an outside client as a child process does with it: run it to its end
with nothing on its stdin, and, when done with it, kill and collect it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import IO


async def reap(process: asyncio.subprocess.Process) -> None:
    """Kill `process` if it still runs (its test failed, timed out or stopped waiting for it) and
    collect it, its pipes read to the end, so that no client outlives its test."""
    if process.returncode is None:
        process.kill()
        await process.communicate()


async def run_to_end(
    *argv: str, cwd: Path, env: dict[str, str], seconds: float, stderr: int | IO[bytes] = asyncio.subprocess.STDOUT
) -> tuple[int, bytes, bytes]:
    """`argv` run with its stdin closed (`mcp add`, `mcp list`, a headless turn): its exit code,
    what it printed, and its stderr (`b""` where it went elsewhere: with stdout by default, or a
    file, read on failure, that no full pipe can block)."""
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=seconds)
    finally:
        await reap(process)
    assert process.returncode is not None
    return process.returncode, out, err or b""
