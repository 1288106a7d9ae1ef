"""The lab network: `https://<host>/…` → an in-process ASGI app, with every exchange traced.

A request is routed the way a real one travels: the host name is looked up in the virtual DNS,
and the address it resolves to is "connected to". An unknown name or an address where nothing
listens fails like a real connection error. A caller that has already resolved and vetted an
address (the authorization server's defensive CIMD fetch does) pins it with the request
extension `lab.pinned_address`, so the connection goes to the address that was checked.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import httpx2

from ..determinism import LabClock
from ..trace import Exchange, Trace, traced_body
from .asgi import ASGIApp, LifespanRunner, RawResponse, call_asgi
from .dns import UnknownHost, VirtualDNS

PINNED_ADDRESS = "lab.pinned_address"


def _as_connected(address: str) -> str:
    """A dual-stack socket connecting to ::ffff:10.0.0.5 reaches 10.0.0.5: route it there too."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped) if mapped is not None else address


class LabConnectError(ConnectionError):
    """Nothing answered: unknown host, or no server at the address it resolved to."""


@dataclass
class _Host:
    name: str
    address: str
    app: ASGIApp
    lifespan: LifespanRunner | None


class LabNetwork:
    def __init__(self, trace: Trace | None = None, clock: LabClock | None = None) -> None:
        self.trace = trace if trace is not None else Trace()
        self.clock = clock if clock is not None else LabClock()
        self.dns = VirtualDNS()
        self._by_address: dict[str, _Host] = {}

    def add_host(self, name: str, address: str, app: ASGIApp, *, lifespan: bool = False) -> None:
        """Serve `app` at `address` and point the name `name` at it."""
        self.dns.set(name, address)
        self._by_address[address] = _Host(name, address, app, LifespanRunner(app) if lifespan else None)

    def hosts(self) -> dict[str, str]:
        return {host.name: host.address for host in self._by_address.values()}

    async def send(
        self,
        caller: str,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        pinned_address: str | None = None,
    ) -> RawResponse:
        host_name = (urlsplit(url).hostname or "").lower()
        common: dict[str, Any] = dict(
            seq=self.trace.start(),
            caller=caller,
            host=host_name,
            method=method,
            url=url,
            request_headers=tuple(headers),
            request_body=traced_body(body),
            at=self.clock.now(),
        )
        try:
            address = pinned_address or self.dns.resolve(host_name)
        except UnknownHost as exc:
            self._record_failure(common, None, str(exc))
            raise LabConnectError(str(exc)) from None
        host = self._by_address.get(_as_connected(address))
        if host is None:
            reason = f"{host_name} ({address}): connection refused"
            self._record_failure(common, address, reason)
            raise LabConnectError(reason)
        if host.lifespan is not None:
            await host.lifespan.start()
        response = await call_asgi(host.app, method, url, headers, body, client_address=caller)
        self.trace.record(
            **common,
            address=address,
            status=response.status,
            response_headers=response.headers,
            response_body=traced_body(response.body),
        )
        return response

    def _record_failure(self, common: dict[str, Any], address: str | None, reason: str) -> Exchange:
        return self.trace.record(
            **common, address=address, status=None, response_headers=(), response_body="", error=reason
        )

    def httpx_client(self, caller: str, **kwargs: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` whose requests travel on this network as `caller`."""
        return httpx.AsyncClient(transport=HttpxTransport(self, caller), **kwargs)

    def httpx2_client(self, caller: str, **kwargs: Any) -> httpx2.AsyncClient:
        """The same for `httpx2`, the HTTP client of the official `mcp` SDK."""
        return httpx2.AsyncClient(transport=Httpx2Transport(self, caller), **kwargs)

    async def aclose(self) -> None:
        for host in self._by_address.values():
            if host.lifespan is not None:
                await host.lifespan.stop()


async def _forward(network: LabNetwork, caller: str, request: Any, http: Any) -> Any:
    """Carry one httpx or httpx2 request (`http` is the module: the two share one API)."""
    try:
        raw = await network.send(
            caller,
            request.method,
            str(request.url),
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            await request.aread(),
            request.extensions.get(PINNED_ADDRESS),
        )
    except LabConnectError as exc:
        raise http.ConnectError(str(exc), request=request) from None
    return http.Response(raw.status, headers=list(raw.headers), content=raw.body, request=request)


class HttpxTransport(httpx.AsyncBaseTransport):
    def __init__(self, network: LabNetwork, caller: str) -> None:
        self.network, self.caller = network, caller

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await _forward(self.network, self.caller, request, httpx)


class Httpx2Transport(httpx2.AsyncBaseTransport):
    def __init__(self, network: LabNetwork, caller: str) -> None:
        self.network, self.caller = network, caller

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await _forward(self.network, self.caller, request, httpx2)
