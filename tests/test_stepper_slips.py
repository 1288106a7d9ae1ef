"""The handshake stepper against a learner's slips: a cell run, or a button pressed, while a step
is running or the consent page waits for Approve or Deny. Each is refused or starts over; none
runs a second step beside the first (the AS would see two authorization requests, and the
client would discard the first one's redirect: its state no longer matches, MCP §11.5), and none
leaves the widget stuck on "working…"."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from lab_servers import Lab
from lab_servers.widgets import HandshakeStepper
from tests.test_widgets import click, complete_handshake, decide, run_to_consent

pytestmark = pytest.mark.anyio


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


async def test_approve_pressed_twice_decides_once(stepper: HandshakeStepper, caplog: pytest.LogCaptureFixture) -> None:
    await run_to_consent(stepper)
    await decide(stepper, "approve")
    stepper.approve_button.click()  # a second press, after the step went on: nothing to decide
    stepper.deny_button.click()
    assert not stepper.busy and stepper.error is None and stepper.next_step_number == 6
    assert not caplog.records  # ipywidgets logs a callback's exception: there was none


async def test_a_step_awaited_in_a_cell_holds_the_buttons_until_it_is_done(stepper: HandshakeStepper) -> None:
    step = asyncio.ensure_future(stepper.advance())
    await asyncio.sleep(0)  # started, waiting on the MCP server
    assert stepper.busy and stepper.next_button.disabled and stepper.method_buttons.disabled
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


async def test_after_approve_the_step_holds_the_buttons_until_the_redirect_is_followed(
    stepper: HandshakeStepper,
) -> None:
    # The decision is posted to the AS, whose redirect carries the code back (OAuth 2.1 §4.1.2):
    # step 5 is still running, and Next step must not start step 6 under it.
    await run_to_consent(stepper)
    waiting = await show_consent_page(stepper)
    stepper.approve_button.click()
    while not (stepper.busy or waiting.done()):  # noqa: ASYNC110 - a few ticks, as in wait_for_consent_page
        await asyncio.sleep(0)
    assert not waiting.done() and stepper.next_button.disabled and "working…" in stepper.status.value
    await waiting
    assert not stepper.busy and stepper.next_step_number == 6


async def test_a_refused_consent_is_returned_as_the_failed_step_5(stepper: HandshakeStepper) -> None:
    await run_to_consent(stepper)
    record = await stepper.advance("deny")
    assert record is stepper.records[-1] and record.number == 5 and "error" in record.learned
    assert isinstance(stepper.error, Exception) and "access_denied" in str(stepper.error)


async def test_an_exception_in_a_step_is_shown_not_raised(
    stepper: HandshakeStepper, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not a StepError (a server's refusal) but a fault: the widget says what it was, and the
    # buttons still work.
    await click(stepper)

    async def broken() -> None:
        raise RuntimeError("the lab broke")

    monkeypatch.setattr(stepper.client, "next_step", broken)
    assert await stepper.advance() is None
    assert isinstance(stepper.error, RuntimeError) and "✕ RuntimeError: the lab broke" in stepper.status.value
    assert "Reset to start over." in stepper.status.value  # not at consent: no retry of step 5 to offer
    assert not stepper.busy and not stepper.next_button.disabled


async def test_the_buttons_carry_the_names_the_status_line_gives_them(stepper: HandshakeStepper) -> None:
    await run_to_consent(stepper)
    waiting = await show_consent_page(stepper)
    assert "Approve or Deny?" in stepper.status.value
    assert (stepper.approve_button.description, stepper.deny_button.description) == ("Approve", "Deny")
    stepper.deny_button.click()
    await waiting
    assert "Next step tries the authorization again; Reset starts over." in stepper.status.value
    assert (stepper.next_button.description, stepper.reset_button.description) == ("Next step", "Reset")


def test_a_method_in_capitals_is_named_with_the_one_meant() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'DCR' \(did you mean 'dcr'\?\)"):
        HandshakeStepper(method="DCR")


async def test_a_click_from_another_thread_runs_the_step_on_the_labs_loop(
    stepper: HandshakeStepper, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ipykernel 7 may call a widget's callback off the kernel loop's thread: the step is handed
    # to the loop the lab lives on (its servers, its HTTP clients), not run in that thread.
    threads = []
    make_client = stepper.lab.client
    monkeypatch.setattr(stepper.lab, "client", lambda *a: threads.append(threading.current_thread()) or make_client(*a))
    await asyncio.to_thread(stepper.next_button.click)
    assert isinstance(stepper.pending, concurrent.futures.Future)
    await asyncio.wrap_future(stepper.pending)
    assert threads == [threading.main_thread()]
    assert stepper.error is None and [r.number for r in stepper.records] == [1]


async def test_a_stepper_made_off_the_loop_runs_its_steps_on_the_loop_that_clicks(lab: Lab) -> None:
    stepper = await asyncio.to_thread(HandshakeStepper, lab)  # no loop runs in that thread
    await click(stepper)
    assert stepper.error is None and [r.number for r in stepper.records] == [1]


def test_in_a_plain_script_a_click_runs_the_step_to_its_end() -> None:
    # No event loop at all: the click runs the step there and then.
    stepper = HandshakeStepper(seed=0)
    try:
        stepper.next_button.click()
        assert stepper.pending is not None and stepper.pending.done()
        assert stepper.error is None and [r.number for r in stepper.records] == [1]
    finally:
        asyncio.run(stepper.aclose())


def click_returns(button: object) -> bool:
    """Click in another thread and say whether the click returned (a REPL's click that never
    returns leaves no one to press Approve): a failing test must not hang the suite."""
    thread = threading.Thread(target=button.click, daemon=True)  # type: ignore[attr-defined]
    thread.start()
    thread.join(10)
    return not thread.is_alive()


def test_in_a_plain_script_next_step_at_consent_shows_the_page_and_approve_runs_the_rest() -> None:
    # The click cannot wait for Approve: it shows the page and returns, and the Approve click
    # goes on with the step (the AS's redirect, the code: OAuth 2.1 §4.1.2).
    stepper = HandshakeStepper(seed=0)
    try:
        for _ in range(4):
            stepper.next_button.click()
        for choice, after in (("deny", 5), ("approve", 6)):  # a denial, then Next step asks again
            assert click_returns(stepper.next_button)
            assert stepper.awaiting_decision and not stepper.busy and stepper.approve_button.layout.display is None
            assert "Approve or Deny?" in stepper.status.value and "Allow access" in stepper.consent_html.value
            assert repr(stepper) == "<HandshakeStepper DCR: the consent page waits for Approve or Deny>"
            assert click_returns(getattr(stepper, f"{choice}_button"))
            assert not stepper.awaiting_decision and not stepper.busy and stepper.next_step_number == after
        stepper.next_button.click()
        stepper.next_button.click()
        assert stepper.done and stepper.error is None
    finally:
        asyncio.run(stepper.aclose())


@pytest.mark.parametrize("leave_by", ["reset", "aclose"])
def test_in_a_plain_script_a_consent_page_left_waiting_is_abandoned(leave_by: str) -> None:
    # Reset, or closing the stepper, while the page waits: the step is cancelled and its loop
    # closed (an open one is a ResourceWarning, which the suite makes an error).
    stepper = HandshakeStepper(seed=0)
    try:
        for _ in range(4):
            stepper.next_button.click()
        assert click_returns(stepper.next_button) and stepper.awaiting_decision
        waiting = stepper.pending
        if leave_by == "reset":
            stepper.reset_button.click()
            assert stepper.next_step_number == 1 and not stepper.busy
    finally:
        asyncio.run(stepper.aclose())
    assert waiting is not None and waiting.cancelled() and not stepper.awaiting_decision


@pytest.mark.parametrize("button", ["step_up_button", "expire_button"])
async def test_an_after_handshake_button_before_the_handshake_says_finish_it_first(
    stepper: HandshakeStepper, button: str
) -> None:
    # Hidden until step 7 is done, but clicked from a cell, or in flight as Reset hid it: the
    # step-up's call failed on the missing client, and every button stayed disabled for good.
    assert getattr(stepper, button).disabled
    await click(stepper, button)
    assert isinstance(stepper.error, RuntimeError) and "finish the handshake first" in stepper.status.value
    await click(stepper)  # and the buttons work
    assert stepper.error is None and [r.number for r in stepper.records] == [1]


async def test_a_reset_that_fails_says_so_and_leaves_the_buttons_working(
    stepper: HandshakeStepper, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reset runs as a task no one awaits: its exception was seen by no one.
    def broken() -> Lab:
        raise RuntimeError("the lab cannot be built again")

    monkeypatch.setattr(stepper.lab, "fresh", broken)
    await click(stepper, "reset_button")
    assert "✕ RuntimeError: the lab cannot be built again" in stepper.status.value
    assert not stepper.reset_button.disabled and not stepper.next_button.disabled


async def test_call_tool_is_refused_while_a_button_runs_a_step(stepper: HandshakeStepper) -> None:
    await complete_handshake(stepper)
    stepper.expire_button.click()  # the refresh is under way
    with pytest.raises(RuntimeError, match="running a step"):
        await stepper.call_tool("whoami")
    assert stepper.pending is not None
    await stepper.pending
    assert stepper.error is None and [r.name for r in stepper.records[7:]] == ["refresh", "call"]
