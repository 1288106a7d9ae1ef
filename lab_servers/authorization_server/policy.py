"""What the authorization server enforces, as one explicit object that experiments can flip.

`HARDENED` follows the CIMD draft and the MCP authorization spec, SHOULDs included. `NAIVE` is how
many servers behave in practice: it trusts what it is given and fetches what it is told to.
Every field is one rule; the security lab (`lab_servers.security`) runs each experiment under
both policies, and `ASPolicy.but(...)` flips one rule at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from ..arguments import is_count, wrong_type

# Client metadata fields holding URLs that an AS fetches: the logo (CIMD -02 §8.8 recommends
# prefetching it), the client's keys (RFC 7591 §2, for private_key_jwt) and OpenID Connect
# Registration's sector identifier. Each one is a URL chosen by whoever registers the client.
FETCHED_METADATA_URLS = ("logo_uri", "jwks_uri", "sector_identifier_uri")


@dataclass(frozen=True)
class ASPolicy:
    name: str
    # CIMD §3: the client identifier URL (https, a path, no fragment/userinfo/dot segments…).
    require_https_client_id: bool = True
    # CIMD §4: the document's client_id equals the URL it was fetched from, exactly.
    require_client_id_match: bool = True
    # CIMD §4.1: no client_secret, no shared-secret token_endpoint_auth_method.
    forbid_shared_secrets_in_document: bool = True
    # MCP §5.1.1: client_name and redirect_uris are required in the document.
    require_mcp_document_fields: bool = True
    # CIMD §5 / §8.6 / §8.7: the defensive fetch.
    follow_redirects: bool = False
    max_document_bytes: int = 5 * 1024
    fetch_timeout_seconds: float = 2.0
    # The draft allows any JSON body; the lab's hardened AS also wants a JSON media type, which a
    # raw file host serving anyone's uploads as text/plain does not give (defensive_fetch).
    require_json_content_type: bool = True
    block_special_use_addresses: bool = True
    # DNS rebinding: connect to the very address that was vetted, never look the name up twice.
    pin_vetted_address: bool = True
    # CIMD §5: honour HTTP caching, within bounds the AS sets; never cache errors.
    default_cache_seconds: int = 300
    max_cache_seconds: int = 24 * 3600
    # A cache, unlike a registry, can be bounded: least recently used documents are evicted.
    max_cached_documents: int | None = 1000
    # OAuth 2.1 §4.1.1, MCP §11.5: redirect URIs compared as exact strings.
    exact_redirect_uri_match: bool = True
    # RFC 9700 §4.11.2 (MCP "Open Redirection"): anyone can register a redirect URI (DCR, a CIMD
    # document), then send a broken request to have the AS send users there. The AS "SHOULD only
    # automatically redirect the user agent if it trusts the redirect URI", and MAY otherwise
    # inform the user and let them decide: an error found before consent is told on a page with
    # the way back to the client. Trusted: the URIs of clients an administrator pre-registered.
    confirm_untrusted_error_redirects: bool = True
    # RFC 8707: the resource must be one this AS issues tokens for.
    require_resource: bool = True
    # RFC 8707 §2.1: an AS MAY process a request that omits `resource` "by using a predefined
    # default resource value", or "MAY fail" it with invalid_target; the hardened AS fails it,
    # since MCP §8 says clients MUST send it. On (off by default), an AS with exactly one resource
    # reads a missing `resource` as that one, for clients that send none: the conformance
    # suite's authorization-code-grant, and at times claude.ai's and Gemini's connectors
    # (anthropics/claude-ai-mcp#984, kentcdodds/kody#948). `python -m lab_servers serve` turns it on.
    default_to_single_resource: bool = False
    # Origins ("https://127.0.0.1:8002") exempt from the special-use-address rule (CIMD §8.6):
    # the served lab's own client-metadata host, explicitly trusted, and nothing else.
    trusted_local_origins: tuple[str, ...] = ()
    # CIMD -02 §8.5, MCP §11.6.2: consent shows the client_id and redirect hostnames, and warns
    # about localhost-only redirects. Without it, the page shows only the self-declared name.
    consent_shows_hostnames: bool = True
    # MCP §11.6.3 trust policy (optional): host patterns such as "app.example" or "*.example.com".
    # None allows every domain; a denied domain is refused before anything is fetched.
    allowed_client_domains: tuple[str, ...] | None = None
    denied_client_domains: tuple[str, ...] = ()
    # Which metadata URLs the AS fetches when a client registers (DCR); the hardened AS fetches
    # them through the same defensive fetch as CIMD documents.
    fetched_metadata_urls: tuple[str, ...] = FETCHED_METADATA_URLS
    # A prefetched logo is served from the AS's origin: only PNG, JPEG, GIF or WebP, by their
    # magic bytes; anything else (HTML, SVG with <script>) is refused at registration.
    logos_must_be_raster_images: bool = True
    # RFC 7591 sets no limits; an open registration endpoint needs some. Counts are per source
    # address within a sliding window of the lab clock: (registrations, seconds).
    max_registrations: int | None = 1000
    registration_rate_limit: tuple[int, int] | None = (20, 60)

    def __post_init__(self) -> None:
        # `but` is how a learner flips a rule, so a value the AS would misread is refused here:
        # follow_redirects="no" was truthy (the AS followed redirects), and a negative size bound
        # refused every document. A policy is hashed (fetches are shared per URL and policy) and
        # its host lists are read item by item: a list made it unhashable (a 500 at the first
        # shared fetch), and a lone string ("app.example") was read as one pattern per letter.
        # Lists become tuples; a string where a list belongs is refused, naming the field.
        for field in fields(self):
            value, takes = getattr(self, field.name), _SCALARS.get(str(field.type))
            if takes and not takes[0](value):
                raise wrong_type(f"ASPolicy.{field.name} is {takes[1]}", value)
        for name, (items_are_right, what) in _LISTS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, list | tuple) or not items_are_right(value):
                # A host pattern of 1 or a rate limit of ("a", "b") was a 500 at the first request.
                raise wrong_type(f"ASPolicy.{name} is {what}", value)
            object.__setattr__(self, name, tuple(value))

    def but(self, **changes: object) -> ASPolicy:
        """A copy with some rules changed, for an experiment."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _all_strings(items: list[object] | tuple[object, ...]) -> bool:
    return all(isinstance(item, str) for item in items)


