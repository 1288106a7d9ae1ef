"""The official MCP Python SDK client (its OAuthClientProvider, over httpx2) against the lab:
the proof that the servers speak the real protocols, not only the lab client's dialect."""

from __future__ import annotations

import pytest

from lab_servers import CLIENT_METADATA_URL, Lab
from lab_servers.client import Browser, Redirect
from lab_servers.sdk import HeadlessUser, sdk_whoami

pytestmark = pytest.mark.anyio


async def test_the_sdk_client_registers_by_dcr_and_is_known_by_an_opaque_id(lab: Lab) -> None:
    whoami = await sdk_whoami(lab)
    assert whoami["client_id"].startswith("tpc_")
    assert lab.registrations[whoami["client_id"]].client_name == "SDK Agent"
    assert [e.path for e in lab.trace if e.caller == "sdk-client"][:4] == [
        "/mcp", "/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server", "/register",
    ]  # fmt: skip


async def test_the_sdk_client_uses_cimd_when_given_a_client_metadata_url(lab: Lab) -> None:
    whoami = await sdk_whoami(lab, client_metadata_url=CLIENT_METADATA_URL)
    assert whoami["client_id"] == CLIENT_METADATA_URL
    assert whoami["identified_by"]["method"] == "CIMD"
    assert lab.registrations == {}
    assert not any(e.path == "/register" for e in lab.trace)
    assert [e.caller for e in lab.trace if e.host == "app.example"] == ["auth.example.com"]


def _leaves(error: BaseException) -> list[BaseException]:
    """The errors inside the SDK's task groups (an ExceptionGroup around the one that happened)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


async def test_the_sdk_client_says_why_the_as_refused_its_authorization_request(lab: Lab) -> None:
    # CIMD §5: a client_id URL that answers 404 is no client; the AS's error page, not a redirect.
    with pytest.raises(BaseException) as raised:  # noqa: PT011 - an ExceptionGroup from the SDK
        await sdk_whoami(lab, client_metadata_url="https://app.example/nobody.json")
    (refused,) = [e for e in _leaves(raised.value) if isinstance(e, RuntimeError)]
    assert str(refused).startswith("the AS refused the request: {'error': 'invalid_client'")


async def test_the_sdk_clients_user_reports_an_error_redirect_instead_of_a_code(lab: Lab) -> None:
    # RFC 6749 §4.1.2.1: a denied request comes back with error and error_description, no code.
    user = HeadlessUser(Browser(lab.httpx_client("browser")))
    user.redirect = Redirect("https://app.example/callback?error=access_denied&error_description=the+user+said+no")
    with pytest.raises(RuntimeError, match=r"^authorization failed: access_denied: the user said no$"):
        await user.callback()
