"""The `client_id` → client decision (MCP §5.1.3): a registered record, or a CIMD document URL.

Above both `clients.py` (the records) and `cimd.py` (the resolver), so neither imports the other's
caller.
"""

from __future__ import annotations

from typing import Any

from ..rfc3986 import shown
from .capabilities import ASCapabilities
from .cimd import CimdResolver, check_client_id_url, check_document, check_document_urls, parse_document
from .clients import MAX_CLIENT_ID_CHARS, Client, ClientRegistry, looks_like_url
from .errors import OAuthError


async def resolve_client(
    client_id: str, registry: ClientRegistry, cimd: CimdResolver, capabilities: ASCapabilities
) -> Client:
    """The `client_id` → client decision (MCP §5.1.3 flow): URL ids are resolved by fetching and
    validating their document, where the AS takes CIMD; any other id must be a record this AS
    holds. A refusal names only the ways in `capabilities` offers."""
    _check_length(client_id)
    if names_a_document(client_id, registry):
        if not capabilities.cimd_usable:
            # Advertised and enforced alike (ASCapabilities): an AS without CIMD fetches nothing.
            # The way out it names must be one this AS offers: with DCR closed or removed, "register"
            # sent the user to a /register that refuses them (RFC 7591 §3) or is not there.
            other = (
                "register (RFC 7591) or use a pre-registered client_id"
                if capabilities.registration_works
                else f"it takes no registrations either (DCR is {capabilities.dcr}), so only a pre-registered"
                " client_id works here"
            )
            raise OAuthError("invalid_client", "this authorization server does not support Client ID Metadata Documents "
                             f"(client_id_metadata_document_supported is not true); {other}", 401)  # fmt: skip
        return await cimd.resolve(client_id)
    client = registry.get(client_id)
    if client is None:
        raise OAuthError(
            "invalid_client",
            f"unknown client_id {shown(client_id)}: it is not a registered client and not a CIMD URL",
            401,
        )
    return client


def names_a_document(client_id: str, registry: ClientRegistry) -> bool:
    """Whether `client_id` is one `resolve_client` judges as a CIMD document URL, not a record:
    a URL id this AS holds no record for (a pre-registered client may have a URL id)."""
    return looks_like_url(client_id) and client_id not in registry.records


def _check_length(client_id: str) -> None:
    if not client_id:
        raise OAuthError("invalid_request", "client_id is required (OAuth 2.1 §4.1.1)")
    if len(client_id) > MAX_CLIENT_ID_CHARS:
        # Checked before any lookup or fetch: a CIMD document must contain its own client_id
        # (CIMD §4) within the AS's size cap, and minted ids are 28 characters.
        raise OAuthError(
            "invalid_client",
            f"client_id is {len(client_id)} characters long; no client_id longer than {MAX_CLIENT_ID_CHARS} is valid here",
            401,
        )


def judge_published_document(client_id: str, body: bytes, cimd: CimdResolver) -> dict[str, Any]:
    """What `resolve_client` decides of a CIMD `client_id` whose URL serves `body`, without the
    fetch: the checks of the id, of the document and of the URLs inside it, by the resolver's
    own policy and its AS's metadata. For a host that publishes documents for this AS (`serve
    --client-document`), so that one the AS would refuse is refused before anyone is sent to it.
    An `OAuthError` naming the rule, as at /authorize; the checked document otherwise."""
    _check_length(client_id)
    policy = cimd.policy
    check_client_id_url(client_id, policy)
    # The steps of `CimdResolver._fetch_and_judge` after its fetch, in its order.
    document = check_document(client_id, parse_document(body, policy), policy, cimd.as_metadata())
    check_document_urls(document, policy, cimd.resolve_host)
    return document
