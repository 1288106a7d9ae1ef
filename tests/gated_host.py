"""A host that holds requests until the test lets them go: the window between an endpoint's check
and its act, widened on purpose and closed at a moment the test chooses, so a race is played in
one order every run (no real-time delays, nothing left to the scheduler's luck).

Used by `tests/test_await_races.py` and `tests/test_fetch_amplification.py`.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

from lab_servers import Lab
from lab_servers.metadata_host import MetadataHost

SLOW_HOST, SLOW_ADDRESS = "slow.example", "93.184.216.40"  # a public address: the hardened AS fetches it
KEYS_HOST, KEYS_ADDRESS = "keys.example", "93.184.216.41"


class GatedHost:
    """Wraps an ASGI app. `hold(n)`: the next n requests wait at the gate until `release()`;
    every other request passes. `arrived` counts every request the host received."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.arrived = 0
        self.waiting = 0
        self._to_hold = 0
        self._gate = asyncio.Event()

    def hold(self, n: int | None = None) -> None:
        """Hold the next `n` requests (every one, when None) until `release`."""
        self._to_hold = n if n is not None else 10**9
        self._gate = asyncio.Event()

    def release(self) -> None:
        self._to_hold = 0
        self._gate.set()

    async def until_waiting(self, n: int) -> None:
        """Run the event loop until `n` requests wait at the gate (each one is past every await
        before it); fail, naming the count, if they never get there."""
        for _ in range(10_000):
            if self.waiting >= n:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"{self.waiting} requests reached the gate, not {n}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.arrived += 1
            if self._to_hold > 0:
                self._to_hold -= 1
                gate = self._gate
                self.waiting += 1
                try:
                    await gate.wait()
                finally:
                    self.waiting -= 1
        await self.inner(scope, receive, send)


def add_gated_host(lab: Lab, name: str = SLOW_HOST, address: str = SLOW_ADDRESS) -> tuple[MetadataHost, GatedHost]:
    """A client-metadata host at `name` on the lab network, behind a gate: publish on the first,
    hold and release with the second."""
    host = MetadataHost(name)
    gated = GatedHost(host)
    lab.network.add_host(name, address, gated)
    return host, gated


async def settle() -> None:
    """Let every task run until it waits on something only the test can release."""
    for _ in range(200):
        await asyncio.sleep(0)
