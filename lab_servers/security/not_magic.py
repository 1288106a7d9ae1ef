"""It's not magic: CIMD proves where a client's metadata comes from, not that the client is good.

A well-formed document on an attacker's domain passes every rule (CIMD validates form and
origin, never intent). What stops it is a person reading the hostname at consent (CIMD -02 §8.5,
MCP §11.6.2), or an AS trust policy (MCP §11.6.3). And a client whose redirect URIs are all on
localhost can be impersonated by any program on the user's machine, even with its real client_id
(MCP §11.6.2): the AS can only warn.
"""

from __future__ import annotations

from ..authorization_server import ASPolicy
from ..client import ConsentPage
from ..lab import CLIENT_METADATA_URL, Lab, default_client_metadata
from ..lab_arguments import as_policy
from .cimd_rules import DOCUMENT_URL, REDIRECT_URI, json_response, valid_document
from .impersonation import what_the_user_sees
from .network_fixtures import ATTACKER_HOST, add_internal_network
from .requests import open_authorization, refusal
from .results import ExperimentResult

LOOPBACK_REDIRECT = "http://127.0.0.1:6274/callback"


async def run_attacker_domain_document(policy: ASPolicy) -> ExperimentResult:
    """The attacker publishes a flawless document named like the lab's real agent."""
    async with Lab(seed="not-magic", policy=policy) as lab:
        attacker = add_internal_network(lab).attacker
        attacker.publish_response("/client.json", json_response(valid_document(client_name="Example Agent")))
        page = await open_authorization(lab, DOCUMENT_URL, REDIRECT_URI)
        exchanges = tuple(lab.trace)
    refused = refusal(page)
    seen = what_the_user_sees(page) if isinstance(page, ConsentPage) and not refused else ""
    shows_host = ATTACKER_HOST in seen
    outcome = (
        "refused"
        if refused
        else ("accepted; consent names " + ATTACKER_HOST if shows_host else "accepted; consent shows only the name")
    )
    return ExperimentResult(
        experiment="attacker-domain-document",
        policy=policy.name,
        outcome=outcome,
        summary=f"The document passed every rule; the user reads: {seen or refused}",
        explanation=(
            "Validation checks form and origin: the document really is at the URL it claims, has no secrets, lists "
            "its redirects. Nothing in it can prove intent. The attacker's only tell is its domain, so the consent "
            "page must show it, and a user must read it; an AS may also restrict which domains it accepts."
        ),
        spec=("CIMD -02 §8.5", "CIMD -02 §8.9", "MCP §11.6.2", "MCP §11.6.3"),
        exchanges=exchanges,
        details={"consent": seen, "error": refused},
    )


async def run_trust_policy(
    policy: ASPolicy, allowed: tuple[str, ...] = ("app.example", "*.trusted.example")
) -> ExperimentResult:
    """The same two clients, the lab's agent and the attacker, under `policy` plus an allow list."""
    # Checked before `but`, which a policy named as a string ("hardened") has not; ASPolicy refuses
    # a lone string for `allowed`: ("app.example") without its comma would be read letter by letter.
    policy = as_policy(policy)
    trusted = policy.but(name=f"{policy.name}+allow-list", allowed_client_domains=allowed)
    async with Lab(seed="trust-policy", policy=trusted) as lab:
        attacker = add_internal_network(lab).attacker
        attacker.publish_response("/client.json", json_response(valid_document()))
        agent = refusal(
            await open_authorization(lab, CLIENT_METADATA_URL, default_client_metadata()["redirect_uris"][0])
        )
        evil = refusal(await open_authorization(lab, DOCUMENT_URL, REDIRECT_URI))
        attacker_fetches = sum(e.host == ATTACKER_HOST for e in lab.trace)
        exchanges = tuple(lab.trace)
    return ExperimentResult(
        experiment="trust-policy",
        policy=trusted.name,
        # Three verdicts, not two: an allow list that keeps out the agent too refused the attacker
        # all the same, and saying "attacker accepted" then would be false.
        outcome=(
            "attacker accepted" if not evil else "attacker refused" if not agent else "attacker and agent refused"
        ),
        summary=(
            f"Allowed domains {', '.join(allowed)}: the lab's agent was {'refused' if agent else 'accepted'}; the attacker's "
            f"document was {'refused: ' + evil[1] if evil else 'accepted'} ({attacker_fetches} fetches from {ATTACKER_HOST})."
        ),
        explanation=(
            "An AS that serves a known set of clients can say so: an allow list (or a deny list) checked before "
            "any fetch. It trades openness for safety, which is why the spec leaves it optional (MAY)."
        ),
        spec=("MCP §11.6.3", "CIMD -02 §8.9"),
        exchanges=exchanges,
        details={"agent_error": agent, "attacker_error": evil, "attacker_fetches": attacker_fetches},
    )


async def run_localhost_redirect_caveat(policy: ASPolicy) -> ExperimentResult:
    """A desktop client's document lists only a loopback redirect; a local program reuses its
    real client_id and that redirect. Every check passes; the AS can only warn."""
    async with Lab(seed="localhost-caveat", policy=policy) as lab:
        document = {**default_client_metadata(), "redirect_uris": [LOOPBACK_REDIRECT], "application_type": "native"}
        lab.publish_client_document(CLIENT_METADATA_URL, document)
        page = await open_authorization(lab, CLIENT_METADATA_URL, LOOPBACK_REDIRECT)
        exchanges = tuple(lab.trace)
    refused = refusal(page)
    seen = what_the_user_sees(page) if isinstance(page, ConsentPage) and not refused else ""
    warned = "localhost" in seen
    return ExperimentResult(
        experiment="localhost-redirect-caveat",
        policy=policy.name,
        outcome="refused" if refused else ("accepted with a warning" if warned else "accepted silently"),
        summary=f"The real client_id with its own loopback redirect: the user reads: {seen or refused}",
        explanation=(
            "The CIMD document proves which redirect URIs the vendor listed, but 127.0.0.1 is every program on "
            "the user's machine: a malicious local app can start the flow with the real client_id, listen on the "
            "same port, or on any port (OAuth 2.1 §8.4.2 lets a loopback redirect's port vary), and receive the "
            "code (PKCE does not help, since it runs the whole flow). The AS SHOULD warn "
            "about localhost-only redirects and MUST show the redirect's hostname; it MAY require attestation."
        ),
        spec=("MCP §11.6.2", "RFC 8252 §8.6", "CIMD -02 §8.5"),
        exchanges=exchanges,
        details={"consent": seen, "error": refused},
    )
