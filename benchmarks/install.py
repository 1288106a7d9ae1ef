"""How long `make setup` (what `make lab` installs) takes on a fresh clone, and how big `.venv` is;
then the same for `make setup-test` (the test tooling on top). A script that prints numbers, not a test.

    .venv/bin/python benchmarks/install.py [--json] [--keep] [--skip-test-tooling]

The repository's files as a clone would have them (`git ls-files`, plus uncommitted edits and new
unignored files) are copied into a throwaway directory, so nothing in this checkout, its .venv or
its caches is touched or reused, except pip's own cache: run it twice and the second run shows the
warm-cache time the target speaks of (≤ 60 s, ≤ 350 MB for the learner install). The machine's load
and a reference task's time (`machine.py`) are printed with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import USUAL_REFERENCE_MS, load, reference_ms, setting  # benchmarks/machine.py, beside this script

ROOT = Path(__file__).resolve().parent.parent


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def clone_into(target: Path) -> None:
    for name in tracked_files():
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination)


def size_mb(path: Path) -> float:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                total += p.stat().st_size
    return total / 1e6


# The Python the new .venv is made with: $PYTHON, as for `make lab`, else the one below this script's.
PYTHON = os.environ.get("PYTHON", sys.base_prefix + "/bin/python3")


def make(target: str, cwd: Path) -> float:
    # A clean environment: no virtualenv or PYTHONPATH of the caller's leaks into the new one.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    started = time.perf_counter()
    done = subprocess.run(
        ["make", target, f"PYTHON={PYTHON}"], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"make {target} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway directory (its path is printed)")
    parser.add_argument("--skip-test-tooling", action="store_true", help="measure `make setup` only")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lab-install-"))
    result: dict[str, object] = {**setting(PYTHON), "load_before": load(), "reference_ms_before": reference_ms()}
    try:
        repo = workdir / "repo"
        clone_into(repo)
        result["lab_install_s"] = round(make("setup", repo), 1)
        result["lab_venv_mb"] = round(size_mb(repo / ".venv"), 1)
        result["load_after_lab"] = load()
        if not args.skip_test_tooling:
            result["test_tooling_install_s"] = round(make("setup-test", repo), 1)
            result["test_venv_mb"] = round(size_mb(repo / ".venv"), 1)
            result["load_after_test"] = load()
    finally:
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(
        f"make setup (what `make lab` installs): {result['lab_install_s']:>6} s, .venv {result['lab_venv_mb']} MB   (target ≤ 60 s warm, ≤ 350 MB)"
    )
    if "test_venv_mb" in result:
        print(
            f"make setup-test (adds the test tooling): {result['test_tooling_install_s']:>4} s more, .venv {result['test_venv_mb']} MB"
        )
    print(
        f"load average (1 min): before {result['load_before']}, after {result.get('load_after_test', result['load_after_lab'])}"
    )
    print(
        f"reference task before: {result['reference_ms_before']} ms (about {USUAL_REFERENCE_MS:.0f} ms at the usual speed)"
    )
    print(f"{result['cores']} cores; the .venv made with Python {result['python']}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
