"""The stepper's HTML, from its state: the step pills, the status line, and the page a static
view (nbconvert, GitHub) shows instead of the live widget. Each is a card, as every view is
(`views._html.wrap`): its light background and dark text come with it, whatever the theme."""

from __future__ import annotations

from typing import Any, Protocol

from ..client import STEPS, StepError, StepRecord
from ..client.records import AFTER_HANDSHAKE
from ..error_text import cut_middle
from ..trace import printable
from ..views import SequenceDiagram
from ..views._html import MUTED, PAPER, esc, wrap
from ..views.step import ERROR_LIMIT

# "auto" is MCP §5's priority (pre-registered → CIMD → DCR); step 4 records why it chose what it chose.
METHODS = [("DCR", "dcr"), ("CIMD", "cimd"), ("auto", "auto")]
CONSENT_STEP = 5
# The step after the handshake that asks for more scope, by its name: the number lives in one place.
STEP_UP = next(number for number, name, _title, _spec in AFTER_HANDSHAKE if name == "step-up")
LAST_STEP = len(STEPS)


def method_label(method: str) -> str:
    """The button's label for a method value: "dcr" → "DCR"."""
    return next(label for label, value in METHODS if value == method)


_PILL = "display:inline-block;padding:1px 8px;margin:0 4px 4px 0;border-radius:10px;font-size:12px;border:1px solid "
PILL_STYLES = {
    "done": _PILL + "#1a7f37;background:#dafbe1;color:#1a7f37",
    "failed": _PILL + "#cf222e;background:#ffebe9;color:#cf222e",
    "next": _PILL + "#0969da;background:#ddf4ff;color:#0969da;font-weight:700",
    "later": _PILL + f"#d0d7de;background:{PAPER};color:{MUTED}",
}


# WCAG 1.4.1: a pill's state is told by a symbol as well as its colour (green done and red failed
# differ by hue alone), and the next step is the current one (aria-current, 4.1.2).
PILL_MARKERS = {"done": "✓ ", "failed": "✕ ", "next": "▶ ", "later": ""}


def _pill(state: str, number: int, name: str) -> str:
    current = ' aria-current="step"' if state == "next" else ""
    return f'<span{current} style="{PILL_STYLES[state]}">{PILL_MARKERS[state]}{number} {esc(name)}</span>'


def progress_html(records: list[StepRecord], next_step_number: int, *, underway: bool = False) -> str:
    """One pill per handshake step (done, failed, next, later), then one per step that ran after it.
    `underway`: the next step is running (or its consent page waits), so its pill is the current
    one again even if an earlier attempt failed: Next step after a Deny tries step 5 anew."""
    handshake, after = split_at_the_handshake(records)
    failed = {r.number for r in handshake if "error" in r.learned}
    succeeded = {r.number for r in handshake if "error" not in r.learned}
    pills = []
    for number, name, _title, _spec in STEPS:
        state = (
            "done" if number in succeeded
            else "next" if number == next_step_number and (underway or number not in failed)
            else "failed" if number in failed
            else "later"
        )  # fmt: skip
        pills.append(_pill(state, number, name))
    # Steps after the handshake (refresh, step-up, a later call...) show up as they happen, in
    # the order they ran, so a step-up during step 7 is visible here too, not only in the trace.
    for record in after:
        state = "failed" if "error" in record.learned else "done"
        pills.append(_pill(state, record.number, record.name))
    return wrap("".join(pills))


def split_at_the_handshake(records: list[StepRecord]) -> tuple[list[StepRecord], list[StepRecord]]:
    """The handshake's runs of its steps, and the runs after it: of steps past the seven, and from
    the first of those on, of the handshake steps they set off (a step-up's consent and token,
    steps 5 and 6 again; a new discovery). Step 7 stays the handshake's, even with a step-up in it."""
    first = next((i for i, r in enumerate(records) if r.number > LAST_STEP), len(records))
    later = records[first:]
    return records[:first] + [r for r in later if r.number == LAST_STEP], [r for r in later if r.number != LAST_STEP]


def step_on_view(records: list[StepRecord], underway: int | None) -> StepRecord | None:
    """The step the step view shows: the last one that ran, but not a failed attempt at the step
    now under way (`underway`), which is over: the view then shows the step before, as it did
    while the first attempt ran."""
    shown = list(records)
    while underway is not None and shown and shown[-1].number == underway and "error" in shown[-1].learned:
        shown.pop()
    return shown[-1] if shown else None


def static_html(method: str, completed_run: SequenceDiagram | None) -> str:
    """The stepper as a page without a kernel shows it: the seven steps, and the completed run."""
    steps = "".join(f"<li>{esc(title)} <small>({esc(spec)})</small></li>" for _n, _name, title, spec in STEPS)
    diagram = completed_run.html if completed_run is not None else ""
    return wrap(
        '<div class="lab-stepper-static"><p><b>Step-by-step widget</b> (it needs a running kernel: open this '
        "notebook in JupyterLab to press <i>Next step</i>). It walks through these steps, one per click:</p>"
        f"<ol>{steps}</ol>"
        + (
            f"<p>This is the completed {esc(method.upper())} run it builds up, step by step:</p>{diagram}"
            if diagram
            else ""
        )
        + "</div>"
    )


