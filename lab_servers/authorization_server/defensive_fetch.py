"""The defensive fetch: how the authorization server fetches a URL that a client chose.

A CIMD `client_id` is such a URL, and so is every URL inside client metadata that an AS fetches
(`logo_uri`, `jwks_uri`, `sector_identifier_uri`), whether it came from a CIMD document or a
DCR registration. Whoever runs the client picks the address, so the AS fetches as if the URL
were hostile (CIMD -02 §5, §8.6, §8.7; MCP Security Best Practices, SSRF):

1. `vet_host`        — resolve the name once; refuse special-use addresses (RFC 6890): private,
                       loopback, link-local (cloud metadata lives at 169.254.169.254), carrier-grade
                       NAT, and IPv6 forms that carry such an IPv4 address inside them. A name with
                       several A/AAAA records is refused if ANY of them is special-use: a client
                       may connect to any address of the set.
2. `defensive_fetch` — connect to that same vetted address (so a name that answers differently
                       the second time, DNS rebinding, gets nowhere), follow no redirects, accept
                       only 200, stop reading at a size cap, give up after a timeout. The cap
                       counts DECODED bytes, inflated by the AS itself a bounded piece at a time
                       (`bounded_read`): a 5 KB gzip body can inflate to 50 MB (a "gzip bomb").

Both raise `FetchRefused` naming the rule; the caller turns it into the OAuth error its endpoint
uses (`invalid_client` for a CIMD document, `invalid_client_metadata` for a registration).
The naive policy switches each rule off, which is how the experiments show what each one buys.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from ..bounded_read import ACCEPTED_ENCODINGS, BodyRefused, read_at_most, unbind
from ..network import PINNED_ADDRESS, PinnedAddress
from .policy import ASPolicy

Resolver = Callable[[str], "str | Sequence[str]"]  # a name → its address, or its whole answer set


class FetchRefused(Exception):
    """The AS will not fetch, or will not use what it fetched; `rule` says why."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


class UnresolvableHost(FetchRefused):
    """The name has no address: nothing can be fetched from it, harmful or not."""


class SpecialUseAddress(FetchRefused):
    """The name resolves to an address the AS must never connect to on a client's behalf."""


# 1. Which addresses are off limits ------------------------------------------------------------

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if any: IPv4-mapped (::ffff:10.0.0.1),
    IPv4-compatible (::10.0.0.1), 6to4 (2002::/16) and NAT64 (64:ff9b::/96). A connection to
    one of these can reach that IPv4 host, so the IPv4 address is the one to judge."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    packed = int(ip)
    if any(ip in net for net in _NAT64) or (packed >> 32 == 0 and packed > 1):
        return ipaddress.IPv4Address(packed & 0xFFFFFFFF)
    return None


