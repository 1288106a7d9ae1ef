"""An ASGI app's lifespan, run the way a server runs it: started before the first request,
shut down after the last (`LabNetwork.add_host(lifespan=True)`)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars

from .asgi import ASGIApp, Message


class LifespanRunner:
    """Runs an app's ASGI lifespan in a background task (the MCP server's session manager lives
    there) and shuts it down on `stop`. A task, not a thread: the lab stays single-threaded.

    The task waits for its shutdown for as long as the app may be called, which nothing inside
    the task can tell: the network that routes requests to the app (`LabNetwork.add_host`) asks
    for it with `stop_soon` when it is itself freed. So the task must not hold that network, or
    anything that does (the lab's servers fetch through it): give it the part of the app that
    has the lifespan and no more (`ResourceServer.lifespan_app`)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._not_started()

    def _not_started(self) -> None:
        # Events of their own for each run: an asyncio.Event belongs to the loop that first waits on it.
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._shutdown = asyncio.Event()
        self._stopped = asyncio.Event()
        self._failure: str | None = None

    async def start(self) -> None:
        if self._task is not None and self._loop is not asyncio.get_running_loop():
            # The loop the lifespan ran on has ended (a script's first `asyncio.run` returned,
            # and its tasks with it): the lab is used from a new one, which runs the lifespan anew.
            self._not_started()
        if self._task is None:
            # A fresh context: the app's lifespan must not inherit the step (and step collector)
            # of whichever client's request happened to start it.
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._run(), context=contextvars.Context())
        await self._started.wait()
        if self._failure:
            raise RuntimeError(f"lifespan startup failed: {self._failure}")

    async def stop(self) -> None:
        if self._task is None or self._loop is not asyncio.get_running_loop():
            return  # never started, or started on a loop that has ended, and its task with it
        self._shutdown.set()
        await self._stopped.wait()
        await self._task
        # Stopped, not gone: a request after this starts a new lifespan (`PerLoopApp` gives it a
        # new app), as a server started again would, instead of reaching an app whose lifespan ended.
        self._not_started()

    def stop_soon(self) -> None:
        """Let the lifespan shut down, without waiting for it: callable where nothing can be
        awaited (a finalizer, from whichever thread the garbage collector runs on). A lifespan
        never started, or whose loop has closed (and with it every task), has nothing to stop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            loop.call_soon_threadsafe(self._shutdown.set)

    async def _run(self) -> None:
        messages = iter([{"type": "lifespan.startup"}])

        async def receive() -> Message:
            message = next(messages, None)
            if message is not None:
                return message
            await self._shutdown.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: Message) -> None:
            kind = message["type"]
            if kind.startswith("lifespan.startup"):
                if kind.endswith("failed"):
                    self._failure = message.get("message", "unknown")
                self._started.set()
            elif kind.startswith("lifespan.shutdown"):
                self._stopped.set()

        try:
            await self._app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
        finally:
            self._started.set()
            self._stopped.set()
