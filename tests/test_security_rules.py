"""The CIMD rules table, and the mechanisms underneath it: address judgement, pinning, the
bounded cache, registration limits."""

from __future__ import annotations

import ipaddress

import pytest

from lab_servers import HARDENED, NAIVE, Lab
from lab_servers.authorization_server.cimd import CachedDocument, DocumentCache
from lab_servers.authorization_server.defensive_fetch import (
    _IPV4_BLOCKS,
    _IPV6_BLOCKS,
    FetchRefused,
    defensive_fetch,
    special_use_kind,
)
from lab_servers.security import RULE_CASES, run_cimd_rule, run_cimd_rules
from lab_servers.security.cimd_rules import json_response, rules_outcome, valid_document
from lab_servers.security.network_fixtures import (
    CLOUD_CREDENTIALS_PATH,
    FAKE_CLOUD_CREDENTIALS,
    REBINDING_HOST,
    add_internal_network,
    leaked_secrets,
)
from lab_servers.security.report import policy_table, results_table, rules_table, sprawl_chart
from lab_servers.security.requests import open_authorization, refusal, register

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("case", RULE_CASES, ids=[c.id for c in RULE_CASES])
async def test_each_cimd_rule_is_enforced_by_the_hardened_as_with_an_error_naming_it(case) -> None:
    result = await run_cimd_rule(case, HARDENED)
    if case.accepted_when_hardened:
        assert result.outcome == "accepted", result.summary
        return
    assert result.outcome == "refused"
    assert result.details["error"] in ("invalid_client", "invalid_request")
    assert case.hardened_error in result.details["error_description"]
    assert result.details["records"] == 0
    assert result.details["cached"] == ([case.client_id] if case.document_is_valid else [])
    assert result.details["internal_requests"] == []


async def test_a_redirect_to_the_cloud_metadata_service_is_stopped_by_the_no_redirect_rule_alone() -> None:
    # CIMD -02 §5: with only that rule switched off, the AS follows the 307 and the metadata
    # service answers; the address vetted for evil.example does not travel with the redirect.
    case = next(c for c in RULE_CASES if c.id == "redirect-to-cloud-metadata")
    following = await run_cimd_rule(case, HARDENED.but(follow_redirects=True))
    assert following.details["internal_requests"] == [
        "169.254.169.254 /latest/meta-data/iam/security-credentials/lab-as-role → 200"
    ]
    assert (await run_cimd_rule(case, HARDENED)).details["internal_requests"] == []


async def test_a_slow_document_is_judged_by_each_policys_own_timeout() -> None:
    # The naive AS waits 30 s and the hardened one 2 s: on the case's time scale, the naive one
    # outwaits the slow answer and accepts it, the hardened one gives up first.
    case = next(c for c in RULE_CASES if c.id == "slow")
    naive, hardened = await run_cimd_rule(case, NAIVE), await run_cimd_rule(case, HARDENED)
    assert naive.outcome == "accepted", naive.summary
    assert hardened.outcome == "refused" and "timeout" in hardened.details["error_description"]
    assert naive.details["fetch_timeout_seconds"] / hardened.details["fetch_timeout_seconds"] == pytest.approx(
        NAIVE.fetch_timeout_seconds / HARDENED.fetch_timeout_seconds
    )


async def test_the_naive_as_accepts_most_hostile_inputs_and_fetches_from_its_own_network() -> None:
    result = await run_cimd_rules(NAIVE)
    accepted = {row["case"] for row in result.details["rows"] if row["outcome"] == "accepted"}
    assert {"http-scheme", "fragment", "redirect", "too-large", "client-secret", "host-case"} <= accepted
    assert sum(row["internal_requests"] for row in result.details["rows"]) >= 4


