"""Wall time of `make test-fast` and `make test` as the Makefile runs them, with the slowest tests.
A script that prints numbers, not a test.

    .venv/bin/python benchmarks/suite.py              # both
    .venv/bin/python benchmarks/suite.py --fast-only  # only what `make test-fast` runs
    .venv/bin/python benchmarks/suite.py --json       # ... and one JSON object on the last line

`make test` is `make lint` and then pytest: both are timed, lint with cold caches (ruff's and
mypy's), as on a fresh clone in CI. The commands are read from the Makefile, so this measures
what it runs. Targets on an idle 2-core machine (issue 12): `make test-fast` ≤ 60 s, `make test`
≤ 4 min. The machine's load average before and after each run is printed with it, and the time
of a fixed reference task before and after them all (`machine.py`): on a shared
machine a number without it means little.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from machine import describe, load, reference_ms  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
TARGETS_S = {"test_fast": 60.0, "test": 240.0}


def makefile_recipe(target: str) -> list[list[str]]:
    """The commands of a Makefile target, its $(VARIABLES) expanded (`:=` and `?=` ones)."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    variables = {}
    for line in lines:
        match = re.match(r"^([A-Z_]+) [:?]?= (.*)$", line)
        if match:
            variables[match[1]] = match[2]

    def expand(text: str) -> str:
        for _ in range(5):  # PY := $(VENV)/bin/python: variables refer to variables
            text = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m[1], m[0]), text)
        return text

    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(shlex.split(expand(line.strip())))
    return recipe


@dataclass
class Timed:
    name: str
    seconds: float
    summary: str
    load_before: float
    load_after: float
    slowest: list[str] = field(default_factory=list)


def timed(name: str, commands: list[list[str]], env: dict[str, str] | None = None) -> tuple[Timed, str]:
    """Run `commands` in order (stopping at the first that fails); the time, and their output."""
    before = load()
    started = time.perf_counter()
    out, failed = "", ""
    for command in commands:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
        out += done.stdout
        if done.returncode:
            failed = f"{shlex.join(command)} failed (exit {done.returncode}): {done.stderr[-300:]}"
            break
    elapsed = round(time.perf_counter() - started, 1)
    return Timed(name, elapsed, failed or "clean", before, load()), out


def pytest_run(name: str, target: str) -> Timed:
    (command,) = makefile_recipe(target)
    result, out = timed(name, [[*command, "-q", "-p", "no:cacheprovider", "--durations=10"]])
    lines = out.strip().splitlines()
    counted = [line.strip("= ") for line in lines if re.search(r"\d+ (passed|failed)", line)]
    result.summary = counted[-1] if counted else result.summary
    result.slowest = [line for line in lines if re.match(r"^\d+\.\d+s (call|setup|teardown)", line)]
    return result


def lint_run() -> Timed:
    with tempfile.TemporaryDirectory() as cache:
        cold = {**os.environ, "RUFF_NO_CACHE": "true", "MYPY_CACHE_DIR": cache}
        return timed("lint", makefile_recipe("lint"), env=cold)[0]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast-only", action="store_true", help="time make test-fast only, not lint and make test")
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_arguments()
    print(f"{os.cpu_count()} cores; make test runs: {' ; '.join(shlex.join(c) for c in makefile_recipe('test'))}")
    reference_before = reference_ms()
    results = [pytest_run("test_fast", "test-fast")]
    if not args.fast_only:
        results += [lint_run(), pytest_run("test_pytest", "test")]
    for r in results:
        print(f"\n{r.name}: {r.seconds} s — {r.summary}")
        print(f"  load average (1 min): {r.load_before} before, {r.load_after} after")
        for line in r.slowest:
            print(f"    {line}")
    reference_after = reference_ms()
    print(f"\n{describe(reference_before, reference_after)}")
    seconds = {f"{r.name}_s": r.seconds for r in results}
    if not args.fast_only:
        seconds["test_s"] = round(seconds["lint_s"] + seconds["test_pytest_s"], 1)
    print()
    for name, target in TARGETS_S.items():
        if f"{name}_s" in seconds:
            print(f"make {name.replace('_', '-')}: {seconds[f'{name}_s']} s (target ≤ {target:.0f} s)")
    if args.json:
        loads = {f"{r.name}_load": [r.load_before, r.load_after] for r in results}
        print(json.dumps(seconds | loads | {"reference_ms": [reference_before, reference_after]}))


if __name__ == "__main__":
    main()
