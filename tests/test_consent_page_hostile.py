"""The consent page under hostile redirect URIs: whatever the policy let through to it, the page
renders (OAuth 2.1 §4.1.2: the AS asks the user), never a 500. The naive policy's prefix match
takes a redirect_uri that merely starts with a registered one, so an authority with an unclosed
"[" (no URI by RFC 3986 §3.2.2, and urlsplit's ValueError) made the page a 500; it now renders,
the URI shown whole where the page shows hostnames."""

from __future__ import annotations

import pytest

from lab_servers import MCP_URL, Lab
from lab_servers.authorization_server.clients import Client
from lab_servers.authorization_server.consent import localhost_only, render_consent_page
from lab_servers.authorization_server.policy import NAIVE

from .helpers import authorization_url
from .registered_clients import registered_client

pytestmark = pytest.mark.anyio
UNCLOSED = "https://app.example[x"


async def test_the_naive_prefix_match_shows_a_redirect_uri_with_an_unclosed_bracket_on_the_page(lab: Lab) -> None:
    lab.auth_server.policy = NAIVE
    client = await registered_client(lab, redirect_uris=["https://app.example"])
    async with lab.httpx_client() as http:
        page = await http.get(authorization_url(client["client_id"], redirect_uri=UNCLOSED))
    assert page.status_code == 200 and "Allow access to your account?" in page.text


def test_a_redirect_uri_without_a_readable_host_is_not_localhost_only_and_renders() -> None:
    # MCP §11.6.2's warning is for redirects that all land on the user's machine; a URI whose host
    # cannot be read lands nowhere known, so it is no such redirect.
    client = Client("https://app.example/client.json", "cimd", {"redirect_uris": [UNCLOSED], "client_name": "n"})
    assert localhost_only(client) is False
    page = render_consent_page(
        client, txn="t", redirect_uri=UNCLOSED, scope="notes:read", resource=MCP_URL, action="/d", user="alice"
    )
    assert f"({UNCLOSED})" in page
