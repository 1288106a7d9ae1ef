"""Outside judges: authlib 1.9.10, an OAuth implementation written by others with modules named
after the RFCs, judges the lab's authorization server and the tokens it issues: the JWT assertions of RFC 7523,
authlib's PrivateKeyJWT client authentication (§2.2, §3) and the ID-JAG it signs (a JWT bearer
grant, §2.1), and its server-side check of the assertions the lab's own clients sign.

Each test names the authlib class that judges and the section it judges by. Where authlib and the
spec part ways, the spec decides, and the test shows authlib's exact behaviour with the spec's
sentence.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl

import pytest
from authlib.integrations.httpx_client import OAuthError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion, PrivateKeyJWT
from joserfc.jwk import KeySet, OKPKey

from lab_servers import ISSUER, Lab, default_client_metadata
from lab_servers.authorization_server.client_authentication import MAX_ASSERTION_LIFETIME
from lab_servers.authorization_server.keys import ALGORITHM
from lab_servers.client import Credentials
from lab_servers.story import MCP_SERVER_CLIENT_ID, add_downstream_api

from .authlib_judge import (
    SERVICE_ID,
    TOKEN_ENDPOINT,
    FiveMinutePrivateKeyJWT,
    id_jag_signed_by_authlib,
    joserfc_default_algorithms,
    judged,
    lab,
    redeem_id_jag,
    service_token,
    trust_the_idp_and_register_the_agent,
)

__all__ = ["lab"]  # the fixture, shared from authlib_judge.py
pytestmark = pytest.mark.anyio


# RFC 7523 client authentication: authlib's PrivateKeyJWT -----------------------------------------


async def test_authlibs_private_key_jwt_authenticates_a_client_credentials_client(lab: Lab) -> None:
    """authlib.oauth2.rfc7523.PrivateKeyJWT (RFC 7523 §2.2, §3: iss = sub = client_id, aud, exp,
    jti; RS256) authenticates a CIMD client at the token endpoint (OAuth 2.1 §4.2), twice: each
    assertion is new. Its first argument is what it writes in aud, given here as the issuer: the
    sole audience draft-ietf-oauth-rfc7523bis §4 allows."""
    method = FiveMinutePrivateKeyJWT(ISSUER)
    first = await service_token(lab, method)
    second = await service_token(lab, method)
    assert "refresh_token" not in first  # RFC 6749 §4.4.3: SHOULD NOT
    assert (await judged(lab, first["access_token"]))["sub"] == (await judged(lab, second["access_token"]))["sub"]


async def test_authlibs_default_audience_the_token_endpoint_is_refused_as_rfc7523bis_asks(lab: Lab) -> None:
    """A disagreement with the updated spec. Given no URL, PrivateKeyJWT writes the URL it posts
    to, the token endpoint, in aud, as RFC 7523 §3 item 3 allowed; draft-ietf-oauth-rfc7523bis §4:
    "the token endpoint URL of the authorization server MUST NOT be used as an audience value. The
    authorization server MUST reject any JWT that does not contain its issuer identifier as its
    sole audience value." The lab follows the draft: a client using authlib names the issuer."""
    with pytest.raises(OAuthError) as refused:
        await service_token(lab, FiveMinutePrivateKeyJWT())
    assert refused.value.error == "invalid_client"
    assert f"aud is '{TOKEN_ENDPOINT}'" in refused.value.description
    assert "draft-ietf-oauth-rfc7523bis section 4" in refused.value.description


async def test_authlibs_default_assertion_lives_an_hour_which_the_lab_refuses_as_too_far_in_the_future(
    lab: Lab,
) -> None:
    """A disagreement the spec leaves to the AS. RFC 7523 §3 item 4: "Note that the authorization
    server may reject JWTs with an "exp" claim value that is unreasonably far in the future."
    authlib signs for 3600 s and offers no other lifetime (authlib issue #857); the lab takes
    MAX_ASSERTION_LIFETIME s, the bound on its jti replay cache. The lab keeps its limit."""
    with pytest.raises(OAuthError) as refused:
        await service_token(lab, PrivateKeyJWT(ISSUER))
    assert refused.value.error == "invalid_client"
    assert f"exp is more than {MAX_ASSERTION_LIFETIME} s away" in refused.value.description