class _Stepper(Protocol):
    """What the status line reads of a `HandshakeStepper`."""

    busy: bool
    error: BaseException | None
    client: Any
    last_call: str | None
    last_result: Any

    @property
    def method(self) -> str: ...
    @property
    def at_consent(self) -> bool: ...
    @property
    def awaiting_decision(self) -> bool: ...
    @property
    def done(self) -> bool: ...
    @property
    def next_step_number(self) -> int: ...


def tool_failure(result: object) -> str | None:
    """What a tool said when it failed: MCP's `tools/call` reports a tool's own error as a result
    with `isError` true and the message in its text content, not as a JSON-RPC error (MCP
    server/tools, "Error Handling"); None for a result that is no failure."""
    if not (isinstance(result, dict) and result.get("isError") is True):
        return None
    content = result.get("content")
    texts = (
        [c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)]
        if isinstance(content, list)
        else []
    )
    return " ".join(" ".join(texts).split())[:200] or "no message"


def _failed(result: object) -> str:
    failure = tool_failure(result)
    return f", and the tool answered isError: {_text(failure)}" if failure else ""


def _text(value: object) -> str:
    """What a server or an exception said, as text: markup escaped, what a terminal would act on
    (ESC codes, line separators, bidi overrides) written as its escape, as StepError does, and at
    most `ERROR_LIMIT` characters, as the step card shows a failure (a status line is no page)."""
    return esc(cut_middle(printable(str(value)), ERROR_LIMIT))


def _asked_again(records: list[StepRecord]) -> str:
    """Why the user is asked to consent after the handshake, from the steps that led to the page:
    a step-up (step 10: 403 insufficient_scope, MCP §10.1), or discovery run again after a 401
    (steps 2-4), which is a new authorization: at another AS when step 3 found the resource moved
    (SEP-2352), else at the same one. Every later consent page was called a step-up, a move too."""
    why = next((r for r in reversed(records) if r.number in (STEP_UP, 3) and "error" not in r.learned), None)
    if why is None or why.number == STEP_UP:
        return "step-up. The tool needs more scope, so the user is asked again"
    before = next(
        (r for r in reversed(records[: records.index(why)]) if r.number == 3 and "error" not in r.learned), None
    )
    issuer = why.learned.get("issuer")
    if before is not None and before.learned.get("issuer") != issuer:
        return (
            f"the resource moved to another authorization server, <code>{_text(issuer)}</code> (it named "
            f"<code>{_text(before.learned.get('issuer'))}</code>), so the client asks the user for a new "
            "authorization there (MCP 2026-07-28, SEP-2352)"
        )
    return (
        f"the MCP server refused the token (401), so the client discovered again and asks the user for a new "
        f"authorization at <code>{_text(issuer)}</code>"
    )


def status_html(stepper: _Stepper) -> str:
    """The line under the pills: what the stepper is doing, what failed, or what comes next."""
    return wrap(_status(stepper), live=True)


def _status(stepper: _Stepper) -> str:
    label = method_label(stepper.method)
    if stepper.busy:
        return f"<b>{label}</b>: working…"
    # A page waiting for the person's click comes first: it is what they must do now, and a
    # failure shown beside it would be an earlier attempt's (Next step after a Deny asks again).
    # Past step 5 (step 7 finding the resource moved, or a call after the handshake), a page is a
    # new authorization or a step-up, said which; step 7's was announced as step 5's.
    if stepper.awaiting_decision and not stepper.at_consent:
        scope = stepper.client.state.scope or ""
        return (
            f"<b>{label}</b>: {_asked_again(stepper.client.records)}, for <code>{_text(scope)}</code>; the "
            "consent page below is what they see. Approve or Deny?"
        )
    if stepper.awaiting_decision:
        return f"<b>{label}</b>: step 5, the consent page below is what the user sees. Approve or Deny?"
    if stepper.error is not None:
        what = (
            str(stepper.error)
            if isinstance(stepper.error, StepError)
            else f"{type(stepper.error).__name__}: {stepper.error}"
        )
        if stepper.at_consent:
            retry = " Next step tries the authorization again; Reset starts over."
        elif (
            stepper.client is not None
            and stepper.client.state.access_token is None
            and stepper.client.state.tokens_issuer
        ):
            # The new authorization at the AS the resource moved to failed: no token is held, and
            # a call fails saying so (ClientBase._why_no_token); it no longer asks the user again,
            # so neither does this line (a step 4 refused there had no consent page to show).
            retry = " No token is held, so every call fails until the handshake runs again: Reset starts over."
        else:
            retry = " Reset to start over."
        return f'<div class="err"><b>✕ {_text(what)}</b><br>{esc(retry.strip())}</div>'
    if stepper.done:
        whoami = stepper.client.state.whoami or {}
        after = (
            f" Last call {_text(stepper.last_call)}{_failed(stepper.last_result)}."
            if stepper.last_call
            else " Now try what comes after: a tool that needs more scope, or an expired token."
        )
        return f"<b>{label}</b>: handshake complete. The MCP server knows this client as <code>{_text(whoami.get('client_id', ''))}</code>.{after}"
    number, _name, title, _spec = STEPS[stepper.next_step_number - 1]
    hint = " The browser will show the AS's consent page, and you decide." if number == CONSENT_STEP else ""
    return f"<b>{label}</b>: next is step {number} of {LAST_STEP}, {esc(title)}.{hint}"
