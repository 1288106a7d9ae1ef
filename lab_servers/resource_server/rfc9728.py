"""RFC 9728 Protected Resource Metadata: how an MCP server names its authorization server."""

from __future__ import annotations

from typing import Any


def protected_resource_metadata(resource: str, authorization_servers: list[str], scopes: list[str]) -> dict[str, Any]:
    return {
        # §3.3: clients check that this is *identical* to the URL they are calling.
        "resource": resource,
        # MCP §4.1: at least one issuer.
        "authorization_servers": authorization_servers,
        # MCP §6 / SBP: only the minimal scopes for basic use; more come by step-up.
        "scopes_supported": scopes,
        # MCP §9.1: the token travels in the Authorization header, never the query string.
        "bearer_methods_supported": ["header"],
        "resource_name": "Lab notes (an MCP server)",
    }
