"""RFC 7591, OAuth 2.0 Dynamic Client Registration: `POST /register` → 201 and a minted id.

The metadata checks here are shared with CIMD, whose documents use the same field names
(CIMD §4: the IANA "OAuth Dynamic Client Registration Metadata" registry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import SplitResult

import httpx
from authlib.oauth2.rfc7591 import ClientMetadataClaims
from joserfc.errors import JoseError

from ..arguments import is_string_list
from ..bounded_json import DEFAULT_LIMITS
from ..determinism import LabClock, SeededIds
from ..rfc3986 import shown, userinfo_problem
from ..rfc7517 import import_jwk_set, private_key_member
from .clients import DEFAULT_AUTH_METHOD, Client, ClientRegistry, PrefetchedResource, RegistryFull
from .defensive_fetch import FetchRefused, Resolver, SpecialUseAddress, defensive_fetch, scheme_refusal
from .errors import MetadataError, OAuthError
from .logos import sniff_raster_image
from .metadata_limits import MAX_REGISTRATION_BODY_BYTES, MetadataLimitError, check_metadata_limits, understood_metadata
from .policy import ASPolicy
from .redirect_uris import check_redirect_uri, split_url
from .registration_limits import RegistrationLimits
from .reject_or_replace import ValueRefused, narrowed_to_this_as

_STRING_FIELDS = (
    "client_name", "client_uri", "logo_uri", "scope", "tos_uri", "policy_uri", "jwks_uri",
    "software_id", "software_version", "software_statement", "token_endpoint_auth_method",
    "application_type", "client_id", "sector_identifier_uri",
)  # fmt: skip
_STRING_LIST_FIELDS = ("redirect_uris", "grant_types", "response_types", "contacts")
SHARED_SECRET_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt")
# The registration body: 16 KB and 8 levels (metadata needs 3: {"jwks": {"keys": [{…}]}}).
REGISTRATION_JSON = DEFAULT_LIMITS.but(max_bytes=MAX_REGISTRATION_BODY_BYTES, max_depth=8)


def uses_redirection(metadata: dict[str, Any]) -> bool:
    """RFC 7591 §2: "clients using flows with redirection MUST register their redirection URI
    values"; a client that uses none (client_credentials, a JWT bearer grant) need not. It uses
    one when it may go to the authorization endpoint: a response type, where omitted means
    ["code"], or the authorization code grant, where omitted grant_types means exactly that."""
    return bool(metadata.get("response_types", ["code"])) or "authorization_code" in metadata.get(
        "grant_types", ["authorization_code"]
    )


def check_client_metadata(metadata: Any, as_metadata: dict[str, Any]) -> dict[str, Any]:
    """RFC 7591 §2 checks shared by DCR and CIMD; returns the metadata as a plain dict, its
    grant types, response types and scope narrowed to this AS's (`narrowed_to_this_as`)."""
    if not isinstance(metadata, dict):
        raise MetadataError("invalid_client_metadata", "client metadata must be a JSON object (RFC 7591 §3.1)")
    for name in _STRING_FIELDS:
        if name in metadata and not isinstance(metadata[name], str):
            raise MetadataError("invalid_client_metadata", f"{name} must be a string (RFC 7591 §2)")
    for name in _STRING_LIST_FIELDS:
        if name in metadata and not is_string_list(metadata[name]):
            raise MetadataError("invalid_client_metadata", f"{name} must be an array of strings (RFC 7591 §2)")
    if "jwks" in metadata and not _is_key_set(metadata["jwks"]):
        raise MetadataError(
            "invalid_client_metadata",
            'jwks must be a JSON Web Key Set object: {"keys": [ {…}, … ]} (RFC 7591 §2, RFC 7517 §5)',
        )
    if "jwks" in metadata and (found := private_key_member(metadata["jwks"])):
        # A key whose private half is published is leaked: whoever reads the registration response
        # or the document can sign as the client. authlib refuses only "d", and only since 1.9.10.
        raise MetadataError(
            "invalid_client_metadata",
            f"jwks holds the client's public keys only, but {found} (RFC 7591 §2, RFC 7518 §6)",
        )
    if "jwks" in metadata and "jwks_uri" in metadata:
        raise MetadataError("invalid_client_metadata", "jwks and jwks_uri MUST NOT both be present (RFC 7591 §2)")
    if metadata.get("token_endpoint_auth_method") == "private_key_jwt" and not (
        "jwks" in metadata or "jwks_uri" in metadata
    ):
        # RFC 7591 §2: a client that authenticates with its key publishes it in jwks or jwks_uri;
        # without either, no assertion it sends could ever be verified (RFC 7523 §3).
        raise MetadataError(
            "invalid_client_metadata",
            "private_key_jwt needs the client's public keys in jwks or jwks_uri (RFC 7591 §2)",
        )
    try:
        check_metadata_limits(metadata)
    except MetadataLimitError as exc:
        raise MetadataError(exc.error, exc.description) from None
    if "jwks" in metadata:  # within the limits (10 keys) first
        try:
            # A key joserfc cannot read ({"kty": "OKP"} with no "x"; "keys": []) was authlib's to
            # refuse, as "jwks: value not accepted (Invalid claim: 'jwks')": no rule, no key named.
            import_jwk_set(metadata["jwks"])
        except ValueError as exc:
            raise MetadataError("invalid_client_metadata", f"jwks is {exc} (RFC 7591 §2)") from None
    for uri in metadata.get("redirect_uris", []):
        check_redirect_uri(uri)
    if "sector_identifier_uri" in metadata:
        _check_sector_identifier_uri(metadata["sector_identifier_uri"])
    for field in _WEB_URL_FIELDS:
        if field in metadata:
            _check_web_url(field, metadata[field])
    try:
        metadata = narrowed_to_this_as(metadata, as_metadata)
    except ValueRefused as exc:
        raise MetadataError("invalid_client_metadata", exc.description) from None
    metadata = _grant_and_response_types_agreeing(metadata)
    claims = ClientMetadataClaims(dict(metadata), {}, options=ClientMetadataClaims.get_claims_options(as_metadata))
    try:
        claims.validate()
    except JoseError as exc:
        claim = getattr(exc, "claim", None) or "metadata"
        raise MetadataError("invalid_client_metadata", f"{claim}: value not accepted ({exc.description})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # authlib's validators assume well-typed input; anything they trip over is still bad metadata.
        raise MetadataError(
            "invalid_client_metadata", f"client metadata not accepted ({type(exc).__name__}: {exc})"
        ) from None
    return dict(metadata)


def _grant_and_response_types_agreeing(metadata: dict[str, Any]) -> dict[str, Any]:
    """RFC 7591 §2.1: "a grant_types value that includes authorization_code implies a
    response_types value that includes code", and the AS "SHOULD take steps to ensure that a
    client cannot register itself into an inconsistent state". Read with §2's defaults (omitted
    grant_types is ["authorization_code"], omitted response_types ["code"]). The code response
    type of a client without the code grant is one it could never redeem: it is dropped, as §2's
    "replace" allows and as narrowing drops what this AS lacks, so a client_credentials client
    that omits response_types needs no redirect URI. A code grant with no code response type
    could never start, and is refused."""
    grant_types = metadata.get("grant_types", ["authorization_code"])
    response_types = metadata.get("response_types", ["code"])
    if "authorization_code" not in grant_types and "code" in response_types:
        return {**metadata, "response_types": [kind for kind in response_types if kind != "code"]}
    if "authorization_code" in grant_types and "code" not in response_types:
        raise MetadataError(
            "invalid_client_metadata",
            f"grant_types {shown(grant_types)} name the authorization_code grant, which implies the code response"
            f" type, but response_types is {shown(response_types)} (RFC 7591 §2.1)",
        )
    return metadata


# RFC 7591 §2's URL-valued fields. authlib refuses a javascript: or data: URL in them too, and one
# with a fragment or userinfo, but its text ("logo_uri: value not accepted (Invalid claim: 'logo_uri')") names
# no rule: each is refused here first, saying why.
_WEB_URL_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri")


def _check_web_url(field: str, uri: object) -> None:
    parts = split_url(uri) if isinstance(uri, str) else None
    written = repr(uri)[:80]
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise MetadataError(
            "invalid_client_metadata",
            f"{field} {written} is not an http or https URL (RFC 7591 §2: a URL; CIMD §8.6: only known schemes)",
        )
    _check_no_userinfo(field, parts, written)
    if parts.fragment or "#" in str(uri):
        raise MetadataError(
            "invalid_client_metadata",
            f"{field} {written} has a fragment, which this AS refuses in a client's URLs (lab policy, as authlib's"
            " RFC 7591 validator; RFC 7591 §2 itself asks only for a URL)",
        )


def _check_no_userinfo(field: str, parts: SplitResult, written: str) -> None:
    # authlib refuses it in RFC 7591's fields ("Invalid claim"), naming nothing, and not at all in
    # OpenID's sector_identifier_uri: `https://app.example@evil.example/` shows a trusted name on the
    # consent page or in the AS's fetch log for another host, and a fetch sends the userinfo on as
    # Authorization: Basic credentials the client chose (defensive_fetch refuses it too).
    problem = userinfo_problem(parts.scheme, parts.netloc)
    if problem:
        raise MetadataError("invalid_client_metadata", f"{field} {written} {problem}")


def check_keys_fetchable(metadata: dict[str, Any], policy: ASPolicy) -> None:
    """RFC 7591 §2.1: the AS "SHOULD take steps to ensure that a client cannot register itself into
    an inconsistent state". Keys at a jwks_uri of a scheme this AS never fetches (http, under the
    hardened policy) are one: every assertion the client signs would be refused at /token."""
    url = metadata.get("jwks_uri")
    parts = split_url(url) if isinstance(url, str) else None
    refused = scheme_refusal(parts.scheme, "jwks_uri", policy) if parts else None
    if refused:
        raise MetadataError(
            "invalid_client_metadata",
            f"{refused}: keys there could never be read, so the client could never authenticate",
        )


def _check_sector_identifier_uri(uri: str) -> None:
    # OpenID Connect Registration 1.0 §2: a "URL using the https scheme". authlib checks RFC
    # 7591's URL fields below, not this OpenID one, and an AS may fetch it: a value urlsplit
    # cannot parse ("https://[") reached the fetch and was a 500.
    parts = split_url(uri) if isinstance(uri, str) else None
    if parts is None or parts.scheme != "https" or not parts.hostname:
        raise MetadataError(
            "invalid_client_metadata",
            "sector_identifier_uri must be an https URL (OpenID Connect Dynamic Client Registration 1.0 §2)",
        )
    _check_no_userinfo("sector_identifier_uri", parts, repr(uri)[:80])


def _is_key_set(value: Any) -> bool:
    keys = value.get("keys") if isinstance(value, dict) else None
    return isinstance(keys, list) and all(isinstance(key, dict) for key in keys)


class Registrar:
    """The registration endpoint's logic (RFC 7591 §3) and the records it leaves behind."""

    def __init__(
        self,
        registry: ClientRegistry,
        ids: SeededIds,
        clock: LabClock,
        *,
        http: httpx.AsyncClient,
        resolve: Resolver,
        policy: Callable[[], ASPolicy],
    ) -> None:
        self.registry = registry
        self.ids = ids
        self.clock = clock
        self.http = http
        self.resolve_host = resolve
        self.policy = policy
        self.limits = RegistrationLimits(clock)

    async def register(self, body: Any, as_metadata: dict[str, Any], *, source: str = "unknown") -> dict[str, Any]:
        """Limits, then the metadata, then the URLs in it; only when all pass is a record written."""
        policy = self.policy()
        # The prefetch awaits other hosts: the place under the cap is held across it, so a burst
        # of concurrent registrations cannot all pass a count that none of them has added to yet.
        with self.limits.admitted(source, len(self.registry), policy):
            metadata = self.check_registration_metadata(body, as_metadata, policy)
            prefetched = await self.prefetch_metadata_urls(metadata, policy)
            client = self.new_client(metadata, prefetched)
            try:
                self.registry.add(client)
            except RegistryFull as exc:
                raise OAuthError(
                    "temporarily_unavailable",
                    f"registration failed: {exc}; no client can register until records are removed",
                    503,
                ) from None
        return registration_response(client)

    def check_registration_metadata(self, body: Any, as_metadata: dict[str, Any], policy: ASPolicy) -> dict[str, Any]:
        try:
            metadata = check_client_metadata(body, as_metadata)
            check_keys_fetchable(metadata, policy)
            if not metadata.get("redirect_uris") and uses_redirection(metadata):
                raise MetadataError(
                    "invalid_redirect_uri",
                    "redirect_uris is required for a client that may use the authorization endpoint: one with the"
                    " authorization_code grant, which omitted grant_types means (RFC 7591 §2); a client with no"
                    " redirect-based flow, such as client_credentials only, lists only the grants it uses",
                )
        except MetadataError as exc:
            raise OAuthError(exc.error, exc.description) from None
        return metadata

    async def prefetch_metadata_urls(self, metadata: dict[str, Any], policy: ASPolicy) -> dict[str, PrefetchedResource]:
        """Fetch the logo, keys and sector identifier the client pointed at (CIMD -02 §8.8: prefetch
        logos), through the defensive fetch. A URL that points at a special-use address is an
        attack on the AS's own network: the registration is refused. Any other failure (a 404, a
        redirect, a name that does not resolve) only means there is nothing to keep."""
        prefetched: dict[str, PrefetchedResource] = {}
        for field in policy.fetched_metadata_urls:
            url = metadata.get(field)
            if not isinstance(url, str):
                continue
            is_logo = field == "logo_uri"
            try:
                fetched = await defensive_fetch(
                    url, what=field, http=self.http, resolve=self.resolve_host, policy=policy,
                    accept="image/*" if is_logo else "application/json", json_only=not is_logo,
                )  # fmt: skip
            except SpecialUseAddress as refused:
                raise OAuthError(
                    "invalid_client_metadata", f"{refused.rule}; the registration is refused (SSRF)"
                ) from None
            except FetchRefused:
                continue
            content_type = fetched.content_type
            if is_logo and policy.logos_must_be_raster_images:
                sniffed = sniff_raster_image(fetched.body)
                if sniffed is None:
                    raise OAuthError(
                        "invalid_client_metadata",
                        f"logo_uri served {content_type or 'no content type'!r} whose bytes are not a PNG, JPEG, GIF or WebP image; "
                        "this AS serves logos from its own origin and accepts only raster images (lab policy against stored XSS; CIMD §8.8 has the AS fetch logos itself)",
                    )
                content_type = sniffed  # the type the AS determined, never the one the client's host chose
            prefetched[field] = PrefetchedResource(url, content_type, fetched.body)
        return prefetched

    def new_client(self, metadata: dict[str, Any], prefetched: dict[str, PrefetchedResource]) -> Client:
        # RFC 7591 §2: unknown fields are ignored, so never stored. That drops client_id,
        # client_secret and client_id_issued_at too: the AS mints those (RFC 7591 §3.2.1).
        metadata = understood_metadata(metadata)
        method = metadata.setdefault("token_endpoint_auth_method", DEFAULT_AUTH_METHOD["dcr"])  # RFC 7591 §2
        metadata.setdefault("grant_types", ["authorization_code"])
        metadata.setdefault("response_types", ["code"])
        return Client(
            # CIMD §7.1: AS-minted ids must never look like a URL, so they cannot collide with CIMD ids.
            client_id=self.ids.alphanumeric("dcr-client-id", 24, prefix="tpc_"),
            kind="dcr",
            metadata=metadata,
            client_secret=self.ids.token("dcr-client-secret", 32) if method in SHARED_SECRET_METHODS else None,
            client_id_issued_at=self.clock.now(),
            prefetched=prefetched,
        )


def registration_response(client: Client) -> dict[str, Any]:
    """RFC 7591 §3.2.1: the id, the issued secret if any, and every registered value echoed."""
    issued: dict[str, Any] = {"client_id": client.client_id, "client_id_issued_at": client.client_id_issued_at}
    if client.client_secret is not None:
        issued["client_secret"] = client.client_secret
        issued["client_secret_expires_at"] = 0  # 0 = never expires, not "already expired"
    # The issued values are written again last, so nothing in the metadata can stand in for them.
    return {**issued, **client.metadata, **issued}
