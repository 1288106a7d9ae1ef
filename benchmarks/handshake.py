"""How long the lab's handshake takes: in process (per revision the lab supports, per scenario, per
step), over loopback sockets (the same client against the served lab), many at once, and from a
fresh interpreter. A script that prints numbers, not a test.

    .venv/bin/python benchmarks/handshake.py            # the human-readable table
    .venv/bin/python benchmarks/handshake.py --json     # the same, then one JSON object on the last line
    .venv/bin/python benchmarks/handshake.py --quick    # fewer runs, no 1,000-handshake run

Targets on an idle 2-core machine (issue 12): full handshake ≤ 5 ms median under 2026-07-28 and
≤ 7 ms under 2025-11-25 (DCR / CIMD cold / CIMD warm); the loopback handshake ≥ 10× slower than
in process (printed with the reason it is not: the transports alone, `benchmarks/transport.py`,
against the work both modes share); 1,000 concurrent handshakes ≤ 12× the time of 100, with no
cross-talk (each run starts from a collected heap; the ratio without the cyclic GC's time is
printed beside it); a fresh interpreter's `import lab_servers` + `Lab()` + first
`connect("cimd")` ≤ 0.8 s median (with the lab's bytecode written, as after a checkout's first
run; the time compiling the lab from source is printed beside it).
The machine's load average is printed (and stored in the JSON) with the numbers: on a shared
machine they mean little without it. Whatever is compared runs in turn, not in blocks (revisions
and scenarios, concurrent counts, kinds of fresh interpreter), so that the machine's drift in
speed weighs on each alike.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import gc
import inspect
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import transport  # benchmarks/transport.py, beside this script

import lab_servers
from lab_servers import HARDENED, STEPS, Lab, LabClient, SeededIds, StepError, default_client_metadata
from lab_servers.client import Browser

# Hundreds of registrations from one caller would trip the hardened registration limits, which
# are not what this measures; every other hardened rule stays on.
POLICY = HARDENED.but(registration_rate_limit=None, max_registrations=None)
SCENARIOS = (("DCR", "dcr"), ("CIMD, cold cache", "cimd"), ("CIMD, warm cache", "cimd"))
# The revision the lab spoke before it could be chosen (issue 8): the client's PROTOCOL_VERSION.
LEGACY_REVISION = "2025-11-25"
KNOWN_REVISIONS = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
TARGET_MS = {"2025-11-25": 7.0, "2026-07-28": 5.0}

LAB_PACKAGE = Path(lab_servers.__file__).parent
FIRST_CONNECT_PROBE = """
import time
started, cpu_started = time.perf_counter(), time.process_time()
import asyncio
import lab_servers
lab = lab_servers.Lab()
asyncio.run(lab.connect("cimd"))
print(time.process_time() - cpu_started, time.perf_counter() - started)
"""
IMPORT_PROBE = "import time; t = time.perf_counter(); import lab_servers; print(time.perf_counter() - t)"


def load() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


# Revisions -------------------------------------------------------------------------------------


def revisions() -> list[str]:
    """The revisions this lab can run: every one `Lab(revision=…)` accepts, oldest first, or only
    the one it spoke before revisions became a choice."""
    if "revision" not in inspect.signature(Lab).parameters:
        return [LEGACY_REVISION]
    supported = []
    for revision in sorted(getattr(lab_servers, "REVISIONS", KNOWN_REVISIONS)):
        try:
            Lab(revision=revision)  # type: ignore[call-arg]
        except (ValueError, KeyError, TypeError):
            continue
        supported.append(revision)
    return supported


def make_lab(revision: str, **options: Any) -> Lab:
    if "revision" in inspect.signature(Lab).parameters:
        options["revision"] = revision
    return Lab(**options)


# In process ------------------------------------------------------------------------------------


@dataclass
class Timings:
    """One revision's handshakes: wall and CPU time per scenario, and wall time per step."""

    wall: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    steps: dict[str, dict[int, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))


