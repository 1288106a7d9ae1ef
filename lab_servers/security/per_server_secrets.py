"""Per-server secrets: a confidential DCR client holds one secret per authorization server.

RFC 7591 §3.2.1 mints a `client_secret` at each server the client registers with; each server
stores it and each must be told when it changes or leaks. DCR defines no rotation: without
RFC 7592's management API (which the lab, like many servers, does not offer), rotating means
registering again, and the old record stays until someone deletes it. A confidential CIMD client
uses `private_key_jwt` instead (CIMD -02 §8.2): its public keys sit at its own `jwks_uri`, so no
server stores a secret and one change at the client's host reaches every server.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..arguments import counted, wrong_type
from ..authorization_server import ASPolicy, AuthorizationServer
from ..determinism import SeededIds, fingerprint
from ..lab import MCP_URL, SCOPES, Lab, default_client_metadata
from .requests import open_authorization, refusal
from .results import ExperimentResult

CLIENT_HOST = "agent.example"
CLIENT_ADDRESS = "93.184.215.60"
CIMD_URL = f"https://{CLIENT_HOST}/client.json"
JWKS_URL = f"https://{CLIENT_HOST}/jwks.json"
REDIRECT = f"https://{CLIENT_HOST}/callback"


@dataclass(frozen=True)
class ServerState:
    """What one authorization server holds about the client."""

    issuer: str
    dcr_records: int
    dcr_secrets: tuple[str, ...]  # fingerprints of the secrets it stores (never the secrets)
    cimd_records: int
    cimd_cached: int
    cimd_secrets: int  # cached CIMD documents holding a client_secret (CIMD -02 §4.1 forbids one)


def add_authorization_servers(lab: Lab, count: int) -> list[AuthorizationServer]:
    """`count` more authorization servers on the lab network, each its own company's."""
    servers = []
    for k in range(1, count + 1):
        host = f"auth{k}.example.net"
        server = AuthorizationServer(
            f"https://{host}", resources={MCP_URL: SCOPES}, http=lab.network.httpx_client(host), resolve=lab.network.dns.resolve_all,
            clock=lab.clock, ids=SeededIds(f"{lab.ids.seed}:as{k}"), policy=lab.policy,
        )  # fmt: skip
        lab.network.add_host(host, f"93.184.217.{k}", server.app)
        servers.append(server)
    return servers


async def run_per_server_secrets(
    policy: ASPolicy, servers: int = 3, document_extras: dict[str, object] | None = None
) -> ExperimentResult:
    """`document_extras` are fields a careless CIMD client adds to its published document (say a
    `client_secret`): whether a server keeps them is up to its policy, and the counts show it."""
    # Zero or -2 servers ran nothing and reported "Registering at 0 servers stored 0 secrets".
    servers = counted("servers", servers, 3)
    document_extras = _extras(document_extras)
    async with Lab(seed="per-server-secrets", policy=policy) as lab:
        fleet = add_authorization_servers(lab, servers)
        request = {k: v for k, v in default_client_metadata().items() if k != "client_id"}
        request.update(redirect_uris=[REDIRECT], token_endpoint_auth_method="client_secret_basic", client_name="Agent")
        operations = {"dcr_register": 0, "dcr_rotate": 0, "dcr_revoke": 0, "cimd_publish": 0, "cimd_rotate": 0}
        # 1. Connect to every server: one registration, one stored secret, each.
        issued: dict[str, list[str]] = {}
        for server in fleet:
            issued[server.issuer] = [await _register(lab, server, request)]
            operations["dcr_register"] += 1
        after_registration = [_state(server) for server in fleet]
        # 2. Rotate (say the client's config file leaked): no standard endpoint, so register again.
        for server in fleet:
            issued[server.issuer].append(await _register(lab, server, request))
            operations["dcr_rotate"] += 1
        after_rotation = [_state(server) for server in fleet]
        # 3. Revoke the leaked one: only each server's operator can delete its record.
        for server in fleet:
            server.registry.remove(issued[server.issuer][0])
            operations["dcr_revoke"] += 1
        # The CIMD client: one document, one key set, both at its own host.
        host = lab.add_metadata_host(CLIENT_HOST, CLIENT_ADDRESS)
        host.publish("/jwks.json", {"keys": [_public_key("key-1")]})
        document = {**request, "client_id": CIMD_URL, "token_endpoint_auth_method": "private_key_jwt"}
        host.publish("/client.json", {**document, "jwks_uri": JWKS_URL, **document_extras})
        operations["cimd_publish"] += 1
        cimd_refusals: dict[str, str] = {}
        for server in fleet:
            refused = refusal(await open_authorization(lab, CIMD_URL, REDIRECT, issuer=server.issuer))
            if refused:
                cimd_refusals[server.issuer] = refused[1]
        host.publish("/jwks.json", {"keys": [_public_key("key-2")]})  # rotation: one change, at the client's host
        operations["cimd_rotate"] += 1
        final = [_state(server) for server in fleet]
        exchanges = tuple(lab.trace)
    return ExperimentResult(
        experiment="per-server-secrets",
        policy=policy.name,
        outcome=_outcome(after_registration, final),
        summary=_summary(after_registration, after_rotation, final, operations, cimd_refusals),
        explanation=(
            "A shared secret has to live at both ends, so a confidential DCR client has one per server, and every "
            "lifecycle event (rotation, leak, decommissioning) is one operation per server, often by a different "
            "operator. No policy on the AS changes that: it is what DCR is. A CIMD client authenticates with "
            "private_key_jwt, and its public keys are published once, at its own URL."
        ),
        spec=("RFC 7591 §3.2.1", "RFC 7592", "CIMD -02 §8.2", "RFC 7523 §2.2"),
        exchanges=exchanges,
        details={
            "after_registration": after_registration,
            "after_rotation": after_rotation,
            "after_revocation": final,
            "operations": operations,
            "cimd_refusals": cimd_refusals,
        },
    )


