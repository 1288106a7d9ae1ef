"""Client ID Metadata Documents: turning an HTTPS URL `client_id` into a client.

Section numbers are draft-ietf-oauth-client-id-metadata-document-02 (MCP 2025-11-25 cites -00,
whose rules are a subset). The resolution runs in four steps, each one function below:

1. `check_client_id_url` — is this URL allowed to be a client identifier? (§3)
2. `fetch_document`      — fetch it defensively: vetted address, no redirects, 200 only, a size
                           cap, a timeout, JSON only (§5, §8.6, §8.7)
3. `check_document`      — is the document valid, and is its `client_id` exactly this URL? (§4.1,
                           plus MCP §5.1.1's required `client_name` and `redirect_uris`)
4. `cache_lifetime`      — how long may it be reused? HTTP caching, within the AS's bounds; errors
                           are never cached (§5)

Every rejection is an `OAuthError("invalid_client", …)` whose description names the rule.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from ..determinism import LabClock
from ..network import PINNED_ADDRESS
from .clients import Client
from .errors import OAuthError
from .policy import ASPolicy
from .rfc7591 import SHARED_SECRET_METHODS, MetadataError, check_client_metadata


def reject(rule: str) -> OAuthError:
    return OAuthError("invalid_client", f"client metadata document rejected: {rule}", 401)


# 1. The Client Identifier URL (§3) ------------------------------------------------------------


def check_client_id_url(url: str, policy: ASPolicy) -> None:
    """Checked on the raw string: nothing is normalised, since §3 compares ids as exact strings."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise reject(f"client_id {url!r} is not a valid URL (§3)") from None
    if parts.scheme != "https" and policy.require_https_client_id:
        raise reject(f"client_id URL must use the https scheme, got {parts.scheme or 'none'!r} (§3)")
    if not parts.hostname:
        raise reject("client_id URL must have a host (§3)")
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
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        raise reject("client_id URL MUST NOT contain '.' or '..' path segments (§3)")
    if parts.query:
        raise reject("client_id URL SHOULD NOT contain a query (§3); the hardened policy refuses it")


# 2. The defensive fetch (§5, §8.6, §8.7) -------------------------------------------------------


