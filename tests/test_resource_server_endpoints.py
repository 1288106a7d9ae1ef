"""Where the MCP server answers, and what it says elsewhere: its MCP endpoint at the resource's
path, its RFC 9728 metadata, and a 404 for any other path that names where MCP is served (so a
client that guessed a path learns the right one)."""

from __future__ import annotations

import pytest

from lab_servers import Lab

pytestmark = pytest.mark.anyio


async def test_a_path_without_an_endpoint_is_404_naming_where_mcp_is_served(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        response = await http.get("https://mcp.example.com/sse")
    assert response.status_code == 404 and response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].endswith("MCP is served at /mcp")


async def test_the_mcp_endpoint_reads_a_body_to_the_message_that_says_no_more() -> None:
    # ASGI HTTP, "Request - receive event": more_body is optional and defaults to False, so a
    # message without it is the last one; reading on would wait for a body that never comes.
    from lab_servers.resource_server.server import _read_body

    messages = [{"type": "http.request", "body": b'{"a":', "more_body": True}, {"type": "http.request", "body": b"1}"}]

    async def receive() -> dict[str, object]:
        assert messages, "read past the last message of the body"
        return messages.pop(0)

    assert await _read_body(receive) == b'{"a":1}'
