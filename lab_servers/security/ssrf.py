"""SSRF: the authorization server as a proxy into its own network.

RFC 7591 lets a client register URLs (`logo_uri`, `jwks_uri`, and OpenID Connect's
`sector_identifier_uri`) that the server then fetches: the client picks the address, the server
makes the request from inside its network. CIMD -02 §8.6 makes the defence a MUST for URLs in
client metadata: never fetch a URL that resolves to a special-use address (RFC 6890). The
lab's hardened AS fetches both CIMD documents and registration URLs through one function,
`authorization_server/defensive_fetch.py`.
"""

from __future__ import annotations

from ..authorization_server import ASPolicy
from ..lab import AS_HOST, Lab, default_client_metadata
from ..trace import Exchange
from .network_fixtures import (
    ADMIN_SECRETS_PATH,
    ATTACKER_HOST,
    CLOUD_CREDENTIALS_PATH,
    CLOUD_METADATA_ADDRESS,
    REBINDING_HOST,
    add_internal_network,
    answered,
    described,
    leaked_secrets,
    requests_into_the_network,
)
from .requests import open_authorization, refusal, register
from .results import ExperimentResult

# One registration per URL field, each aimed at an internal service.
SSRF_REGISTRATIONS = {
    "logo_uri": f"http://{CLOUD_METADATA_ADDRESS}{CLOUD_CREDENTIALS_PATH}",
    "jwks_uri": f"https://private.evil.example{ADMIN_SECRETS_PATH}",
    "sector_identifier_uri": f"https://mapped.evil.example{ADMIN_SECRETS_PATH}",
}


async def run_ssrf_via_registration(policy: ASPolicy) -> ExperimentResult:
    """An attacker registers three clients whose metadata URLs point inside the AS's network,
    then downloads its "logo" from the AS's logo proxy."""
    async with Lab(seed="ssrf", policy=policy) as lab:
        internal = add_internal_network(lab)
        attacker_metadata = {k: v for k, v in default_client_metadata().items() if k != "client_id"}
        attacker_metadata["redirect_uris"] = [f"https://{ATTACKER_HOST}/callback"]
        outcomes: dict[str, str] = {}
        statuses: list[int] = []
        stolen = ""
        for field, url in SSRF_REGISTRATIONS.items():
            response = await register(lab, {**attacker_metadata, field: url}, caller=ATTACKER_HOST)
            statuses.append(response.status_code)
            if response.status_code == 201:
                client_id = response.json()["client_id"]
                outcomes[field] = f"201 registered {client_id}"
                async with lab.httpx_client(ATTACKER_HOST) as http:
                    logo = await http.get(f"{lab.issuer}/clients/{client_id}/logo")
                if logo.status_code == 200:
                    stolen += logo.text
            else:
                body = response.json()
                outcomes[field] = f"{response.status_code} {body['error']}: {body['error_description']}"
        stored = "".join(
            resource.body.decode("utf-8", "replace")
            for client in lab.registrations.values()
            for resource in client.prefetched.values()
        )
        leaked_to_attacker = leaked_secrets(stolen)
        held_by_as = leaked_secrets(stored)
        inside = requests_into_the_network(lab.trace)
        exchanges = tuple(lab.trace)
    outcome = ssrf_outcome(leaked_to_attacker + held_by_as, inside, statuses)
    summary = (
        f"{statuses.count(201)} of {len(statuses)} registrations accepted; the AS sent {len(inside)} request(s) into "
        f"its own network, {len(answered(inside))} answered; it kept {len(held_by_as)} fake secret(s) in its client "
        f"records and served {len(leaked_to_attacker)} back as a 'logo'."
    )
    return ExperimentResult(
        experiment="ssrf-via-registration",
        policy=policy.name,
        outcome=outcome,
        summary=summary,
        explanation=(
            "DCR metadata is whatever the registering party typed, including URLs the server will fetch: "
            "a logo to show at consent, keys to check client assertions, a sector identifier. The request "
            "leaves from the AS, inside its network, where 169.254.169.254 is the cloud's credential service and "
            "10.x hosts trust their neighbours. The hardened AS resolves each name once, refuses special-use "
            "addresses (IPv6 forms that carry an IPv4 address included), and connects only to the address it checked."
        ),
        spec=("CIMD -02 §8.6", "RFC 6890", "RFC 7591 §2", "MCP Security Best Practices: SSRF"),
        exchanges=exchanges,
        details={
            "registrations": outcomes,
            "internal_requests": [described(e) for e in inside],
            "internal_services_served": internal.reached,
            "stolen_via_logo": leaked_to_attacker,
            "kept_by_as": held_by_as,
        },
    )


