"""Outside judges: authlib 1.9.10, an OAuth implementation written by others with modules named
after the RFCs, judges the lab's authorization server and the tokens it issues: the AS's metadata passes its RFC
8414 validator (with RFC 9207's field and OpenID discovery), and every registration response its
RFC 7591 ClientMetadataClaims under that metadata.
"""

from __future__ import annotations

from typing import Any

import pytest
from authlib.oauth2 import rfc9207
from authlib.oauth2.rfc7591 import ClientMetadataClaims
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from lab_servers import ISSUER, Lab

from .authlib_judge import SERVICE_KEY, lab
from .helpers import register
from .registered_clients import PUBLIC_CLIENT

__all__ = ["lab"]  # the fixture, shared from authlib_judge.py
pytestmark = pytest.mark.anyio


# RFC 8414 metadata (and its RFC 9207 and OpenID extensions) ---------------------------------------


async def test_the_metadata_passes_authlibs_rfc8414_validator_with_the_rfc9207_field_and_openid_discovery(
    lab: Lab,
) -> None:
    """authlib.oauth2.rfc8414.AuthorizationServerMetadata with rfc9207.AuthorizationServerMetadata
    (RFC 8414 §2, RFC 9207 §3), and authlib.oidc.discovery.OpenIDProviderMetadata (OpenID Connect
    Discovery 1.0 §3) for the same document at /.well-known/openid-configuration."""
    async with lab.httpx_client() as http:
        rfc8414 = (await http.get(f"{ISSUER}/.well-known/oauth-authorization-server")).json()
        oidc = (await http.get(f"{ISSUER}/.well-known/openid-configuration")).json()
    AuthorizationServerMetadata(rfc8414).validate(metadata_classes=[rfc9207.AuthorizationServerMetadata])
    OpenIDProviderMetadata(oidc).validate()
    assert rfc8414["authorization_response_iss_parameter_supported"] is True


# RFC 7591 registration responses -------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"token_endpoint_auth_method": None},
        {"token_endpoint_auth_method": "client_secret_post", "scope": "notes:read notes:write"},
        {
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [SERVICE_KEY.as_dict(private=False)]},
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        },
    ],
    ids=["public", "default-method", "client-secret-post", "private-key-jwt"],
)
async def test_registration_responses_pass_authlibs_client_metadata_claims_under_the_as_metadata(
    lab: Lab, changes: dict[str, Any]
) -> None:
    """authlib.oauth2.rfc7591.ClientMetadataClaims with the options it derives from the AS's RFC
    8414 metadata (get_claims_options: scope, response_types, grant_types, auth method supported)
    judges the metadata the AS echoes and provisions (RFC 7591 §3.2.1: "all registered metadata
    about the client, including any fields provisioned by the authorization server itself")."""
    body = {k: v for k, v in {**PUBLIC_CLIENT, **changes}.items() if v is not None}
    response = await register(lab, body)
    assert response.status_code == 201, response.text
    registered = response.json()
    as_metadata = lab.auth_server.metadata()
    options = ClientMetadataClaims.get_claims_options(as_metadata)
    ClientMetadataClaims(dict(registered), {}, options=options).validate()
    # What authlib does not judge (§3.2.1): client_id REQUIRED; client_secret_expires_at "REQUIRED if
    # client_secret is issued"; and the method, which authlib's validate fills in when it is missing.
    assert isinstance(registered["client_id"], str) and registered["client_id"]
    assert ("client_secret" in registered) == ("client_secret_expires_at" in registered)
    assert registered["token_endpoint_auth_method"] in as_metadata["token_endpoint_auth_methods_supported"]
    assert {k: registered[k] for k in body} == body
