"""The OAuth 2.1 §4.2 client credentials grant, for the MCP client-credentials extension
(`io.modelcontextprotocol/oauth-client-credentials`, SEP-1046): a confidential client, here a CIMD
client whose document declares `private_key_jwt` and its keys, gets a token for itself.

Only confidential clients (§4.2: "MUST only be used by confidential clients"); the client
authenticated already (`client_authentication.py`), and registered the grant (`token.py`). The
token's subject is the client itself; there is no refresh token (RFC 6749 §4.4.3: one "SHOULD NOT
be included"; OAuth 2.1 §4.2 does not restate it).
"""

from __future__ import annotations

from typing import Any

from .authorize import choose_resource
from .clients import Client
from .errors import OAuthError
from .issuance import issue_tokens
from .state import AuthorizationServerState

GRANT_TYPE = "client_credentials"


def client_credentials_grant(server: AuthorizationServerState, client: Client, form: dict[str, str]) -> dict[str, Any]:
    if client.token_endpoint_auth_method == "none":
        raise OAuthError(
            "unauthorized_client",
            "the client credentials grant is for confidential clients only (OAuth 2.1 section 4.2)",
        )
    resource = choose_resource(server, form.get("resource"))
    scope = server.check_scope(form.get("scope"), resource)
    return issue_tokens(server, client, client.client_id, resource, scope, refresh=False)