def _is_rate_limit(items: list[object] | tuple[object, ...]) -> bool:
    """(registrations, seconds): at least 1 registration within a window of at least 1 second. A
    limit of 0 admits no registration ever: a closed endpoint, which `ASCapabilities(dcr="closed")`
    or `max_registrations=0` say, and which the limiter cannot give a Retry-After for."""
    return len(items) == 2 and is_count(items[0], 1) and is_count(items[1], 1)


# The tuple fields: what each item must be, and the words naming it.
_LISTS: dict[str, tuple[Callable[[list[object] | tuple[object, ...]], bool], str]] = {
    "trusted_local_origins": (_all_strings, "a tuple of origins, such as ('https://127.0.0.1:8002',)"),
    "allowed_client_domains": (_all_strings, "a tuple of host patterns, such as ('app.example', '*.example.com')"),
    "denied_client_domains": (_all_strings, "a tuple of host patterns, such as ('evil.example',)"),
    "fetched_metadata_urls": (_all_strings, "a tuple of metadata field names, such as ('logo_uri', 'jwks_uri')"),
    "registration_rate_limit": (_is_rate_limit, "a pair (registrations, seconds) of at least 1 each, such as (20, 60)"),
}


_SCALARS: dict[str, tuple[Callable[[object], bool], str]] = {
    "bool": (lambda v: isinstance(v, bool), "True or False"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (is_count, "a whole number of at least 0"),
    "int | None": (lambda v: v is None or is_count(v), "a whole number of at least 0, or None for no bound"),
    "float": (lambda v: is_count(v) or (isinstance(v, float) and v >= 0), "a number of seconds, at least 0"),
}

HARDENED = ASPolicy(name="hardened")

NAIVE = ASPolicy(
    name="naive",
    require_https_client_id=False,
    require_client_id_match=False,
    forbid_shared_secrets_in_document=False,
    require_mcp_document_fields=False,
    follow_redirects=True,
    max_document_bytes=10 * 1024 * 1024,
    fetch_timeout_seconds=30.0,
    require_json_content_type=False,
    block_special_use_addresses=False,
    pin_vetted_address=False,
    max_cache_seconds=10**9,  # whatever max-age the host asks for, even decades
    max_cached_documents=None,
    exact_redirect_uri_match=False,
    confirm_untrusted_error_redirects=False,
    require_resource=False,
    consent_shows_hostnames=False,
    logos_must_be_raster_images=False,
    max_registrations=None,
    registration_rate_limit=None,
)
