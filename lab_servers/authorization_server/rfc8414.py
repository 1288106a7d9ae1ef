"""RFC 8414 authorization server metadata (also served as OpenID discovery, MCP §4.3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .keys import ALGORITHM

# Tuples, and copied into each document: a metadata document is handed out (notebook 07 gives
# learners `lab.auth_server.metadata()`), and a list in it that was this module's own made a
# change to one lab's copy the rule of every lab built after it, enforcement included.
CLIENT_ASSERTION_ALGORITHMS = (ALGORITHM, "ES256", "RS256", "PS256")


AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post", "private_key_jwt")
# Revocation and introspection take the same client authentication as the token endpoint (RFC
# 7009 §2.1, RFC 7662 §2.1), but introspection never takes a public client: the caller must be
# an authorised resource server.
CONFIDENTIAL_METHODS = AUTH_METHODS[1:]
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ID_JAG_PROFILE = "urn:ietf:params:oauth:grant-profile:id-jag"


def authorization_server_metadata(
    issuer: str,
    scopes: Sequence[str],
    resources: Sequence[str],
    grant_types: Sequence[str] | None = None,
    assertion_algorithms: Sequence[str] = CLIENT_ASSERTION_ALGORITHMS,
) -> dict[str, Any]:
    """A new document each call: no list in it is anyone else's (module, AS state or caller)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "registration_endpoint": f"{issuer}/register",
        "jwks_uri": f"{issuer}/jwks.json",
        "scopes_supported": list(scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(grant_types or ("authorization_code", "refresh_token")),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(assertion_algorithms),
        # RFC 8414 §2: omitting this would mean "no PKCE", and MCP clients MUST then refuse (MCP §11.4).
        "code_challenge_methods_supported": ["S256"],
        # CIMD §6: tells clients they may use a URL as client_id instead of registering.
        "client_id_metadata_document_supported": True,
        # RFC 9207 §3: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": True,
        # RFC 9728 §4: the resources this AS issues tokens for.
        "protected_resources": list(resources),
        # RFC 8414 §2 defines these fields for the endpoints of RFC 7009 and RFC 7662.
        "revocation_endpoint": f"{issuer}/revoke",
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        # RFC 8414 §2: REQUIRED once private_key_jwt is listed, as for the token endpoint.
        "revocation_endpoint_auth_signing_alg_values_supported": list(assertion_algorithms),
        "introspection_endpoint": f"{issuer}/introspect",
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": list(assertion_algorithms),
    }


def openid_configuration(metadata: dict[str, Any]) -> dict[str, Any]:
    """The same metadata as OpenID Connect Discovery 1.0 §3 requires it: that document also
    REQUIRES `subject_types_supported` and `id_token_signing_alg_values_supported` (with RS256).
    The lab issues no ID tokens (no `openid` scope), so these two only describe what it would do."""
    return {**metadata, "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}
