"""How a `client_id` becomes a client: the one function both /authorize and /token call.

Three kinds of client reach this AS: pre-registered (an admin created the record), registered
on the fly by DCR (RFC 7591: the AS minted the id), and CIMD clients (the id is the HTTPS URL
of a document the client hosts; nothing is stored beyond a cache of that document).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

ClientKind = Literal["cimd", "dcr", "preregistered"]
MAX_CLIENT_ID_CHARS = 2048  # lab limit; the hardened CIMD document cap (5 KB) makes longer ids useless


# The token endpoint auth method of a client that names none. RFC 7591 §2 defaults a registration
# to client_secret_basic; a CIMD document cannot use a shared secret at all (CIMD §4.1), so an
# omitted method there means a public client. Either default must be one the AS offers, as a
# named method must (`auth_method_not_offered`).
DEFAULT_AUTH_METHOD: dict[ClientKind, str] = {
    "dcr": "client_secret_basic",
    "preregistered": "client_secret_basic",
    "cimd": "none",
}


def auth_method_not_offered(metadata: Mapping[str, Any], kind: ClientKind, offered: Sequence[str]) -> str | None:
    """Why the client's token endpoint auth method, named or its default, is none this AS offers
    (RFC 8414 §2: token_endpoint_auth_methods_supported), or None. One description for a
    registration and a document: a document's named method fell through to authlib, whose
    "Invalid claim: 'token_endpoint_auth_method'" named neither the rule nor the methods offered.
    Accepted, the client was registered (or its document cached, its consent shown) and /token
    then refused it every time."""
    method = metadata.get("token_endpoint_auth_method", DEFAULT_AUTH_METHOD[kind])
    if not isinstance(method, str) or method in offered:
        return None
    if "token_endpoint_auth_method" in metadata:
        named = f"token_endpoint_auth_method {method!r} is"
    elif kind == "cimd":
        named = (
            "the document names no token_endpoint_auth_method, which makes it a public client ('none': CIMD §4.1 "
            "forbids a shared secret), and that is"
        )
    else:
        named = f"token_endpoint_auth_method was left out, which RFC 7591 §2 makes {method!r}, and that is"
    return (
        f"{named} not offered here; token_endpoint_auth_methods_supported lists {', '.join(offered)}"
        " (RFC 7591 §2, RFC 8414 §2)"
    )


@dataclass(frozen=True)
class Client:
    client_id: str
    kind: ClientKind
    metadata: dict[str, Any]
    client_secret: str | None = None
    client_id_issued_at: int | None = None
    # What the AS fetched from the client's metadata URLs at registration (logo_uri → bytes…):
    # the logo it serves on the client's behalf, and whatever else a naive AS kept.
    prefetched: dict[str, PrefetchedResource] = field(default_factory=dict)

    @property
    def redirect_uris(self) -> list[str]:
        uris = self.metadata.get("redirect_uris") or []
        return [u for u in uris if isinstance(u, str)]

    @property
    def client_name(self) -> str | None:
        name = self.metadata.get("client_name")
        return name if isinstance(name, str) else None

    @property
    def grant_types(self) -> list[str]:
        """RFC 7591 §2: omitted means ["authorization_code"]; the token endpoint enforces them."""
        grant_types = self.metadata.get("grant_types")
        if not isinstance(grant_types, list):
            return ["authorization_code"]
        return [g for g in grant_types if isinstance(g, str)]

    @property
    def token_endpoint_auth_method(self) -> str:
        method = self.metadata.get("token_endpoint_auth_method")
        return method if isinstance(method, str) else DEFAULT_AUTH_METHOD[self.kind]

    @property
    def hostname(self) -> str | None:
        """For a CIMD client, the host that vouches for the document: what consent must show."""
        return urlsplit(self.client_id).hostname if self.kind == "cimd" else None


@dataclass(frozen=True)
class PrefetchedResource:
    url: str
    content_type: str
    body: bytes


class RegistryFull(Exception):
    """The store behind the registry has no room left (the lab sets `capacity` to model a disk)."""


@dataclass
class ClientRegistry:
    """Records the AS keeps: every DCR registration and every pre-registered client."""

    records: dict[str, Client] = field(default_factory=dict)
    capacity: int | None = None  # None: unbounded, until the real machine runs out

    def add(self, client: Client) -> Client:
        if self.capacity is not None and len(self.records) >= self.capacity and client.client_id not in self.records:
            raise RegistryFull(f"the client store is full ({self.capacity} records)")
        self.records[client.client_id] = client
        return client

    def get(self, client_id: str) -> Client | None:
        return self.records.get(client_id)

    def remove(self, client_id: str) -> None:
        self.records.pop(client_id, None)

    def __len__(self) -> int:
        return len(self.records)


def looks_like_url(client_id: str) -> bool:
    # CIMD §7.1 (-02): an id is subject to the draft when the AS fetches, or otherwise associates,
    # a document for it. This AS does so for any "scheme://" id (its minted ids have no scheme),
    # so an http: id is refused by name instead of being looked up as a registration.
    return "://" in client_id
