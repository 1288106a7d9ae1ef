"""The MCP endpoint's refusals written from the request's head, before its body is read (403
Origin, 421 Host, 405, 406, 413, 415, 400 for a field sent twice), read by the official SDK client.

JSON-RPC 2.0 §5: a response's `id` "is REQUIRED", and "If there was an error in detecting the id in
the Request object ... it MUST be Null". The SDK client reads an error body at a 4xx as a JSON-RPC
message (mcp/client/streamable_http.py, `_handle_post_request`: `jsonrpc_message_adapter`, then
`isinstance(parsed, JSONRPCError)`) and shows its message; its `JSONRPCError.id` is "Required but
nullable per JSON-RPC 2.0", as its own server writes these refusals (`id=None`). With no `id`
member the body failed validation, and a learner whose SDK client named `localhost` for
`127.0.0.1`, or sent a body over the limit, read "Server returned an error response" where the
lab's refusal names the rule."""

from __future__ import annotations

import json

import pytest
from mcp.client.streamable_http import jsonrpc_message_adapter
from mcp_types.jsonrpc import JSONRPCError

from lab_servers import Lab
from lab_servers.resource_server.server import MAX_MCP_BODY_BYTES

from .test_resource_server_transport import JSON_HEADERS, TOOLS_LIST, mint

pytestmark = pytest.mark.anyio

REFUSED_ON_THE_HEAD = [
    pytest.param("POST", {"Origin": "https://evil.example"}, None, 403, "Origin", id="403-origin"),
    pytest.param("POST", {"Host": "evil.example"}, None, 421, "DNS-rebinding", id="421-host"),
    pytest.param("GET", {}, None, 405, "RFC 9110 §15.5.6", id="405-get"),
    pytest.param("POST", {"Accept": "text/html"}, None, 406, "RFC 9110 §15.5.7", id="406-accept"),
    pytest.param("POST", {"Content-Type": "text/plain"}, None, 415, "RFC 9110 §15.5.16", id="415-content-type"),
    pytest.param("POST", {}, b" " * (MAX_MCP_BODY_BYTES + 1), 413, "262144 bytes", id="413-too-large"),
    pytest.param("POST", [("Content-Type", "application/json")], None, 400, "RFC 9110 §5.3", id="400-two-types"),
]


@pytest.mark.parametrize(("method", "headers", "content", "status", "rule"), REFUSED_ON_THE_HEAD)
async def test_a_request_refused_on_its_head_gets_an_error_with_a_null_id_the_sdk_client_reads(
    lab: Lab,
    method: str,
    headers: dict[str, str] | list[tuple[str, str]],
    content: bytes | None,
    status: int,
    rule: str,
) -> None:
    sent = [*JSON_HEADERS.items(), ("Authorization", f"Bearer {mint(lab)}")]
    sent = [(k, v) for k, v in sent if isinstance(headers, list) or k not in headers]
    sent += headers if isinstance(headers, list) else list(headers.items())
    async with lab.httpx_client() as http:
        response = await http.request(method, lab.mcp_url, content=content or json.dumps(TOOLS_LIST), headers=sent)
    assert response.status_code == status, response.text
    assert response.json()["id"] is None  # JSON-RPC 2.0 §5: the id was not read
    parsed = jsonrpc_message_adapter.validate_json(response.content, by_name=False)
    assert isinstance(parsed, JSONRPCError) and rule in parsed.error.message, parsed
