"""A lab lives as long as something can still use it, and no longer.

A learner keeps one kernel for a whole workshop and runs `lab = Lab(seed=0)` again and again,
never `await lab.aclose()`. The MCP server's ASGI lifespan (the SDK's session manager) runs in a
task that waits for a shutdown; nobody sent it, so every dropped lab left one task behind, and
that task held the lab whole: its servers, its network and its trace, about 160 KB and one task
per lab for as long as the kernel ran (measured: 80 labs, 83 tasks and 14 MB; now 2 tasks and
1 MB). The network now ends its apps' lifespans when it is freed itself, which is when nothing,
lab or client, can send a request through it any more.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from lab_servers import Lab
from lab_servers.loop_local import LoopLocalLock
from lab_servers.network.lifespan import LifespanRunner
from lab_servers.resource_server.tokens import TokenValidator
from lab_servers.sdk import sdk_whoami
from lab_servers.story import add_downstream_api, add_second_mcp_server

pytestmark = pytest.mark.anyio


async def collected(until: Callable[[], bool] = lambda: True) -> None:
    """Collect the lab's reference cycles, then let the lifespans it stopped run to their end;
    again, up to three times, until `until()` (a lifespan task that ends lets go of more)."""
    for _ in range(3):
        gc.collect()  # a full pass over a test session's heap takes about 0.1 s: no more than needed
        for _ in range(5):
            await asyncio.sleep(0)
        if until():
            return


async def a_dropped_lab(make: Any) -> tuple[weakref.ref[Any], int, int]:
    """Build a lab with `make`, drop it unclosed; its network (a weak reference to it), and the
    number of tasks before and after."""
    await collected()
    before = len(asyncio.all_tasks())
    lab = await make()
    network = weakref.ref(lab.network)
    del lab
    await collected(until=lambda: network() is None)
    return network, before, len(asyncio.all_tasks())


@pytest.mark.parametrize("revision", ["2025-03-26", "2025-11-25", "2026-07-28"])
async def test_a_lab_dropped_without_aclose_leaves_no_task_behind_and_is_freed(revision: str) -> None:
    async def handshakes() -> Lab:
        lab = Lab(seed=0, revision=revision)
        await lab.connect("dcr")
        if revision != "2025-03-26":  # no CIMD before 2025-11-25
            await lab.connect("cimd")
        return lab

    network, before, after = await a_dropped_lab(handshakes)
    assert network() is None, "nothing uses the dropped lab, yet its network (servers, trace) is still alive"
    assert after == before


async def test_labs_made_and_dropped_over_and_over_leave_the_task_count_where_it_was() -> None:
    await collected()
    before = len(asyncio.all_tasks())
    networks = []
    for _ in range(20):  # a cell run twenty times
        lab = Lab(seed=0)
        await lab.connect("dcr")
        networks.append(weakref.ref(lab.network))
    del lab
    await collected(until=lambda: all(n() is None for n in networks))
    assert [n for n in networks if n() is not None] == []
    assert len(asyncio.all_tasks()) == before


async def test_a_lab_the_official_sdk_client_connected_to_is_freed_too() -> None:
    async def sdk_connected() -> Lab:
        lab = Lab(seed=0)
        await sdk_whoami(lab, client_metadata_url=lab.client_metadata_url)
        return lab

    network, before, after = await a_dropped_lab(sdk_connected)
    assert network() is None and after == before


async def test_the_story_servers_second_mcp_server_and_downstream_tool_do_not_keep_a_dropped_lab() -> None:
    # Notebook 07: the tool that calls the downstream API lives inside the SDK's app, whose
    # lifespan task must not reach the network through the tool's HTTP client.
    async def story() -> Lab:
        lab = Lab(seed=0)
        second = add_second_mcp_server(lab)
        add_downstream_api(lab)
        connection = await lab.connect("cimd")
        answer = await connection.client.call_tool("list_contacts", {})
        assert "carol@example.com" in answer["content"][0]["text"]  # the tool reached the API
        await lab.network.send("probe", "POST", second.resource, [], b"")  # a 401, and its lifespan started
        return lab

    network, before, after = await a_dropped_lab(story)
    assert network() is None and after == before


async def test_a_client_outlives_the_lab_it_came_from_and_completes_its_handshake() -> None:
    # The lab is gone at once (no name holds it); its client still holds the network, so the
    # MCP server's lifespan must still run for it.
    client = Lab(seed=0).client("dcr")
    await collected()
    await client.run_all()
    assert client.state.whoami is not None and client.state.whoami["client_id"].startswith("tpc_")


async def test_a_lab_still_in_use_keeps_serving_after_a_collection() -> None:
    lab = Lab(seed=0)
    await lab.connect("dcr")
    await collected()
    assert (await lab.connect("cimd")).client_id == lab.client_metadata_url
    await lab.aclose()


def test_stopping_a_lifespan_whose_loop_has_closed_does_nothing() -> None:
    # A finalizer may run after the kernel's loop is gone (at interpreter exit): nothing to stop.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()

    runner = LifespanRunner(app)
    asyncio.run(runner.start())
    runner.stop_soon()
    LifespanRunner(app).stop_soon()  # never started


@pytest.mark.parametrize("revision", ["2025-03-26", "2026-07-28"])
def test_a_lab_used_from_one_asyncio_run_after_another_still_serves_mcp(revision: str) -> None:
    # A script's `asyncio.run(lab.connect(...))`, twice: the first loop's end took the SDK's
    # session manager (its task group lives in the lifespan) with it, which runs once per
    # instance, and every MCP request from the second loop answered 500 at step 7.
    lab = Lab(seed=0, revision=revision)
    first = asyncio.run(lab.connect("dcr"))
    second = asyncio.run(lab.connect("dcr"))
    assert first.whoami is not None and second.whoami is not None
    assert second.whoami["client_id"] != first.whoami["client_id"]  # two registrations, both served
    asyncio.run(lab.aclose())


def test_the_mcp_servers_first_requests_in_a_later_loop_still_share_one_key_fetch() -> None:
    # Concurrent first requests wait for one fetch of the AS's keys behind a lock. An
    # asyncio.Lock belongs to the loop it first waited in, so the same wait in a script's next
    # asyncio.run raised "bound to a different event loop", and the MCP server answered 500.
    lab = Lab(seed=0)
    validator = lab.resource_server.validator
    assert isinstance(validator, TokenValidator)

    async def first_requests_at_once() -> list[Any]:
        validator._keys = None  # as before its first request: the keys are fetched again
        connections = await asyncio.gather(*(lab.connect("dcr") for _ in range(3)))
        return [connection.whoami for connection in connections]

    fetches = validator.jwks_fetches
    assert all(asyncio.run(first_requests_at_once()))
    assert all(asyncio.run(first_requests_at_once()))
    assert validator.jwks_fetches == fetches + 2  # one a loop
    asyncio.run(lab.aclose())


def test_a_loop_local_lock_excludes_within_each_loop_it_is_used_in() -> None:
    # What the MCP server's key fetch and the client's refresh hold (lab_servers.loop_local).
    lock, order = LoopLocalLock(), []

    async def hold(name: str) -> None:
        async with lock:
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")

    async def contended() -> None:
        await asyncio.gather(hold("a"), hold("b"))

    for _ in range(2):  # a plain asyncio.Lock raised "bound to a different event loop" the second time
        order.clear()
        asyncio.run(contended())
        assert order == ["a in", "a out", "b in", "b out"]


async def test_leaving_async_with_closes_the_lab() -> None:
    # `async with Lab() as lab:` is the notebooks' and tests' way to close a lab: its browser's
    # HTTP client (and the network's hosts) are closed when the block ends.
    async with Lab() as lab:
        await lab.connect("dcr")
        browser = lab._browser_http
    assert browser is not None and browser.is_closed and lab._browser_http is None
