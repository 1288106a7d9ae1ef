"""Outside judges: authlib 1.9.10, an OAuth implementation written by others with modules named
after the RFCs, judges the lab's authorization server and the tokens it issues: authlib's AsyncOAuth2Client,
an independent client, runs the code grant with PKCE S256 and `resource`, refreshes, revokes and
authenticates with client_secret_basic (RFC 6749 §2.3.1), in process and served over TLS.

Each test names the authlib class that judges and the section it judges by. Where authlib and the
spec part ways, the spec decides, and the test shows authlib's exact behaviour with the spec's
sentence.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from lab_servers import CLIENT_METADATA_URL, ISSUER, MCP_URL, Lab
from lab_servers.client import Browser, ConsentPage, Redirect
from lab_servers.serve import serving

from .authlib_judge import judged, judged_with, lab, oauth_client
from .helpers import register
from .registered_clients import PUBLIC_CLIENT

__all__ = ["lab"]  # the fixture, shared from authlib_judge.py
pytestmark = pytest.mark.anyio


# An independent client: authlib's AsyncOAuth2Client ----------------------------------------------


async def client_for(lab: Lab, registration: str) -> AsyncOAuth2Client:
    """authlib's client for a CIMD URL, or for a client the AS registered (RFC 7591): a public one,
    or a confidential one with the default method, client_secret_basic (RFC 7591 §2)."""
    if registration == "cimd":
        return oauth_client(lab, CLIENT_METADATA_URL)
    body = PUBLIC_CLIENT if registration == "dcr" else {**PUBLIC_CLIENT, "token_endpoint_auth_method": None}
    response = await register(lab, {k: v for k, v in body.items() if v is not None})
    assert response.status_code == 201, response.text
    registered = response.json()
    return oauth_client(lab, registered["client_id"], registered.get("client_secret"))


async def approve(lab: Lab, client: AsyncOAuth2Client, verifier: str) -> tuple[str, str, str]:
    """authlib builds the authorization request (PKCE S256, RFC 8707 resource); the user approves
    it in the lab's browser. Returns authlib's URL, its state and the redirect back to the client."""
    url, state = client.create_authorization_url(f"{ISSUER}/authorize", code_verifier=verifier, resource=MCP_URL)
    async with lab.httpx_client("browser") as http:
        browser = Browser(http)
        page = await browser.open(url)
        assert isinstance(page, ConsentPage) and page.is_consent, page
        redirect = await browser.decide(page, "approve")
    assert isinstance(redirect, Redirect), redirect
    return url, state, redirect.location


async def signed_in(lab: Lab, registration: str) -> AsyncOAuth2Client:
    """A client that authlib took through the code grant."""
    client = await client_for(lab, registration)
    verifier = generate_token(48)
    _, state, redirect = await approve(lab, client, verifier)
    await client.fetch_token(authorization_response=redirect, state=state, code_verifier=verifier, resource=MCP_URL)
    return client


REGISTRATIONS = pytest.mark.parametrize("registration", ["dcr", "dcr-confidential", "cimd"])


@REGISTRATIONS
async def test_authlibs_client_gets_a_token_for_the_mcp_server_with_pkce_s256_and_the_resource(
    lab: Lab, registration: str
) -> None:
    """authlib.integrations.httpx_client.AsyncOAuth2Client drives OAuth 2.1 §4.1 with PKCE S256
    (RFC 7636 §4.3, §4.5) and resource (RFC 8707 §2); the token it gets passes the RFC 9068 judge."""
    client = await client_for(lab, registration)
    verifier = generate_token(48)
    url, state, redirect = await approve(lab, client, verifier)
    sent = dict(parse_qsl(urlsplit(url).query))
    assert sent["code_challenge_method"] == "S256" and sent["resource"] == MCP_URL
    token = await client.fetch_token(
        authorization_response=redirect, state=state, code_verifier=verifier, resource=MCP_URL
    )
    assert token["token_type"] == "Bearer" and token["refresh_token"]
    claims = await judged(lab, token["access_token"])
    assert claims["client_id"] == client.client_id and claims["scope"] == "notes:read"


async def test_a_code_redeemed_by_authlib_with_another_verifier_is_refused(lab: Lab) -> None:
    """RFC 7636 §4.6: the AS compares the verifier's S256 hash with the challenge; "If the values
    are not equal, an error response indicating "invalid_grant" ... MUST be returned"."""
    client = oauth_client(lab, CLIENT_METADATA_URL)
    _, state, redirect = await approve(lab, client, generate_token(48))
    with pytest.raises(OAuthError) as refused:
        await client.fetch_token(
            authorization_response=redirect, state=state, code_verifier=generate_token(48), resource=MCP_URL
        )
    assert refused.value.error == "invalid_grant"


