"""What the MCP server's tools give back: a successful result whole, however long (the lab bounds
what a refusal quotes of the request, JSON-RPC 2.0 §5.1, not what a tool returns), and the
lab's note bounds at exactly their limits (MCP server/tools, "Error Handling": a tool's own
failure is a result with isError, not a protocol error), and a call of a tool that does not exist
a protocol error, -32602 (the same section: "Unknown tool" is one)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab_servers import Lab
from lab_servers.resource_server import tools

from .test_resource_server_transport import modern, post

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


@pytest.mark.parametrize("revision", ["2025-03-26", "2025-06-18", "2025-11-25"])
async def test_a_call_of_a_tool_that_does_not_exist_is_a_json_rpc_error_invalid_params(revision: str) -> None:
    # MCP server/tools, "Error Handling", every revision: "Unknown tools" are protocol errors, its
    # example {"code": -32602, "message": "Unknown tool: invalid_tool_name"}. The SDK answered a
    # result with isError, a tool's own failure, which a client hands its model to retry.
    async with Lab(revision=revision) as lab:
        response = await post(lab, call("no_such_tool"), revision if revision != "2025-03-26" else None)
    answer = response.json()
    assert "result" not in answer and answer["id"] == 1
    assert answer["error"]["code"] == -32602 and answer["error"]["message"].startswith("Unknown tool: no_such_tool")


async def test_a_2026_07_28_call_of_a_tool_that_does_not_exist_is_a_json_rpc_error_invalid_params() -> None:
    async with Lab() as lab:
        message = modern("tools/call", name="no_such_tool", arguments={})
        response = await post(lab, message, "2026-07-28", **{"Mcp-Method": "tools/call", "Mcp-Name": "no_such_tool"})
    assert response.status_code == 400  # the 2026-07-28 transport's status for -32602, as for bad params
    assert response.json()["error"]["code"] == -32602 and "Unknown tool: no_such_tool" in response.text


async def test_a_tool_that_exists_only_on_this_lab_is_no_unknown_tool() -> None:
    # The check asks the server's own tools, not the three every lab has: the downstream API's
    # list_contacts is added to one lab's server (story.add_downstream_api), and still answers.
    from lab_servers.story import add_downstream_api

    async with Lab(revision="2025-11-25") as lab:
        add_downstream_api(lab)
        response = await post(lab, call("list_contacts"), "2025-11-25")
    assert "result" in response.json(), response.text


async def test_a_name_only_like_a_tools_is_no_tool() -> None:
    # Names compare exactly (MCP server/tools: a tool's `name` is its unique identifier).
    names = ["", "WHOAMI", " whoami", "whoami\u200b", "add_note/", "list_notes\x00"]
    async with Lab(revision="2025-11-25") as lab:
        for name in names:
            error = (await post(lab, call(name), "2025-11-25")).json()["error"]
            assert error["code"] == -32602 and error["message"].startswith("Unknown tool: "), (name, error)
