#!/usr/bin/env python
"""How fast the notebooks run: prints measured numbers (not a test).

1. The whole suite under nbval, strict, as CI runs it:
   `pytest --nbval --nbval-current-env notebooks/` — target ≤ 30 s on a 2-core machine (issue 12).
2. For each notebook, in a fresh kernel: how long the kernel takes to start, and how long the
   first code cell (the imports and the lab) takes to return — target ≤ 2 s.
3. Memory: every notebook 00–07 that exists, run one after the other in ONE kernel (a learner
   who never restarts), then the kernel's resident memory, now and at its peak — target ≤ 400 MB
   (Binder gives 1–2 GB).

    .venv/bin/python benchmarks/notebooks.py            # all three
    .venv/bin/python benchmarks/notebooks.py --repeat 3 # best of three for the first cells
    .venv/bin/python benchmarks/notebooks.py --json     # ... and one JSON object on the last line
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from fresh_interpreter import compile_lab  # benchmarks/fresh_interpreter.py, beside this script
from machine import conditions  # benchmarks/machine.py, beside this script

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


def suite_time() -> tuple[float, str]:
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
    return elapsed, summary


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="fresh kernels per notebook for the first-cell times")
    parser.add_argument("--skip-suite", action="store_true")
    parser.add_argument("--skip-first-cells", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    args = parser.parse_args()
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
    if args.skip_first_cells:
        paths = []
    if paths:
        print(f"\nfirst code cell, fresh kernel (target ≤ {FIRST_CELL_TARGET_S:.0f} s; best of {args.repeat}):")
        print(f"  {'notebook':28} {'kernel start':>12} {'first cell':>11}")
    for path in paths:
        runs = [first_cell_times(path) for _ in range(args.repeat)]
        start, first = min(r[0] for r in runs), min(r[1] for r in runs)
        flag = "" if first <= FIRST_CELL_TARGET_S else "  ← over target"
        ok &= first <= FIRST_CELL_TARGET_S
        print(f"  {path.name:28} {start:>10.2f} s {first:>9.2f} s{flag}")
        if args.repeat > 1:
            print(f"  {'':28} {'':>12} {statistics.median(r[1] for r in runs):>9.2f} s median")
    if not args.skip_suite:
        elapsed, summary = suite_time()
        result.update(nbval_suite_s=round(elapsed, 1), nbval_summary=summary)
        ok &= elapsed <= SUITE_TARGET_S and "failed" not in summary
        print(f"\nnbval strict, whole suite (target ≤ {SUITE_TARGET_S:.0f} s): {elapsed:.1f} s wall clock — {summary}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