async def handshake_times(revisions: list[str], runs: int) -> tuple[dict[str, Timings], dict[str, str]]:
    """Each revision's handshakes in its own lab, and why a revision could not be measured. The
    runs are interleaved, one handshake of each revision and scenario in turn, so that a drift in
    the machine's speed (1.5× within an hour on the shared machines) weighs on every revision and
    scenario alike, not on whichever block ran last: run in blocks, a warm CIMD cache once came out
    slower than a cold one. CPU time is this process's, which a busy machine distorts least."""
    timings: dict[str, Timings] = {}
    failed: dict[str, str] = {}
    async with contextlib.AsyncExitStack() as stack:
        labs: dict[str, tuple[Lab, list[tuple[str, str]]]] = {}
        for revision in revisions:
            lab = await stack.enter_async_context(make_lab(revision, seed=0, policy=POLICY))
            try:
                labs[revision] = (lab, await _scenarios_of(lab))
            except Exception as exc:  # noqa: BLE001 - a revision whose handshake breaks is reported, the others still measured
                failed[revision] = f"{type(exc).__name__}: {exc}"
            else:
                timings[revision] = Timings()
        for _ in range(runs):
            for revision, (lab, scenarios) in labs.items():
                for scenario, method in scenarios:
                    await _timed_handshake(lab, scenario, method, timings[revision])
    return timings, failed


async def _scenarios_of(lab: Lab) -> list[tuple[str, str]]:
    """The scenarios `lab`'s revision has, each run once untimed."""
    await lab.connect("dcr")  # start the MCP server's session manager and warm the RS's JWKS cache
    scenarios = []
    for scenario, method in SCENARIOS:
        try:
            await lab.client(method).run_all()  # a revision without CIMD (before 2025-11-25) refuses it
        except StepError:
            continue
        scenarios.append((scenario, method))
    lab.trace.clear()
    return scenarios


async def _timed_handshake(lab: Lab, scenario: str, method: str, timings: Timings) -> None:
    # In turn, "CIMD, cold cache" fills the cache that "CIMD, warm cache" then finds.
    if scenario == "CIMD, cold cache":
        lab.cimd_cache.clear()
    client = lab.client(method)
    start, cpu_start = time.perf_counter(), time.process_time()
    for number in range(1, 8):
        step_start = time.perf_counter()
        await client.next_step()
        timings.steps[scenario][number].append(time.perf_counter() - step_start)
    timings.wall[scenario].append(time.perf_counter() - start)
    timings.cpu[scenario].append(time.process_time() - cpu_start)
    lab.trace.clear()  # keep memory flat across runs


class _CollectorTime:
    """Seconds the cyclic GC spent while the block ran, and its passes per generation: the part
    of a run that grows faster than the number of handshakes (every pass over the old generation
    walks a heap that grows with the handshakes in flight)."""

    def __init__(self) -> None:
        self.seconds, self.passes, self._started = 0.0, [0, 0, 0], 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.passes[info["generation"]] += 1

    def __enter__(self) -> _CollectorTime:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


async def concurrent(revision: str, count: int) -> dict[str, Any]:
    """`count` handshakes at once in one lab, half DCR and half CIMD, each client under its own
    caller name. Cross-talk: an exchange another client sent, filed in this client's records,
    or a token naming another client."""
    async with make_lab(revision, seed=0, policy=POLICY) as lab:
        await lab.connect("cimd")
        lab.trace.clear()
        clients = [lab.client("dcr" if i % 2 else "cimd", caller=f"client-{i}") for i in range(count)]
        # Every run starts from a collected heap. Otherwise a run inherits the collector's debt
        # from the run before it: the garbage of a run of 1,000 set off a full pass (70–250 ms)
        # in some runs of 100 and not in others, which made their times bimodal.
        gc.collect()
        with _CollectorTime() as collector:
            start = time.perf_counter()
            records = await asyncio.gather(*(c.run_all() for c in clients))
            elapsed = time.perf_counter() - start
        cross_talk = 0
        for i, (client, steps) in enumerate(zip(clients, records, strict=True)):
            foreign = {e.caller for step in steps for e in step.exchanges if e.caller.startswith("client-")} - {
                f"client-{i}"
            }
            cross_talk += len(foreign)
            credentials = client.state.credentials
            if credentials is None or (client.state.whoami or {}).get("client_id") != credentials.client_id:
                cross_talk += 1
        return {
            "seconds": elapsed,
            "gc_seconds": collector.seconds,
            "gc_passes": collector.passes,
            "cross_talk": cross_talk,
            "exchanges": len(lab.trace),
        }


