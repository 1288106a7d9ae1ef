"""The lab's own hosts: their names (RFC 2606 reserved, so nothing reaches the internet), the
public-looking addresses the virtual DNS gives them, the MCP server's URL and scopes, the AS's
issuer, and the metadata the lab's agent starts with, as its CIMD document and its DCR request.
`Lab` builds its servers on them; the argument checks name them in their examples."""

from __future__ import annotations

from typing import Any

MCP_HOST = "mcp.example.com"
AS_HOST = "auth.example.com"
APP_HOST = "app.example"
MCP_URL = f"https://{MCP_HOST}/mcp"
ISSUER = f"https://{AS_HOST}"
CLIENT_METADATA_URL = f"https://{APP_HOST}/client.json"

# Public-looking addresses for the lab's public hosts. Nothing is ever sent to them: the virtual
# DNS exists so the AS can judge an address the way it would judge a real one.
PUBLIC_ADDRESSES = {MCP_HOST: "93.184.215.10", AS_HOST: "93.184.215.20", APP_HOST: "93.184.215.30"}

SCOPES = ["notes:read", "notes:write"]


def default_client_metadata(client_id: str = CLIENT_METADATA_URL) -> dict[str, Any]:
    """The lab agent's metadata: its CIMD document, and (minus client_id) its DCR request."""
    return {
        "client_id": client_id,
        "client_name": "Example Agent",
        "client_uri": f"https://{APP_HOST}",
        "redirect_uris": [f"https://{APP_HOST}/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "web",  # MCP 2026-07-28: DCR requests carry application_type
    }
