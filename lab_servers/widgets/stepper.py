"""The handshake stepper: one lab client, one step per click, and every view of what happened.

Widget callbacks are synchronous, but each step is a coroutine that must run on the kernel's
event loop (the loop the lab's servers live on). A click therefore schedules `advance()` as a
task on that loop and returns; the task updates the HTML widgets when the step is done. Nothing
is printed (prints from callbacks are invisible in JupyterLab 4): all output is widget state.
In a plain script or a REPL, where no loop runs, a click runs its step there and then
(`click_loop`); at consent it shows the page and returns, and the Approve or Deny click runs the rest.

At consent, "Next step" opens the authorization URL and shows the consent page as the AS
rendered it; the step then waits for the person to press Approve or Deny (the client's
`authorize()` takes a coroutine that is shown the page and returns the decision).

After step 7, two more buttons run what happens after the handshake, with the same client:
"Call add_note (step-up)" calls a tool that needs `notes:write` (403 `insufficient_scope` → step-up
→ consent, where the person again presses Approve or Deny → token → retry), and "Expire token → refresh" moves the lab clock past the access
token's `exp` and calls `whoami` (401 `invalid_token` → refresh with rotation → retry). Their steps
join the pills and the diagram.

Tests drive it without a browser: `stepper.next_button.click()` inside a running loop, then
`await stepper.pending` (at consent: `await stepper.wait_for_consent_page()`, then a click on
Approve or Deny), then assert on `stepper.client`, `stepper.error` and the widgets' values.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ipywidgets as w

from ..arguments import expect, one_of, wrong_type
from ..client import ConsentPage, StepError, StepRecord
from ..client.base import check_decision
from ..lab import Lab
from ..views import SequenceDiagram, sequence_diagram, show_consent, show_step
from .click_loop import ClickLoop, Pending
from .stepper_calls import STEP_UP_CALL, AfterHandshakeCalls
from .stepper_html import (
    CONSENT_STEP,
    LAST_STEP,
    METHODS,
    method_label,
    progress_html,
    static_html,
    status_html,
    step_on_view,
)


class HandshakeStepper(AfterHandshakeCalls):
    """`HandshakeStepper(lab)`: choose DCR or CIMD, press "Next step"; at consent, Approve or Deny.

    Reset starts over on a fresh `Lab` with the same seed and policy, so every run shows a
    first-time handshake (with a warm CIMD cache the AS would not fetch the document again);
    `stepper.lab` is the lab in use. Labs the stepper created are closed by `aclose()`.
    """

    def __init__(
        self,
        lab: Lab | None = None,
        *,
        method: str = "dcr",
        seed: int | str = 0,
        static_view: SequenceDiagram | None = None,
    ) -> None:
        if lab is not None and not isinstance(lab, Lab):
            raise wrong_type("HandshakeStepper takes a Lab, such as HandshakeStepper(Lab(seed=0))", lab)
        one_of("method", method, [value for _, value in METHODS])
        if lab is not None and seed != 0:  # it was ignored: the lab given has its own seed
            raise ValueError(
                f"HandshakeStepper(seed={seed!r}) seeds a lab of its own; seed the lab you pass: Lab(seed=…)"
            )
        self.lab = lab if lab is not None else Lab(seed=seed)
        # What a static view (GitHub, nbconvert HTML) shows instead of the live widget: the steps
        # and, when given, the diagram of a completed run.
        if static_view is not None:  # else an AttributeError when a static page was drawn
            expect(SequenceDiagram, static_view, "static_view takes a diagram, such as sequence_diagram(connection)")
        self.static_view = static_view
        # The method of the run the static view shows: the one the stepper was made for, whatever
        # the toggle says by the time the notebook is saved.
        self._static_method = method
        self._owned_labs: list[Lab] = [] if lab is not None else [self.lab]
        self.client: Any = None  # the LabClient of the current run, created at the first step
        self.error: BaseException | None = None
        self.busy = False
        self.pending: Pending | None = None
        self.diagram: SequenceDiagram | None = None  # the run so far, as drawn in diagram_html
        self._decision: asyncio.Future[str] | None = None  # set while the consent page waits for a click
        # The handshake step a click set running (until it ends): its pill and the step view show
        # it under way, not the failure of an earlier attempt at it (a retry after Deny).
        self._underway: int | None = None
        # Counts resets. A step that a reset abandoned (at a consent page) wakes up after it: it
        # must leave the new run's state alone, or the widget stays "working…" for good.
        self._run = 0
        self._clicks = ClickLoop(lambda: self.awaiting_decision)  # where a click's step runs

        self.method_buttons = w.ToggleButtons(
            options=METHODS,
            value=method,
            tooltips=["Dynamic Client Registration (RFC 7591)", "Client ID Metadata Document"],
            style={"button_width": "64px"},
            layout=w.Layout(width="auto", flex="0 0 auto"),  # in an HBox it would shrink and wrap
        )
        self.next_button = w.Button(description="Next step", button_style="primary", icon="forward")
        self.approve_button = w.Button(description="Approve", button_style="success", icon="check")
        self.deny_button = w.Button(description="Deny", button_style="danger", icon="times")
        self.reset_button = w.Button(description="Reset", icon="refresh")
        self.step_up_button = w.Button(
            description="Call add_note (step-up)", icon="level-up", layout=w.Layout(width="auto"),
            tooltip="add_note needs notes:write: 403 insufficient_scope → step-up → consent → token → retry",
        )  # fmt: skip
        self.expire_button = w.Button(
            description="Expire token → refresh", icon="clock-o", layout=w.Layout(width="auto"),
            tooltip="Move the lab clock past the token's exp, then call whoami: 401 → refresh → retry",
        )  # fmt: skip
        self.last_call: str | None = None  # what the last after-handshake button set off
        self.last_result: Any = None  # and what the tool answered (a failure is shown: isError)
        self.progress = w.HTML()
        self.status = w.HTML()
        self.step_html = w.HTML()
        self.consent_html = w.HTML()
        self.diagram_html = w.HTML()
        # A separate label: a ToggleButtons' own description stacks above its buttons in an HBox.
        label = w.HTML("<b>client_id by</b>", layout=w.Layout(margin="0 6px 0 0", flex="0 0 auto"))
        controls = w.HBox(
            [
                label,
                self.method_buttons,
                self.next_button,
                self.approve_button,
                self.deny_button,
                self.step_up_button,
                self.expire_button,
                self.reset_button,
            ],
            layout=w.Layout(align_items="center", flex_flow="row wrap"),
        )
        self.widget = w.VBox(
            [controls, self.progress, self.status, self.step_html, self.consent_html, self.diagram_html]
        )

        self.next_button.on_click(lambda _: self._click(self._advance, self._ask_user))
        self.approve_button.on_click(lambda _: self._decide("approve"))
        self.deny_button.on_click(lambda _: self._decide("deny"))
        self.reset_button.on_click(lambda _: self._click(self._reset))
        self.step_up_button.on_click(lambda _: self._click(self._after_handshake, *STEP_UP_CALL, self._ask_user))
        self.expire_button.on_click(lambda _: self._click(self._expire_then_call))
        # The index, not the value: a value observer that set it back would be undone by the
        # widget's own index-to-value propagation, still running below it (and again, for ever).
        self.method_buttons.observe(self._method_changed, names="index")
        self._render()

    # State -------------------------------------------------------------------------------------

    @property
    def method(self) -> str:
        return str(self.method_buttons.value)

    @property
    def records(self) -> list[StepRecord]:
        return list(self.client.records) if self.client else []

    @property
    def next_step_number(self) -> int:
        return self.client.next_step_number if self.client else 1

    @property
    def done(self) -> bool:
        return self.next_step_number > LAST_STEP

    @property
    def at_consent(self) -> bool:
        return self.next_step_number == CONSENT_STEP

    @property
    def awaiting_decision(self) -> bool:
        """The consent page is shown and the step waits for Approve or Deny."""
        return self._decision is not None and not self._decision.done()

    # Actions (awaitable; the buttons schedule these) --------------------------------------------

    async def advance(self, decision: str | None = None) -> StepRecord | None:
        """Run the next step without asking anyone (`decision` at consent: "approve", the default,
        or "deny"). Returns its record, or None when busy, at a consent page waiting for Approve or
        Deny (a second step beside it would make the AS see two authorization requests), or
        finished. A failing step is shown, not raised: see `.error`. A decision that is neither
        is the caller's slip: raised."""
        if decision is not None:
            check_decision("advance(decision=…)", decision)
        if self.busy or self.awaiting_decision:
            return None
        self._begin(step=True)  # "working…", the buttons disabled, as after a click
        return await self._advance(decision)

    async def reset(self) -> None:
        if self.busy:
            return
        self._begin()
        await self._reset()

    async def aclose(self) -> None:
        """Close the labs this stepper created (and a plain script's loop, abandoning a consent
        page that still waits, as Reset does)."""
        await self._clicks.aclose()
        for lab in self._owned_labs:
            await lab.aclose()
        self._owned_labs.clear()

    async def wait_for_consent_page(self) -> None:
        """After a "Next step" click at consent: return once the page is shown (or the step ended)."""
        # Two independent conditions (the page shown, the step finished) set from different places:
        # yielding to the loop until either holds is simpler than two events, and lasts a few ticks.
        while not self.awaiting_decision and self.pending is not None and not self.pending.done():  # noqa: ASYNC110
            await asyncio.sleep(0)

    async def _ask_user(self, page: ConsentPage) -> str:
        """Shown the consent page, wait for the person's click (see `_decide`)."""
        run = self._run
        decision = self._decision = asyncio.get_running_loop().create_future()
        self.busy = False  # the buttons must work while the step waits
        self._render()
        self._clicks.asked()  # a plain script's click returns now, and the page is shown
        try:
            return await decision
        finally:
            if run == self._run:  # else Reset cancelled the wait, and the new run is not busy
                self._decision = None
                self.busy = True
                self._render()

    def _decide(self, choice: str) -> None:
        decision = self._decision
        if decision is not None and not decision.done():
            # ipykernel 7 may run widget callbacks off the kernel loop's thread: a future must be
            # resolved on its own loop, or the waiting step does not wake up until something else does.
            def resolve() -> None:
                if not decision.done():
                    decision.set_result(choice)

            decision.get_loop().call_soon_threadsafe(resolve)
            self._clicks.resume(decision.get_loop(), self.pending)  # a plain script: runs the rest here

    async def _advance(self, decision: Any) -> StepRecord | None:
        # Called with self.busy already set (by advance() or by the click handler).
        run = self._run
        record: StepRecord | None = None
        try:
            if self.done:
                return None
            if self.client is None:
                self.client = self.lab.client(self.method)  # type: ignore[arg-type]
            if self.at_consent:
                record = await self.client.authorize(decision=decision or "approve")
            else:
                # Any consent page the step leads to waits for Approve or Deny too (step 7, say,
                # finding the resource moved to another AS): it ran with the client's own "approve",
                # consenting for the person, who never saw the page.
                default, self.client.decision = self.client.decision, decision or self.client.decision
                try:
                    record = await self.client.next_step()
                finally:
                    self.client.decision = default
            self.error = None
        except StepError as exc:
            self.error = exc
            record = self.client.records[-1] if self.client and self.client.records else None
        except Exception as exc:  # noqa: BLE001 - anything else is shown in the widget too
            self.error = exc
        finally:
            if run == self._run:  # else Reset abandoned this step at its consent page
                self.busy, self._underway = False, None
                self._render()
        return record

    async def _reset(self) -> None:
        self._run += 1
        if self._decision is not None and not self._decision.done():
            self._decision.cancel()  # a reset while the consent page waits abandons that step
        self._decision, self._underway = None, None
        try:
            old = self.lab
            self.lab = old.fresh()
            self._owned_labs.append(self.lab)
            self.client, self.error, self.last_call, self.last_result = None, None, None, None
            if old in self._owned_labs:
                self._owned_labs.remove(old)
                await old.aclose()
        except Exception as exc:  # noqa: BLE001 - shown, as a step's failure: a task's exception is seen by no one
            self.error = exc
        finally:
            self.busy = False
            self._render()

    # Scheduling ----------------------------------------------------------------------------------

    def _begin(self, *, step: bool = False) -> None:
        # An action starts: the buttons wait for it, and what the last one left (its failure, a
        # failed attempt at the step now tried again) is no longer what the widget shows.
        self.busy, self.error = True, None
        self._underway = self.next_step_number if step and not self.done else None
        self._render()

    def _click(self, action: Any, *args: Any) -> None:
        # While the consent page waits, only Reset acts (and Approve or Deny, see `_decide`): any
        # other step now would run beside the waiting one.
        if self.busy or (self.awaiting_decision and action != self._reset):
            return
        self._begin(step=action == self._advance)
        self.pending = self._clicks.schedule(action(*args))

    def _method_changed(self, change: dict[str, Any]) -> None:
        # Another method means another run: start over, unless nothing has happened yet (the next
        # step makes the client with the new method).
        if self.client is None:
            return
        if self.busy:
            # A click that reached the kernel before the toggle's disabling reached the browser:
            # the running step's run keeps its method, and so does the toggle, or every label
            # (status, diagram, repr) would name a method the run is not using.
            if self.method != self.client.method:
                self.method_buttons.value = self.client.method
            return
        self._click(self._reset)

    # Rendering -------------------------------------------------------------------------------------

    def _render(self) -> None:
        deciding = self.awaiting_decision
        self.next_button.layout.display = "none" if deciding else None
        self.approve_button.layout.display = None if deciding else "none"
        self.deny_button.layout.display = None if deciding else "none"
        self.next_button.disabled = self.busy or self.done or deciding
        for button in (self.approve_button, self.deny_button):
            button.disabled = self.busy or not deciding
        self.reset_button.disabled = self.busy
        for button in (self.step_up_button, self.expire_button):
            button.layout.display = None if self.done else "none"
            button.disabled = self.busy or deciding or not self.done
        self.method_buttons.disabled = self.busy
        self.progress.value = self._progress_html()
        self.status.value = self._status_html()
        records = self.records
        record = step_on_view(records, self._underway)
        self.step_html.value = show_step(record, diagram=False).html if record else ""
        page = self.client.state.consent_page if self.client else None
        shown = deciding or (record is not None and record.number == CONSENT_STEP)
        self.consent_html.value = show_consent(page).html if page is not None and shown else ""
        label = method_label(self.method)
        self.diagram = (
            sequence_diagram(records, title=f"{label} handshake so far") if any(r.exchanges for r in records) else None
        )
        # Inline <svg>, not the <img> the static views use: a live widget is never sanitized, and
        # inline text can be selected and found by the browser's search. Scaled to the width.
        svg = self.diagram.svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1) if self.diagram else ""
        self.diagram_html.value = f"<div>{svg}</div>" if svg else ""

    def _progress_html(self) -> str:
        return progress_html(self.records, self.next_step_number, underway=self._underway is not None)

    def _status_html(self) -> str:
        return status_html(self)

    # Display -----------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        state = (
            "the consent page waits for Approve or Deny" if self.awaiting_decision
            else "complete" if self.done
            else f"next step {self.next_step_number} of {LAST_STEP}"
        )  # fmt: skip
        return f"<HandshakeStepper {self.method.upper()}: {state}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        # The widget view, with a short text/plain (nbval compares it; a widget's own repr would
        # spell out every child's value).
        bundle = dict(self.widget._repr_mimebundle_() or {})
        bundle["text/plain"] = repr(self)
        # JupyterLab draws the widget (its MIME type ranks first); a static view, which cannot run
        # a kernel, falls back to this HTML.
        bundle["text/html"] = self.static_html()
        return bundle

    def static_html(self) -> str:
        """The stepper as a page without a kernel shows it: the seven steps, and the completed run."""
        return static_html(self._static_method, self.static_view)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
