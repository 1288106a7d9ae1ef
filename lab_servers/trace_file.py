"""Saved traces: what `python -m lab_servers serve --trace-file FILE` writes, read back into the
views the in-process lab uses, so an outside client's handshake (MCP Inspector's, say) is drawn
exactly like the lab client's:

    from lab_servers import load_trace
    from lab_servers.views import sequence_diagram, show_exchange, show_token
    trace = load_trace("inspector.jsonl")
    sequence_diagram(trace)
    show_exchange(trace.exchanges[0])
    show_token(access_tokens(trace)[0])

The file has one JSON object per exchange and line (JSON Lines), written as each exchange ends,
so a run that is stopped with Ctrl-C keeps everything it saw.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import MISSING, asdict, fields, replace
from pathlib import Path
from typing import Any

from .arguments import wrong_type
from .bounded_json import JsonRejected, array_elements, parse_json
from .local_files import read_regular_file
from .trace import RECORDED_JSON, Exchange, Trace

_FIELDS = {f.name for f in fields(Exchange)}
# About 25,000 exchanges of a few KiB: hours of an outside client's work, a few minutes of a flood.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024


class TraceWriter:
    """Appends exchanges to a JSON Lines file, one line each; a new file is 0600.

    Saving stops, and `write` says why the one time it does, when the file would pass `max_bytes`
    (a stranger on the machine sending requests all day would otherwise fill the user's disk) or
    when a write fails (a full disk): the servers serve on, and the file keeps whole lines only.
    """

    def __init__(self, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.stopped: str | None = None
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISFIFO(os.stat(self.path).st_mode):
                # Opening one waits for a reader (serve hung before its banner), and then every
                # exchange's line would wait on that reader inside the servers' one event loop.
                raise OSError(f"{self.path} is a named pipe: a slow reader, or none, would stall every server")
        # The file holds bearer tokens, refresh tokens and client secrets as they crossed the
        # wire: readable by its owner only (0600), like the TLS keys beside it.
        self._descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if hasattr(os, "fchmod"):  # a file that was there already (`touch`ed, an earlier trace) too
                mode = os.fstat(self._descriptor).st_mode
                if mode & 0o077 and stat.S_ISREG(mode):
                    os.fchmod(self._descriptor, stat.S_IMODE(mode) & ~0o077)
            self._size = os.fstat(self._descriptor).st_size  # appending to what an earlier run saved
        except BaseException:  # another user's file (EPERM): refused, and its descriptor not kept open
            os.close(self._descriptor)
            raise

    def write(self, exchange: Exchange) -> str | None:
        """Save `exchange`; the reason saving has stopped, when this is the exchange it stops at."""
        if self.stopped is not None:
            return None
        line = self.line(exchange)
        if self._size + len(line) > self.max_bytes:
            return self._stop(f"{self.path} has reached its limit of {self.max_bytes:,} bytes")
        try:
            status: os.stat_result | None = os.fstat(self._descriptor)
        except OSError:
            status = None
        if status is not None and status.st_nlink == 0:  # `rm trace.jsonl` while serving: lines no one could read
            return self._stop(f"{self.path} was deleted")
        # Where this line begins (O_APPEND writes at the end); only a regular file can be cut back.
        start = status.st_size if status is not None and stat.S_ISREG(status.st_mode) else None
        try:
            written = 0
            while written < len(line):  # one line, unbuffered: what is on disk is what was said
                written += os.write(self._descriptor, line[written:])
        except OSError as error:
            # A line cut short would make the file unreadable: what this line wrote is taken back,
            # to where it began, not to where this writer last saw the end. The file may have been
            # emptied since (logrotate's copytruncate), which ftruncate would pad with NUL bytes,
            # or another run given the same file may have added lines, which stay.
            with contextlib.suppress(OSError):
                if start is not None and os.fstat(self._descriptor).st_size > start:
                    os.ftruncate(self._descriptor, start)
            return self._stop(f"{self.path}: {error.strerror or error}")
        self._size += len(line)
        return None

    @staticmethod
    def line(exchange: Exchange) -> bytes:
        """The line `write` saves for `exchange`."""
        return (json.dumps(asdict(exchange), sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    def _stop(self, reason: str) -> str:
        self.stopped = reason
        return reason

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._descriptor)


_REQUIRED = {f.name for f in fields(Exchange) if f.default is MISSING and f.default_factory is MISSING}

# What each field holds, as `TraceWriter.line` writes it: (kind, may it be null), read off
# Exchange's own annotations, so a field added there is judged here too (a type this table does
# not know fails at import). A line from another program or edited by hand that says "seq": "1"
# or "url": null was taken in, and raised TypeError later, out of load_trace's sort or out of a
# view, naming no line.
_KIND_OF_TYPE = {"int": "int", "str": "str", "Headers": "headers"}


def _kind(name: str, annotation: str) -> tuple[str, bool]:
    kind = "status" if name == "status" else _KIND_OF_TYPE[annotation.removesuffix(" | None")]
    return kind, annotation.endswith(" | None")


_KINDS = {f.name: _kind(f.name, str(f.type)) for f in fields(Exchange)}
_SAYS = {
    "int": "a whole number",
    "str": "a string",
    "headers": "a list of [name, value] pairs of strings",
    # RFC 9110 §15: a status code is a three-digit integer.
    "status": "a three-digit status code (RFC 9110 §15)",
}


def _is(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "headers":
        return isinstance(value, list) and all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair) for pair in value
        )
    whole = isinstance(value, int) and not isinstance(value, bool)  # JSON's true is no number
    return whole and (kind == "int" or 100 <= value <= 999)


def exchange_from_json(data: dict[str, Any]) -> Exchange:
    if not isinstance(data, dict):
        raise ValueError(f"not a lab trace line: a JSON object was expected, not {type(data).__name__}")
    unknown = set(data) - _FIELDS
    if unknown:
        raise ValueError(f"not a lab trace line: unknown fields {sorted(unknown)}")
    missing = _REQUIRED - set(data)
    if missing:
        raise ValueError(f"not a lab trace line: missing fields {sorted(missing)}")
    for name, value in data.items():
        kind, nullable = _KINDS[name]
        if not (value is None and nullable) and not _is(kind, value):
            shown = json.dumps(value)
            shown = shown if len(shown) <= 40 else shown[:39] + "…"
            null = " or null" if nullable else ""
            raise ValueError(f"not a lab trace line: {name} is {_SAYS[kind]}{null}, not {shown}")
    values = dict(data)
    for name in ("request_headers", "response_headers"):
        values[name] = tuple((k, v) for k, v in values.get(name, ()))
    return Exchange(**values)


def load_trace(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Trace:
    """A `Trace` from a file saved by `serve --trace-file` (JSON Lines) or `Trace.to_json()`.

    The file may be a stranger's (one a user was sent): one larger than `serve` writes is refused
    unread, and a line that is not one exchange is refused by its number, saying what is wrong."""
    # A number is a file descriptor to `open`: load_trace(5) read, then closed, whatever was open
    # as descriptor 5 (in a notebook, the event loop's own socket). None failed inside `open`.
    if not isinstance(path, str | os.PathLike):
        raise wrong_type("load_trace takes the trace file's path, a string such as 'sdk-client-trace.jsonl'", path)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise wrong_type("load_trace(max_bytes=…) takes a whole number of bytes, such as 1_000_000", max_bytes)
    if max_bytes < 1:
        raise ValueError(f"load_trace(max_bytes=…) takes a number of bytes, at least 1; got {max_bytes}")
    data = read_regular_file(path, max_bytes)
    what = f"{path} is not a lab trace (JSON Lines from `serve --trace-file`, or Trace.to_json())"
    if len(data) > max_bytes:
        raise ValueError(f"{what}: it is larger than {max_bytes:,} bytes, the most `serve --trace-file` writes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        # RFC 8259 §8.1: JSON text exchanged between systems MUST be encoded using UTF-8.
        bad = data.count(b"\n", 0, error.start) + 1
        raise ValueError(f"{what}: line {bad} is not UTF-8 (RFC 8259 §8.1)") from None
    del data
    try:
        # Each exchange is judged as soon as it is read, before the next: a stranger's 100 MiB of
        # `{}` lines were all parsed and kept (9 GB, minutes) before line 1 was refused.
        if text.lstrip().startswith("["):
            # Trace.to_json(): one trace, parsed an element at a time (bounded_json.array_elements).
            elements = array_elements(text, RECORDED_JSON, what="the file")
            runs = [[_exchange(row, f"exchange {number}", what) for number, row in enumerate(elements, 1)]]
        else:
            runs = _runs(text, what)
    except JsonRejected as error:  # it names the file, or the line, itself
        raise ValueError(f"{what}: {error}") from None
    trace = Trace()
    for run in runs:
        # Each run numbered on from the one before: its #1 follows the last run's last exchange.
        seq_before, done_before = trace._started, trace._finished
        for read in sorted(run, key=lambda e: e.seq):
            exchange = read
            if seq_before:
                exchange = replace(read, seq=read.seq + seq_before, done=read.done and read.done + done_before)
            trace.exchanges.append(exchange)
            trace._started = max(trace._started, exchange.seq)
            trace._finished = max(trace._finished, exchange.done)
    return trace


def _runs(text: str, what: str) -> list[list[Exchange]]:
    """The exchanges of a JSON Lines file, run by run of `serve`.

    The writer appends, so a second `serve` given the same --trace-file adds its lines after the
    first's, its numbers starting again at #1: sorted together by `seq`, two runs became one
    trace of interleaved exchanges with the same numbers, drawn as nesting that never happened.
    `serve` writes each exchange as it finishes, so within a run `done` (the order they finished
    in) only rises, and a run begins at `done` 1: a line with `done` 1 is the first of the next
    run. A `done` that falls anywhere else, or a `seq` repeated within a run, is refused by name:
    two runs writing to the file at once mix their lines past telling apart (split wherever
    `done` fell, they loaded as made-up runs, each of both servers' exchanges)."""
    runs: list[list[Exchange]] = []
    seen: dict[int, int] = {}  # seq -> the line it was first seen on, in this run
    last_done, last_line = 0, 0
    for number, line in _lines(text):
        exchange = _exchange(parse_json(line, RECORDED_JSON, what=f"line {number}"), f"line {number}", what)
        if not runs or (exchange.done == 1 and last_done):
            runs.append([])
            seen.clear()
        elif 0 < exchange.done <= last_done:
            raise ValueError(
                f"{what}: line {number}: it finished #{exchange.done}, after line {last_line}'s #{last_done}, and a run"
                " of serve writes each exchange as it finishes, from #1: these lines are no one run's (two runs"
                " writing to this file at once mix their lines)"
            )
        if exchange.seq in seen:
            raise ValueError(
                f"{what}: line {number}: seq {exchange.seq} is line {seen[exchange.seq]}'s too, and `done` does not"
                " start again between them as it does where a run of serve begins: one run numbers each exchange"
                " once, so these lines are no one run's (two runs writing to this file at once mix their lines)"
            )
        seen[exchange.seq] = number
        if exchange.done:
            last_done, last_line = exchange.done, number
        runs[-1].append(exchange)
    return runs


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """The non-blank lines of `text`, numbered from 1, one at a time.

    JSON Lines ends a line at "\n" alone: str.splitlines also split at U+2028, U+0085 and the
    like, which a stranger's body holds as sent (`line` writes ensure_ascii=False), so one such
    request made the whole saved trace unreadable. (And `split` made all of them at once.)"""
    start, number = 0, 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        number, line = number + 1, text[start:end]
        if line.strip():
            yield number, line
        start = end + 1


def _exchange(row: Any, where: str, what: str) -> Exchange:
    try:
        return exchange_from_json(row)
    except ValueError as error:
        raise ValueError(f"{what}: {where}: {error}") from None


def access_tokens(trace: Trace) -> list[str]:
    """Every access token the AS's token endpoint issued in `trace`, in order."""
    tokens = []
    for exchange in trace:
        body = exchange.json() if exchange.path.startswith("/token") and exchange.status == 200 else None
        if isinstance(body, dict) and isinstance(body.get("access_token"), str):
            tokens.append(body["access_token"])
    return tokens
