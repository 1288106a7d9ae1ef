"""The metadata × configuration matrix: what the AS's RFC 8414 metadata (and the MCP server's RFC
9728 metadata) says, held against what its endpoints do, under every revision and capability
combination the lab runs. RFC 8414 §2 describes each member as what the server "supports"; a
client decides by it (MCP §5: CIMD when `client_id_metadata_document_supported`, DCR when
`registration_endpoint`; §11.4: PKCE by `code_challenge_methods_supported`), so a claim that does
not hold, or a capability that works unadvertised, misleads every client at one configuration.

One cell per claim × configuration; a cell that deliberately does not apply is in `EXEMPT` with
its reason, and `test_every_cell_is_decided` keeps that honest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from lab_servers import CLIENT_METADATA_URL, ASCapabilities, Lab
from lab_servers.client import Browser, ConsentPage, Redirect
from lab_servers.story import add_downstream_api, add_enterprise_idp

from .helpers import REDIRECT_URI, authorization_url
from .rule_matrix import CLIENT_ID, CLIENT_SECRET, DCR_BODY, INITIAL_ACCESS_TOKEN, error_of

pytestmark = pytest.mark.anyio

CONFIGURATIONS: dict[str, dict[str, Any]] = {
    "2026-07-28": {},
    "2025-11-25": {"revision": "2025-11-25"},
    "2025-06-18": {"revision": "2025-06-18"},
    "2025-03-26": {"revision": "2025-03-26"},
    "cimd-off": {"capabilities": ASCapabilities(cimd=False)},
    "dcr-initial-access-token": {
        "capabilities": ASCapabilities(dcr="initial_access_token", initial_access_token=INITIAL_ACCESS_TOKEN)
    },
    "dcr-closed": {"capabilities": ASCapabilities(dcr="closed")},
    "dcr-removed": {"capabilities": ASCapabilities(dcr="removed")},
    "dcr-closed-but-advertised": {"capabilities": ASCapabilities(dcr="closed", advertise_registration_endpoint=True)},
    "auth-none-only": {"capabilities": ASCapabilities(token_endpoint_auth_methods=("none",))},
    "auth-secret-post-only": {"capabilities": ASCapabilities(token_endpoint_auth_methods=("client_secret_post",))},
    "iss-off": {"capabilities": ASCapabilities(iss_parameter=False)},
    "enterprise-and-downstream": {},  # + the IdP's jwt-bearer grant and the MCP server's token exchange
}
Check = Callable[[Lab, dict[str, Any]], Awaitable[None]]
AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")


@dataclass(frozen=True)
class Claim:
    id: str
    spec: str
    check: Check


async def _send(lab: Lab, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        return await http.request(method, url, **kwargs)


async def _register(lab: Lab, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {INITIAL_ACCESS_TOKEN}"}  # ignored where none is needed
    return await _send(lab, "POST", f"{lab.issuer}/register", json=body, headers=headers)


async def endpoints_exist(lab: Lab, metadata: dict[str, Any]) -> None:
    methods = {"authorization_endpoint": "GET", "jwks_uri": "GET", "token_endpoint": "POST",
               "registration_endpoint": "POST", "revocation_endpoint": "POST", "introspection_endpoint": "POST"}  # fmt: skip
    for name, url in metadata.items():
        if name.endswith("_endpoint") or name == "jwks_uri":
            response = await _send(lab, methods[name], url)
            assert response.status_code not in (404, 405), (name, url, response.status_code)


async def registration_iff_advertised(lab: Lab, metadata: dict[str, Any]) -> None:
    method = (metadata.get("token_endpoint_auth_methods_supported") or ["none"])[0]
    response = await _register(lab, {**DCR_BODY, "token_endpoint_auth_method": method})
    assert ("registration_endpoint" in metadata) == (response.status_code == 201), (response.status_code, response.text)


async def cimd_iff_advertised(lab: Lab, metadata: dict[str, Any]) -> None:
    page = await Browser(lab.httpx_client("browser")).open(_authorize(lab, CLIENT_METADATA_URL))
    works = isinstance(page, ConsentPage) and page.is_consent
    assert metadata.get("client_id_metadata_document_supported", False) is works, page


async def auth_methods_honoured(lab: Lab, metadata: dict[str, Any]) -> None:
    listed = metadata["token_endpoint_auth_methods_supported"]
    for method in AUTH_METHODS:
        response = await _register(lab, {**DCR_BODY, "token_endpoint_auth_method": method})
        assert (response.status_code == 201) == (method in listed), (method, listed, response.text)


async def revocation_methods_honoured(lab: Lab, metadata: dict[str, Any]) -> None:
    # The preregistered clients: CLIENT_ID with client_secret_basic, CLIENT_ID + "-post" with client_secret_post.
    for method, kwargs in (
        ("client_secret_basic", {"auth": (CLIENT_ID, CLIENT_SECRET), "data": {}}),
        ("client_secret_post", {"data": {"client_id": f"{CLIENT_ID}-post", "client_secret": CLIENT_SECRET}}),
    ):  # fmt: skip
        data = {"token": "no-such-token", **kwargs.pop("data")}
        response = await _send(lab, "POST", metadata["revocation_endpoint"], data=data, **kwargs)
        listed = method in metadata["revocation_endpoint_auth_methods_supported"]
        assert (response.status_code == 200) == listed, (method, response.status_code, response.text)


async def pkce_methods(lab: Lab, metadata: dict[str, Any]) -> None:
    assert metadata["code_challenge_methods_supported"] == ["S256"], metadata
    page = await Browser(lab.httpx_client("browser")).open(_authorize(lab, CLIENT_ID, code_challenge_method="plain"))
    assert not isinstance(page, ConsentPage) or not page.is_consent, "plain is not advertised, so not taken"


async def response_types(lab: Lab, metadata: dict[str, Any]) -> None:
    assert metadata["response_types_supported"] == ["code"], metadata
    browser = Browser(lab.httpx_client("browser"))
    assert isinstance(page := await browser.open(_authorize(lab, CLIENT_ID)), ConsentPage) and page.is_consent, page
    refused = await browser.open(_authorize(lab, CLIENT_ID, response_type="token"))
    assert isinstance(refused, Redirect) and refused.params.get("error") == "unsupported_response_type", refused


async def grant_types(lab: Lab, metadata: dict[str, Any]) -> None:
    listed = metadata["grant_types_supported"]
    for grant in {*listed, "password", "urn:ietf:params:oauth:grant-type:jwt-bearer",
                  "urn:ietf:params:oauth:grant-type:token-exchange"}:  # fmt: skip
        response = await _send(lab, "POST", metadata["token_endpoint"], **_authenticated(metadata, grant_type=grant))
        assert (error_of(response) != "unsupported_grant_type") == (grant in listed), (grant, listed, response.text)


async def scopes_requestable(lab: Lab, metadata: dict[str, Any]) -> None:
    for scope in metadata["scopes_supported"]:
        page = await Browser(lab.httpx_client("browser")).open(_authorize(lab, CLIENT_ID, scope=scope))
        assert isinstance(page, ConsentPage) and page.is_consent, (scope, page)


async def iss_iff_advertised(lab: Lab, metadata: dict[str, Any]) -> None:
    browser = Browser(lab.httpx_client("browser"))
    page = await browser.open(_authorize(lab, CLIENT_ID))
    assert isinstance(page, ConsentPage)
    redirect = await browser.decide(page, "approve")
    assert isinstance(redirect, Redirect)
    advertised = metadata.get("authorization_response_iss_parameter_supported", False)
    assert ("iss" in redirect.params) is advertised, (redirect.params, advertised)
    assert redirect.params.get("iss", lab.issuer) == metadata["issuer"]


async def openid_configuration_agrees(lab: Lab, metadata: dict[str, Any]) -> None:
    openid = (await _send(lab, "GET", f"{lab.issuer}/.well-known/openid-configuration")).json()
    assert "code_challenge_methods_supported" in openid, openid  # MCP §11.4: MUST, with OIDC discovery
    for name, value in metadata.items():
        assert openid.get(name) == value, (name, openid.get(name), value)


async def protected_resource_metadata_holds(lab: Lab, metadata: dict[str, Any]) -> None:
    prm = (await _send(lab, "GET", "https://mcp.example.com/.well-known/oauth-protected-resource/mcp")).json()
    assert prm["resource"] == lab.mcp_url, prm  # RFC 9728 §3.3: identical to the resource's URL
    assert prm["authorization_servers"] == [metadata["issuer"]], prm
    for scope in prm.get("scopes_supported", []):  # MCP §6: a client MAY request them all
        page = await Browser(lab.httpx_client("browser")).open(_authorize(lab, CLIENT_ID, scope=scope))
        assert isinstance(page, ConsentPage) and page.is_consent, (scope, page)


def _authenticated(metadata: dict[str, Any], **form: str) -> dict[str, Any]:
    """A request's form, from a preregistered client authenticating by a method the AS lists."""
    listed = metadata["token_endpoint_auth_methods_supported"]
    if "client_secret_basic" in listed:
        return {"data": form, "auth": (CLIENT_ID, CLIENT_SECRET)}
    if "client_secret_post" in listed:
        return {"data": {**form, "client_id": f"{CLIENT_ID}-post", "client_secret": CLIENT_SECRET}}
    return {"data": {**form, "client_id": f"{CLIENT_ID}-public"}}


