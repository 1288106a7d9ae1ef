#!/usr/bin/env python
"""How fast the notebooks run: prints measured numbers (not a test).

1. The whole suite under nbval, strict, as CI runs it:
   `pytest --nbval --nbval-current-env notebooks/` — target ≤ 60 s on a 2-core machine.
2. For each notebook, in a fresh kernel: how long the kernel takes to start, and how long the
   first code cell (the imports and the lab) takes to return — target ≤ 2 s.

    .venv/bin/python benchmarks/notebooks.py            # both
    .venv/bin/python benchmarks/notebooks.py --repeat 3 # best of three for the first cells
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SUITE_TARGET_S = 60.0
FIRST_CELL_TARGET_S = 2.0


def suite_time() -> tuple[float, str]:
    command = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-q", "-p", "no:cacheprovider", str(NOTEBOOKS)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    elapsed = time.perf_counter() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-300:]
    return elapsed, summary


def first_cell_times(path: Path) -> tuple[float, float]:
    """(kernel start, first code cell) in seconds, in a fresh kernel."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(NOTEBOOKS)}})
    started = time.perf_counter()
    with client.setup_kernel():
        kernel_ready = time.perf_counter()
        index, cell = next((i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code")
        client.execute_cell(cell, index)
        first_done = time.perf_counter()
    return kernel_ready - started, first_done - kernel_ready


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="fresh kernels per notebook for the first-cell times")
    parser.add_argument("--skip-suite", action="store_true")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    ok = True
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
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
        ok &= elapsed <= SUITE_TARGET_S and "failed" not in summary
        print(f"\nnbval strict, whole suite (target ≤ {SUITE_TARGET_S:.0f} s): {elapsed:.1f} s wall clock — {summary}")
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
