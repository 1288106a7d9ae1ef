"""How fast the machine runs right now, printed beside every benchmark's numbers: the load
average, and the time of one fixed piece of Python work.

On the shared 2-core machines this lab is built on, the load average misses most of what slows
them: other tenants' work on the same host. On 2026-12-04 the same handshake code took 6.45 ms at
17:11 and 7.85 ms at 17:21, the load average under 1 both times, and at 17:58 the reference task
below took 45 ms against 27 ms at 17:22. The task's time shows such a spell; compare runs only
when their reference times agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# A small metadata document, round-tripped through JSON as the lab's servers and clients do all
# the time: pure-Python work whose speed follows the interpreter's.
_DOCUMENT = {
    "issuer": "https://as.example",
    "scopes_supported": ["notes:read", "notes:write", "offline_access"],
    "numbers": list(range(50)),
}
# About 27 ms on the 2-core machines at their usual speed (2026-12-04).
USUAL_REFERENCE_MS = 27.0


def load() -> float:
    """The 1-minute load average (NaN where /proc has none)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def _reference_task() -> int:
    total = 0
    for _ in range(3000):
        document = json.loads(json.dumps(_DOCUMENT))
        total += len(document["numbers"]) + sum(len(scope) for scope in document["scopes_supported"])
    return total


def reference_ms(repeats: int = 15) -> float:
    """The median time of the reference task, in milliseconds."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        _reference_task()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def describe(before: float, after: float) -> str:
    return (
        f"reference task {before:.1f} ms before, {after:.1f} ms after (about {USUAL_REFERENCE_MS:.0f} ms on the 2-core "
        "machines at their usual speed: more means a slower spell, whatever the load average says)"
    )


@contextlib.contextmanager
def conditions(say: Callable[[str], None] = print) -> Iterator[None]:
    """For the scripts without targets of their own: the load average and the reference task's
    time, printed before and after the numbers the block prints."""
    load_before, reference_before = load(), reference_ms()
    say(f"machine: {len(os.sched_getaffinity(0))} cores; load average (1 min) {load_before}\n")
    yield
    say(f"\nload average (1 min): {load_before} before, {load()} after")
    say(describe(reference_before, reference_ms()))
