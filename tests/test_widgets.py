"""The handshake stepper, driven headlessly: click, await the scheduled step, check the widgets."""

from __future__ import annotations

import pytest

from lab_servers import Lab
from lab_servers.client import decode_jwt_payload
from lab_servers.determinism import LabClock
from lab_servers.views import sequence_diagram
from lab_servers.widgets import HandshakeStepper
from tests.test_views import unstyled

pytestmark = pytest.mark.anyio


async def click(stepper: HandshakeStepper, button: str = "next_button") -> None:
    getattr(stepper, button).click()
    assert stepper.busy and stepper.pending is not None  # scheduled, not yet run
    await stepper.pending
    assert not stepper.busy


def drawn(stepper: HandshakeStepper) -> str:
    """The diagram the widget shows, as SVG text."""
    assert (stepper.diagram is None) == (stepper.diagram_html.value == "")
    if stepper.diagram is None:
        return ""
    assert stepper.diagram.svg.split(" ", 1)[1] in stepper.diagram_html.value
    return stepper.diagram.svg


async def run_to_consent(stepper: HandshakeStepper) -> None:
    for _ in range(4):
        await click(stepper)
    assert stepper.at_consent


async def decide(stepper: HandshakeStepper, choice: str) -> None:
    """At consent: Next step shows the page, and the step waits for the person's click."""
    stepper.next_button.click()
    pending = stepper.pending
    await stepper.wait_for_consent_page()
    assert stepper.awaiting_decision and not stepper.busy
    assert "Allow access to your account?" in stepper.consent_html.value  # seen before deciding
    assert stepper.next_button.layout.display == "none"
    assert stepper.approve_button.layout.display is None and stepper.deny_button.layout.display is None
    getattr(stepper, f"{choice}_button").click()
    assert pending is not None
    await pending
    assert not stepper.busy and not stepper.awaiting_decision


@pytest.mark.parametrize("method", ["dcr", "cimd"])
async def test_next_step_clicks_run_the_whole_handshake(stepper: HandshakeStepper, method: str) -> None:
    stepper.method_buttons.value = method
    assert repr(stepper) == f"<HandshakeStepper {method.upper()}: next step 1 of 7>"
    await run_to_consent(stepper)
    # At consent the user sees the page first, then decides: Next step gives way to Approve and Deny.
    await decide(stepper, "approve")
    assert "Allow access to your account?" in stepper.consent_html.value
    while not stepper.done:
        await click(stepper)
    assert [r.number for r in stepper.records] == [1, 2, 3, 4, 5, 6, 7]
    assert stepper.error is None and stepper.next_button.disabled
    client_id = stepper.client.state.whoami["client_id"]
    assert client_id.startswith("tpc_") if method == "dcr" else client_id == "https://app.example/client.json"
    status = unstyled(stepper.status.value)
    assert f"handshake complete. The MCP server knows this client as <code>{client_id}</code>" in status
    assert "Step 7 · Call the MCP server with the token" in stepper.step_html.value
    assert ("GET /client.json" in drawn(stepper)) == (method == "cimd")
    assert ("POST /register" in drawn(stepper)) == (method == "dcr")
    assert repr(stepper) == f"<HandshakeStepper {method.upper()}: complete>"


async def test_the_diagram_grows_one_step_at_a_time(stepper: HandshakeStepper) -> None:
    assert stepper.diagram_html.value == ""
    sizes = []
    for _ in range(3):
        await click(stepper)
        sizes.append(drawn(stepper).count("<line"))
    assert sizes[0] < sizes[1] < sizes[2]
    assert "3 · Discover Authorization Server Metadata" in drawn(stepper)


async def test_deny_fails_step_5_visibly_and_approve_can_retry(stepper: HandshakeStepper) -> None:
    await run_to_consent(stepper)
    await decide(stepper, "deny")
    assert str(stepper.error).startswith("step 5 (authorize): the AS answered access_denied")
    assert "✕ step 5 (authorize): the AS answered access_denied" in stepper.status.value
    assert "step 5 (authorize) failed:" in stepper.step_html.value
    assert "— failed" in drawn(stepper)
    assert stepper.at_consent and not stepper.next_button.disabled  # the user may change their mind
    await decide(stepper, "approve")
    assert stepper.error is None and stepper.next_step_number == 6


async def test_reset_starts_over_on_a_fresh_lab(lab: Lab, stepper: HandshakeStepper) -> None:
    stepper.method_buttons.value = "cimd"
    await run_to_consent(stepper)
    await decide(stepper, "approve")
    await click(stepper, "reset_button")
    assert stepper.lab is not lab and stepper.client is None and stepper.next_step_number == 1
    assert stepper.step_html.value == stepper.diagram_html.value == stepper.consent_html.value == ""
    assert stepper.lab.cimd_cache == {}  # so the next run shows the AS fetching the document again
    await run_to_consent(stepper)
    await decide(stepper, "approve")
    assert "GET /client.json" in drawn(stepper)


