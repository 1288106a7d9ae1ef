"""The handshake stepper against a learner's slips: a cell run, or a button pressed, while a step
is running or the consent page waits for Approve or Deny. Each is refused or starts over; none
runs a second step beside the first (the AS would see two authorization requests, and the
client would discard the first one's redirect: its state no longer matches, MCP §11.5), and none
leaves the widget stuck on "working…"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lab_servers import Lab
from lab_servers.widgets import HandshakeStepper
from tests.test_widgets import click, complete_handshake, decide, run_to_consent

pytestmark = pytest.mark.anyio


@pytest.fixture
async def stepper(lab: Lab) -> AsyncIterator[HandshakeStepper]:
    stepper = HandshakeStepper(lab)
    yield stepper
    await stepper.aclose()


async def show_consent_page(stepper: HandshakeStepper, button: str = "next_button") -> asyncio.Future[object]:
    getattr(stepper, button).click()
    waiting = stepper.pending
    assert isinstance(waiting, asyncio.Future)
    await stepper.wait_for_consent_page()
    assert stepper.awaiting_decision
    return waiting


async def test_a_reset_while_the_step_up_consent_waits_starts_over_and_the_buttons_work(
    stepper: HandshakeStepper,
) -> None:
    # The notebook's stepper is given its lab, so Reset closes nothing and never waits: the
    # abandoned step-up wakes after the reset is done, and must leave the new run alone.
    await complete_handshake(stepper)
    waiting = await show_consent_page(stepper, "step_up_button")
    await click(stepper, "reset_button")
    with pytest.raises(asyncio.CancelledError):
        await waiting  # abandoned, not failed with an exception of its own
    assert not stepper.busy and stepper.error is None and stepper.last_call is None
    assert not stepper.next_button.disabled and "working" not in stepper.status.value
    assert "next is step 1 of 7" in stepper.status.value
    await click(stepper)  # and the new run goes on
    assert [r.number for r in stepper.records] == [1]


async def test_a_reset_while_step_5_waits_is_not_undone_by_the_abandoned_step(stepper: HandshakeStepper) -> None:
    await run_to_consent(stepper)
    waiting = await show_consent_page(stepper)
    await click(stepper, "reset_button")
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not stepper.busy and stepper.next_step_number == 1 and "next is step 1 of 7" in stepper.status.value


async def test_advance_while_the_consent_page_waits_runs_nothing(stepper: HandshakeStepper) -> None:
    # A cell with `await stepper.advance()` run again while the widget shows the consent page.
    await run_to_consent(stepper)
    waiting = await show_consent_page(stepper)
    assert await stepper.advance() is None
    assert [r.number for r in stepper.records] == [1, 2, 3, 4] and stepper.awaiting_decision
    stepper.approve_button.click()
    await waiting
    assert stepper.error is None and stepper.next_step_number == 6  # the person's approval went through


async def test_next_step_is_disabled_and_ignored_while_the_consent_page_waits(stepper: HandshakeStepper) -> None:
    await run_to_consent(stepper)
    waiting = await show_consent_page(stepper)
    assert stepper.next_button.disabled  # hidden, and not pressable either
    stepper.next_button.click()
    assert stepper.pending is waiting and stepper.awaiting_decision and not stepper.busy
    await decide_now(stepper, waiting)


async def decide_now(stepper: HandshakeStepper, waiting: asyncio.Future[object]) -> None:
    stepper.approve_button.click()
    await waiting
    assert stepper.error is None and [r.number for r in stepper.records] == [1, 2, 3, 4, 5]


async def test_call_tool_is_refused_while_the_step_up_consent_waits(stepper: HandshakeStepper) -> None:
    await complete_handshake(stepper)
    waiting = await show_consent_page(stepper, "step_up_button")
    with pytest.raises(RuntimeError, match="Approve or Deny"):
        await stepper.call_tool("whoami")
    stepper.approve_button.click()
    await waiting
    assert [r.name for r in stepper.records[7:]] == ["step-up", "authorize", "token", "call"]


async def test_call_tool_holds_the_buttons_while_it_runs(stepper: HandshakeStepper) -> None:
    await complete_handshake(stepper)
    call = asyncio.ensure_future(stepper.call_tool("whoami"))
    await asyncio.sleep(0)  # started, not finished: the call waits on the MCP server
    assert stepper.busy and stepper.step_up_button.disabled and stepper.reset_button.disabled
    last = stepper.pending
    stepper.expire_button.click()  # ignored while the call runs
    assert stepper.pending is last
    await call
    assert not stepper.busy and [r.name for r in stepper.records[7:]] == ["call"]


async def test_approve_pressed_twice_decides_once(stepper: HandshakeStepper) -> None:
    await run_to_consent(stepper)
    await decide(stepper, "approve")
    stepper.approve_button.click()  # a second press, after the step went on: nothing to decide
    stepper.deny_button.click()
    assert not stepper.busy and stepper.error is None and stepper.next_step_number == 6


async def test_a_step_awaited_in_a_cell_holds_the_buttons_until_it_is_done(stepper: HandshakeStepper) -> None:
    step = asyncio.ensure_future(stepper.advance())
    await asyncio.sleep(0)  # started, waiting on the MCP server
    assert stepper.busy and stepper.next_button.disabled
    stepper.next_button.click()  # ignored: one step at a time
    assert stepper.pending is None
    assert await stepper.advance() is None and await step is not None
    assert [r.number for r in stepper.records] == [1]


async def test_reset_awaited_while_a_step_runs_waits_its_turn(stepper: HandshakeStepper) -> None:
    step = asyncio.ensure_future(stepper.advance())
    await asyncio.sleep(0)
    await stepper.reset()  # ignored: the step is running
    await step
    assert [r.number for r in stepper.records] == [1]


async def test_a_reset_holds_the_buttons_while_it_closes_the_old_lab() -> None:
    stepper = HandshakeStepper(seed=0)  # its own lab, which Reset closes
    try:
        await stepper.advance()
        reset = asyncio.ensure_future(stepper.reset())
        await asyncio.sleep(0)  # closing the old lab
        assert stepper.busy and stepper.next_button.disabled and "working…" in stepper.status.value
        assert await stepper.advance() is None
        await reset
        assert stepper.client is None and not stepper.busy
    finally:
        await stepper.aclose()


async def test_call_tool_before_the_handshake_is_done_says_finish_it_first(stepper: HandshakeStepper) -> None:
    await click(stepper)  # a client exists, with one step done
    with pytest.raises(RuntimeError, match="finish the handshake first"):
        await stepper.call_tool("whoami")
    assert [r.number for r in stepper.records] == [1]