def _extras(document_extras: object) -> dict[str, object]:
    """The fields to add to the document, by name: a JSON object's members are named by strings (RFC 8259 §4)."""
    if document_extras is None:
        return {}
    if not isinstance(document_extras, dict) or not all(isinstance(name, str) for name in document_extras):
        raise wrong_type(
            "document_extras is a dict of document fields, such as {'client_secret': 'leaked'}", document_extras
        )
    return document_extras


def _dcr_secrets(states: list[ServerState]) -> int:
    return sum(len(s.dcr_secrets) for s in states)


def _cimd_secrets(states: list[ServerState]) -> int:
    return sum(s.cimd_secrets for s in states)


def _outcome(after_registration: list[ServerState], final: list[ServerState]) -> str:
    holding = sum(bool(s.dcr_secrets) for s in after_registration)
    return f"dcr: {holding} servers × secrets to manage; cimd: {_cimd_secrets(final)} secrets stored"


def _summary(
    after_registration: list[ServerState],
    after_rotation: list[ServerState],
    final: list[ServerState],
    operations: dict[str, int],
    cimd_refusals: dict[str, str],
) -> str:
    """What the servers' own state says, counted, never assumed (RFC 7591 §3.2.1 mints a secret
    only for a shared-secret method; CIMD -02 §4.1 forbids one in a document, not every AS checks)."""
    cimd_secrets = _cimd_secrets(final)
    cimd = (
        "The CIMD client stored no secret anywhere"
        if not cimd_secrets
        else f"The CIMD client left its published secret in {cimd_secrets} servers' document caches"
    )
    refused = f" ({len(cimd_refusals)} servers refused its document)" if cimd_refusals else ""
    return (
        f"Registering at {len(after_registration)} servers stored {_dcr_secrets(after_registration)} secrets; "
        f"rotating took {operations['dcr_rotate']} more registrations (and left {_dcr_secrets(after_rotation)} secrets "
        f"stored until {operations['dcr_revoke']} deletions). {cimd}{refused} and rotated its key with "
        f"{operations['cimd_rotate']} change."
    )


async def _register(lab: Lab, server: AuthorizationServer, request: dict[str, object]) -> str:
    async with lab.httpx_client(CLIENT_HOST) as http:
        response = await http.post(f"{server.issuer}/register", json=request)
    body = response.json()
    if response.status_code != 201:
        raise RuntimeError(f"{server.issuer} refused the registration: {body}")
    return body["client_id"]


def _state(server: AuthorizationServer) -> ServerState:
    records = list(server.registry.records.values())
    return ServerState(
        issuer=server.issuer,
        dcr_records=len(records),
        dcr_secrets=tuple(fingerprint(c.client_secret) for c in records if c.client_secret),
        cimd_records=sum(c.kind == "cimd" for c in records),
        cimd_cached=len(server.cimd.cache),
        cimd_secrets=sum("client_secret" in cached.document for cached in server.cimd.cache.values()),
    )


def _public_key(kid: str) -> dict[str, str]:
    # A placeholder public JWK: the experiment counts where keys live, it never verifies one.
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": fingerprint(kid) * 3 + "AAAAAAAA"}