# Over loopback ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def loopback_times(runs: int, tls: bool, *, new_connections: bool = False) -> dict[str, list[float]]:
    """The same lab client and scenarios against the served lab (`python -m lab_servers serve`):
    real sockets on 127.0.0.1, uvicorn; with `tls`, HTTPS from serve's local CA (in a throwaway
    directory), the client trusting that CA. CIMD uses a document the served lab publishes, if it
    publishes any. By default every client reuses the same kept-alive connections (the best case
    for sockets); with `new_connections`, each lab client opens its own, as `Lab.client()` gives
    each client its own HTTP clients and as a newly started MCP client does (TCP and TLS
    handshakes included)."""
    from lab_servers.serve import serving  # uvicorn is only needed here

    with tempfile.TemporaryDirectory(prefix="lab-bench-tls-") as tls_directory:
        options: dict[str, Any] = {"tls": tls, "tls_directory": Path(tls_directory)} if tls else {"tls": False}
        return await _loopback_times(serving, runs, options, new_connections)


async def _loopback_times(
    serving: Any, runs: int, options: dict[str, Any], new_connections: bool
) -> dict[str, list[float]]:
    totals: dict[str, list[float]] = defaultdict(list)
    async with serving(mcp_port=free_port(), as_port=free_port(), policy=POLICY, **options) as served:
        lab = served.lab
        ca = getattr(served, "ca", None)
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca.ca_certificate)) if ca else True
        async with httpx.AsyncClient(verify=verify) as http, httpx.AsyncClient(verify=verify) as browser_http:
            metadata_url, metadata = lab.client_metadata_url, default_client_metadata()
            if getattr(served, "client_ids", None):  # serve trusts only its own documents host for CIMD
                metadata_url = served.client_ids[0][0]
                metadata = (await http.get(metadata_url)).json()

            async def run(method: str, number: int) -> float:
                own = (httpx.AsyncClient(verify=verify), httpx.AsyncClient(verify=verify)) if new_connections else ()
                app_http, user_http = own or (http, browser_http)
                client = LabClient(
                    served.mcp_url, http=app_http, browser=Browser(user_http), trace=lab.trace,
                    ids=SeededIds(f"loopback:{number}"), method=method,  # type: ignore[arg-type]
                    client_metadata=metadata, client_metadata_url=metadata_url,
                )  # fmt: skip
                start = time.perf_counter()
                try:
                    await client.run_all()
                    return time.perf_counter() - start
                finally:
                    for opened in own:
                        await opened.aclose()

            await run("dcr", 0)  # warm: connections, the RS's JWKS cache
            number = 0
            for scenario, method in SCENARIOS:
                try:
                    await run(method, 0)
                except StepError:
                    continue
                for _ in range(runs):
                    number += 1
                    if scenario == "CIMD, cold cache":
                        lab.cimd_cache.clear()
                    totals[scenario].append(await run(method, number))
                    lab.trace.clear()
    return totals


async def exchanges_per_handshake(revision: str) -> int:
    """How many HTTP exchanges one DCR handshake of `revision` makes (the trace counts them)."""
    async with make_lab(revision, seed=0, policy=POLICY) as lab:
        await lab.connect("dcr")
        lab.trace.clear()
        await lab.client("dcr").run_all()
        return len(lab.trace)


def explain_loopback_ratio(
    result: dict[str, Any], revision: str, in_process: dict[str, float], exchanges: int, transport_runs: int
) -> str:
    """Why the handshake ratio is what it is: the transports alone (one GET of a two-byte answer,
    `benchmarks/transport.py`) against the work both modes share (Amdahl's law)."""
    bare = asyncio.run(transport.round_trips(transport_runs))
    result["transport_round_trip"] = bare
    result["exchanges_per_handshake"] = exchanges
    handshake = in_process.get("DCR")
    loopback = result["loopback_tls_median_ms"].get("DCR")
    if not handshake or not loopback:
        return transport.describe(bare)
    network_ms = exchanges * bare["in_process_us"] / 1000  # an upper bound: the lab network plus httpx's own work
    shared_ms = handshake - network_ms
    result["shared_work_ms"] = round(shared_ms, 2)
    result["ratio_ceiling_free_network"] = round(loopback / shared_ms, 1)
    return (
        f"\nWhere the difference comes from: one GET of a two-byte answer, median (the transport alone):\n"
        f"{transport.describe(bare)}\n"
        f"  A {revision} DCR handshake is {exchanges} exchanges: {handshake:.2f} ms in process, of which the lab network "
        f"and httpx take at most {exchanges} × {bare['in_process_us']:.0f} µs = {network_ms:.2f} ms; the other "
        f"{shared_ms:.2f} ms is the servers' and the client's own work (routing, the AS, JWTs, the MCP SDK), which "
        f"sockets pay too. Over loopback with TLS the same handshake takes {loopback:.2f} ms, so even a free in-process "
        f"transport could make it at most {result['ratio_ceiling_free_network']}× faster"
        + (
            " (the issue's 10× for the whole handshake is out of reach of any transport)"
            if loopback < 10 * shared_ms
            else ""
        )
        + f"; the transport alone is {bare['ratio_kept_alive']}× (kept-alive) to {bare['ratio_new_connection']}× "
        "(new connection) faster in process."
    )


