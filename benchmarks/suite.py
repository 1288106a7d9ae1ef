"""Wall time of `make test-fast` and `make test` as the Makefile runs them, their CPU time, where
the CPU went by test module, and the slowest tests. A script that prints numbers, not a test.

    .venv/bin/python benchmarks/suite.py              # both
    .venv/bin/python benchmarks/suite.py --fast-only  # only what `make test-fast` runs
    .venv/bin/python benchmarks/suite.py --json       # ... and one JSON object on the last line

`make test` is `make lint` and then pytest: both are timed, lint with cold caches (ruff's and
mypy's), as on a fresh clone in CI. The commands are read from the Makefile, so this measures
what it runs. Targets on an idle 2-core machine (issue 12): `make test-fast` ≤ 60 s, `make test`
≤ 4 min; a run that failed, or skipped tests (no Chromium, a port taken), timed less than the whole
suite and is not held against them. The suite is CPU-bound, so its CPU time over the cores is a
floor no scheduling can go below; the CPU per test module (its process's own and its child
processes', `cpu_by_test.py`) says which tests to look at first. The machine's load average
before and after each run is printed with it, and the time of a fixed reference task before and
after them all (`machine.py`): on a shared machine a number without it means little.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cpu_by_test  # benchmarks/cpu_by_test.py, beside this script
from machine import cores, describe, load, reference_ms, setting  # benchmarks/machine.py, beside this script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGETS_S = {"test_fast": 60.0, "test": 240.0}
TARGET_RUNS = {"test_fast": ("test_fast",), "test": ("lint", "test_pytest")}  # `make test` is lint, then pytest
TOP_MODULES = 15


def makefile_recipe(target: str) -> list[list[str]]:
    """The commands of a Makefile target as make itself expands them: the last lines of its dry
    run (`make -n`), one per line of the target's own recipe; any before them are its
    prerequisites' work. Make, not a reading of the Makefile, expands the variables: `WORKERS`
    comes from `$(shell …)`, which a reading once passed to pytest as `-n '$(shell'`, and every
    run failed in half a second while its time was held against the target."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    own = 0
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        own += 1
    dry_run = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [shlex.split(line) for line in dry_run.stdout.splitlines()[-own:]] if own else []


@dataclass
class Timed:
    name: str
    seconds: float
    summary: str
    load_before: float
    load_after: float
    cpu_seconds: float = 0.0
    returncode: int = 0
    slowest: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # pytest's "FAILED …" and "ERROR …" lines
    skipped: list[str] = field(default_factory=list)  # pytest's "SKIPPED [n] where: why" lines
    by_module: list[ModuleCost] = field(default_factory=list)

    def passed(self) -> bool:
        """Every command ran to the end and succeeded: only then is its time the time of the
        target (a run that stops at its first failure, or never starts, is quicker)."""
        return self.returncode == 0

    def skipped_tests(self) -> int:
        """How many tests skipped themselves (no Chromium, a port taken…): the run then timed less
        than the whole suite, and its time is not the target's either."""
        counts = (re.match(r"SKIPPED \[(\d+)\]", line) for line in self.skipped)
        return sum(int(count[1]) for count in counts if count)


@dataclass(frozen=True)
class ModuleCost:
    """What one test module (or notebook) cost: CPU seconds, its own process's and its children's,
    and the wall seconds of its tests, one after another on one worker."""

    module: str
    cpu: float
    wall: float
    tests: int


def cost_by_module(lines: list[dict[str, Any]]) -> list[ModuleCost]:
    """`cpu_by_test.py`'s lines summed by module, the costliest first."""
    sums: dict[str, list[float]] = {}
    for line in lines:
        total = sums.setdefault(line["test"].split("::")[0], [0.0, 0.0, 0])
        total[0] += line["own"] + line["children"]
        total[1] += line["wall"]
        total[2] += 1
    costs = [ModuleCost(module, round(cpu, 1), round(wall, 1), int(n)) for module, (cpu, wall, n) in sums.items()]
    return sorted(costs, key=lambda cost: (-cost.cpu, cost.module))


def timed(name: str, commands: list[list[str]], env: dict[str, str] | None = None) -> tuple[Timed, str]:
    """Run `commands` in order (stopping at the first that fails); the time, and their output."""
    before, cpu_before = load(), cpu_by_test.cpu_seconds()[1]
    started = time.perf_counter()
    out, failed, returncode = "", "", 0
    for command in commands:
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
        except OSError as error:  # the recipe's program is missing: nothing ran, and that is the result
            returncode, failed = 127, f"{shlex.join(command)} did not start: {error.strerror}: {command[0]}"
            break
        out += done.stdout
        if done.returncode:
            returncode = done.returncode
            failed = f"{shlex.join(command)} failed (exit {done.returncode}): {done.stderr[-300:]}"
            break
    elapsed = round(time.perf_counter() - started, 1)
    cpu = round(cpu_by_test.cpu_seconds()[1] - cpu_before, 1)  # the children it waited for
    return Timed(name, elapsed, failed or "clean", before, load(), cpu, returncode), out


