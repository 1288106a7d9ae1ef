"""Registration flood: an open registration endpoint is a write endpoint for the whole internet.

RFC 7591 lets anyone POST /register and sets no limit. The lab gives the AS's client store a
capacity (a disk, in miniature); a naive AS fills it with an attacker's registrations and then
refuses everyone. The hardened AS rate-limits each source address (429 with Retry-After) and
caps the total, so the attacker's burst is cut off and a real user can still register.
"""

from __future__ import annotations

from collections import Counter

from ..arguments import counted
from ..authorization_server import ASPolicy
from ..lab import Lab, default_client_metadata
from .network_fixtures import ATTACKER_HOST
from .requests import register
from .results import ExperimentResult, oauth_error_of


async def run_registration_flood(policy: ASPolicy, burst: int = 300, store_capacity: int = 250) -> ExperimentResult:
    counted("burst", burst, 300)
    counted("store_capacity", store_capacity, 250)
    async with Lab(seed="flood", policy=policy) as lab:
        lab.auth_server.registry.capacity = store_capacity
        request = {k: v for k, v in default_client_metadata().items() if k != "client_id"}
        statuses: Counter[int] = Counter()
        first_refusal: dict[str, object] | None = None
        for i in range(burst):  # all within one second of the lab clock
            response = await register(lab, {**request, "client_name": f"spam {i}"}, caller=ATTACKER_HOST)
            statuses[response.status_code] += 1
            if response.status_code != 201 and first_refusal is None:
                first_refusal = {"attempt": i + 1, "status": response.status_code, **response.json(),
                                 "retry_after": response.headers.get("retry-after")}  # fmt: skip
        victim = await register(lab, {**request, "client_name": "A real user's agent"}, caller="real-user-laptop")
        records = len(lab.registrations)
        victim_error = oauth_error_of(lab.trace.exchanges[-1])
        exchanges = tuple(lab.trace)
    served = victim.status_code == 201
    return ExperimentResult(
        experiment="registration-flood",
        policy=policy.name,
        outcome="legitimate client registered" if served else "legitimate client locked out",
        summary=(
            f"{burst} registrations from {ATTACKER_HOST}: {dict(sorted(statuses.items()))} by status; the store holds "
            f"{records}/{store_capacity} records; the real user's registration got {victim.status_code}"
            + (f" ({victim_error[0]})." if victim_error else ".")
        ),
        explanation=(
            "Every registration is a write the server must keep. With no limits, one source fills the store and the "
            "endpoint fails for everyone: a denial of service that needs no credentials. Per-source rate limits (429 "
            "with Retry-After) stop a single flooder; a global cap keeps the store from filling but, against many "
            "sources at once, refuses real users too. CIMD needs no registration endpoint at all."
        ),
        spec=("RFC 7591 §3", "RFC 6585 §4 (429)", "RFC 9110 §10.2.3 (Retry-After)"),
        exchanges=exchanges,
        details={
            "statuses": dict(statuses),
            "first_refusal": first_refusal,
            "records": records,
            "victim_status": victim.status_code,
        },
    )
