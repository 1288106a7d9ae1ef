#!/usr/bin/env python
"""Record a real outside client's handshake the way a learner would: start
`python -m lab_servers serve --trace-file FILE` (TLS, a throwaway CA, free ports), connect the
official MCP Python SDK client to it over loopback sockets (DCR, the lab's headless browser
approving consent), call `whoami`, stop the server.

    .venv/bin/python scripts/record_trace.py notebooks/sdk-client-trace.jsonl

Notebook 04's "Watch a real client" section loads the file this wrote. Every start of `serve` uses
a fresh random signing key and the server is gone when this ends, so the tokens in the file are
dead: they verify against no key anyone has.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab_servers.sdk import whoami_over_tls  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "trace.jsonl").resolve()
    out.unlink(missing_ok=True)
    mcp, auth, docs = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tls:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "lab_servers", "serve", "--tls-dir", tls, "--trace-file", str(out),
                   "--mcp-port", str(mcp), "--as-port", str(auth), "--documents-port", str(docs)]  # fmt: skip
        server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(mcp, time.monotonic() + 30)
            whoami = asyncio.run(whoami_over_tls(f"https://127.0.0.1:{mcp}/mcp", Path(tls) / "ca.pem"))
        finally:
            server.send_signal(signal.SIGINT)
            log, _ = server.communicate(timeout=30)
    print(log)
    print("whoami:", whoami)
    print(f"saved {sum(1 for _ in out.open())} exchanges to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
