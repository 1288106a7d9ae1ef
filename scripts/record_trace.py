#!/usr/bin/env python
"""Record a real outside client's handshake the way a learner would: start
`python -m lab_servers serve --trace-file FILE` (TLS, a throwaway CA, ports the system picks), connect the
official MCP Python SDK client to it over loopback sockets (DCR, the lab's headless browser
approving consent), call `whoami`, stop the server.

    .venv/bin/python scripts/record_trace.py notebooks/sdk-client-trace.jsonl

Notebook 04's "Watch a real client" section loads the file this wrote. Every start of `serve` uses
a fresh random signing key and the server is gone when this ends, so the tokens in the file are
dead: they verify against no key anyone has.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab_servers.sdk import whoami_over_tls  # noqa: E402
from lab_servers.serve_process import served_process  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record the official SDK client's handshake with a served lab.")
    parser.add_argument("file", nargs="?", default="trace.jsonl", help="the trace file to write (default trace.jsonl)")
    args = parser.parse_args(argv)
    out = Path(args.file).resolve()
    try:  # a path serve cannot write (a directory, no such folder) said now, not after a server started
        out.unlink(missing_ok=True)
        out.touch()
        out.unlink()  # serve creates it, readable by its owner alone
    except OSError as error:
        parser.error(f"{args.file}: {error.strerror}")
    with tempfile.TemporaryDirectory() as tls, served_process("--tls-dir", tls, "--trace-file", str(out)) as served:
        whoami = asyncio.run(whoami_over_tls(served.mcp_url, Path(tls) / "ca.pem"))
    print(served.log)
    print("whoami:", whoami)
    print(f"saved {sum(1 for _ in out.open())} exchanges to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
