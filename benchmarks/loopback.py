"""The same handshake over real sockets: the lab client against the served lab
(`python -m lab_servers serve`) on 127.0.0.1, plain and with TLS, on kept-alive and on new
connections, as a ratio to in-process handshakes taken in turn with them; and why that ratio is
what it is (the transports alone, `transport.py`, against the work both modes share). Part of
`benchmarks/handshake.py`, which prints it; the target (issue 12) is in process ≥ 10× faster."""

from __future__ import annotations

import asyncio
import ssl
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import transport  # benchmarks/transport.py, beside this script
from scenarios import (  # benchmarks/scenarios.py, beside this script
    POLICY,
    SCENARIOS,
    handshake_seconds,
    make_lab,
    median_ms,
    ms,
    start_scenario,
)

from lab_servers import LabClient, SeededIds, StepError, default_client_metadata
from lab_servers.client import Browser


async def loopback_times(
    revision: str, runs: int, tls: bool, *, new_connections: bool = False, refused: dict[str, str] | None = None
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The same lab client and scenarios against the served lab (`python -m lab_servers serve`):
    real sockets on 127.0.0.1, uvicorn; with `tls`, HTTPS from serve's local CA (in a throwaway
    directory), the client trusting that CA. CIMD uses a document the served lab publishes, if it
    publishes any. By default every client reuses the same kept-alive connections (the best case
    for sockets); with `new_connections`, each lab client opens its own, as `Lab.client()` gives
    each client its own HTTP clients and as a newly started MCP client does (TCP and TLS
    handshakes included). Each handshake over sockets follows one in an in-process lab of the same
    revision, so that the ratio compares times taken in the same moments: (over sockets, in
    process), seconds per scenario. A scenario whose untimed first handshake fails is not timed;
    why goes into `refused`."""
    from lab_servers.serve import serving  # uvicorn is only needed here

    with tempfile.TemporaryDirectory(prefix="lab-bench-tls-") as tls_directory:
        options: dict[str, Any] = {"tls": tls, "tls_directory": Path(tls_directory)} if tls else {"tls": False}
        return await _loopback_times(serving, revision, runs, options, new_connections, refused)


async def _loopback_times(
    serving: Any,
    revision: str,
    runs: int,
    options: dict[str, Any],
    new_connections: bool,
    refused: dict[str, str] | None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    over_sockets: dict[str, list[float]] = defaultdict(list)
    in_process: dict[str, list[float]] = defaultdict(list)
    # Port 0: `serving` binds first and builds its URLs from the ports it got.
    async with (
        serving(mcp_port=0, as_port=0, policy=POLICY, revision=revision, **options) as served,
        make_lab(revision, seed=0, policy=POLICY) as local,
    ):
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
            await local.connect("dcr")  # and the in-process lab's MCP session manager and JWKS cache
            scenarios = []
            for scenario, method in SCENARIOS:
                try:
                    await run(method, 0)
                except StepError as refusal:  # over plain http the AS refuses a CIMD client_id (https only)
                    if refused is not None:
                        refused[scenario] = str(refusal)
                    continue
                scenarios.append((scenario, method))
            number = 0
            for _ in range(runs):
                for scenario, method in scenarios:
                    number += 1
                    in_process[scenario].append(await handshake_seconds(local, scenario, method))
                    start_scenario(lab, scenario)
                    over_sockets[scenario].append(await run(method, number))
                    lab.trace.clear()
    return over_sockets, in_process


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


def report(result: dict[str, Any], revision: str, runs: int, transport_runs: int, say: Callable[[str], None]) -> None:
    """Each loopback mode, each handshake over sockets right after one in process: medians and
    their ratios into `result`, printed, then the decomposition."""
    result["loopback_tls"] = True
    modes = (
        ("plain", "plain http, kept-alive connections", False, False),
        ("tls", "HTTPS, kept-alive connections", True, False),
        ("tls_new_connections", "HTTPS, each client its own new connections", True, True),
    )
    for name, how, use_tls, new_connections in modes:
        refused: dict[str, str] = {}
        over_sockets, in_process = asyncio.run(
            loopback_times(revision, runs, use_tls, new_connections=new_connections, refused=refused)
        )
        result[f"loopback_{name}_median_ms"] = {s: median_ms(v) for s, v in over_sockets.items()}
        result[f"loopback_{name}_in_process_median_ms"] = paired = {s: median_ms(v) for s, v in in_process.items()}
        ratios = {s: round(median_ms(v) / paired[s], 1) for s, v in over_sockets.items()}
        result[f"ratio_loopback_{name}_over_inprocess"] = ratios
        say(
            f"Over loopback sockets (served lab, {how}), {revision}, median of {runs}, in turn with as many in process:"
        )
        for scenario, samples in over_sockets.items():
            say(f"  {scenario:18} {ms(statistics.median(samples))}   {ratios[scenario]:5.1f}× the in-process "
                f"{ms(statistics.median(in_process[scenario])).strip()}")  # fmt: skip
        # Said, not dropped silently: plain http has no CIMD (a client_id URL must be https).
        for scenario, why in refused.items():
            say(f"  {scenario:18} not timed: its first handshake failed: {why}")
    say(
        explain_loopback_ratio(
            result,
            revision,
            result["loopback_tls_in_process_median_ms"],
            asyncio.run(exchanges_per_handshake(revision)),
            transport_runs,
        )
    )