@REGISTRATIONS
async def test_a_refresh_through_authlib_rotates_the_refresh_token_and_a_replaced_one_ends_the_grant(
    lab: Lab, registration: str
) -> None:
    """OAuth 2.1 §4.3.1, judged through AsyncOAuth2Client.refresh_token: for public clients the AS
    MUST detect replay, and the lab rotates for every client; with rotation "the previous refresh
    token is invalidated", and when one comes back the AS "will revoke the active refresh token as
    well as the access authorization grant associated with it"."""
    client = await signed_in(lab, registration)
    first = dict(client.token)
    second = dict(await client.refresh_token(resource=MCP_URL))
    assert second["refresh_token"] != first["refresh_token"]
    assert (await judged(lab, second["access_token"]))["jti"] != (await judged(lab, first["access_token"]))["jti"]
    with pytest.raises(OAuthError) as replayed:
        await client.refresh_token(refresh_token=first["refresh_token"], resource=MCP_URL)
    assert replayed.value.error == "invalid_grant"
    with pytest.raises(OAuthError) as ended:
        await client.refresh_token(refresh_token=second["refresh_token"], resource=MCP_URL)
    assert ended.value.error == "invalid_grant"
    assert lab.auth_server.active_access_token(second["access_token"]) is None


@REGISTRATIONS
async def test_a_refresh_token_authlib_revokes_refreshes_nothing_more(lab: Lab, registration: str) -> None:
    """RFC 7009 through AsyncOAuth2Client.revoke_token: the AS answers 200 (§2.2) and the token is
    invalidated; §2.1: the AS "SHOULD also invalidate all access tokens based on the same
    authorization grant"."""
    client = await signed_in(lab, registration)
    refresh_token, access_token = client.token["refresh_token"], client.token["access_token"]
    response = await client.revoke_token(f"{ISSUER}/revoke", token=refresh_token, token_type_hint="refresh_token")
    assert response.status_code == 200
    with pytest.raises(OAuthError) as refused:
        await client.refresh_token(refresh_token=refresh_token, resource=MCP_URL)
    assert refused.value.error == "invalid_grant"
    assert lab.auth_server.active_access_token(access_token) is None


async def test_the_lab_names_itself_in_iss_which_authlibs_client_does_not_check(lab: Lab) -> None:
    """RFC 9207 §2: the AS MUST put `iss` in its authorization responses; §2.4: clients "MUST then
    ... compare the result to the issuer identifier of the authorization server where the
    authorization request was sent to". authlib (1.9.6 to 1.9.10) has no client side of RFC 9207: its
    AsyncOAuth2Client redeems a code whose response names another issuer. The lab sends iss (this
    test compares it, for authlib) and the lab's client checks it (client/authorization_steps.py)."""
    client = oauth_client(lab, CLIENT_METADATA_URL)
    verifier = generate_token(48)
    _, state, redirect = await approve(lab, client, verifier)
    params = dict(parse_qsl(urlsplit(redirect).query))
    assert params["iss"] == ISSUER
    mixed_up = redirect.split("?")[0] + "?" + urlencode({**params, "iss": "https://evil.example"})
    token = await client.fetch_token(
        authorization_response=mixed_up, state=state, code_verifier=verifier, resource=MCP_URL
    )
    assert token["access_token"]  # authlib did not look


# RFC 6749 §2.3.1: client_secret_basic ---------------------------------------------------------------


