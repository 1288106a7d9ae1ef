"""A pytest plugin for `suite.py`: the CPU time of each test, the test process's own and its child
processes', written one JSON line per test to the file named by `LAB_SUITE_CPU_FILE` (each xdist
worker to a file of its own beside it). Loaded with `-p cpu_by_test`, `benchmarks/` on the path.

`make test` is CPU-bound on 2 cores, so its wall time cannot fall below its CPU time over the
cores: where the CPU goes is the first thing to know before making it faster. Wall time alone
misleads there, since a test that waits on a subprocess while other workers run stretches with
the machine's load. A child's CPU counts once the test has waited for it (getrusage(2)'s
RUSAGE_CHILDREN), as `subprocess.run` does; a process left running for later tests counts where
it is reaped."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import pytest

OUTPUT = "LAB_SUITE_CPU_FILE"
_started: dict[str, tuple[float, float, float]] = {}


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user and system) of this process, and of its children it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


_path: list[Path] = []  # where this process writes, once pytest is configured


def _output(config: pytest.Config) -> Path | None:
    # An xdist worker is known by its `workerinput`, not by PYTEST_XDIST_WORKER: a pytest run
    # from a test of an outer xdist run (the benchmarks' own tests) inherits that variable.
    worker = getattr(config, "workerinput", {}).get("workerid")
    if OUTPUT not in os.environ or (worker is None and getattr(config.option, "numprocesses", None)):
        return None  # not asked for; or xdist's controller (`-n`), which replays the workers' reports
    path = Path(os.environ[OUTPUT])
    return path.with_name(f"{path.name}.{worker}") if worker else path


def pytest_configure(config: pytest.Config) -> None:
    _path[:] = [path] if (path := _output(config)) else []


def pytest_runtest_logstart(nodeid: str) -> None:
    if _path:  # not in xdist's controller, which would keep a start for every test and never end one
        _started[nodeid] = (time.perf_counter(), *cpu_seconds())


def pytest_runtest_logfinish(nodeid: str) -> None:
    # logfinish follows the teardown: a fixture's clean-up (a server stopped, a venv removed)
    # is part of its test's cost, and a module's shared set-up is part of its first test's.
    if nodeid not in _started:
        return
    started, own, children = _started.pop(nodeid)
    own_now, children_now = cpu_seconds()
    line = {
        "test": nodeid,
        "wall": round(time.perf_counter() - started, 4),
        "own": round(own_now - own, 4),
        "children": round(children_now - children, 4),
    }
    with _path[0].open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")
