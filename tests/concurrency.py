"""Many clients at once, and the checks that nothing crossed between them (issue 7 item 15).

Each client has its own CIMD document (so its own `client_id`) and its own network name, so every
exchange it causes can be told apart: its requests carry its caller name, its client_id or its
token. Used by `tests/test_concurrency.py` (bounded) and `benchmarks/load.py` (1,000 clients).
"""

from __future__ import annotations

import asyncio
from typing import Any

from lab_servers import Lab, LabClient
from lab_servers.lab import APP_HOST, Connection, default_client_metadata


def client_document_url(i: int) -> str:
    return f"https://{APP_HOST}/clients/{i}.json"


def publish_clients(lab: Lab, n: int) -> None:
    for i in range(n):
        lab.publish_client_document(client_document_url(i), default_client_metadata(client_document_url(i)))


def many_clients(lab: Lab, n: int) -> list[LabClient]:
    """`n` CIMD clients, client i identified by document i (published here) and caller name
    `client-i`; nothing is sent yet. Apart from `connect_many` so that a benchmark can build them
    before its timer starts."""
    publish_clients(lab, n)
    return [lab.client("cimd", client_metadata_url=client_document_url(i), caller=f"client-{i}") for i in range(n)]


async def run_at_once(clients: list[LabClient]) -> list[Connection]:
    """Every client's whole handshake, all at once."""
    await asyncio.gather(*(client.run_all() for client in clients))
    return [Connection(client, client.records) for client in clients]


async def connect_many(lab: Lab, n: int) -> list[Connection]:
    """`n` CIMD handshakes at once, client i identified by document i and caller name `client-i`."""
    return await run_at_once(many_clients(lab, n))


def cross_talk(lab: Lab, connections: list[Connection]) -> list[str]:
    """Every way the connections' results mix, as sentences (empty when none do)."""
    problems: list[str] = []
    owner: dict[int, int] = {}
    for i, connection in enumerate(connections):
        if connection.whoami.get("client_id") != client_document_url(i):
            problems.append(f"client {i}: whoami says {connection.whoami.get('client_id')!r}")
        token = connection.access_token or "-"
        for record in connection.records:
            for exchange in record.exchanges:
                if exchange.seq in owner:
                    problems.append(
                        f"exchange #{exchange.seq} is in the records of clients {owner[exchange.seq]} and {i}"
                    )
                owner[exchange.seq] = i
                problems += [f"client {i} step {record.name}: {why}" for why in _foreign(exchange, i, token)]
    unowned = [e.seq for e in lab.trace if e.seq not in owner]
    if unowned:
        problems.append(f"{len(unowned)} exchanges belong to no step record, e.g. #{unowned[0]}")
    return problems


def _foreign(exchange: Any, i: int, token: str) -> list[str]:
    why = []
    if exchange.caller.startswith("client-") and exchange.caller != f"client-{i}":
        why.append(f"#{exchange.seq} was sent by {exchange.caller}")
    bearer = exchange.request_header("authorization") or ""
    if bearer.startswith("Bearer ") and bearer[7:] != token:
        why.append(f"#{exchange.seq} carries another client's token")
    if "/clients/" in exchange.url and exchange.url.split("?")[0] != client_document_url(i):
        why.append(f"#{exchange.seq} fetched another client's document {exchange.url}")
    if "client_id=" in exchange.url and f"clients%2F{i}.json" not in exchange.url:
        why.append(f"#{exchange.seq} names another client_id")
    return why