# Fresh interpreters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreshInterpreter:
    """A new interpreter running `probe`, which prints numbers on one line."""

    probe: str
    cwd: Path | None = None
    env: dict[str, str] | None = None

    def run(self) -> list[float]:
        output = subprocess.check_output([sys.executable, "-c", self.probe], text=True, cwd=self.cwd, env=self.env)
        return [float(number) for number in output.split()]


def fresh_interpreter_medians(interpreters: dict[str, FreshInterpreter], runs: int) -> dict[str, list[float]]:
    """The median of each number each interpreter's probe prints, over `runs` starts of each. The
    kinds start in turn, so that a drift in the machine's speed weighs on all of them alike: run
    one kind after the other, the first connect compiling the lab from source once came out
    faster than the one with its bytecode written."""
    rows: dict[str, list[list[float]]] = {name: [] for name in interpreters}
    for _ in range(runs):
        for name, interpreter in interpreters.items():
            rows[name].append(interpreter.run())
    return {
        name: [statistics.median(column) for column in zip(*samples, strict=True)] for name, samples in rows.items()
    }


def compile_lab() -> None:
    """Write the lab's bytecode, as a checkout's first import does by default, so that the fresh
    interpreters measure every start after that one. Where PYTHONDONTWRITEBYTECODE is set (the
    shared machines this lab is built on set it), nothing would write it, and every interpreter
    would compile the lab from source: about 60 ms more, timed apart by `uncompiled_lab`."""
    compileall.compile_dir(str(LAB_PACKAGE), quiet=1)


