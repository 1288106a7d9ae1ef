"""Every security experiment, under both policies: the naive AS falls for it, the hardened one
does not (or, where no AS policy can help, both show the same cost)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lab_servers import HARDENED, NAIVE
from lab_servers.authorization_server import cimd, rfc7591
from lab_servers.notebook_support import EXERCISES
from lab_servers.security import (
    run_attacker_domain_document,
    run_cache_rules,
    run_client_id_sprawl,
    run_dns_rebinding,
    run_impersonation,
    run_localhost_redirect_caveat,
    run_per_server_secrets,
    run_registration_flood,
    run_ssrf_via_registration,
    run_trust_policy,
)
from lab_servers.security.cimd_rules import EVIL, valid_document
from lab_servers.security.exercises import (
    CRAFTED_URL,
    crafted_document_accepted,
    switches_that_let_rebinding_through,
    which_refused_observed,
)
from lab_servers.security.network_fixtures import FAKE_ADMIN_SECRETS, FAKE_CLOUD_CREDENTIALS
from lab_servers.security.ssrf import ssrf_outcome

pytestmark = pytest.mark.anyio


# Where DCR hurts ---------------------------------------------------------------------------


async def test_dcr_records_grow_with_every_client_while_cimd_leaves_none() -> None:
    result = await run_client_id_sprawl(NAIVE, clients=60, samples=6)
    points = result.details["points"]
    assert [p.dcr_records for p in points] == [10, 20, 30, 40, 50, 60]
    assert all(p.cimd_records == 0 for p in points)
    assert points[-1].dcr_state_bytes > points[0].dcr_state_bytes * 5
    assert result.details["a_day_later"] == {"dcr_records": 60, "cimd_fresh_documents": 0}
    assert result.outcome == "dcr grows; cimd unbounded cache, 0 records"


async def test_the_hardened_as_caps_registrations_and_bounds_its_document_cache() -> None:
    policy = HARDENED.but(max_registrations=25, max_cached_documents=15)
    result = await run_client_id_sprawl(policy, clients=60, samples=6)
    last = result.details["points"][-1]
    assert (last.dcr_records, last.dcr_refused) == (25, 35)
    assert (last.cimd_records, last.cimd_cached) == (0, 15)
    assert result.outcome == "dcr capped; cimd bounded cache, 0 records"


@pytest.mark.parametrize("policy", [NAIVE, HARDENED], ids=["naive", "hardened"])
async def test_a_dcr_impostor_named_like_the_real_app_reads_the_same_at_consent(policy) -> None:
    result = await run_impersonation(policy)
    seen = result.details["consent_identity"]
    assert seen["dcr real"] == seen["dcr impostor"]
    assert "Claude Desktop" in seen["dcr impostor"]


async def test_with_cimd_the_hardened_consent_names_the_impostors_host() -> None:
    result = await run_impersonation(HARDENED)
    assert result.outcome == "dcr indistinguishable; cimd impostor exposed"
    assert "evil.example" in result.details["consent_identity"]["cimd impostor"]
    assert "claude.example" in result.details["consent_identity"]["cimd real"]


async def test_a_naive_consent_page_hides_the_host_so_cimd_impostors_pass_too() -> None:
    result = await run_impersonation(NAIVE)
    assert result.outcome == "dcr indistinguishable; cimd indistinguishable"


async def test_the_naive_as_fetches_internal_urls_at_registration_and_leaks_them() -> None:
    result = await run_ssrf_via_registration(NAIVE)
    assert result.outcome == "leaked"
    assert FAKE_CLOUD_CREDENTIALS["SecretAccessKey"] in result.details["stolen_via_logo"]
    assert set(FAKE_ADMIN_SECRETS.values()) <= set(result.details["kept_by_as"])
    assert all(outcome.startswith("201") for outcome in result.details["registrations"].values())


async def test_the_hardened_as_refuses_each_internal_url_naming_the_special_use_rule() -> None:
    result = await run_ssrf_via_registration(HARDENED)
    assert result.outcome == "refused"
    assert result.details["internal_requests"] == [] and result.details["internal_services_served"] == []
    assert result.summary.startswith("0 of 3 registrations accepted; the AS sent 0 request(s) into its own network")
    for field, outcome in result.details["registrations"].items():
        assert outcome.startswith("400 invalid_client_metadata"), outcome
        assert f"{field} host" in outcome and "special-use address" in outcome and "8.6" in outcome


async def test_a_blind_ssrf_is_reported_as_reached_not_as_refused() -> None:
    # An AS that prefetches only logos, and keeps only raster images: the attacker's logo_uri is
    # fetched and refused, but jwks_uri and sector_identifier_uri register with 201 and the AS has
    # already sent a request into its network (CIMD -02 §8.6): no secret comes back, yet it is SSRF.
    policy = NAIVE.but(logos_must_be_raster_images=True, fetched_metadata_urls=("logo_uri",))
    result = await run_ssrf_via_registration(policy)
    assert result.outcome == "reached"
    assert result.details["internal_services_served"] == [
        "cloud-metadata /latest/meta-data/iam/security-credentials/lab-as-role"
    ]
    assert [status[:3] for status in result.details["registrations"].values()] == ["400", "201", "201"]
    assert result.summary.startswith(
        "2 of 3 registrations accepted; the AS sent 1 request(s) into its own network, 1 answered"
    )


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [
        (NAIVE, "rebinding never reached an internal service"),
        (HARDENED.but(name="hardened-without-pin", pin_vetted_address=False), "rebinding reached an internal service"),
        (HARDENED, "rebinding never reached an internal service"),
    ],
    ids=["naive", "check-without-pin", "hardened"],
)
async def test_dns_rebinding_only_fails_when_the_vetted_address_is_pinned(policy, outcome) -> None:
    result = await run_dns_rebinding(policy)
    assert result.outcome == outcome


async def test_the_naive_as_reaches_the_admin_service_by_the_plain_name_not_by_rebinding() -> None:
    # With no address check there is nothing to rebind past: one lookup of the rebinding name gets
    # the public address, while private.evil.example leads straight to 10.0.0.5 (CIMD -02 §8.6).
    result = await run_dns_rebinding(NAIVE)
    assert result.details["internal_requests"] == []
    assert result.details["connections"] == {
        "private.evil.example": "looked up 1×, connected to 10.0.0.5 → 200",
        "rebind.evil.example": "looked up 1×, connected to 93.184.216.66 → 200",
    }


async def test_the_rebinding_summary_says_where_the_as_connected_and_claims_no_pin_it_did_not_use() -> None:
    # Pinning off, but the trust policy refuses every evil.example name before any lookup: the
    # summary must come from that, not from a sentence about a pinned address.
    policy = HARDENED.but(pin_vetted_address=False, denied_client_domains=("*.evil.example",))
    result = await run_dns_rebinding(policy)
    assert result.outcome == "rebinding never reached an internal service"
    assert "pinned" not in result.summary and "connected only to that address" not in result.summary
    assert result.summary.startswith("private.evil.example: looked up 0×, never connected; refused.")


async def test_exercise_1s_answer_key_is_what_the_hardened_as_does_with_each_case() -> None:
    observed = await which_refused_observed(HARDENED)
    assert {case: verdict for case, (verdict, _) in observed.items()} == EXERCISES["05-which-refused"].expected(None)
    # (c) is decided by the special-use rule (CIMD -02 §8.6, RFC 6598), before any connection.
    assert "special-use address 100.64.0.7 (carrier-grade NAT, RFC 6598)" in str(observed["c"][1])
    assert "not exactly the URL" in str(observed["a"][1])


async def test_exercise_1s_check_fails_for_an_as_that_compares_ids_loosely() -> None:
    # The check can fail: without the exact-string comparison (CIMD -02 §4), (a) gets through.
    observed = await which_refused_observed(HARDENED.but(require_client_id_match=False))
    assert observed["a"] == ("accepted", None)


async def test_exercise_3s_answer_is_the_only_hardened_switch_that_lets_rebinding_through() -> None:
    assert await switches_that_let_rebinding_through() == [EXERCISES["05-rebinding-rule"].expected(None)]


@pytest.mark.parametrize(
    ("secrets", "statuses", "outcome"),
    [
        ([FAKE_ADMIN_SECRETS["database_password"]], [None], "leaked"),
        ([], [200], "reached"),
        # A request into the network that nothing answered is still the forbidden attempt
        # (CIMD -02 §8.6): a blind SSRF, never "refused".
        ([], [None], "attempted"),
        ([], [], "registered, nothing fetched inside"),
    ],
)
def test_the_ssrf_verdict_counts_an_unanswered_request_inside_as_an_attempt(
    secrets: list[str], statuses: list[int | None], outcome: str
) -> None:
    inside = [SimpleNamespace(status=status) for status in statuses]
    assert ssrf_outcome(secrets, inside, [201, 400]) == outcome  # type: ignore[arg-type]
    if not secrets and not inside:
        assert ssrf_outcome([], [], [400, 400]) == "refused"


def _nested(depth: int) -> dict[str, object]:
    outer: dict[str, object] = {}
    inner = outer
    for _ in range(depth):
        inner["x"] = inner = {}
    return outer


async def test_exercise_2s_check_accepts_a_flawless_document_with_its_own_redirect_uri() -> None:
    # The browser asks for the document's own redirect URI (compared exactly, OAuth 2.1 §2.3.1),
    # so a flawless document is accepted whichever callback it names, and nothing else decides.
    said: list[str] = []
    document = valid_document(CRAFTED_URL, client_name="Claude Desktop", redirect_uris=[f"{EVIL}/elsewhere"])
    assert await crafted_document_accepted(document, say=said.append)
    assert said[0] == "✅ The hardened AS accepted it: every rule passed."
    assert "evil.example — “Claude Desktop”" in said[1]
    # What the exercise teaches: the rules passed, so only the host can make a user refuse.
    assert said[2].endswith("the client is vouched for by evil.example, whatever it calls itself.")


async def test_exercise_2s_check_refuses_a_document_that_breaks_a_rule_and_names_it() -> None:
    said: list[str] = []
    assert not await crafted_document_accepted(valid_document(CRAFTED_URL, client_secret="s3cret"), say=said.append)
    assert said[0].startswith("❌ The hardened AS refused it:") and "client_secret" in said[0]
    assert said[1:] == ["   Fix the rule it names and try again."]


@pytest.mark.parametrize(
    ("document", "said"),
    [
        (None, "✏️  Write a document in my_document"),  # the cell as the notebook ships it
        # A set where a list was meant (`{...}` for `[...]`) is no JSON: the check says so, no traceback.
        (valid_document(CRAFTED_URL, redirect_uris={f"{EVIL}/callback"}), "❌ my_document cannot be written as JSON"),
        (valid_document(CRAFTED_URL, client_name=b"bytes"), "❌ my_document cannot be written as JSON"),
        # A redirect URI no browser can send: longer than any URL, or a lone surrogate (RFC 3986 §2).
        (valid_document(CRAFTED_URL, redirect_uris=[f"{EVIL}/" + "a" * 70_000]), "❌ The browser cannot even send"),
        (valid_document(CRAFTED_URL, redirect_uris=["\ud800"]), "❌ The browser cannot even send"),
        # Nested past what json.dumps can write on any Python (3.13 writes 5,000 levels; 3.11 does not): a
        # RecursionError's traceback came out of the cell.
        (valid_document(CRAFTED_URL, extra=_nested(100_000)), "❌ my_document is nested deeper than"),
    ],
    ids=["unanswered", "set", "bytes", "huge-redirect-uri", "lone-surrogate", "nested-100000-deep"],
)
async def test_exercise_2s_check_answers_a_document_no_as_can_read_with_a_message(document: object, said: str) -> None:
    lines: list[str] = []
    assert not await crafted_document_accepted(document, say=lines.append)  # type: ignore[arg-type]
    assert lines[0].startswith(said)


@pytest.mark.parametrize("policy", [NAIVE, HARDENED], ids=["naive", "hardened"])
async def test_a_confidential_dcr_client_has_a_secret_at_every_server_whatever_the_policy(policy) -> None:
    result = await run_per_server_secrets(policy, servers=3)
    after_rotation = result.details["after_rotation"]
    assert [s.dcr_records for s in after_rotation] == [2, 2, 2]
    assert len({secret for s in after_rotation for secret in s.dcr_secrets}) == 6
    assert result.details["operations"] == {
        "dcr_register": 3,
        "dcr_rotate": 3,
        "dcr_revoke": 3,
        "cimd_publish": 1,
        "cimd_rotate": 1,
    }
    assert all(s.cimd_records == 0 and s.cimd_cached == 1 for s in result.details["after_revocation"])
    # Revoking the leaked secret deletes the first registration at each server, and only it: the
    # rotated secret stays (RFC 7592 deletion is per server, by that server's operator).
    after_revocation = result.details["after_revocation"]
    assert [s.dcr_secrets for s in after_revocation] == [s.dcr_secrets[1:] for s in after_rotation]


async def test_per_server_state_is_the_same_under_both_policies() -> None:
    naive, hardened = await run_per_server_secrets(NAIVE), await run_per_server_secrets(HARDENED)
    assert naive.details == hardened.details


async def test_a_client_secret_published_in_a_cimd_document_is_counted_where_the_naive_servers_cache_it() -> None:
    # CIMD -02 §4.1: a document MUST NOT hold a client_secret. The naive servers cache it anyway,
    # and the count comes from their caches; the hardened ones refuse the document.
    published = {"client_secret": "FAKE-published-secret"}
    naive = await run_per_server_secrets(NAIVE, servers=3, document_extras=published)
    assert [s.cimd_secrets for s in naive.details["after_revocation"]] == [1, 1, 1]
    assert naive.outcome == "dcr: 3 servers × secrets to manage; cimd: 3 secrets stored"
    assert "The CIMD client left its published secret in 3 servers' document caches" in naive.summary
    hardened = await run_per_server_secrets(HARDENED, servers=3, document_extras=published)
    assert hardened.outcome.endswith("cimd: 0 secrets stored") and len(hardened.details["cimd_refusals"]) == 3
    assert all("client_secret" in why for why in hardened.details["cimd_refusals"].values())  # the rule, named


async def test_the_dcr_secret_counts_are_the_secrets_the_servers_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 7591 §3.2.1: a server mints a client_secret only for a shared-secret method. One that
    # mints none for client_secret_basic holds none, and the summary must say so.
    monkeypatch.setattr(rfc7591, "SHARED_SECRET_METHODS", ())
    result = await run_per_server_secrets(HARDENED, servers=3)
    assert all(s.dcr_secrets == () for s in result.details["after_rotation"])
    assert result.outcome.startswith("dcr: 0 servers × secrets to manage")
    assert "stored 0 secrets" in result.summary and "left 0 secrets stored" in result.summary


async def test_a_registration_flood_exhausts_the_naive_store_and_locks_out_real_users() -> None:
    result = await run_registration_flood(NAIVE, burst=120, store_capacity=100)
    assert result.outcome == "legitimate client locked out"
    assert result.details["statuses"] == {201: 100, 503: 20}
    assert result.details["first_refusal"]["error"] == "temporarily_unavailable"
    assert result.details["victim_status"] == 503


async def test_the_hardened_as_rate_limits_the_flood_with_429_and_retry_after() -> None:
    result = await run_registration_flood(HARDENED, burst=120, store_capacity=100)
    assert result.outcome == "legitimate client registered"
    assert result.details["statuses"] == {201: 20, 429: 100}
    refusal = result.details["first_refusal"]
    assert (refusal["attempt"], refusal["status"], refusal["error"], refusal["retry_after"]) == (
        21,
        429,
        "temporarily_unavailable",
        "60",
    )
    assert "rate limit" in refusal["error_description"]


# CIMD's cache, and what CIMD does not do -----------------------------------------------------


@pytest.mark.parametrize("policy", [NAIVE, HARDENED], ids=["naive", "hardened"])
async def test_max_age_is_honoured_and_errors_are_never_cached(policy) -> None:
    checks = (await run_cache_rules(policy)).details
    assert (checks["within max-age, fetches"], checks["after max-age, fetches"]) == (1, 2)
    assert checks["no-store cached"] is False
    assert (checks["404 accepted"], checks["404 cached"], checks["accepted once published"]) == (False, False, True)


async def test_the_cache_summary_reports_a_cached_no_store_document(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9111 §5.2.2.5: a cache MUST NOT store a no-store response. An AS that does anyway must
    # not be described as one that never caches it.
    honest = cimd.cache_lifetime
    monkeypatch.setattr(
        cimd, "cache_lifetime", lambda cc, policy, **headers: 300 if cc == "no-store" else honest(cc, policy, **headers)
    )
    result = await run_cache_rules(HARDENED)
    assert result.details["no-store cached"] is True
    assert "never cached" not in result.summary
    assert result.summary.endswith("the no-store document cached, against CIMD -02 §5 and RFC 9111 §5.2.2.5.")


async def test_only_the_hardened_as_bounds_a_hosts_max_age() -> None:
    assert (await run_cache_rules(HARDENED)).outcome == "lifetime bounded"
    assert (await run_cache_rules(NAIVE)).outcome == "host decides the lifetime"


async def test_a_bound_of_a_week_is_a_bound_and_the_logins_within_max_age_happened() -> None:
    # CIMD -02 §5: the AS MAY set its own upper bound. A week cut the 10-year max-age as surely as
    # 24 h does; the verdict compared with 24 h and said "host decides the lifetime".
    result = await run_cache_rules(HARDENED.but(max_cache_seconds=7 * 24 * 3600))
    assert result.outcome == "lifetime bounded"
    assert result.details["lifetime kept for max-age=10 years (s)"] == 7 * 24 * 3600
    # One fetch within max-age counts only if the second login was made: seven logins in all.
    assert sum(e.path.startswith("/authorize?") for e in result.exchanges) == 7


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [(NAIVE, "accepted; consent shows only the name"), (HARDENED, "accepted; consent names evil.example")],
    ids=["naive", "hardened"],
)
async def test_a_well_formed_document_on_an_attackers_domain_passes_validation(policy, outcome) -> None:
    assert (await run_attacker_domain_document(policy)).outcome == outcome


@pytest.mark.parametrize("policy", [NAIVE, HARDENED], ids=["naive", "hardened"])
async def test_a_trust_policy_refuses_unlisted_domains_before_fetching_anything(policy) -> None:
    result = await run_trust_policy(policy)
    assert result.outcome == "attacker refused"
    assert result.details["agent_error"] is None
    assert result.details["attacker_fetches"] == 0
    assert "trust policy" in result.details["attacker_error"][1]


@pytest.mark.parametrize(
    ("allowed", "outcome"),
    [(("trusted.example",), "attacker and agent refused"), (("*.example",), "attacker accepted")],
)
async def test_the_trust_policy_verdict_says_what_happened_to_the_attacker(
    allowed: tuple[str, ...], outcome: str
) -> None:
    # An allow list that keeps out the lab's agent too still refused the attacker (MCP §11.6.3):
    # the verdict was "attacker accepted" whenever the agent was refused.
    result = await run_trust_policy(HARDENED, allowed=allowed)
    assert result.outcome == outcome
    assert (result.details["attacker_error"] is None) == (outcome == "attacker accepted")


@pytest.mark.parametrize(
    ("policy", "outcome"),
    [(NAIVE, "accepted silently"), (HARDENED, "accepted with a warning")],
    ids=["naive", "hardened"],
)
async def test_a_localhost_only_cimd_client_can_only_be_warned_about(policy, outcome) -> None:
    assert (await run_localhost_redirect_caveat(policy)).outcome == outcome


async def test_experiments_replay_byte_for_byte() -> None:
    first, second = await run_ssrf_via_registration(NAIVE), await run_ssrf_via_registration(NAIVE)
    assert [e.response_body for e in first.exchanges] == [e.response_body for e in second.exchanges]
    assert first.details == second.details


async def test_the_sprawl_summary_reads_the_last_point_and_names_the_refusals() -> None:
    # The summary is the experiment's sentence (str(result)): the numbers after the last client,
    # and the registrations a cap refused (RFC 7591 sets no limit; the lab's cap turns sprawl into refusals).
    result = await run_client_id_sprawl(HARDENED.but(max_registrations=5), clients=10, samples=2)
    assert result.summary.startswith("After 10 clients: DCR left 5 records (")
    assert "5 registrations refused by the cap); CIMD left 0 records and 10 cached documents" in result.summary