async def test_changing_the_method_mid_run_starts_over(stepper: HandshakeStepper) -> None:
    await click(stepper)
    stepper.method_buttons.value = "cimd"
    assert stepper.pending is not None
    await stepper.pending
    assert stepper.client is None and stepper.method == "cimd"


@pytest.mark.parametrize("how", ["browser", "cell"])
async def test_a_method_chosen_while_a_step_runs_is_set_back_to_the_runs(stepper: HandshakeStepper, how: str) -> None:
    # The toggle is disabled while a step runs, but a click can reach the kernel before the
    # browser hears of it (Binder), and a cell can set it: the run keeps its method, and so does
    # the toggle, so the status, the diagram's title and the repr name the method the run uses.
    await click(stepper)
    stepper.next_button.click()
    if how == "browser":
        stepper.method_buttons.set_state({"index": 1})  # what a click in the browser sends
    else:
        stepper.method_buttons.value = "cimd"
    assert stepper.method == stepper.client.method == "dcr" and stepper.method_buttons.label == "DCR"
    assert stepper.pending is not None
    await stepper.pending
    assert "<b>DCR</b>: next is step 3" in stepper.status.value and "DCR handshake so far" in drawn(stepper)
    assert repr(stepper) == "<HandshakeStepper DCR: next step 3 of 7>"
    stepper.method_buttons.value = "cimd"  # once the step is done, a change starts over
    await stepper.pending
    assert stepper.client is None and repr(stepper) == "<HandshakeStepper CIMD: next step 1 of 7>"


async def test_the_static_view_names_the_method_of_its_run_not_the_toggles(lab: Lab) -> None:
    # Notebook 04 gives the stepper the DCR run as its static view (GitHub, nbconvert): a toggle
    # set to CIMD before the notebook is saved does not make that run a CIMD one.
    stepper = HandshakeStepper(lab, static_view=sequence_diagram(await lab.connect("dcr")))
    stepper.method_buttons.value = "cimd"
    assert "This is the completed DCR run it builds up" in stepper._repr_mimebundle_()["text/html"]


async def test_advance_can_be_awaited_and_ignores_clicks_while_busy(stepper: HandshakeStepper) -> None:
    record = await stepper.advance()
    assert record is not None and record.number == 1
    stepper.next_button.click()
    first = stepper.pending
    stepper.next_button.click()  # ignored: a step is already running
    assert stepper.pending is first
    assert stepper.next_button.disabled
    await first
    assert [r.number for r in stepper.records] == [1, 2]


async def test_display_is_the_widget_with_a_short_text_repr(stepper: HandshakeStepper) -> None:
    bundle = stepper._repr_mimebundle_()
    assert bundle["text/plain"] == "<HandshakeStepper DCR: next step 1 of 7>"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert stepper.widget.children[0].children[1:3] == (stepper.method_buttons, stepper.next_button)


async def test_same_seed_same_widget_html() -> None:
    values = []
    for _ in range(2):
        async with Lab(seed=0) as lab:
            stepper = HandshakeStepper(lab, method="cimd")
            while not stepper.done:
                await stepper.advance()
            values.append(
                [w.value for w in (stepper.progress, stepper.status, stepper.step_html, stepper.diagram_html)]
            )
    assert values[0] == values[1]


async def test_reset_builds_the_lab_again_as_it_was_built() -> None:
    # Same seed, revision, clock start, capabilities: the run after a reset is the run before it.
    async with Lab(seed=0, revision="2025-06-18", clock=LabClock(1_800_000_000)) as lab:
        stepper = HandshakeStepper(lab, method="dcr")
        lab.clock.advance(100)
        await click(stepper, "reset_button")
        try:
            assert stepper.lab.revision.version == "2025-06-18" and stepper.lab.clock.now() == 1_800_000_000
            assert stepper.lab.ids.seed == 0 and stepper.lab.auth_server.capabilities == lab.auth_server.capabilities
        finally:
            await stepper.aclose()


async def test_a_reset_while_the_consent_page_waits_abandons_that_step(stepper: HandshakeStepper) -> None:
    await run_to_consent(stepper)
    stepper.next_button.click()
    waiting = stepper.pending
    await stepper.wait_for_consent_page()
    await click(stepper, "reset_button")
    assert waiting is not None and waiting.done()
    assert stepper.client is None and not stepper.awaiting_decision and stepper.next_step_number == 1


async def test_a_step_up_after_the_handshake_shows_as_steps_in_the_stepper(stepper: HandshakeStepper) -> None:
    stepper.method_buttons.value = "cimd"
    await run_to_consent(stepper)
    await decide(stepper, "approve")
    while not stepper.done:
        await click(stepper)
    result = await stepper.call_tool("add_note", {"text": "hello"})
    assert result["structuredContent"]["added"] == "hello"
    assert [r.name for r in stepper.records[7:]] == ["step-up", "authorize", "token", "call"]
    assert "10 step-up" in stepper.progress.value and "8 call" in stepper.progress.value