def special_use_kind(address: str) -> str | None:
    """What kind of special-use address this is (RFC 6890), or None for a public address."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            kind = special_use_kind(str(inner))
            return f"{kind}, carried inside the IPv6 address" if kind else None
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local, where cloud metadata services live"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "carrier-grade NAT, RFC 6598"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not globally routable"),
    )
    return next((kind for matched, kind in checks if matched), None)


def is_special_use(address: str) -> bool:
    return special_use_kind(address) is not None


# 2. The fetch --------------------------------------------------------------------------------


# The headers RFC 9111 computes a response's freshness from (§4.2), kept as the server sent them.
FRESHNESS_HEADERS = ("cache-control", "age", "expires", "date")


@dataclass(frozen=True)
class Fetched:
    url: str
    address: str | None  # the vetted address the AS connected to (None when it did not check)
    content_type: str
    freshness: dict[str, str]  # FRESHNESS_HEADERS present in the response
    body: bytes


def vet_host(host: str, *, what: str, resolve: Resolver) -> str:
    """Resolve `host` once and return the address to connect to, if every address the name
    resolves to is one the AS may connect to."""
    try:
        answer = resolve(host)
    except LookupError:
        raise UnresolvableHost(f"{what} host {host!r} does not resolve") from None
    addresses = (answer,) if isinstance(answer, str) else tuple(answer)
    for address in addresses:
        kind = special_use_kind(address)
        if kind is not None:
            among = f" (one of its {len(addresses)} addresses)" if len(addresses) > 1 else ""
            raise SpecialUseAddress(
                f"{what} host {host} resolves to special-use address {address}{among} ({kind}); MUST NOT fetch it (CIMD §8.6)"
            )
    return addresses[0]


async def defensive_fetch(
    url: str,
    *,
    what: str,
    http: httpx.AsyncClient,
    resolve: Resolver,
    policy: ASPolicy,
    accept: str = "application/json",
    json_only: bool = True,
) -> Fetched:
    """GET `url` under `policy`'s rules; `what` names the URL in errors ("client_id", "logo_uri")."""
    address: str | None = None
    extensions: dict[str, Any] = {}
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": a "[" that never closes
        raise FetchRefused(f"{what} is not a URL that can be fetched (RFC 3986 §3.2.2)") from None
    trusted = f"{parts.scheme}://{parts.netloc}" in policy.trusted_local_origins
    if policy.block_special_use_addresses and not trusted:
        address = vet_host(parts.hostname or "", what=what, resolve=resolve)
        if policy.pin_vetted_address:
            # Without the pin the network would look the name up again, and a rebinding name
            # answers with an internal address the second time (time-of-check, time-of-use).
            # The pin holds for this host only: a redirect elsewhere is judged by the no-redirect
            # rule (CIMD §5), not by an address vetted for another name.
            extensions[PINNED_ADDRESS] = PinnedAddress(parts.hostname or "", address)
    if policy.require_https_client_id and parts.scheme != "https":
        # CIMD §8.6: fetch only known schemes; MCP §11.3: HTTPS everywhere.
        raise FetchRefused(
            f"{what} must be an https URL to be fetched, got {parts.scheme or 'no scheme'!r} (CIMD §8.6, MCP §11.3)"
        )
    try:
        with anyio.fail_after(policy.fetch_timeout_seconds):
            async with http.stream(
                "GET",
                url,
                headers={"Accept": accept, "Accept-Encoding": ACCEPTED_ENCODINGS},
                follow_redirects=policy.follow_redirects,
                extensions=extensions,
            ) as response:
                _check_response(response, what=what, policy=policy, json_only=json_only)
                # CIMD §8.7: stop reading at the limit and treat the response as an error.
                body = await read_at_most(response, policy.max_document_bytes, what, rule="CIMD §8.7")
    except TimeoutError:
        raise FetchRefused(
            f"fetching {what} took longer than the {policy.fetch_timeout_seconds * 1000:.0f} ms timeout"
        ) from None
    except BodyRefused as exc:
        raise FetchRefused(exc.rule) from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise FetchRefused(f"fetching {what} failed: {exc}") from None
    unbind(response, body)  # closed by now
    freshness = {name: response.headers[name] for name in FRESHNESS_HEADERS if name in response.headers}
    return Fetched(url, address, response.headers.get("content-type", ""), freshness, body)


def _check_response(response: httpx.Response, *, what: str, policy: ASPolicy, json_only: bool) -> None:
    if response.is_redirect:
        location = response.headers.get("location", "")
        raise FetchRefused(
            f"the {what} URL answered {response.status_code} → {location}; redirects MUST NOT be followed (CIMD §5)"
        )
    if response.status_code != 200:
        raise FetchRefused(f"fetching {what} returned HTTP {response.status_code}; only 200 OK is accepted (CIMD §5)")
    content_type = response.headers.get("content-type", "")
    if json_only and policy.require_json_content_type and not is_json_media_type(content_type):
        raise FetchRefused(
            f"{what} was served as {content_type or 'no content type'!r}, not a JSON media type (lab policy)"
        )


def is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
