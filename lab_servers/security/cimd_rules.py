"""The rules that keep CIMD safe, each shown by a URL, a document or a response that breaks it.

Every case is one hostile or malformed input on the attacker's host. Under the hardened policy
each is refused at /authorize, before consent, with an error naming the rule (the user sees it
on an error page: OAuth 2.1 §4.1.2.1 forbids redirecting when the client is in doubt). Under the
naive policy many are accepted, and some make the AS fetch from its own network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..arguments import one_of
from ..authorization_server import ASPolicy
from ..lab import Lab, default_client_metadata
from ..lab_arguments import as_policy
from ..metadata_host import HostedResponse
from .network_fixtures import (
    ADMIN_SECRETS_PATH,
    ATTACKER_HOST,
    CLOUD_CREDENTIALS_PATH,
    add_internal_network,
    answered,
    described,
    requests_into_the_network,
)
from .requests import open_authorization, refusal
from .results import ExperimentResult

EVIL = f"https://{ATTACKER_HOST}"
DOCUMENT_URL = f"{EVIL}/client.json"
REDIRECT_URI = f"{EVIL}/callback"


def valid_document(client_id: str = DOCUMENT_URL, **changes: Any) -> dict[str, Any]:
    """A document the hardened AS accepts; `changes` break it (None removes a field)."""
    document = {**default_client_metadata(client_id), "client_uri": EVIL, "redirect_uris": [REDIRECT_URI]}
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def json_response(
    document: Any, *, status: int = 200, content_type: str = "application/json", cache_control: str = "max-age=300"
) -> HostedResponse:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return HostedResponse(body, status, {"content-type": content_type, "cache-control": cache_control})


@dataclass(frozen=True)
class RuleCase:
    id: str
    rule: str  # the rule the input breaks, in words, with its section
    client_id: str  # what the client sends as client_id
    served: dict[str, HostedResponse] = field(default_factory=dict)  # path on evil.example → response
    redirect_uri: str = REDIRECT_URI
    hardened_error: str = ""  # a phrase the hardened AS's error description contains
    accepted_when_hardened: bool = False
    document_is_valid: bool = False  # the request is at fault, not the document (which may be cached)
    policy_changes: dict[str, Any] = field(default_factory=dict)  # applied to every policy the case runs under
    # A slow case runs faster than real time: each policy's own fetch timeout is multiplied by this,
    # so every policy keeps its timeout relative to the delay (the naive AS still outwaits it).
    time_scale: float = 1.0

    def policy_for(self, policy: ASPolicy) -> ASPolicy:
        """`policy` as this case runs it: its changes applied, its timeout on the case's time scale."""
        policy = as_policy(policy)  # before `but`: "hardened" as a string has none
        changed = policy.but(**self.policy_changes) if self.policy_changes else policy
        if self.time_scale == 1.0:
            return changed
        return changed.but(fetch_timeout_seconds=changed.fetch_timeout_seconds * self.time_scale)


def _doc(**changes: Any) -> dict[str, HostedResponse]:
    return {"/client.json": json_response(valid_document(**changes))}


