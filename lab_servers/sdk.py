"""The official MCP Python SDK client, pointed at the lab.

This is the proof that the lab's servers speak the real protocols and not only the lab
client's dialect: the SDK's own `OAuthClientProvider` does discovery, DCR or CIMD, PKCE, the
token request and the MCP calls, over the lab network (through `httpx2`, the SDK's HTTP
client). The user's part — opening the authorization URL and pressing Approve — is played
headlessly by the lab's browser.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import httpx2
from mcp.client import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from .client import Browser, Redirect
from .error_text import told

if TYPE_CHECKING:
    from .lab import Lab


class MemoryTokenStorage:
    """The SDK's `TokenStorage` protocol, in memory (one client, one AS)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class HeadlessUser:
    """Redirect and callback handlers for the SDK: the lab browser opens the URL, approves, and
    hands back the `code`, `state` and `iss` of the redirect without following it."""

    def __init__(self, browser: Browser, decision: str = "approve") -> None:
        self.browser = browser
        self.decision = decision
        self.redirect: Redirect | None = None

    async def open_authorization_url(self, url: str) -> None:
        outcome = await self.browser.open(url)
        if not isinstance(outcome, Redirect):
            if not outcome.is_consent:
                raise RuntimeError(f"the AS refused the request: {told(outcome.fields)}")
            outcome = await self.browser.decide(outcome, self.decision)
        if not isinstance(outcome, Redirect):
            raise RuntimeError(f"consent did not redirect: {told(outcome.fields)}")
        self.redirect = outcome

    async def callback(self) -> AuthorizationCodeResult:
        assert self.redirect is not None, "the redirect handler runs first"
        params = self.redirect.params
        if "code" not in params:
            raise RuntimeError(
                f"authorization failed: {told(params.get('error'))}: {told(params.get('error_description'))}"
            )
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))


async def sdk_whoami(
    lab: Lab, *, client_metadata_url: str | None = None, caller: str = "sdk-client", mode: str | None = None
) -> dict[str, Any]:
    """Connect with the official SDK client through the lab network and call `whoami`. With
    `client_metadata_url` the SDK uses CIMD (the AS advertises it); without, it registers by DCR.
    `mode` picks the SDK's `Client` era: "legacy" (initialize), "auto" (probe server/discover,
    fall back), or "2026-07-28" (modern only); None keeps the classic `ClientSession` path."""
    return await whoami_with_sdk(
        lab.mcp_url,
        lambda auth: lab.httpx2_client(caller, auth=auth),
        Browser(lab.httpx_client("browser")),
        client_metadata_url=client_metadata_url,
        mode=mode,
    )


async def whoami_with_sdk(
    mcp_url: str,
    make_http: Callable[[httpx2.Auth], httpx2.AsyncClient],
    browser: Browser,
    *,
    client_metadata_url: str | None = None,
    redirect_uri: str = "https://app.example/callback",
    mode: str | None = None,
) -> dict[str, Any]:
    """The SDK's whole flow against `mcp_url`, over whatever `make_http(auth)` connects to (the lab
    network, or real sockets for a served lab), with `browser` playing the user."""
    user = HeadlessUser(browser)
    metadata = OAuthClientMetadata(
        client_name="SDK Agent",
        redirect_uris=[AnyUrl(redirect_uri)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(
        mcp_url,
        metadata,
        MemoryTokenStorage(),
        redirect_handler=user.open_authorization_url,
        callback_handler=user.callback,
        client_metadata_url=client_metadata_url,
    )
    if mode is not None:
        async with (
            make_http(provider) as http,
            Client(streamable_http_client(mcp_url, http_client=http), mode=mode) as client,
        ):
            result = await client.call_tool("whoami", {})
        if result.is_error:
            raise RuntimeError(f"whoami failed: {result.content}")
        return dict(result.structured_content or {})
    async with (
        make_http(provider) as http,
        streamable_http_client(mcp_url, http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool("whoami", {})
    if result.is_error:
        raise RuntimeError(f"whoami failed: {result.content}")
    return dict(result.structured_content or {})


async def whoami_over_tls(mcp_url: str, ca_file: Path) -> dict[str, Any]:
    """The SDK's whole DCR flow against a served lab (`python -m lab_servers serve`) over real
    sockets, trusting the CA that `serve` wrote (`ca.pem` in its `--tls-dir`) and nothing else.
    The lab's headless browser approves and reads the code off the redirect, so the loopback
    redirect URI is never listened on."""
    trust = ssl.create_default_context(cafile=str(ca_file))
    # The served lab is on loopback: a proxy the environment names (HTTPS_PROXY) cannot reach it.
    async with httpx.AsyncClient(verify=trust, trust_env=False) as browser_http:
        return await whoami_with_sdk(
            mcp_url,
            lambda auth: httpx2.AsyncClient(auth=auth, verify=trust, trust_env=False),
            Browser(browser_http),
            redirect_uri="http://127.0.0.1:9/callback",
        )
