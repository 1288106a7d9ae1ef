"""`python -m lab_servers serve`: the lab's MCP server, authorization server and a client-metadata
host on loopback sockets, for MCP clients that live outside this process (MCP Inspector, the
official SDK, an IDE):

    MCP server            https://127.0.0.1:8000/mcp   (the canonical resource URI)
    Authorization server  https://127.0.0.1:8001
    Client documents      https://127.0.0.1:8002/inspector-web.json, …

Unlike the in-process lab it runs on the wall clock (tokens expire, rate-limit windows pass) and
draws ids and the signing key from the system's randomness on every start: a seed from the
repository would let anyone mint valid tokens for a served lab. HTTPS comes from a local CA
(`local_ca`) and is spoken by `serve_tls`; `--http` serves plain http, which MCP §11.3 does not
allow for an AS.

The hardened AS keeps refusing CIMD documents on special-use addresses (CIMD §8.6), with one
exception, visible in its policy as `trusted_local_origins`: this lab's own client-metadata
host. Every exchange is recorded into the same kind of trace as the in-process lab, printed as
it happens and, with `--trace-file`, saved for `lab_servers.load_trace`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
import ssl
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import uvicorn
from starlette.types import ASGIApp

from .authorization_server import HARDENED, ASCapabilities, ASPolicy
from .authorization_server.errors import oauth_refusal
from .authorization_server.keys import ALGORITHM, AccessTokenAlgorithm
from .browser_origins import BrowserOrigins
from .client_documents import READY_DOCUMENTS, read_client_document
from .determinism import LabClock, SystemIds
from .error_text import Refusal, refuse_as_invalid_request
from .lab import AS_HOST, Lab
from .local_ca import LocalCA, ensure_local_ca
from .metadata_host import MetadataHost
from .network.network import HttpxTransport
from .revisions import DEFAULT_REVISION
from .revisions import revision as revision_named
from .serve_sockets import (
    CANONICAL_HOST,
    LISTEN_BACKLOG,
    MAX_CONNECTIONS,
    MAX_REQUEST_HEAD_BYTES,
    REQUEST_DEADLINE_SECONDS,
    WRITE_STALL_SECONDS,
    QuietOutOfFiles,
    TraceRecorder,
    bind,
    canonical_host_only,
    limited_protocol,
    url_host,
    uvicorn_limit,
)
from .serve_tls import (
    TLS_HANDSHAKE_SECONDS,
    TLS_SHUTDOWN_SECONDS,
    abandon_pending_handshakes,
    server_context,
    tls_handshakes,
)
from .trace import Exchange


class WallClock(LabClock):
    """Real time: served tokens carry a real `iat`/`exp`, and limits' windows really pass."""

    def __init__(self) -> None:
        super().__init__(int(time.time()))

    def now(self) -> int:
        return int(time.time())

    def advance(self, seconds: int) -> int:
        raise RuntimeError("a served lab runs on the wall clock; it cannot be advanced")


@dataclass
class ServedLab:
    lab: Lab
    mcp_url: str
    issuer: str
    documents_origin: str
    client_ids: list[tuple[str, str]] = field(default_factory=list)  # (client id, who it is for)
    ca: LocalCA | None = None
    listening: str = CANONICAL_HOST  # the address the sockets are bound to, which the URLs may not name

    @property
    def scheme(self) -> str:
        return "https" if self.ca else "http"


def served_policy(base: ASPolicy, documents_origin: str) -> ASPolicy:
    """The AS policy of a served lab: the base rules, plus exactly one trusted local origin, and
    (the lab's choice against RFC 8707, for clients that never send it) a missing `resource`
    read as the only resource this AS serves."""
    return base.but(trusted_local_origins=(documents_origin,), default_to_single_resource=True)


