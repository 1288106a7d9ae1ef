"""One request, two transports: what the lab's in-process network costs per exchange against a
real socket with TLS, with the servers' own work taken out. A script that prints numbers, not a
test; `benchmarks/handshake.py` uses it to explain its loopback ratio.

    .venv/bin/python benchmarks/transport.py [--runs 2000] [--json]

The app is the smallest ASGI app there is (200, two bytes), so what is left is the transport:
on the lab network, httpx → the lab's transport → virtual DNS → the app as a task → the trace;
over loopback, httpx → TCP + TLS (serve's local CA, `TCP_NODELAY` as serve sets it) → uvicorn →
the app. Both use the same httpx client code, as the lab client does in both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from machine import at_least, conditions, medians_in_turns  # benchmarks/machine.py, beside this script

from lab_servers.local_ca import ensure_local_ca
from lab_servers.network.network import LabNetwork
from lab_servers.serve_binding import bind

WARM_UP = 50
# Samples of the most frequent kind per turn. One sample per turn measured something else: a
# lab-network GET that follows a TLS GET found its code evicted, and took 145–155 µs against
# 93 µs (2026-12-05); the lab network never runs between TLS requests.
BLOCK = 25


async def tiny_app(
    scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


Request = Callable[[], Awaitable[None]]


@contextlib.asynccontextmanager
async def lab_network_get() -> AsyncIterator[Request]:
    """A GET on the lab network, traced as every lab exchange is."""
    network = LabNetwork()
    network.add_host("tiny.example", "10.9.9.9", tiny_app)
    async with network.httpx_client("benchmark") as http:

        async def request() -> None:
            await http.get("https://tiny.example/")
            network.trace.clear()  # keep memory flat, as the handshake benchmark does

        yield request


@contextlib.asynccontextmanager
async def loopback_tls_gets() -> AsyncIterator[tuple[Request, Request]]:
    """A GET over 127.0.0.1 with TLS: on one kept-alive connection, and on a new connection each
    time (what a client that has just started pays: TCP and TLS handshakes first)."""
    with tempfile.TemporaryDirectory(prefix="lab-bench-transport-") as directory:
        ca = ensure_local_ca(Path(directory))
        sock = bind("127.0.0.1", 0)
        config = uvicorn.Config(
            tiny_app, log_level="warning", lifespan="off",
            ssl_certfile=str(ca.server_certificate), ssl_keyfile=str(ca.server_key),
        )  # fmt: skip
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    raise RuntimeError(f"uvicorn stopped while starting: {task.exception()!r}")
                await asyncio.sleep(0.01)
            url = f"https://127.0.0.1:{sock.getsockname()[1]}/"
            verify = ssl.create_default_context(cafile=str(ca.ca_certificate))
            async with httpx.AsyncClient(verify=verify) as http:

                async def kept_alive() -> None:
                    await http.get(url)

                async def new_connection() -> None:
                    async with httpx.AsyncClient(verify=verify) as fresh:
                        await fresh.get(url)

                yield kept_alive, new_connection
        finally:
            server.should_exit = True
            await task
            sock.close()


async def round_trips(runs: int) -> dict[str, float]:
    """`runs` GETs on the lab network and as many over loopback on a kept-alive connection, in
    turn; fewer on new connections (a tenth, at least 50), spread over the same rounds."""
    async with lab_network_get() as inside, loopback_tls_gets() as (kept_alive, new_connection):
        seconds = await medians_in_turns(
            {"inside": (inside, runs), "kept_alive": (kept_alive, runs), "new": (new_connection, max(runs // 10, 50))},
            block=BLOCK,
            warm_up=WARM_UP,
        )
        medians = {name: round(median * 1e6, 1) for name, median in seconds.items()}
    return {
        "in_process_us": medians["inside"],
        "loopback_tls_us": medians["kept_alive"],
        "loopback_tls_new_connection_us": medians["new"],
        "ratio_kept_alive": round(medians["kept_alive"] / medians["inside"], 1),
        "ratio_new_connection": round(medians["new"] / medians["inside"], 1),
    }


def describe(result: dict[str, float]) -> str:
    return (
        f"  in process (lab network, traced)   {result['in_process_us']:8.1f} µs\n"
        f"  loopback + TLS, kept-alive          {result['loopback_tls_us']:8.1f} µs   "
        f"{result['ratio_kept_alive']:5.1f}× the in-process time\n"
        f"  loopback + TLS, new connection      {result['loopback_tls_new_connection_us']:8.1f} µs   "
        f"{result['ratio_new_connection']:5.1f}×"
    )


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", type=at_least(1, "a median needs one GET"), default=2000, help="requests per transport (default 2000)"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON object on the last line")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_arguments()
    result: dict[str, Any] = {}
    with conditions(print, result):  # the machine's load and speed go into the JSON too
        result.update(asyncio.run(round_trips(args.runs)))
        print("One GET of a two-byte answer, median (the transport alone; no server work):")
        print(describe(result))
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
