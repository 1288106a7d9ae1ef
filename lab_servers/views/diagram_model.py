"""From exchanges to a sequence diagram: who talks to whom, and in which order, grouped by step.

The Mermaid text and the SVG are two renderings of this one model, so they cannot disagree.

Order: requests are numbered when sent (`seq`) and responses when they come back (`done`). The
lab has no concurrency, only nesting (the AS fetching a CIMD document while it serves the
browser's request), so the calls are well nested and a stack rebuilds the real timeline: before
a request is drawn, every open exchange that finished earlier than it (smaller `done`) is closed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs

from ..arguments import wrong_type
from ..client.records import ALL_STEPS, StepRecord
from ..error_text import cut_middle
from ..trace import Exchange, Trace, plural, recorded_json
from ._html import shorten, url_parts

# Display names for the lab's well-known callers and hosts; anything else is shown as itself.
KNOWN: dict[str, tuple[str, str]] = {
    # name on the wire → (Mermaid id, label)
    "browser": ("Browser", "Browser"),
    "client": ("Client", "Client"),
    "sdk-client": ("SDK", "SDK client"),
    "mcp.example.com": ("MCP", "MCP server"),
    "auth.example.com": ("AS", "AS"),
}
# Left to right as the story reads: the user's side, the client, the server it wants, the AS,
# then whatever else the AS or the server reached (app.example, attackers, internal hosts).
ORDER = ["browser", "client", "sdk-client", "mcp.example.com", "auth.example.com"]
SUBTITLES = {"mcp.example.com": "mcp.example.com", "auth.example.com": "auth.example.com"}

STEP_INFO = {name: (number, title, spec) for number, name, title, spec in ALL_STEPS}
LABEL_LIMIT = 46


@dataclass(frozen=True)
class Participant:
    key: str  # caller or host name as the trace has it
    id: str  # Mermaid identifier
    label: str
    subtitle: str = ""


@dataclass(frozen=True)
class Message:
    kind: Literal["request", "response"]
    source: int  # participant index
    target: int
    label: str
    status: int | None  # responses only; None on a connection error
    exchange: Exchange


@dataclass(frozen=True)
class Note:
    """A step that sent nothing (CIMD's step 4): the diagram still says it happened."""

    text: str


@dataclass
class Block:
    """One handshake step (or a stretch of traffic outside any step): a shaded band."""

    step: str | None
    number: int | None
    title: str
    spec: str
    items: list[Message | Note] = field(default_factory=list)
    failed: bool = False
    run: int | None = None  # which step record it came from, when built from records

    @property
    def caption(self) -> str:
        caption = f"{self.number} · {self.title}" if self.number else self.title
        return caption + (" — failed" if self.failed else "")


@dataclass
class DiagramModel:
    participants: list[Participant]
    blocks: list[Block]

    @property
    def messages(self) -> list[Message]:
        return [m for b in self.blocks for m in b.items if isinstance(m, Message)]

    def description(self, title: str | None = None) -> str:
        """What the drawing is, in words: the SVG's accessible name and Mermaid's accDescr (WCAG
        1.1.1). Each message's own text is in the drawing (the SVG's <text>, Mermaid's labels)."""
        steps = sum(1 for b in self.blocks if b.number)
        names = ", ".join(p.label for p in self.participants) or "nobody yet"
        exchanges = sum(1 for m in self.messages if m.kind == "request")
        what = f"{plural(exchanges, 'exchange')} in {plural(steps, 'step')} between {names}"
        return f"{title or 'Sequence diagram'}: {what}"


Source = Trace | Iterable[Exchange] | Iterable[StepRecord] | Any


def build_model(source: Source, marks: dict[int, str] | None = None) -> DiagramModel:
    """Accepts a Trace, a list of exchanges, a list of StepRecords, or anything with `.records`
    (a Connection, a LabClient). Step records add a note for steps that sent nothing; `marks`
    adds a note right before the exchange with that sequence number (where two runs meet)."""
    exchanges, notes, runs = _collect(source)
    by_seq = {e.seq: e for e in exchanges}
    for seq, text in (marks or {}).items():
        if seq in by_seq:
            notes.append((seq - 0.5, by_seq[seq].step, text, runs.get(seq)))
    notes.sort(key=lambda note: note[0])
    participants = _participants(exchanges)
    index = {p.key: i for i, p in enumerate(participants)}
    blocks: list[Block] = []

    def block_for(step: str | None, run: tuple[int, bool] | None = None) -> Block:
        # A new band whenever the step changes, or (given records) a step is run again, as
        # when an authorization is retried after the user denied it.
        number_run, failed = run or (None, False)
        if not blocks or blocks[-1].step != step or blocks[-1].run != number_run:
            # A step the lab does not name is a trace file's (someone else's): its name cut as a label is.
            unnamed = shorten(step, LABEL_LIMIT) if step else "outside the handshake"
            number, title, spec = STEP_INFO.get(step or "", (None, unnamed, ""))
            blocks.append(Block(step, number, title, spec, failed=failed, run=number_run))
        return blocks[-1]

    def emit_notes_before(seq: float) -> None:
        while notes and notes[0][0] < seq:
            _, step, text, run = notes.pop(0)
            block_for(step, run).items.append(Note(text))

    def close(exchange: Exchange) -> None:
        block_for(exchange.step, runs.get(exchange.seq)).items.append(
            Message(
                "response",
                index[exchange.host],
                index[exchange.caller],
                response_label(exchange),
                exchange.status,
                exchange,
            )
        )

    open_: list[Exchange] = []
    for exchange in sorted(exchanges, key=lambda e: e.seq):
        while open_ and open_[-1].done < exchange.done:
            close(open_.pop())
        emit_notes_before(exchange.seq)
        block_for(exchange.step, runs.get(exchange.seq)).items.append(
            Message("request", index[exchange.caller], index[exchange.host], request_label(exchange), None, exchange)
        )
        open_.append(exchange)
    while open_:
        close(open_.pop())
    emit_notes_before(float("inf"))
    return DiagramModel(participants, blocks)


Run = tuple[int, bool]  # (position of the step record, whether it failed)
# (drawn before the first request after this seq, its step or None outside any, text, run)
NoteAt = tuple[float, str | None, str, Run | None]


SOURCES = "a sequence diagram is drawn from lab.trace, a list of exchanges, a list of step records, or a connection"


def _items(source: Source) -> list[Any]:
    """The exchanges or the step records `source` holds, all of one kind, or a TypeError that
    says what to pass instead (lab.trace for the lab, [record] for one record)."""
    records = getattr(source, "records", None)
    if isinstance(getattr(source, "trace", None), Trace) and records is None:
        raise wrong_type(SOURCES + "; for the whole lab, pass lab.trace", source)
    if isinstance(source, Exchange | StepRecord):
        one = "exchange" if isinstance(source, Exchange) else "record"
        raise wrong_type(SOURCES + f"; for just one, pass a list: [{one}]", source)
    if isinstance(source, str | bytes | dict) or not isinstance(records if records is not None else source, Iterable):
        raise wrong_type(SOURCES, source)
    items = list(records if records is not None else source)
    strangers = [item for item in items if not isinstance(item, Exchange | StepRecord)]
    if strangers:
        raise wrong_type(SOURCES + "; each item must be an exchange or a step record", strangers[0])
    if not (all(isinstance(item, Exchange) for item in items) or all(isinstance(item, StepRecord) for item in items)):
        raise TypeError(SOURCES + "; this list mixes exchanges and step records: pass one kind")
    return items


def _collect(source: Source) -> tuple[list[Exchange], list[NoteAt], dict[int, Run]]:
    if isinstance(source, Trace):
        return list(source.exchanges), [], {}
    items = _items(source)
    if not items or isinstance(items[0], Exchange):
        return items, [], {}
    exchanges: list[Exchange] = []
    notes: list[NoteAt] = []
    runs: dict[int, Run] = {}
    last_seq = 0
    for position, record in enumerate(items):
        run = (position, "error" in record.learned)
        if record.exchanges:
            for e in record.exchanges:
                if e.seq not in runs:
                    exchanges.append(e)
                    runs[e.seq] = run
            last_seq = max(last_seq, *(e.seq for e in record.exchanges))
        else:
            notes.append((last_seq + 0.5, record.name, _note_text(record), run))
    return exchanges, notes, runs


def _note_text(record: StepRecord) -> str:
    """A step that sent nothing, as one line across the diagram: cut as a message's label is, each
    value to `LABEL_LIMIT` and a failure in the middle (its rule is at the end). A step-up's
    challenged scope of 400 kB, written whole into its note, made a 1 MB SVG."""
    if "error" in record.learned:
        return cut_middle(f"no request sent; failed: {record.learned['error']}")
    if record.learned.get("method") == "cimd":
        client_id = shorten(str(record.learned.get("client_id")), LABEL_LIMIT)
        return f"no request: client_id = {client_id} (the AS fetches it later)"
    details = ", ".join(f"{k}={shorten(v, LABEL_LIMIT)}" for k, v in record.learned.items() if isinstance(v, str))
    return "no request" + (f": {details}" if details else "")


def _participants(exchanges: list[Exchange]) -> list[Participant]:
    seen: list[str] = []
    for e in sorted(exchanges, key=lambda e: e.seq):
        for name in (e.caller, e.host):
            if name not in seen:
                seen.append(name)
    ordered = [n for n in ORDER if n in seen] + [n for n in seen if n not in ORDER]
    result, others = [], 0
    for name in ordered:
        if name in KNOWN:
            mid, label = KNOWN[name]
        else:
            others += 1
            # Cut as a message's label is: a stranger's caller name (a 14 KB User-Agent token) was
            # a participant 229,781 px wide, and written three times over in the SVG.
            mid, label = f"H{others}", shorten(name, LABEL_LIMIT)
        result.append(Participant(name, mid, label, SUBTITLES.get(name, "")))
    return result


def request_label(exchange: Exchange) -> str:
    """`POST /register`, `GET /authorize?…`, `POST /mcp tools/call whoami`."""
    # The request line's target, as the raw view shows it (`Exchange.path`): read through urlsplit,
    # `/mcp%0A` recorded as `/mcp\n` lost its newline, and `OPTIONS *` was drawn as `OPTIONS /`.
    path, query, _ = exchange.path.partition("?")
    label = f"{exchange.method} {path}" + ("?…" if query else "")
    rpc = _jsonrpc(exchange.request_body)
    if rpc:
        label += f" {rpc}"
    return shorten(label, LABEL_LIMIT)


def response_label(exchange: Exchange) -> str:
    """`401 Unauthorized`, `302 → app.example/callback?…`, `✕ connection refused`."""
    if exchange.status is None:
        return shorten(f"✕ {exchange.error or 'no response'}", LABEL_LIMIT)
    location = exchange.response_header("location")
    if location and 300 <= exchange.status < 400:
        parts = url_parts(location)
        # An error redirect (the user denied, say) names its error: that is the news.
        error = parse_qs(parts.query).get("error")
        query = f"?error={error[0]}" if error else "?…" if parts.query else ""
        return shorten(f"{int(exchange.status)} → {parts.netloc}{parts.path}{query}", LABEL_LIMIT + 14)
    try:
        phrase = HTTPStatus(exchange.status).phrase
    except ValueError:
        phrase = ""
    return shorten(f"{int(exchange.status)} {phrase}".strip(), LABEL_LIMIT)


def _jsonrpc(body: str) -> str:
    if not body.startswith("{"):
        return ""
    message = recorded_json(body)
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return ""
    method = message["method"]
    params = message.get("params")
    if method == "tools/call" and isinstance(params, dict) and isinstance(params.get("name"), str):
        method += f" {params['name']}"
    return method
