"""TLS for the served lab's sockets, with the two bounds uvicorn cannot set: how long a connection
may take to finish its TLS handshake, and how many may be handshaking at once.

Given a certificate, uvicorn calls `loop.create_server(ssl=…)` without `ssl_handshake_timeout`,
so asyncio waits 60 s for a ClientHello, and a connection is uvicorn's (counted against the
server's connection limit) only once its handshake is done: a few hundred sockets that connected
and sent nothing, or half a ClientHello, held as many descriptors for a minute each, uncounted.
Instead the lab listens on plain TCP and `TlsHandshakes`, the protocol uvicorn creates for each
accepted connection, counts it at once and starts TLS itself (`loop.start_tls`, with both
timeouts), then hands the encrypted transport to the lab's HTTP protocol.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from .serve_sockets import LimitedH11Protocol

# A handshake on loopback takes a few milliseconds (a browser, Node, httpx: ~2-4 ms measured by
# `benchmarks/transport.py` as part of a new connection), on a busy 2-core machine well under a
# second; a client that has not finished in 10 s is not going to. asyncio's default is 60 s.
TLS_HANDSHAKE_SECONDS = 10.0
# Closing a TLS connection, asyncio sends close_notify and waits for the peer's (RFC 8446 §6.1)
# before it lets the socket go; a client answers, or closes, within milliseconds. One that does
# neither held the connection, still counted, for asyncio's default of 30 s.
TLS_SHUTDOWN_SECONDS = 5.0


def server_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """The server side of TLS: Python's defaults for a server (TLS 1.2 or later, its ciphers)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certificate), str(key))
    return context


class TlsHandshakes(asyncio.Protocol):
    """A connection from its accept until its TLS handshake is done, when the HTTP protocol made
    alongside takes over. Pending handshakes count with the HTTP connections against the server's
    `max_connections`: when a connection arrives and the count is at the limit, the oldest
    pending handshake is closed to make room. A real client finishes its handshake in
    milliseconds, so the oldest pending one is the likeliest to be a socket that will never
    speak; a connection that is not closed that way has at most `handshake_seconds`. With every
    slot taken by finished connections, a new one still completes its handshake and is answered
    503 by the HTTP protocol, then closed (`serve_sockets`); out of uvicorn's count, its TLS close
    still waits for the client's close_notify, so it is kept with the pending handshakes, counts
    with them, and is the first to be closed to make room. One subclass per server
    (`tls_handshakes`), which keeps that server's pending handshakes and refused connections,
    oldest first."""

    http_class: type[LimitedH11Protocol]
    context: ssl.SSLContext
    handshake_seconds = TLS_HANDSHAKE_SECONDS
    shutdown_seconds = TLS_SHUTDOWN_SECONDS
    pending: dict[TlsHandshakes, asyncio.Task[None]]
    refused: dict[TlsHandshakes, None]  # answered 503, their close waiting for the client's close_notify

    def __init__(self, **uvicorn: Any) -> None:
        # The keyword arguments uvicorn gives a protocol class: config, server_state, app_state, _loop.
        self.http = self.http_class(**uvicorn)
        self.loop = self.http.loop
        self.received: list[bytes] = []  # what arrives between the handshake and the handover
        self.eof = self.lost = self.handed_over = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()  # the ClientHello is for TLS, which starts on the next turn of the loop
        waiting = len(self.refused) + len(self.pending)
        if waiting and waiting + len(self.http.connections) >= self.http.max_connections:
            oldest = next(iter(self.refused or self.pending))
            oldest.abandon()
        self.pending[self] = self.loop.create_task(self._handshake())

    def abandon(self) -> None:
        """Close this connection before its handshake is done, or after its 503 (made room for, or
        the server stops)."""
        self.refused.pop(self, None)
        task = self.pending.pop(self, None)
        self.transport.abort()  # nothing a client is owed: no request was read, or it was answered 503
        if task is not None:
            task.cancel()

    async def _handshake(self) -> None:
        if self.lost:  # reset by the client before the handshake could start
            self.pending.pop(self, None)
            return
        try:
            tls = await self.loop.start_tls(
                self.transport,
                self,
                self.context,
                server_side=True,
                ssl_handshake_timeout=self.handshake_seconds,
                ssl_shutdown_timeout=self.shutdown_seconds,
            )
        except (OSError, asyncio.CancelledError) as error:  # timed out, not TLS (SSLError), the client gone, `abandon`
            self.transport.abort()  # nobody waits for this task: nothing to raise to
            # Its traceback holds asyncio's frames, one of which holds the error: a cycle that kept
            # this connection and its TLS read buffer (256 KiB) to the collector's next full pass,
            # so 2,400 plain-HTTP or untrusting clients grew a served lab from 84 to 286 MB.
            error.__traceback__ = None
            return
        finally:
            self.pending.pop(self, None)
        if tls is None or self.lost:
            return
        # From here the HTTP protocol has the connection, and whatever arrived in the meantime.
        tls.set_protocol(self.http)
        self.handed_over = True
        self.http.connection_made(tls)
        if tls.is_closing():  # refused past the limit (503): a request sent with the handshake is not served
            tls.set_protocol(self)  # its end comes here, to leave `refused`, and is passed on
            self.refused[self] = None
            return
        for data in self.received:
            self.http.data_received(data)
        if self.eof:
            self.http.eof_received()

    # Between the handshake's end and the handover (one turn of the loop), asyncio hands this
    # protocol what the client sent right after its Finished message: kept for the HTTP protocol.
    def data_received(self, data: bytes) -> None:
        self.received.append(data)

    def eof_received(self) -> bool | None:
        self.eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        # asyncio schedules this before running it: lost just before the handover, it still comes
        # here, and the HTTP protocol must hear it to leave uvicorn's count of connections.
        self.lost = True
        self.pending.pop(self, None)
        self.refused.pop(self, None)
        if self.handed_over:
            self.http.connection_lost(exc)


def tls_handshakes(
    http_class: type[LimitedH11Protocol], context: ssl.SSLContext, **timeouts: float
) -> type[TlsHandshakes]:
    """The protocol class to pass as `uvicorn.Config(http=…)` for a server that speaks TLS; its
    `max_connections` counts pending handshakes too. `timeouts`: `handshake_seconds`,
    `shutdown_seconds` (for tests)."""
    attributes: dict[str, Any] = {
        "http_class": http_class,
        "context": context,
        "pending": {},
        "refused": {},
        **timeouts,
    }
    return type("TlsHandshakesOfOneServer", (TlsHandshakes,), attributes)


def abandon_pending_handshakes(protocol_class: type[asyncio.Protocol]) -> None:
    """At shutdown: close the server's connections still in their handshake, which uvicorn does not
    know about, instead of leaving them to their timeout."""
    if issubclass(protocol_class, TlsHandshakes):
        for waiting in [*protocol_class.pending, *protocol_class.refused]:
            waiting.abandon()
