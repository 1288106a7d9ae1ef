"""How fast the machine runs right now, printed beside every benchmark's numbers: the load
average, and the time of one fixed piece of Python work.

On the shared 2-core machines this lab is built on, the load average misses most of what slows
them: other tenants' work on the same host. On 2026-12-04 the same handshake code took 6.45 ms at
17:11 and 7.85 ms at 17:21, the load average under 1 both times, and at 17:58 the reference task
below took 45 ms against 27 ms at 17:22. The task's time shows such a spell; compare runs only
when their reference times agree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

# A small metadata document, round-tripped through JSON as the lab's servers and clients do all
# the time: pure-Python work whose speed follows the interpreter's.
_DOCUMENT = {
    "issuer": "https://as.example",
    "scopes_supported": ["notes:read", "notes:write", "offline_access"],
    "numbers": list(range(50)),
}
# About 27 ms on the 2-core machines at their usual speed (2026-12-04).
USUAL_REFERENCE_MS = 27.0


def cores() -> int:
    """The cores this process may run on: `os.cpu_count()` counts the host's, which a container's
    CPU affinity can cut."""
    return len(os.sched_getaffinity(0))


# What `interpreter` prints of a Python, run in it.
_DESCRIBE_PYTHON = "import sys; print(sys.version.replace(chr(10), ' '), 'at', sys.base_prefix)"


def interpreter(python: str | None = None) -> str:
    """Which Python runs the measured work, this one or the one at `python`: its version, build
    (date and compiler) and prefix. The build weighs as much as the load: on one machine, in five
    alternating rounds, the median 2026-07-28 DCR handshake took 4.39 ms on Debian's 3.11.2,
    4.96 ms on pyenv's 3.11.7, 5.29 ms on its 3.12.1 and 5.50 ms on its 3.13.0 (2026-12-07)."""
    if python is None:
        return f"{sys.version.replace(chr(10), ' ')} at {sys.base_prefix}"
    try:
        described = subprocess.run([python, "-c", _DESCRIBE_PYTHON], capture_output=True, text=True, check=False)
    except OSError as error:
        return f"{python} (did not start: {error.strerror})"
    return described.stdout.strip() or f"{python} (did not start: {described.stderr.strip()[-200:]})"


def setting(python: str | None = None) -> dict[str, Any]:
    """What a benchmark's JSON holds of the machine besides its load: `cores` and `python` (of
    this interpreter, or of the one at `python` that runs the measured work). Without them a line
    from a 4-core machine or another Python reads like one from the issue's 2-core machine."""
    return {"cores": cores(), "python": interpreter(python)}


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
def conditions(say: Callable[[str], None] = print, readings: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The machine's cores, Python, load average and reference task's time, printed before and
    after the numbers the block prints, and stored in `readings` (a script's JSON result) as
    `cores`, `python` (`setting`), `load_1min_before`, `reference_ms_before`, `load_1min_after`
    and `reference_ms_after`."""
    readings = {} if readings is None else readings
    readings |= setting()
    readings["load_1min_before"], readings["reference_ms_before"] = load(), reference_ms()
    say(
        f"machine: {readings['cores']} cores; Python {readings['python']}; "
        f"load average (1 min) {readings['load_1min_before']}"
    )
    yield readings
    readings["load_1min_after"], readings["reference_ms_after"] = load(), reference_ms()
    say(f"\nload average (1 min): {readings['load_1min_before']} before, {readings['load_1min_after']} after")
    say(describe(readings["reference_ms_before"], readings["reference_ms_after"]))


Sample = Callable[[], Awaitable[object]]


async def medians_in_turns(
    kinds: dict[str, tuple[Sample, int]], *, block: int = 1, warm_up: int = 0
) -> dict[str, float]:
    """The median seconds of each kind of sample, `count` timed samples of each, after `warm_up`
    untimed. The kinds take turns, `block` samples of the most frequent kind per turn and the
    others in proportion, so that a drift in the machine's speed weighs on every kind alike
    rather than on whichever ran last. A block of one alternates sample by sample; a longer one
    lets each kind run with its own code in the CPU's caches, where alternating would charge one
    kind for evicting the other's (`transport.py`)."""
    for sample, _ in kinds.values():
        for _ in range(warm_up):
            await sample()
    rounds = -(-max(count for _, count in kinds.values()) // block)  # ceiling division
    taken: dict[str, list[float]] = {name: [] for name in kinds}
    for number in range(rounds):
        for name, (sample, count) in kinds.items():
            for _ in range((number + 1) * count // rounds - number * count // rounds):  # `count` over `rounds`
                start = time.perf_counter()
                await sample()
                taken[name].append(time.perf_counter() - start)
    return {name: statistics.median(seconds) for name, seconds in taken.items()}


def at_least(minimum: int, why: str) -> Callable[[str], int]:
    """An argparse type: an integer no smaller than `minimum`, else a usage error saying `why`,
    before anything is measured (rather than a traceback from the statistics at the end)."""

    def parse(text: str) -> int:
        value = int(text)  # not a number: argparse reports "invalid int value"
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too few: at least {minimum} ({why})")
        return value

    parse.__name__ = "int"
    return parse
