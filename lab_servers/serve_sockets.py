"""The sockets side of `python -m lab_servers serve`: the connection limits uvicorn lacks (TLS's own
are in `serve_tls`). Binding, the host the URLs name and the canonical-host rule are
`serve_binding`'s; the trace recorder every served app sits behind is `serve_trace`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .rfc9112 import (
    MAX_EMPTY_LINES,
    REQUEST_TARGET,
    as_http11,
    chunked_listed_plainly,
    empty_lines_before,
    oversized_head,
    unknown_transfer_coding,
    unsupported_version,
)
from .rfc9112_refusals import unparsable_request

# A request must arrive whole (headers and body) within this many seconds of its first byte (or
# of the connection): uvicorn's keep-alive timer only runs *between* requests, so a client that
# drips a request one byte at a time held its connection forever (slow-loris). A loopback client
# sends a whole request, 256 KB at most (`body_limit`), in milliseconds.
REQUEST_DEADLINE_SECONDS = 10.0
# A response may wait this long for the client to read: past it, with the connection's write
# buffer still full, the connection is aborted. uvicorn waits for the buffer to drain before it
# writes more, and closing a connection waits for the same drain, so a client that sent requests
# and never read the answers held its connection (and the application's task) forever. Writes
# pause only once the kernel's buffers and asyncio's 64 KiB are full; a client that reads at all,
# a browser tab in the background included, drains them in milliseconds.
WRITE_STALL_SECONDS = 10.0
# A request's line and headers, together: h11's own default. h11 applies it only to a head still
# incomplete (`h11_max_incomplete_event_size`; uvicorn answers that 400), so one that arrived in a
# single read was served up to ~64 KiB; `LimitedH11Protocol` answers a longer one 414 or 431
# (`rfc9112.oversized_head`) before h11 parses it. A browser's request head is 1-2 KiB; a long
# `Cookie` header is the most that grows it.
MAX_REQUEST_HEAD_BYTES = 16 * 1024
# How long a stopping server waits for the requests in flight before it cancels them (uvicorn's
# `timeout_graceful_shutdown`); one cancelled is answered 503 (`serve_trace`).
GRACEFUL_SHUTDOWN_SECONDS = 5
# Open connections per server, each served: a connection opened past the limit is answered 503
# and closed at once, so connections that never finish a request cannot use up the process's file
# descriptors (macOS allows 256 by default; three servers at their limit stay under it).
MAX_CONNECTIONS = 64
# Connections waiting to be accepted: uvicorn's default is 2048, and asyncio tries that many
# accepts (logging each failure) every time the listening socket is ready while descriptors are
# exhausted. asyncio's own default.
LISTEN_BACKLOG = 100


@dataclass(frozen=True)
class SocketAnswer:
    """An answer the protocol wrote itself, past every application, for the trace (`serve_trace`).
    For a request an application was reading (a 408 or 400 while its body arrived) it is left in
    that request's scope under `SOCKET_ANSWER`, for its recorder; for one no application had (its
    head too long, unparsable or never whole) it carries what arrived of the head and who sent it."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: str
    head: bytes = b""
    client: tuple[str, int] | None = None
    server: tuple[str, int | None] | None = None
    scheme: str = "http"


SOCKET_ANSWER = "lab_servers.socket_answer"


