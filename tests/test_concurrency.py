"""Concurrent handshakes (issue 7 items 15, 16): each step record holds exactly its own client's
exchanges, each whoami names its own client, and the same concurrent scenario gives the same
trace byte for byte. `benchmarks/load.py` runs the same checks with 1,000 clients."""

from __future__ import annotations

import pytest

from lab_servers import Lab

from .concurrency import connect_many, cross_talk

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
