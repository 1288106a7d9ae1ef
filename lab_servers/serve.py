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
import socket
import ssl
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
import uvicorn
from starlette.types import ASGIApp

from .authorization_server import HARDENED, ASCapabilities, ASPolicy
from .authorization_server.errors import oauth_refusal
from .authorization_server.keys import ALGORITHM, AccessTokenAlgorithm
from .browser_origins import BrowserOrigins
from .client_documents import READY_DOCUMENTS, ClientDocumentError, read_client_document
from .determinism import LabClock, SystemIds
from .error_text import Refusal, refuse_as_invalid_request
from .lab import Lab
from .local_ca import LocalCA, ensure_local_ca
from .loopback import is_loopback_host
from .metadata_host import MetadataHost
from .revisions import DEFAULT_REVISION
from .revisions import revision as revision_named
from .rfc9112 import Rfc9112, ServerAsAWhole
from .serve_binding import CANONICAL_HOST, bind, canonical_host_only, url_host
from .serve_outbound import connect_outside
from .serve_sockets import (
    GRACEFUL_SHUTDOWN_SECONDS,
    LISTEN_BACKLOG,
    MAX_CONNECTIONS,
    MAX_REQUEST_HEAD_BYTES,
    REQUEST_DEADLINE_SECONDS,
    WRITE_STALL_SECONDS,
    QuietOutOfFiles,
    limited_protocol,
    uvicorn_limit,
)
from .serve_tls import (
    TLS_HANDSHAKE_SECONDS,
    TLS_SHUTDOWN_SECONDS,
    abandon_pending_handshakes,
    server_context,
    tls_handshakes,
)
from .serve_trace import TraceRecorder, print_and_save, record_socket_answers
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


def documents_refused_over_http(policy: ASPolicy, *, tls: bool) -> bool:
    """Whether the AS refuses every document URL of a lab served over plain http as a client_id:
    CIMD -02 §3 has a client_id URL be https, and a policy holding to it refuses an http one
    before any fetch. `serving` then turns CIMD off, and the banner says why."""
    return not tls and policy.require_https_client_id


def served_policy(base: ASPolicy, documents_origin: str) -> ASPolicy:
    """The AS policy of a served lab: the base rules, plus exactly one trusted local origin, and
    a missing `resource` read as the only resource this AS serves (RFC 8707 §2.1's "predefined
    default resource value", for clients that never send it)."""
    return base.but(trusted_local_origins=(documents_origin,), default_to_single_resource=True)


# The --host values that listen on loopback alone (`localhost` binds, and names, 127.0.0.1).
LOOPBACK_LISTEN_HOSTS = ("127.0.0.1", "::1", "localhost")


