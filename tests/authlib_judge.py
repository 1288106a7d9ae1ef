"""What the tests with authlib as the judge share (test_authlib_*.py): the lab on the wall clock
(authlib reads `time.time()` for a token's exp and iat, and for the lifetime of the assertions it
signs), authlib's httpx client on the lab network, its RFC 9068 validator set up for the lab, and
the assertions authlib signs (RFC 7523 client authentication, the ID-JAG)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.drafts.id_jag import IDJAGGrant
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from joserfc import jws
from joserfc.jwk import ECKey, KeySet, RSAKey

from lab_servers import ISSUER, MCP_URL, Lab, default_client_metadata
from lab_servers.authorization_server.client_authentication import MAX_ASSERTION_LIFETIME
from lab_servers.network.network import Httpx2Transport
from lab_servers.serve import WallClock

from .helpers import REDIRECT_URI

TOKEN_ENDPOINT = f"{ISSUER}/token"


JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


SERVICE_ID = "https://app.example/service.json"


# authlib's PrivateKeyJWT signs RS256 unless told otherwise: its default, with a key made once.
SERVICE_KEY = RSAKey.generate_key(2048)


IDP = "https://idp.authlib.example"


IDP_KEY = ECKey.generate_key("P-256")


AGENT_ID, AGENT_SECRET = "authlib-agent", generate_token(32)


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    """The lab on the wall clock (conftest's runs on a fixed 2026-01-01, long expired for authlib)."""
    async with Lab(seed=0, clock=WallClock()) as lab:
        yield lab


def oauth_client(lab: Lab, client_id: str, client_secret: Any = None, **options: Any) -> AsyncOAuth2Client:
    """authlib's httpx client, travelling on the lab network as `authlib`."""
    return AsyncOAuth2Client(
        client_id,
        client_secret,
        scope="notes:read",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint=TOKEN_ENDPOINT,
        transport=Httpx2Transport(lab.network, "authlib"),
        **options,
    )


# The RFC 9068 judge ------------------------------------------------------------------------------


class LabAccessTokens(JWTBearerTokenValidator):
    """authlib's RFC 9068 validator with the AS's JWKS (§4: "The resource server MUST use the keys
    provided by the authorization server")."""

    def __init__(self, jwks: dict[str, Any], *, issuer: str, resource_server: str) -> None:
        super().__init__(issuer=issuer, resource_server=resource_server)
        self.jwks = jwks

    def get_jwks(self) -> KeySet:
        return KeySet.import_key_set(self.jwks)


@contextlib.contextmanager
def joserfc_default_algorithms(names: list[str] | None) -> Iterator[None]:
    """authlib's validator decodes with joserfc's default registry, which allows only the
    recommended HS256, RS256 and ES256, and takes no list of its own (RFC 8725 §3.1: "Libraries
    MUST enable the caller to specify a supported set of algorithms"). For one call, the default
    becomes `names`: what a resource server of this AS supports, the `alg` its JWKS names."""
    previous = jws.default_registry.allowed
    jws.default_registry.allowed = names
    try:
        yield
    finally:
        jws.default_registry.allowed = previous


async def judged(lab: Lab, token: str, *, audience: str = MCP_URL, scope: str = "notes:read") -> JWTAccessTokenClaims:
    """The token's claims once authlib's JWTBearerTokenValidator has authenticated it (signature
    with the AS's keys) and validated it (RFC 9068 §4: typ, iss, exp, aud, and sub, client_id, iat,
    jti as essential claims), for a resource server that needs `scope`."""
    async with lab.httpx_client("mcp.example.com") as http:
        jwks = (await http.get(f"{ISSUER}/jwks.json")).json()
    return judged_with(jwks, ISSUER, token, audience=audience, scope=scope)


def judged_with(jwks: dict[str, Any], issuer: str, token: str, *, audience: str, scope: str) -> JWTAccessTokenClaims:
    validator = LabAccessTokens(jwks, issuer=issuer, resource_server=audience)
    with joserfc_default_algorithms([key["alg"] for key in jwks["keys"]]):
        claims = validator.authenticate_token(token)
    validator.validate_token(claims, [scope], request=None)
    # authlib refuses a typ other than at+jwt but lets a token with no typ pass (see the test of
    # JWTAccessTokenClaims below); RFC 9068 §2.1 says access tokens MUST carry it, so the judge looks.
    assert claims.header["typ"] == "at+jwt"
    return claims


class FiveMinutePrivateKeyJWT(PrivateKeyJWT):
    """authlib's PrivateKeyJWT, its assertion living MAX_ASSERTION_LIFETIME s instead of authlib's
    3600: PrivateKeyJWT takes no lifetime (authlib issue #857), so `sign` hands one to authlib's own
    private_key_jwt_sign, which signs every assertion with a fresh jti."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            private_key_jwt_sign(
                auth.client_secret, auth.client_id, token_endpoint, alg=self.alg, expires_in=MAX_ASSERTION_LIFETIME
            )
        )


def publish_service(lab: Lab) -> None:
    """A confidential CIMD client for the client credentials grant, with its RSA key (CIMD §8.2)."""
    document = {**default_client_metadata(SERVICE_ID), "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [SERVICE_KEY.as_dict(private=False)]}}  # fmt: skip
    lab.publish_client_document(SERVICE_ID, document)


async def service_token(lab: Lab, method: PrivateKeyJWT) -> dict[str, Any]:
    publish_service(lab)
    client = oauth_client(lab, SERVICE_ID, SERVICE_KEY, token_endpoint_auth_method=method)
    return dict(await client.fetch_token(grant_type="client_credentials", resource=MCP_URL))


def id_jag_signed_by_authlib() -> str:
    """An ID-JAG from an IdP (ES256, one of the two algorithms the lab's grant takes) for alice."""
    signed = IDJAGGrant.sign(
        IDP_KEY,
        issuer=IDP,
        audience=ISSUER,
        subject="alice",
        client_id=AGENT_ID,
        claims={"resource": MCP_URL, "scope": "notes:read"},
        alg="ES256",
    )
    return str(signed)


def trust_the_idp_and_register_the_agent(lab: Lab) -> AsyncOAuth2Client:
    """The AS trusts the IdP's key, and an administrator registered the agent (ext-auth)."""
    lab.auth_server.trusted_idps[IDP] = {"keys": [IDP_KEY.as_dict(private=False)]}
    metadata = {"grant_types": [JWT_BEARER], "token_endpoint_auth_method": "client_secret_basic"}
    lab.auth_server.preregister(AGENT_ID, metadata, AGENT_SECRET)
    return oauth_client(lab, AGENT_ID, AGENT_SECRET)


async def redeem_id_jag(agent: AsyncOAuth2Client, assertion: str) -> dict[str, Any]:
    return dict(await agent.fetch_token(grant_type=JWT_BEARER, assertion=assertion, resource=MCP_URL))
