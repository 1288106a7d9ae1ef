"""The stepper after the handshake: its two buttons (a step-up, an expired token) and the labs it
closes. Each button leaves the client as it found it, shows a failure as a step's would be shown,
and clears it once a later call goes through."""

from __future__ import annotations

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from lab_servers import Lab
from lab_servers.resource_server import tools
from lab_servers.serve import WallClock
from lab_servers.widgets import HandshakeStepper
from tests.test_stepper_slips import show_consent_page
from tests.test_widgets import click, complete_handshake

pytestmark = pytest.mark.anyio


async def test_after_the_step_up_consent_the_client_decides_as_before(stepper: HandshakeStepper) -> None:
    # The step-up's consent page waited for the person's click; a later call_tool from a cell has
    # no one to click, and goes on with the client's own decision again.
    await complete_handshake(stepper)
    own = stepper.client.decision
    waiting = await show_consent_page(stepper, "step_up_button")
    stepper.approve_button.click()
    await waiting
    assert stepper.client.decision is own


async def test_a_call_that_goes_through_clears_the_last_failure(stepper: HandshakeStepper) -> None:
    await complete_handshake(stepper)
    waiting = await show_consent_page(stepper, "step_up_button")
    stepper.deny_button.click()
    await waiting
    assert stepper.error is not None and "✕" in stepper.status.value
    await click(stepper, "expire_button")  # refresh, then whoami: it works
    assert stepper.error is None and "✕" not in stepper.status.value


async def test_a_call_from_a_cell_is_shown_as_a_buttons_call_is(stepper: HandshakeStepper) -> None:
    # After a denied step-up, whoami called from a cell goes through: the status line said
    # the denial still, over the call that had just worked.
    await complete_handshake(stepper)
    waiting = await show_consent_page(stepper, "step_up_button")
    stepper.deny_button.click()
    await waiting
    await stepper.call_tool("whoami")
    assert stepper.error is None and "✕" not in stepper.status.value
    assert "Last call whoami: 8 call." in stepper.status.value


async def test_a_token_without_exp_expires_by_its_expires_in(stepper: HandshakeStepper, lab: Lab) -> None:
    # An opaque access token has no exp to read (RFC 7519 §4.1.4 is a JWT's); the token
    # response's expires_in (RFC 6749 §5.1) says when it expires instead.
    await complete_handshake(stepper)
    stepper.client.state.tokens["access_token"] = "opaque-token-the-mcp-server-refuses"
    before, expires_in = lab.clock.now(), int(stepper.client.state.tokens["expires_in"])
    await click(stepper, "expire_button")
    assert lab.clock.now() == before + expires_in + 1
    assert stepper.error is None and [r.name for r in stepper.records[7:]] == ["refresh", "call"]


async def test_a_token_with_neither_exp_nor_expires_in_is_said_to_have_no_expiry(
    stepper: HandshakeStepper, lab: Lab
) -> None:
    # RFC 6749 §5.1 only RECOMMENDS expires_in: with no exp either, nothing says when the token
    # expires, and the status line said "KeyError: 'expires_in'".
    await complete_handshake(stepper)
    stepper.client.state.tokens["access_token"] = "opaque-token-the-mcp-server-refuses"
    del stepper.client.state.tokens["expires_in"]
    before = lab.clock.now()
    await click(stepper, "expire_button")
    assert (
        isinstance(stepper.error, ValueError)
        and "no exp claim and its token response no expires_in" in stepper.status.value
    )
    assert lab.clock.now() == before and len(stepper.records) == 7  # nothing was called


async def test_expire_on_a_wall_clock_says_why_and_leaves_the_buttons_working() -> None:
    async with Lab(seed=0, clock=WallClock()) as lab:
        stepper = HandshakeStepper(lab)
        await complete_handshake(stepper)
        await click(stepper, "expire_button")
        assert isinstance(stepper.error, RuntimeError) and "cannot be advanced" in stepper.status.value
        assert not stepper.expire_button.disabled and not stepper.reset_button.disabled
        assert len(stepper.records) == 7  # nothing was called


async def test_aclose_closes_the_labs_the_stepper_made() -> None:
    stepper = HandshakeStepper(seed=0)
    await stepper.advance()
    first = stepper.lab
    await stepper.reset()  # closes the first; the second is the stepper's too
    await stepper.advance()
    await stepper.aclose()
    for lab in (first, stepper.lab):
        assert lab._browser_http is None  # closed (Lab.aclose lets it go)


async def test_advance_after_the_handshake_runs_nothing(stepper: HandshakeStepper) -> None:
    await complete_handshake(stepper)
    assert await stepper.advance() is None
    assert stepper.error is None and len(stepper.records) == 7 and "handshake complete" in stepper.status.value


async def test_the_buttons_call_their_tools_and_the_tools_answer(stepper: HandshakeStepper) -> None:
    # A tool that answered isError (an unknown name, a missing argument) is no demonstration of
    # a step-up or a refresh: each button's call goes through.
    await complete_handshake(stepper)
    waiting = await show_consent_page(stepper, "step_up_button")
    stepper.approve_button.click()
    await waiting
    await click(stepper, "expire_button")
    calls = [r.learned for r in stepper.records[7:] if r.name == "call"]
    assert calls == [{"tool": "add_note", "is_error": False}, {"tool": "whoami", "is_error": False}]


async def test_a_tool_that_answers_is_error_is_said_to_have_failed(
    stepper: HandshakeStepper, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MCP server/tools: a tool's own failure is a result with isError and its message as text,
    # not a JSON-RPC error; the status line read "Last call …" as if it had worked. (An unknown
    # tool is no tool's failure but a protocol error, -32602: the tool itself fails here.)
    def fails(_: object) -> None:
        raise ToolError("the notes are offline")

    monkeypatch.setattr(tools, "caller", fails)
    await complete_handshake(stepper)
    await click(stepper, "expire_button")
    assert "the tool answered isError: Error executing tool whoami: the notes are offline" in stepper.status.value
    await click(stepper, "expire_button")  # the same call again: still said
    monkeypatch.undo()
    await click(stepper, "expire_button")
    assert "isError" not in stepper.status.value and "Last call whoami" in stepper.status.value
