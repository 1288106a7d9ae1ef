"""Outside judges: authlib 1.9.10, an OAuth implementation written by others with modules named
after the RFCs, judges the lab's authorization server and the tokens it issues: every grant's access token
passes its RFC 9068 validator (and fails it where the spec says it should), and introspection
answers its RFC 7662 validator.

Each test names the authlib class that judges and the section it judges by. Where authlib and the
spec part ways, the spec decides, and the test shows authlib's exact behaviour with the spec's
sentence. Everything runs in process on the lab network, with the lab on the wall clock.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7662 import IntrospectionToken, IntrospectTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from joserfc.errors import ExpiredTokenError, InvalidClaimError, UnsupportedAlgorithmError
from joserfc.jwk import RSAKey

from lab_servers import CLIENT_METADATA_URL, ISSUER, MCP_URL, Lab
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.keys import ALGORITHM
from lab_servers.determinism import LabClock
from lab_servers.serve import WallClock
from lab_servers.story import API_URL, MCP_SERVER_CLIENT_ID, add_downstream_api

from .authlib_judge import (
    AGENT_ID,
    SERVICE_ID,
    FiveMinutePrivateKeyJWT,
    LabAccessTokens,
    id_jag_signed_by_authlib,
    judged,
    lab,
    oauth_client,
    redeem_id_jag,
    service_token,
    trust_the_idp_and_register_the_agent,
)

__all__ = ["lab"]  # the fixture, shared from authlib_judge.py
pytestmark = pytest.mark.anyio


# RFC 9068: every grant's access token -------------------------------------------------------------


class Issued(NamedTuple):
    """An access token, and what RFC 9068 §2.2 says it must name: its audience (the resource it
    was asked for), its client, its subject; and the scope its resource server needs."""

    token: str
    audience: str
    client_id: str
    subject: str
    scope: str = "notes:read"


async def by_dcr(lab: Lab) -> Issued:
    connection = await lab.connect("dcr")
    return Issued(connection.access_token or "", MCP_URL, connection.client_id, "alice")


async def by_cimd(lab: Lab) -> Issued:
    connection = await lab.connect("cimd")
    return Issued(connection.access_token or "", MCP_URL, CLIENT_METADATA_URL, "alice")


async def after_refresh(lab: Lab) -> Issued:
    connection = await lab.connect("cimd")
    first = connection.access_token
    await connection.client.refresh()
    assert connection.access_token != first
    return Issued(connection.access_token or "", MCP_URL, CLIENT_METADATA_URL, "alice")


async def by_client_credentials(lab: Lab) -> Issued:
    token = await service_token(lab, FiveMinutePrivateKeyJWT(ISSUER))  # the sole aud (rfc7523bis §4)
    # RFC 9068 §2.2: with no resource owner, sub SHOULD name the client application.
    return Issued(token["access_token"], MCP_URL, SERVICE_ID, SERVICE_ID)


async def by_token_exchange(lab: Lab) -> Issued:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    await connection.client.call_tool("list_contacts")
    exchanged = lab.resource_server.downstream.last_exchange  # type: ignore[union-attr]
    return Issued(exchanged["access_token"], API_URL, MCP_SERVER_CLIENT_ID, "alice", scope="contacts:read")


async def by_id_jag(lab: Lab) -> Issued:
    token = await redeem_id_jag(trust_the_idp_and_register_the_agent(lab), id_jag_signed_by_authlib())
    return Issued(token["access_token"], MCP_URL, AGENT_ID, "alice")


@pytest.mark.parametrize(
    "grant",
    [by_dcr, by_cimd, after_refresh, by_client_credentials, by_token_exchange, by_id_jag],
    ids=["code-dcr", "code-cimd", "refresh", "client-credentials", "token-exchange", "jwt-bearer-id-jag"],
)
async def test_every_grant_issues_an_access_token_authlibs_rfc9068_validator_accepts(lab: Lab, grant: Any) -> None:
    """authlib.oauth2.rfc9068.JWTBearerTokenValidator (RFC 9068 §4) with the AS's JWKS, its issuer
    and the resource as audience, on tokens of the code grant (DCR and CIMD clients), a refresh,
    client credentials, token exchange (RFC 8693) and the JWT bearer grant (RFC 7523, an ID-JAG)."""
    issued = await grant(lab)
    claims = await judged(lab, issued.token, audience=issued.audience, scope=issued.scope)
    assert claims["iss"] == ISSUER and claims["aud"] == issued.audience
    assert claims["client_id"] == issued.client_id and claims["sub"] == issued.subject
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_LIFETIME  # RFC 6749 §5.1 expires_in


async def test_authlib_finds_an_access_token_expired_once_its_lifetime_has_passed() -> None:
    """RFC 7519 §4.1.4, by authlib's JWTAccessTokenClaims: exp is the time "on or after which the
    JWT MUST NOT be accepted". The AS's clock stands ACCESS_TOKEN_LIFETIME s in the past."""
    async with Lab(seed=0, clock=LabClock(int(time.time()) - ACCESS_TOKEN_LIFETIME)) as lab:
        connection = await lab.connect("cimd")
        with pytest.raises(InvalidTokenError) as refused:
            await judged(lab, connection.access_token or "")
    assert isinstance(refused.value.__cause__, ExpiredTokenError)


