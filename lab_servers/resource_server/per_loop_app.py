"""The SDK's Streamable HTTP app, built anew for each event loop its lifespan starts on.

The SDK's session manager runs MCP requests in a task group that lives in the app's lifespan,
and it runs once per instance (`StreamableHTTPSessionManager.run`: "Create a new instance if
you need to run again"). A lab used from a second event loop, as a script's second
`asyncio.run(lab.connect(...))` does, found that task group gone with the first loop, and every
MCP request answered 500. The same after `Lab.aclose()` on the same loop: the lifespan ended,
and a lab used again (a notebook's earlier cells run again after a clean-up cell) answered 500 at
every MCP request. Here every lifespan after the first gets a new app, on whichever loop it
starts, and requests go to the app of the latest lifespan.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


class PerLoopApp:
    """An ASGI app built by `build()`, rebuilt when its lifespan starts on another loop. `build`
    must not reach the lab network: the lifespan's task holds this app (`LifespanRunner`)."""

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app = build()
        self._lifespan_ran = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if self._lifespan_ran:  # the app's session manager has run once: it cannot again
                self._app = self._build()
            self._lifespan_ran = True
        await self._app(scope, receive, send)
