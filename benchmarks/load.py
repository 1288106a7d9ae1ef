"""Load and hostile-body figures (issue 7): a script that prints numbers, not a test.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/load.py [--in-process 100,1000] [--loopback 200] [--body-mb 100]

1. In-process: N concurrent CIMD handshakes on one lab (each client its own document, so its own
   client_id), time (documents published, clients built and one handshake run before the timer
   starts) and peak RSS, and the no-cross-talk check: each `whoami` names its own client,
   each step record holds exactly its own client's exchanges, every exchange is in one record.
   The cost per step is constant, so 1,000 handshakes should take about 10x the time of 100
   (`--gc-off` shows it: with the cyclic GC on, its passes over a heap that grows with the
   number of live clients add the rest).
2. Loopback: N concurrent handshakes over real sockets against `serve` mode (same process),
   each `whoami` checked against its own client.
3. A served process (`python -m lab_servers serve`, a subprocess): its RSS before, during and
   after a body of `--body-mb` MB is streamed at every endpoint (8 at a time), with and without
   a valid token. The servers answer (401, 405, 413) before reading more than their cap.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import resource
import ssl
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from machine import at_least, conditions  # benchmarks/machine.py, beside this script

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab_servers import HARDENED, Lab
from lab_servers.client import Browser
from lab_servers.serve import serving
from lab_servers.serve_process import served_process
from lab_servers.serve_sockets import MAX_CONNECTIONS
from tests.concurrency import client_document_url, cross_talk, many_clients, publish_clients, run_at_once
from tests.raw_upload import stream_upload


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_of(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process, in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


# 1,000 CIMD fetches at once on a 2-core machine can take longer than the AS's 2 s wall-clock
# fetch timeout; that is the timeout doing its job, not what this benchmark measures.
PATIENT = dataclasses.replace(HARDENED, fetch_timeout_seconds=600)


async def in_process(n: int) -> float:
    async with Lab(seed=0, policy=PATIENT) as lab:
        # Untimed: publishing n documents and building n clients is set-up, and the lab's first
        # handshake pays its first-use costs (the MCP session manager, the RS's JWKS cache).
        clients = many_clients(lab, n)
        await lab.connect("cimd")
        lab.trace.clear()  # its exchanges belong to no client's records
        started = time.perf_counter()
        connections = await run_at_once(clients)
        elapsed = time.perf_counter() - started
        problems = cross_talk(lab, connections)
        exchanges = len(lab.trace)
    print(f"in-process  {n:5d} concurrent handshakes: {elapsed:6.2f} s, {exchanges} exchanges, "
          f"peak RSS {peak_rss_mb():.0f} MB, cross-talk: {len(problems)} {problems[:3] if problems else ''}")  # fmt: skip
    return elapsed


async def loopback(n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="lab-load-tls-") as tls_directory:  # a throwaway CA, not the user's
        await _loopback(n, Path(tls_directory))


async def _loopback(n: int, tls_directory: Path) -> None:
    # Port 0: `serving` binds first and builds its URLs from the ports it got.
    async with serving(mcp_port=0, as_port=0, policy=PATIENT, tls_directory=tls_directory) as served:
        publish_clients(served.lab, n)
        # A pool no larger than one server's connection limit, as a browser keeps a few per host:
        # the server answers 503 to a connection past its limit, so a larger pool is refused.
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        assert served.ca is not None  # serve speaks HTTPS from its local CA, which the clients trust
        trusted = ssl.create_default_context(cafile=str(served.ca.ca_certificate))
        async with httpx.AsyncClient(limits=limits, timeout=None, verify=trusted) as http:
            # Untimed, as in process: one handshake first pays the first-use costs (the MCP
            # server's fetch of the AS's keys, the SDK's session manager), and its exchanges are
            # not counted with the clients'.
            warm = served.lab.client("dcr")
            warm.http, warm.browser = http, Browser(http)
            await warm.run_all()
            served.lab.trace.clear()
            clients = []
            for i in range(n):
                client = served.lab.client("cimd", client_metadata_url=client_document_url(i))
                client.http, client.browser = http, Browser(http)
                clients.append(client)
            started = time.perf_counter()
            outcomes = await asyncio.gather(*(client.run_all() for client in clients), return_exceptions=True)
            elapsed = time.perf_counter() - started
        failed = [repr(o)[:200] for o in outcomes if isinstance(o, BaseException)]
        wrong = [i for i, c in enumerate(clients) if (c.state.whoami or {}).get("client_id") != client_document_url(i)]
        served_exchanges = len(served.lab.trace)
    print(f"loopback    {n:5d} concurrent handshakes: {elapsed:6.2f} s, {served_exchanges} exchanges served, "
          f"whoami of another client: {len(wrong)}, failed: {len(failed)} {failed[:2]}")  # fmt: skip


async def hostile_bodies(megabytes: int) -> None:
    # --http: the raw uploader (tests/raw_upload.py) speaks plain HTTP/1.1 on its socket.
    with served_process("--http") as served:
        mcp_port, as_port = (urlsplit(url).port or 0 for url in (served.mcp_url, served.issuer))
        pid = served.process.pid
        token = await _token_over_loopback(served.mcp_url)
        before, _ = rss_of(pid)
        total = megabytes * 1024 * 1024
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        json_type = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        targets = [
            (mcp_port, "/mcp", {}), (mcp_port, "/mcp", {**json_type, "Authorization": f"Bearer {token}"}),
            (mcp_port, "/mcp", {"Authorization": "Bearer not-a-token"}), (mcp_port, "/.well-known/oauth-protected-resource/mcp", {}),
            (as_port, "/register", json_type), (as_port, "/token", form), (as_port, "/authorize/decision", form),
            (as_port, "/authorize", form), (as_port, "/jwks.json", {}), (as_port, "/revoke", form), (as_port, "/introspect", form),
        ]  # fmt: skip
        peak_during = before
        started = time.perf_counter()
        for at in range(0, len(targets), 8):
            batch = targets[at : at + 8]
            results = await asyncio.gather(
                *(stream_upload("127.0.0.1", port, path, total, headers=h) for port, path, h in batch)
            )
            peak_during = max(peak_during, rss_of(pid)[0])
            for (port, path, headers), (status, sent) in zip(batch, results, strict=True):
                label = (
                    ("MCP " if port == mcp_port else "AS  ") + path + (" +token" if "Bearer ey" in str(headers) else "")
                )
                print(f"  {label:48s} -> {status}, after {sent / 1024:8.0f} KB of {megabytes} MB were sent")
        elapsed = time.perf_counter() - started
        after, high_water = rss_of(pid)
        print(f"served process: RSS {before:.0f} MB before, at most {peak_during:.0f} MB while and {after:.0f} MB after "
              f"{len(targets)} streamed {megabytes} MB bodies ({elapsed:.1f} s); peak RSS over its whole life {high_water:.0f} MB")  # fmt: skip


async def _token_over_loopback(mcp_url: str) -> str:
    """One DCR handshake against the served process, over its sockets, for a valid token."""
    lab = Lab(seed=1, mcp_url=mcp_url)
    async with httpx.AsyncClient(timeout=30) as http:
        client = lab.client("dcr", client_metadata_url=None)
        client.http, client.browser = http, Browser(http)
        await client.run_all()
    return client.state.access_token or ""


def client_counts(text: str) -> list[int]:
    """An argparse type: comma-separated counts of clients, each at least 1 ("" for none)."""
    count = at_least(1, "a run needs one client")
    return [count(part) for part in text.split(",") if part.strip()]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--in-process",
        type=client_counts,
        default="100,1000",
        help='comma-separated client counts (default 100,1000; "" skips them)',
    )
    parser.add_argument(
        "--loopback",
        type=at_least(0, "0 skips them"),
        default=200,
        help="concurrent handshakes over loopback (default 200; 0 skips them)",
    )
    parser.add_argument(
        "--body-mb",
        type=at_least(0, "0 skips them"),
        default=100,
        help="size of each streamed hostile body (default 100; 0 skips them)",
    )
    parser.add_argument(
        "--gc-off", action="store_true", help="in-process runs without the cyclic GC, to separate its cost"
    )
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    if args.gc_off:
        gc.disable()  # the lab's own cost per step is constant; what remains superlinear is the collector
    times = {n: await in_process(n) for n in args.in_process}
    gc.enable()
    if len(times) >= 2:
        small, large = min(times), max(times)
        print(
            f"  {large} / {small} clients: {times[large] / times[small]:.1f}x the time ({large / small:.0f}x the clients)"
        )
    if args.loopback:
        await loopback(args.loopback)
    if args.body_mb:
        await hostile_bodies(args.body_mb)


if __name__ == "__main__":
    arguments = parse_arguments()  # a usage error before anything runs
    with conditions():
        asyncio.run(main(arguments))