@pytest.mark.parametrize(
    ("case_id", "attempt"),
    [
        ("address-loopback", "127.0.0.1 /client.json → nothing answered"),
        ("address-cgnat", "100.64.0.7 /client.json → nothing answered"),
        ("address-ipv6-loopback", "::1 /client.json → nothing answered"),
        ("address-nat64", "64:ff9b::a00:5 /api/secrets → nothing answered"),
        ("address-private", "10.0.0.5 /api/secrets → 200"),
    ],
)
async def test_every_request_the_naive_as_sends_to_a_special_use_address_counts_answered_or_not(
    case_id: str, attempt: str
) -> None:
    # CIMD -02 §8.6 forbids sending the request; that nothing listens at 127.0.0.1 in the lab is luck.
    case = next(c for c in RULE_CASES if c.id == case_id)
    result = await run_cimd_rule(case, NAIVE)
    assert result.details["internal_requests"] == [attempt]
    assert result.details["internal_answered"] == int(attempt.endswith("200"))


async def test_the_rules_table_marks_an_unanswered_attempt_inside_the_network_as_an_attempt() -> None:
    naive, hardened = await run_cimd_rules(NAIVE), await run_cimd_rules(HARDENED)
    row = next(r for r in naive.details["rows"] if r["case"] == "address-loopback")
    assert (row["outcome"], row["internal_requests"], row["internal_answered"]) == ("refused", 1, 0)
    html = rules_table(naive, hardened)._repr_html_()
    assert "refused · attempted inside the network ×1 (nothing listened)" in html
    assert "sent 9 request(s) into its own network, 5 of them answered" in naive.summary


async def test_the_hardened_as_enforces_every_rule() -> None:
    assert (await run_cimd_rules(HARDENED)).outcome == "every rule enforced"


# The ASPolicy field each row of the rules table shows: switched to the naive policy's value
# alone, the row's input gets through (accepted, or fetched inside the AS's network). A row
# whose input every AS refuses (the naive one too) names no field.
_URL_RULE = ("http-scheme", "no-path", "root-path", "fragment", "dot-segment", "encoded-dot-segment", "query")
_MATCH_RULE = ("trailing-slash", "host-case", "default-port", "percent-encoding", "someone-elses-id")
RULE_FIELDS: dict[str, str | None] = {
    **dict.fromkeys(_URL_RULE, "require_https_client_id"),
    **dict.fromkeys(_MATCH_RULE, "require_client_id_match"),
    "client-secret": "forbid_shared_secrets_in_document", "shared-secret-method": "forbid_shared_secrets_in_document",
    "no-client-name": "require_mcp_document_fields", "redirect-not-in-document": "exact_redirect_uri_match",
    "redirect": "follow_redirects", "redirect-to-cloud-metadata": "follow_redirects", "too-large": "max_document_bytes",
    "slow": "fetch_timeout_seconds", "html-content-type": "require_json_content_type",
    **{c.id: "block_special_use_addresses" for c in RULE_CASES if c.id.startswith("address-")},
    # A URL with userinfo is no URL the AS's fetch sends, whatever the policy: httpx would send it
    # as Authorization: Basic (RFC 9110 §4.2.4; defensive_fetch).
    **dict.fromkeys(("userinfo", "private-key-jwt-without-keys", "private-key-material", "no-redirect-uris", "not-json",
                     "json-array", "status-404", "status-203")),
}  # fmt: skip


# A row whose input, its own rule switched off alone, another rule of the hardened AS still
# refuses (the row's text says which): a followed redirect serves the document from another URL
# than its client_id, which the id-match rule compares too (CIMD §4).
BACKSTOPS = {"redirect": "is the client_id requested, but not exactly the URL it was fetched from"}


