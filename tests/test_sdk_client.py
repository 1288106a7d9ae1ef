"""The official MCP Python SDK client (its OAuthClientProvider, over httpx2) against the lab:
the proof that the servers speak the real protocols, not only the lab client's dialect."""

from __future__ import annotations

import pytest

from lab_servers import CLIENT_METADATA_URL, Lab
from lab_servers.sdk import sdk_whoami

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
