"""One trace of every HTTP exchange on the lab network, whoever sent it.

Every view in the lab (sequence diagram, raw HTTP, the stepper widget) reads this record and
nothing else. The handshake step an exchange belongs to comes from a context variable that the
lab client sets around each step, so that a request the authorization server makes while
serving a step (fetching a CIMD document, say) is filed under that same step.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from .arguments import wrong_type
from .bounded_json import JsonLimits, JsonRejected, parse_json

# A recorded body read back as JSON, to show it or to find a token in it: whatever `json.loads`
# reads, but no deeper than the lab's servers accept (RFC 8259 §9 lets a parser bound the depth).
# The body may be a stranger's (served mode, a trace file) or a hostile server's (the client
# experiments), and 3,000 nested brackets made `json.loads` raise RecursionError, which is not a
# ValueError, out of every view that showed the exchange.
RECORDED_JSON = JsonLimits(
    max_bytes=1 << 30, max_string_chars=1 << 30, max_number_chars=4300, max_members=1 << 30, allow_duplicate_names=True
)


def recorded_json(body: str) -> object | None:
    """`body` parsed as JSON, or None when it is not JSON the lab would read."""
    try:
        return parse_json(body, RECORDED_JSON, what="the body")
    except JsonRejected:
        return None


@dataclass(frozen=True)
class _StepContext:
    """The step an exchange belongs to, and the list it is collected into (one per client step)."""

    name: str | None
    collected: list[Exchange] | None


_current: contextvars.ContextVar[_StepContext | None] = contextvars.ContextVar("lab_step", default=None)


def current_step() -> str | None:
    context = _current.get()
    return context.name if context is not None else None


@contextlib.contextmanager
def in_step(name: str | None, collect: list[Exchange] | None = None) -> Iterator[None]:
    """File every exchange made inside the block under the step `name`, and append each one to
    `collect` if given. The context variable travels with the request into every task it causes
    (the servers' handling, the AS's CIMD fetch, the MCP server's JWKS fetch), so concurrent
    clients' exchanges never mix, and no step ever has to search the whole trace for its own."""
    token = _current.set(_StepContext(name, collect))
    try:
        yield
    finally:
        _current.reset(token)


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
        return recorded_json(self.response_body)

    @property
    def path(self) -> str:
        """The request-target as the request line has it (`request_target`)."""
        return request_target(self.url, self.method)

    def summary(self) -> str:
        """One line, safe to print: a stranger's path or error cannot write escape codes or a
        second, forged line into the terminal that shows it (`serve` prints every exchange)."""
        outcome = self.error if self.status is None else str(self.status)
        return printable(f"#{self.seq} {self.caller} → {self.host}: {self.method} {self.path} → {outcome}")


# RFC 3986 §3.1: a scheme, then §3.2's "//" before the authority.
_SCHEME_AND_SLASHES = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def request_target(url: str, method: str = "GET") -> str:
    """The request-target of a request for the recorded `url` (RFC 9112 §3.2): its path and query,
    "/" for an empty path (§3.2.1), but OPTIONS' "*" and CONNECT's authority, whose target URIs
    have an empty path and query (§3.3; both were shown as "/"). Read from the text as recorded:
    `urlsplit` drops every tab and newline, and the raw view showed `/mcp\tx` as `/mcpx` where the
    summary showed the tab. A URL `urlsplit` cannot read at all (`https://[/mcp`) is its own
    target: a view shows what was recorded and never fails on it (`views._html.url_parts`)."""
    try:
        urlsplit(url)
    except ValueError:
        return url
    scheme = _SCHEME_AND_SLASHES.match(url)
    rest = url[scheme.end() :] if scheme else url
    # RFC 3986 §3.2: the authority ends at the first "/", "?" or "#"; a "/" in the query
    # (`?next=/admin`) is no path (it was shown as the path `/admin`). §3.5: a fragment is not sent.
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest)) if scheme else 0
    authority, target = rest[:end], rest[end:].split("#", 1)[0]
    if target.startswith("/"):
        return target
    if not target and method in ("OPTIONS", "CONNECT"):
        return "*" if method == "OPTIONS" else authority
    return "/" + target  # §3.2.1: an empty path is sent as "/"


def check_caller(caller: object) -> None:
    """Who sends, as an exchange's `caller` and the diagrams name them: `lab.httpx_client(5)` (or
    None, or '') sent its requests as a sender no diagram could label, and no error said so."""
    if not isinstance(caller, str):
        raise wrong_type("the caller is the name the trace shows for who sends, a string such as 'you'", caller)
    if not caller.strip():
        raise ValueError("the caller is the name the trace shows for who sends, such as 'you'; it cannot be blank")


def printable(text: str) -> str:
    """`text` with every character a terminal would act on instead of show (controls, ESC, bidi
    overrides: Unicode's unprintable categories) written as its escape, `\\x1b` or `\\u202e`."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def plural(count: int, noun: str) -> str:
    """ "1 exchange", "10 exchanges": read aloud as the accessible name of a drawing (WCAG 1.1.1),
    "1 exchanges" is a slip a screen reader user hears."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _header(headers: Headers, name: str) -> str | None:
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


@dataclass
class Trace:
    """Exchanges in the order their requests were sent (`seq`), each also stamped with the order
    its response came back (`done`), so views can draw nested calls the way they happened.

    In process the trace is the record the views read, so it keeps every exchange for as long
    as its lab lives: it grows with use, and only with use (about 4 KB an exchange, 30 KB a CIMD
    handshake, measured; each body is capped at MAX_TRACED_BODY_BYTES). `clear()` empties it; a
    dropped lab frees it with the rest (`LabNetwork.add_host`). A served lab, which strangers
    use, keeps only its last `serve_trace.MAX_SERVED_EXCHANGES`."""

    exchanges: list[Exchange] = field(default_factory=list)
    _started: int = 0
    _finished: int = 0
    # Told of each exchange as it is recorded, whoever records it: a served lab prints and saves
    # every one (`serve_trace.print_and_save`), the lab network's own fetches too.
    on_record: Callable[[Exchange], None] | None = field(default=None, compare=False, repr=False)

    def start(self) -> int:
        """Reserve the sequence number of a request that is about to be sent."""
        self._started += 1
        return self._started

    def record(self, seq: int, **fields: object) -> Exchange:
        self._finished += 1
        context = _current.get()
        step = context.name if context is not None else None
        exchange = Exchange(seq=seq, step=step, done=self._finished, **fields)  # type: ignore[arg-type]
        if not self.exchanges or self.exchanges[-1].seq < seq:
            self.exchanges.append(exchange)
        else:  # finished out of order (nested or concurrent): keep `seq` order, found by bisection
            bisect.insort(self.exchanges, exchange, key=lambda e: e.seq)
        if context is not None and context.collected is not None:
            context.collected.append(exchange)
        if self.on_record is not None:
            self.on_record(exchange)
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