@pytest.mark.parametrize("case", [c for c in RULE_CASES if not c.accepted_when_hardened], ids=lambda c: c.id)
async def test_each_row_shows_its_own_rule_switching_it_off_alone_lets_the_input_through(case) -> None:
    field = RULE_FIELDS[case.id]
    if field is None:  # every AS refuses it, for a reason the naive AS shares
        assert (await run_cimd_rule(case, NAIVE)).outcome == "refused"
        return
    without = await run_cimd_rule(case, HARDENED.but(**{field: getattr(NAIVE, field)}))
    if case.id in BACKSTOPS:
        assert BACKSTOPS[case.id] in without.details["error_description"] and "(§4)" in case.rule
        return
    # A request into the AS's own network is what §8.6 and §5 forbid, whatever the AS does with the answer.
    assert without.outcome == "accepted" or without.details["internal_requests"], without.summary


async def test_a_percent_encoded_dot_segment_is_refused_by_the_url_rule_not_by_a_404() -> None:
    # The host routes on the decoded path /x/../client.json; a document published only at
    # /client.json made the naive AS "refuse" it with a 404 (CIMD §3 was never reached).
    case = next(c for c in RULE_CASES if c.id == "encoded-dot-segment")
    naive, hardened = await run_cimd_rule(case, NAIVE), await run_cimd_rule(case, HARDENED)
    assert naive.outcome == "accepted", naive.summary
    assert "encoded or not (section 3)" in hardened.details["error_description"]


async def test_no_redirect_uris_is_refused_at_the_fetch_and_without_the_rule_by_redirect_matching() -> None:
    # MCP §5.1.1's rule refuses it when the document is fetched, nothing cached; no AS could
    # accept it at /authorize anyway (OAuth 2.1 §4.1.1: no redirect URI to match), and the row says so.
    case = next(c for c in RULE_CASES if c.id == "no-redirect-uris")
    hardened = await run_cimd_rule(case, HARDENED)
    without = await run_cimd_rule(case, HARDENED.but(require_mcp_document_fields=False))
    assert "the document has no redirect_uris" in hardened.details["error_description"]
    assert hardened.details["cached"] == []
    assert "is not in the client's metadata document" in without.details["error_description"]
    assert without.details["cached"] == [case.client_id]
    assert "redirect matching" in case.rule


def test_refusing_every_input_after_a_request_inside_the_network_is_not_every_rule_enforced() -> None:
    # CIMD -02 §8.6 forbids the request itself (HARDENED.but(block_special_use_addresses=False)
    # refuses all 37 inputs, after 8 requests inside); the verdict was "0 hostile inputs accepted".
    assert rules_outcome([], 8) == "every hostile input refused, but 8 request(s) sent into its own network"
    assert rules_outcome(["valid-looking"], 8) == "1 hostile inputs accepted"
    assert rules_outcome([], 0) == "every rule enforced"


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"), ("100.64.0.1", "carrier-grade NAT"), ("0.0.0.0", "unspecified"),
        ("::1", "loopback"), ("fe80::1", "link-local"), ("fc00::1", "private"), ("::ffff:10.0.0.1", "carried inside"),
        ("::ffff:169.254.169.254", "link-local"), ("64:ff9b::7f00:1", "carried inside"), ("2002:a00:1::", "carried inside"),
        ("::10.0.0.1", "carried inside"), ("224.0.0.1", "multicast"), ("192.0.2.1", "documentation"), ("240.0.0.1", "reserved"),
        ("::ffff:192.0.0.137", "IETF protocol assignments, RFC 6890, carried inside"),
        ("2002:c000:89::1", "IETF protocol assignments, RFC 6890, carried inside"),
        ("64:ff9b::c058:6301", "6to4 relay anycast (deprecated, RFC 7526), carried inside"),
    ],
)  # fmt: skip
def test_special_use_addresses_are_recognised_whatever_their_form(address: str, kind: str) -> None:
    judged = special_use_kind(address)
    assert judged is not None and kind in judged


