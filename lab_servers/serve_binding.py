"""Where `python -m lab_servers serve` listens and the one name its URLs give it: the listening
sockets (`bind`), the host the served URLs name (`url_host`), and the canonical-host rule that
tells a client using another loopback name which one to use (`canonical_host_only`)."""

from __future__ import annotations

import ipaddress
import os
import socket

from starlette.types import ASGIApp, Receive, Scope, Send

from .error_text import Refusal, refuse_as_invalid_request
from .local_ca import LOOPBACK_ADDRESSES
from .rfc6454 import normalized_authority

CANONICAL_HOST = "127.0.0.1"


def address_option(os_name: str) -> int | None:
    """The socket option the lab's listening sockets take on this kind of system.

    POSIX: SO_REUSEADDR, so a port just freed (its old connections in TIME_WAIT) can be bound
    again at once. Windows: SO_REUSEADDR means something else there, that another process (a
    local stranger's included) may bind the same port beside the lab and take its connections,
    codes and tokens with them; asyncio sets it on POSIX only for that reason. There the port is
    the lab's alone (SO_EXCLUSIVEADDRUSE)."""
    if os_name == "posix":
        return socket.SO_REUSEADDR
    return getattr(socket, "SO_EXCLUSIVEADDRUSE", None)


def bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every response on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    option = address_option(os.name)
    if option is not None:
        sock.setsockopt(socket.SOL_SOCKET, option, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def url_host(sock: socket.socket, *, tls: bool) -> str:
    """The host the served URLs name: the address `sock` is bound to (`--host localhost` binds, and
    so names, 127.0.0.1; `--host ::1` names [::1], bracketed by RFC 3986 §3.2.2). Bound to every
    interface (0.0.0.0, ::), the lab names its loopback address: an identifier is one exact string
    (RFC 8707 §2, RFC 9728 §3.3), and loopback is the one address of the machine that every client
    on it reaches and that the certificate names, so a client on another machine cannot use these
    URLs. Over TLS another address is refused: the lab's CA signs only loopback names
    (`local_ca`), so no client, the lab's own MCP server fetching the AS's keys included, could
    verify a certificate for it."""
    address = ipaddress.ip_address(sock.getsockname()[0])
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else CANONICAL_HOST)
    if tls and str(address) not in LOOPBACK_ADDRESSES:
        raise ValueError(
            f"--host {address} is not an address the lab's certificate can name (its CA signs only localhost,"
            f" {' and '.join(LOOPBACK_ADDRESSES)}); listen on 0.0.0.0 and use https://{CANONICAL_HOST}:… on this"
            " machine, or serve --http there"
        )
    return f"[{address}]" if address.version == 6 else str(address)


def canonical_host_only(
    app: ASGIApp, canonical: str, origin: str, refusal: Refusal = refuse_as_invalid_request
) -> ASGIApp:
    """Answer 421 to a request for this server under another loopback name (`localhost:8000`
    for `127.0.0.1:8000`). Resource identifiers and issuers are compared as exact strings (RFC
    8707 §2, RFC 9728 §3.3, RFC 8414 §3.3): a client that connected as `localhost` would find
    metadata naming `127.0.0.1` and rightly refuse it, so the lab says which name is canonical,
    in the server's own shape of refusal at that path (`refusal`: a JSON-RPC error at the MCP
    endpoint, an OAuth `invalid_request` at the AS; `misdirected_request` is no OAuth code)."""

    # Compared as RFC 9110 §4.2.3 compares them: a Host naming the scheme's default port names the
    # server without one (served on 443, a client sends `127.0.0.1`, and was told to use the name
    # `127.0.0.1:443` it had asked for), and a host name compares case-insensitively.
    scheme = origin.split("://", 1)[0]
    wanted = normalized_authority(canonical, scheme)

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            if normalized_authority(host, scheme) != wanted:
                description = f"this lab server's canonical name is {origin}; connect to that URL, not {host!r} (identifiers are compared exactly, RFC 9110 §15.5.20)"
                await refusal(scope["path"], 421, description)(scope, receive, send)
                return
        await app(scope, receive, send)

    return guarded
