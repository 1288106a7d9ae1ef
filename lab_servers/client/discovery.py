"""Which metadata URLs a client tries, in the order the MCP spec sets (MCP §4.2, §4.3)."""

from __future__ import annotations

from ..wellknown import (
    AUTHORIZATION_SERVER,
    OPENID_CONFIGURATION,
    PROTECTED_RESOURCE,
    append_well_known,
    insert_well_known,
    origin,
    path_of,
)


def protected_resource_metadata_urls(mcp_url: str, header_url: str | None) -> list[str]:
    """The header's `resource_metadata` alone when given; else path-inserted, then root."""
    if header_url:
        return [header_url]
    urls = [insert_well_known(mcp_url, PROTECTED_RESOURCE)] if path_of(mcp_url) else []
    return urls + [origin(mcp_url) + PROTECTED_RESOURCE]


def authorization_server_metadata_urls(issuer: str) -> list[str]:
    """RFC 8414 path insertion, OIDC path insertion, then OIDC path appending (issuers with a path)."""
    issuer = issuer.rstrip("/")
    if not path_of(issuer):
        return [origin(issuer) + AUTHORIZATION_SERVER, origin(issuer) + OPENID_CONFIGURATION]
    return [
        insert_well_known(issuer, AUTHORIZATION_SERVER),
        insert_well_known(issuer, OPENID_CONFIGURATION),
        append_well_known(issuer, OPENID_CONFIGURATION),
    ]
