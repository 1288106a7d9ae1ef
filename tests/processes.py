"""What every test that runs an outside client as a child process does when it is done with it."""

from __future__ import annotations

import asyncio


async def reap(process: asyncio.subprocess.Process) -> None:
    """Kill `process` if it still runs (its test failed, timed out or stopped waiting for it) and
    collect it, its pipes read to the end, so that no client outlives its test."""
    if process.returncode is None:
        process.kill()
        await process.communicate()
