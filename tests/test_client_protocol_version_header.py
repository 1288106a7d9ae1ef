"""MCP-Protocol-Version from the lab client in the initialize era: 2025-06-18's transports put the
negotiated version on every request after initialize; 2025-03-26 had no such header, and an
initialize negotiates anew, so it carries none from an earlier one."""

from __future__ import annotations

import json

import pytest

from lab_servers import Lab

pytestmark = pytest.mark.anyio


def _sent(lab: Lab) -> list[tuple[str, str | None]]:
    """Each request to the MCP server with a token: its method and its MCP-Protocol-Version."""
    return [
        (json.loads(e.request_body).get("method"), e.request_header("mcp-protocol-version"))
        for e in lab.trace.exchanges
        if e.url == lab.mcp_url and e.request_header("authorization")
    ]


async def test_a_2025_06_18_session_states_its_version_after_initialize_and_not_on_initialize() -> None:
    async with Lab(revision="2025-06-18") as lab:
        connection = await lab.connect()
        await connection.client.call_mcp()  # step 7 again: a second initialize
        sent = _sent(lab)
    assert [version for method, version in sent if method == "initialize"] == [None, None]
    assert {version for method, version in sent if method != "initialize"} == {"2025-06-18"}


async def test_a_2025_03_26_session_sends_no_mcp_protocol_version() -> None:
    async with Lab(revision="2025-03-26") as lab:
        await lab.connect()
        assert {version for _, version in _sent(lab)} == {None}
