"""Median time of one full in-process handshake (DCR, CIMD cold cache, CIMD warm cache), of
each step, and of `import lab_servers`. A script that prints numbers, not a test.

    .venv/bin/python benchmarks/handshake.py [--runs N]

Targets on the 2-core reference machine: full handshake ≤ 10 ms median, import ≤ 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections import defaultdict

from lab_servers import HARDENED, STEPS, Lab

IMPORT_PROBE = "import time; t = time.perf_counter(); import lab_servers; print(time.perf_counter() - t)"


def import_time(runs: int) -> float:
    samples = [float(subprocess.check_output([sys.executable, "-c", IMPORT_PROBE], text=True)) for _ in range(runs)]
    return statistics.median(samples)


async def handshake_times(runs: int) -> tuple[dict[str, list[float]], dict[str, dict[int, list[float]]]]:
    totals: dict[str, list[float]] = defaultdict(list)
    steps: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    # Hundreds of registrations from one caller would trip the hardened registration limits,
    # which are not what this measures; every other hardened rule stays on.
    policy = HARDENED.but(registration_rate_limit=None, max_registrations=None)
    async with Lab(seed=0, policy=policy) as lab:
        await lab.connect("cimd")  # start the MCP server's session manager and warm the RS's JWKS cache
        for scenario, method in (("DCR", "dcr"), ("CIMD, cold cache", "cimd"), ("CIMD, warm cache", "cimd")):
            for _ in range(runs):
                if scenario == "CIMD, cold cache":
                    lab.cimd_cache.clear()
                client = lab.client(method)
                start = time.perf_counter()
                for number in range(1, 8):
                    step_start = time.perf_counter()
                    await client.next_step()
                    steps[scenario][number].append(time.perf_counter() - step_start)
                totals[scenario].append(time.perf_counter() - start)
                lab.trace.clear()  # keep memory flat across runs
    return totals, steps


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200, help="handshakes per scenario (default 200)")
    parser.add_argument("--import-runs", type=int, default=7, help="fresh interpreters for the import time (default 7)")
    args = parser.parse_args()

    totals, steps = asyncio.run(handshake_times(args.runs))
    print(f"Full in-process handshake, median of {args.runs} (target ≤ 10 ms):")
    for scenario, samples in totals.items():
        print(f"  {scenario:18} {ms(statistics.median(samples))}   (p90 {ms(statistics.quantiles(samples, n=10)[-1])})")
    print("\nPer step, median:")
    print("  " + " " * 44 + "".join(f"{s:>18}" for s in totals))
    for number, _name, title, _ in STEPS:
        row = "".join(f"{ms(statistics.median(steps[s][number])):>18}" for s in totals)
        print(f"  {number}. {title:41}{row}")
    print(f"\nimport lab_servers, median of {args.import_runs} fresh interpreters (target ≤ 1 s): {ms(import_time(args.import_runs))}")


if __name__ == "__main__":
    main()
