"""The socket between an app and its reader, in process (`asgi.AppCall`): a send buffer."""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["SEND_BUFFER", "SendBuffer"]

# What the app may write before its reader has read any of it (a socket's send buffer; Linux
# starts a TCP socket at 16 KiB and grows it to megabytes: 64 KiB is a small, bounded middle).
SEND_BUFFER = 64 * 1024


class SendBuffer:
    """The socket between the app and the reader: the app writes into a send buffer and moves on,
    and is held at its next write only while SEND_BUFFER bytes or more are unread, the way a full
    socket buffer holds a server. The end of the body (`None`) is queued without waiting, as a
    FIN is. So an answer that fits in the buffer never waits for its reader (the app finishes
    and its task ends), while a huge or endless one is held, and memory stays bounded."""

    __slots__ = ("_chunks", "_unread", "_waiters")

    def __init__(self) -> None:
        self._chunks: deque[bytes | None] = deque()
        self._unread = 0
        # Whoever waits (the reader for a chunk, a writer for room; an app may send from several
        # tasks, as an SSE ping task does) is woken at every change and checks again.
        self._waiters: list[asyncio.Future[None]] = []

    async def put(self, chunk: bytes | None) -> None:
        while chunk is not None and self._unread >= SEND_BUFFER:
            await self._wait()
        self._chunks.append(chunk)
        self._unread += len(chunk or b"")
        self._wake()

    async def get(self) -> bytes | None:
        while not self._chunks:
            await self._wait()
        chunk = self._chunks.popleft()
        self._unread -= len(chunk or b"")
        self._wake()
        return chunk

    def drop(self) -> None:
        """Its reader is gone: what is unread is dropped, and a writer waiting for room goes on."""
        self._chunks.clear()
        self._unread = 0
        self._wake()

    def end(self, last: bytes = b"") -> None:
        """The end of the body (after `last`), from where nothing can be awaited (`AppCall.abandon`)."""
        if last:
            self._chunks.append(last)
            self._unread += len(last)
        self._chunks.append(None)
        self._wake()

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:  # cancelled before it was woken
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
