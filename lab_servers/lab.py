"""A whole lab in one object: the network, the three servers, and clients bound to them."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, get_args
from urllib.parse import urlsplit

import httpx
import httpx2

from .arguments import flag, one_of, wrong_type
from .authorization_server import HARDENED, ASCapabilities, ASPolicy, AuthorizationServer, CachedDocument, Client
from .authorization_server.keys import ALGORITHM, AccessTokenAlgorithm
from .client import Browser, Credentials, LabClient, StepRecord
from .client.base import AskUser, Decision, RegistrationMethod
from .determinism import LabClock, SeededIds
from .lab_arguments import (
    as_policy,
    check_capabilities,
    check_client,
    check_client_metadata,
    check_co_located,
    check_lab,
    check_options,
    check_placement,
    check_preregistered_metadata,
    check_vacant_host,
    option_names,
)  # fmt: skip
from .lab_hosts import (
    APP_HOST,
    AS_HOST,
    CLIENT_METADATA_URL,
    ISSUER,
    MCP_HOST,
    MCP_URL,
    PUBLIC_ADDRESSES,
    SCOPES,
    default_client_metadata,
)  # fmt: skip
from .metadata_host import MetadataHost
from .network import LabNetwork
from .resource_server import ResourceServer, outside_keys_client
from .revisions import DEFAULT_REVISION, Revision
from .revisions import revision as revision_named
from .topology import CoLocated
from .trace import Trace
from .wellknown import origin, served_path

# The lab's hosts are `lab_hosts`'s, re-exported: `from lab_servers.lab import MCP_URL` as before.
__all__ = [
    "APP_HOST", "AS_HOST", "CLIENT_METADATA_URL", "ISSUER", "MCP_HOST", "MCP_URL", "PUBLIC_ADDRESSES", "SCOPES",
    "Connection", "Lab", "default_client_metadata",
]  # fmt: skip


@dataclass
class Connection:
    """The outcome of one full handshake."""

    client: LabClient
    records: list[StepRecord]

    @property
    def whoami(self) -> dict[str, Any]:
        return self.client.state.whoami or {}

    @property
    def client_id(self) -> str:
        return self.whoami.get("client_id", "")

    @property
    def access_token(self) -> str | None:
        return self.client.state.access_token


class Lab:
    """The MCP auth lab: `await lab.connect("dcr")`, `await lab.connect("cimd")`, then look at
    `lab.trace`, `lab.registrations` and `lab.cimd_cache`."""

    def __init__(
        self,
        *,
        seed: int | str = 0,
        clock: LabClock | None = None,
        policy: ASPolicy = HARDENED,
        mcp_url: str = MCP_URL,
        issuer: str = ISSUER,
        revision: str | Revision = DEFAULT_REVISION,
        capabilities: ASCapabilities | None = None,
        accept_legacy: bool = True,
        ids: SeededIds | None = None,
        access_token_algorithm: AccessTokenAlgorithm = ALGORITHM,
    ) -> None:
        """Every server lives on the virtual network, at any path on the lab's own hosts (an
        `issuer` of "https://auth.example.com/tenant1": one AS of several at a host). With URLs
        elsewhere (loopback URLs: see `lab_servers.serve`) the MCP server and the AS are meant to
        be served over real sockets, and the MCP server fetches the AS's keys that way too.

        `revision` is the MCP revision the servers and the lab's clients follow (default
        2026-07-28; `revision="2025-11-25"` for the one before). A 2025-03-26 lab has no PRM: its
        AS lives at the MCP server's origin, as that revision describes, so it takes no `issuer`
        and no URL off the lab's hosts. `capabilities` say what
        the AS offers (default: what its revision describes); an AS follows the lab's revision
        unless they name another (`ASCapabilities.revision`); `accept_legacy=False` makes a
        2026-07-28 MCP server refuse initialize-era clients. `access_token_algorithm="RS256"`
        signs access tokens with an RSA key instead of Ed25519 (RFC 9068 §2.1 makes RS256 the
        one algorithm every AS and resource server supports); the MCP server accepts either."""
        check_lab(
            seed=seed, capabilities=capabilities, clock=clock, ids=ids, mcp_url=mcp_url, issuer=issuer,
            accept_legacy=accept_legacy,
        )  # fmt: skip
        policy = as_policy(policy)
        self.access_token_algorithm: AccessTokenAlgorithm = one_of(
            "access-token algorithm", access_token_algorithm, get_args(AccessTokenAlgorithm)
        )
        self.revision = revision_named(revision)
        self.clock = clock or LabClock()
        self.ids = ids or SeededIds(seed)  # `serve` passes system randomness (no seed)
        # What `fresh` builds again from: the arguments as given, and where the clock started.
        self._options: dict[str, Any] = dict(
            seed=self.ids.seed if isinstance(self.ids, SeededIds) else seed, policy=policy, mcp_url=mcp_url,
            issuer=issuer, revision=revision, capabilities=capabilities, accept_legacy=accept_legacy,
            access_token_algorithm=access_token_algorithm,
        )  # fmt: skip
        self._clock_start = self.clock.now()
        self.trace = Trace()
        self.network = LabNetwork(self.trace, self.clock)
        self.metadata_hosts: dict[str, MetadataHost] = {}
        self._own_hosts: frozenset[str] = frozenset()  # the lab's own servers, once they are on the network
        # On the lab's own hosts, at any path (an issuer https://auth.example.com/tenant1 too), the
        # servers join the virtual network; elsewhere (`serve`'s loopback URLs) they are served.
        in_process = check_placement(self.revision, mcp_url, issuer, own=(origin(MCP_URL), ISSUER))
        co_located = not self.revision.protected_resource_metadata  # in process: `check_placement`
        if co_located:
            issuer = origin(mcp_url)  # 2025-03-26 §2.3.2: the MCP server's origin, as its clients take it, is the AS
        self.mcp_url, self.issuer = mcp_url, issuer
        self.auth_server = AuthorizationServer(
            issuer,
            resources={mcp_url: SCOPES},
            http=self.network.httpx_client(AS_HOST),
            resolve=self.network.dns.resolve_all,
            clock=self.clock,
            ids=self.ids,
            policy=policy,
            capabilities=ASCapabilities.beside(capabilities, self.revision.version),
            access_token_algorithm=self.access_token_algorithm,
        )
        self.authorization_servers: dict[str, AuthorizationServer] = {issuer: self.auth_server}
        keys_http = self.network.httpx_client(MCP_HOST) if in_process else outside_keys_client()
        self.resource_server = ResourceServer(
            mcp_url,
            issuer=issuer,
            http=keys_http,
            clock=self.clock,
            revision=self.revision,
            accept_legacy=accept_legacy,
        )
        # 2025-03-26: one host serving the MCP server and its AS (None in later revisions).
        self.co_located: CoLocated | None = None
        if co_located:
            check_co_located(self.revision, mcp_url, self.auth_server.serves)
            self.co_located = CoLocated(self.resource_server, self.auth_server.app, mcp_path=served_path(mcp_url))
            self.network.add_host(MCP_HOST, PUBLIC_ADDRESSES[MCP_HOST], self.co_located, lifespan=True)
        elif in_process:
            self.network.add_host(AS_HOST, PUBLIC_ADDRESSES[AS_HOST], self.auth_server.app)
            self.network.add_host(MCP_HOST, PUBLIC_ADDRESSES[MCP_HOST], self.resource_server, lifespan=True)
        self.add_metadata_host(APP_HOST, PUBLIC_ADDRESSES[APP_HOST])
        self.publish_client_document(CLIENT_METADATA_URL, default_client_metadata())
        self._own_hosts = frozenset(self.network.hosts())
        self._clients = 0
        # The user's browser: one for the whole lab, as a person has one. Each lab client used to
        # get its own httpx client for it; nothing differs (no server here sets cookies), and a
        # thousand clients at once no longer carry a thousand idle HTTP clients (issue 12).
        self._browser_http: httpx.AsyncClient | None = None

    client_metadata_url = CLIENT_METADATA_URL

    # Hosts and documents ------------------------------------------------------------------

    def add_metadata_host(self, hostname: str, address: str) -> MetadataHost:
        """A web host that can serve client metadata documents, at `address` in the virtual DNS."""
        self._vacant("add_metadata_host", hostname, address)
        host = MetadataHost(hostname)
        self.metadata_hosts[hostname] = host
        self.network.add_host(hostname, address, host)
        return host

    def _vacant(self, what: str, hostname: object, address: object) -> None:
        check_vacant_host(what, hostname, address, on_network=self.network.hosts(), own=self._own_hosts)

    def _host_for(self, url: str) -> tuple[MetadataHost, str]:
        if not isinstance(url, str):
            raise wrong_type("the document's URL comes first, a string such as 'https://app.example/agent.json'", url)
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname or not parts.path:  # a path: CIMD §3
            raise ValueError(f"{url!r} is not a URL such as 'https://app.example/agent.json'")
        host = self.metadata_hosts.get(parts.hostname)
        if host is None:
            hosts = ", ".join(self.metadata_hosts)
            raise ValueError(
                f"no metadata host named {parts.hostname!r} (the lab's: {hosts}); add one with lab.add_metadata_host"
            )
        # With its query, the host serving that URL as its own, and a fragment, which it refuses.
        query, fragment = f"?{parts.query}" if parts.query else "", f"#{parts.fragment}" if "#" in url else ""
        return host, parts.path + query + fragment

    def publish_client_document(self, url: str, document: Any, **options: Any) -> str:
        """Serve `document` at `url`, its query too (options: cache_control=…, content_type=…)."""
        check_options("publish_client_document", options, option_names(MetadataHost.publish))
        host, path = self._host_for(url)
        try:
            copied = copy.deepcopy(document)
        except RecursionError:
            raise ValueError(
                "the document cannot be written as JSON: it is nested deeper than any parser reads (RFC 8259 §9); "
                "a client metadata document is a flat JSON object (CIMD §4)"
            ) from None
        return host.publish(path, copied, **options)

    def remove_client_document(self, url: str) -> None:
        host, path = self._host_for(url)
        host.remove(path)

    # Several authorization servers ------------------------------------------------------------

    def add_authorization_server(
        self,
        hostname: str,
        address: str,
        *,
        capabilities: ASCapabilities | None = None,
        policy: ASPolicy = HARDENED,
        preregistered: dict[str, dict[str, Any]] | None = None,
    ) -> AuthorizationServer:
        """Another AS on the virtual network (e.g. a legacy DCR-only one, or the one a resource
        moves to), issuing tokens for the lab's MCP server. `preregistered` maps client_id →
        metadata (with an optional "client_secret") for clients an administrator added."""
        self._vacant("add_authorization_server", hostname, address)
        check_capabilities("add_authorization_server", capabilities)
        check_preregistered_metadata("add_authorization_server", preregistered)
        issuer = f"https://{hostname}"
        server = AuthorizationServer(
            issuer,
            resources={self.mcp_url: SCOPES},
            http=self.network.httpx_client(hostname),
            resolve=self.network.dns.resolve_all,  # every address vetted, as for the lab's own AS
            clock=self.clock,
            ids=self.ids.derived(hostname),
            policy=as_policy(policy),
            capabilities=ASCapabilities.beside(capabilities, self.revision.version),
            access_token_algorithm=self.access_token_algorithm,
        )
        for client_id, registered in (preregistered or {}).items():
            metadata = dict(registered)
            server.preregister(client_id, metadata, metadata.pop("client_secret", None))
        self.network.add_host(hostname, address, server.app)
        self.authorization_servers[issuer] = server
        return server

    def use_authorization_server(self, issuer: str, *, keep_previous: bool = False) -> None:
        """Switch the MCP server's Protected Resource Metadata to `issuer`, at run time. Tokens
        of the previous AS stay valid only with `keep_previous` (a grace window), and are checked
        as the server checks tokens: an introspecting one (`story.use_introspection`) asks each AS
        about its own, so one revoked there stays refused. An AS it cannot introspect at refuses
        the switch with a ValueError naming why, and the server stays as it was."""
        if not isinstance(issuer, str):
            raise wrong_type(
                "use_authorization_server takes the AS's issuer, a URL such as 'https://legacy.example'", issuer
            )
        flag("use_authorization_server(keep_previous=…)", keep_previous)
        if issuer not in self.authorization_servers:
            # The hostname given to add_authorization_server is not the issuer: its https URL is.
            hint = f" (did you mean 'https://{issuer}'?)" if f"https://{issuer}" in self.authorization_servers else ""
            raise KeyError(
                f"no authorization server {issuer!r}{hint}; the lab's: {', '.join(self.authorization_servers)}; "
                "add one with add_authorization_server"
            )
        self.resource_server.use_authorization_server(issuer, keep_previous=keep_previous)

    # The authorization server's state -------------------------------------------------------

    @property
    def policy(self) -> ASPolicy:
        return self.auth_server.policy

    @policy.setter
    def policy(self, policy: ASPolicy) -> None:
        self.auth_server.policy = as_policy(policy)

    @property
    def registrations(self) -> dict[str, Client]:
        """Every record the AS holds: DCR registrations and pre-registered clients."""
        return self.auth_server.registry.records

    @property
    def cimd_cache(self) -> dict[str, CachedDocument]:
        """CIMD documents the AS has cached: a cache, not a record; it expires."""
        return self.auth_server.cimd.cache

    def as_state(self) -> dict[str, Any]:
        # fmt: off
        return {
            "registrations": {cid: {"kind": c.kind, "client_name": c.client_name, "has_secret": c.client_secret is not None}
                              for cid, c in self.registrations.items()},
            "cimd_cache": {url: {"fetched_at": d.fetched_at, "expires_at": d.expires_at, "hits": d.hits}
                           for url, d in self.cimd_cache.items()},
            "issued_tokens": self.auth_server.issued.ever_issued,  # every one, expired ones too
        }
        # fmt: on

    # Clients ---------------------------------------------------------------------------------

    def httpx_client(self, caller: str = "client", **kwargs: Any) -> httpx.AsyncClient:
        return self.network.httpx_client(caller, **kwargs)

    def httpx2_client(self, caller: str = "sdk-client", **kwargs: Any) -> httpx2.AsyncClient:
        return self.network.httpx2_client(caller, **kwargs)

    def client(
        self,
        method: RegistrationMethod = "auto",
        *,
        client_metadata: dict[str, Any] | None = None,
        client_metadata_url: str | None = CLIENT_METADATA_URL,
        preregistered: dict[str, Credentials] | None = None,
        decision: Decision = "approve",
        caller: str = "client",
        revision: str | Revision | None = None,
        ask_user: AskUser | None = None,
        credential_store: dict[str, Credentials] | None = None,
        initial_access_token: str | None = None,
    ) -> LabClient:
        """A step-by-step lab client; nothing is sent until its steps run. It follows the lab's
        revision unless given another (to watch a client of one revision meet servers of another)."""
        if client_metadata is not None:
            check_client_metadata(client_metadata)
        check_client(
            client_metadata_url=client_metadata_url, decision=decision, preregistered=preregistered,
            ask_user=ask_user, credential_store=credential_store, initial_access_token=initial_access_token,
        )  # fmt: skip
        client = LabClient(
            self.mcp_url,
            http=self.network.httpx_client(caller),
            browser=Browser(self._browser_client()),
            trace=self.trace,
            ids=self.ids.derived(f"client:{self._next_client_number()}"),
            method=method,
            client_metadata=client_metadata or default_client_metadata(client_metadata_url or CLIENT_METADATA_URL),
            client_metadata_url=client_metadata_url,
            preregistered=preregistered,
            decision=decision,
            revision=revision or self.revision,
            ask_user=ask_user,
            credential_store=credential_store,
            initial_access_token=initial_access_token,
            initial_access_token_issuer=self.issuer,  # the lab's AS gave it
        )
        # Client assertions (private_key_jwt) carry iat/exp: from the lab's clock, so in process
        # they are deterministic and agree with the AS, and in serve mode they are real time.
        client.now = self.clock.now
        return client

    def _browser_client(self) -> httpx.AsyncClient:
        if self._browser_http is None:
            self._browser_http = self.network.httpx_client("browser")
        return self._browser_http

    def _next_client_number(self) -> int:
        self._clients += 1
        return self._clients

    async def connect(self, method: RegistrationMethod = "auto", **options: Any) -> Connection:
        """Run the whole handshake with a new lab client and return what it got."""
        check_options("lab.connect", options, option_names(Lab.client))
        client = self.client(method, **options)
        return Connection(client, await client.run_all())

    # Lifecycle -------------------------------------------------------------------------------

    def fresh(self) -> Lab:
        """A new lab built as this one was (seed, policy, revision, capabilities, URLs), its clock
        where this one's started: what the stepper's Reset starts again from. What was changed at
        run time (hosts added, documents published, the AS switched) is not carried over."""
        clock = LabClock(self._clock_start) if type(self.clock) is LabClock else None  # not a served WallClock
        return Lab(**self._options, clock=clock)

    async def aclose(self) -> None:
        if self._browser_http is not None:
            await self._browser_http.aclose()
            self._browser_http = None
        await self.network.aclose()

    async def __aenter__(self) -> Lab:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