def _authorize(lab: Lab, client_id: str, **overrides: str | None) -> str:
    url = authorization_url(client_id, **overrides)
    if lab.issuer != "https://auth.example.com":  # 2025-03-26: the AS at the MCP server's origin, no resource
        url = url.replace("https://auth.example.com", lab.issuer)
    return url if lab.revision.resource_parameter else str(httpx.URL(url).copy_remove_param("resource"))


CLAIMS = [
    Claim("endpoints-exist", "RFC 8414 §2: each *_endpoint (and jwks_uri) is a URL of the server's endpoint", endpoints_exist),
    Claim("registration_endpoint", "RFC 8414 §2, MCP §5: registration_endpoint is advertised when registration works, and only then", registration_iff_advertised),
    Claim("client_id_metadata_document_supported", "CIMD §6 (-02): the AS advertises CIMD support, and a URL client_id works where it does", cimd_iff_advertised),
    Claim("token_endpoint_auth_methods_supported", "RFC 8414 §2, RFC 7591 §2: the methods listed are those a client may register", auth_methods_honoured),
    Claim("revocation_endpoint_auth_methods_supported", "RFC 8414 §2, RFC 7009 §2.1: the methods listed are those /revoke honours", revocation_methods_honoured),
    Claim("code_challenge_methods_supported", "RFC 8414 §2, OAuth 2.1 §4.1.1: S256 only, and plain is refused", pkce_methods),
    Claim("response_types_supported", "RFC 8414 §2, OAuth 2.1 §4.1.2.1: code works, any other is unsupported_response_type", response_types),
    Claim("grant_types_supported", "RFC 8414 §2: the grant types listed are the ones /token takes (unsupported_grant_type otherwise, RFC 6749 §5.2)", grant_types),
    Claim("scopes_supported", "RFC 8414 §2: each scope listed can be requested", scopes_requestable),
    Claim("openid-configuration", "OpenID Discovery §3 beside RFC 8414: the same server described alike; MCP §11.4: with code_challenge_methods_supported", openid_configuration_agrees),
    Claim("protected-resource-metadata", "RFC 9728 §2, §3.3: resource is the MCP URL, authorization_servers the AS, each scope in scopes_supported can be requested", protected_resource_metadata_holds),
    Claim("authorization_response_iss_parameter_supported", "RFC 9207 §3: iss is on authorization responses exactly when advertised", iss_iff_advertised),
]  # fmt: skip
CLAIM_BY_ID = {claim.id: claim for claim in CLAIMS}

