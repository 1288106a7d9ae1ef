"""The defensive fetch: how the authorization server fetches a URL that a client chose.

A CIMD `client_id` is such a URL, and so is every URL inside client metadata that an AS fetches
(`logo_uri`, `jwks_uri`, `sector_identifier_uri`), whether it came from a CIMD document or a
DCR registration. Whoever runs the client picks the address, so the AS fetches as if the URL
were hostile (CIMD -02 §5, §8.6, §8.7; MCP Security Best Practices, SSRF):

1. `vet_host`        — resolve the name once; refuse special-use addresses (RFC 6890): private,
                       loopback, link-local (cloud metadata lives at 169.254.169.254), carrier-grade
                       NAT, documentation, benchmarking, IETF protocol assignments and the rest
                       of the IANA special-purpose registries' blocks that are not globally
                       reachable (a table of this module's own, not Python's flags), and IPv6
                       forms that carry such an IPv4 address inside them. A name with
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
from ..error_text import reason
from ..network import PINNED_ADDRESS, PinnedAddress
from ..rfc3986 import userinfo_problem
from ..rfc9110 import RepeatedField, media_type, one_field
from .policy import ASPolicy

Resolver = Callable[[str], "str | Sequence[str]"]  # a name → its address, or its whole answer set


class FetchRefused(Exception):
    """The AS will not fetch, or will not use what it fetched; `rule` says why."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


class UnresolvableHost(FetchRefused):
    """The name has no address: nothing can be fetched from it, harmful or not."""


class OutOfReach(LookupError):
    """Raised by a resolver for a name it will not look up at all, saying why: the served lab's AS
    reaches no internet, and a name outside its reach is no name that fails to resolve."""


class SpecialUseAddress(FetchRefused):
    """The name resolves to an address the AS must never connect to on a client's behalf."""


# 1. Which addresses are off limits ------------------------------------------------------------
#
# The table below is the AS's own, not Python's: `ipaddress`'s flags (`is_global`, `is_private`)
# follow whatever registry snapshot the running Python shipped with, and Python 3.11's misses
# blocks (it judged 192.0.0.137 in 192.0.0.0/24, "IETF Protocol Assignments", public, and the
# hardened AS fetched a CIMD document from it).
#
# Source: the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890, updated by
# RFC 8190 and by the RFCs each row names), https://www.iana.org/assignments/iana-ipv4-special-registry
# and https://www.iana.org/assignments/iana-ipv6-special-registry: every block whose
# "Globally Reachable" is False or N/A, named as the registry names it. Three families outside
# those registries are refused too, as they were before: multicast (224.0.0.0/4, ff00::/8;
# RFC 5771, RFC 4291), deprecated site-local fec0::/10 (RFC 3879), and IPv6 space outside
# 2000::/3 that the IANA IPv6 Address Space registry lists as "Reserved by IETF" (RFC 4291).
#
# The first matching row wins, so a more specific block comes before the block around it.
# A row whose kind is None is a deliberate exception: the address is allowed.
#
# Decisions about rows the registries mark globally reachable:
# - 192.0.0.9/32 (Port Control Protocol anycast, RFC 7723) and 192.0.0.10/32 (TURN anycast,
#   RFC 8155) are allowed, carved out of 192.0.0.0/24, which is refused; 192.31.196.0/24 and
#   192.175.48.0/24 (AS112), 192.52.193.0/24 (AMT) and 2620:4f:8000::/48 (AS112) are not
#   listed, so allowed: the registry says they are reachable across the Internet, so fetching
#   them reaches nothing inside the AS's network.
# - All of 2001::/23 (IETF Protocol Assignments, False) is refused, including the globally
#   reachable rows inside it (PCP/TURN/DNS-SD SRP anycast, AMT, AS112-v6, ORCHIDv2, DETs): they
#   were refused before, none of them serves a client's metadata over HTTPS (anycast service
#   addresses, AMT relays, AS112 sinks, and ORCHIDv2 and DETs are identifiers, not locators),
#   and weakening a refusal buys the AS nothing. Their own names are kept so the refusal says
#   which one was hit.
# - IPv4-mapped (::ffff:0:0/96, registry: False), IPv4-compatible (::/96, deprecated by
#   RFC 4291), NAT64 64:ff9b::/96 (True) and 6to4 2002::/16 (N/A) are judged by the IPv4
#   address inside them (`embedded_ipv4`): a connection to one of them can reach that IPv4
#   host, so it is refused exactly when that IPv4 address is, and allowed otherwise.
# - 64:ff9b:1::/48 (Local-Use IPv4/IPv6 Translation, RFC 8215, False) is refused whatever it
#   carries: it reaches a translator inside some operator's network, and where the IPv4
#   address sits inside it depends on the prefix length that operator chose (RFC 6052 §2.2).
# - Teredo 2001::/32 (N/A) is refused outright (inside 2001::/23), not judged by its
#   obfuscated client address.

