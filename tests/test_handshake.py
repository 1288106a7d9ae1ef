"""End to end: the lab client completes both handshakes against the same MCP server."""

from __future__ import annotations

import pytest

from lab_servers import CLIENT_METADATA_URL, Lab

pytestmark = pytest.mark.anyio


async def test_a_dcr_client_is_known_by_an_opaque_server_minted_id(lab: Lab) -> None:
    connection = await lab.connect("dcr")
    assert connection.client_id.startswith("tpc_")
    assert connection.whoami["identified_by"]["method"] == "opaque id (DCR or pre-registered)"
    assert list(lab.registrations) == [connection.client_id]
    assert lab.cimd_cache == {}


async def test_a_cimd_client_is_known_by_the_url_of_its_document(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    assert connection.client_id == CLIENT_METADATA_URL
    assert connection.whoami["identified_by"]["method"] == "CIMD"
    assert lab.registrations == {}
    assert list(lab.cimd_cache) == [CLIENT_METADATA_URL]


async def test_same_server_two_identities(lab: Lab) -> None:
    dcr = await lab.connect("dcr")
    cimd = await lab.connect("cimd")
    assert dcr.whoami["aud"] == cimd.whoami["aud"] == lab.mcp_url
    assert dcr.whoami["sub"] == cimd.whoami["sub"] == "alice"
    assert dcr.client_id != cimd.client_id
