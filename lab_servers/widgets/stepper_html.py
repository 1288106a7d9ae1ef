"""The stepper's HTML that needs no widget state: the step pills, and the page a static view
(nbconvert, GitHub) shows instead of the live widget."""

from __future__ import annotations

from ..client import STEPS, StepRecord
from ..views import SequenceDiagram
from ..views._html import esc

LAST_STEP = len(STEPS)
_PILL = "display:inline-block;padding:1px 8px;margin:0 4px 4px 0;border-radius:10px;font-size:12px;border:1px solid "
PILL_STYLES = {
    "done": _PILL + "#1a7f37;background:#dafbe1;color:#1a7f37",
    "failed": _PILL + "#cf222e;background:#ffebe9;color:#cf222e",
    "next": _PILL + "#0969da;background:#ddf4ff;color:#0969da;font-weight:700",
    "later": _PILL + "#d0d7de;background:#fff;color:#8c959f",
}


def progress_html(records: list[StepRecord], next_step_number: int) -> str:
    """One pill per handshake step (done, failed, next, later), then one per step that ran after it."""
    failed = {r.number for r in records if "error" in r.learned}
    succeeded = {r.number for r in records if "error" not in r.learned}
    pills = []
    for number, name, _title, _spec in STEPS:
        state = (
            "done" if number in succeeded
            else "next" if number == next_step_number and number not in failed
            else "failed" if number in failed
            else "later"
        )  # fmt: skip
        pills.append(f'<span style="{PILL_STYLES[state]}">{number} {esc(name)}</span>')
    # Steps after the handshake (refresh, step-up, a later call...) show up as they happen, in
    # the order they ran, so a step-up during step 7 is visible here too, not only in the trace.
    for record in (r for r in records if r.number > LAST_STEP):
        state = "failed" if "error" in record.learned else "done"
        pills.append(f'<span style="{PILL_STYLES[state]}">{record.number} {esc(record.name)}</span>')
    return "<div>" + "".join(pills) + "</div>"


def static_html(method: str, completed_run: SequenceDiagram | None) -> str:
    """The stepper as a page without a kernel shows it: the seven steps, and the completed run."""
    steps = "".join(f"<li>{esc(title)} <small>({esc(spec)})</small></li>" for _n, _name, title, spec in STEPS)
    diagram = completed_run.html if completed_run is not None else ""
    return (
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
