#!/usr/bin/env python
"""Prepare JupyterLab for a learner: their own copies of the notebooks, and no pop-ups.

    .venv/bin/python scripts/lab_setup.py            # what Binder's postBuild runs
    .venv/bin/python scripts/lab_setup.py --run      # what `make lab` runs: the same, then JupyterLab

1. Copies every notebooks/NN_*.ipynb to my-notebooks/ (only those not there yet, so a learner's
   work is never overwritten). Learners open, run and save the copies; the originals, whose
   stored outputs the tests compare strictly (nbval), are never opened by the lab, so JupyterLab's
   autosave (which stores Mermaid's own SVG in place of the lab's) and a learner's answers never
   reach them. A copy older than its original is reported, not replaced.
2. Writes JupyterLab's `overrides.json` into this Python's `share/jupyter/lab/settings/`: no
   "Would you like to get notified about official Jupyter news?" pop-up over the outputs, and no
   update check (a room of 30 on one network does not need 30 of them).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
COPIES = ROOT / "my-notebooks"
# JupyterLab 4.6 setting ids (plugin → settings); "fetchNews" is a string enum in the schema.
OVERRIDES: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def copy_notebooks(source: Path = NOTEBOOKS, target: Path = COPIES) -> list[str]:
    """Copy the notebooks a learner does not have yet; say which copies are older than the lab's."""
    target.mkdir(exist_ok=True)
    report = []
    # The notebooks, and the data files they open by a relative path (notebook 04's saved trace).
    files = [*source.glob("[0-9][0-9]_*.ipynb"), *source.glob("*.jsonl")]
    for original in sorted(files):
        copy = target / original.name
        if not copy.exists():
            shutil.copyfile(original, copy)
            report.append(f"copied {original.name} to {target.name}/")
        elif copy.read_bytes() != original.read_bytes() and copy.stat().st_mtime < original.stat().st_mtime:
            report.append(f"{target.name}/{original.name} is older than the lab's: delete it to get the new version")
    return report


def settings_dir(prefix: Path = Path(sys.prefix)) -> Path:
    return prefix / "share" / "jupyter" / "lab" / "settings"


def write_overrides(directory: Path | None = None) -> Path:
    """Merge the lab's settings into overrides.json (other settings in it are kept)."""
    directory = directory or settings_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "overrides.json"
    current: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for plugin, values in OVERRIDES.items():
        current.setdefault(plugin, {}).update(values)
    path.write_text(json.dumps(current, indent=2) + "\n")
    return path


def lab_command(copies: Path = COPIES, *extra: str) -> list[str]:
    """JupyterLab serving only the learner's copies, opening notebook 00."""
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={copies}",
            "--LabApp.default_url=/lab/tree/00_start_here.ipynb", *extra]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings-dir", type=Path, help="where overrides.json goes (default: this Python's)")
    parser.add_argument("--run", action="store_true", help="then start JupyterLab on my-notebooks/")
    args, extra = parser.parse_known_args(argv)
    if extra and not args.run:  # only JupyterLab takes more options
        parser.error(f"unrecognized arguments: {' '.join(extra)} (options for JupyterLab need --run)")
    try:
        copied = copy_notebooks()
    except OSError as error:  # a checkout shared read-only (a classroom machine, a system-wide install)
        parser.error(
            f"cannot copy the notebooks into {COPIES.name}/ ({error.filename}: {error.strerror}); "
            "run the lab from a clone of your own (git clone ..., then make lab)"
        )
    for line in copied:
        print(line)
    try:
        print(f"JupyterLab settings: {write_overrides(args.settings_dir)}")
    except OSError as error:
        reason = "a file, not a directory" if isinstance(error, FileExistsError) else error.strerror
        parser.error(f"--settings-dir {args.settings_dir or settings_dir()}: {reason}")
    except ValueError as error:  # an overrides.json that is not JSON: the learner's own file, left as it is
        parser.error(f"--settings-dir {args.settings_dir or settings_dir()}: overrides.json is not JSON ({error})")
    if args.run:
        print("Your notebooks are in my-notebooks/: run, edit and save them freely.")
        return subprocess.call(lab_command(COPIES, *extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