# One address inside each block of the table in defensive_fetch, with the kind the refusal names
# (IANA IPv4 and IPv6 Special-Purpose Address Registries; RFC 6890 and its updates). Python
# 3.11's `ipaddress` flags, which the AS used to rely on, called 192.0.0.8, 192.0.0.137,
# 192.88.99.1, 3fff::1, fec0::1 and 64:ff9b:1::5db8:d822 public.
EVERY_BLOCK = [
    ("0.0.0.0", 'unspecified, "this host on this network", RFC 1122'),
    ("0.1.2.3", '"this network", RFC 791'),
    ("10.1.2.3", "private"),
    ("100.64.0.1", "carrier-grade NAT, RFC 6598"),
    ("127.0.0.1", "loopback"),
    ("169.254.169.254", "link-local, where cloud metadata services live"),
    ("172.31.255.254", "private"),
    ("192.0.0.2", "IPv4 service continuity prefix (DS-Lite), RFC 7335"),
    ("192.0.0.8", "IPv4 dummy address, RFC 7600"),
    ("192.0.0.170", "NAT64/DNS64 discovery, RFC 7050"),
    ("192.0.0.171", "NAT64/DNS64 discovery, RFC 7050"),
    ("192.0.0.137", "IETF protocol assignments, RFC 6890"),
    ("192.0.2.1", "documentation (TEST-NET-1), RFC 5737"),
    ("192.88.99.1", "6to4 relay anycast (deprecated, RFC 7526)"),
    ("192.168.1.1", "private"),
    ("198.19.0.9", "benchmarking, RFC 2544"),
    ("198.51.100.7", "documentation (TEST-NET-2), RFC 5737"),
    ("203.0.113.9", "documentation (TEST-NET-3), RFC 5737"),
    ("239.255.255.250", "multicast"),
    ("255.255.255.255", "limited broadcast, RFC 919"),
    ("240.0.0.1", "reserved"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("64:ff9b:1::5db8:d822", "local-use IPv4/IPv6 translation, RFC 8215"),
    ("100::1", "discard-only, RFC 6666"),
    ("100:0:0:1::1", "dummy IPv6 prefix, RFC 9780"),
    ("2001::5db8:d822", "Teredo, RFC 4380"),
    ("2001:1::1", "Port Control Protocol anycast, RFC 7723 (in IETF protocol assignments)"),
    ("2001:1::2", "TURN anycast, RFC 8155 (in IETF protocol assignments)"),
    ("2001:1::3", "DNS-SD service registration protocol anycast, RFC 9665 (in IETF protocol assignments)"),
    ("2001:2::1", "benchmarking, RFC 5180"),
    ("2001:3::1", "AMT, RFC 7450 (in IETF protocol assignments)"),
    ("2001:4:112::1", "AS112-v6, RFC 7535 (in IETF protocol assignments)"),
    ("2001:10::1", "ORCHID (deprecated, RFC 4843)"),
    ("2001:20::1", "ORCHIDv2, RFC 7343 (in IETF protocol assignments)"),
    ("2001:30::1", "drone remote ID entity tags, RFC 9374 (in IETF protocol assignments)"),
    ("2001:100::1", "IETF protocol assignments, RFC 2928"),
    ("2001:db8::1", "documentation, RFC 3849"),
    ("3fff::1", "documentation, RFC 9637"),
    ("5f00::1", "segment routing (SRv6) SIDs, RFC 9602"),
    ("fd00:ec2::254", "private (unique local, RFC 4193)"),  # AWS's IPv6 metadata service
    ("fe80::1", "link-local, where cloud metadata services live"),
    ("fec0::1", "site-local (deprecated, RFC 3879)"),
    ("ff02::1", "multicast"),
    ("4000::1", "reserved"),
]


@pytest.mark.parametrize(("address", "kind"), EVERY_BLOCK, ids=[a for a, _ in EVERY_BLOCK])
def test_every_special_use_block_is_refused_naming_its_kind(address: str, kind: str) -> None:
    assert special_use_kind(address) == kind


def test_every_refusing_block_of_the_table_has_a_case() -> None:
    covered = {ipaddress.ip_address(a) for a, _ in EVERY_BLOCK}
    for block, kind in (*_IPV4_BLOCKS, *_IPV6_BLOCKS):
        if kind is not None:
            assert any(a in ipaddress.ip_network(block) for a in covered), block


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.30", "93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "2606:2800:220:1:248:1893:25c8:1946",
        "::ffff:93.184.215.30", "64:ff9b::808:808", "2002:5db8:d822::1",
        # Globally reachable in the registry, so deliberately allowed (see defensive_fetch):
        "192.0.0.9", "192.0.0.10", "192.31.196.1", "192.52.193.1", "192.175.48.1", "2620:4f:8000::1",
    ],
)  # fmt: skip
def test_public_addresses_are_not_special_use(address: str) -> None:
    assert special_use_kind(address) is None


