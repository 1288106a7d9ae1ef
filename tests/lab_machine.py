"""The harness the lab's hypothesis state machines share: one in-process lab driven from
synchronous rules, and every answer checked for the shape OAuth and MCP give errors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from hypothesis.stateful import RuleBasedStateMachine

from lab_servers import Lab

from .oauth_checks import assert_well_formed


class LabMachine(RuleBasedStateMachine):
    """A `Lab(seed=0)` on an event loop of its own (hypothesis calls rules synchronously), and an
    httpx client on the lab network that follows no redirect, so each one is a step to check."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.lab = Lab(seed=0)
        self.run(self.lab.__aenter__())
        self.http = self.lab.httpx_client("model", follow_redirects=False)

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        self.run(self.http.aclose())
        self.run(self.lab.aclose())
        self.loop.close()

    @property
    def now(self) -> int:
        return self.lab.clock.now()

    def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self.run(self.http.request(method, url, **kwargs))
        assert_well_formed(response)
        return response
