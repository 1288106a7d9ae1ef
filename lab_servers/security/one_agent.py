"""One agent, many runs: DCR keeps a record per run, CIMD keeps one cache entry.

The talk's point: DCR was "built for stable apps", and MCP clients "live for minutes". An agent
started for one task, in a fresh container or on a new laptop, has no stored credentials, so with
DCR it registers again every time: RFC 7591 §3.2.1 mints a new `client_id` per registration, and
nothing tells the server when the old one is gone. With CIMD every run of the same agent presents
the same `client_id`, its document's URL (CIMD §3): the server holds one cache entry, and fetches
the document again only when the copy it holds has expired (CIMD §5, HTTP caching).

`run_one_agent(policy, runs=100)` runs the same agent `runs` times, `minutes_apart` apart on the
lab clock (a whole number of seconds, at least one; all the runs within a thousand years), against
a DCR server and a CIMD server with the same policy.
"""

from __future__ import annotations

from ..arguments import counted, described, expect, wrong_type
from ..authorization_server import ASPolicy
from ..lab import APP_HOST, AS_HOST, CLIENT_METADATA_URL, Lab, default_client_metadata
from .requests import open_authorization, refusal, register
from .results import ExperimentResult
from .sprawl import SprawlPoint, _state_bytes


async def run_one_agent(
    policy: ASPolicy, runs: int = 100, *, minutes_apart: float = 1.0, samples: int = 12, what: str = "sessions"
) -> ExperimentResult:
    """`runs` runs (sessions, installs) of the lab's one agent, each starting with nothing stored."""
    runs, samples = counted("runs", runs, 100), counted("samples", samples, 12)
    seconds = _seconds_apart(minutes_apart, runs)
    expect(str, what, "what names the runs in the summary and the chart, a string such as 'installs'")
    every = max(1, runs // samples)
    points: list[SprawlPoint] = []
    fetches = refused = 0
    request = {k: v for k, v in default_client_metadata().items() if k != "client_id"}
    redirect = default_client_metadata()["redirect_uris"][0]
    async with (
        Lab(seed="one-agent-dcr", policy=policy) as dcr_lab,
        Lab(seed="one-agent-cimd", policy=policy) as cimd_lab,
    ):
        for i in range(1, runs + 1):
            # Each run comes from its own machine, as real users' runs do: no per-source limit applies.
            response = await register(dcr_lab, request, caller=f"user-{i}")
            refused += response.status_code != 201
            page = await open_authorization(cimd_lab, CLIENT_METADATA_URL, redirect)
            if refusal(page) is not None:
                raise RuntimeError(f"CIMD run {i} was refused: {refusal(page)}")
            fetches += sum(e.caller == AS_HOST and e.host == APP_HOST for e in cimd_lab.trace)
            if i % every == 0 or i == runs:
                records, cached = list(dcr_lab.registrations.values()), list(cimd_lab.cimd_cache.values())
                points.append(SprawlPoint(
                    clients=i, dcr_records=len(records), dcr_refused=refused, cimd_records=len(cimd_lab.registrations),
                    dcr_state_bytes=_state_bytes([[c.client_id, c.metadata, c.client_secret] for c in records]),
                    cimd_cached=len(cached), cimd_state_bytes=_state_bytes([[d.url, d.document, d.expires_at] for d in cached]),
                ))  # fmt: skip
            dcr_lab.trace.clear()  # the trace is the lab's, not the AS's: keep it out of the numbers
            cimd_lab.trace.clear()
            dcr_lab.clock.advance(seconds)
            cimd_lab.clock.advance(seconds)
        client_ids = len({c.client_id for c in dcr_lab.registrations.values()})
    last = points[-1]
    return ExperimentResult(
        experiment="one-agent",
        policy=policy.name,
        outcome=f"dcr {last.dcr_records} records; cimd {last.cimd_cached} cache entry",
        summary=(
            f"{runs} {what} of one agent, {minutes_apart:g} min apart: DCR left {last.dcr_records} records with "
            f"{client_ids} different client_ids"
            + (f" and refused {refused} registrations" if refused else "")
            + f"; CIMD left {last.cimd_records} records and {last.cimd_cached} cached document, fetched {fetches} times."
        ),
        explanation=(
            "An agent that keeps nothing between runs registers again each time under DCR: every run is a new client "
            "to the server, with a new id, and the old records stay. Under CIMD every run is the same client_id, a URL; "
            "the server keeps one cached copy and refreshes it when its max-age runs out."
        ),
        spec=("RFC 7591 §3.2.1", "CIMD -02 §3", "CIMD -02 §5"),
        details={
            "points": points,
            "fetches": fetches,
            "dcr_client_ids": client_ids,
            "x_label": f"{what} of one agent",
            "unit": what,
        },
    )


# The runs together: the lab clock reads dates up to the year 9999, and a thousand years outlast
# every cache (CIMD -02 §5: the hardened AS keeps a document a day at most).
_LONGEST_SPAN_SECONDS = 1000 * 365 * 24 * 3600
_ROUNDING = 1e-6  # seconds: how far a float's minutes may miss a whole second


def _seconds_apart(minutes_apart: object, runs: int) -> int:
    """`minutes_apart` in the lab clock's whole seconds. Unchecked, "1" ended in a clock error
    about a 60-digit date ("1" * 60), and 0.001 advanced int(0.06) = 0 s: every run at the same
    instant, reported "0.001 min apart"."""
    if isinstance(minutes_apart, bool) or not isinstance(minutes_apart, int | float):
        raise wrong_type("minutes_apart is a number of minutes, such as 1 or 0.5 (30 s)", minutes_apart)
    seconds = minutes_apart * 60
    if not seconds > 1 - _ROUNDING:  # NaN too
        raise ValueError(
            f"minutes_apart is at least one second (1/60 min), such as 1 or 0.5 (30 s); got {described(minutes_apart)}"
        )
    if runs * seconds > _LONGEST_SPAN_SECONDS:  # infinity too
        raise ValueError(
            "runs × minutes_apart spans at most the 1,000 years the lab clock runs here (it reads dates up to the "
            f"year 9999), such as 1 for 100 runs; got {described(minutes_apart)} for {runs} runs"
        )
    if abs(seconds - round(seconds)) > _ROUNDING:  # 0.1 min is 6.000000000000001 s, and means 6
        raise ValueError(
            f"the lab clock counts whole seconds; minutes_apart={minutes_apart!r} is {seconds:g} s, "
            "not a whole number (such as 0.5 for 30 s)"
        )
    return round(seconds)