async def test_authlibs_private_key_jwt_given_claims_repeats_its_jti_and_the_lab_refuses_the_replay(lab: Lab) -> None:
    """An authlib defect. PrivateKeyJWT(claims=…) is its one option that shortens exp, and its signer
    then writes its jti into that dict: every later assertion carries the same jti. RFC 7519
    §4.1.7: a jti "MUST be assigned in a manner that ensures that there is a negligible probability
    that the same value will be accidentally assigned to a different data object"; RFC 7523 §3
    item 7 lets the AS refuse replays by their jti, as the lab does."""
    method = PrivateKeyJWT(ISSUER, claims={"exp": int(time.time()) + 60})
    assert (await service_token(lab, method))["access_token"]
    assert "jti" in method.claims  # authlib wrote its first jti into the claims it was given
    with pytest.raises(OAuthError) as replayed:
        await service_token(lab, method)
    assert replayed.value.error == "invalid_client"
    assert "jti is missing or was already used" in replayed.value.description


class LabClientAssertions(JWTBearerClientAssertion):
    """authlib's server side of RFC 7523 client authentication, for an AS whose one audience is its
    issuer (§3 item 3 as draft-ietf-oauth-rfc7523bis §4 updates it; authlib asks only that aud
    contain one of these), remembering the jti values it saw (§3 item 7)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def get_audiences(self) -> list[str]:
        return [ISSUER]

    def validate_jti(self, claims: Any, jti: str) -> bool:
        fresh = jti not in self.seen
        self.seen.add(jti)
        return fresh


def assertions_sent(lab: Lab) -> list[str]:
    """Every client_assertion that went to the token endpoint, as it went."""
    forms = [dict(parse_qsl(e.request_body)) for e in lab.trace.exchanges if e.url == TOKEN_ENDPOINT]
    return [form["client_assertion"] for form in forms if "client_assertion" in form]


async def test_the_assertions_the_labs_own_clients_sign_pass_authlibs_rfc7523_server_check(lab: Lab) -> None:
    """authlib.oauth2.rfc7523.JWTBearerClientAssertion.process_assertion_claims (RFC 7523 §3: iss and
    sub the client_id, aud this AS, exp, a jti not seen before) judges what the lab's clients sign:
    the MCP server authenticating for token exchange, and the lab client with private_key_jwt for
    client credentials, each with the key it publishes."""
    add_downstream_api(lab)
    await (await lab.connect("cimd")).client.call_tool("list_contacts")
    service_key = OKPKey.generate_key("Ed25519")
    document = {**default_client_metadata(SERVICE_ID), "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [service_key.as_dict(private=False)]}}  # fmt: skip
    lab.publish_client_document(SERVICE_ID, document)
    service = lab.client("cimd")
    for _ in range(3):  # discovery: challenge, resource metadata, AS metadata
        await service.next_step()
    service.state.credentials = Credentials(SERVICE_ID, None, "private_key_jwt", service_key, ALGORITHM)
    await service.client_credentials()
    mcp_server_assertion, service_assertion = assertions_sent(lab)
    judge = LabClientAssertions()
    downstream = lab.resource_server.downstream
    assert downstream is not None
    with joserfc_default_algorithms([ALGORITHM]):
        by_mcp_server = judge.process_assertion_claims(mcp_server_assertion, KeySet.import_key_set(downstream.jwks()))
        by_service = judge.process_assertion_claims(service_assertion, service_key)
    assert by_mcp_server["sub"] == MCP_SERVER_CLIENT_ID and by_service["sub"] == SERVICE_ID
    assert judge.seen == {by_mcp_server["jti"], by_service["jti"]}


# The ID-JAG (RFC 7523 JWT bearer grant), signed by authlib's IDJAGGrant.sign ------------------------


async def test_an_id_jag_authlib_signs_is_redeemed_once_without_a_refresh_token(lab: Lab) -> None:
    """authlib.oauth2.drafts.id_jag.IDJAGGrant.sign (typ oauth-id-jag+jwt, iss, sub, aud, client_id,
    jti, exp, iat) against the lab's JWT bearer grant (RFC 7523 §2.1): a token, no refresh token
    (ID-JAG draft §4.4.3: SHOULD NOT), and the same assertion a second time is a replay."""
    agent, assertion = trust_the_idp_and_register_the_agent(lab), id_jag_signed_by_authlib()
    token = await redeem_id_jag(agent, assertion)
    assert "refresh_token" not in token
    with pytest.raises(OAuthError) as replayed:
        await redeem_id_jag(agent, assertion)
    assert replayed.value.error == "invalid_grant" and "replay" in replayed.value.description