async def test_an_rs256_lab_s_tokens_pass_authlibs_validator_as_shipped_and_its_mcp_server_accepts_them() -> None:
    """RFC 9068 §2.1: "Authorization servers and resource servers conforming to this specification
    MUST include RS256 (as defined in [RFC7518]) among their supported signature algorithms." Asked
    to, the lab's AS signs RS256 with a 2048-bit key (RFC 7518 §3.3), and its MCP server accepts it;
    authlib's validator, as shipped (no algorithm allowed by hand), then accepts the tokens."""
    async with Lab(seed=0, clock=WallClock(), access_token_algorithm="RS256") as lab:
        connection = await lab.connect("cimd")
        assert (await connection.client.call_tool("whoami"))["structuredContent"]["client_id"] == CLIENT_METADATA_URL
        async with lab.httpx_client() as http:
            jwks = (await http.get(f"{ISSUER}/jwks.json")).json()
    [key] = jwks["keys"]
    assert key["alg"] == "RS256" and RSAKey.import_key(key).raw_value.key_size == 2048
    validator = LabAccessTokens(jwks, issuer=ISSUER, resource_server=MCP_URL)
    claims = validator.authenticate_token(connection.access_token)
    validator.validate_token(claims, ["notes:read"], request=None)
    assert claims.header["alg"] == "RS256" and claims["client_id"] == CLIENT_METADATA_URL


async def test_authlibs_validator_as_shipped_refuses_the_default_ed25519_tokens(lab: Lab) -> None:
    """The lab signs with Ed25519 by default (deterministic signatures, short tokens: notebook
    outputs replay byte for byte), which authlib's validator refuses as "not recommended": it takes
    no algorithm list of its own (RFC 8725 §3.1: "Libraries MUST enable the caller to specify a
    supported set of algorithms"), so `judged` allows, for one call, the `alg` the JWKS names."""
    connection = await lab.connect("cimd")
    async with lab.httpx_client() as http:
        jwks = (await http.get(f"{ISSUER}/jwks.json")).json()
    assert [key["alg"] for key in jwks["keys"]] == [ALGORITHM] == ["Ed25519"]
    validator = LabAccessTokens(jwks, issuer=ISSUER, resource_server=MCP_URL)
    with pytest.raises(InvalidTokenError) as refused:
        validator.authenticate_token(connection.access_token)
    assert isinstance(refused.value.__cause__, UnsupportedAlgorithmError)
    assert "Algorithm of 'Ed25519' is not recommended" in str(refused.value.__cause__)


async def test_authlib_refuses_a_typ_other_than_at_jwt_but_not_a_missing_one(lab: Lab) -> None:
    """authlib.oauth2.rfc9068.claims.JWTAccessTokenClaims is laxer than RFC 9068 §4: "The resource
    server MUST verify that the typ header value is "at+jwt" or "application/at+jwt" and reject
    tokens carrying any other value", and §2.1 says access tokens MUST carry it. So `judged` checks
    the lab's tokens carry it; here, authlib's exact behaviour on the lab's claims."""
    claims = dict(await judged(lab, (await lab.connect("cimd")).access_token or ""))
    JWTAccessTokenClaims(claims, {"alg": ALGORITHM, "typ": "application/at+jwt"}).validate()
    JWTAccessTokenClaims(claims, {"alg": ALGORITHM}).validate()  # no typ: passes authlib, not the spec
    with pytest.raises(InvalidClaimError, match="typ"):
        JWTAccessTokenClaims(claims, {"alg": ALGORITHM, "typ": "JWT"}).validate()


# RFC 7662 introspection ---------------------------------------------------------------------------


async def test_introspection_answers_authlibs_introspect_token_validator_active_then_inactive(lab: Lab) -> None:
    """authlib's AsyncOAuth2Client.introspect_token asks as an authorised resource server (RFC 7662
    §2.1); authlib.oauth2.rfc7662.IntrospectTokenValidator judges the answer (§2.2: active, scope)
    as an IntrospectionToken: good, then, once the token is revoked (RFC 7009), inactive."""
    connection = await lab.connect("cimd")
    token = connection.access_token or ""
    # authlib sends its Basic credentials unencoded (see above): an id and secret with no reserved character.
    secret = generate_token(24)
    lab.auth_server.preregister(
        "authlib-introspector", {"grant_types": [], "token_endpoint_auth_method": "client_secret_basic"}, secret
    )
    lab.auth_server.introspectors["authlib-introspector"] = MCP_URL
    resource_server = oauth_client(lab, "authlib-introspector", secret)

    async def introspected() -> IntrospectionToken:
        response = await resource_server.introspect_token(
            f"{ISSUER}/introspect", token=token, token_type_hint="access_token"
        )
        assert response.status_code == 200, response.text
        return IntrospectionToken(response.json())

    active = await introspected()
    IntrospectTokenValidator().validate_token(active, ["notes:read"], request=None)
    assert active.active is True and active.client_id == CLIENT_METADATA_URL and active.token_type == "Bearer"
    assert active.get_expires_at() == (await judged(lab, token))["exp"]
    async with lab.httpx_client() as http:
        revoked = await http.post(f"{ISSUER}/revoke", data={"token": token, "client_id": CLIENT_METADATA_URL})
    assert revoked.status_code == 200
    inactive = await introspected()
    assert dict(inactive) == {"active": False}
    with pytest.raises(InvalidTokenError):
        IntrospectTokenValidator().validate_token(inactive, ["notes:read"], request=None)
