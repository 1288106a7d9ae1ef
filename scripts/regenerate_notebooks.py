#!/usr/bin/env python
"""Re-execute the lab's notebooks in place and store their outputs deterministically.

    .venv/bin/python scripts/regenerate_notebooks.py            # every notebooks/NN_*.ipynb
    .venv/bin/python scripts/regenerate_notebooks.py 02 03      # only those whose name starts so
    .venv/bin/python scripts/regenerate_notebooks.py --check    # execute, compare outputs, write nothing

The stored outputs are what `pytest --nbval` (strict) compares against, so run this after
changing a notebook or anything it prints, and commit the result. What is written is only what a
fresh kernel produces: no execution timestamps, no widget state, no random widget model ids, and
execution counts 1, 2, 3… in order. Running it twice gives byte-identical files.

Each notebook's sanity checks (notebooks/checks/<name>.py: assertions that keep its prose true)
run in the same kernel right after the cell they name, so a notebook whose text went stale fails
here; they are kept out of the notebook itself, so that no static view shows them.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell
from traitlets.config import Config

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHECKS = NOTEBOOKS / "checks"
CHECK_MARK = "# %% after: "
KERNEL = "python3"
TIMEOUT = 120  # seconds per cell
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# Notebook-level metadata kept as written; anything else a run adds (widget state, the
# kernel's exact Python version in language_info) is dropped so files do not churn.
KEPT_METADATA = {"kernelspec", "language_info"}
# The kernel's channels encrypted with CurveZMQ keys that the kernel manager provisions (ipykernel's
# kernelspec declares `supported_encryption: curve`). Over plain TCP, ipykernel warns on every start
# that code and outputs travel in plain text; "required" fails the start instead of falling back.
ENCRYPTED_KERNEL = Config(KernelManager={"transport_encryption": "required"})


def notebook_paths(prefixes: list[str] | None = None) -> list[Path]:
    paths = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if prefixes:
        paths = [p for p in paths if any(p.name.startswith(prefix) for prefix in prefixes)]
    return paths


def load_checks(name: str) -> dict[str, list[str]]:
    """The sanity checks of notebook `name` (its stem): cell id → the code blocks to run after it."""
    path = CHECKS / f"{name}.py"
    checks: dict[str, list[str]] = {}
    if not path.exists():
        return checks
    cell_id, lines = None, []
    for line in [*path.read_text(encoding="utf-8").splitlines(), CHECK_MARK + "<end>"]:
        if line.startswith(CHECK_MARK):
            if cell_id is not None:
                checks.setdefault(cell_id, []).append("\n".join(lines).strip() + "\n")
            cell_id, lines = line[len(CHECK_MARK) :].split()[0], []
        elif cell_id is not None:
            lines.append(line)
    return checks


def new_client(nb: nbformat.NotebookNode, cwd: Path = NOTEBOOKS) -> NotebookClient:
    return NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=TIMEOUT,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        store_widget_state=False,
        coalesce_streams=True,  # one stream output per name: how the kernel chunked prints varies
        allow_errors=False,
        config=ENCRYPTED_KERNEL,
    )


def run_cells(client: NotebookClient, nb: nbformat.NotebookNode, checks: dict[str, list[str]]) -> None:
    """Every cell in order, each followed by its sanity checks (which must print nothing)."""
    for index, cell in enumerate(nb.cells):
        client.execute_cell(cell, index)
        for source in checks.get(cell.get("id", ""), []):
            check = new_code_cell(source)
            client.execute_cell(check, index)
            nb.cells[index] = cell  # execute_cell stores the cell it ran at that index: put the notebook's back
            if check.outputs:
                raise AssertionError(f"a sanity check after cell {cell.id} printed something: {check.outputs}")


def execute(nb: nbformat.NotebookNode, cwd: Path = NOTEBOOKS, name: str | None = None) -> nbformat.NotebookNode:
    """Run every cell in a fresh kernel, with the notebook's sanity checks when `name` is given;
    return a new, normalised notebook."""
    nb = copy.deepcopy(nb)
    client = new_client(nb, cwd)
    with client.setup_kernel():
        run_cells(client, nb, load_checks(name) if name else {})
    return normalise(nb)


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Keep only what a reader needs and what nbval compares."""
    nb.metadata = nbformat.from_dict({k: v for k, v in nb.metadata.items() if k in KEPT_METADATA})
    nb.metadata["language_info"] = {"name": "python"}
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        count += 1
        cell.execution_count = count
        for output in cell.outputs:
            if "execution_count" in output:
                output["execution_count"] = count
            data = output.get("data")
            if data and WIDGET_VIEW in data:
                # A live widget's model id is random and its state is not stored: keep the text
                # fallback only, which is what GitHub and nbconvert show anyway.
                del data[WIDGET_VIEW]
            output.get("metadata", {}).pop("execution", None)
    return nb


def dumps(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def comparable(nb: nbformat.NotebookNode) -> list[tuple[str, list[Any]]]:
    """What nbval compares, per code cell: the outputs without execution counts, widget model
    ids or metadata, with consecutive stream chunks merged; cells tagged nbval-ignore-output
    count as empty."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs: list[Any] = []
        if "nbval-ignore-output" not in cell.metadata.get("tags", []):
            for output in cell.outputs:
                if output.output_type == "stream" and outputs and outputs[-1].get("name") == output.name:
                    outputs[-1] = {**outputs[-1], "text": outputs[-1]["text"] + output.text}
                    continue
                kept = {k: v for k, v in output.items() if k not in ("execution_count", "metadata", "transient")}
                if "data" in kept:
                    kept["data"] = {k: v for k, v in kept["data"].items() if k != WIDGET_VIEW}
                outputs.append(kept)
        cells.append((cell.source, outputs))
    return cells


def first_difference(stored: nbformat.NotebookNode, fresh: nbformat.NotebookNode) -> str | None:
    a, b = comparable(stored), comparable(fresh)
    if len(a) != len(b):
        return f"{len(a)} code cells stored, {len(b)} executed"
    for index, (old, new) in enumerate(zip(a, b, strict=True)):
        if old != new:
            return f"code cell {index + 1} ({old[0].splitlines()[0][:60] if old[0] else ''!r})"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose file name starts with one of these")
    parser.add_argument("--check", action="store_true", help="execute and report differences; write nothing")
    args = parser.parse_args(argv)
    # A prefix that names no notebook (a typo, a path) would otherwise check nothing and pass.
    unmatched = [prefix for prefix in args.prefixes if not notebook_paths([prefix])]
    if unmatched:
        parser.error(f"no notebooks/NN_*.ipynb starts with {', '.join(map(repr, unmatched))}")
    status = 0
    for path in notebook_paths(args.prefixes):
        started = time.perf_counter()
        original = nbformat.read(path, as_version=4)
        fresh = execute(original, name=path.stem)
        text = dumps(fresh)
        elapsed = time.perf_counter() - started
        if args.check:
            # The outputs, as nbval compares them (the file's bytes may differ in metadata).
            difference = first_difference(original, fresh)
            status |= difference is not None
            verdict = "unchanged" if difference is None else f"DIFFERS from the stored outputs at {difference}"
            print(f"{path.name}: {verdict} ({elapsed:.1f} s)")
        else:
            changed = text != path.read_text(encoding="utf-8")
            path.write_text(text, encoding="utf-8")
            print(f"{path.name}: {'updated' if changed else 'unchanged'} ({elapsed:.1f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
