"""`python -m lab_servers serve` as a process of its own: started and read from its banner, stopped
cleanly by Ctrl-C or kill, reported with what it printed when it cannot start; and
scripts/record_trace.py, which records a real client's handshake with it for notebook 04."""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lab_servers import load_trace
from lab_servers.sdk import whoami_over_tls
from lab_servers.serve_process import served_process
from lab_servers.trace_file import access_tokens

pytestmark = pytest.mark.anyio


@pytest.mark.slow  # a served process and a whole SDK handshake for each signal
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_stops_a_used_lab_cleanly_after_closing_its_own_connections(
    stop: signal.Signals, tmp_path: Path
) -> None:
    """After a client's handshake the MCP server has fetched the AS's keys over TLS. Stopping must
    not wait for a connection of the lab's own: when each uvicorn server took the signal for
    itself, the AS waited out its 5 s graceful shutdown for the MCP server's kept connection and
    logged an error; the lab's clients keep none now (`serve_outbound.ONE_CONNECTION_A_FETCH`)."""
    with served_process("--tls-dir", str(tmp_path), stop=stop) as server:
        # Ports 0: the three URLs come from the banner, each on a port the system picked.
        ports = {urlsplit(url).port for url in (server.mcp_url, server.issuer, server.documents_origin)}
        assert len(ports) == 3 and not ports & {None, 0, 8000, 8001, 8002}
        assert asyncio.run(whoami_over_tls(server.mcp_url, tmp_path / "ca.pem"))["sub"] == "alice"
        stopping = time.monotonic()
    # Waiting out the graceful shutdown logs nothing when a kept connection closes in the end.
    assert time.monotonic() - stopping < 4, "a server waited for a connection of the lab's own"
    assert server.returncode == 0, server.log[-2000:]
    assert "ERROR" not in server.log and "graceful shutdown exceeded" not in server.log, server.log[-2000:]


RECORD_TRACE = Path(__file__).resolve().parent.parent / "scripts" / "record_trace.py"


@pytest.mark.slow  # a served process and a whole SDK handshake
def test_record_trace_saves_a_real_clients_handshake_that_loads_into_the_views(tmp_path: Path) -> None:
    """What notebook 04's "Watch a real client" loads (notebooks/sdk-client-trace.jsonl) is made so."""
    saved = tmp_path / "trace.jsonl"
    done = subprocess.run(
        [sys.executable, str(RECORD_TRACE), str(saved)], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "whoami:" in done.stdout and "'sub': 'alice'" in done.stdout
    trace = load_trace(saved)
    assert f"saved {len(trace.exchanges)} exchanges to {saved}" in done.stdout
    assert any(e.method == "POST" and e.path == "/register" for e in trace) and access_tokens(trace)


def test_record_trace_names_a_file_it_cannot_write_before_starting_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("record_trace", RECORD_TRACE)
    record_trace = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(record_trace)  # type: ignore[union-attr]
    with pytest.raises(SystemExit) as exited:
        record_trace.main([str(tmp_path)])
    assert exited.value.code == 2 and f"{tmp_path}: Is a directory" in capsys.readouterr().err


def test_a_serve_child_that_cannot_start_is_reported_with_what_it_printed() -> None:
    refused = r"(?s)serve exited before it was ready:.*--allow-non-loopback"
    with pytest.raises(RuntimeError, match=refused), served_process("--host", "0.0.0.0"):
        pass


def test_a_serve_child_without_a_banner_in_time_is_stopped_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lab_servers.serve_process

    started: list[subprocess.Popen[str]] = []
    popen = subprocess.Popen
    monkeypatch.setattr(
        lab_servers.serve_process.subprocess, "Popen", lambda *a, **k: started.append(popen(*a, **k)) or started[-1]
    )
    # Started with SIGINT ignored, as a non-interactive shell starts a background job: an early
    # Ctrl-C would be lost, so a child that never showed its banner gets SIGTERM.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with (
            pytest.raises(TimeoutError, match="serve printed no banner in time"),
            served_process("--tls-dir", str(tmp_path), startup_seconds=0),
        ):
            pass
    finally:
        signal.signal(signal.SIGINT, previous)
    assert started[0].returncode == -signal.SIGTERM  # stopped by SIGTERM, not killed a minute later