def ssrf_outcome(secrets_out: list[str], inside: list[Exchange], statuses: list[int]) -> str:
    """The verdict from what happened: a secret the attacker got or the AS kept ("leaked"); a
    request into the AS's network with no secret to show for it, a blind SSRF that a second
    request or a timing difference can still exploit ("reached" if something answered, else
    "attempted"); or nothing sent inside ("refused" when every registration was refused)."""
    if secrets_out:
        return "leaked"
    if answered(inside):
        return "reached"
    if inside:
        return "attempted"
    return "refused" if 201 not in statuses else "registered, nothing fetched inside"


async def run_dns_rebinding(policy: ASPolicy) -> ExperimentResult:
    """Two CIMD client ids aimed at the admin service: one whose name simply points at it, and
    one whose name answers with a public address first and the admin address afterwards."""
    async with Lab(seed="rebinding", policy=policy) as lab:
        internal = add_internal_network(lab)
        # The attacker's public host serves a perfectly valid document at the admin service's path,
        # for whoever connects to it under the rebinding name.
        rebinding_url = f"https://{REBINDING_HOST}{ADMIN_SECRETS_PATH}"
        internal.attacker.publish(
            ADMIN_SECRETS_PATH,
            {**default_client_metadata(rebinding_url), "redirect_uris": [f"https://{ATTACKER_HOST}/cb"]},
        )
        attempts: dict[str, str] = {}
        for host in ("private.evil.example", REBINDING_HOST):
            client_id = f"https://{host}{ADMIN_SECRETS_PATH}"
            page = await open_authorization(lab, client_id, f"https://{ATTACKER_HOST}/cb")
            refused = refusal(page)
            attempts[host] = f"refused: {refused[1]}" if refused else "consent shown"
        connections = {host: how_the_as_connected(lab, host) for host in attempts}
        # Only the rebinding name's requests inside show rebinding at work: the plain name reaches
        # 10.0.0.5 at any AS that checks no address, with no second lookup needed.
        rebound = answered(requests_into_the_network(e for e in lab.trace if e.host == REBINDING_HOST))
        exchanges = tuple(lab.trace)
    return ExperimentResult(
        experiment="dns-rebinding",
        policy=policy.name,
        outcome="rebinding reached an internal service" if rebound else "rebinding never reached an internal service",
        summary=" ".join(f"{host}: {how}; {attempts[host].split(':', 1)[0]}." for host, how in connections.items())
        + f" The rebinding name reached an internal service {len(rebound)} time(s).",
        explanation=(
            "A check on a host name is only as good as the lookup behind it. If the AS resolves the name to vet it "
            "and the network library resolves it again to connect, a name that answers differently the second time "
            "(DNS rebinding) walks past the check. The hardened AS resolves once, vets that address and pins the "
            "connection to it (the lab's PINNED_ADDRESS request extension); flip pin_vetted_address off to see the gap."
        ),
        spec=("CIMD -02 §8.6", "MCP Security Best Practices: SSRF (DNS rebinding)"),
        exchanges=exchanges,
        details={
            "attempts": attempts,
            "connections": connections,
            "internal_requests": [described(e) for e in rebound],
        },
    )


def how_the_as_connected(lab: Lab, host: str) -> str:
    """'looked up 2×, connected to 10.0.0.5 → 200', from the DNS and the trace."""
    fetches = [e for e in lab.trace if e.caller == AS_HOST and e.host == host]
    where = ", ".join(described(e).replace(f" {e.path}", "", 1) for e in fetches) or "never connected"
    return f"looked up {lab.network.dns.lookups(host)}×, {'connected to ' if fetches else ''}{where}"