@contextlib.contextmanager
def uncompiled_lab() -> Iterator[FreshInterpreter]:
    """The first connect of an interpreter that compiles the lab's modules from source: a
    checkout's first run, or every run where bytecode is never written. A copy of the package
    without bytecode, imported from the working directory, with bytecode writing off."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(LAB_PACKAGE, Path(tmp) / "lab_servers", ignore=shutil.ignore_patterns("__pycache__"))
        yield FreshInterpreter(FIRST_CONNECT_PROBE, Path(tmp), {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


# Output ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


async def after_handshake_times(runs: int) -> dict[str, list[float]]:
    """Issue 9's steps after the handshake, each timed alone on a connected CIMD client: a refresh
    (rotation), a step-up (403 → union → consent → token → retry, the whole tools/call), and an
    RFC 8693 token exchange by the MCP server (private_key_jwt) at the AS."""
    from lab_servers.story import add_downstream_api

    times: dict[str, list[float]] = defaultdict(list)
    async with Lab(seed=0, policy=POLICY) as lab:
        add_downstream_api(lab)
        downstream = lab.resource_server.downstream
        assert downstream is not None
        for _ in range(runs):
            client = (await lab.connect("cimd")).client
            start = time.perf_counter()
            await client.refresh()
            times["refresh"].append(time.perf_counter() - start)
            start = time.perf_counter()
            await client.call_tool("add_note", {"text": "benchmark"})
            times["step-up (whole tools/call)"].append(time.perf_counter() - start)
            start = time.perf_counter()
            await downstream.exchange(client.state.access_token or "")
            times["token exchange (RFC 8693)"].append(time.perf_counter() - start)
            lab.trace.clear()
    return times


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def concurrent_rounds(revision: str, counts: list[int], rounds: int) -> dict[int, list[dict[str, Any]]]:
    """Each round runs every count, so a drift in the machine's speed (1.5× within an hour on the
    shared machines) weighs on every count alike instead of on whichever ran last; a count a tenth
    of the largest or smaller is cheap and noisy, and runs three times a round."""
    largest = max(counts, default=0)
    runs: dict[int, list[dict[str, Any]]] = {count: [] for count in counts}
    for _ in range(rounds):
        for count in counts:
            for _ in range(3 if count * 10 <= largest else 1):
                runs[count].append(asyncio.run(concurrent(revision, count)))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", type=int, default=200, help="in-process handshakes per scenario and revision (default 200)"
    )
    parser.add_argument("--loopback-runs", type=int, default=50, help="loopback handshakes per scenario (default 50)")
    parser.add_argument(
        "--fresh-runs", type=int, default=7, help="fresh interpreters for the first-connect time (default 7)"
    )
    parser.add_argument(
        "--concurrent", type=int, nargs="*", default=[100, 1000], help="concurrent handshake counts (default 100 1000)"
    )
    parser.add_argument("--transport-runs", type=int, default=2000, help="bare GETs per transport (default 2000)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="interleaved rounds of the concurrent counts, medians reported (default 5)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="--runs 50 --loopback-runs 10 --fresh-runs 3 --concurrent 100 --repeat 1 --transport-runs 500",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    args = parser.parse_args()
    if args.quick:
        (args.runs, args.loopback_runs, args.fresh_runs, args.concurrent, args.repeat, args.transport_runs) = (
            50,
            10,
            3,
            [100],
            1,
            500,
        )

    result: dict[str, Any] = {"load_1min_before": load(), "runs": args.runs, "loopback_tls": False}
    say: Callable[[str], None] = print

    result["median_ms"], result["median_cpu_ms"] = {}, {}
    measured, failed = asyncio.run(handshake_times(revisions(), args.runs))
    for revision, why in failed.items():
        say(f"revision {revision}: the handshake failed: {why}\n")
        result["median_ms"][revision] = None
    for revision, timings in measured.items():
        totals, steps = timings.wall, timings.steps
        result["median_ms"][revision] = {s: median_ms(v) for s, v in totals.items()}
        result["median_cpu_ms"][revision] = {s: median_ms(v) for s, v in timings.cpu.items()}
        target = TARGET_MS.get(revision)
        say(
            f"Full in-process handshake, revision {revision}, median of {args.runs}"
            + (f" (target ≤ {target:g} ms):" if target else ":")
        )
        for scenario, samples in totals.items():
            say(f"  {scenario:18} {ms(statistics.median(samples))}   (p90 {ms(statistics.quantiles(samples, n=10)[-1])}; "
                f"CPU {ms(statistics.median(timings.cpu[scenario]))})")  # fmt: skip
        say("".join(f"  {s:18} (not in this revision)\n" for s, _ in SCENARIOS if s not in totals) + "  per step, median:"
            + " " * 26 + "".join(f"{s:>18}" for s in totals))  # fmt: skip
        for number, _name, title, _ in STEPS:
            say(f"  {number}. {title:41}" + "".join(f"{ms(statistics.median(steps[s][number])):>18}" for s in totals))
        say("")
    say(f"(The revisions and scenarios ran in turn, one handshake each, {args.runs} rounds.)\n")

    after = asyncio.run(after_handshake_times(max(args.runs // 4, 10)))
    result["after_handshake_median_ms"] = {name: median_ms(v) for name, v in after.items()}
    say(f"After the handshake (issue 9), in process, median of {max(args.runs // 4, 10)}:")
    for name, samples in after.items():
        say(f"  {name:28} {ms(statistics.median(samples))}")
    say("")

    default = str(getattr(lab_servers, "DEFAULT_REVISION", revisions()[-1]))
    result["default_revision"] = default
    in_process = result["median_ms"].get(default) or {}
    result["loopback_tls"] = True
    loopback_runs = (
        ("plain", "plain http, kept-alive connections", False, False),
        ("tls", "HTTPS, kept-alive connections", True, False),
        ("tls_new_connections", "HTTPS, each client its own new connections", True, True),
    )
    for name, how, use_tls, new_connections in loopback_runs:
        loopback = asyncio.run(loopback_times(args.loopback_runs, use_tls, new_connections=new_connections))
        result[f"loopback_{name}_median_ms"] = {s: median_ms(v) for s, v in loopback.items()}
        ratios = {s: round(median_ms(v) / in_process[s], 1) for s, v in loopback.items() if in_process.get(s)}
        result[f"ratio_loopback_{name}_over_inprocess"] = ratios
        say(f"Over loopback sockets (served lab, {how}), median of {args.loopback_runs}, vs in process ({default}):")
        for scenario, samples in loopback.items():
            say(
                f"  {scenario:18} {ms(statistics.median(samples))}   {ratios.get(scenario, float('nan')):5.1f}× the in-process time"
            )
    say(
        explain_loopback_ratio(
            result, default, in_process, asyncio.run(exchanges_per_handshake(default)), args.transport_runs
        )
    )

    rounds = "one round" if args.repeat == 1 else f"medians over {args.repeat} interleaved rounds"
    say(f"\nConcurrent handshakes in one lab (half DCR, half CIMD), revision {default}, {rounds}:")
    # One untimed run first, so that whichever count runs first does not also pay the process's
    # first-use costs (a run of 100 takes only about half a second).
    if args.concurrent:
        asyncio.run(concurrent(default, min(args.concurrent)))
    all_runs = concurrent_rounds(default, args.concurrent, args.repeat)
    for count in args.concurrent:
        runs = all_runs[count]
        seconds = statistics.median(run["seconds"] for run in runs)
        result[f"concurrent_{count}_s"] = round(seconds, 3)
        result[f"concurrent_{count}_runs_s"] = [round(run["seconds"], 3) for run in runs]
        result[f"concurrent_{count}_cross_talk"] = sum(run["cross_talk"] for run in runs)
        result[f"concurrent_{count}_gc_s"] = round(statistics.median(run["gc_seconds"] for run in runs), 3)
        without_gc = statistics.median(run["seconds"] - run["gc_seconds"] for run in runs)
        result[f"concurrent_{count}_without_gc_s"] = round(without_gc, 3)
        result[f"concurrent_{count}_gc_passes"] = runs[0]["gc_passes"]
        each = ", ".join(f"{run['seconds']:.2f}" for run in runs)
        say(f"  {count:5} at once: {seconds:7.2f} s   (runs: {each} s; {runs[0]['exchanges']} exchanges; "
            f"cross-talk: {result[f'concurrent_{count}_cross_talk']}; cyclic GC "
            f"{result[f'concurrent_{count}_gc_s']:.2f} s in {'/'.join(map(str, runs[0]['gc_passes']))} "
            "passes of generation 0/1/2)")  # fmt: skip
    if "concurrent_100_s" in result and "concurrent_1000_s" in result:
        result["ratio_1000_over_100"] = round(result["concurrent_1000_s"] / result["concurrent_100_s"], 1)
        result["ratio_1000_over_100_without_gc"] = round(
            result["concurrent_1000_without_gc_s"] / result["concurrent_100_without_gc_s"], 1
        )
        full = result["concurrent_100_gc_passes"][2], result["concurrent_1000_gc_passes"][2]
        say(f"  1,000 / 100 time ratio: {result['ratio_1000_over_100']} (target ≤ 12, linear is 10); "
            f"{result['ratio_1000_over_100_without_gc']} without the cyclic GC's time. CPython makes a full "
            "pass, which walks every live object, when the long-lived ones have grown by a quarter: "
            f"{full[0]} in a run of 100, {full[1]} in a run of 1,000")  # fmt: skip

    compile_lab()
    with uncompiled_lab() as from_source:
        fresh = fresh_interpreter_medians(
            {"import": FreshInterpreter(IMPORT_PROBE), "compiled": FreshInterpreter(FIRST_CONNECT_PROBE),
             "from_source": from_source},
            args.fresh_runs,
        )  # fmt: skip
    result["import_s"] = round(fresh["import"][0], 3)
    # The probe prints its CPU time, then its wall time.
    result["first_connect_cpu_s"], result["first_connect_s"] = (round(n, 3) for n in fresh["compiled"])
    result["first_connect_from_source_s"] = round(fresh["from_source"][-1], 3)
    say(f"\nFresh interpreter, median of {args.fresh_runs}: import lab_servers {result['import_s']:.3f} s; "
        f"import + Lab() + first connect(\"cimd\") {result['first_connect_s']:.3f} s, CPU {result['first_connect_cpu_s']:.3f} s "
        "(target ≤ 0.8 s), the lab's bytecode written as after a checkout's first run; "
        f"{result['first_connect_from_source_s']:.3f} s compiling the lab from source")  # fmt: skip
    result["load_1min_after"] = load()
    say(
        f"\nload average (1 min): {result['load_1min_before']} before, {result['load_1min_after']} after; {len(os.sched_getaffinity(0))} cores"
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
