"""`python -m lab_servers serve` as a child process, on ports the operating system picks.

For tests, scripts and benchmarks that need the served lab in a process of its own (to send it a
signal, to read its memory) without probing for free ports first: a port probed free can be taken
by another process before the child binds it. The child binds port 0 for each server and prints
its URLs in the banner; this module reads them from there.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent
# The banner's last line (`serve_console.banner`): every URL has been printed by then.
_BANNER_END = "Point an MCP client at the MCP server"
_URL_AFTER = {"mcp_url": "MCP server", "issuer": "Authorization server", "documents_origin": "Client documents"}


@dataclass
class ServedProcess:
    """A running `serve` child. `output` keeps every line it printed (read on a thread, so the
    child never blocks on a full pipe); after the `served_process` block, `returncode` is set."""

    process: subprocess.Popen[str]
    mcp_url: str = ""
    issuer: str = ""
    documents_origin: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def log(self) -> str:
        return "".join(self.output)


@contextlib.contextmanager
def served_process(
    *options: str, stop: signal.Signals = signal.SIGINT, startup_seconds: float = 60
) -> Iterator[ServedProcess]:
    """Run `python -m lab_servers serve --mcp-port 0 --as-port 0 --documents-port 0 *options`
    until the block ends, then stop it with `stop` (Ctrl-C by default; SIGTERM if it never showed its
    banner) and wait for it to exit."""
    command = [sys.executable, "-m", "lab_servers", "serve",
               "--mcp-port", "0", "--as-port", "0", "--documents-port", "0", *options]  # fmt: skip
    # The child imports this same package, wherever the parent found it.
    path = os.pathsep.join(filter(None, [str(_PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        command, env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    served = ServedProcess(process)
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process, served.output, lines), daemon=True)
    reader.start()
    ready = False
    try:
        _wait_for_banner(served, lines, time.monotonic() + startup_seconds)
        ready = True
        yield served
    finally:
        if process.poll() is None:
            # Before its banner the child may not take `stop` yet: serve installs its own Ctrl-C
            # handler once running, and a child started with SIGINT ignored (any command a
            # non-interactive shell runs with `&`) would let an early SIGINT pass and run until
            # the kill below. SIGTERM's default action ends it wherever it is.
            process.send_signal(stop if ready else signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=10)
        if process.stdout is not None:  # the pipe the child wrote to: closed here, not by the collector
            process.stdout.close()


def _read_lines(process: subprocess.Popen[str], output: list[str], lines: queue.Queue[str | None]) -> None:
    assert process.stdout is not None
    waited_for = True  # only the banner is waited for: the lines after it are kept in `output` alone
    for line in process.stdout:
        output.append(line)
        if waited_for:
            lines.put(line)
            waited_for = not line.startswith(_BANNER_END)
    lines.put(None)  # the child closed its output: it has exited


def _wait_for_banner(served: ServedProcess, lines: queue.Queue[str | None], deadline: float) -> None:
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"serve printed no banner in time:\n{served.log[-2000:]}") from None
        if line is None:
            raise RuntimeError(f"serve exited before it was ready:\n{served.log[-2000:]}")
        for attribute, label in _URL_AFTER.items():
            if found := re.match(rf"{label}\s+(\S+)", line):
                setattr(served, attribute, found.group(1))
        if line.startswith(_BANNER_END):
            return