async def test_the_hardened_as_refuses_a_client_id_whose_host_resolves_into_the_ietf_protocol_block() -> None:
    # CIMD -02 §8.6 and RFC 6890: 192.0.0.0/24 is not globally reachable. Python 3.11's flags
    # called 192.0.0.137 public, and the hardened AS fetched and cached the document.
    host, url = "proto.evil.example", "https://proto.evil.example/client.json"
    async with Lab(policy=HARDENED) as lab:
        lab.add_metadata_host(host, "192.0.0.137").publish_response(
            "/client.json", json_response(valid_document(url, redirect_uris=[f"https://{host}/callback"]))
        )
        page = await open_authorization(lab, url, f"https://{host}/callback")
        refused = refusal(page)
        assert refused is not None and refused[0] == "invalid_client"
        assert "special-use address 192.0.0.137 (IETF protocol assignments, RFC 6890)" in refused[1]
        assert [e for e in lab.trace if e.host == host] == []
        assert lab.cimd_cache == {}


async def test_the_hardened_as_looks_a_name_up_once_and_connects_to_that_address() -> None:
    async with Lab(policy=HARDENED) as lab:
        internal = add_internal_network(lab)
        url = f"https://{REBINDING_HOST}/client.json"
        internal.attacker.publish("/client.json", valid_document(url))
        page = await open_authorization(lab, url, "https://evil.example/callback")
        assert refusal(page) is None
        fetch = next(e for e in lab.trace if e.host == REBINDING_HOST)
        assert fetch.address == "93.184.216.66"
        assert lab.network.dns._lookups[REBINDING_HOST] == 1
        assert internal.reached == []


@pytest.mark.parametrize("what", ["client_id", "jwks_uri", "logo_uri", "sector_identifier_uri"])
async def test_no_fetch_sends_a_urls_userinfo_whatever_the_policy(what: str) -> None:
    # RFC 9110 §4.2.4: httpx turns `user:pw@` into Authorization: Basic, credentials the client
    # chose presented by the AS. The fetch refuses the URL under the naive policy too, whose own
    # checks let a client_id with userinfo through (§3's rule is require_https_client_id's).
    async with Lab(policy=NAIVE) as lab:
        add_internal_network(lab)
        async with lab.network.httpx_client("auth.example.com") as http:
            with pytest.raises(FetchRefused, match=r"has userinfo.*RFC 9110 §4\.2\.4.*never sends credentials"):
                await defensive_fetch(
                    "https://user:pw@evil.example/x.json", what=what, http=http, resolve=lab.network.dns.resolve_all,
                    policy=NAIVE,
                )  # fmt: skip
        assert [e for e in lab.trace if e.host == "evil.example"] == []


def test_the_document_cache_evicts_the_least_recently_used_document() -> None:
    cache = DocumentCache()
    for name in "abc":
        cache.store(CachedDocument(name, {}, 0, 100), max_entries=2)
    assert list(cache) == ["b", "c"]
    assert cache.fresh("b", now=1) is not None
    cache.store(CachedDocument("d", {}, 0, 100), max_entries=2)
    assert list(cache) == ["b", "d"]
    assert cache.fresh("d", now=100) is None and "d" not in cache  # expired entries are dropped


