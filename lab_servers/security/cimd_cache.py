"""Caching CIMD documents: fetch less (CIMD -02 §9: every fetch tells the host who is logging in),
but never remember an error, never trust a lifetime beyond the AS's own bound, and never let the
cache grow without limit.
"""

from __future__ import annotations

from ..authorization_server import ASPolicy
from ..lab import Lab
from .cimd_rules import DOCUMENT_URL, EVIL, REDIRECT_URI, json_response, valid_document
from .network_fixtures import add_internal_network
from .requests import open_authorization, refusal
from .results import ExperimentResult

YEARS = 10 * 365 * 24 * 3600


async def run_cache_rules(policy: ASPolicy) -> ExperimentResult:
    async with Lab(seed="cache", policy=policy) as lab:
        attacker = add_internal_network(lab).attacker

        def fetches() -> int:
            return sum(e.host == attacker.hostname for e in lab.trace)

        async def login(url: str = DOCUMENT_URL) -> bool:
            return refusal(await open_authorization(lab, url, REDIRECT_URI)) is None

        checks: dict[str, object] = {}
        # 1. max-age is honoured: a second login within it fetches nothing.
        attacker.publish_response("/client.json", json_response(valid_document(), cache_control="max-age=60"))
        await login()
        lab.clock.advance(30)
        await login()
        checks["within max-age, fetches"] = fetches()
        lab.clock.advance(31)
        await login()
        checks["after max-age, fetches"] = fetches()
        # 2. An absurd max-age is cut to the AS's upper bound.
        attacker.publish_response("/client.json", json_response(valid_document(), cache_control=f"max-age={YEARS}"))
        lab.clock.advance(61)
        await login()
        entry = lab.cimd_cache[DOCUMENT_URL]
        checks["lifetime kept for max-age=10 years (s)"] = entry.expires_at - entry.fetched_at
        # 3. no-store means no cache.
        attacker.publish_response(
            "/nostore.json", json_response(valid_document(f"{EVIL}/nostore.json"), cache_control="no-store")
        )
        await login(f"{EVIL}/nostore.json")
        checks["no-store cached"] = f"{EVIL}/nostore.json" in lab.cimd_cache
        # 4. Errors are never cached: a 404, then the document appears and the next login works.
        missing = f"{EVIL}/later.json"
        checks["404 accepted"] = await login(missing)
        checks["404 cached"] = missing in lab.cimd_cache
        attacker.publish_response("/later.json", json_response(valid_document(missing)))
        checks["accepted once published"] = await login(missing)
        exchanges = tuple(lab.trace)
    # Bounded when the AS kept less than the host asked for, whatever its bound (a week is one too);
    # comparing with the hardened policy's 24 h called a week's bound "host decides the lifetime".
    bounded = checks["lifetime kept for max-age=10 years (s)"] < YEARS  # type: ignore[operator]
    return ExperimentResult(
        experiment="cimd-cache",
        policy=policy.name,
        outcome="lifetime bounded" if bounded else "host decides the lifetime",
        summary=(
            f"max-age honoured ({checks['within max-age, fetches']} fetch within it, {checks['after max-age, fetches']} after); "
            f"a 10-year max-age was kept {checks['lifetime kept for max-age=10 years (s)']} s; "
            f"{what_was_never_cached(checks)}."
        ),
        explanation=(
            "HTTP caching (RFC 9111) lets the host say how long its document may be reused, and the AS SHOULD "
            "respect it (CIMD §5). The AS MAY set its own bounds: without an upper bound, a document served once "
            "with a huge max-age stays trusted long after the host has changed or revoked it. Errors and invalid "
            "documents MUST NOT be cached, or one failed fetch would lock a client out."
        ),
        spec=("CIMD -02 §5", "CIMD -02 §9", "RFC 9111 §5.2.2.1"),
        exchanges=exchanges,
        details=checks,
    )


def what_was_never_cached(checks: dict[str, object]) -> str:
    """The cache's refusals as observed: a 404 (CIMD -02 §5: errors MUST NOT be cached) and a
    no-store document (RFC 9111 §5.2.2.5: MUST NOT store any part of it)."""
    error_cached, no_store_cached = bool(checks["404 cached"]), bool(checks["no-store cached"])
    if not error_cached and not no_store_cached:
        return "errors and no-store never cached"
    cached = [what for what, kept in (("the 404", error_cached), ("the no-store document", no_store_cached)) if kept]
    return " and ".join(cached) + " cached, against CIMD -02 §5 and RFC 9111 §5.2.2.5"
