"""The lab network: `https://<host>/…` → an in-process ASGI app, with every exchange traced.

A request is routed the way a real one travels: the host name is looked up in the virtual DNS,
and the address it resolves to is "connected to". An unknown name or an address where nothing
listens fails like a real connection error. A caller that has already resolved and vetted an
address (the authorization server's defensive CIMD fetch does) pins it with the request
extension `lab.pinned_address`, a `PinnedAddress`, so the connection goes to the address that was
checked. A pin names the host it was vetted for and applies to that host only: httpx copies a
request's extensions onto a redirect it follows, and a redirect to another host must connect
where that host resolves, as a real client's would (a vetted address says nothing about it).

An answer reaches the client as the same app served by uvicorn with h11 would send it, or fails
as it would there (`http1`): what HTTP/1.1 cannot carry (a status outside 200-599, a field h11
will not write, a Content-Length that is no number) closes the connection with no response, and
a body cut short of its Content-Length, longer than it, or left unended by an app that failed
or returned, closes it mid-body; the client's own `RemoteProtocolError` either way, and the trace
says why. Not copied: the framing itself (no `Transfer-Encoding: chunked` is added), uvicorn's
`Server` field, and the client's h11 refusals of a request (sent here as a raw client writes it).
tests/test_network_vs_socket.py holds each case side by side.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import httpx2

from ..bounded_read import ACCEPTED_ENCODINGS
from ..determinism import LabClock
from ..trace import BodyTap, Exchange, Trace, check_caller
from .asgi import AppCall, ASGIApp, DateField, RawResponse, open_asgi, sent_url, shut_down
from .dns import UnknownHost, VirtualDNS
from .http1 import ServerDisconnected
from .lifespan import LifespanRunner
from .traced_response import TracedResponse

PINNED_ADDRESS = "lab.pinned_address"


@dataclass(frozen=True)
class PinnedAddress:
    """The address a caller resolved and vetted for `host`: a request to `host` connects there."""

    host: str
    address: str

    def applies_to(self, host: str) -> bool:
        # Host names compare case-insensitively (RFC 3986 §3.2.2); the network lowercases its own.
        return self.host.lower().rstrip(".") == host.lower().rstrip(".")


@functools.lru_cache(maxsize=256)  # a few addresses, looked up on every request (issue 12)
def _as_connected(address: str) -> str:
    """A dual-stack socket connecting to ::ffff:10.0.0.5 reaches 10.0.0.5: route it there too."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped) if mapped is not None else address


_COOKIE_HEADERS = (b"set-cookie", b"set-cookie2")


def _sets_cookies(headers: httpx.Headers | httpx2.Headers) -> bool:
    # The only headers `http.cookiejar` reads cookies from; without either it returns no cookies
    # (CookieJar.make_cookies), whatever its policy.
    return any(key.lower() in _COOKIE_HEADERS for key, _ in headers.raw)


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, minus its cost on the many responses that set no cookie: httpx builds a
    `urllib.request.Request` and an e-mail message for every response before the standard jar
    looks for `Set-Cookie` (issue 12: 7 % of the instructions of an in-process handshake)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if _sets_cookies(response.headers):
            super().extract_cookies(response)


class _Cookies2(httpx2.Cookies):
    """The same for httpx2, the SDK's HTTP client."""

    def extract_cookies(self, response: httpx2.Response) -> None:
        if _sets_cookies(response.headers):
            super().extract_cookies(response)


class LabConnectError(ConnectionError):
    """Nothing answered: unknown host, or no server at the address it resolved to."""


@dataclass
class _Host:
    name: str
    address: str
    app: ASGIApp
    lifespan: LifespanRunner | None
    # Requests still running in an app with a lifespan, which ends after them (`aclose`); while it
    # ends, the host takes no new request, as a server closes its listening socket first.
    in_flight: dict[AppCall, None] = field(default_factory=dict)  # in the order they began
    closing: bool = False


