"""What the authorization server enforces, as one explicit object that experiments can flip.

`HARDENED` follows the CIMD draft and the MCP authorization spec, SHOULDs included. `NAIVE` is how
many servers behave in practice: it trusts what it is given and fetches what it is told to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ASPolicy:
    name: str
    # CIMD §3: the client identifier URL.
    require_https_client_id: bool = True
    # CIMD §4.1: the document's client_id equals the URL it was fetched from, exactly.
    require_client_id_match: bool = True
    # CIMD §4.1: no client_secret, no shared-secret token_endpoint_auth_method.
    forbid_shared_secrets_in_document: bool = True
    # MCP §5.1.1: client_name and redirect_uris are required in the document.
    require_mcp_document_fields: bool = True
    # CIMD §5 / §8.6 / §8.7: the defensive fetch.
    follow_redirects: bool = False
    max_document_bytes: int = 5 * 1024
    fetch_timeout_seconds: float = 2.0
    require_json_content_type: bool = True
    block_special_use_addresses: bool = True
    # CIMD §5: honour HTTP caching, within bounds the AS sets; never cache errors.
    default_cache_seconds: int = 300
    max_cache_seconds: int = 24 * 3600
    # OAuth 2.1 §4.1.1, MCP §11.5: redirect URIs compared as exact strings.
    exact_redirect_uri_match: bool = True
    # RFC 8707: the resource must be one this AS issues tokens for.
    require_resource: bool = True

    def but(self, **changes: object) -> "ASPolicy":
        """A copy with some rules changed, for an experiment."""
        return replace(self, **changes)  # type: ignore[arg-type]


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
    exact_redirect_uri_match=False,
    require_resource=False,
)
