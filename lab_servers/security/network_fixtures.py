"""The parts of the lab network that the security experiments attack or abuse.

Nothing here is real: every address lives in the lab's virtual DNS, every secret is fake and
says so. What matters is the address semantics: the authorization server judges 169.254.169.254
(link-local), 10.0.0.5 (private) and the rest exactly as it would judge them on a real network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..arguments import expect
from ..authorization_server.defensive_fetch import is_special_use
from ..lab import AS_HOST, Lab
from ..metadata_host import MetadataHost
from ..trace import Exchange

# A cloud provider's instance metadata service: link-local, reachable from any VM, and holding
# that VM's credentials (the target of the 2019 Capital One SSRF).
CLOUD_METADATA_ADDRESS = "169.254.169.254"
CLOUD_CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/lab-as-role"
FAKE_CLOUD_CREDENTIALS = {
    "Code": "Success",
    "AccessKeyId": "AKIAFAKELAB0000EXAMPLE",
    "SecretAccessKey": "FAKE-lab-secret-key-not-real-0000000000",
    "Token": "FAKE-lab-session-token",
}

# An admin service on the AS's private network: never meant to be reachable from outside.
ADMIN_HOST = "admin.corp.internal"
ADMIN_ADDRESS = "10.0.0.5"
ADMIN_SECRETS_PATH = "/api/secrets"
FAKE_ADMIN_SECRETS = {"database_password": "FAKE-lab-db-password", "signing_key_backup": "FAKE-lab-key-material"}

# The attacker's own public web host, and names the attacker points wherever it likes.
ATTACKER_HOST = "evil.example"
ATTACKER_ADDRESS = "93.184.216.66"
SPECIAL_USE_NAMES = {
    "private.evil.example": ADMIN_ADDRESS,  # RFC 1918
    "metadata.evil.example": CLOUD_METADATA_ADDRESS,  # link-local, RFC 3927
    "loopback.evil.example": "127.0.0.1",  # loopback
    "cgnat.evil.example": "100.64.0.7",  # carrier-grade NAT, RFC 6598
    "ipv6-loopback.evil.example": "::1",  # IPv6 loopback
    "mapped.evil.example": "::ffff:10.0.0.5",  # IPv4-mapped IPv6 carrying a private address
    "nat64.evil.example": "64:ff9b::a00:5",  # NAT64 carrying 10.0.0.5
    "unspecified.evil.example": "0.0.0.0",
}
# DNS rebinding: the first lookup gets the attacker's public host, every later one the admin host.
REBINDING_HOST = "rebind.evil.example"


@dataclass
class InternalService:
    """An ASGI app answering fixed JSON at fixed paths, and remembering every request it served."""

    name: str
    routes: dict[str, Any]
    served: list[str] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        self.served.append(request.url.path)
        body = self.routes.get(request.url.path)
        if body is None:
            response = Response("not found\n", 404, media_type="text/plain")
        else:
            response = Response(json.dumps(body, indent=1), 200, media_type="application/json")
        await response(scope, receive, send)


@dataclass
class InternalNetwork:
    cloud_metadata: InternalService
    admin: InternalService
    attacker: MetadataHost

    @property
    def reached(self) -> list[str]:
        """Every internal request served, as 'service path'."""
        return [f"{s.name} {p}" for s in (self.cloud_metadata, self.admin) for p in s.served]


def add_internal_network(lab: Lab) -> InternalNetwork:
    """Add the internal services, the attacker's host and the attacker's DNS names to `lab`."""
    expect(Lab, lab, "add_internal_network takes the lab, such as add_internal_network(lab)")
    # Copies: a lab's services are its own, and `leaked_secrets` reads the module's values.
    cloud = InternalService("cloud-metadata", {CLOUD_CREDENTIALS_PATH: dict(FAKE_CLOUD_CREDENTIALS)})
    admin = InternalService("admin", {ADMIN_SECRETS_PATH: dict(FAKE_ADMIN_SECRETS)})
    lab.network.add_host(CLOUD_METADATA_ADDRESS, CLOUD_METADATA_ADDRESS, cloud)
    lab.network.add_host(ADMIN_HOST, ADMIN_ADDRESS, admin)
    attacker = lab.add_metadata_host(ATTACKER_HOST, ATTACKER_ADDRESS)
    for name, address in SPECIAL_USE_NAMES.items():
        lab.network.dns.set(name, address)
    lab.network.dns.set(REBINDING_HOST, ATTACKER_ADDRESS, ADMIN_ADDRESS)
    return InternalNetwork(cloud, admin, attacker)


def leaked_secrets(text: str) -> list[str]:
    """Which of the fake secrets appear in `text` (a response body, a stored record…)."""
    secrets = [FAKE_CLOUD_CREDENTIALS["SecretAccessKey"], *FAKE_ADMIN_SECRETS.values()]
    return [s for s in secrets if s in text]


def requests_into_the_network(exchanges: Iterable[Exchange], caller: str = AS_HOST) -> list[Exchange]:
    """Every request `caller` sent to a special-use address, answered or not. CIMD -02 §8.6 forbids
    the attempt itself: that nothing listened at 127.0.0.1 in the lab is luck, not a defence."""
    return [e for e in exchanges if e.caller == caller and e.address is not None and _special_use(e.address)]


def answered(exchanges: Iterable[Exchange]) -> list[Exchange]:
    """The exchanges where something listened and answered (a status, not a connection error)."""
    return [e for e in exchanges if e.status is not None]


def described(exchange: Exchange) -> str:
    """'10.0.0.5 /api/secrets → 200', or '… → nothing answered' for a refused connection."""
    outcome = str(exchange.status) if exchange.status is not None else "nothing answered"
    return f"{exchange.address} {exchange.path} → {outcome}"


def _special_use(address: str) -> bool:
    try:
        return is_special_use(address)
    except ValueError:  # not an IP address: nothing the AS connected to by number
        return False
