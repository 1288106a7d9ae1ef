#!/usr/bin/env python
"""How fast the notebooks run: prints measured numbers (not a test).

1. The notebooks alone under nbval, strict, in one pytest process, one notebook after another:
   `pytest --nbval --nbval-current-env notebooks/` — target ≤ 30 s on a 2-core machine (issue 12),
   met only if every notebook ran and passed. (`make test` runs the notebooks together with the
   tests under pytest-xdist, on up to 4 workers; its time is not this one.)
2. For each notebook, in a fresh kernel: how long the kernel takes to start, and how long the
   first code cell (the imports and the lab) takes to return — target ≤ 2 s, the median of
   `--repeat` kernels.
3. Memory: every notebook 00–07 that exists, run one after the other in ONE kernel (a learner
   who never restarts), then the kernel's resident memory, now and at its peak — target ≤ 400 MB
   (Binder gives 1–2 GB).

    .venv/bin/python benchmarks/notebooks.py            # all three
    .venv/bin/python benchmarks/notebooks.py --repeat 3 # the median of three for the first cells
    .venv/bin/python benchmarks/notebooks.py --json     # ... and one JSON object on the last line
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from fresh_interpreter import compile_lab  # benchmarks/fresh_interpreter.py, beside this script
from machine import at_least, conditions  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
# Kernels as `make notebooks` starts them (`scripts/regenerate_notebooks.py`'s `new_client`: its
# channels encrypted, its notebooks' directory as the working directory), so that what is timed
# is what the maintainers' script runs.
_spec = importlib.util.spec_from_file_location("regenerate_notebooks", ROOT / "scripts" / "regenerate_notebooks.py")
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)  # type: ignore[union-attr]
SUITE_TARGET_S = 30.0
FIRST_CELL_TARGET_S = 2.0
MEMORY_TARGET_MB = 400.0
# Read inside the kernel: resident memory now (VmRSS) and at its peak (ru_maxrss, in KiB on Linux).
MEMORY_PROBE = """
import resource as _r
_now = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS:"))
print(_now / 1024, _r.getrusage(_r.RUSAGE_SELF).ru_maxrss / 1024)
"""


@dataclass(frozen=True)
class SuiteRun:
    """One run of the notebooks under nbval: its wall-clock seconds, pytest's exit status and the
    last line of its summary."""

    seconds: float
    returncode: int
    summary: str

    def passed(self) -> bool:
        """Every notebook collected and passed: pytest exits 0, and at least one test passed. Not
        "no 'failed' in the summary": an error in collection, or no notebook found, says none."""
        return self.returncode == 0 and re.search(r"\b[1-9]\d* passed\b", self.summary) is not None


def suite_time() -> SuiteRun:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-current-env",
        "-q",
        "-p",
        "no:cacheprovider",
        str(NOTEBOOKS),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    elapsed = time.perf_counter() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-300:]
    return SuiteRun(elapsed, done.returncode, summary)


def first_cell_times(path: Path) -> tuple[float, float]:
    """(kernel start, first code cell) in seconds, in a fresh kernel."""
    nb = nbformat.read(path, as_version=4)
    client = regenerate.new_client(nb)
    started = time.perf_counter()
    with client.setup_kernel():
        kernel_ready = time.perf_counter()
        index, cell = next((i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code")
        client.execute_cell(cell, index)
        first_done = time.perf_counter()
    return kernel_ready - started, first_done - kernel_ready


def kernel_memory_after_all(paths: list[Path]) -> tuple[float, float, float]:
    """(resident MB now, peak MB, seconds) after running every notebook in `paths` in one kernel."""
    first = nbformat.read(paths[0], as_version=4)
    client = regenerate.new_client(first)
    started = time.perf_counter()
    with client.setup_kernel():
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            client.nb = nb
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    client.execute_cell(cell, index)
        probe = nbformat.v4.new_code_cell(MEMORY_PROBE)
        client.nb.cells.append(probe)
        client.execute_cell(probe, len(client.nb.cells) - 1)
    elapsed = time.perf_counter() - started
    text = "".join(o.get("text", "") for o in probe.outputs if o.get("output_type") == "stream")
    now, peak = (float(v) for v in text.split())
    return now, peak, elapsed


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--repeat",
        type=at_least(1, "a median needs one kernel"),
        default=1,
        help="fresh kernels per notebook for the first-cell times, median reported",
    )
    parser.add_argument("--skip-suite", action="store_true", help="do not time all notebooks under strict nbval")
    parser.add_argument(
        "--skip-first-cells", action="store_true", help="do not time each notebook's kernel start and first cell"
    )
    parser.add_argument(
        "--skip-memory",
        action="store_true",
        help="do not measure the kernel's memory after notebooks 00-07 in one kernel",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_arguments()
    compile_lab()  # else, where PYTHONDONTWRITEBYTECODE is set, every kernel compiles the lab from source
    result: dict[str, object] = {}
    with conditions(print, result):
        ok = run_and_report(args, result)
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    if args.json:
        print(json.dumps(result))
    return 0 if ok else 1


def run_and_report(args: argparse.Namespace, result: dict[str, object]) -> bool:
    """Each part `args` asks for, printed and stored in `result`; whether every target was met."""
    ok = True
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not args.skip_memory:
        in_range = [p for p in paths if p.name[:2] <= "07"]
        now, peak, elapsed = kernel_memory_after_all(in_range)
        ok &= peak <= MEMORY_TARGET_MB
        result.update(
            kernel_rss_mb=round(now, 1),
            kernel_peak_rss_mb=round(peak, 1),
            notebooks_in_one_kernel=[p.stem for p in in_range],
        )
        print(f"\nkernel memory after {', '.join(p.name[:2] for p in in_range)} in one kernel ({elapsed:.1f} s): "
              f"{now:.0f} MB resident, {peak:.0f} MB peak (target ≤ {MEMORY_TARGET_MB:.0f} MB)")  # fmt: skip
    if not args.skip_first_cells:
        ok &= report_first_cells(paths, args.repeat, result)
    if not args.skip_suite:
        ok &= report_suite(result)
    return ok


def report_first_cells(paths: list[Path], repeat: int, result: dict[str, object]) -> bool:
    """Each notebook's first code cell in `repeat` fresh kernels: the medians printed, with the
    runs, and stored in `result`; whether every median met the target."""
    if not paths:
        return True
    print(f"\nfirst code cell, fresh kernel (target ≤ {FIRST_CELL_TARGET_S:.0f} s; median of {repeat}):")
    print(f"  {'notebook':28} {'kernel start':>12} {'first cell':>11}")
    first_cells: dict[str, float] = {}
    kernel_starts: dict[str, float] = {}
    met = True
    for path in paths:
        runs = [first_cell_times(path) for _ in range(repeat)]
        # The median, as every target here: the best of several would judge the luckiest kernel.
        start, first = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        kernel_starts[path.stem], first_cells[path.stem] = round(start, 2), round(first, 2)
        met &= first <= FIRST_CELL_TARGET_S  # unrounded: 2.004 s is over 2 s
        flag = "" if first <= FIRST_CELL_TARGET_S else "  ← over target"
        print(f"  {path.name:28} {start:>10.2f} s {first:>9.2f} s{flag}")
        if repeat > 1:
            print(f"  {'':28} {'':>12} runs: {', '.join(f'{r[1]:.2f}' for r in runs)} s")
    result.update(first_cell_median_s=first_cells, kernel_start_median_s=kernel_starts)
    return met


def report_suite(result: dict[str, object]) -> bool:
    """The notebooks under nbval: printed and stored in `result`; whether they all passed within
    the target."""
    suite = suite_time()
    result.update(nbval_suite_s=round(suite.seconds, 1), nbval_returncode=suite.returncode, nbval_summary=suite.summary)
    verdict = "" if suite.passed() else f" (NOT PASSED: pytest exited {suite.returncode})"
    print(f"\nnbval strict, whole suite (target ≤ {SUITE_TARGET_S:.0f} s): {suite.seconds:.1f} s wall clock — "
          f"{suite.summary}{verdict}")  # fmt: skip
    return suite.seconds <= SUITE_TARGET_S and suite.passed()


if __name__ == "__main__":
    sys.exit(main())