def _unrecorded(_answer: SocketAnswer) -> None:
    return None


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the three limits it lacks: a request must arrive whole within
    `request_deadline` seconds, or the connection is answered 408 and closed (RFC 9110 §15.5.9:
    the server "did not receive a complete request message within the time that it was prepared
    to wait", with `Connection: close`); a connection whose client has not read what it was sent
    for `write_stall` seconds is aborted; and a connection opened past `max_connections` is
    answered 503 and closed before it can hold a descriptor. A server gets its own subclass from
    `limited_protocol`, which sets all three."""

    request_deadline = REQUEST_DEADLINE_SECONDS
    write_stall = WRITE_STALL_SECONDS
    max_connections = MAX_CONNECTIONS
    answered: Callable[[SocketAnswer], None] = staticmethod(_unrecorded)  # answers no application saw
    _deadline: asyncio.TimerHandle | None = None
    _stalled: asyncio.TimerHandle | None = None
    _head = b""  # what had arrived of the request h11 was to parse next, kept for `answered`
    _target: bytes | None = None  # the request-target of the request h11 read last
    _empty_lines = 0  # the empty lines dropped before the request line h11 is to read next
    _unparsable = ""  # what h11 said of the request it could not parse, for `send_400_response`
    _unparsable_in_body = False  # and whether it said so of its body (chunks, trailer section)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Each request's head is judged, and kept, just before h11 parses it, and its target is
        # kept as h11 read it from its own request line: one call of handle_events may read a
        # pipelined request after the one before it ended (an answer given before its body came),
        # uvicorn's own loop turning to it (`start_next_cycle` on the late EndOfMessage) without
        # returning here. Judged in handle_events alone, that request skipped every check (the CRLF
        # after the body was an eleventh empty line's 400, an unknown transfer coding no 501), and
        # its 400 was traced with the head before it.
        next_event = self.conn.next_event

        def reading_targets() -> Any:
            if self.conn.their_state is h11.IDLE and not self._head_admitted():
                return h11.NEED_DATA
            reading = self.conn.their_state  # h11's own is ERROR once it has refused
            try:
                event = next_event()
            except h11.RemoteProtocolError as error:  # uvicorn keeps none of its words
                self._unparsable = str(error)
                # Refused while reading a body, the field h11 names is a trailer's, not the head's.
                self._unparsable_in_body = reading is h11.SEND_BODY
                raise
            if isinstance(event, h11.Request):
                self._target, self._empty_lines = bytes(event.target), 0
            return event

        self.conn.next_event = reading_targets  # type: ignore[method-assign]
        if len(self.connections) > self.max_connections:  # this one included
            self._answer_and_close(503, "this lab server has too many open connections; try again")
            # Refused, it serves no request: out of uvicorn's count at once. Counted until its
            # close completed (a TLS close waits up to `serve_tls.TLS_SHUTDOWN_SECONDS` for the
            # client's close_notify), it made uvicorn answer 503 on the connections kept, too.
            self.connections.discard(self)
        else:
            self._deadline = self.loop.call_later(self.request_deadline, self._deadline_passed)

    def handle_events(self) -> None:
        # Called for every read and when a kept connection turns to its next (pipelined) request;
        # each head is judged whole before h11 parses it, however it was split across reads
        # (`_head_admitted`, from h11's `next_event`).
        before = self.scope
        super().handle_events()
        if self.scope is not before and self._target is not None:
            # A request h11 has just read: its scope is new, its application's task not yet begun.
            # The target as its request line has it, for the trace: uvicorn's scope has no "?" of it.
            self.scope[REQUEST_TARGET] = self._target  # type: ignore[literal-required]
        # A request is arriving while h11 waits for its body, or holds part of its head. Its
        # deadline starts with its first bytes (or with the connection), and ends once it is
        # whole, even when the application answered first; idle between requests, uvicorn's
        # keep-alive timer applies instead. A connection closing (answered here) waits for nothing.
        their = self.conn.their_state
        arriving = not self.transport.is_closing() and (
            their is h11.SEND_BODY
            or (their is h11.IDLE and (bool(self.conn.trailing_data[0]) or self._empty_lines > 0))
        )
        if arriving:
            # Not both: uvicorn arms its keep-alive timer as each answer completes, then reads what
            # was pipelined behind it here, and cancels the timer only at the next read or request.
            # Part of a head (or empty lines, a lone CR) pipelined behind an answer was closed at
            # 5 s, unanswered and untraced, where the same bytes on a fresh connection had their
            # deadline and its 408 (RFC 9110 §15.5.9).
            self._unset_keepalive_if_required()
        if arriving and self._deadline is None:
            self._deadline = self.loop.call_later(self.request_deadline, self._deadline_passed)
        elif not arriving and self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
            if their is h11.IDLE and self.conn.our_state is h11.IDLE and not self.transport.is_closing():
                # Idle once more: the body of a request answered before it came has ended. uvicorn
                # armed its keep-alive timer at that answer and cancelled it at the read that
                # brought the rest, and arms none when h11 turns to the next request itself, so
                # the connection, idle, was held for ever. Between requests, its timer applies.
                self._unset_keepalive_if_required()
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

    def _head_admitted(self) -> bool:
        """Whether h11 may parse what has arrived of the next request: False when this protocol
        answered it (414 or 431: too long; 505: an HTTP major version other than 1; 501: a transfer
        coding it does not implement) or when it is a CR alone, which may begin an empty line's CRLF
        (h11 would take it for a request line)."""
        arrived = self._drop_empty_lines(self.conn.trailing_data[0])
        # Kept before h11 reads it: a head it cannot parse is gone from its buffer when it says so.
        self._head = arrived[:MAX_REQUEST_HEAD_BYTES]
        too_large = oversized_head(arrived, MAX_REQUEST_HEAD_BYTES)
        if too_large is not None:
            what = "request line" if too_large == 414 else "request line and headers"
            self._answer_and_close(too_large, f"this server reads a {what} of at most {MAX_REQUEST_HEAD_BYTES} bytes")
            return False
        version = unsupported_version(arrived)
        if version is not None:
            self._answer_and_close(
                505,
                f"this server speaks HTTP/1.1 (and reads HTTP/1.0, and a later HTTP/1.x as 1.1), not HTTP/{version[0]}.{version[1]}"
                " (RFC 9110 §2.5: a server can refuse service of the client's major protocol version; §15.6.6)",
            )
            return False
        coding = unknown_transfer_coding(arrived)
        if coding is not None:
            self._answer_and_close(
                501, f"this server implements no transfer coding {coding!r}, chunked alone (RFC 9112 §6.1, §7)"
            )
            return False
        # `chunked,`: h11 would refuse what RFC 9110 §5.6.1.2 says to read; `HTTP/1.2`: h11 would
        # ask it for no Host, which RFC 9110 §2.5 says to process as 1.1. The request's fields, as
        # its application and the trace see them, are then h11's: `transfer-encoding: chunked`.
        plain = chunked_listed_plainly(arrived) or arrived
        plain = as_http11(plain) or plain
        if plain != arrived:
            self.conn._receive_buffer.maybe_extract_at_most(len(arrived))
            self.conn._receive_buffer += plain
        return arrived != b"\r"

    def _drop_empty_lines(self, arrived: bytes) -> bytes:
        """What `arrived` holds after the empty lines h11 is not to see, each request's first
        MAX_EMPTY_LINES (RFC 9112 §2.2: a server SHOULD ignore one; h11 answered it 400). Past
        them h11 is left the next, and refuses it (`unparsable_request` says why)."""
        lines, octets = empty_lines_before(arrived, MAX_EMPTY_LINES - self._empty_lines)
        self._empty_lines += lines
        # h11 has no call that drops bytes: its buffer's own, as h11 takes a request's bytes.
        self.conn._receive_buffer.maybe_extract_at_most(octets)
        return arrived[octets:]

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stalled is None:
            self._stalled = self.loop.call_later(self.write_stall, self._write_stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _write_stalled(self) -> None:
        # abort(), not close(): close() waits for the write buffer to drain, which is what this
        # client never lets happen. Its connection_lost releases the application (`http.disconnect`).
        self._stalled = None
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._deadline, self._stalled):
            if timer is not None:
                timer.cancel()
        self._deadline = self._stalled = None
        super().connection_lost(exc)
        # No cycle outlives the connection (its TLS read buffer, 256 KiB, waited for a full collection:
        # 86 → 309 MB): h11's `next_event` is a closure over this protocol, and uvicorn cancels its
        # keep-alive timer (a method of this protocol) only on a clean close.
        self.conn.__dict__.pop("next_event", None)
        self._unset_keepalive_if_required()

    def _deadline_passed(self) -> None:
        self._deadline = None
        unanswered = self._unanswered()
        if self.cycle is not None and not self.cycle.response_complete:
            # The application stops waiting for the rest of the body now (`http.disconnect`), and
            # whatever it sends later is dropped, as for a client that went away.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if unanswered:
            seconds = f"{self.request_deadline:g}"
            if self.conn.their_state is h11.IDLE:  # its head still arriving: what came is what it was
                arrived = self.conn.trailing_data[0]
                # A CR alone may begin one more empty line (`_head_admitted`): no request, as they are
                # none, and traced as none (it was an exchange with no method, for the target "/").
                self._head = b"" if arrived == b"\r" else arrived[:MAX_REQUEST_HEAD_BYTES]
            self._answer_and_close(408, f"the request did not arrive whole within {seconds} s")
        else:  # answered before its whole body came (a 413, a 401): the rest is not waited for
            self.transport.close()

    def _unsupported_upgrade_warning(self) -> None:
        # The lab serves no WebSocket (`ws="none"` in serve.py): a request with Upgrade is served
        # as the HTTP request it also is (RFC 9110 §7.8: a server MAY ignore Upgrade). uvicorn
        # logs two warnings for each one, the second advising a WebSocket library the lab must
        # not have: any stranger could fill the console with advice not to follow. Nothing is logged.
        return

    def send_400_response(self, msg: str) -> None:
        # uvicorn's answer to a request h11 cannot parse (no Host, two Content-Lengths, a NUL) had
        # no Date, which RFC 9110 §6.6.1 asks of every 4xx, and said "Invalid HTTP request
        # received." to each, dropping h11's reason: written as this socket's other refusals, which
        # name the rule broken (`unparsable_request`, from h11's words).
        # A body h11 cannot parse (a chunk-size that is no hex) may come after the application has
        # answered or begun to (a 401 from the headers alone, a stream): a 400 then would be a
        # second response to one request, or bytes inside the first's body (RFC 9112 §6.3); the
        # connection is only closed, as the 408 does.
        if self._unanswered():
            said = unparsable_request(self._unparsable, self._head, self._empty_lines, in_body=self._unparsable_in_body)
            self._answer_and_close(400, said)
        else:
            self.transport.close()

    def _unanswered(self) -> bool:
        return self.conn.our_state is h11.IDLE or (  # headers still arriving
            self.conn.our_state is h11.SEND_RESPONSE and not self.cycle.response_started  # the body
        )

    def _answer_and_close(self, status: int, message: str) -> None:
        # Written past h11, whose state may be mid-request; the connection ends here anyway.
        # Plain text on purpose: a 503 is written at the accept, a 408 while the request is still
        # arriving, a 414, 431, 505 or 501 before its head is parsed and a 400 when h11 cannot parse it,
        # before any application has a path to choose its shape by (the MCP server's JSON-RPC
        # endpoint and its metadata share a connection class and a port), so no JSON-RPC or OAuth
        # error object would be the endpoint's own. RFC 9110 §15.5.1, §15.6.4, §15.5.9, §15.5.15,
        # §15.6.6 and RFC 6585 §5 ask for no body shape; the status and `Connection: close` are the message.
        reason = {
            400: "Bad Request",
            408: "Request Timeout",
            414: "URI Too Long",
            431: "Request Header Fields Too Large",
            501: "Not Implemented",
            503: "Service Unavailable",
            505: "HTTP Version Not Supported",
        }[status]
        body = message.encode()
        # uvicorn's Date (and Server), as on its own answers: RFC 9110 §6.6.1, an origin server with
        # a clock "MUST generate a Date header field in all ... 4xx (Client Error) responses".
        fields = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.server_state.default_headers]
        fields += [
            ("content-type", "text/plain; charset=utf-8"),
            ("content-length", str(len(body))),
            ("connection", "close"),
        ]
        head = "".join(f"{name}: {value}\r\n" for name, value in fields)
        self.transport.write(f"HTTP/1.1 {status} {reason}\r\n{head}\r\n".encode("latin-1") + body)
        self.transport.close()
        self._record(SocketAnswer(status, tuple(fields), message))

    def _record(self, answer: SocketAnswer) -> None:
        """Tell the trace what was answered: serve prints every exchange, and these too (README).
        A connection refused at its accept (503), or one that sent nothing before its deadline,
        brought no request: there is no exchange to show."""
        cycle = self.cycle
        if cycle is not None and cycle.more_body and not cycle.response_complete:
            # Its body was arriving, its application reading it: the recorder it runs behind
            # writes the exchange down, with this answer, once the application lets go of it
            # (`http.disconnect`: a 408 was no client hanging up).
            cycle.scope[SOCKET_ANSWER] = answer  # type: ignore[literal-required]
        elif self._head:
            self.answered(
                replace(answer, head=self._head, client=self.client, server=self.server, scheme=self.scheme or "http")
            )


def limited_protocol(
    request_deadline: float,
    write_stall: float = WRITE_STALL_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
    answered: Callable[[SocketAnswer], None] = _unrecorded,
) -> type[LimitedH11Protocol]:
    """The protocol class to pass as `uvicorn.Config(http=…)`, with `limit_concurrency` set to
    `uvicorn_limit(max_connections)`. `answered` is told each answer the protocol writes itself to
    a request no application saw (`serve_trace.record_socket_answers`)."""
    attributes = {
        "request_deadline": request_deadline,
        "write_stall": write_stall,
        "max_connections": max_connections,
        "answered": staticmethod(answered),
    }
    return type("LimitedH11ProtocolOfOneServer", (LimitedH11Protocol,), attributes)


def uvicorn_limit(max_connections: int) -> int:
    """uvicorn's `limit_concurrency` for a server that keeps `max_connections`: above anything the
    kept connections reach. uvicorn answers every request 503 once its open connections, or its
    running tasks, reach its limit, the ones the lab keeps included, so at an equal limit a burst
    that filled the slots was refused whole, request after request, until connections closed
    (measured: 200 clients through a pool of 100 connections, all 200 failed at their first
    request). The lab closes the connections past its own limit at their accept; uvicorn's count
    of connections passes `max_connections` only for that moment, with no request on them. Its
    count of tasks reaches two per connection: a pipelined request (RFC 9112 §9.3.2) starts its
    task while the one just answered is still counted (measured at one above the lab's limit: 64
    connections pipelining 5 requests each, 52 of 177 answers 503)."""
    return 2 * max_connections + 1


class QuietOutOfFiles:
    """A loop exception handler that logs "socket.accept() out of system resource" (descriptors
    exhausted) once a minute with a count, instead of once per failed accept: asyncio retries the
    accept every second, and before LISTEN_BACKLOG and MAX_CONNECTIONS a slow-loris made the
    served lab log 223,231 such tracebacks. Everything else goes to the handler it replaces."""

    def __init__(self, previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None) -> None:
        self.previous, self.suppressed, self.last = previous, 0, float("-inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != "socket.accept() out of system resource":
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        if time.monotonic() - self.last < 60:
            self.suppressed += 1
            return
        self.last = time.monotonic()
        since = f" ({self.suppressed} more since the last such message)" if self.suppressed else ""
        logging.getLogger("lab_servers.serve").error(
            "out of file descriptors (%s): new connections wait until some close%s; raise `ulimit -n` if the lab needs more",
            context.get("exception"),
            since,
        )
        self.suppressed = 0
