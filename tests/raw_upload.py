"""A hostile uploader on a raw socket: streams a chunked body until the server answers.

An HTTP client library writes the whole body before it reads the answer, so a server that
answers 413 (or 401) early and closes looks to it like a broken connection. This one reads and
writes at once, the way a well-behaved HTTP/1.1 client watching for an early response does
(RFC 9112 §9.5), and reports the status and how many body bytes it got to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


async def stream_upload(
    host: str, port: int, path: str, total: int, *, headers: dict[str, str] | None = None, chunk: int = 64 * 1024
) -> tuple[int | None, int]:
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()) + "\r\n"
    piece = f"{chunk:x}\r\n".encode() + b"a" * chunk + b"\r\n"
    loop = asyncio.get_running_loop()
    sent = 0
    # A bare socket, not asyncio's streams: a server that answers early and closes makes the next
    # write fail (the server's kernel resets the connection: RFC 9112 §9.6's "TCP reset problem"),
    # and a stream transport then closes itself, dropping the answer already waiting in the socket.
    # The kernel keeps that answer readable after the reset; `recv` returns it before the error.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))

        async def upload() -> None:
            nonlocal sent
            with contextlib.suppress(OSError):
                await loop.sock_sendall(sock, head.encode("latin-1"))
                while sent < total:
                    await loop.sock_sendall(sock, piece)
                    sent += chunk
                await loop.sock_sendall(sock, b"0\r\n\r\n")

        uploading = asyncio.create_task(upload())
        received = b""
        with contextlib.suppress(OSError):
            while b"\r\n" not in received:
                data = await loop.sock_recv(sock, 4096)
                if not data:
                    break
                received += data
        uploading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await uploading
    parts = received.split(b"\r\n", 1)[0].split()
    return (int(parts[1]) if len(parts) > 1 else None), sent