# Cells that deliberately do not hold, each with its reason.
EXEMPT: dict[tuple[str, str], str] = {
    ("registration_endpoint", "dcr-closed-but-advertised"): (
        "the misconfiguration the lab exists to show (ASCapabilities.advertise_registration_endpoint: clients "
        "trip over an advertised endpoint that refuses, marselsel/Lexware-MCP-Server#36)"
    ),
    ("protected-resource-metadata", "2025-03-26"): "MCP 2025-03-26 has no RFC 9728 metadata: its AS is found at "
    "the MCP server's origin (2025-03-26 §2.3.2)",
    **{
        ("token_endpoint_auth_methods_supported", name): f"registration is {kind} here: no method can be registered (RFC 7591 §3)"
        for name, kind in (("dcr-closed", "closed"), ("dcr-removed", "removed"), ("dcr-closed-but-advertised", "closed"))
    },
}  # fmt: skip
CELLS = [(c, name) for c in CLAIMS for name in CONFIGURATIONS if (c.id, name) not in EXEMPT]


def test_every_cell_is_decided() -> None:
    for (claim_id, name), reason in EXEMPT.items():
        assert claim_id in CLAIM_BY_ID and name in CONFIGURATIONS and reason.strip(), (claim_id, name)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def labs() -> AsyncIterator[dict[str, tuple[Lab, dict[str, Any]]]]:
    built: dict[str, tuple[Lab, dict[str, Any]]] = {}
    try:
        for name, options in CONFIGURATIONS.items():
            lab = Lab(seed=0, **options)
            await lab.__aenter__()
            built[name] = lab, {}
            for client_id, method in ((CLIENT_ID, "client_secret_basic"), (f"{CLIENT_ID}-post", "client_secret_post"),
                                      (f"{CLIENT_ID}-public", "none")):  # fmt: skip
                metadata = {"client_name": "Matrix", "redirect_uris": [REDIRECT_URI],
                            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": method}  # fmt: skip
                lab.auth_server.preregister(client_id, metadata, None if method == "none" else CLIENT_SECRET)
            if name == "enterprise-and-downstream":
                add_enterprise_idp(lab)
                add_downstream_api(lab)
            well_known = f"{lab.issuer}/.well-known/oauth-authorization-server"
            built[name] = lab, (await _send(lab, "GET", well_known)).json()
        yield built
    finally:
        for lab, _ in built.values():
            await lab.aclose()


@pytest.mark.parametrize(("claim", "name"), [pytest.param(c, n, id=f"{c.id}:{n}") for c, n in CELLS])
async def test_the_metadata_says_what_the_server_does(
    claim: Claim, name: str, labs: dict[str, tuple[Lab, dict[str, Any]]]
) -> None:
    lab, metadata = labs[name]
    await claim.check(lab, metadata)
