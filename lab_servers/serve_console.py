"""What `python -m lab_servers serve` does in a terminal: the banner it prints at start (the URLs,
what the AS accepts, how to trust its CA), every exchange printed as it happens (and saved with
`--trace-file`), and Ctrl-C or SIGTERM to stop. The servers themselves are `serve.serving`."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from .authorization_server import ASCapabilities
from .serve import ServedLab, documents_refused_over_http, serving
from .trace import Exchange


def banner(served: ServedLab, *, seed: int | str | None, trace_file: Path | None) -> str:
    lab = served.lab
    policy = lab.policy
    capabilities = lab.auth_server.capabilities
    named = urlsplit(served.mcp_url).netloc.rsplit(":", 1)[0]  # 127.0.0.1, or [::1]
    lines = []
    if served.ca is None:
        lines.append(
            "PLAIN HTTP (--http): for loopback experiments only. MCP §11.3 requires HTTPS for the AS; Node and SDK clients may refuse."
        )
    lines += [
        f"MCP revision          {lab.revision.version}  (MCP server and AS; --revision to change)",
        f"MCP server            {served.mcp_url}   <- the canonical resource URI; use {named}, not localhost",
        f"Authorization server  {served.issuer}  (policy: {policy.name})",
        f"  AS capabilities: cimd={capabilities.cimd}, dcr={capabilities.dcr!r}, iss={capabilities.iss_parameter}",
        f"Client documents      {served.documents_origin}"
        + ("" if capabilities.cimd_usable else "  (served, but this AS refuses them as client ids)"),
        *listening_lines(served, named),
        f"  AS policy: trusted_local_origins={list(policy.trusted_local_origins)} (the one origin exempt from the special-use-address rule)",
        "  AS policy: default_to_single_resource=True (a missing `resource` means the MCP server above: RFC 8707 §2.1's predefined default; MCP §8 has clients send it)",
        "  clock: wall clock; ids and signing key: "
        + (
            f"SEEDED with {seed!r} (anyone with the seed can mint tokens)"
            if seed is not None
            else "fresh system randomness"
        ),
        "",
        *client_id_lines(served),
    ]
    if served.ca:
        lines += ["", served.ca.trust_instructions()]
    if trace_file:
        lines += ["", f"Every exchange is also saved to {trace_file} (load it with lab_servers.load_trace)."]
    lines.append("\nPoint an MCP client at the MCP server; every exchange is printed below. Ctrl-C stops.\n")
    return "\n".join(lines)


def listening_lines(served: ServedLab, named: str) -> list[str]:
    """Where the sockets listen, when that is not the host the URLs name (`url_host`)."""
    if not ipaddress.ip_address(served.listening).is_unspecified:
        return []
    return [
        f"  listening on every interface ({served.listening}), but the URLs name {named}: identifiers are one exact string,",
        f"  and {named} is the one every client on this machine reaches (and the certificate names). A client on",
        "  another machine reaches the sockets, not these URLs (they name its own loopback).",
    ]


def client_id_lines(served: ServedLab) -> list[str]:
    """How an outside client can get a client_id from the served AS: only what it will accept
    (ASCapabilities are advertised *and* enforced, so the banner must not promise more)."""
    capabilities = served.lab.auth_server.capabilities
    register = f"POST {served.issuer}/register"
    dcr = {
        "open": f"  DCR (any client)      the AS mints tpc_… at {register}",
        "initial_access_token": f"  DCR                   {register} with the initial access token as a Bearer token (RFC 7591 §3)",
        "closed": f"  DCR is closed         no registration_endpoint in the metadata; {register} answers 403 (--dcr closed)",
        "removed": "  DCR is removed        there is no /register: 404 (--dcr removed)",
    }[capabilities.dcr]
    predates = not ASCapabilities.for_revision(capabilities.mcp_revision).cimd
    plain_http = documents_refused_over_http(served.lab.policy, tls=served.ca is not None)  # CIMD turned off
    if capabilities.cimd_usable:
        cimd = ["  CIMD: these document URLs are client ids (the AS fetches the document):"]
        cimd += [f"  {client_id:<45} {who}" for client_id, who in served.client_ids]
    else:
        why = (f"revision {capabilities.revision} predates CIMD, added in 2025-11-25" if predates
               else "--http: a client_id URL MUST be https, CIMD -02 §3; serve with TLS for CIMD" if plain_http
               else "--no-cimd" if not capabilities.cimd
               else "no token endpoint auth method a document may name, none or private_key_jwt: CIMD -02 §4.1")  # fmt: skip
        cimd = [f"  CIMD is off           a URL client_id is refused, invalid_client naming CIMD ({why})"]
    registry = served.lab.auth_server.registry.records.values()
    preregistered = [f"  {c.client_id:<45} pre-registered" for c in registry if c.kind == "preregistered"]
    usable = (
        ([dcr] if capabilities.registration_works else []) + (cimd if capabilities.cimd_usable else []) + preregistered
    )
    refused = ([] if capabilities.registration_works else [dcr]) + ([] if capabilities.cimd_usable else cimd)
    if not usable:
        return [
            f"NO OUTSIDE CLIENT CAN GET A CLIENT ID FROM THIS AS: CIMD is off, DCR is {capabilities.dcr}, and no client is",
            "pre-registered. Useful to watch how a client copes with being refused (MCP 2026-07-28: clients MUST handle",
            "DCR rejections); to connect one, pass --dcr open, or "
            + (
                "serve --revision 2025-11-25 or later for CIMD."
                if predates
                else "serve with TLS (no --http) for CIMD."
                if plain_http
                else "drop --no-cimd."
            ),
            *refused,
        ]
    return ["Client ids you can use:", *usable] + (["", "Refused by this AS:", *refused] if refused else [])


# What the console may fall behind by before lines are dropped: ~250 lines of a stranger's
# longest targets (uvicorn reads up to 16 KiB of head), thousands of an ordinary client's.
CONSOLE_BACKLOG_BYTES = 1 << 20
CONSOLE_CLOSE_SECONDS = 1.0  # how long a stopping serve waits for a console that does not read


class Console:
    """Lines for serve's standard output, written by a thread of their own: never in the event loop.

    `print` there blocked the one loop all three servers and the signal handlers run on as soon as
    the pipe was full (a paused terminal, `serve | slow-reader`): a stranger filled a 64 KiB pipe
    in 8 requests with long targets, every server stopped answering, and Ctrl-C and SIGTERM could
    not stop serve (as with a named pipe as --trace-file, `trace_file.TraceWriter`). `say` only
    queues; past CONSOLE_BACKLOG_BYTES waiting, a line is dropped and counted, and the count is
    printed once the console reads again. The thread writes with `os.write`, holding no lock of
    `sys.stdout`'s, so a stopping serve leaves it blocked in a write without waiting for it."""

    def __init__(
        self, stream: TextIO | None = None, backlog_bytes: int = CONSOLE_BACKLOG_BYTES, *, saved: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.stream.flush()  # what print() left in its buffer comes first, flushed here, not by the thread
        self.backlog_bytes, self.saved = backlog_bytes, saved
        self.dropped = 0  # lines not printed since the console last read
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._closing = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._write_lines, name="serve console", daemon=True)
        self._thread.start()

    def say(self, text: str) -> None:
        """Queue `text` as a line; never waits for the console."""
        with self._ready:
            if self._pending_bytes + len(text) > self.backlog_bytes:
                self.dropped += 1
                return
            self._pending.append(text)
            self._pending_bytes += len(text)
            self._ready.notify()

    def close(self, wait: float = CONSOLE_CLOSE_SECONDS) -> None:
        """Write what is queued, waiting at most `wait` seconds for a console that does not read."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(wait)

    def _write_lines(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self.dropped and not self._closing:
                    self._ready.wait()
                lines, dropped = self._pending, self.dropped
                if not lines and not dropped:
                    return  # closing, and all said
                self._pending, self._pending_bytes, self.dropped = [], 0, 0
            if dropped:
                kept = "; --trace-file keeps every exchange" if self.saved else ""
                lines.append(f"[{dropped} lines not printed: the console did not read them in time{kept}]")
            if not self._write("".join(f"{line}\n" for line in lines)):
                return  # a console gone away (`serve | head`): serve on, silently

    def _write(self, text: str) -> bool:
        try:
            descriptor = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # a stream with no descriptor (a test's StringIO)
            descriptor = None
        try:
            if descriptor is None:
                self.stream.write(text)
                self.stream.flush()
                return True
            encoding = getattr(self.stream, "encoding", None) or "utf-8"
            data = text.replace("\n", os.linesep).encode(encoding, "backslashreplace")
            while data:
                data = data[os.write(descriptor, data) :]
        except (OSError, ValueError):  # ValueError: a stream closed under the console (its owner stopped)
            return False
        return True


class _ConsoleHandler(logging.Handler):
    """A log record as a console line: queued, never written in the event loop."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.say(self._line(record))
        except Exception:  # noqa: BLE001 - logging's own rule: a handler never raises
            self.handleError(record)

    def _line(self, record: logging.LogRecord) -> str:
        # uvicorn logs "Exception in ASGI application" with a CancelledError's traceback for each
        # request still in flight when serve stops (a stranger's slow body, a client mid-call):
        # cut short by the stop, no server error; one line says so instead of 40 of traceback.
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            return f"{record.levelname}: a request in flight was cut short as serve stopped ({record.getMessage().strip()})"
        return self.format(record)


