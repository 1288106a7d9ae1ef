"""Where a widget click's coroutine runs: on the kernel's loop (where the lab's servers live), and
in a plain script or a REPL, where no loop runs, on a loop of the widget's own.

That own loop runs only while a click runs it. A step that waits for a person's click (the
consent page's Approve or Deny) cannot wait inside the click that started it: that click would
never return, and the person could never press Approve. So the click runs the step until it is
done or asks, and returns; the Approve or Deny click runs the rest (`resume`). The loop stays
open only while a step waits; otherwise it is closed after each click, as `asyncio.run` does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any

Pending = asyncio.Future[Any] | concurrent.futures.Future[Any]


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class ClickLoop:
    def __init__(self, waiting: Callable[[], bool]) -> None:
        self.kernel_loop = running_loop()  # the kernel's loop, when built in a notebook cell
        self._waiting = waiting  # whether a step waits for a person's click now
        self._runner: asyncio.Runner | None = None  # the own loop, open while a step waits
        self._asked: asyncio.Future[None] | None = None  # resolved when a step starts waiting

    def schedule(self, coro: Coroutine[Any, Any, Any]) -> Pending:
        running = running_loop()
        loop = self.kernel_loop or running
        if running is not None and loop is running:
            return running.create_task(coro)
        if loop is not None and loop.is_running():
            # A callback on another thread: hand the coroutine to the loop the lab lives on.
            return asyncio.run_coroutine_threadsafe(coro, loop)
        # No loop at all: the own loop; `loop_factory` leaves the thread's current loop unset.
        if self._runner is None:
            self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
        task = self._runner.get_loop().create_task(coro)
        self._run_here(task)
        return task

    def asked(self) -> None:
        """A step now waits for a person's click: the plain script's click that runs it returns."""
        if self._asked is not None and not self._asked.done():
            self._asked.set_result(None)

    def resume(self, loop: asyncio.AbstractEventLoop, pending: Pending | None) -> None:
        """After the person's click was handed to `loop`: if that is the own loop, which runs only
        when a click runs it, run the waiting step on until it is done (or asks again)."""
        if self._runner is not None and loop is self._runner.get_loop() and isinstance(pending, asyncio.Task):
            self._run_here(pending)

    async def aclose(self) -> None:
        """Close the own loop, cancelling a step that still waits there (as Reset abandons it)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            # Runner.close runs its loop to finish what it cancels: not on this thread, whose loop runs.
            await asyncio.to_thread(runner.close)

    def _run_here(self, task: asyncio.Task[Any]) -> None:
        assert self._runner is not None
        try:
            self._runner.run(self._until_done_or_asked(task))
        except BaseException:  # Ctrl-C: closing cancels the step, whose cleanup frees the buttons
            self._close()
            raise
        if not self._waiting():
            self._close()
        if task.done() and not task.cancelled():
            task.result()  # what the step let through is raised to the click, as asyncio.run did

    async def _until_done_or_asked(self, task: asyncio.Task[Any]) -> None:
        self._asked = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait([task, self._asked], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._asked = None

    def _close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()
