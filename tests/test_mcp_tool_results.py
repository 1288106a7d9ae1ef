"""What the MCP server's tools give back: a successful result whole, however long (the lab bounds
what a refusal quotes of the request, JSON-RPC 2.0 §5.1, not what a tool returns), and the
lab's note bounds at exactly their limits (MCP server/tools, "Error Handling": a tool's own
failure is a result with isError, not a protocol error)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab_servers import Lab
from lab_servers.resource_server import tools

from .test_resource_server_transport import post

pytestmark = pytest.mark.anyio
WRITE = "notes:read notes:write"


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


async def test_a_note_of_exactly_the_limit_is_added_and_listed_whole() -> None:
    text = "n" * tools.MAX_NOTE_CHARS
    async with Lab(revision="2025-11-25") as lab:
        added = await post(lab, call("add_note", text=text), "2025-11-25", scope=WRITE)
        listed = await post(lab, call("list_notes"), "2025-11-25", scope=WRITE)
    for response in (added, listed):
        result = response.json()["result"]
        assert not result.get("isError") and text in json.dumps(result)
        assert "characters in all]" not in response.text  # no echo bound applied to a result


async def test_one_character_over_the_limit_is_a_tool_error_naming_it() -> None:
    async with Lab(revision="2025-11-25") as lab:
        response = await post(lab, call("add_note", text="n" * (tools.MAX_NOTE_CHARS + 1)), "2025-11-25", scope=WRITE)
    result = response.json()["result"]
    assert result["isError"] is True and f"at most {tools.MAX_NOTE_CHARS} characters" in json.dumps(result)