@contextlib.contextmanager
def logged_to(console: Console) -> Iterator[None]:
    """While serving, log records go to `console` (serve's standard error) instead of a stream
    written inside the event loop: uvicorn logs "Invalid HTTP request received." for each bad
    request a stranger sends, and with stderr an unread pipe, some 1,600 of them stalled all three
    servers as stdout's lines had (`Console`). One handler, at the root, where the lab's own
    ("lab_servers.serve") and asyncio's records end up; uvicorn's logger, which it gives a stderr
    handler of its own and keeps from propagating, hands its records up to it meanwhile."""
    root, uvicorn = logging.getLogger(), logging.getLogger("uvicorn")
    saved = root.handlers[:], uvicorn.handlers[:], uvicorn.propagate
    root.handlers, uvicorn.handlers, uvicorn.propagate = [_ConsoleHandler(console)], [], True
    try:
        yield
    finally:
        root.handlers, uvicorn.handlers, uvicorn.propagate = saved


async def serve_until_interrupted(*, trace_file: Path | None = None, **options: Any) -> None:
    from .trace_file import TraceWriter

    try:
        writer = TraceWriter(trace_file) if trace_file else None
    except OSError as exc:
        raise OSError(f"--trace-file {trace_file}: {exc.strerror or exc}") from None
    console = Console(saved=writer is not None)
    errors = Console(sys.stderr)

    def show(exchange: Exchange) -> None:
        lines = [exchange.summary()]
        if writer and (stopped := writer.write(exchange)):
            lines.append(f"--trace-file: {stopped}; the exchanges after this one are not saved")
        console.say("\n".join(lines))

    # Ctrl-C or a `kill` leaves the `serving` block like any other exit: the lab's own connections
    # close before the servers stop (`_EmbeddedServer`). Where the loop cannot take signals
    # (Windows), Ctrl-C still cancels the block through asyncio.run.
    stop, loop = asyncio.Event(), asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        # Entered first and left last: uvicorn logs as the servers stop too ("Cancel 1 running
        # task(s)…"), and written in the loop to a full stderr pipe, that hung serve for good.
        with logged_to(errors):
            async with serving(on_exchange=show, **options) as served:
                console.say(banner(served, seed=options.get("seed"), trace_file=trace_file))
                await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        if writer:
            writer.close()
        console.close()
        errors.close()
