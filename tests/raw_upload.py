"""A hostile uploader on a raw socket: streams a chunked body until the server answers.

An HTTP client library writes the whole body before it reads the answer, so a server that
answers 413 (or 401) early and closes looks to it like a broken connection. This one reads and
writes at once, the way a well-behaved HTTP/1.1 client watching for an early response does
(RFC 9112 §9.5), and reports the status and how many body bytes it got to send.
"""

from __future__ import annotations

import asyncio
import contextlib


async def stream_upload(
    host: str, port: int, path: str, total: int, *, headers: dict[str, str] | None = None, chunk: int = 64 * 1024
) -> tuple[int | None, int]:
    reader, writer = await asyncio.open_connection(host, port)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()) + "\r\n"
    writer.write(head.encode("latin-1"))
    sent = 0
    piece = f"{chunk:x}\r\n".encode() + b"a" * chunk + b"\r\n"

    async def upload() -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError):
            while sent < total:
                writer.write(piece)
                await writer.drain()
                sent += chunk
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    uploading = asyncio.create_task(upload())
    try:
        status_line = await reader.readline()
    except ConnectionError:
        status_line = b""
    uploading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await uploading
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    parts = status_line.split()
    return (int(parts[1]) if len(parts) > 1 else None), sent
