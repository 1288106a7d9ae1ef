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
