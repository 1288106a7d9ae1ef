"""The requests the enterprise-managed authorization tests send (MCP extension; ID-JAG draft): a
good ID-JAG from the IdP with any claims changed, presented to the AS's JWT bearer grant (RFC 7523
§2.1) by the enterprise client, and the IdP's token exchange (RFC 8693) with Basic credentials."""

from __future__ import annotations

import base64

import httpx

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.identity_provider import IdentityProvider
from lab_servers.story import (
    ENTERPRISE_CLIENT_AT_AS,
    IDP_ISSUER,
)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def present(lab: Lab, assertion: str, **extra: str) -> httpx.Response:
    registered = lab.auth_server.registry.get(ENTERPRISE_CLIENT_AT_AS)
    assert registered is not None and registered.client_secret
    async with lab.httpx_client("client") as http:
        return await http.post(f"{ISSUER}/token", data={"grant_type": JWT_BEARER, "assertion": assertion, **extra},
                               headers=basic(ENTERPRISE_CLIENT_AT_AS, registered.client_secret))  # fmt: skip


def good(idp: IdentityProvider, **overrides: object) -> str:
    fields: dict = {
        "sub": "alice",
        "audience": ISSUER,
        "client_id": ENTERPRISE_CLIENT_AT_AS,
        "resource": MCP_URL,
        **overrides,
    }
    return idp.mint_id_jag(**fields)


async def idp_exchange(lab: Lab, subject_token: str, authorization: str) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        return await http.post(f"{IDP_ISSUER}/token", headers={"Authorization": authorization}, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": subject_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag", "audience": ISSUER, "resource": MCP_URL,
        })  # fmt: skip
