"""Client ID Metadata Documents: turning an HTTPS URL `client_id` into a client.

Section numbers are draft-ietf-oauth-client-id-metadata-document-02 (MCP 2025-11-25 cites -00,
whose rules are a subset). The resolution runs in four steps, each one function below:

1. `check_client_id_url` — is this URL allowed to be a client identifier? (§3) Does the AS's
                           optional trust policy allow its domain? (MCP §11.6.3)
2. `fetch_document`      — fetch it defensively: vetted address, no redirects, 200 only, a size
                           cap, a timeout, JSON only (§5, §8.6, §8.7; see defensive_fetch.py)
3. `check_document`      — is the document valid, and is its `client_id` exactly this URL? (§4,
                           plus MCP §5.1.1's required `client_name` and `redirect_uris`) Its grant
                           types and scopes are narrowed to this AS's (RFC 7591 §2). Do the
                           URLs inside it point at special-use addresses? (§8.6)
4. `cache_lifetime`      — how long may it be reused? (document_cache.py) HTTP caching, within the AS's bounds; errors
                           are never cached (§5); the cache holds a bounded number of documents

Requests that name one uncached client_id at the same time share steps 2-4 (`CimdResolver`,
`shared_fetch.py`): one fetch, not one each.

Every rejection is an `OAuthError("invalid_client", …)` whose description names the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx

from ..bounded_json import DEFAULT_LIMITS, JsonLimits, JsonRejected, parse_json
from ..determinism import LabClock
from ..rfc3986 import NUMERIC_HOST, has_query, host_reading_problem, is_dotted_quad, is_uri_text, shown
from ..rfc7517 import private_key_member
from .clients import Client, auth_method_not_offered
from .defensive_fetch import FetchRefused, Resolver, UnresolvableHost, connected_host, defensive_fetch, vet_host
from .document_cache import CachedDocument, DocumentCache, cache_lifetime
from .errors import MetadataError, OAuthError
from .policy import ASPolicy
from .redirect_uris import split_url
from .rfc7591 import SHARED_SECRET_METHODS, check_client_metadata, check_keys_fetchable
from .shared_fetch import SharedFetches


def reject(rule: str) -> OAuthError:
    return OAuthError("invalid_client", f"client metadata document rejected: {rule}", 401)


# 1. The Client Identifier URL (§3) ------------------------------------------------------------


def check_client_id_url(url: str, policy: ASPolicy) -> None:
    """Checked on the raw string: nothing is normalised, since §3 compares ids as exact strings."""
    if policy.require_https_client_id and not is_uri_text(url):
        # RFC 3986 §2: a URI is made of a few ASCII characters. Python's urlsplit silently drops
        # tabs and newlines, parsers disagree about backslashes, and httpx percent-encodes a '<',
        # '>' or '^' in a host that urlsplit keeps: such a URL could mean different hosts to the
        # check (and the address it vets) and to the fetch.
        raise reject(
            "client_id URL must be plain ASCII with no spaces, backslashes, control characters or other characters "
            "no URI contains (RFC 3986 §2)"
        )
    parts = split_url(url)
    if parts is None:
        raise reject(f"client_id {shown(url)} is not a valid URL (§3)")
    if parts.scheme != "https" and policy.require_https_client_id:
        raise reject(f"client_id URL must use the https scheme, got {parts.scheme or 'none'!r} (§3)")
    if not parts.hostname:
        raise reject("client_id URL must have a host (§3)")
    check_trust_policy(parts.hostname, policy)
    if not policy.require_https_client_id:
        return
    if "@" in parts.netloc:
        raise reject("client_id URL MUST NOT contain a username or password (§3)")
    if parts.fragment or "#" in url:
        raise reject("client_id URL MUST NOT contain a fragment (§3)")
    if not parts.path:
        raise reject("client_id URL MUST contain a path component (§3)")
    if parts.path == "/":
        raise reject("client_id URL with the root path '/' is NOT RECOMMENDED (§3); the hardened policy refuses it")
    segments = parts.path.split("/")
    if any(unquote(segment) in (".", "..") for segment in segments):
        # %2e%2e is '..' (RFC 3986 §2.3: '.' is unreserved, so %2E and '.' are the same character).
        raise reject("client_id URL MUST NOT contain '.' or '..' path segments, encoded or not (§3)")
    if any(_fully_decoded(segment) in (".", "..") for segment in segments):
        # %252e%252e is the text "%2e%2e", no dot segment; a server that decodes twice reads '..'.
        raise reject(
            "client_id URL has a path segment that decodes twice to '.' or '..', encoded or not "
            "(lab policy, stricter than CIMD §3: a server that decodes twice would read a dot segment)"
        )
    if has_query(url):  # `…/client.json?` too: an empty query is still one (RFC 3986 §3.4)
        raise reject("client_id URL SHOULD NOT contain a query (§3); the hardened policy refuses it")
    if NUMERIC_HOST.fullmatch(parts.hostname) and not is_dotted_quad(parts.hostname):
        # 2130706433, 0x7f.1 or 017700000001 are 127.0.0.1 to many resolvers (inet_aton).
        raise reject(
            f"client_id host {parts.hostname!r} is an ambiguous numeric IPv4 form "
            "(lab policy, stricter than CIMD §8.6: resolvers read it as different addresses)"
        )
    # The lab client's rule too (client_id_url_problem): a WHATWG parser (a browser, Node's fetch)
    # percent-decodes https://%61pp.example/ into app.example and refuses https://app.1/ (its last
    # label a number), where urlsplit and httpx read the host as written. An IPv6 literal's address,
    # zone id and all, is vetted below.
    problem = None if ":" in parts.hostname else host_reading_problem(parts.hostname)
    if problem:
        raise reject(f"client_id {shown(url)} {problem}: the URL must name one host to every reader")


def _fully_decoded(segment: str) -> str:
    for _ in range(4):  # bounded: each round only shortens the text
        decoded = unquote(segment)
        if decoded == segment:
            break
        segment = decoded
    return segment


def host_matches(host: str, pattern: str) -> bool:
    """ "app.example" matches itself; "*.example.com" matches any subdomain, not example.com."""
    host, pattern = host.lower().rstrip("."), pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


_PLAIN_HOST = re.compile(r"[a-z0-9._:-]+")  # urlsplit's hostname is lowercased


def check_trust_policy(host: str, policy: ASPolicy) -> None:
    """MCP §11.6.3 / CIMD §8.9: an AS MAY restrict which domains it accepts clients from. Checked
    before any fetch, so a denied domain never even learns that someone tried to use it."""
    if (policy.denied_client_domains or policy.allowed_client_domains is not None) and not _PLAIN_HOST.fullmatch(host):
        # The lists name hosts as written; readers map other characters to other names: `%65vil.example`
        # is evil.example to a WHATWG parser, `evil。example` to httpx and a browser (IDNA), and
        # `evil.example\.app.example` is evil.example to a browser. Each matched no denied pattern.
        raise reject(
            f"client_id host {shown(host)} has characters other than letters, digits, '.', '-', '_' and ':', which "
            "a browser or httpx reads as another name: this AS's list of domains cannot judge it (trust policy, "
            "MCP §11.6.3)"
        )
    if any(host_matches(host, pattern) for pattern in policy.denied_client_domains):
        raise reject(f"client_id host {host} is on this AS's list of denied domains (trust policy, MCP §11.6.3)")
    allowed = policy.allowed_client_domains
    if allowed is not None and not any(host_matches(host, pattern) for pattern in allowed):
        raise reject(f"client_id host {host} is not on this AS's list of allowed domains (trust policy, MCP §11.6.3)")


# 2. The defensive fetch (§5, §8.6, §8.7; the code is shared with DCR, in defensive_fetch.py) -----


@dataclass(frozen=True)
class FetchedDocument:
    url: str
    served_from: str  # `url`, or where a followed redirect chain ended (defensive_fetch.Fetched)
    address: str | None
    document: Any
    caching: dict[str, str]  # defensive_fetch.CACHING_HEADERS present in the response


async def fetch_document(
    url: str, *, http: httpx.AsyncClient, resolve: Resolver, policy: ASPolicy, what: str = "client_id"
) -> FetchedDocument:
    try:
        fetched = await defensive_fetch(url, what=what, http=http, resolve=resolve, policy=policy)
    except FetchRefused as refused:
        raise reject(refused.rule) from None
    document = parse_document(fetched.body, policy, what)
    return FetchedDocument(url, fetched.served_from, fetched.address, document, fetched.caching)


def parse_document(body: bytes, policy: ASPolicy, what: str = "client_id") -> Any:
    try:
        return parse_json(body, document_json_limits(policy), what=f"the {what} document")
    except JsonRejected as rejected:
        raise reject(f"{rejected.rule}; a document must be valid JSON (§4)") from None


def document_json_limits(policy: ASPolicy) -> JsonLimits:
    """The bounded parser's limits for a fetched document: the policy's size cap, and 8 levels of
    nesting (a document needs 3, for `jwks`). Even the naive AS bounds the depth: it may trust
    what it fetches, but a recursive parser must not crash on it."""
    return DEFAULT_LIMITS.but(max_bytes=max(policy.max_document_bytes, 1), max_depth=8)


# 3. The document (§4, §4.1, MCP §5.1.1) ---------------------------------------------------------


def check_document(
    url: str, document: Any, policy: ASPolicy, as_metadata: dict[str, Any], *, served_from: str | None = None
) -> dict[str, Any]:
    """`url` is the client_id asked for; `served_from` where a followed redirect led (Fetched)."""
    if not isinstance(document, dict):
        raise reject("the document must be a JSON object (§4)")
    client_id = document.get("client_id")
    if client_id is None:
        raise reject("the document has no client_id (§4: it MUST contain one)")
    if policy.require_client_id_match:
        check_client_id_match(client_id, url, served_from or url)
    if policy.forbid_shared_secrets_in_document:
        for field in ("client_secret", "client_secret_expires_at"):
            if field in document:
                raise reject(f"the document contains {field}; a CIMD client MUST NOT have a shared secret (§4.1)")
        method = document.get("token_endpoint_auth_method")
        if method in SHARED_SECRET_METHODS:
            raise reject(
                f"token_endpoint_auth_method {method!r} is a shared-secret method, forbidden in a document (§4.1)"
            )
        if method == "private_key_jwt" and not ("jwks" in document or "jwks_uri" in document):
            raise reject("private_key_jwt needs the client's public keys in jwks or jwks_uri (§8.2)")
        if found := private_key_member(document.get("jwks")):
            raise reject(f"jwks contains private key material ({found}); only public keys may be published (§4.1)")
    offered = as_metadata.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])  # RFC 8414 §2
    if refusal := auth_method_not_offered(document, "cimd", offered):
        raise reject(refusal)
    if policy.require_mcp_document_fields:
        for field in ("client_name", "redirect_uris"):
            if not document.get(field):
                raise reject(
                    f"the document has no {field}; MCP requires client_id, client_name and redirect_uris (MCP §5.1.1)"
                )
    try:
        checked = check_client_metadata(document, as_metadata)
        check_keys_fetchable(checked, policy)
    except MetadataError as exc:
        raise reject(exc.description) from None
    return checked


def check_client_id_match(client_id: object, url: str, served_from: str) -> None:
    """§4: the client_id is the URL asked for AND the URL the document came from; they differ after a
    followed redirect (§5's rule off), where an open redirect on app.example made a document on
    evil.example app.example's client, its consent page saying "verified origin: app.example"."""
    if client_id == url and client_id == served_from:
        return
    named = f"the document's client_id {shown(client_id)}"
    if served_from == url:
        raise reject(f"{named} is not exactly the URL it was fetched from, {shown(url)} (§4)")
    # After a redirect, say which of the two URLs the document's id is not: it can be either.
    if client_id == url:
        problem = f"is the client_id requested, but not exactly the URL it was fetched from, {shown(served_from)}"
    elif client_id == served_from:
        problem = f"is the URL it was fetched from, but not the client_id requested, {shown(url)}"
    else:
        problem = (
            f"is neither the client_id requested, {shown(url)}, nor the URL it was fetched from, {shown(served_from)}"
        )
    raise reject(f"{named} {problem}, where {shown(url)} redirected; it MUST be both (§4)")


def check_document_urls(document: dict[str, Any], policy: ASPolicy, resolve: Resolver) -> None:
    """§8.6 (-02): the AS MUST NOT fetch URLs inside the document (`logo_uri`, `jwks_uri`…) that
    resolve to special-use addresses. The hardened AS refuses such a document outright, before
    anything could fetch them. The host judged is the one httpx would connect to
    (`private。evil.example` is private.evil.example to httpx's IDNA, nothing to urlsplit). A name
    that does not resolve, or a URL httpx cannot read, is left alone here: any fetch of it vets it
    again and refuses it."""
    if not policy.block_special_use_addresses:
        return
    for field in policy.fetched_metadata_urls:
        url = document.get(field)
        try:
            host = connected_host(url) if isinstance(url, str) else None
        except (ValueError, httpx.InvalidURL):
            continue
        if not host:
            continue
        try:
            vet_host(host, what=field, resolve=resolve)
        except UnresolvableHost:
            continue
        except FetchRefused as refused:
            raise reject(refused.rule) from None


class CimdResolver:
    """Resolves CIMD client ids, keeping a cache of valid documents and nothing else. Requests
    naming one uncached client_id at the same time share one fetch (`shared_fetch.py`)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        resolve: Resolver,
        clock: LabClock,
        policy: ASPolicy,
        as_metadata: Callable[[], dict[str, Any]],
    ) -> None:
        self.http = http
        self.resolve_host = resolve
        self.clock = clock
        self.policy = policy
        self.as_metadata = as_metadata
        self.cache = DocumentCache()
        self.fetches: SharedFetches[dict[str, Any]] = SharedFetches()

    async def resolve(self, client_id: str) -> Client:
        cached = self.cache.fresh(client_id, self.clock.now())
        if cached is not None:
            return Client(client_id, "cimd", cached.document)
        # One request, one policy: read once, so that a policy switched while the document is
        # fetched cannot leave it checked half by one policy and half by the other. A request
        # under a new policy never joins a fetch the old one started (the key names the policy).
        policy = self.policy
        check_client_id_url(client_id, policy)  # 1. refused before anything is fetched or shared
        document = await self.fetches.run((client_id, policy), lambda: self._fetch_and_judge(client_id, policy))
        return Client(client_id, "cimd", document)

    async def _fetch_and_judge(self, client_id: str, policy: ASPolicy) -> dict[str, Any]:
        """Steps 2-4 for one client_id, all under `policy`."""
        fetched = await fetch_document(client_id, http=self.http, resolve=self.resolve_host, policy=policy)
        document = check_document(
            client_id, fetched.document, policy, self.as_metadata(), served_from=fetched.served_from
        )
        check_document_urls(document, policy, self.resolve_host)
        # Only now, with every check passed, may the document be remembered (§5: never cache
        # errors), and only under the policy that judged it: a switch during the fetch emptied
        # the cache (state.py), and a document the old policy let through must not refill it.
        if policy == self.policy:
            self._remember(client_id, document, fetched.caching, policy)
        return document

    def _remember(self, client_id: str, document: dict[str, Any], caching: dict[str, str], policy: ASPolicy) -> None:
        now = self.clock.now()
        lifetime = cache_lifetime(caching.get("cache-control"), policy, age=caching.get("age"), expires=caching.get("expires"),
                                  date=caching.get("date"), vary=caching.get("vary"), now=now)  # fmt: skip
        if lifetime > 0:
            self.cache.store(CachedDocument(client_id, document, now, now + lifetime), policy.max_cached_documents)
