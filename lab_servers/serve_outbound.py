"""The served lab's own fetches (`python -m lab_servers serve`). In process, every server's
outbound request goes over the lab's virtual network; served, the AS fetches the client documents
the lab hosts from its documents origin over a real socket, trusting the lab's CA, and refuses
every other host as out of its reach (never the internet), and the MCP server fetches the AS's
keys over the socket too. None of these clients keeps a connection open between fetches."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

import httpx

from .authorization_server.defensive_fetch import OutOfReach, Resolver, is_special_use
from .lab import Lab
from .network.network import HttpxTransport


class _OutsideOrigins(httpx.AsyncBaseTransport):
    """The AS's fetches: to the trusted local origin over a real socket (TLS verified with the
    lab's CA), to everything else over the lab's virtual network as in the in-process lab (its
    app.example, and what a notebook publishes on a served lab's network). The network records
    those in the served trace, which prints and saves them (`serve_trace.print_and_save`), as
    sent by the served AS's own host: they were credited to auth.example.com, which the served
    lab does not have."""

    def __init__(self, lab: Lab, origin: str, verify: ssl.SSLContext | bool, limits: httpx.Limits) -> None:
        self.origin = origin
        self.virtual = HttpxTransport(lab.network, urlsplit(lab.issuer).netloc)
        self.real = httpx.AsyncHTTPTransport(verify=verify, limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        return await (self.real if origin == self.origin else self.virtual).handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


def _within_reach(lab: Lab, documents_origin: str) -> Resolver:
    """The virtual DNS the AS's fetches go through, but a name it lacks is said to be out of the
    served AS's reach, not unresolvable: a real client's own document on the internet (Codex's
    default, https://chatgpt.com/oauth/codex/client.json) was refused as a host that "does not
    resolve", which it does, on the user's machine."""

    def out_of_reach() -> OutOfReach:
        # A client that sends its own document by default (Codex, VS Code) registers by DCR
        # where the AS advertises no CIMD: the way out, where DCR is there to take. Claude Code
        # keeps a refused client id and sends it again, to an AS without CIMD too, until its
        # user signs it out (tests/test_claude_code.py): the way out says so.
        dcr = (
            "; with serve --no-cimd a client that sends its own registers by DCR"
            " (one that kept this client_id sends it again until you sign it out)"
        )
        return OutOfReach(
            f"the served lab's AS fetches documents only from its own documents host, {documents_origin}"
            " (the banner lists them; serve --client-document FILE adds yours), never from the internet"
            + (dcr if lab.auth_server.capabilities.dcr == "open" else "")
        )

    def resolve(host: str) -> tuple[str, ...]:
        try:
            addresses = lab.network.dns.resolve_all(host)
        except LookupError:
            raise out_of_reach() from None
        # An IP literal is its own answer: a public one no lab name has is the internet too (it got
        # "connection refused"); a special-use one is refused as such next (CIMD §8.6).
        literal = addresses == (host.lower().strip("[]"),)
        if literal and not is_special_use(addresses[0]) and addresses[0] not in lab.network.dns.addresses():
            raise out_of_reach()
        return addresses

    return resolve


# No connection kept between the lab's own fetches (rare: keys once, a document a minute), so a
# server stopping, which waits for its open connections, never waits for one of the lab's.
ONE_CONNECTION_A_FETCH = httpx.Limits(max_keepalive_connections=0)


def connect_outside(lab: Lab, documents_origin: str, verify: ssl.SSLContext | bool) -> None:
    """Point the served lab's own clients at the world: the AS's fetches (client documents, the
    prefetches of a registration) and the MCP server's fetch of the AS's keys."""
    as_http = httpx.AsyncClient(transport=_OutsideOrigins(lab, documents_origin, verify, ONE_CONNECTION_A_FETCH))
    lab.auth_server.cimd.http = lab.auth_server.registrar.http = as_http
    lab.auth_server.cimd.resolve_host = lab.auth_server.registrar.resolve_host = _within_reach(lab, documents_origin)
    # The MCP server fetches the AS's keys over the socket, trusting the same CA. Not through a
    # proxy the environment names (HTTPS_PROXY): the AS is on this machine's loopback, which a
    # proxy elsewhere cannot reach, and every request for an access token got 401 behind one.
    keys_http = httpx.AsyncClient(timeout=5, verify=verify, trust_env=False, limits=ONE_CONNECTION_A_FETCH)
    lab.resource_server.http = lab.resource_server.validator.http = keys_http
