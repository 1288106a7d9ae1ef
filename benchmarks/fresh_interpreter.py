"""A fresh interpreter's first connect: `import lab_servers` + `Lab()` + the first
`connect("cimd")`, with the lab's bytecode written (as after a checkout's first run) and
compiling the lab from source; and `from lab_servers import Lab` alone. Part of `benchmarks/handshake.py`, which prints it; the target
(issue 12) is ≤ 0.8 s median."""

from __future__ import annotations

import compileall
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lab_servers

LAB_PACKAGE = Path(lab_servers.__file__).parent
FIRST_CONNECT_PROBE = """
import time
started, cpu_started = time.perf_counter(), time.process_time()
import asyncio
import lab_servers
lab = lab_servers.Lab()
asyncio.run(lab.connect("cimd"))
print(time.process_time() - cpu_started, time.perf_counter() - started)
"""
# What a learner's first cell imports. Not `import lab_servers`: the package imports its API on
# first use (PEP 562), so that loads almost nothing (about 10 ms) and would hide the import's cost.
IMPORT_PROBE = "import time; t = time.perf_counter(); from lab_servers import Lab; print(time.perf_counter() - t)"


@dataclass(frozen=True)
class FreshInterpreter:
    """A new interpreter running `probe`, which prints numbers on one line."""

    probe: str
    cwd: Path | None = None
    env: dict[str, str] | None = None

    def run(self) -> list[float]:
        output = subprocess.check_output([sys.executable, "-c", self.probe], text=True, cwd=self.cwd, env=self.env)
        return [float(number) for number in output.split()]


def fresh_interpreter_medians(interpreters: dict[str, FreshInterpreter], runs: int) -> dict[str, list[float]]:
    """The median of each number each interpreter's probe prints, over `runs` starts of each. The
    kinds start in turn, so that a drift in the machine's speed weighs on all of them alike: run
    one kind after the other, the first connect compiling the lab from source once came out
    faster than the one with its bytecode written."""
    rows: dict[str, list[list[float]]] = {name: [] for name in interpreters}
    for _ in range(runs):
        for name, interpreter in interpreters.items():
            rows[name].append(interpreter.run())
    return {
        name: [statistics.median(column) for column in zip(*samples, strict=True)] for name, samples in rows.items()
    }


def compile_lab() -> None:
    """Write the lab's bytecode, as a checkout's first import does by default, so that the fresh
    interpreters measure every start after that one. Where PYTHONDONTWRITEBYTECODE is set (the
    shared machines this lab is built on set it), nothing would write it, and every interpreter
    would compile the lab from source: about 60 ms more, timed apart by `uncompiled_lab`."""
    compileall.compile_dir(str(LAB_PACKAGE), quiet=1)


@contextlib.contextmanager
def uncompiled_lab() -> Iterator[FreshInterpreter]:
    """The first connect of an interpreter that compiles the lab's modules from source: a
    checkout's first run, or every run where bytecode is never written. A copy of the package
    without bytecode, imported from the working directory, with bytecode writing off."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(LAB_PACKAGE, Path(tmp) / "lab_servers", ignore=shutil.ignore_patterns("__pycache__"))
        yield FreshInterpreter(FIRST_CONNECT_PROBE, Path(tmp), {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def report(result: dict[str, Any], runs: int, say: Callable[[str], None]) -> None:
    """`runs` starts of each kind, in turn: medians into `result`, and printed."""
    compile_lab()
    with uncompiled_lab() as from_source:
        fresh = fresh_interpreter_medians(
            {"import": FreshInterpreter(IMPORT_PROBE), "compiled": FreshInterpreter(FIRST_CONNECT_PROBE),
             "from_source": from_source},
            runs,
        )  # fmt: skip
    result["import_lab_s"] = round(fresh["import"][0], 3)
    # The probe prints its CPU time, then its wall time.
    result["first_connect_cpu_s"], result["first_connect_s"] = (round(n, 3) for n in fresh["compiled"])
    result["first_connect_from_source_s"] = round(fresh["from_source"][-1], 3)
    say(f"\nFresh interpreter, median of {runs}: from lab_servers import Lab {result['import_lab_s']:.3f} s; "
        f"import + Lab() + first connect(\"cimd\") {result['first_connect_s']:.3f} s, CPU {result['first_connect_cpu_s']:.3f} s "
        "(target ≤ 0.8 s), the lab's bytecode written as after a checkout's first run; "
        f"{result['first_connect_from_source_s']:.3f} s compiling the lab from source")  # fmt: skip