def pytest_run(name: str, target: str) -> Timed:
    (command,) = makefile_recipe(target)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "cpu.jsonl"
        plugin = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": plugin, cpu_by_test.OUTPUT: str(path)}
        # -rfEs: the FAILED and ERROR lines pytest prints by default, and a SKIPPED line per reason.
        flags = ["-q", "-rfEs", "-p", "no:cacheprovider", "-p", "cpu_by_test", "--durations=10"]
        result, out = timed(name, [[*command, *flags]], env=env)
        written = [
            json.loads(line) for file in sorted(Path(scratch).iterdir()) for line in file.read_text().splitlines()
        ]
    result.by_module = cost_by_module(written)
    lines = out.strip().splitlines()
    counted = [line.strip("= ") for line in lines if re.search(r"\d+ (passed|failed)", line)]
    if counted:  # pytest's own summary, beside the exit status when a test failed
        result.summary = counted[-1] + ("" if result.passed() else f" (exit {result.returncode})")
    result.slowest = [line for line in lines if re.match(r"^\d+\.\d+s (call|setup|teardown)", line)]
    result.failures = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    result.skipped = [line for line in lines if line.startswith("SKIPPED ")]
    return result


def describe_cpu(result: Timed, cores: int) -> str:
    """The run's CPU time, how many cores it kept busy, and the floor that sets on its wall time;
    with the modules' CPU, how much of it they account for."""
    if not result.seconds:
        return f"CPU {result.cpu_seconds} s"
    said = (
        f"CPU {result.cpu_seconds} s ({result.cpu_seconds / result.seconds:.2f} of {cores} cores busy): "
        f"on {cores} cores no scheduling takes it under {result.cpu_seconds / cores:.1f} s"
    )
    if result.by_module:
        counted = sum(cost.cpu for cost in result.by_module)
        said += (
            f"; the tests account for {counted:.1f} s, by module below (the rest: starting the workers, "
            "collecting, processes reaped outside a test)"
        )
    return said


def lint_run() -> Timed:
    with tempfile.TemporaryDirectory() as cache:
        cold = {**os.environ, "RUFF_NO_CACHE": "true", "MYPY_CACHE_DIR": cache}
        return timed("lint", makefile_recipe("lint"), env=cold)[0]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fast-only", action="store_true", help="time make test-fast only, not lint and make test")
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_arguments()
    recipe = makefile_recipe("test")
    python = ROOT / recipe[-1][0]  # the Python make runs pytest with
    if not python.exists():  # the recipes are run as make would, but make's setup-test is not
        print(f"needs {recipe[-1][0]}, which `make setup-test` installs: run it first", file=sys.stderr)
        return 1
    machine = setting(str(python))
    print(
        f"{machine['cores']} cores; Python {machine['python']}; make test runs: {' ; '.join(map(shlex.join, recipe))}"
    )
    reference_before = reference_ms()
    results = [pytest_run("test_fast", "test-fast")]
    if not args.fast_only:
        results += [lint_run(), pytest_run("test_pytest", "test")]
    for r in results:
        print(f"\n{r.name}: {r.seconds} s — {r.summary}")
        for line in r.failures + r.skipped:
            print(f"  {line}")
        print(f"  load average (1 min): {r.load_before} before, {r.load_after} after")
        print(f"  {describe_cpu(r, cores())}")
        for cost in r.by_module[:TOP_MODULES]:
            print(f"    {cost.cpu:6.1f} s CPU  {cost.module} ({cost.tests} tests, {cost.wall:.1f} s of one worker)")
        for line in r.slowest:
            print(f"    {line}")
    reference_after = reference_ms()
    print(f"\n{describe(reference_before, reference_after)}\n")
    seconds = target_seconds(results)
    skipped = skipped_by_target(results)
    for name, target in TARGETS_S.items():
        if f"{name}_s" in seconds:
            verdict = judged(seconds[f"{name}_s"], target, skipped.get(f"{name}_skipped", 0))
            print(f"make {name.replace('_', '-')}: {verdict}")
    if args.json:
        cpu = {f"{r.name}_cpu_s": r.cpu_seconds for r in results}
        by_module = {
            f"{r.name}_cpu_by_module_s": {cost.module: cost.cpu for cost in r.by_module[:TOP_MODULES]}
            for r in results
            if r.by_module
        }
        loads = {f"{r.name}_load": [r.load_before, r.load_after] for r in results}
        reference = {"reference_ms": [reference_before, reference_after]}
        print(json.dumps(seconds | skipped | cpu | by_module | loads | reference | machine))
    return 0 if all(r.passed() for r in results) else 1


def target_seconds(results: list[Timed]) -> dict[str, float | None]:
    """Each run's seconds by name, and each target's whose runs all ran (`TARGET_RUNS`): None where
    a run failed, whose time is not the time of what the target names."""
    by_name = {r.name: r for r in results}
    seconds = {f"{r.name}_s": r.seconds if r.passed() else None for r in results}
    for target, names in TARGET_RUNS.items():
        if set(names) <= set(by_name):
            runs = [by_name[name] for name in names]
            seconds[f"{target}_s"] = round(sum(r.seconds for r in runs), 1) if all(r.passed() for r in runs) else None
    return seconds


def skipped_by_target(results: list[Timed]) -> dict[str, int]:
    """How many tests each target that ran skipped, over those of its runs that ran."""
    by_name = {r.name: r for r in results}
    return {
        f"{target}_skipped": sum(by_name[name].skipped_tests() for name in names if name in by_name)
        for target, names in TARGET_RUNS.items()
        if set(names) & set(by_name)
    }


def judged(seconds: float | None, target: float, skipped: int = 0) -> str:
    if seconds is None:
        return f"failed, so no time to hold against its target (≤ {target:.0f} s); see its summary above"
    if skipped:
        return (
            f"{seconds} s, with {skipped} skipped (see above): less than the whole suite, so not held "
            f"against its target (≤ {target:.0f} s)"
        )
    return f"{seconds} s (target ≤ {target:.0f} s)"


if __name__ == "__main__":
    raise SystemExit(main())
