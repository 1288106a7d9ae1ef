"""What every handshake benchmark shares: the lab it measures, the scenarios, the revisions the
lab can run, and how times are printed. Imported by the scripts beside it
(`handshake.py`, `concurrency.py`, `loopback.py`), never by the lab."""

from __future__ import annotations

import inspect
import statistics
import time
from typing import Any

import lab_servers
from lab_servers import HARDENED, Lab

# Hundreds of registrations from one caller would trip the hardened registration limits, which
# are not what this measures; every other hardened rule stays on.
POLICY = HARDENED.but(registration_rate_limit=None, max_registrations=None)
SCENARIOS = (("DCR", "dcr"), ("CIMD, cold cache", "cimd"), ("CIMD, warm cache", "cimd"))
# The revision the lab spoke before it could be chosen (issue 8): the client's PROTOCOL_VERSION.
LEGACY_REVISION = "2025-11-25"
KNOWN_REVISIONS = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")


def revisions() -> list[str]:
    """The revisions this lab can run: every one `Lab(revision=…)` accepts, oldest first, or only
    the one it spoke before revisions became a choice."""
    if "revision" not in inspect.signature(Lab).parameters:
        return [LEGACY_REVISION]
    supported = []
    for revision in sorted(getattr(lab_servers, "REVISIONS", KNOWN_REVISIONS)):
        try:
            Lab(revision=revision)  # type: ignore[call-arg]
        except (ValueError, KeyError, TypeError):
            continue
        supported.append(revision)
    return supported


def make_lab(revision: str, **options: Any) -> Lab:
    if "revision" in inspect.signature(Lab).parameters:
        options["revision"] = revision
    return Lab(**options)


def start_scenario(lab: Lab, scenario: str) -> None:
    """Run in turn, "CIMD, cold cache" empties the AS's CIMD cache, which "CIMD, warm cache" then
    finds full."""
    if scenario == "CIMD, cold cache":
        lab.cimd_cache.clear()


async def handshake_seconds(lab: Lab, scenario: str, method: str) -> float:
    """One whole in-process handshake of `scenario` in `lab`; the trace is cleared after it, so
    that memory stays flat over many runs."""
    start_scenario(lab, scenario)
    client = lab.client(method)
    start = time.perf_counter()
    await client.run_all()
    elapsed = time.perf_counter() - start
    lab.trace.clear()
    return elapsed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)
