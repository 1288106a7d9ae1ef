"""Client-ID sprawl: what the authorization server must keep per client, DCR vs CIMD.

Every DCR registration is a record the AS keeps (RFC 7591 §3.2.1 issues an id, often a secret,
and nothing ever says when to forget them). Every CIMD login leaves nothing but a cache entry:
the client's identity lives at the client's own URL (CIMD §3), and a cache may be bounded and
may forget (CIMD §5). This experiment grows both and measures what the AS holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..arguments import counted
from ..authorization_server import ASPolicy
from ..lab import Lab, default_client_metadata
from .requests import open_authorization, refusal, register
from .results import ExperimentResult

SPRAWL_HOST = "apps.example"  # a platform hosting one document per client
SPRAWL_ADDRESS = "93.184.215.40"


@dataclass(frozen=True)
class SprawlPoint:
    """What the AS holds after `clients` clients came by, each way."""

    clients: int
    dcr_records: int
    dcr_state_bytes: int
    dcr_refused: int
    cimd_records: int
    cimd_cached: int
    cimd_state_bytes: int


def client_url(i: int) -> str:
    return f"https://{SPRAWL_HOST}/clients/{i}.json"


def _state_bytes(values: list[object]) -> int:
    # A deterministic stand-in for memory: the size of what is kept, as JSON (the benchmark
    # measures real memory with tracemalloc; notebook outputs must not vary run to run).
    return sum(len(json.dumps(v, sort_keys=True, default=str)) for v in values)


async def run_client_id_sprawl(policy: ASPolicy, clients: int = 1200, samples: int = 12) -> ExperimentResult:
    """`clients` distinct clients arrive, each once: by DCR at one AS, by CIMD at another."""
    clients, samples = counted("clients", clients, 600), counted("samples", samples, 12)
    every = max(1, clients // samples)
    points: list[SprawlPoint] = []
    async with Lab(seed="sprawl-dcr", policy=policy) as dcr_lab, Lab(seed="sprawl-cimd", policy=policy) as cimd_lab:
        host = cimd_lab.add_metadata_host(SPRAWL_HOST, SPRAWL_ADDRESS)
        request = {k: v for k, v in default_client_metadata().items() if k != "client_id"}
        dcr_refused = 0
        for i in range(1, clients + 1):
            # Each registration comes from its own machine: per-source rate limits never trigger,
            # exactly as when many real users install a client.
            response = await register(dcr_lab, {**request, "client_name": f"Agent {i}"}, caller=f"user-{i}")
            dcr_refused += response.status_code != 201
            url = host.publish(
                f"/clients/{i}.json", {**default_client_metadata(client_url(i)), "client_name": f"Agent {i}"}
            )
            page = await open_authorization(cimd_lab, url, default_client_metadata()["redirect_uris"][0])
            if refusal(page) is not None:
                raise RuntimeError(f"CIMD login {i} was refused: {refusal(page)}")
            if i % every == 0 or i == clients:
                points.append(_measure(i, dcr_lab, cimd_lab, dcr_refused))
            dcr_lab.trace.clear()  # the trace is the lab's, not the AS's: keep it out of the numbers
            cimd_lab.trace.clear()
        # A day later nobody has deleted a registration, and every cached document has expired.
        dcr_lab.clock.advance(24 * 3600)
        cimd_lab.clock.advance(24 * 3600)
        a_day_later = {
            "dcr_records": len(dcr_lab.registrations),
            "cimd_fresh_documents": sum(d.expires_at > cimd_lab.clock.now() for d in cimd_lab.cimd_cache.values()),
        }
    last = points[-1]
    bounded = policy.max_cached_documents is not None and last.cimd_cached <= policy.max_cached_documents
    outcome = f"dcr {'capped' if last.dcr_refused else 'grows'}; cimd {'bounded' if bounded else 'unbounded'} cache, 0 records"
    return ExperimentResult(
        experiment="client-id-sprawl",
        policy=policy.name,
        outcome=outcome,
        summary=(
            f"After {clients} clients: DCR left {last.dcr_records} records ({last.dcr_state_bytes:,} bytes of state"
            + (f", {last.dcr_refused} registrations refused by the cap" if last.dcr_refused else "")
            + f"); CIMD left {last.cimd_records} records and {last.cimd_cached} cached documents ({last.cimd_state_bytes:,} bytes)."
        ),
        explanation=(
            "A DCR registration is permanent state at the server: an id, metadata, maybe a secret, kept until someone "
            "deletes it, and nobody knows when a client is gone for good. A CIMD client's identity lives at its URL; "
            "the AS keeps a cache that expires (CIMD §5) and that it may bound, evicting the least recently used "
            "document. The hardened AS caps registrations, but a cap only turns sprawl into refusals."
        ),
        spec=("RFC 7591 §3.2.1", "CIMD -02 §3", "CIMD -02 §5", "MCP 2026-07-28: DCR deprecated"),
        details={
            "points": points,
            "a_day_later": a_day_later,
            "max_cached_documents": policy.max_cached_documents,
            "max_registrations": policy.max_registrations,
        },
    )


def _measure(n: int, dcr_lab: Lab, cimd_lab: Lab, dcr_refused: int) -> SprawlPoint:
    records = list(dcr_lab.registrations.values())
    cached = list(cimd_lab.cimd_cache.values())
    return SprawlPoint(
        clients=n,
        dcr_records=len(records),
        dcr_state_bytes=_state_bytes([[c.client_id, c.metadata, c.client_secret] for c in records]),
        dcr_refused=dcr_refused,
        cimd_records=len(cimd_lab.registrations),
        cimd_cached=len(cached),
        cimd_state_bytes=_state_bytes([[d.url, d.document, d.expires_at] for d in cached]),
    )
