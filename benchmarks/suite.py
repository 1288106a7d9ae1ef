"""Wall time of the test suite as `make test-fast` and `make test` run it (lint excluded; pytest
only), with the slowest tests. A script that prints numbers, not a test.

    .venv/bin/python benchmarks/suite.py              # both
    .venv/bin/python benchmarks/suite.py --fast-only  # only what `make test-fast` runs
    .venv/bin/python benchmarks/suite.py --json       # ... and one JSON object on the last line

Targets on an idle 2-core machine (issue 12): `make test-fast` ≤ 60 s, `make test` ≤ 4 min. The
machine's load average before and after each run is printed with it: on a shared machine a number
without it means little.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAST = ["-m", "not binder and not browser and not conformance and not slow"]
TARGETS_S = {"test_fast": 60.0, "test": 240.0}


def load() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def makefile_pytest_args() -> list[str]:
    """The pytest options `make test` passes (after `-m pytest`), read from the Makefile so this
    measures what the Makefile runs."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    variables = dict(line.split(" := ", 1) for line in lines if " := " in line)
    for line in lines:
        if line.startswith("\t$(PY) -m pytest tests notebooks") and " -m " not in line.split("pytest", 1)[1]:
            words = line.split("-m pytest", 1)[1].split()
            return [
                w
                for word in words
                for w in (variables.get(word[2:-1], word).split() if word.startswith("$(") else [word])
            ]
    return ["tests", "notebooks", "--nbval", "--nbval-current-env"]


def run(name: str, extra: list[str]) -> dict[str, object]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        *makefile_pytest_args(),
        *extra,
        "-q",
        "-p",
        "no:cacheprovider",
        "--durations=10",
    ]
    before = load()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    summary = next(
        (line.strip("= ") for line in reversed(lines) if re.search(r"\d+ (passed|failed)", line)), done.stderr[-300:]
    )
    slowest = [line for line in lines if re.match(r"^\d+\.\d+s (call|setup|teardown)", line)]
    return {
        "name": name,
        "seconds": round(elapsed, 1),
        "summary": summary,
        "slowest": slowest,
        "load_before": before,
        "load_after": load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast-only", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; pytest {' '.join(makefile_pytest_args())}")
    results = [run("test_fast", FAST)]
    if not args.fast_only:
        results.append(run("test", []))
    for r in results:
        print(
            f"\nmake {str(r['name']).replace('_', '-')}: {r['seconds']} s (target ≤ {TARGETS_S[str(r['name'])]:.0f} s) — {r['summary']}"
        )
        print(f"  load average (1 min): {r['load_before']} before, {r['load_after']} after; slowest:")
        for line in r["slowest"]:  # type: ignore[attr-defined]
            print(f"    {line}")
    if args.json:
        print(
            json.dumps(
                {f"{r['name']}_s": r["seconds"] for r in results}
                | {f"{r['name']}_load": [r["load_before"], r["load_after"]] for r in results}
            )
        )


if __name__ == "__main__":
    main()