def test_a_console_that_stops_reading_stalls_no_server_and_ctrl_c_still_stops_serve(tmp_path: Path) -> None:
    """serve printed each exchange inside the event loop all three servers share: once its stdout
    pipe was full (a paused terminal, `serve | slow-reader`), a stranger's 8 long requests froze
    every server, and Ctrl-C could not stop serve. Its console now falls behind and drops lines."""
    import os
    import re
    import ssl

    import httpx

    import lab_servers

    parent = str(Path(lab_servers.__file__).resolve().parent.parent)
    process = subprocess.Popen(
        [sys.executable, "-m", "lab_servers", "serve", "--mcp-port", "0", "--as-port", "0", "--documents-port", "0",
         "--tls-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": parent},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        printed = b""
        while b"Ctrl-C stops" not in printed:
            printed += os.read(process.stdout.fileno(), 65536)
        mcp = re.search(rb"(?m)^MCP server\s+(\S+)", printed)[1].decode()  # type: ignore[index]
        issuer = re.search(rb"(?m)^Authorization server\s+(\S+)", printed)[1].decode()  # type: ignore[index]
        # From here on no one reads serve's stdout: each printed line is ~15 KB, 64 KiB fill the
        # pipe, and past the console's backlog (1 MiB) lines are dropped.
        with httpx.Client(verify=ssl.create_default_context(cafile=str(tmp_path / "ca.pem")), timeout=5) as http:
            statuses = [http.get(f"{mcp}?{'a' * 15_000}").status_code for _ in range(80)]
            metadata = http.get(f"{issuer}/.well-known/oauth-authorization-server").status_code
        assert statuses == [401] * 80 and metadata == 200
        # Read again, the console says how many lines it did not print.
        dropped = re.compile(rb"\[(\d+) lines not printed: the console did not read them in time\]")
        deadline, printed = time.monotonic() + 10, b""
        while not dropped.search(printed) and time.monotonic() < deadline:
            printed += os.read(process.stdout.fileno(), 1 << 20)
        assert dropped.search(printed) and printed.count(b" 401\n") + int(dropped.search(printed)[1]) == 80  # type: ignore[index]
        with httpx.Client(verify=ssl.create_default_context(cafile=str(tmp_path / "ca.pem")), timeout=5) as http:
            for _ in range(6):  # the pipe full again as Ctrl-C comes
                http.get(f"{mcp}?{'a' * 15_000}")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()  # type: ignore[union-attr]


def test_while_serving_log_records_go_through_a_console_that_never_waits_for_a_reader() -> None:
    """uvicorn logs each malformed request ("Invalid HTTP request received.") to standard error
    from inside the servers' one event loop: with stderr an unread pipe, some 1,600 of a
    stranger's bad requests stalled all three servers, as stdout's lines once did."""
    import logging
    import os
    import re
    import select

    from lab_servers.serve_console import Console, logged_to

    read_end, write_end = os.pipe()
    try:
        with os.fdopen(write_end, "w", closefd=False) as unread:
            errors = Console(unread, backlog_bytes=4096)
            before = [logging.getLogger(name).handlers[:] for name in ("uvicorn", "")]
            started = time.monotonic()
            with logged_to(errors):
                for _ in range(5_000):  # some 200 KB: far past a 64 KiB pipe and the backlog
                    logging.getLogger("uvicorn.error").warning("Invalid HTTP request received.")
                logging.getLogger("lab_servers.serve").error("out of file descriptors")
            assert time.monotonic() - started < 5
            assert [logging.getLogger(name).handlers for name in ("uvicorn", "")] == before  # put back after
            # Read at last, the console gives what it kept and says how many lines it dropped.
            printed, deadline = b"", time.monotonic() + 10
            dropped = re.compile(rb"\[(\d+) lines not printed")
            while time.monotonic() < deadline and not (dropped.search(printed) and printed.endswith(b"\n")):
                if select.select([read_end], [], [], 0.1)[0]:
                    printed += os.read(read_end, 1 << 20)
            errors.close()
            while select.select([read_end], [], [], 0.2)[0] and (more := os.read(read_end, 1 << 20)):
                printed += more
            said = printed.count(b"WARNING: Invalid HTTP request received.\n")
            counts = sum(int(n) for n in dropped.findall(printed))
            assert said + counts + printed.count(b"ERROR: out of file descriptors\n") == 5_001 and counts > 0
    finally:
        os.close(read_end)
        os.close(write_end)


async def test_serve_logs_through_its_console_from_before_its_servers_start_until_they_have_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn logs as its servers stop ("Cancel 1 running task(s)", a traceback for each
    request cut short): given back its own stderr handler before that, serve wrote them inside
    the loop, and with stderr a full pipe it hung for good, deaf to a second Ctrl-C."""
    import contextlib
    import logging
    import os
    from collections.abc import AsyncIterator
    from typing import Any

    from lab_servers import serve_console

    said: list[str] = []

    class Console(serve_console.Console):
        def say(self, text: str) -> None:
            said.append(text)

    @contextlib.asynccontextmanager
    async def serving(**options: Any) -> AsyncIterator[None]:
        logging.getLogger("uvicorn.error").warning("starting")
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        yield None
        logging.getLogger("uvicorn.error").error("Cancel 1 running task(s), timeout graceful shutdown exceeded")
        try:  # a request still in flight, as uvicorn logs it: no traceback of it reaches the console
            raise asyncio.CancelledError("Task cancelled, timeout graceful shutdown exceeded")
        except asyncio.CancelledError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")

    monkeypatch.setattr(serve_console, "Console", Console)
    monkeypatch.setattr(serve_console, "serving", serving)
    monkeypatch.setattr(serve_console, "banner", lambda served, **options: "banner")
    await serve_console.serve_until_interrupted()
    assert said[-2] == "ERROR: Cancel 1 running task(s), timeout graceful shutdown exceeded"
    assert said[-1] == "ERROR: a request in flight was cut short as serve stopped (Exception in ASGI application)"
    assert "WARNING: starting" in said and not [line for line in said if "Traceback" in line]
