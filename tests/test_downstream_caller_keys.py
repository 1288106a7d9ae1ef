"""The MCP server's own key for token exchange (private_key_jwt, RFC 7523 §2.2): what it hands the
AS's administrator to register is the public half only (RFC 7517 §4, RFC 8037 §2: an OKP key's
private part is its "d" member, which a JWK Set published for verification must not carry)."""

from __future__ import annotations

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from lab_servers import Lab
from lab_servers.story import add_downstream_api

pytestmark = pytest.mark.anyio


async def test_the_registered_jwks_holds_the_public_key_and_never_the_private_part(lab: Lab) -> None:
    add_downstream_api(lab)
    caller = lab.resource_server.downstream
    assert caller is not None
    (key,) = caller.jwks()["keys"]
    assert key["kty"] == "OKP" and "x" in key and "d" not in key


async def test_its_client_assertion_names_the_as_issuer_as_its_sole_audience(lab: Lab) -> None:
    # draft-ietf-oauth-rfc7523bis §4 (updating RFC 7523 §3 item 3): aud "MUST use the issuer
    # identifier of the authorization server as its sole value"; the token endpoint URL "MUST NOT
    # be used as an audience value".
    add_downstream_api(lab)
    caller = lab.resource_server.downstream
    assert caller is not None
    claims = jwt.decode(caller.client_assertion(), KeySet.import_key_set(caller.jwks()), algorithms=["Ed25519"]).claims
    assert claims["aud"] == lab.auth_server.issuer != lab.auth_server.token_endpoint