def listen_host(host: str) -> str:
    """`--host` as a socket takes it: an IPv6 address may be written bracketed, as in a URL
    (RFC 3986 §3.2.2), so `[::1]` is `::1`."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _check_ports(**ports: int) -> None:
    """Each port a TCP port (0 lets the system pick one), and no two servers on one port: the
    second would bind and then fail to listen, and uvicorn stop without saying why."""
    taken: dict[int, str] = {}
    for name, port in ports.items():
        flag = "--" + name.replace("_", "-")
        if not 0 <= port <= 65535:
            raise ValueError(f"{flag} {port} is not a TCP port (0 to 65535; 0 for any free one)")
        if port in taken:
            raise ValueError(f"{taken[port]} and {flag} are both {port}: each server needs a port of its own")
        if port:
            taken[port] = flag


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
    host = listen_host(host)
    if host not in LOOPBACK_LISTEN_HOSTS and not allow_non_loopback:
        # 127.0.0.2 is loopback too (RFC 1122 §3.2.1.3), just not a name the lab's URLs use.
        reach = "" if is_loopback_host(host) else " (others can then reach the lab)"
        raise ValueError(
            f"--host {host} is none of {', '.join(LOOPBACK_LISTEN_HOSTS)}; pass --allow-non-loopback to listen there{reach}"
        )
    _check_ports(mcp_port=mcp_port, as_port=as_port, documents_port=documents_port)
    # Bind first, so a port in use is a plain OSError here (uvicorn would call sys.exit), and
    # port 0 becomes a real port before any URL is made. From here on every way out closes them:
    # the sockets a refusal below left (an unusable --tls-dir or client document) stayed open
    # for as long as a notebook kept the error's traceback (on macOS, whose SO_REUSEADDR lets no
    # second socket bind the port, the second try then found it in use).
    sockets = _bound(host, (mcp_port, as_port, documents_port))
    ports = [sock.getsockname()[1] for sock in sockets]
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    lab: Lab | None = None
    servers: list[_EmbeddedServer] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        named = url_host(sockets[0], tls=tls)
        try:
            ca = ensure_local_ca(tls_directory) if tls else None
        except OSError as exc:
            raise OSError(f"--tls-dir {exc.filename or tls_directory}: {exc.strerror or exc}") from None
        scheme = "https" if tls else "http"
        origins = [f"{scheme}://{named}:{port}" for port in ports]
        mcp_url, issuer, documents_origin = f"{origins[0]}/mcp", origins[1], origins[2]
        if seed is not None:
            warnings.warn(
                f"serving with seed {seed!r}: anyone who knows the seed can mint tokens this lab accepts", stacklevel=2
            )
        lab_policy = served_policy(policy, documents_origin)
        if documents_refused_over_http(lab_policy, tls=tls):
            # Advertising CIMD would send each client that prefers it (MCP §5) to that refusal
            # (RFC 8414: the metadata says what works).
            capabilities = (capabilities or ASCapabilities.for_revision(followed.version)).but(cimd=False)
        lab = Lab(
            seed=seed if seed is not None else 0,
            ids=None if seed is not None else SystemIds(),
            clock=WallClock(),
            policy=lab_policy,
            mcp_url=mcp_url,
            issuer=issuer,
            revision=followed,
            capabilities=capabilities,
            access_token_algorithm=access_token_algorithm,
        )
        print_and_save(lab.trace, on_exchange)
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca.ca_certificate)) if ca else True
        connect_outside(lab, documents_origin, verify)
        documents = MetadataHost(f"{named}:{ports[2]}")
        documents.url = lambda path: f"{documents_origin}{path}"  # type: ignore[method-assign]
        served = ServedLab(lab, mcp_url, issuer, documents_origin, ca=ca, listening=sockets[0].getsockname()[0])
        for ready in READY_DOCUMENTS:
            url = documents.url(ready.path)
            documents.publish(ready.path, ready.document(url), cache_control="max-age=60")
            served.client_ids.append((url, ready.who))
        taken = {ready.path: ready.who for ready in READY_DOCUMENTS}
        for path in client_documents:
            url, body = read_client_document(path, documents.url, lab.auth_server)
            if f"/{path.name}" in taken:
                # Published at the same path, one document silently replaced the other, and the
                # banner listed both at one URL.
                raise ClientDocumentError(
                    f"--client-document {path}: {url} already serves {taken[f'/{path.name}']}; give the file another name"
                )
            taken[f"/{path.name}"] = f"your document {path}"
            # The bytes judged as the AS will judge them (client_documents), not written out again.
            documents.publish(f"/{path.name}", body, cache_control="max-age=60")
            served.client_ids.append((url, f"your document {path}"))
        # Off loopback (0.0.0.0: every interface) the lab cannot know the name its clients use, so
        # any Host is taken. On a loopback address it names (127.0.0.2, over --http) the Host gates
        # stay: a DNS-rebinding page's own GETs carry no Origin, only the attacker's Host.
        any_host = allow_non_loopback and not is_loopback_host(host)
        # Each app with its own shape of refusal, for the gates in front of it (`Refusal`).
        apps: list[tuple[ASGIApp, Literal["on", "off"], Refusal]] = [
            (lab.resource_server, "on", lab.resource_server.refusal),
            (lab.auth_server.app, "off", oauth_refusal),
            (documents, "off", refuse_as_invalid_request),
        ]
        # What the sockets answer themselves (a 408, 414, 431, 505, 501 or 400) is an exchange too.
        answered = record_socket_answers(lab.trace, lab.clock.now)
        http = limited_protocol(request_deadline, write_stall, max_connections, answered)
        context = server_context(ca.server_certificate, ca.server_key) if ca else None
        for (app, lifespan, refusal), port in zip(apps, ports, strict=True):
            # A foreign Host or Origin is refused first (403); a loopback alias is told the canonical name (421).
            canonical = f"{named}:{port}", f"{scheme}://{named}:{port}"
            whole = ServerAsAWhole(app)  # `OPTIONS *`, once the gates have judged its Host
            inner = whole if any_host else canonical_host_only(whole, *canonical, refusal=refusal)
            guarded = BrowserOrigins(
                inner, own_origins=origins, allowed_hosts=(named,), any_host=any_host, refusal=refusal
            )
            # Before those gates, the Host they judge is the one RFC 9112 §3.2.2 says the request means.
            recorded = TraceRecorder(Rfc9112(guarded, refusal=refusal), lab.trace, lab.clock.now)
            config = uvicorn.Config(
                recorded,
                log_level="warning",
                # Left to the caller: uvicorn's own configuration gives its logger a stderr handler
                # that writes inside the event loop (`serve` routes every record through a console
                # that never waits, `serve_console.logged_to`, from before the servers start until
                # after they stop); here its records reach the root logger like any other.
                log_config=None,
                lifespan=lifespan,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                # uvicorn is given no certificate: `serve_tls` does TLS, so that a connection counts
                # from its accept and its handshake has a deadline.
                http=tls_handshakes(http, context, handshake_seconds=tls_handshake, shutdown_seconds=tls_shutdown)
                if context
                else http,
                limit_concurrency=uvicorn_limit(max_connections),
                # The lab serves no WebSocket (MCP's transport is HTTP). uvicorn's default, "auto", takes
                # a `Connection: Upgrade` request to a WebSocket protocol whenever `websockets` or
                # `wsproto` is importable (`uvicorn[standard]`): the connection left the lab's limits,
                # the apps got a "websocket" scope that the Host and Origin gates and the trace let
                # through, and the client-metadata host answered 500. "none": it stays an HTTP request.
                ws="none",
                # No proxy stands in front of the lab: uvicorn's default trusts X-Forwarded-For and
                # X-Forwarded-Proto from 127.0.0.1 and ::1, that is from every client of a loopback lab,
                # so one could name its own address (and walk around the hardened AS's per-address
                # registration limit) or scheme (and the trace's URLs). The socket's peer is the client.
                proxy_headers=False,
                backlog=LISTEN_BACKLOG,
                h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
            )
            servers.append(_EmbeddedServer(config))
        loop.set_exception_handler(QuietOutOfFiles(previous_handler))
        tasks = [
            asyncio.create_task(server.serve(sockets=[sock])) for server, sock in zip(servers, sockets, strict=True)
        ]
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                raise RuntimeError("a lab server stopped while starting")
            await asyncio.sleep(0.01)
        yield served
    finally:
        try:
            # Shielded: a block left because its cancel scope was cancelled (anyio's
            # `move_on_after` or `fail_after` around `serving`) is cancelled again at every await
            # in it, so the first await here raised, and the servers served on, their sockets and
            # the exception handler kept, after the block had ended.
            with anyio.CancelScope(shield=True):
                await _stop(lab, servers, tasks)
        finally:  # and should the stop itself fail or be cut short, nothing outlives the block
            for server in servers:
                server.should_exit = True
            for task in tasks:
                task.cancel()  # those that stopped already are done: nothing to cancel
            for sock in sockets:
                sock.close()
            loop.set_exception_handler(previous_handler)


async def _stop(lab: Lab | None, servers: list[_EmbeddedServer], tasks: list[asyncio.Task[None]]) -> None:
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    if lab is not None:
        # Only now: a request the servers still answered may have needed a fetch (the AS's keys,
        # a client's document); a closed client made it a 500.
        await lab.auth_server.cimd.http.aclose()
        await lab.resource_server.http.aclose()
        await lab.aclose()


def _bound(host: str, ports: tuple[int, ...]) -> list[socket.socket]:
    """A socket bound to each port, or none: one already bound is closed if a later bind fails."""
    sockets: list[socket.socket] = []
    try:
        sockets.extend(bind(host, port) for port in ports)  # appended one by one, so a failure keeps those bound
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the program it runs in:
    `serve_console.serve_until_interrupted` takes them and leaves the `serving` block, which stops
    the three servers together and then closes the lab's own clients. When each server took SIGINT
    for itself, the AS waited out its 5 s graceful shutdown for the MCP server's keep-alive TLS
    connection to it, which nobody closed, and logged an error (the lab's clients now keep no
    connection open: `serve_outbound.ONE_CONNECTION_A_FETCH`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # No await between this and uvicorn closing the listener: no handshake starts in between.
        abandon_pending_handshakes(self.config.http_protocol_class)
        await super().shutdown(sockets)