@contextlib.asynccontextmanager
async def serving(
    *,
    host: str = CANONICAL_HOST,
    mcp_port: int = 8000,
    as_port: int = 8001,
    documents_port: int = 0,
    tls: bool = True,
    tls_directory: Path | None = None,
    seed: int | str | None = None,
    policy: ASPolicy = HARDENED,
    client_documents: tuple[Path, ...] = (),
    allow_non_loopback: bool = False,
    revision: str = DEFAULT_REVISION,
    capabilities: ASCapabilities | None = None,
    on_exchange: Callable[[Exchange], None] = lambda _: None,
    request_deadline: float = REQUEST_DEADLINE_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
    write_stall: float = WRITE_STALL_SECONDS,
    tls_handshake: float = TLS_HANDSHAKE_SECONDS,
    tls_shutdown: float = TLS_SHUTDOWN_SECONDS,
    access_token_algorithm: AccessTokenAlgorithm = ALGORITHM,
) -> AsyncIterator[ServedLab]:
    """Serve a lab's MCP server, AS and client-metadata host for the duration of the block.
    `revision` is passed to `Lab` as in the in-process lab: the MCP server and the AS (its
    capabilities: `ASCapabilities.for_revision`) follow it; `capabilities`, if given, replace
    the AS's ones exactly as `Lab(capabilities=…)` does. `request_deadline`, `max_connections`,
    `write_stall` (`serve_sockets`), `tls_handshake` and `tls_shutdown` (`serve_tls`) are each
    server's connection limits, in seconds but for the count; none is a command-line flag."""
    followed = revision_named(revision)  # an unknown revision is a ValueError naming the known ones
    if not followed.protected_resource_metadata:
        # 2025-03-26 §2.3.2 puts the AS at the MCP server's origin; only the in-process lab builds
        # that co-located host (`Lab.co_located`), so a served one would advertise a topology the
        # revision does not have.
        raise ValueError(
            f"--revision {followed.version} is not served: that revision's AS lives at the MCP server's origin,"
            " which only the in-process lab builds (Lab(revision='2025-03-26'))"
        )
    if host not in ("127.0.0.1", "::1", "localhost") and not allow_non_loopback:
        raise ValueError(
            f"--host {host} is not a loopback address; pass --allow-non-loopback to listen there (others can then reach the lab)"
        )
    # Bind first, so a port in use is a plain OSError here (uvicorn would call sys.exit), and
    # port 0 becomes a real port before any URL is made.
    sockets = [bind(host, port) for port in (mcp_port, as_port, documents_port)]
    ports = [sock.getsockname()[1] for sock in sockets]
    try:
        named = url_host(sockets[0], tls=tls)
    except ValueError:
        for sock in sockets:
            sock.close()
        raise
    ca = ensure_local_ca(tls_directory) if tls else None
    scheme = "https" if tls else "http"
    origins = [f"{scheme}://{named}:{port}" for port in ports]
    mcp_url, issuer, documents_origin = f"{origins[0]}/mcp", origins[1], origins[2]
    if seed is not None:
        warnings.warn(
            f"serving with seed {seed!r}: anyone who knows the seed can mint tokens this lab accepts", stacklevel=2
        )
    lab = Lab(
        seed=seed if seed is not None else 0,
        ids=None if seed is not None else SystemIds(),
        clock=WallClock(),
        policy=served_policy(policy, documents_origin),
        mcp_url=mcp_url,
        issuer=issuer,
        revision=followed,
        capabilities=capabilities,
        access_token_algorithm=access_token_algorithm,
    )
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca.ca_certificate)) if ca else True
    _connect_outside(lab, documents_origin, verify)
    documents = MetadataHost(f"{named}:{ports[2]}")
    documents.url = lambda path: f"{documents_origin}{path}"  # type: ignore[method-assign]
    served = ServedLab(lab, mcp_url, issuer, documents_origin, ca=ca, listening=sockets[0].getsockname()[0])
    for ready in READY_DOCUMENTS:
        url = documents.url(ready.path)
        documents.publish(ready.path, ready.document(url), cache_control="max-age=60")
        served.client_ids.append((url, ready.who))
    for path in client_documents:
        url, document = read_client_document(path, documents.url)
        documents.publish(f"/{path.name}", document, cache_control="max-age=60")
        served.client_ids.append((url, f"your document {path}"))
    any_host = allow_non_loopback and host not in ("127.0.0.1", "::1", "localhost")
    # Each app with its own shape of refusal, for the gates in front of it (`Refusal`).
    apps: list[tuple[ASGIApp, Literal["on", "off"], Refusal]] = [
        (lab.resource_server, "on", lab.resource_server.refusal),
        (lab.auth_server.app, "off", oauth_refusal),
        (documents, "off", refuse_as_invalid_request),
    ]
    servers = []
    http = limited_protocol(request_deadline, write_stall, max_connections)
    context = server_context(ca.server_certificate, ca.server_key) if ca else None
    for (app, lifespan, refusal), port in zip(apps, ports, strict=True):
        # A foreign Host or Origin is refused first (403); a loopback alias is told the canonical name (421).
        canonical = f"{named}:{port}", f"{scheme}://{named}:{port}"
        inner = app if any_host else canonical_host_only(app, *canonical, refusal=refusal)
        guarded = BrowserOrigins(inner, own_origins=origins, any_host=any_host, refusal=refusal)
        recorded = TraceRecorder(guarded, lab.trace, lab.clock.now, on_exchange)
        config = uvicorn.Config(
            recorded,
            log_level="warning",
            lifespan=lifespan,
            timeout_graceful_shutdown=5,
            # uvicorn is given no certificate: `serve_tls` does TLS, so that a connection counts
            # from its accept and its handshake has a deadline.
            http=tls_handshakes(http, context, handshake_seconds=tls_handshake, shutdown_seconds=tls_shutdown)
            if context
            else http,
            limit_concurrency=uvicorn_limit(max_connections),
            backlog=LISTEN_BACKLOG,
            h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
        )
        servers.append(_EmbeddedServer(config))
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(QuietOutOfFiles(previous_handler))
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in zip(servers, sockets, strict=True)]
    try:
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                raise RuntimeError("a lab server stopped while starting")
            await asyncio.sleep(0.01)
        yield served
    finally:
        # The AS's and the MCP server's own keep-alive connections first: uvicorn waits for open
        # connections when it stops.
        await lab.auth_server.cimd.http.aclose()
        await lab.resource_server.http.aclose()
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in sockets:
            sock.close()
        loop.set_exception_handler(previous_handler)
        await lab.aclose()


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the program it runs in. Each of the three servers
    would otherwise take SIGINT for itself and stop at once, before `serving` closes the lab's own
    keep-alive connections to them (the MCP server's to the AS for its keys): the AS then waited
    out its 5 s graceful shutdown for a TLS connection nobody would close, and logged an error.
    Instead `serve_until_interrupted` takes the signals and leaves the `serving` block, which closes
    those connections first."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # No await between this and uvicorn closing the listener: no handshake starts in between.
        abandon_pending_handshakes(self.config.http_protocol_class)
        await super().shutdown(sockets)


class _OutsideOrigins(httpx.AsyncBaseTransport):
    """The AS's fetches: to the trusted local origin over a real socket (TLS verified with the
    lab's CA), to everything else over the lab's virtual network as in the in-process lab."""

    def __init__(self, lab: Lab, origin: str, verify: ssl.SSLContext | bool) -> None:
        self.origin = origin
        self.virtual = HttpxTransport(lab.network, AS_HOST)
        self.real = httpx.AsyncHTTPTransport(verify=verify)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        return await (self.real if origin == self.origin else self.virtual).handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


def _connect_outside(lab: Lab, documents_origin: str, verify: ssl.SSLContext | bool) -> None:
    as_http = httpx.AsyncClient(transport=_OutsideOrigins(lab, documents_origin, verify))
    lab.auth_server.cimd.http = lab.auth_server.registrar.http = as_http
    # The MCP server fetches the AS's keys over the socket, trusting the same CA.
    keys_http = httpx.AsyncClient(timeout=5, verify=verify)
    lab.resource_server.http = lab.resource_server.validator.http = keys_http


def banner(served: ServedLab, *, seed: int | str | None, trace_file: Path | None) -> str:
    lab = served.lab
    policy = lab.policy
    capabilities = lab.auth_server.capabilities
    named = urlsplit(served.mcp_url).netloc.rsplit(":", 1)[0]  # 127.0.0.1, or [::1]
    lines = []
    if served.ca is None:
        lines.append(
            "PLAIN HTTP (--http): for loopback experiments only. MCP §11.3 requires HTTPS for the AS; Node and SDK clients may refuse."
        )
    lines += [
        f"MCP revision          {lab.revision.version}  (MCP server and AS; --revision to change)",
        f"MCP server            {served.mcp_url}   <- the canonical resource URI; use {named}, not localhost",
        f"Authorization server  {served.issuer}  (policy: {policy.name})",
        f"  AS capabilities: cimd={capabilities.cimd}, dcr={capabilities.dcr!r}, iss={capabilities.iss_parameter}",
        f"Client documents      {served.documents_origin}"
        + ("" if capabilities.cimd else "  (served, but this AS has CIMD off: it refuses them as client ids)"),
        *listening_lines(served, named),
        f"  AS policy: trusted_local_origins={list(policy.trusted_local_origins)} (the one origin exempt from the special-use-address rule)",
        "  AS policy: default_to_single_resource=True (a missing `resource` means the MCP server above; the lab's choice against RFC 8707)",
        "  clock: wall clock; ids and signing key: "
        + (
            f"SEEDED with {seed!r} (anyone with the seed can mint tokens)"
            if seed is not None
            else "fresh system randomness"
        ),
        "",
        *client_id_lines(served),
    ]
    if served.ca:
        lines += ["", served.ca.trust_instructions()]
    if trace_file:
        lines += ["", f"Every exchange is also saved to {trace_file} (load it with lab_servers.load_trace)."]
    lines.append("\nPoint an MCP client at the MCP server; every exchange is printed below. Ctrl-C stops.\n")
    return "\n".join(lines)


def listening_lines(served: ServedLab, named: str) -> list[str]:
    """Where the sockets listen, when that is not the host the URLs name (`url_host`)."""
    if not ipaddress.ip_address(served.listening).is_unspecified:
        return []
    return [
        f"  listening on every interface ({served.listening}), but the URLs name {named}: identifiers are one exact string,",
        f"  and {named} is the one every client on this machine reaches (and the certificate names). A client on",
        "  another machine reaches the sockets, not these URLs (they name its own loopback).",
    ]


def client_id_lines(served: ServedLab) -> list[str]:
    """How an outside client can get a client_id from the served AS: only what it will accept
    (ASCapabilities are advertised *and* enforced, so the banner must not promise more)."""
    capabilities = served.lab.auth_server.capabilities
    register = f"POST {served.issuer}/register"
    dcr = {
        "open": f"  DCR (any client)      the AS mints tpc_… at {register}",
        "initial_access_token": f"  DCR                   {register} with the initial access token as a Bearer token (RFC 7591 §3)",
        "closed": f"  DCR is closed         {register} answers 403 access_denied (--dcr closed)",
        "removed": "  DCR is removed        there is no /register: 404 (--dcr removed)",
    }[capabilities.dcr]
    predates = not ASCapabilities.for_revision(capabilities.revision).cimd
    if capabilities.cimd:
        cimd = ["  CIMD: these document URLs are client ids (the AS fetches the document):"]
        cimd += [f"  {client_id:<45} {who}" for client_id, who in served.client_ids]
    else:
        why = f"revision {capabilities.revision} predates CIMD, added in 2025-11-25" if predates else "--no-cimd"
        cimd = [f"  CIMD is off           a URL client_id is refused as an unknown client ({why})"]
    registry = served.lab.auth_server.registry.records.values()
    preregistered = [f"  {c.client_id:<45} pre-registered" for c in registry if c.kind == "preregistered"]
    usable = ([dcr] if capabilities.registration_works else []) + (cimd if capabilities.cimd else []) + preregistered
    refused = ([] if capabilities.registration_works else [dcr]) + ([] if capabilities.cimd else cimd)
    if not usable:
        return [
            f"NO OUTSIDE CLIENT CAN GET A CLIENT ID FROM THIS AS: CIMD is off, DCR is {capabilities.dcr}, and no client is",
            "pre-registered. Useful to watch how a client copes with being refused (MCP 2026-07-28: clients MUST handle",
            "DCR rejections); to connect one, pass --dcr open, or "
            + ("serve --revision 2025-11-25 or later for CIMD." if predates else "drop --no-cimd."),
            *refused,
        ]
    return ["Client ids you can use:", *usable] + (["", "Refused by this AS:", *refused] if refused else [])


async def serve_until_interrupted(*, trace_file: Path | None = None, **options: Any) -> None:
    from .trace_file import TraceWriter

    writer = TraceWriter(trace_file) if trace_file else None

    def show(exchange: Exchange) -> None:
        print(exchange.summary(), flush=True)
        if writer:
            writer.write(exchange)

    # Ctrl-C or a `kill` leaves the `serving` block like any other exit: the lab's own connections
    # close before the servers stop (`_EmbeddedServer`). Where the loop cannot take signals
    # (Windows), Ctrl-C still cancels the block through asyncio.run.
    stop, loop = asyncio.Event(), asyncio.get_running_loop()
    handled = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
            handled.append(signum)
    try:
        async with serving(on_exchange=show, **options) as served:
            print(banner(served, seed=options.get("seed"), trace_file=trace_file), flush=True)
            await stop.wait()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
        if writer:
            writer.close()