async def test_authlibs_client_secret_basic_does_not_form_urlencode_so_a_client_id_with_a_colon_fails(
    lab: Lab,
) -> None:
    """A disagreement the spec decides against authlib. RFC 6749 §2.3.1 (OAuth 2.1 §2.4.1): "The
    client identifier is encoded using the "application/x-www-form-urlencoded" encoding algorithm
    ..., and the encoded value is used as the username; the client password is encoded using the
    same algorithm and used as the password." authlib joins them unencoded (its fix, PR #594, was
    reverted; its maintainer says to quote them first). The lab decodes, as the spec says, so the
    user-id of `urn:example:reporter:secret` is `urn`; quoted first, authlib's request passes."""
    client_id, secret = "urn:example:reporter", generate_token(24)
    metadata = {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}
    lab.auth_server.preregister(client_id, metadata, secret)
    with pytest.raises(OAuthError) as refused:
        await oauth_client(lab, client_id, secret).fetch_token(grant_type="client_credentials", resource=MCP_URL)
    assert refused.value.error == "invalid_client"
    quoted = oauth_client(lab, quote(client_id, safe=""), quote(secret, safe=""))
    token = await quoted.fetch_token(grant_type="client_credentials", resource=MCP_URL)
    assert (await judged(lab, token["access_token"]))["client_id"] == client_id


# Served mode: what outside clients meet ------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["Ed25519", "RS256"])
async def test_served_over_tls_authlibs_client_signs_in_refreshes_and_revokes_and_its_token_passes_rfc9068(
    tmp_path: Path, algorithm: str
) -> None:
    """`python -m lab_servers serve`: loopback sockets, TLS from the lab's local CA, the wall clock
    and a signing key fresh from the OS's CSPRNG. authlib's AsyncOAuth2Client over TLS, for a DCR
    public client with a loopback redirect URI (RFC 8252 §7.3), gets a token that passes
    JWTBearerTokenValidator with the JWKS fetched over TLS; its refresh rotates (OAuth 2.1 §4.3.1),
    and once revoked (RFC 7009 §2.1) the refresh token is refused. Signed either way the AS can
    (`serve --access-token-algorithm`; RS256 with a key from the CSPRNG too)."""
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path, access_token_algorithm=algorithm
    ) as served:
        assert served.ca is not None
        trust = ssl.create_default_context(cafile=str(served.ca.ca_certificate))
        redirect_uri = "http://127.0.0.1:9/callback"  # never contacted: the browser hands the redirect back
        options = {"scope": "notes:read", "redirect_uri": redirect_uri, "code_challenge_method": "S256"}
        # Closed before the servers stop: an open keep-alive connection holds their shutdown.
        async with (
            httpx.AsyncClient(verify=trust) as http,
            AsyncOAuth2Client(token_endpoint=f"{served.issuer}/token", verify=trust, **options) as client,
        ):
            body = {**PUBLIC_CLIENT, "redirect_uris": [redirect_uri]}
            client.client_id = (await http.post(f"{served.issuer}/register", json=body)).json()["client_id"]
            verifier = generate_token(48)
            url, state = client.create_authorization_url(
                f"{served.issuer}/authorize", code_verifier=verifier, resource=served.mcp_url
            )
            browser = Browser(http)
            page = await browser.open(url)
            assert isinstance(page, ConsentPage), page
            redirect = await browser.decide(page, "approve")
            assert isinstance(redirect, Redirect) and redirect.params["iss"] == served.issuer
            token = await client.fetch_token(
                authorization_response=redirect.location, state=state, code_verifier=verifier, resource=served.mcp_url
            )
            jwks = (await http.get(f"{served.issuer}/jwks.json")).json()
            claims = judged_with(
                jwks, served.issuer, token["access_token"], audience=served.mcp_url, scope="notes:read"
            )
            assert claims["client_id"] == client.client_id and abs(claims["iat"] - time.time()) < 60
            assert claims.header["alg"] == jwks["keys"][0]["alg"] == algorithm
            rotated = await client.refresh_token(resource=served.mcp_url)
            assert rotated["refresh_token"] != token["refresh_token"]
            revoked = await client.revoke_token(f"{served.issuer}/revoke", token=rotated["refresh_token"])
            assert revoked.status_code == 200
            with pytest.raises(OAuthError) as refused:
                await client.refresh_token(refresh_token=rotated["refresh_token"], resource=served.mcp_url)
            assert refused.value.error == "invalid_grant"