_Rows = tuple[tuple[str, str | None], ...]

_IPV4_BLOCKS: _Rows = (
    ("0.0.0.0/32", 'unspecified, "this host on this network", RFC 1122'),
    ("0.0.0.0/8", '"this network", RFC 791'),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT, RFC 6598"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local, where cloud metadata services live"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/29", "IPv4 service continuity prefix (DS-Lite), RFC 7335"),
    ("192.0.0.8/32", "IPv4 dummy address, RFC 7600"),
    ("192.0.0.9/32", None),  # Port Control Protocol anycast, RFC 7723: globally reachable
    ("192.0.0.10/32", None),  # TURN anycast, RFC 8155: globally reachable
    ("192.0.0.170/32", "NAT64/DNS64 discovery, RFC 7050"),
    ("192.0.0.171/32", "NAT64/DNS64 discovery, RFC 7050"),
    ("192.0.0.0/24", "IETF protocol assignments, RFC 6890"),
    ("192.0.2.0/24", "documentation (TEST-NET-1), RFC 5737"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated, RFC 7526)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking, RFC 2544"),
    ("198.51.100.0/24", "documentation (TEST-NET-2), RFC 5737"),
    ("203.0.113.0/24", "documentation (TEST-NET-3), RFC 5737"),
    ("224.0.0.0/4", "multicast"),  # not in the special-purpose registry: RFC 5771
    ("255.255.255.255/32", "limited broadcast, RFC 919"),
    ("240.0.0.0/4", "reserved"),
)

_IPV6_BLOCKS: _Rows = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", None),  # IPv4-mapped: judged by the IPv4 address inside
    ("::/96", None),  # IPv4-compatible (deprecated, RFC 4291): judged by the IPv4 address inside
    ("64:ff9b::/96", None),  # IPv4-IPv6 translation, RFC 6052: judged by the IPv4 address inside
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation, RFC 8215"),
    ("100::/64", "discard-only, RFC 6666"),
    ("100:0:0:1::/64", "dummy IPv6 prefix, RFC 9780"),
    ("2001::/32", "Teredo, RFC 4380"),
    ("2001:1::1/128", "Port Control Protocol anycast, RFC 7723 (in IETF protocol assignments)"),
    ("2001:1::2/128", "TURN anycast, RFC 8155 (in IETF protocol assignments)"),
    ("2001:1::3/128", "DNS-SD service registration protocol anycast, RFC 9665 (in IETF protocol assignments)"),
    ("2001:2::/48", "benchmarking, RFC 5180"),
    ("2001:3::/32", "AMT, RFC 7450 (in IETF protocol assignments)"),
    ("2001:4:112::/48", "AS112-v6, RFC 7535 (in IETF protocol assignments)"),
    ("2001:10::/28", "ORCHID (deprecated, RFC 4843)"),
    ("2001:20::/28", "ORCHIDv2, RFC 7343 (in IETF protocol assignments)"),
    ("2001:30::/28", "drone remote ID entity tags, RFC 9374 (in IETF protocol assignments)"),
    ("2001::/23", "IETF protocol assignments, RFC 2928"),
    ("2001:db8::/32", "documentation, RFC 3849"),
    ("2002::/16", None),  # 6to4, RFC 3056: judged by the IPv4 address inside
    ("3fff::/20", "documentation, RFC 9637"),
    ("2000::/3", None),  # global unicast, RFC 4291: what the Internet is made of
    ("5f00::/16", "segment routing (SRv6) SIDs, RFC 9602"),
    ("fc00::/7", "private (unique local, RFC 4193)"),
    ("fe80::/10", "link-local, where cloud metadata services live"),
    ("fec0::/10", "site-local (deprecated, RFC 3879)"),
    ("ff00::/8", "multicast"),
    ("::/0", "reserved"),  # the rest: "Reserved by IETF" in the IPv6 Address Space registry
)