async def complete_handshake(stepper: HandshakeStepper) -> None:
    await run_to_consent(stepper)
    await decide(stepper, "approve")
    while not stepper.done:
        await click(stepper)


async def test_after_the_handshake_buttons_appear_only_once_step_7_is_done(stepper: HandshakeStepper) -> None:
    hidden = [stepper.step_up_button.layout.display, stepper.expire_button.layout.display]
    assert hidden == ["none", "none"]
    await complete_handshake(stepper)
    assert stepper.step_up_button.layout.display is None and stepper.expire_button.layout.display is None
    await click(stepper, "reset_button")
    assert stepper.step_up_button.layout.display == "none" and stepper.last_call is None


async def step_up_consent(stepper: HandshakeStepper, choice: str) -> None:
    """After the handshake: the step-up button, then the consent page for the wider scope, which
    waits for the person's click as step 5 does."""
    stepper.step_up_button.click()
    pending = stepper.pending
    await stepper.wait_for_consent_page()
    assert stepper.awaiting_decision and not stepper.busy
    assert "Allow access to your account?" in stepper.consent_html.value and "notes:write" in stepper.consent_html.value
    assert "step-up" in stepper.status.value and "notes:read notes:write" in stepper.status.value
    assert not stepper.approve_button.disabled and not stepper.deny_button.disabled
    assert stepper.step_up_button.disabled and stepper.expire_button.disabled  # one thing at a time
    getattr(stepper, f"{choice}_button").click()
    assert pending is not None
    await pending
    assert not stepper.busy and not stepper.awaiting_decision
    assert stepper.approve_button.layout.display == "none" and stepper.deny_button.layout.display == "none"


async def test_the_step_up_button_runs_403_insufficient_scope_consent_token_retry(stepper: HandshakeStepper) -> None:
    await complete_handshake(stepper)
    before = drawn(stepper)
    await step_up_consent(stepper, "approve")
    assert stepper.error is None
    assert [r.name for r in stepper.records[7:]] == ["step-up", "authorize", "token", "call"]
    after = [e for r in stepper.records[7:] for e in r.exchanges if e.caller == "client"]
    challenge = next(e for e in after if e.path == "/mcp")
    assert challenge.status == 403 and 'error="insufficient_scope"' in (
        challenge.response_header("www-authenticate") or ""
    )
    assert "notes:write" in stepper.client.state.tokens["scope"]
    assert "10 step-up" in stepper.progress.value and "add_note: 10 step-up → 5 authorize" in stepper.status.value
    assert len(drawn(stepper)) > len(before)  # the diagram grew by the step-up's exchanges


async def test_denying_the_step_up_consent_leaves_the_tool_refused_and_the_old_token_in_place(
    stepper: HandshakeStepper,
) -> None:
    await complete_handshake(stepper)
    token = stepper.client.state.access_token
    await step_up_consent(stepper, "deny")
    assert stepper.error is not None and "access_denied" in str(stepper.error)
    assert [r.name for r in stepper.records[7:]] == ["step-up", "authorize", "call"]
    assert all("error" in r.learned for r in stepper.records[8:])  # the refused consent, then the call it fails
    assert stepper.client.state.access_token == token and "notes:write" not in stepper.client.state.tokens["scope"]
    assert "access_denied" in stepper.status.value


async def test_the_expire_button_passes_exp_then_the_401_makes_the_client_refresh_with_rotation(
    lab: Lab, stepper: HandshakeStepper
) -> None:
    await complete_handshake(stepper)
    old_access, old_refresh = stepper.client.state.access_token, stepper.client.state.tokens["refresh_token"]
    await click(stepper, "expire_button")
    assert stepper.error is None
    assert lab.clock.now() > decode_jwt_payload(old_access)["exp"]
    assert [r.name for r in stepper.records[7:]] == ["refresh", "call"]
    first = next(e for r in stepper.records[7:] for e in r.exchanges if e.caller == "client" and e.path == "/mcp")
    assert first.status == 401  # the expired token, refused
    assert stepper.client.state.tokens["refresh_token"] != old_refresh  # rotated (OAuth 2.1 §4.3.1)
    assert "9 refresh" in stepper.progress.value and "whoami: 9 refresh → 8 call" in stepper.status.value


async def test_a_stepper_leaves_open_the_lab_it_was_given(lab: Lab) -> None:
    # The stepper closes only labs it made (its own, and Reset's fresh ones): the learner's lab,
    # passed in, goes on being used in the next cells.
    await lab.connect("dcr")
    stepper = HandshakeStepper(lab)
    await stepper.reset()
    await stepper.aclose()
    assert lab._browser_http is not None and not lab._browser_http.is_closed
