"""Concurrent handshakes (issue 7 items 15, 16): each step record holds exactly its own client's
exchanges, each whoami names its own client, and the same concurrent scenario gives the same
trace byte for byte. `benchmarks/load.py` runs the same checks with 1,000 clients.

And a handshake's own work does not grow with what the lab has seen (issue 12): 1,000 at once
took 46.7 s, far more than ten times 100, while each step scanned the whole trace.
`benchmarks/handshake.py` times the ratio; the test counts lines, which no machine's speed moves."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

import lab_servers
from lab_servers import HARDENED, Lab

from .concurrency import connect_many, cross_talk
from .helpers import lines_executed

pytestmark = pytest.mark.anyio


async def test_concurrent_handshakes_keep_to_themselves() -> None:
    async with Lab(seed=0) as lab:
        connections = await connect_many(lab, 30)
        assert cross_talk(lab, connections) == []
        assert all(len(c.records) == 7 for c in connections)
        mcp_steps = [c.records[-1] for c in connections]
        assert all(1 <= len(record.exchanges) <= 3 for record in mcp_steps)  # not 61 exchanges of 20 tokens


async def test_the_same_concurrent_scenario_gives_a_byte_identical_trace() -> None:
    traces = []
    for _ in range(2):
        async with Lab(seed=0) as lab:
            await connect_many(lab, 10)
            traces.append(lab.trace.to_json())
    assert traces[0] == traces[1]


async def test_a_lab_s_clients_share_one_browser_and_the_lab_closes_it() -> None:
    # One user, one browser (no server here sets cookies): a thousand clients at once do not carry
    # a thousand idle HTTP clients for it (issue 12). The lab closes it with itself.
    lab = Lab(seed=0)
    first, second = lab.client("dcr"), lab.client("cimd", caller="other")
    assert first.browser.http is second.browser.http and first.http is not second.http
    await first.run_all()
    await second.run_all()
    shared = first.browser.http
    await lab.aclose()
    assert shared.is_closed


LAB_CODE = str(Path(lab_servers.__file__).parent)


async def lab_lines_of_one_handshake(lab: Lab, method: str) -> int:
    """How many lines of the lab's own code (not the libraries') one handshake executes. Earlier
    tests' dropped labs are collected first, and the collector is off meanwhile: a dropped lab's
    finalizer ends its MCP server's lifespan, lab code that runs in this loop but is no part of
    this handshake (it added 42 lines to one count, in one CI run of many)."""
    client = lab.client(method)
    gc.collect()
    for _ in range(5):
        await asyncio.sleep(0)  # the lifespans those labs' finalizers stopped run to their end
    gc.disable()
    try:
        with lines_executed(lambda file: file.startswith(LAB_CODE)) as executed:
            await client.run_all()
    finally:
        gc.enable()
    return executed.count


@pytest.mark.slow  # 300 handshakes: CI's `make test` runs it, the fast loop leaves it out
@pytest.mark.parametrize("method", ["dcr", "cimd"])
async def test_a_handshake_does_the_same_work_after_hundreds_of_others(method: str) -> None:
    """No step scans the trace, the AS's clients, codes or tokens: after 300 handshakes (2,550
    exchanges, 150 registered clients) one more runs exactly the lines of the lab's code it ran
    first. A Python loop or comprehension over any of them in any step would add lines per element
    (a scan inside C, such as `in` on a list, runs no line: `benchmarks/handshake.py`'s 1,000 / 100
    ratio would show that one)."""
    async with Lab(seed=0, policy=HARDENED.but(registration_rate_limit=None, max_registrations=None)) as lab:
        await lab.connect(method)  # the first use of each server, its caches and its keys
        first = await lab_lines_of_one_handshake(lab, method)
        for number in range(300):
            await lab.client("dcr" if number % 2 else "cimd", caller=f"client-{number}").run_all()
        assert len(lab.trace) > 2_500 and len(lab.registrations) >= 150
        assert await lab_lines_of_one_handshake(lab, method) == first


@pytest.mark.parametrize("method", ["dcr", "cimd"])
async def test_a_handshake_leaves_little_for_the_cyclic_collector(method: str) -> None:
    # What a handshake leaves in reference cycles waits for the cyclic GC, and with 1,000 at once
    # every full pass walks all that is alive (issue 12). httpx's response and its stream refer to
    # each other; unbound once read (`bounded_read.unbind`), an exchange's request, response,
    # headers and URLs go by refcounting: 254 objects a handshake were left before, 32 now, the
    # MCP SDK's per-request server objects.
    async with Lab(seed=0, policy=HARDENED.but(registration_rate_limit=None)) as lab:
        await lab.connect(method)
        # Labs earlier tests dropped end their lifespans once collected (`LabNetwork.add_host`), and
        # those tasks finish at the loop's next turns: let them, so that what they leave is not
        # counted as this handshake's.
        for _ in range(3):
            gc.collect()
            for _ in range(5):
                await asyncio.sleep(0)
        gc.disable()
        try:
            for _ in range(10):
                await lab.connect(method)
            left = gc.collect()
        finally:
            gc.enable()
    assert left / 10 < 64
