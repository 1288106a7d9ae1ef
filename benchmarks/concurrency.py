"""Many handshakes at once in one lab: the time of each count, the cyclic GC's share, and
cross-talk (an exchange or a token of one client seen by another). Part of
`benchmarks/handshake.py`, which prints it; the target (issue 12) is 1,000 at once in ≤ 12× the
time of 100, with no cross-talk."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from scenarios import POLICY, make_lab  # benchmarks/scenarios.py, beside this script

from lab_servers import Lab, LabClient, default_client_metadata
from lab_servers.lab import APP_HOST


class _CollectorTime:
    """Seconds the cyclic GC spent while the block ran, and its passes per generation: the part
    of a run that grows faster than the number of handshakes (every pass over the old generation
    walks a heap that grows with the handshakes in flight)."""

    def __init__(self) -> None:
        self.seconds, self.passes, self._started = 0.0, [0, 0, 0], 0.0

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.passes[info["generation"]] += 1

    def __enter__(self) -> _CollectorTime:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


async def concurrent(revision: str, count: int) -> dict[str, Any]:
    """`count` handshakes at once in one lab, half DCR and half CIMD, each client under its own
    caller name and each CIMD client with its own document, so that every client has its own
    client_id. Cross-talk: see `cross_talk`."""
    async with make_lab(revision, seed=0, policy=POLICY) as lab:
        await lab.connect("cimd")
        lab.trace.clear()
        # Publishing and building the clients is set-up, not handshakes: done before the timer.
        clients = [_client(lab, i) for i in range(count)]
        # Every run starts from a collected heap. Otherwise a run inherits the collector's debt
        # from the run before it: the garbage of a run of 1,000 set off a full pass (70–250 ms)
        # in some runs of 100 and not in others, which made their times bimodal.
        gc.collect()
        with _CollectorTime() as collector:
            start = time.perf_counter()
            records = await asyncio.gather(*(c.run_all() for c in clients))
            elapsed = time.perf_counter() - start
        return {
            "seconds": elapsed,
            "gc_seconds": collector.seconds,
            "gc_passes": collector.passes,
            "cross_talk": len(cross_talk(lab, clients, records)),
            "exchanges": len(lab.trace),
        }


def client_document_url(i: int) -> str:
    return f"https://{APP_HOST}/clients/{i}.json"


def _client(lab: Lab, i: int) -> LabClient:
    """Client i: DCR when i is odd, else CIMD with a document of its own (published here). With
    one shared document every CIMD client would have the same client_id, and a token passed
    from one to another would go unseen."""
    caller = f"client-{i}"
    if i % 2:
        return lab.client("dcr", caller=caller)
    url = client_document_url(i)
    lab.publish_client_document(url, default_client_metadata(url))
    return lab.client("cimd", client_metadata_url=url, caller=caller)


def cross_talk(lab: Lab, clients: list[LabClient], records: list[list[Any]]) -> list[str]:
    """Every way client i's results mix with another's, as sentences (empty when none do): an
    exchange filed in two clients' step records, or in none; one in its records that another
    caller sent, that names another client_id (its browser's and the AS's exchanges carry no
    caller of its own: the client_id in the URL, or the document the AS fetched, says whose they
    are); a bearer token in its requests that is not its own access token, or no MCP request with
    its token at all; a `whoami` that does not name its own client_id (its document's URL for
    CIMD, its registration for DCR)."""
    sent_by: dict[str, list[Any]] = defaultdict(list)
    for exchange in lab.trace:
        sent_by[exchange.caller].append(exchange)
    problems: list[str] = []
    owner: dict[int, int] = {}
    for i, (client, steps) in enumerate(zip(clients, records, strict=True)):
        caller = f"client-{i}"
        credentials = client.state.credentials
        own_id = client_document_url(i) if client.method == "cimd" else (credentials.client_id if credentials else None)
        for exchange in (e for step in steps for e in step.exchanges):
            if exchange.seq in owner:
                problems.append(f"#{exchange.seq} is in the records of client-{owner[exchange.seq]} and {caller}")
            owner[exchange.seq] = i
            problems += [f"{caller}: #{exchange.seq} {why}" for why in _whose(exchange, caller, own_id)]
        token = client.state.access_token
        bearers = [
            (e, header[len("Bearer ") :])
            for e in sent_by[caller]
            if (header := e.request_header("authorization") or "").startswith("Bearer ")
        ]
        problems += [f"{caller}: #{e.seq} carries another token" for e, sent in bearers if sent != token]
        if token is None or not any(e.url.split("?")[0] == lab.mcp_url for e, sent in bearers if sent == token):
            problems.append(f"{caller}: no MCP request carried its own access token")
        if credentials is None or credentials.client_id != own_id:
            problems.append(f"{caller}: its credentials are not its own")
        named = (client.state.whoami or {}).get("client_id")
        if own_id is None or named != own_id:
            problems.append(f"{caller}: whoami names {named!r}")
    unowned = [e.seq for e in lab.trace if e.seq not in owner]
    if unowned:
        problems.append(f"{len(unowned)} exchanges are in no client's records, e.g. #{unowned[0]}")
    return problems


def _whose(exchange: Any, caller: str, own_id: str | None) -> list[str]:
    """Why `exchange`, filed in `caller`'s records, is another client's (empty when it is not)."""
    why = []
    if exchange.caller.startswith("client-") and exchange.caller != caller:
        why.append(f"was sent by {exchange.caller}")
    named = parse_qs(urlsplit(exchange.url).query).get("client_id", [])
    if any(client_id != own_id for client_id in named):
        why.append(f"names client_id {named[0]!r}")
    document = exchange.url.split("?")[0]
    if "/clients/" in document and document != own_id:
        why.append(f"fetched another client's document {document}")
    return why


def concurrent_rounds(revision: str, counts: list[int], rounds: int) -> dict[int, list[dict[str, Any]]]:
    """Each round runs every count, so a drift in the machine's speed (1.5× within an hour on the
    shared machines) weighs on every count alike instead of on whichever ran last; a count a tenth
    of the largest or smaller is cheap and noisy, and runs three times a round."""
    largest = max(counts, default=0)
    runs: dict[int, list[dict[str, Any]]] = {count: [] for count in counts}
    for _ in range(rounds):
        for count in counts:
            for _ in range(3 if count * 10 <= largest else 1):
                runs[count].append(asyncio.run(concurrent(revision, count)))
    return runs


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose time is the median (the lower of the middle two for an even count)."""
    return sorted(runs, key=lambda run: run["seconds"])[(len(runs) - 1) // 2]


@contextlib.contextmanager
def _young_generation_threshold(threshold: int | None) -> Iterator[None]:
    """With a number, the cyclic GC's generation-0 threshold for the block (CPython's default is
    700 allocations up to 3.12, 2,000 from 3.13): how a process that owns its interpreter, such as
    a server, may tune it. The lab never does (a learner's kernel is not its own), so the default
    runs are what it gets."""
    if threshold is None:
        yield
        return
    before = gc.get_threshold()
    gc.set_threshold(threshold, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def report(
    result: dict[str, Any],
    revision: str,
    counts: list[int],
    rounds: int,
    say: Callable[[str], None],
    gc_threshold: int | None = None,
) -> None:
    """Every count in `rounds` interleaved rounds, after one untimed run: medians into `result`,
    and printed with the ratio of 1,000 to 100. With `gc_threshold`, under that generation-0
    threshold (an experiment for the issue's author; see `_young_generation_threshold`)."""
    if not counts:  # `--concurrent` given no counts
        say("\nConcurrent handshakes: skipped (--concurrent was given no counts)")
        return
    described = "one round" if rounds == 1 else f"medians over {rounds} interleaved rounds"
    tuned = (
        f", the GC's generation-0 threshold {gc.get_threshold()[0]:,} (this Python's default)"
        if gc_threshold is None
        else f", the GC's generation-0 threshold set to {gc_threshold:,}"
    )
    say(f"\nConcurrent handshakes in one lab (half DCR, half CIMD), revision {revision}, {described}{tuned}:")
    result["concurrent_gc_threshold"] = gc.get_threshold()[0] if gc_threshold is None else gc_threshold
    with _young_generation_threshold(gc_threshold):
        # One untimed run first, so that whichever count runs first does not also pay the
        # process's first-use costs (a run of 100 takes only about half a second).
        if counts:
            asyncio.run(concurrent(revision, min(counts)))
        all_runs = concurrent_rounds(revision, counts, rounds)
    for count in counts:
        runs = all_runs[count]
        seconds = statistics.median(run["seconds"] for run in runs)
        result[f"concurrent_{count}_s"] = round(seconds, 3)
        result[f"concurrent_{count}_runs_s"] = [round(run["seconds"], 3) for run in runs]
        result[f"concurrent_{count}_cross_talk"] = sum(run["cross_talk"] for run in runs)
        result[f"concurrent_{count}_gc_s"] = round(statistics.median(run["gc_seconds"] for run in runs), 3)
        without_gc = statistics.median(run["seconds"] - run["gc_seconds"] for run in runs)
        result[f"concurrent_{count}_without_gc_s"] = round(without_gc, 3)
        # The passes of the run whose time is the median: beside the median GC seconds, run 0's
        # passes could come from a run with a full pass when the median one had none.
        passes = result[f"concurrent_{count}_gc_passes"] = median_run(runs)["gc_passes"]
        each = ", ".join(f"{run['seconds']:.2f}" for run in runs)
        say(f"  {count:5} at once: {seconds:7.2f} s   (runs: {each} s; {runs[0]['exchanges']} exchanges; "
            f"cross-talk: {result[f'concurrent_{count}_cross_talk']}; cyclic GC "
            f"{result[f'concurrent_{count}_gc_s']:.2f} s median, {'/'.join(map(str, passes))} "
            "passes of generation 0/1/2 in the median run)")  # fmt: skip
    if "concurrent_100_s" in result and "concurrent_1000_s" in result:
        result["ratio_1000_over_100"] = round(result["concurrent_1000_s"] / result["concurrent_100_s"], 1)
        result["ratio_1000_over_100_without_gc"] = round(
            result["concurrent_1000_without_gc_s"] / result["concurrent_100_without_gc_s"], 1
        )
        full = result["concurrent_100_gc_passes"][2], result["concurrent_1000_gc_passes"][2]
        say(f"  1,000 / 100 time ratio: {result['ratio_1000_over_100']} (target ≤ 12, linear is 10); "
            f"{result['ratio_1000_over_100_without_gc']} without the cyclic GC's time. CPython makes a full "
            "pass, which walks every live object, once more than ten collections of generation 1 have run "
            "since the last (if the long-lived objects have grown by a quarter since): "
            f"{full[0]} in a run of 100 ({result['concurrent_100_gc_passes'][1]} of generation 1), "
            f"{full[1]} in a run of 1,000 ({result['concurrent_1000_gc_passes'][1]})")  # fmt: skip