def is_special_use(address: str) -> bool:
    """RFC 6890 special-use: private, loopback, link-local, CGNAT, documentation, multicast…
    An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it carries."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


@dataclass(frozen=True)
class FetchedDocument:
    url: str
    address: str | None
    document: Any
    cache_control: str | None


async def fetch_document(
    url: str, *, http: httpx.AsyncClient, resolve: Callable[[str], str], policy: ASPolicy
) -> FetchedDocument:
    host = urlsplit(url).hostname or ""
    address: str | None = None
    extensions: dict[str, Any] = {}
    if policy.block_special_use_addresses:
        # Resolve once, vet that address, then connect to that same address: a name that answers
        # differently on a second lookup (DNS rebinding) cannot slip past the check.
        try:
            address = resolve(host)
        except LookupError:
            raise reject(f"client_id host {host!r} does not resolve") from None
        if is_special_use(address):
            raise reject(f"client_id host {host} resolves to special-use address {address}; MUST NOT fetch it (§8.6)")
        extensions[PINNED_ADDRESS] = address
    try:
        with anyio.fail_after(policy.fetch_timeout_seconds):
            async with http.stream(
                "GET",
                url,
                headers={"Accept": "application/json"},
                follow_redirects=policy.follow_redirects,
                extensions=extensions,
            ) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    raise reject(f"the document URL answered {response.status_code} → {location}; redirects MUST NOT be followed (§5)")
                if response.status_code != 200:
                    raise reject(f"fetching the document returned HTTP {response.status_code}; only 200 OK is accepted (§5)")
                content_type = response.headers.get("content-type", "")
                if policy.require_json_content_type and not _is_json_media_type(content_type):
                    raise reject(f"the document was served as {content_type or 'no content type'!r}, not JSON")
                body = await _read_at_most(response, policy.max_document_bytes)
                cache_control = response.headers.get("cache-control")
    except TimeoutError:
        raise reject(f"fetching the document took longer than {policy.fetch_timeout_seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise reject(f"fetching the document failed: {exc}") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise reject("the document is not valid JSON (§4)") from None
    return FetchedDocument(url, address, document, cache_control)


def _is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


async def _read_at_most(response: httpx.Response, limit: int) -> bytes:
    # §8.7: stop reading at the limit and treat the response as an error.
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise reject(f"the document is larger than {limit} bytes (§8.7); reading stopped at the limit")
    return bytes(body)


# 3. The document (§4.1, MCP §5.1.1) ------------------------------------------------------------


def check_document(url: str, document: Any, policy: ASPolicy, as_metadata: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise reject("the document must be a JSON object (§4)")
    client_id = document.get("client_id")
    if client_id is None:
        raise reject("the document has no client_id (§4.1 REQUIRED)")
    if policy.require_client_id_match and client_id != url:
        raise reject(f"the document's client_id {client_id!r} is not exactly the URL it was fetched from, {url!r} (§4.1)")
    if policy.forbid_shared_secrets_in_document:
        for field in ("client_secret", "client_secret_expires_at"):
            if field in document:
                raise reject(f"the document contains {field}; a CIMD client MUST NOT have a shared secret (§4.1)")
        method = document.get("token_endpoint_auth_method")
        if method in SHARED_SECRET_METHODS:
            raise reject(f"token_endpoint_auth_method {method!r} is a shared-secret method, forbidden in a document (§4.1)")
        if method == "private_key_jwt" and not ("jwks" in document or "jwks_uri" in document):
            raise reject("private_key_jwt needs the client's public keys in jwks or jwks_uri (§8.2)")
        if _has_private_key_material(document.get("jwks")):
            raise reject("jwks contains private key material; only public keys may be published (§4.1)")
    if policy.require_mcp_document_fields:
        for field in ("client_name", "redirect_uris"):
            if not document.get(field):
                raise reject(f"the document has no {field}; MCP requires client_id, client_name and redirect_uris (MCP §5.1.1)")
    try:
        return check_client_metadata(document, as_metadata)
    except MetadataError as exc:
        raise reject(exc.description) from None


def _has_private_key_material(jwks: Any) -> bool:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    private_members = {"d", "p", "q", "dp", "dq", "qi", "k"}
    return isinstance(keys, list) and any(isinstance(k, dict) and private_members & k.keys() for k in keys)


# 4. Caching (§5: SHOULD respect HTTP caching; MUST NOT cache errors) --------------------------


def cache_lifetime(cache_control: str | None, policy: ASPolicy) -> int:
    """Seconds the document may be reused, from RFC 9111 `Cache-Control`, capped by the policy."""
    directives = {}
    for part in (cache_control or "").split(","):
        name, _, value = part.strip().partition("=")
        if name:
            directives[name.lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0
    if "max-age" in directives:
        try:
            seconds = int(directives["max-age"])
        except ValueError:
            seconds = 0
    else:
        seconds = policy.default_cache_seconds
    return max(0, min(seconds, policy.max_cache_seconds))


@dataclass
class CachedDocument:
    url: str
    document: dict[str, Any]
    fetched_at: int
    expires_at: int
    hits: int = 0


class CimdResolver:
    """Resolves CIMD client ids, keeping a cache of valid documents and nothing else."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        resolve: Callable[[str], str],
        clock: LabClock,
        policy: ASPolicy,
        as_metadata: Callable[[], dict[str, Any]],
    ) -> None:
        self.http = http
        self.resolve_host = resolve
        self.clock = clock
        self.policy = policy
        self.as_metadata = as_metadata
        self.cache: dict[str, CachedDocument] = {}

    async def resolve(self, client_id: str) -> Client:
        cached = self.cache.get(client_id)
        if cached is not None and cached.expires_at > self.clock.now():
            cached.hits += 1
            return Client(client_id, "cimd", cached.document)
        self.cache.pop(client_id, None)
        check_client_id_url(client_id, self.policy)
        fetched = await fetch_document(client_id, http=self.http, resolve=self.resolve_host, policy=self.policy)
        document = check_document(client_id, fetched.document, self.policy, self.as_metadata())
        lifetime = cache_lifetime(fetched.cache_control, self.policy)
        if lifetime > 0:
            now = self.clock.now()
            self.cache[client_id] = CachedDocument(client_id, document, now, now + lifetime)
        return Client(client_id, "cimd", document)
