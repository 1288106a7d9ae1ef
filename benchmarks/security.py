"""The sprawl experiment's numbers, and what the defensive fetch costs. A script that prints
numbers, not a test.

    .venv/bin/python benchmarks/security.py [--clients 10000] [--fetches 2000]

1. N DCR registrations (POST /register over the lab network) vs N CIMD resolutions of N distinct
   client URLs (the AS fetches, validates and caches each document over the lab network, with
   the hardened policy's bounded cache). Time per client, and the memory the AS still holds
   afterwards (tracemalloc, in a separate run so that tracing does not distort the timings).
2. One CIMD resolution with the cache off, hardened vs naive policy: the median of many.

The lab's trace is cleared after every request: it belongs to the lab, not to the AS.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable

from machine import Sample, at_least, conditions, medians_in_turns  # benchmarks/machine.py, beside this script

from lab_servers import HARDENED, NAIVE, ASPolicy, Lab, default_client_metadata

HOST, ADDRESS = "apps.example", "93.184.215.40"
# The sprawl is what is measured, so the hardened registration limits are lifted for DCR.
DCR_POLICY = HARDENED.but(name="hardened, no registration limits", registration_rate_limit=None, max_registrations=None)


def client_url(i: int) -> str:
    return f"https://{HOST}/clients/{i}.json"


async def dcr_workload(clients: int) -> tuple[Lab, Callable[[int], Awaitable[None]]]:
    lab = Lab(seed="bench-dcr", policy=DCR_POLICY)
    http = lab.httpx_client("client")
    request = {k: v for k, v in default_client_metadata().items() if k != "client_id"}

    async def one(i: int) -> None:
        response = await http.post(f"{lab.issuer}/register", json={**request, "client_name": f"Agent {i}"})
        assert response.status_code == 201, response.text
        lab.trace.clear()

    return lab, one


async def cimd_workload(clients: int, policy: ASPolicy = HARDENED) -> tuple[Lab, Callable[[int], Awaitable[None]]]:
    lab = Lab(seed="bench-cimd", policy=policy)
    host = lab.add_metadata_host(HOST, ADDRESS)
    for i in range(clients):  # published before measuring: the documents live at the client's host, not the AS
        host.publish(f"/clients/{i}.json", {**default_client_metadata(client_url(i)), "client_name": f"Agent {i}"})

    async def one(i: int) -> None:
        await lab.auth_server.cimd.resolve(client_url(i))
        lab.trace.clear()

    return lab, one


async def timed(
    make: Callable[[int], Awaitable[tuple[Lab, Callable[[int], Awaitable[None]]]]], clients: int
) -> tuple[float, Lab]:
    lab, one = await make(clients)
    start = time.perf_counter()
    for i in range(clients):
        await one(i)
    return time.perf_counter() - start, lab


async def retained_memory(
    make: Callable[[int], Awaitable[tuple[Lab, Callable[[int], Awaitable[None]]]]], clients: int
) -> tuple[int, int]:
    lab, one = await make(clients)
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for i in range(clients):
        await one(i)
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del lab
    return after - before, peak - before


async def fetch_costs(policies: dict[str, ASPolicy], runs: int) -> dict[str, float]:
    """Median seconds of one uncached CIMD resolution (fetch + validation) under each policy, each
    in its own lab. The policies take their samples in turn, one resolution each per round, so
    that a drift in the machine's speed weighs on both alike rather than on whichever ran last."""
    labs: dict[str, Lab] = {}
    for name, policy in policies.items():
        labs[name], _ = await cimd_workload(1, policy.but(max_cache_seconds=0))  # no cache: every resolution fetches
    url = client_url(0)

    def resolution(lab: Lab) -> Sample:
        async def resolve() -> None:
            await lab.auth_server.cimd.resolve(url)
            lab.trace.clear()  # keep memory flat

        return resolve

    return await medians_in_turns({name: (resolution(lab), runs) for name, lab in labs.items()})


async def main(clients: int, fetches: int) -> None:
    print(f"Sprawl: {clients:,} distinct clients, each met once by the authorization server\n")
    print(f"{'':34}{'total':>10}{'per client':>14}{'AS records':>12}{'cached docs':>13}{'memory kept':>14}{'peak':>12}")
    for label, make in (("DCR: POST /register", dcr_workload), ("CIMD: resolve a new client_id URL", cimd_workload)):
        seconds, lab = await timed(make, clients)
        kept, peak = await retained_memory(make, clients)
        print(
            f"{label:34}{seconds:>9.2f}s{seconds / clients * 1e6:>11.0f} µs{len(lab.registrations):>12,}"
            f"{len(lab.cimd_cache):>13,}{kept / 1e6:>11.2f} MB{peak / 1e6:>9.2f} MB"
        )
    print(f"\n(CIMD cache bound: max_cached_documents={HARDENED.max_cached_documents}; DCR policy: {DCR_POLICY.name})")
    print(f"\nOne uncached CIMD resolution (fetch + checks), median of {fetches:,}, the two policies in turn:")
    costs = await fetch_costs({"hardened": HARDENED, "naive": NAIVE}, fetches)
    hardened, naive = costs["hardened"], costs["naive"]
    print(f"  hardened  {hardened * 1e6:8.0f} µs")
    print(f"  naive     {naive * 1e6:8.0f} µs")
    print(
        f"  the defensive fetch's rules cost {((hardened - naive) * 1e6):+.0f} µs ({(hardened / naive - 1) * 100:+.0f}%) per fetch"
    )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--clients", type=at_least(1, "the time per client divides by them"), default=10_000,
        help="DCR registrations and CIMD resolutions, each (default 10000)",
    )  # fmt: skip
    parser.add_argument(
        "--fetches", type=at_least(1, "a median needs one fetch"), default=2_000,
        help="uncached CIMD resolutions per policy (default 2000)",
    )  # fmt: skip
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_arguments()
    with conditions():
        asyncio.run(main(args.clients, args.fetches))
