"""Which metadata URLs a client tries, in the order the MCP spec sets (MCP §4.2, §4.3)."""

from __future__ import annotations

from typing import NamedTuple

from ..wellknown import (
    AUTHORIZATION_SERVER,
    OPENID_CONFIGURATION,
    PROTECTED_RESOURCE,
    after_host,
    append_well_known,
    insert_well_known,
    origin,
    path_of,
)


class MetadataCandidate(NamedTuple):
    url: str
    # RFC 9728 §3.3: the `resource` the metadata must carry, exactly. For a well-known URL it is
    # the identifier the URL was built from (the root URL is built from the origin); for the
    # header's URL it is the URL the client was calling.
    expected_resource: str


def protected_resource_metadata_urls(mcp_url: str, header_url: str | None) -> list[MetadataCandidate]:
    """The header's `resource_metadata` alone when given; else path-inserted, then root."""
    if header_url:
        return [MetadataCandidate(header_url, mcp_url)]
    if not after_host(mcp_url):
        # An MCP server at the root (https://h/): the root URL is the path-inserted one, built from
        # the MCP URL itself, whose resource is that URL, slash and all (RFC 9728 §3.3). Expected
        # to be the origin, https://h, it refused the document the header's URL was accepted with.
        return [MetadataCandidate(insert_well_known(mcp_url, PROTECTED_RESOURCE), mcp_url)]
    return [
        MetadataCandidate(insert_well_known(mcp_url, PROTECTED_RESOURCE), mcp_url),
        MetadataCandidate(origin(mcp_url) + PROTECTED_RESOURCE, origin(mcp_url)),
    ]


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
