"""One trace of every HTTP exchange on the lab network, whoever sent it.

Every view in the lab (sequence diagram, raw HTTP, the stepper widget) reads this record and
nothing else. The handshake step an exchange belongs to comes from a context variable that the
lab client sets around each step, so that a request the authorization server makes while
serving a step (fetching a CIMD document, say) is filed under that same step.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

_current_step: contextvars.ContextVar[str | None] = contextvars.ContextVar("lab_step", default=None)


def current_step() -> str | None:
    return _current_step.get()


@contextlib.contextmanager
def in_step(name: str | None) -> Iterator[None]:
    """File every exchange made inside the block under the step `name`."""
    token = _current_step.set(name)
    try:
        yield
    finally:
        _current_step.reset(token)


Headers = tuple[tuple[str, str], ...]

MAX_TRACED_BODY_BYTES = 64 * 1024  # per body; a trace must not become a copy of every upload


class BodyTap:
    """What a trace keeps of a body that streams past: its first `MAX_TRACED_BODY_BYTES` bytes
    and its full length. Whatever the body's size, the tap holds at most the limit."""

    def __init__(self, limit: int = MAX_TRACED_BODY_BYTES) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self.complete = True

    def stopped_early(self) -> None:
        """The reader closed the stream before its end: the trace says so."""
        self.complete = False

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += chunk[:room]

    def text(self) -> str:
        text = self.kept.decode("utf-8", "replace")
        if self.total > len(self.kept):
            text += f"\n… [truncated: the trace keeps the first {len(self.kept)} of {self.total} bytes]"
        if not self.complete:
            text += f"\n… [the reader closed the stream after {self.total} bytes]"
        return text


def traced_body(data: bytes, limit: int = MAX_TRACED_BODY_BYTES) -> str:
    """The text a trace keeps of a whole body (see `BodyTap`)."""
    tap = BodyTap(limit)
    tap.add(data)
    return tap.text()


@dataclass(frozen=True)
class Exchange:
    """One request and its response (or the connection error that took its place)."""

    seq: int
    step: str | None
    caller: str
    host: str
    address: str | None
    method: str
    url: str
    request_headers: Headers
    request_body: str
    status: int | None
    response_headers: Headers
    response_body: str
    error: str | None = None
    at: int = 0
    done: int = 0  # completion order: an exchange made while serving another finishes first

    def request_header(self, name: str) -> str | None:
        return _header(self.request_headers, name)

    def response_header(self, name: str) -> str | None:
        return _header(self.response_headers, name)

    def json(self) -> object:
        """The response body parsed as JSON (None when it is not JSON)."""
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None

    @property
    def path(self) -> str:
        rest = self.url.split("://", 1)[-1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"

    def summary(self) -> str:
        outcome = self.error if self.status is None else str(self.status)
        return f"#{self.seq} {self.caller} → {self.host}: {self.method} {self.path} → {outcome}"


def _header(headers: Headers, name: str) -> str | None:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


@dataclass
class Trace:
    """Exchanges in the order their requests were sent (`seq`), each also stamped with the order
    its response came back (`done`), so views can draw nested calls the way they happened."""

    exchanges: list[Exchange] = field(default_factory=list)
    _started: int = 0
    _finished: int = 0

    def start(self) -> int:
        """Reserve the sequence number of a request that is about to be sent."""
        self._started += 1
        return self._started

    def record(self, seq: int, **fields: object) -> Exchange:
        self._finished += 1
        exchange = Exchange(seq=seq, step=current_step(), done=self._finished, **fields)  # type: ignore[arg-type]
        position = len(self.exchanges)
        while position > 0 and self.exchanges[position - 1].seq > seq:
            position -= 1
        self.exchanges.insert(position, exchange)
        return exchange

    def mark(self) -> int:
        """A bookmark: pass it to `since` to get the exchanges started after this point."""
        return self._started

    def since(self, mark: int) -> list[Exchange]:
        return [e for e in self.exchanges if e.seq > mark]

    def for_step(self, step: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.step == step]

    def clear(self) -> None:
        self.exchanges.clear()
        self._started = self._finished = 0

    def to_json(self) -> str:
        """Canonical JSON of the whole trace: equal traces give equal bytes."""
        return json.dumps([asdict(e) for e in self.exchanges], indent=1, sort_keys=True, ensure_ascii=False)

    def __len__(self) -> int:
        return len(self.exchanges)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.exchanges)
