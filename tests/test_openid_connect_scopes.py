"""OpenID Connect's scope values at an AS that offers none of them: ignored, never refused.

OAuth 2.1 §1.4.1 (RFC 6749 §3.3): the AS "MAY fully or partially ignore the scope requested by the
client". OpenID Connect's values ask the AS for something of its own (an ID token, claims, a
refresh token), not for access to a resource; real MCP clients add them whatever the AS lists
(test_real_client_requests quotes them). A resource's own scope is never ignored.
"""

from __future__ import annotations

import pytest

from lab_servers import MCP_URL, Lab

from .helpers import code_form, get_code, refresh_form, token_request

pytestmark = pytest.mark.anyio

# OIDC Core 1.0 §3.1.2.1 `openid`; §5.4 the standard claims' `profile`, `email`, `address`, `phone`;
# §11 `offline_access`. The lab's AS offers none of them by default.
OPENID_CONNECT_SCOPES = ["openid", "profile", "email", "address", "phone", "offline_access"]


async def _granted(lab: Lab, scope: str) -> dict[str, str]:
    client_id = lab.client_metadata_url
    code = await get_code(lab, client_id, scope=scope)
    answer = await token_request(lab, code_form(client_id, code))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.parametrize("value", OPENID_CONNECT_SCOPES)
async def test_each_openid_connect_scope_value_is_ignored_and_the_token_names_the_resources_scope(
    lab: Lab, value: str
) -> None:
    # RFC 6749 §5.1: the token response names the scope granted when it differs from the one asked.
    assert (await _granted(lab, f"notes:read {value}"))["scope"] == "notes:read"


@pytest.mark.parametrize("value", OPENID_CONNECT_SCOPES)
async def test_a_refresh_naming_an_openid_connect_scope_value_widens_nothing(lab: Lab, value: str) -> None:
    # OAuth 2.1 §4.3.1: a refresh's scope "MUST NOT include any scope not originally granted"; one
    # ignored at /authorize is ignored here too, not refused as a widening.
    refresh_token = (await _granted(lab, "notes:read"))["refresh_token"]
    form = refresh_form(lab.client_metadata_url, refresh_token, scope=f"notes:read {value}")
    answer = await token_request(lab, form)
    assert answer.status_code == 200 and answer.json()["scope"] == "notes:read", answer.text


async def test_a_refresh_ignores_the_openid_connect_values_its_own_resource_lacks(lab: Lab) -> None:
    # RFC 8707 §2: a scope is "for" a resource. Another resource of this AS that defines `email` as
    # its own scope does not make `email` one this token's resource offers: ignored here, as at
    # /authorize for this resource, not refused as a widening of the grant.
    lab.auth_server.resource_scopes["https://mail.example/mcp"] = ["notes:read", "email"]
    refresh_token = (await _granted(lab, "notes:read email"))["refresh_token"]
    form = refresh_form(lab.client_metadata_url, refresh_token, scope="notes:read email", resource=MCP_URL)
    answer = await token_request(lab, form)
    assert answer.status_code == 200 and answer.json()["scope"] == "notes:read", answer.text