async def test_the_registration_cap_answers_429_naming_the_cap() -> None:
    async with Lab(policy=HARDENED.but(max_registrations=2, registration_rate_limit=None)) as lab:
        body = {"client_name": "x", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}
        statuses = [(await register(lab, body)).status_code for _ in range(3)]
        refused = await register(lab, body)
    assert statuses == [201, 201, 429]
    assert (
        refused.json()["error"] == "temporarily_unavailable"
        and "registration cap" in refused.json()["error_description"]
    )
    assert len(lab.registrations) == 2


async def test_the_rate_limit_window_moves_with_the_lab_clock() -> None:
    async with Lab(policy=HARDENED.but(registration_rate_limit=(2, 60))) as lab:
        body = {"client_name": "x", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}
        first = [(await register(lab, body)).status_code for _ in range(3)]
        lab.clock.advance(60)
        later = (await register(lab, body)).status_code
    assert first == [201, 201, 429] and later == 201


async def test_a_naive_registration_with_no_special_urls_fetches_nothing() -> None:
    async with Lab(policy=NAIVE) as lab:
        body = {"client_name": "x", "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}
        assert (await register(lab, body)).status_code == 201
    assert [e.path for e in lab.trace] == ["/register"]


async def test_notebook_05s_views_name_a_forgotten_await_and_a_result_they_cannot_draw() -> None:
    # Each view is called with `await run_…(…)` in a cell; without the await it got a coroutine and
    # raised AttributeError from inside (and Python warned the coroutine was never awaited).
    forgotten = run_cimd_rule(RULE_CASES[0], HARDENED)
    with pytest.raises(
        TypeError, match=r"results_table takes experiment results.*got a coroutine .*did you forget `await`\?"
    ):
        results_table(forgotten)  # type: ignore[arg-type]
    assert forgotten.cr_frame is None  # closed: no "never awaited" warning follows the message
    one_rule = await run_cimd_rule(RULE_CASES[0], HARDENED)
    with pytest.raises(ValueError, match=r"rules_table draws other experiments' results.*got cimd-rule:valid's"):
        rules_table(one_rule, one_rule)
    with pytest.raises(ValueError, match=r"sprawl_chart draws other experiments' results.*got cimd-rule:valid's"):
        sprawl_chart(one_rule)
    with pytest.raises(TypeError, match=r"policy_table takes policies.*got str 'hardened'"):
        policy_table("hardened")  # type: ignore[arg-type]


async def test_a_rule_case_may_be_named_by_its_id_and_an_unknown_one_is_named() -> None:
    # The rules table shows ids ("client-secret"); run_cimd_rule("client-secret", …) raised AttributeError.
    assert (await run_cimd_rule("client-secret", HARDENED)).outcome == "refused"
    with pytest.raises(ValueError, match=r"unknown rule case 'client_secret' \(did you mean 'client-secret'\?\)"):
        await run_cimd_rule("client_secret", HARDENED)


def test_each_labs_internal_services_serve_copies_of_the_fake_secrets() -> None:
    # The cloud metadata service held the module's own dict: a change to what one lab's service
    # serves reached every later lab's, and leaked_secrets (which reads the module) missed it.
    served = add_internal_network(Lab(seed=0)).cloud_metadata.routes[CLOUD_CREDENTIALS_PATH]
    served["SecretAccessKey"] = "changed"
    later = add_internal_network(Lab(seed=0)).cloud_metadata.routes[CLOUD_CREDENTIALS_PATH]
    assert later["SecretAccessKey"] == "FAKE-lab-secret-key-not-real-0000000000"
    assert later == FAKE_CLOUD_CREDENTIALS and leaked_secrets(str(later)) == [later["SecretAccessKey"]]