_PADDING = "x" * 6000
# The slow document answers after 4 s, run 10 times faster: 0.4 s against a hardened timeout of
# 2 s → 0.2 s and a naive one of 30 s → 3 s. The margins are real time (the fetch timeout is
# anyio's, not the lab clock's), so they are wide: the naive verdict would flip only if the
# event loop stalled for 2.6 s, where 40 times faster (0.3 s against 0.75 s) flipped at 0.45 s.
_SLOW_SPEEDUP = 10
_SLOW_ANSWER_SECONDS = 4.0
RULE_CASES: tuple[RuleCase, ...] = (
    RuleCase("valid", "a well-formed document is accepted", DOCUMENT_URL, _doc(), accepted_when_hardened=True),
    RuleCase("private-key-jwt", "private_key_jwt with jwks_uri is allowed for a confidential client (§8.2)", DOCUMENT_URL,
             _doc(token_endpoint_auth_method="private_key_jwt", jwks_uri=f"{EVIL}/jwks.json"), accepted_when_hardened=True),
    # The client identifier URL (§3)
    RuleCase("http-scheme", "the URL MUST use https (§3)", f"http://{ATTACKER_HOST}/client.json",
             {"/client.json": json_response(valid_document(f"http://{ATTACKER_HOST}/client.json"))}, hardened_error="https scheme"),
    RuleCase("no-path", "the URL MUST have a path (§3)", EVIL, {"/": json_response(valid_document(EVIL))}, hardened_error="path component"),
    RuleCase("root-path", "a root path '/' is NOT RECOMMENDED (§3)", f"{EVIL}/", {"/": json_response(valid_document(f"{EVIL}/"))},
             hardened_error="root path"),
    RuleCase("fragment", "the URL MUST NOT have a fragment (§3)", f"{DOCUMENT_URL}#x", _doc(client_id=f"{DOCUMENT_URL}#x"),
             hardened_error="fragment"),
    RuleCase("userinfo", "the URL MUST NOT have a username or password (§3; RFC 9110 §4.2.4: every AS's fetch, even the naive one)", f"https://user:pw@{ATTACKER_HOST}/client.json",
             _doc(client_id=f"https://user:pw@{ATTACKER_HOST}/client.json"), hardened_error="username or password"),
    RuleCase("dot-segment", "the URL MUST NOT have '.' or '..' segments (§3)", f"{EVIL}/x/../client.json",
             _doc(client_id=f"{EVIL}/x/../client.json"), hardened_error="'..' path segments"),
    # The host routes on the decoded path (an ASGI path is percent-decoded, and nothing resolves its
    # dot segments), so the document is published where the request lands: the naive AS gets it.
    RuleCase("encoded-dot-segment", "percent-encoded dot segments are dot segments (§3, RFC 3986 §2.3)", f"{EVIL}/x/%2e%2e/client.json",
             {"/x/../client.json": json_response(valid_document(f"{EVIL}/x/%2e%2e/client.json"))}, hardened_error="encoded or not"),
    RuleCase("query", "the URL SHOULD NOT have a query (§3)", f"{DOCUMENT_URL}?v=1", _doc(client_id=f"{DOCUMENT_URL}?v=1"),
             hardened_error="query"),
    # The document's client_id equals the URL, as an exact string (§4)
    RuleCase("trailing-slash", "client_id compared exactly: a trailing slash is another URL (§4)", f"{DOCUMENT_URL}/",
             {"/client.json/": json_response(valid_document())}, hardened_error="not exactly the URL"),
    RuleCase("host-case", "client_id compared exactly: host case matters (§4)", "https://EVIL.example/client.json", _doc(),
             hardened_error="not exactly the URL"),
    RuleCase("default-port", "client_id compared exactly: no default-port normalisation (§3, -02)", f"https://{ATTACKER_HOST}:443/client.json",
             _doc(), hardened_error="not exactly the URL"),
    RuleCase("percent-encoding", "client_id compared exactly: %63 is not 'c' (§4)", f"{EVIL}/%63lient.json", _doc(),
             hardened_error="not exactly the URL"),
    RuleCase("someone-elses-id", "a document cannot claim another URL as its id (§4)", DOCUMENT_URL,
             _doc(client_id="https://app.example/client.json"), hardened_error="not exactly the URL"),
    # What a document may contain (§4.1, §8.2, MCP §5.1.1)
    RuleCase("client-secret", "a document MUST NOT contain client_secret (§4.1)", DOCUMENT_URL, _doc(client_secret="s3cret"),
             hardened_error="client_secret"),
    RuleCase("shared-secret-method", "no shared-secret token_endpoint_auth_method (§4.1)", DOCUMENT_URL,
             _doc(token_endpoint_auth_method="client_secret_basic"), hardened_error="shared-secret method"),
    RuleCase("private-key-jwt-without-keys", "private_key_jwt needs jwks or jwks_uri (§8.2; RFC 7591 §2: every AS, even the naive one)", DOCUMENT_URL,
             _doc(token_endpoint_auth_method="private_key_jwt"), hardened_error="jwks or jwks_uri"),
    RuleCase("private-key-material", "only public keys may be published (§4.1, -02; RFC 7591 §2: every AS, even the naive one)", DOCUMENT_URL,
             _doc(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AA", "d": "AA"}]}),
             hardened_error="private key material"),
    RuleCase("no-client-name", "MCP requires client_name (MCP §5.1.1)", DOCUMENT_URL, _doc(client_name=None), hardened_error="client_name"),
    # No AS can accept this one at /authorize: without the rule, the document is taken and the
    # redirect_uri then matches none of its (no) redirect URIs. The rule refuses it at the fetch.
    RuleCase("no-redirect-uris", "MCP requires redirect_uris (MCP §5.1.1): refused at the fetch; without the rule, "
             "redirect matching refuses it after (OAuth 2.1 §4.1.1)", DOCUMENT_URL, _doc(redirect_uris=None), hardened_error="has no redirect_uris"),
    RuleCase("redirect-not-in-document", "redirect_uri must be exactly one of the document's (§4.2, OAuth 2.1 §4.1.1)", DOCUMENT_URL,
             _doc(), redirect_uri=f"{EVIL}/callback/elsewhere", hardened_error="must match exactly", document_is_valid=True),
    RuleCase("not-json", "the document must be JSON (§4)", DOCUMENT_URL, {"/client.json": json_response(b"{client_id: nope")},
             hardened_error="not valid JSON"),
    RuleCase("json-array", "the document must be a JSON object (§4)", DOCUMENT_URL, {"/client.json": json_response([valid_document()])},
             hardened_error="JSON object"),
    # The defensive fetch (§5, §8.6, §8.7)
    RuleCase("redirect", "redirects MUST NOT be followed (§5); followed, the document is served from another URL than its "
             "client_id, which the id-match refuses (§4)", DOCUMENT_URL,
             {"/client.json": HostedResponse(b"", 302, {"location": f"{EVIL}/real.json"}), "/real.json": json_response(valid_document())},
             hardened_error="redirects MUST NOT be followed"),
    RuleCase("redirect-to-cloud-metadata", "redirects MUST NOT be followed: a redirect can point inside the AS's network (§5, §8.6)",
             DOCUMENT_URL, {"/client.json": HostedResponse(b"", 307, {"location": f"http://169.254.169.254{CLOUD_CREDENTIALS_PATH}"})},
             hardened_error="redirects MUST NOT be followed"),
    RuleCase("status-404", "only 200 OK counts (§5)", DOCUMENT_URL, {}, hardened_error="HTTP 404"),
    RuleCase("status-203", "only 200 OK counts, even for another 2xx (§5)", DOCUMENT_URL,
             {"/client.json": json_response(valid_document(), status=203)}, hardened_error="HTTP 203"),
    RuleCase("too-large", "stop reading at about 5 KB (§8.7)", DOCUMENT_URL, _doc(padding=_PADDING), hardened_error="larger than 5120 bytes"),
    RuleCase("slow", f"give up on a slow response (timeout, lab policy; a {_SLOW_ANSWER_SECONDS:.0f} s answer, run {_SLOW_SPEEDUP}× faster)",
             DOCUMENT_URL,
             {"/client.json": HostedResponse(json_response(valid_document()).body, 200, {"content-type": "application/json"},
                                             delay_seconds=_SLOW_ANSWER_SECONDS / _SLOW_SPEEDUP)},
             hardened_error="timeout", time_scale=1 / _SLOW_SPEEDUP),
    RuleCase("html-content-type", "JSON media type only (lab policy; the draft only requires a JSON body)", DOCUMENT_URL,
             {"/client.json": json_response(valid_document(), content_type="text/html")}, hardened_error="not a JSON media type"),
    # Special-use addresses (§8.6)
    *(
        RuleCase(f"address-{name.split('.')[0]}", f"the host must not resolve to a special-use address: {kind} (§8.6)",
                 f"https://{name}{path}", hardened_error="special-use address")
        for name, kind, path in (
            ("private.evil.example", "private 10.0.0.5", ADMIN_SECRETS_PATH),
            ("metadata.evil.example", "link-local 169.254.169.254", CLOUD_CREDENTIALS_PATH),
            ("loopback.evil.example", "loopback 127.0.0.1", "/client.json"),
            ("cgnat.evil.example", "carrier-grade NAT 100.64.0.7", "/client.json"),
            ("ipv6-loopback.evil.example", "IPv6 loopback ::1", "/client.json"),
            ("mapped.evil.example", "IPv4-mapped ::ffff:10.0.0.5", ADMIN_SECRETS_PATH),
            ("nat64.evil.example", "NAT64 64:ff9b::a00:5", ADMIN_SECRETS_PATH),
            ("169.254.169.254", "an IP literal, link-local", CLOUD_CREDENTIALS_PATH),
        )
    ),
)  # fmt: skip


async def run_cimd_rule(case: RuleCase | str, policy: ASPolicy) -> ExperimentResult:
    """Open the authorization URL for `case` (a `RuleCase`, or its id as the rules table shows
    it, "slow") under `policy`: consent, or an error page?"""
    if not isinstance(case, RuleCase):
        ids = [c.id for c in RULE_CASES]
        case = RULE_CASES[ids.index(one_of("rule case", case, ids))]
    policy = case.policy_for(policy)
    async with Lab(seed=f"rule:{case.id}", policy=policy) as lab:
        internal = add_internal_network(lab)
        for path, response in case.served.items():
            internal.attacker.publish_response(path, response)
        page = await open_authorization(lab, case.client_id, case.redirect_uri)
        refused = refusal(page)
        inside = requests_into_the_network(lab.trace)
        details = {
            "client_id": case.client_id,
            "error": refused[0] if refused else None,
            "error_description": refused[1] if refused else None,
            "cached": sorted(lab.cimd_cache),
            "records": len(lab.registrations),
            "fetch_timeout_seconds": policy.fetch_timeout_seconds,
            # Every request the AS sent to a special-use address, whether or not anything listened.
            "internal_requests": [described(e) for e in inside],
            "internal_answered": len(answered(inside)),
        }
        exchanges = tuple(lab.trace)
    return ExperimentResult(
        experiment=f"cimd-rule:{case.id}",
        policy=policy.name,
        outcome="refused" if refused else "accepted",
        summary=f"{case.client_id} → " + (f"{refused[0]}: {refused[1]}" if refused else "consent page shown"),
        explanation=case.rule,
        spec=("CIMD -02 §3, §4, §4.1, §5, §8.6, §8.7", "MCP §5.1.1"),
        exchanges=exchanges,
        details=details,
    )


async def run_cimd_rules(policy: ASPolicy) -> ExperimentResult:
    """Every case in `RULE_CASES`, as one table."""
    rows = []
    for case in RULE_CASES:
        result = await run_cimd_rule(case, policy)
        rows.append({"case": case.id, "rule": case.rule, "outcome": result.outcome,
                     "error_description": result.details["error_description"],
                     "internal_requests": len(result.details["internal_requests"]),
                     "internal_answered": result.details["internal_answered"]})  # fmt: skip
    hostile = [r for r, c in zip(rows, RULE_CASES, strict=True) if not c.accepted_when_hardened]
    accepted = [r["case"] for r in hostile if r["outcome"] == "accepted"]
    attempted = sum(r["internal_requests"] for r in rows)
    answered_inside = sum(r["internal_answered"] for r in rows)
    return ExperimentResult(
        experiment="cimd-rules",
        policy=policy.name,
        outcome=rules_outcome(accepted, attempted),
        summary=(
            f"{len(hostile) - len(accepted)}/{len(hostile)} hostile inputs refused; the AS sent {attempted} request(s) "
            f"into its own network, {answered_inside} of them answered."
        ),
        explanation=(
            "Each rule closes one door: the URL rules keep identifiers comparable as exact strings, the document "
            "rules keep secrets out of public files, and the defensive fetch keeps the AS from being a proxy into "
            "its own network or a victim of huge, slow or redirected responses."
        ),
        spec=("CIMD -02 §3, §4, §4.1, §5, §8.6, §8.7", "MCP §5.1.1", "OAuth 2.1 §4.1.1"),
        details={"rows": rows},
    )


def rules_outcome(accepted: list[str], attempted: int) -> str:
    """The table's verdict: the hostile inputs accepted, else any request sent into the AS's own
    network. CIMD -02 §8.6 forbids the attempt itself, so an AS that refused every input after
    fetching from 10.0.0.5 has not enforced every rule (it used to read "0 hostile inputs accepted")."""
    if accepted:
        return f"{len(accepted)} hostile inputs accepted"
    if attempted:
        return f"every hostile input refused, but {attempted} request(s) sent into its own network"
    return "every rule enforced"
