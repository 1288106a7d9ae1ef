"""The JSON-RPC envelope's finer rules at the MCP endpoint (JSON-RPC 2.0 §4, §5): a refusal names
the kind of value it was given, and what §5 allows (an error response whose id is null, for a
request whose id could not be read) is accepted, not refused. One revision: `jsonrpc.problem`
judges every revision alike (test_resource_server_jsonrpc.py runs the eras)."""

from __future__ import annotations

from typing import Any

import pytest

from lab_servers.resource_server.jsonrpc import MAX_ECHOED_CHARS

from .test_resource_server_jsonrpc import error_of, send, send_to

pytestmark = pytest.mark.anyio
ERA = ("2025-11-25", "2025-11-25")


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"jsonrpc": "2.0", "id": None, "method": "tools/list"}, "this one is null"),
        ({"jsonrpc": "2.0", "id": False, "method": "tools/list"}, "this one is a boolean"),
        ({"jsonrpc": "2.0", "id": 2.5, "method": "tools/list"}, "this one is a number written with a fraction"),
        ({"jsonrpc": "2.0", "id": "x", "method": "tools/list"}, None),  # a string id: no refusal to name
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, "this one is an integer"),
        ({"jsonrpc": "2.0", "id": 1, "method": "x", "params": "p"}, "this one is a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": "x", "params": True}, "this one is a boolean"),
        ({"jsonrpc": "2.0", "id": [], "method": "tools/list"}, "this one is an array"),
        ({"jsonrpc": "2.0", "id": {}, "method": "tools/list"}, "this one is an object"),
    ],
)
async def test_a_refusal_names_the_kind_of_value_it_was_given(body: dict[str, Any], kind: str | None) -> None:
    # JSON-RPC 2.0 §4: id is "a String, Number, or NULL" (MCP: a string or an integer, never
    # null), method "a String", params "a Structured value"; the message says which rule and
    # what came instead, so a client author sees the mistake without guessing.
    response = await send(*ERA, body)
    if kind is None:
        assert response.status_code == 200, response.text
        return
    _, code, message = error_of(response)
    assert code == -32600 and kind in message


async def test_an_error_response_whose_id_is_null_is_accepted_as_json_rpc_allows() -> None:
    # JSON-RPC 2.0 §5: an error's id "MUST be Null" when the request's id could not be read. A
    # client answering a server request it could not parse sends exactly that: it is a response,
    # accepted with 202 (Streamable HTTP: a response the server accepts gets 202 Accepted).
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
    response = await send(*ERA, body)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("extra", [0, 1], ids=["at-the-bound", "one-over"])
async def test_an_unknown_method_is_quoted_whole_up_to_the_bound_and_cut_past_it(extra: int) -> None:
    # JSON-RPC 2.0 §5.1: `data` is additional information; the lab quotes a name whole up to
    # MAX_ECHOED_CHARS characters, and cuts one character more, saying how long it was.
    name = "m" * (MAX_ECHOED_CHARS + extra)
    error = (await send_to(*ERA, {"jsonrpc": "2.0", "id": 7, "method": name})).json()["error"]
    cut = f"{name[:MAX_ECHOED_CHARS]}[... {len(name)} characters in all]"
    assert (error["code"], error["data"]) == (-32601, cut if extra else name)