def _ranges(rows: _Rows) -> tuple[tuple[int, int, str | None], ...]:
    """Each row as (first address, last address, kind) integers: a lookup is then a loop of
    integer comparisons, run on every fetch."""
    nets = [(ipaddress.ip_network(block), kind) for block, kind in rows]
    return tuple((int(net.network_address), int(net.broadcast_address), kind) for net, kind in nets)


_IPV4_RANGES, _IPV6_RANGES = _ranges(_IPV4_BLOCKS), _ranges(_IPV6_BLOCKS)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _table_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    value = int(ip)
    table = _IPV4_RANGES if isinstance(ip, ipaddress.IPv4Address) else _IPV6_RANGES
    for first, last, kind in table:
        if first <= value <= last:
            return kind
    return None


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
    """What kind of special-use address this is (RFC 6890, by the table above), or None for an
    address the AS may connect to."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            kind = _table_kind(inner)
            if kind is not None:
                return f"{kind}, carried inside the IPv6 address"
    return _table_kind(ip)


def is_special_use(address: str) -> bool:
    return special_use_kind(address) is not None


# 2. The fetch --------------------------------------------------------------------------------


# The headers RFC 9111 decides reuse by, kept as the server sent them: the four a response's
# freshness is computed from (§4.2), and Vary, whether it may match a later request at all (§4.1).
CACHING_HEADERS = ("cache-control", "age", "expires", "date", "vary")


@dataclass(frozen=True)
class Fetched:
    url: str  # the URL asked for
    # The URL the body came from: `url` itself, or where a followed redirect chain ended (a policy
    # with follow_redirects). A rule about "the URL it was fetched from" (CIMD §4) reads this one.
    served_from: str
    address: str | None  # the vetted address the AS connected to (None when it did not check)
    content_type: str
    caching: dict[str, str]  # CACHING_HEADERS present in the response
    body: bytes


def connected_host(url: str) -> str:
    """The host httpx connects to for `url`, as a resolver and the lab network get it: IDNA-encoded,
    where urlsplit keeps the text as written (`app。example` is app.example to httpx, as to a
    browser, and `bücher.example` is xn--bcher-kva.example). The host vetted and pinned must be this
    one (CIMD §8.6): a pin made for the spelling as written did not apply to the name httpx asked
    for, and a resolver that maps the ideographic dot as httpx does (`getaddrinfo`'s IDNA codec)
    would have had the name looked up twice. Raises httpx.InvalidURL or ValueError (IDNA) on a
    URL httpx cannot fetch."""
    return httpx.URL(url).raw_host.decode("ascii")


def vet_host(host: str, *, what: str, resolve: Resolver) -> str:
    """Resolve `host` once and return the address to connect to, if every address the name
    resolves to is one the AS may connect to."""
    try:
        answer = resolve(host)
    except OutOfReach as exc:
        raise UnresolvableHost(f"{what} host {host!r} is not fetched: {exc}") from None
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


def scheme_refusal(scheme: str, what: str, policy: ASPolicy) -> str | None:
    """Why this fetch never fetches a URL of `scheme`, whatever its host, or None. CIMD §8.6: fetch
    only known schemes; MCP §11.3: HTTPS everywhere (the hardened policy)."""
    if policy.require_https_client_id and scheme != "https":
        return f"{what} must be an https URL to be fetched, got {scheme or 'no scheme'!r} (CIMD §8.6, MCP §11.3)"
    return None


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
        host = connected_host(url)
    except (ValueError, httpx.InvalidURL):  # "Invalid IPv6 URL": a "[" that never closes; IDNA errors
        raise FetchRefused(f"{what} is not a URL that can be fetched (RFC 3986 §3.2.2)") from None
    # Under every policy, the naive one too: httpx sends a URL's userinfo as Authorization: Basic,
    # so the AS would present credentials the client chose to a host the client chose, an SSRF with
    # a login. The checks before the fetch refuse it where the URL comes from (cimd.py's §3 rule,
    # rfc7591.py's metadata URLs); this one holds for any URL that reaches the network.
    problem = userinfo_problem(parts.scheme, parts.netloc)
    if problem:
        raise FetchRefused(f"the {what} URL {problem}; this AS never sends credentials a client chose")
    trusted = f"{parts.scheme}://{parts.netloc}" in policy.trusted_local_origins
    if policy.block_special_use_addresses and not trusted:
        address = vet_host(host, what=what, resolve=resolve)
        if policy.pin_vetted_address:
            # Without the pin the network would look the name up again, and a rebinding name
            # answers with an internal address the second time (time-of-check, time-of-use).
            # The pin holds for this host only: a redirect elsewhere is judged by the no-redirect
            # rule (CIMD §5), not by an address vetted for another name.
            extensions[PINNED_ADDRESS] = PinnedAddress(host, address)
    refused_scheme = scheme_refusal(parts.scheme, what, policy)
    if refused_scheme:
        raise FetchRefused(refused_scheme)
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
                # CIMD §8.7: stop reading at the limit and treat the response as an error. The
                # refusal names the response, not `what`: "client_id is larger than 5120 bytes"
                # read as a rule on the client_id string (which CIMD bounds nowhere).
                body = await read_at_most(
                    response, policy.max_document_bytes, f"the response from the {what} URL", rule="CIMD §8.7"
                )
    except TimeoutError:
        raise FetchRefused(
            f"fetching {what} took longer than the {policy.fetch_timeout_seconds * 1000:.0f} ms timeout"
        ) from None
    except BodyRefused as exc:
        raise FetchRefused(exc.rule) from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        raise FetchRefused(f"fetching {what} failed: {reason(exc)}") from None
    unbind(response, body)  # closed by now
    caching = {name: response.headers[name] for name in CACHING_HEADERS if name in response.headers}
    # httpx's URL is the request it built, normalised (a host lowercased); with no redirect the
    # body came from `url` exactly as asked, which exact comparisons need as written.
    served_from = str(response.url) if response.history else url
    return Fetched(url, served_from, address, response.headers.get("content-type", ""), caching, body)


def _check_response(response: httpx.Response, *, what: str, policy: ASPolicy, json_only: bool) -> None:
    if response.is_redirect:
        location = response.headers.get("location", "")
        raise FetchRefused(
            f"the {what} URL answered {response.status_code} → {location}; redirects MUST NOT be followed (CIMD §5)"
        )
    if response.status_code != 200:
        raise FetchRefused(f"fetching {what} returned HTTP {response.status_code}; only 200 OK is accepted (CIMD §5)")
    if not (json_only and policy.require_json_content_type):
        return
    try:
        # One Content-Type (RFC 9110 §5.3, §8.3): httpx joins two lines, `application/json, text/html`.
        content_type = one_field(response.headers.get_list("content-type"), "Content-Type", "§8.3",
                                 carrier=f"the answer with {what}") or ""  # fmt: skip
    except RepeatedField as repeated:
        raise FetchRefused(f"{repeated}; a client document has one media type") from None
    if not is_json_media_type(content_type):
        raise FetchRefused(
            f"{what} was served as {content_type or 'no content type'!r}, not a JSON media type (lab policy): a host"
            " that labels anyone's files text/plain, as a raw file host does, would lend its hostname to a"
            " document its owner never published; CIMD -02 §4 itself names no media type"
        )


# CIMD -02 §4 asks for a JSON document (RFC 8259) and names no media type (its one sentence on
# them lets a host use a more specific `application/…+json`). The hardened AS also asks the host
# to say it serves JSON: a raw file host labels every text file `text/plain`, anyone's uploads
# included, so there the label proves nothing about who published the document, and the
# hostname the consent page shows would vouch for a stranger's file. raw.githubusercontent.com
# labels a .json client document so (nicobailon/pi-mcp-adapter#571, 2026-09-13: "some IDPs
# don't like" it); a draft author would treat text/plain and octet-stream as "a potential
# security error" (oauth-wg CIMD PR #63, open). The naive policy reads any label.
def is_json_media_type(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
