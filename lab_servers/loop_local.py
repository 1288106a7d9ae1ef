"""A lock for whichever event loop is running.

An `asyncio.Lock` belongs to the loop it first had to wait in. A lab lives as long as its
user keeps it, and a script may use it from one `asyncio.run` after another: a lock that two
requests once contended in the first loop raised "is bound to a different event loop" when two
contended it in the next (the MCP server answered 500). `LoopLocalLock` is a fresh lock for
each loop it is used in. Holders in different loops are not excluded from each other: a lab is
used from one loop at a time.
"""

from __future__ import annotations

import asyncio

__all__ = ["LoopLocalLock"]


class LoopLocalLock:
    """`async with lock:`, as with an `asyncio.Lock`, in whichever loop is running."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()

    def _current(self) -> asyncio.Lock:
        running = asyncio.get_running_loop()
        if self._loop is not running:
            self._loop, self._lock = running, asyncio.Lock()
        return self._lock

    async def __aenter__(self) -> None:
        await self._current().acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()
