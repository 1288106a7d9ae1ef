"""How many machine instructions one in-process handshake executes: a measure that, unlike
milliseconds, does not move with the machine's speed or load. Wall times on the shared 2-core
machines this lab is built on drift by more than 2× within an hour (the same handshake took 4.5
to 10.2 ms on 2026-12-04, README), so a 10 % change in code is invisible in them; an instruction
count repeats to within a few hundred instructions, on any machine, busy or idle. It does move,
by up to about 1 %, with the checkout's directory and the process's environment: one commit
counted 22.26 M per 2026-07-28 DCR handshake in one worktree and 22.51 M in another, and 300
more environment variables made it 22.43 M (2026-12-06). Compare counts taken in one session,
in one directory. A script that prints numbers, not a test.

    .venv/bin/python benchmarks/instructions.py            # every revision, every scenario
    .venv/bin/python benchmarks/instructions.py --json     # the same, then one JSON object on the last line
    .venv/bin/python benchmarks/instructions.py --revision 2026-07-28 --runs 10

Needs valgrind (Debian: `apt-get install valgrind`), whose cachegrind tool counts every
instruction a process executes (`--cache-sim=no`: counting only, about 30× slower than native).
Python hashes strings with a random seed per process, which changes dict layouts and so the
count; the probes run with PYTHONHASHSEED=0. Everything else in a handshake is already seeded
(ids, keys, the lab clock), so the same code gives the same count.

Method: for each revision, one probe runs the lab's set-up and warms every scenario (the RS's
JWKS cache, first-use imports) and stops there; then, per scenario, the same probe plus `--runs`
measured handshakes. The difference divided by `--runs` is one handshake. Both probes collect
the heap after the warm-up: otherwise the warm-up leaves the cyclic GC just short of a full
pass, which the baseline never makes and the measured loop makes at once, and its 42 M
instructions (2026-07-28) were charged to the handshakes, 2.1 M apiece at 20 runs and 4.2 M at
10. The fresh-interpreter row is a whole process (`import lab_servers`, `Lab()`, the first
`connect("cimd")`) minus an empty interpreter's start-up, with the lab's bytecode written first:
compiling the lab's modules from source, where nothing had written it
(PYTHONDONTWRITEBYTECODE), added 320 M to the count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fresh_interpreter import compile_lab  # benchmarks/fresh_interpreter.py, beside this script
from machine import at_least

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {"DCR": "dcr", "CIMD, cold cache": "cimd", "CIMD, warm cache": "cimd"}

# argv: revision, scenario name ("" for none), handshakes. The lab is set up and every scenario
# warmed exactly as in the baseline, so the only difference between two probes is the loop.
HANDSHAKE_PROBE = f"""
import asyncio, gc, sys
from lab_servers import HARDENED, Lab, StepError
revision, measured, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
scenarios = {SCENARIOS!r}
policy = HARDENED.but(registration_rate_limit=None, max_registrations=None)

async def main():
    async with Lab(seed=0, policy=policy, revision=revision) as lab:
        await lab.connect("dcr")
        for method in scenarios.values():
            for _ in range(3):
                try:
                    await lab.client(method).run_all()
                except StepError:
                    break  # a revision without CIMD
            lab.trace.clear()
        gc.collect()
        for _ in range(runs):
            if measured == "CIMD, cold cache":
                lab.cimd_cache.clear()
            await lab.client(scenarios[measured]).run_all()
            lab.trace.clear()

asyncio.run(main())
"""
# Both end in os._exit: the interpreter's shutdown (finalizing every module the lab loaded, about
# 180 M) is no part of a first connect, nor of fresh_interpreter.py's timing of one.
FIRST_CONNECT_PROBE = "import asyncio, os, lab_servers; asyncio.run(lab_servers.Lab().connect('cimd')); os._exit(0)"
EMPTY_PROBE = "import os; os._exit(0)"
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def count_instructions(probe: str, *args: str) -> int:
    """Instructions a fresh `python -c probe args…` executes, start-up included."""
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", probe, *args],
        cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the probe failed under valgrind:\n{done.stderr[-2000:]}")
    return parse_instruction_count(done.stderr)


def parse_instruction_count(valgrind_stderr: str) -> int:
    """The `I refs` total of cachegrind's summary (`==123== I   refs:      4,254,717,098`)."""
    found = _REFS.search(valgrind_stderr)
    if found is None:
        raise ValueError("no 'I refs' line in valgrind's output")
    return int(found.group(1).replace(",", ""))


def per_handshake(baseline: int, measured: int, runs: int) -> int:
    if measured < baseline:
        raise ValueError("the measured probe executed fewer instructions than its baseline")
    return round((measured - baseline) / runs)


def lab_revisions() -> list[str]:
    from lab_servers import REVISIONS

    return sorted(REVISIONS)


def scenarios_of(revision: str) -> list[str]:
    """The scenarios `revision` has: CIMD arrived in 2025-11-25. Read from the lab's revision
    table, so a handshake that fails is an error, never a scenario reported as absent."""
    from lab_servers import REVISIONS

    return [name for name, method in SCENARIOS.items() if method != "cimd" or REVISIONS[revision].cimd]


def handshake_counts(revision: str, runs: int, pool: ThreadPoolExecutor) -> dict[str, int | None]:
    """Instructions per handshake for each scenario of `revision` (None: the revision lacks it)."""
    baseline = pool.submit(count_instructions, HANDSHAKE_PROBE, revision, "", "0")
    measured = {name: pool.submit(count_instructions, HANDSHAKE_PROBE, revision, name, str(runs))
                for name in scenarios_of(revision)}  # fmt: skip
    return {
        name: per_handshake(baseline.result(), measured[name].result(), runs) if name in measured else None
        for name in SCENARIOS
    }


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--revision", action="append", choices=lab_revisions(), help="a revision to measure (default: every one)"
    )
    parser.add_argument(
        "--runs",
        type=at_least(1, "the count per handshake divides by them"),
        default=20,
        help="measured handshakes per scenario (default 20)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_arguments()
    if shutil.which("valgrind") is None:
        sys.exit("benchmarks/instructions.py needs valgrind (Debian: apt-get install valgrind)")

    compile_lab()
    result: dict[str, object] = {"runs": args.runs, "python": sys.version.split()[0]}
    counts: dict[str, dict[str, int | None]] = {}
    # Each probe is one single-threaded process: run as many at once as there are cores.
    with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:
        fresh = pool.submit(count_instructions, FIRST_CONNECT_PROBE)
        empty = pool.submit(count_instructions, EMPTY_PROBE)
        for revision in args.revision or lab_revisions():
            counts[revision] = handshake_counts(revision, args.runs, pool)
            print(f"Instructions per in-process handshake, revision {revision} (difference of {args.runs} handshakes):")
            for name, count in counts[revision].items():
                print(f"  {name:18} " + (f"{count / 1e6:8.2f} M" if count is not None else "   (not in this revision)"))
        first_connect = fresh.result() - empty.result()
    result.update(handshake_instructions=counts, first_connect_instructions=first_connect)
    print(
        f'Fresh interpreter: import lab_servers + Lab() + first connect("cimd"): {first_connect / 1e6:,.0f} M '
        "instructions beyond an empty interpreter's start-up"
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
