"""`show_step(record)`: everything one handshake step did, on one card: what it is, why, where
the spec says so, what the client learned, the diagram of its exchanges, and each raw exchange."""

from __future__ import annotations

from dataclasses import dataclass

from ..arguments import flag, wrong_type
from ..client.records import StepRecord
from ..error_text import cut_middle
from ..trace import plural
from ._html import HtmlView, as_text, cut_tokens_html, esc, shorten, table
from .raw_http import RawHTTP
from .sequence import sequence_diagram

VALUE_LIMIT = 400  # characters of a learned value shown in the table
# Characters of a failure's reason shown. The client quotes a server's words in it within bounds
# (error_text.told); this bounds any reason, so that no server's text fills the card whole.
ERROR_LIMIT = 1600
# The same for each note, and the notes shown: a step notes what a server did, and a server may
# make it note much (a tool left out for each of 10,000 listed, a list of versions 840 kB long).
NOTE_LIMIT = ERROR_LIMIT
NOTES_SHOWN = 20


def learned_table(learned: dict[str, object]) -> str:
    rows = []
    for key, value in learned.items():
        text = as_text(value)
        if len(text) > VALUE_LIMIT:
            text = text[: VALUE_LIMIT - 1] + "…"
        rows.append([f"<td><code>{esc(key)}</code></td>", f'<td class="v">{cut_tokens_html(text)}</td>'])
    return table(["learned", "value"], rows) if rows else '<p class="dim">Nothing learned.</p>'


def notes_list(notes: list[str]) -> str:
    """The step's notes, each cut to `NOTE_LIMIT` and the first `NOTES_SHOWN` of them, with a count of the rest."""
    items = [f"<li>{esc(cut_middle(note, NOTE_LIMIT))}</li>" for note in notes[:NOTES_SHOWN]]
    if len(notes) > NOTES_SHOWN:
        items.append(f'<li class="dim">and {plural(len(notes) - NOTES_SHOWN, "more note")}</li>')
    return "<ul>" + "".join(items) + "</ul>"


@dataclass(eq=False, repr=False)
class StepView(HtmlView):
    record: StepRecord
    diagram: bool = True
    collapsed: bool = False  # a long card folds under its title: a click opens it

    @property
    def error(self) -> str | None:
        error = self.record.learned.get("error")
        return str(error) if error is not None else None

    def _body(self) -> str:
        r = self.record
        head = f'<h4>Step {r.number} · {esc(r.title)} <span class="spec">{esc(r.spec)}</span></h4>'
        parts: list[str] = []
        if self.error:
            parts.append(
                f'<div class="err"><b>step {r.number} ({esc(r.name)}) failed:</b> {esc(cut_middle(self.error, ERROR_LIMIT))}</div>'
            )
        # An explanation and the notes quote servers too (a scope, a client_id, a list of names): bounded
        # as the reason is, behind the client's own bound (error_text.told). The lab's own are under 400.
        if r.explanation:
            parts.append(f"<p>{esc(cut_middle(r.explanation, ERROR_LIMIT))}</p>")
        if r.notes:
            parts.append(notes_list(r.notes))
        parts.append(learned_table(r.learned))
        if self.diagram:
            parts.append(sequence_diagram([r]).html)
        if not r.exchanges:
            parts.append('<p class="dim">This step sent no HTTP request.</p>')
        for exchange in r.exchanges:
            view = RawHTTP(exchange)
            parts.append(
                f"<details><summary><code>{esc(view._summary())}</code></summary>"
                f"<pre>{view.request_html()}</pre><pre>{view.response_html()}</pre></details>"
            )
        if self.collapsed:
            count = plural(len(r.exchanges), "exchange")
            return f"{head}<details><summary>The whole step card: what the client learned, the diagram, {count} (click to open)</summary>{''.join(parts)}</details>"
        return head + "".join(parts)

    def _summary(self) -> str:
        r = self.record
        outcome = f"failed: {shorten(self.error, 80)}" if self.error else plural(len(r.exchanges), "exchange")
        return f"step {r.number} {r.name} — {r.title}: {outcome}"


def show_step(record: StepRecord, *, diagram: bool = True, collapsed: bool = False) -> StepView:
    """One step's card. `diagram=False` leaves out its small sequence diagram (the stepper widget
    draws the whole run's diagram instead); `collapsed=True` folds a long card under its title."""
    if not isinstance(record, StepRecord):
        raise wrong_type(
            "show_step takes one step record, such as `await client.next_step()` or client.records[0]", record
        )
    return StepView(record, flag("show_step(diagram=…)", diagram), flag("show_step(collapsed=…)", collapsed))