class LabNetwork:
    def __init__(self, trace: Trace | None = None, clock: LabClock | None = None) -> None:
        self.trace = trace if trace is not None else Trace()
        self.clock = clock if clock is not None else LabClock()
        # Every host here is served as uvicorn serves one, with a Date from this network's clock
        # (RFC 9110 §6.6.1) on each answer whose app wrote none; served, uvicorn adds it instead.
        self._date = DateField(self.clock.now)
        self.dns = VirtualDNS()
        self._by_address: dict[str, _Host] = {}

    def add_host(self, name: str, address: str, app: ASGIApp, *, lifespan: bool = False) -> None:
        """Serve `app` at `address` and point the name `name` at it. With `lifespan`, the app's
        ASGI lifespan runs from the first request to `aclose`, or until this network is freed:
        a notebook drops a lab without closing it (`lab = Lab()` run again), and the lifespan's
        task, waiting for a shutdown nobody would send, kept the lab whole (servers, trace) and
        added one task per lab for as long as the kernel ran. An app whose `lifespan_app` names
        the part that has the lifespan has only that part run by the task (see `LifespanRunner`)."""
        self.dns.set(name, address)
        runner = None
        if lifespan:
            runner = LifespanRunner(getattr(app, "lifespan_app", app))
            # Once nothing can reach this network, no request can reach the app either.
            weakref.finalize(self, runner.stop_soon)
        self._by_address[address] = _Host(name, address, app, runner)

    def hosts(self) -> dict[str, str]:
        return {host.name: host.address for host in self._by_address.values()}

    async def send(
        self,
        caller: str,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        pinned: PinnedAddress | None = None,
    ) -> RawResponse:
        """One whole exchange: the request body sent, the response body read to the end."""
        response = await self.open(caller, method, url, headers, body, pinned)
        try:
            return RawResponse(response.status, response.headers, await response.read())
        finally:
            await response.aclose()

    async def open(
        self,
        caller: str,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterator[bytes],
        pinned: PinnedAddress | None = None,
    ) -> TracedResponse:
        """Connect, send the request, and return once the status line and headers are back; the
        body streams from there. The exchange is traced when the response is closed. A body the
        caller already holds (`bytes`) is kept by the trace, bounded, even if the server never
        reads it; of a streamed body, the trace keeps what the server read."""
        url = sent_url(url)  # the trace records the request-target that is sent
        host_name = (urlsplit(url).hostname or "").lower()
        request_tap = BodyTap()
        if isinstance(body, bytes):
            request_tap.add(body)
        common: dict[str, Any] = dict(
            seq=self.trace.start(),
            caller=caller,
            host=host_name,
            method=method,
            url=url,
            request_headers=tuple(headers),
            at=self.clock.now(),
        )
        try:
            if pinned is not None and pinned.applies_to(host_name):
                addresses: tuple[str, ...] = (pinned.address,)
            else:
                addresses = self.dns.resolve_all(host_name)
        except UnknownHost as exc:
            self._record_failure(common, request_tap, None, str(exc))
            raise LabConnectError(str(exc)) from None
        # A client tries the addresses of a multi-record answer in order and uses the first one
        # where something listens (RFC 8305's ordering, minus the racing).
        address, host = addresses[0], None
        for candidate in addresses:
            host = self._by_address.get(_as_connected(candidate))
            if host is not None:
                address = candidate
                break
        if host is None or host.closing:
            reason = f"{host_name} ({', '.join(addresses)}): connection refused"
            self._record_failure(common, request_tap, address, reason)
            raise LabConnectError(reason)
        if host.lifespan is not None:
            try:
                await host.lifespan.start()  # the app's first request waits for it to start
            except BaseException as exc:
                # Its seq is taken: filed unanswered, so the trace has no gap where it would be.
                why = "the caller gave up while the server started" if isinstance(exc, asyncio.CancelledError) else exc
                self._record_failure(common, request_tap, address, f"no response: {why}")
                raise
            if host.closing:
                # The lab closed while the app started: uvicorn listens only once its startup is
                # done and stops listening before its shutdown, so this request never connected.
                # Sent on, it reached an app whose lifespan was ending under it and answered 500.
                reason = f"{host_name} ({address}): connection refused, the server is shutting down"
                self._record_failure(common, request_tap, address, reason)
                raise LabConnectError(reason)

        async def tapped(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
            async for chunk in stream:
                request_tap.add(chunk)
                yield chunk

        sending = body if isinstance(body, bytes) else tapped(body)
        try:
            in_flight = host.in_flight if host.lifespan is not None else None
            response = await open_asgi(
                host.app, method, url, headers, sending, client_address=caller, date=self._date, in_flight=in_flight
            )
        except ServerDisconnected as exc:  # the app answered what HTTP/1.1 cannot carry
            self._record_failure(common, request_tap, address, str(exc))
            raise
        except BaseException:
            # The caller gave up before the status line came (its timeout, a cancelled task). The
            # request was sent all the same, and the trace keeps every request sent.
            self._record_failure(common, request_tap, address, "no response: the caller gave up before it came")
            raise
        return TracedResponse(self.trace, common, address, request_tap, response)

    def _record_failure(self, common: dict[str, Any], request: BodyTap, address: str | None, reason: str) -> Exchange:
        return self.trace.record(
            **common,
            request_body=request.text(),
            address=address,
            status=None,
            response_headers=(),
            response_body="",
            error=reason,
        )

    def httpx_client(self, caller: str, **kwargs: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` whose requests travel on this network as `caller`."""
        check_caller(caller)
        client = httpx.AsyncClient(transport=HttpxTransport(self, caller), **kwargs)
        client._cookies = _Cookies(client.cookies)  # httpx sets its own jar type in __init__
        # What the lab's clients offer in Accept-Encoding (RFC 9110 §12.5.3) is what the lab's
        # bounded reader inflates. httpx and httpx2 offer every coding they can undo on this
        # machine, `br` if brotli is installed and `zstd` if zstandard is, so a request would read
        # differently on a machine with more packages (the stored notebook outputs show it).
        if "accept-encoding" not in httpx.Headers(kwargs.get("headers")):
            client.headers["Accept-Encoding"] = ACCEPTED_ENCODINGS  # in its place among the defaults
        return client

    def httpx2_client(self, caller: str, **kwargs: Any) -> httpx2.AsyncClient:
        """The same for `httpx2`, the HTTP client of the official `mcp` SDK."""
        check_caller(caller)
        client = httpx2.AsyncClient(transport=Httpx2Transport(self, caller), **kwargs)
        client._cookies = _Cookies2(client.cookies)
        if "accept-encoding" not in httpx2.Headers(kwargs.get("headers")):
            client.headers["Accept-Encoding"] = ACCEPTED_ENCODINGS  # as `httpx_client`
        return client

    async def aclose(self) -> None:
        """End each app's lifespan (the MCP server's session manager) after the requests running
        in it, as uvicorn shuts down: it used to end under them, and each answered 500 while the
        SDK logged a traceback ("Error handling POST request"). Meanwhile the host takes no new
        request (connection refused); once closed, it is reached as before."""
        for host in self._by_address.values():
            if host.lifespan is not None:
                host.closing = True
                try:
                    await shut_down(host.in_flight)
                    await host.lifespan.stop()
                finally:
                    host.closing = False


class _Stream:
    """The response body as httpx/httpx2 read it from a transport."""

    def __init__(self, response: TracedResponse) -> None:
        self._response: TracedResponse | None = response

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._response is None:
            raise RuntimeError("response stream already closed")
        return self._response

    async def aclose(self) -> None:
        # httpx's Response and its BoundAsyncStream refer to each other (a reference cycle only the
        # cyclic GC frees). Once the exchange is filed, let go of the lab's side (bodies, the app's
        # task, its queue and context) so refcounting frees it at once instead of every in-flight
        # request's graph riding along into the collector (issue 12, 1,000 concurrent handshakes).
        response, self._response = self._response, None
        if response is not None:
            await response.aclose()


class _HttpxStream(_Stream, httpx.AsyncByteStream):
    pass


class _Httpx2Stream(_Stream, httpx2.AsyncByteStream):
    pass


def _pin_of(extensions: dict[str, Any]) -> PinnedAddress | None:
    """The request's pin, if it carries one; anything else under the name pins nothing."""
    pin = extensions.get(PINNED_ADDRESS)
    return pin if isinstance(pin, PinnedAddress) else None


async def _forward(network: LabNetwork, caller: str, request: Any, http: Any, stream: type[_Stream]) -> Any:
    """Carry one httpx or httpx2 request (`http` is the module: the two share one API)."""
    body: bytes | AsyncIterator[bytes]
    try:
        body = request.content  # already in memory: the trace may keep it whole
    except http.RequestNotRead:
        body = request.stream.__aiter__()  # a streamed upload: handed over as the server reads it
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    try:
        response = await network.open(
            caller, request.method, str(request.url), headers, body, _pin_of(request.extensions)
        )
    except LabConnectError as exc:
        raise http.ConnectError(str(exc), request=request) from None
    except ServerDisconnected as exc:  # as httpx reads a connection closed before any response
        raise http.RemoteProtocolError(str(exc), request=request) from None
    response.disconnected = http.RemoteProtocolError
    # The fields as the server sent them, octet for octet (the trace keeps them Latin-1 decoded):
    # a value may hold obs-text, %x80-FF (RFC 9110 §5.5), which a socket carries and httpx then
    # decodes as a client over one would; handed over as str, httpx encoded it as ASCII and
    # raised, and the step failed as "unexpected response" where a served one read the field.
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    return http.Response(response.status, headers=raw, stream=stream(response), request=request)


class HttpxTransport(httpx.AsyncBaseTransport):
    def __init__(self, network: LabNetwork, caller: str) -> None:
        self.network, self.caller = network, caller

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await _forward(self.network, self.caller, request, httpx, _HttpxStream)


class Httpx2Transport(httpx2.AsyncBaseTransport):
    def __init__(self, network: LabNetwork, caller: str) -> None:
        self.network, self.caller = network, caller

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await _forward(self.network, self.caller, request, httpx2, _Httpx2Stream)
