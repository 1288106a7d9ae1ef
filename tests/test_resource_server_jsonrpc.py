"""The MCP endpoint under hostile JSON-RPC, on every revision the lab runs: a body that is JSON
but no JSON-RPC message gets 400 and the error JSON-RPC 2.0 §5.1 names (-32600 Invalid Request,
-32602 Invalid params), carrying the request's id when it has one to echo, null when it could
not be read (§5), and no id at all for a notification or a response (MCP Streamable HTTP), with
a message naming the rule; never a 202, as if the request were a notification, and
never the SDK's validation dump. Always with a valid token, so the body reaches JSON-RPC."""

from __future__ import annotations

import json
from typing import Any

import mcp_types
import pytest

from lab_servers import Lab
from lab_servers.resource_server import invalid_params
from lab_servers.resource_server.jsonrpc import MAX_ECHOED_CHARS

from .test_resource_server_transport import JSON_HEADERS, mint

pytestmark = pytest.mark.anyio

# (server revision, MCP-Protocol-Version sent): the three initialize-era revisions, the dual-era
# 2026-07-28 server reached the initialize way (no header), and its stateless 2026-07-28 path.
ERAS = [
    pytest.param("2025-03-26", None, id="2025-03-26"),
    pytest.param("2025-06-18", "2025-06-18", id="2025-06-18"),
    pytest.param("2025-11-25", "2025-11-25", id="2025-11-25"),
    pytest.param("2026-07-28", None, id="2026-07-28-initialize-era"),
    pytest.param("2026-07-28", "2026-07-28", id="2026-07-28-stateless"),
]


async def send(server: str, header: str | None, body: Any, extra: dict[str, str] | None = None) -> Any:
    async with Lab(revision=server) as lab, lab.httpx_client() as http:
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab)}", **(extra or {})}
        if header:
            headers["MCP-Protocol-Version"] = header
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await http.post(lab.mcp_url, content=content, headers=headers)


NO_ID = "no id member"


def error_of(response: Any, status: int = 400) -> tuple[Any, int, str]:
    """The id (NO_ID when the error has none), code and message of the JSON-RPC error that is the
    whole answer."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["jsonrpc"] == "2.0" and set(body) in ({"jsonrpc", "id", "error"}, {"jsonrpc", "error"}), body
    message = body["error"]["message"]
    assert len(message) < 300, message  # one sentence naming the rule, not a validation dump
    return body.get("id", NO_ID), body["error"]["code"], message


@pytest.mark.parametrize(("server", "header"), ERAS)
@pytest.mark.parametrize(
    "bad_id",
    [{}, [], True, None, 1.5, 1.0],
    ids=["object", "array", "true", "null", "fraction", "integer-written-as-1.0"],
)
async def test_a_request_whose_id_is_not_a_string_or_an_integer_is_an_invalid_request_never_a_202(
    server: str, header: str | None, bad_id: Any
) -> None:
    # MCP basic, Requests: "Requests MUST include a string or integer ID. Unlike base JSON-RPC, the
    # ID MUST NOT be null." The SDK read such a request as a notification (202, never answered).
    response = await send(server, header, {"jsonrpc": "2.0", "id": bad_id, "method": "tools/list"})
    request_id, code, message = error_of(response)
    assert (request_id, code) == (None, -32600)  # §5: an id that cannot be read is answered with null
    assert "a request's id MUST be a string or an integer, and MUST NOT be null" in message


NOT_JSON_RPC = [
    pytest.param({"id": 1, "method": "tools/list"}, 1, '"jsonrpc": "2.0", exactly', id="no-jsonrpc-member"),
    pytest.param({"jsonrpc": "1.0", "id": 1, "method": "tools/list"}, 1, '"jsonrpc": "2.0", exactly', id="jsonrpc-1.0"),
    pytest.param({"jsonrpc": "2.0", "id": 1, "method": 5}, 1, '"method" is a string', id="method-a-number"),
    pytest.param({"jsonrpc": "2.0", "id": 1}, 1, "a request or notification (with a method) or a response",
                 id="neither-method-nor-result"),
    pytest.param({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": "x"}, 1, "structured value",
                 id="params-a-string"),
    pytest.param({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": 3}, 1, "structured value",
                 id="params-a-number"),
    pytest.param({"jsonrpc": "2.0", "method": "notifications/initialized", "params": "x"}, NO_ID, "structured value",
                 id="notification-params-a-string"),
    pytest.param(1, None, "a JSON-RPC message is a JSON object", id="a-number"),
    pytest.param("tools/list", None, "a JSON-RPC message is a JSON object", id="a-string"),
    pytest.param(None, None, "a JSON-RPC message is a JSON object", id="null"),
]  # fmt: skip


@pytest.mark.parametrize(("server", "header"), ERAS)
@pytest.mark.parametrize(("body", "echoed", "rule"), NOT_JSON_RPC)
async def test_json_that_is_not_a_json_rpc_2_0_message_is_an_invalid_request_naming_the_rule(
    server: str, header: str | None, body: Any, echoed: int | None, rule: str
) -> None:
    # JSON-RPC 2.0 §5.1: -32600 "The JSON sent is not a valid Request object"; §5: the id when it
    # could be read, else null. A notification has no id to answer (MCP Streamable HTTP: "a
    # JSON-RPC error response that has no id"). The SDK answered -32602 Invalid params, with
    # pydantic's dump of its union.
    request_id, code, message = error_of(await send(server, header, body))
    assert (request_id, code) == (echoed, -32600)
    assert message.startswith("Invalid Request: ") and rule in message


@pytest.mark.parametrize(("server", "header"), ERAS)
async def test_positional_params_are_invalid_params_since_mcp_methods_take_them_by_name(
    server: str, header: str | None
) -> None:
    # JSON-RPC 2.0 §4.2 allows params by position; every MCP method's params are an object.
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": ["whoami", {}]}
    request_id, code, message = error_of(await send(server, header, body))
    assert (request_id, code) == (7, -32602) and "params is an object" in message


MALFORMED_RESPONSES = [
    pytest.param({"jsonrpc": "2.0", "id": {}, "result": {}}, "a response carries the id", id="result-id-an-object"),
    pytest.param({"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "m"}}, "never both",
                 id="result-and-error"),
    pytest.param({"jsonrpc": "2.0", "id": 1, "error": {"code": "x", "message": "m"}}, "an integer code",
                 id="error-code-a-string"),
    pytest.param({"jsonrpc": "2.0", "error": {"code": 1, "message": "m"}}, "or null", id="error-without-id"),
    pytest.param({"jsonrpc": "2.0", "id": 1, "result": 5}, "an MCP result is a JSON object", id="result-a-number"),
    pytest.param({"jsonrpc": "2.0", "id": 0, "method": "tools/list", "error": {"code": 1, "message": "m"}},
                 "a request (with a method) or a response", id="request-and-error"),
]  # fmt: skip


@pytest.mark.parametrize(("server", "header"), ERAS)
@pytest.mark.parametrize(("body", "rule"), MALFORMED_RESPONSES)
async def test_a_malformed_response_sent_to_the_server_is_an_invalid_request_with_no_id(
    server: str, header: str | None, body: dict[str, Any], rule: str
) -> None:
    # JSON-RPC 2.0 §5: a response has a result or an error, and the id of the request it answers.
    # MCP Streamable HTTP: input the server cannot accept gets an HTTP error status, and the body
    # "MAY comprise a JSON-RPC error response that has no id" (a response's id is not the client's):
    # no id member (the 2025-11-25 and 2026-07-28 schemas' `id?: RequestId` has no null), but for
    # a message that is both a request and a response, whose id could not be read (§5: null).
    request_id, code, message = error_of(await send(server, header, body))
    assert (request_id, code) == (None if "method" in body else NO_ID, -32600) and rule in message


@pytest.mark.parametrize(
    ("server", "header"), [("2025-03-26", None), ("2025-03-26", "2025-03-26"), ("2026-07-28", None)]
)
async def test_each_message_of_a_batch_is_judged_as_a_single_one_would_be_and_none_is_dropped(
    server: str, header: str | None
) -> None:
    # MCP 2025-03-26 "Batching"; JSON-RPC 2.0 §6: "The Server SHOULD respond with an Array containing
    # the corresponding Response objects". The requests with an unreadable id were taken for
    # notifications and got no entry: the whole batch was a 202, answering none of them.
    batch = [
        {"jsonrpc": "2.0", "id": {}, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": None, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": True, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": ["whoami"]},
        # A notification gets no entry, even with params MCP cannot take (JSON-RPC 2.0 §4.1).
        {"jsonrpc": "2.0", "method": "notifications/initialized", "params": ["x"]},
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    ]
    response = await send(server, header, batch)
    assert response.status_code == 200
    answers = response.json()
    assert [(a["id"], a.get("error", {}).get("code")) for a in answers] == [
        (None, -32600),
        (None, -32600),
        (None, -32600),
        (7, -32602),
        (1, None),
    ]
    assert "MUST NOT be null" in answers[0]["error"]["message"]


@pytest.mark.parametrize("header", [None, "2025-03-26"])
async def test_a_batch_whose_headers_disagree_with_one_of_its_messages_is_refused_whole(header: str | None) -> None:
    # MCP 2026-07-28 streamable-http, Protocol Version Header: the header MUST match the body's
    # _meta version, else "the server MUST reject the request with 400 Bad Request and a
    # HeaderMismatch". Compared on the whole body, a list, a batch never was: its second message
    # went the initialize way and was served, where sent alone it got the 400.
    whoami = {**modern_message("tools/call", name="whoami", arguments={}), "id": 2}
    response = await send("2026-07-28", header, [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, whoami])
    request_id, code, message = error_of(response)
    assert (request_id, code) == (None, -32020)
    assert message.startswith(
        "Header mismatch: message 2 of the batch: the request's _meta says protocol version '2026-07-28'"
    )


async def test_a_batch_answers_each_message_with_the_sdks_answer_however_large() -> None:
    # JSON-RPC 2.0 §6: the Array holds each call's Response. Read again within the limits meant for
    # a stranger's JSON (64 KB; strings of 8,192 characters), an answer past them became -32603
    # "Internal error" for a call that had run: a ping with the 9,000-character id its request was
    # allowed, the list of 40 long notes the batch had just added.
    long_id = "i" * 9000
    notes = [{"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": "add_note", "arguments": {"text": "n" * 1000}}}
             for n in range(40)]  # fmt: skip
    listed = {"jsonrpc": "2.0", "id": "list", "method": "tools/call", "params": {"name": "list_notes", "arguments": {}}}
    async with Lab(revision="2025-03-26") as lab, lab.httpx_client() as http:
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab, 'notes:read notes:write')}"}
        batch = [*notes, {"jsonrpc": "2.0", "id": long_id, "method": "ping"}, listed]
        response = await http.post(lab.mcp_url, content=json.dumps(batch).encode(), headers=headers)
    assert response.status_code == 200 and len(response.content) > 65_536
    answers = response.json()
    assert [answer["id"] for answer in answers] == [*range(40), long_id, "list"]
    assert [answer for answer in answers if "error" in answer or answer["result"].get("isError")] == []


@pytest.mark.parametrize(("server", "header"), ERAS)
async def test_a_body_with_a_byte_order_mark_is_a_parse_error_naming_rfc_8259(server: str, header: str | None) -> None:
    # RFC 8259 §8.1: implementations "MUST NOT add a byte order mark" to networked JSON; a parser
    # MAY ignore one, and the lab refuses it, saying so.
    body = b"\xef\xbb\xbf" + json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    request_id, code, message = error_of(await send(server, header, body))
    assert (request_id, code) == (None, -32700) and "byte order mark" in message and "RFC 8259 §8.1" in message


# What a refusal quotes of the request: JSON-RPC 2.0 §5.1, the message is "a short description" --


def modern_message(method: str, **params: Any) -> dict[str, Any]:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}


async def send_to(server: str, header: str | None, body: dict[str, Any]) -> Any:
    """`send`, with a well-formed message of the header's revision."""
    if header == "2026-07-28":
        body = {**modern_message(body["method"], **body.get("params", {})), "id": body["id"]}
    extra = {}
    if header:  # 2026-07-28 names the method in a header too, which must match the body's
        extra["Mcp-Method"] = body["method"]
        params = body.get("params", {})
        if "name" in params or "uri" in params:  # and the tool, prompt or resource
            extra["Mcp-Name"] = str(params.get("name", params.get("uri")))
    return await send(server, header, body, extra)


@pytest.mark.parametrize(("server", "header"), ERAS)
async def test_an_unknown_method_is_method_not_found_quoting_at_most_the_bound_of_its_name(
    server: str, header: str | None
) -> None:
    # The SDK's -32601 carried the whole method name in `data`: a 100 KB name came back whole.
    name = "x" * (100_000 if header != "2026-07-28" else 10_000)  # a header line stays under 16 KiB served
    response = await send_to(server, header, {"jsonrpc": "2.0", "id": 7, "method": name})
    error = response.json()["error"]
    assert response.json()["id"] == 7 and (error["code"], error["message"]) == (-32601, "Method not found")
    assert error["data"] == "x" * MAX_ECHOED_CHARS + f"[... {len(name)} characters in all]"
    assert len(response.content) < 400


@pytest.mark.parametrize(("server", "header"), ERAS)
async def test_an_unknown_method_with_a_short_name_is_quoted_whole(server: str, header: str | None) -> None:
    response = await send_to(server, header, {"jsonrpc": "2.0", "id": 7, "method": "tools/nope"})
    assert response.json()["error"] == {"code": -32601, "message": "Method not found", "data": "tools/nope"}


@pytest.mark.parametrize(("server", "header"), ERAS)
async def test_an_unknown_prompt_is_invalid_params_not_code_0_and_quotes_at_most_the_bound(
    server: str, header: str | None
) -> None:
    # MCP server/prompts, "Error Handling": an invalid prompt name is -32602 Invalid params. The
    # SDK answered code 0, which JSON-RPC 2.0 §5.1 gives no meaning, and logged it as a crash.
    name = "p" * 50_000
    response = await send_to(
        server, header, {"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": {"name": name}}
    )
    error = response.json()["error"]
    assert error["code"] == -32602 and error["message"].startswith("Unknown prompt: ppp")
    assert len(error["message"]) < 300


@pytest.mark.parametrize(("server", "header"), ERAS)
async def test_an_unknown_resource_or_tool_is_refused_quoting_at_most_the_bound_of_its_name(
    server: str, header: str | None
) -> None:
    uri = "file:///" + "r" * 50_000
    resource = await send_to(
        server, header, {"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": uri}}
    )
    tool = await send_to(server, header, {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "t" * 50_000, "arguments": {}}})  # fmt: skip
    assert (
        resource.json()["error"]["code"] == (-32602 if header == "2026-07-28" else -32002)
        and len(resource.content) < 1_000
    )
    assert "rrr" in resource.json()["error"]["message"]
    # MCP server/tools, "Error Handling": an unknown tool is a protocol error, -32602, as a resource is.
    assert tool.json()["error"]["code"] == -32602 and "ttt" in tool.json()["error"]["message"]
    assert len(tool.content) < 1_000


@pytest.mark.parametrize(("server", "header"), ERAS)
async def test_a_resource_that_does_not_exist_is_the_code_the_requests_revision_names(
    server: str, header: str | None
) -> None:
    # MCP server/resources, "Error Handling": "Resource not found: -32002" up to 2025-11-25, which
    # 2026-07-28 made -32602 ("earlier protocol versions used this code"); the SDK answered -32602
    # whichever revision the request spoke. A dual-era server answers each client in its own.
    message = {"jsonrpc": "2.0", "id": 4, "method": "resources/read", "params": {"uri": "file:///nowhere"}}
    error = (await send_to(server, header, message)).json()["error"]
    assert error["code"] == (-32602 if header == "2026-07-28" else -32002)
    assert error["data"] == {"uri": "file:///nowhere"} and "file:///nowhere" in error["message"]


# (method, params, the rule an Invalid params names, whether the method is in 2026-07-28's schema)
SCHEMA_REFUSALS = [
    pytest.param("prompts/get", {"name": "x", "arguments": 5}, "params.arguments must be an object (MCP schema GetPromptRequest)", True, id="prompt-arguments"),
    pytest.param("tools/call", {"name": "whoami", "arguments": []}, "params.arguments must be an object (MCP schema CallToolRequest)", True, id="tool-arguments"),
    pytest.param("tools/call", {"arguments": {}}, "params.name is required (MCP schema CallToolRequest)", False, id="tool-name"),
    pytest.param("tools/list", {"cursor": 5}, "params.cursor must be a string (MCP schema ListToolsRequest)", True, id="cursor"),
    pytest.param("tools/list", {"_meta": {"progressToken": {}}}, "params._meta.progressToken must be a string or an integer (MCP schema ListToolsRequest)", False, id="progress-token"),
    pytest.param("logging/setLevel", {"level": "nope"}, 'params.level must be one of "alert", "critical", "debug", "emergency", "error", "info", "notice", "warning" (MCP schema SetLevelRequest)', False, id="level"),
    pytest.param("resources/read", {"uri": 5}, "params.uri must be a string (MCP schema ReadResourceRequest)", False, id="uri"),
    # A union is named by its members (pydantic's location names the member it tried, no param).
    pytest.param("completion/complete", {"ref": {"type": "x"}, "argument": {"name": "a", "value": "b"}}, "params.ref must be a PromptReference or a ResourceTemplateReference (MCP schema CompleteRequest)", True, id="union"),
    pytest.param("completion/complete", {"ref": {"type": "ref/prompt", "name": "p"}, "argument": {}}, "params.argument.name is required, and 1 more member the schema refuses (MCP schema CompleteRequest)", True, id="two-members"),
]  # fmt: skip


# Each era with each refusal, but the 2026-07-28 stateless request with those its schema has not:
# it has no logging/setLevel, and its _meta and Mcp-Name mirror the params.
SCHEMA_REFUSALS_BY_ERA = [
    pytest.param(*era.values, *refusal.values, id=f"{era.id}-{refusal.id}")
    for era in ERAS
    for refusal in SCHEMA_REFUSALS
    if refusal.values[-1] or era.values[1] != "2026-07-28"
]


@pytest.mark.parametrize(("server", "header", "method", "params", "rule", "modern"), SCHEMA_REFUSALS_BY_ERA)
async def test_params_the_mcp_schema_refuses_are_invalid_params_naming_the_param_and_its_type_in_one_sentence(
    server: str, header: str | None, method: str, params: dict[str, Any], rule: str, modern: bool
) -> None:
    # JSON-RPC 2.0 §5.1: the message "SHOULD be limited to a concise single sentence". The SDK
    # said "Invalid request parameters" with `data` "" (no rule at all), and for prompts/get
    # quoted pydantic's whole validation dump, several lines and a URL.
    response = await send_to(server, header, {"jsonrpc": "2.0", "id": 6, "method": method, "params": params})
    assert response.status_code == (400 if header == "2026-07-28" else 200)
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 6,
        "error": {"code": -32602, "message": f"Invalid params: {rule}"},
    }


@pytest.mark.parametrize(("server", "header"), ERAS)
async def test_a_long_argument_name_the_schema_refuses_is_quoted_cut(server: str, header: str | None) -> None:
    name = "a" * 5_000
    body = {"jsonrpc": "2.0", "id": 6, "method": "prompts/get", "params": {"name": "x", "arguments": {name: 5}}}
    message = (await send_to(server, header, body)).json()["error"]["message"]
    assert message == f"Invalid params: params.arguments.{'a' * 64}… must be a string (MCP schema GetPromptRequest)"


# Keys a stranger may send, each longer once escaped in a JSON string than as sent: NULs and
# U+2028 (six characters each), quotes and backslashes (two), accented letters (six), and a name.
HOSTILE_KEYS = ["\x00" * 100, "\u2028" * 1_000, '"\\' * 2_000, "é" * 5_000, "a" * 5_000, "\x00\U0001f600" * 50]


def hostile_params(key: str) -> list[tuple[str, dict[str, Any]]]:
    """Requests whose params the schema refuses at a stranger's key, or for a stranger's value."""
    return [
        ("prompts/get", {"name": "x", "arguments": {key: 5}}),
        ("completion/complete", {"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": "b"}, "context": {"arguments": {key: 5}}}),
        ("tools/call", {"name": "whoami", "arguments": {}, "inputResponses": {key: 5}}),
        ("tools/list", {"cursor": {key: key}}),
        ("completion/complete", {"ref": {"type": key}, "argument": {key: key}}),
    ]  # fmt: skip


@pytest.mark.parametrize(("server", "header"), [ERAS[2], ERAS[4]])
async def test_an_invalid_params_message_stays_one_short_sentence_whatever_key_or_value_it_names(
    server: str, header: str | None
) -> None:
    # JSON-RPC 2.0 §5.1: a concise single sentence; MAX_ECHOED_CHARS: what an error may quote of the
    # request. A key was cut to 64 characters before json.dumps escaped it (a NUL is six characters
    # once escaped), so a message quoting 100 NULs ran to 473 characters, and 529 for inputResponses.
    async with Lab(revision=server) as lab, lab.httpx_client() as http:
        token = mint(lab)
        for key in HOSTILE_KEYS:
            for method, params in hostile_params(key):
                if method == "tools/call" and header != "2026-07-28":
                    continue  # inputResponses is 2026-07-28's
                body = {"jsonrpc": "2.0", "id": 9, "method": method, "params": params}
                headers = {**JSON_HEADERS, "Authorization": f"Bearer {token}"}
                if header == "2026-07-28":
                    body = {**modern_message(method, **params), "id": 9}
                    headers |= {"MCP-Protocol-Version": header, "Mcp-Method": method}
                    if "name" in params:
                        headers["Mcp-Name"] = params["name"]
                response = await http.post(lab.mcp_url, content=json.dumps(body), headers=headers)
                _, code, message = error_of(response, 400 if header == "2026-07-28" else 200)
                assert code == -32602 and message.startswith("Invalid params: params.") and "\n" not in message
                assert len(message) - len("Invalid params: ") <= MAX_ECHOED_CHARS, message


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_a_path_of_many_strangers_keys_quotes_each_and_all_within_the_bounds_as_written(key: str) -> None:
    # Each key's quote, escapes included, is at most MAX_NAME_CHARS, and the path MAX_PATH_CHARS
    # and an ellipsis, so the sentence keeps room for the rule (MAX_PATH_CHARS < MAX_ECHOED_CHARS).
    one = invalid_params._spelled(["params", "arguments", key])
    assert len(one) <= len("params.arguments[]") + invalid_params.MAX_NAME_CHARS and one.endswith("…]") == (
        key[0] != "a"
    )
    many = invalid_params._spelled(["params", "arguments", key, 0, key, key, key])
    assert len(many) <= invalid_params.MAX_PATH_CHARS + 1 <= MAX_ECHOED_CHARS and many.endswith("…")


def test_a_schema_type_is_named_with_the_article_its_name_takes() -> None:
    # "must be a CreateMessageResult or a ListRootsResult or a ElicitResult" read wrong.
    named = [invalid_params._json_type(model) for model in (mcp_types.ElicitResult, mcp_types.ListRootsResult)]
    assert named == ["an ElicitResult", "a ListRootsResult"]


@pytest.mark.parametrize(("server", "header"), ERAS)
@pytest.mark.parametrize(
    ("arguments", "rule"),
    [({"text": 5}, "arguments.text must be a string"), ({}, "arguments.text is required")],
    ids=["wrong-type", "missing"],
)
async def test_arguments_a_tool_s_input_schema_refuses_are_a_tool_error_naming_the_argument_in_one_sentence(
    server: str, header: str | None, arguments: dict[str, Any], rule: str
) -> None:
    # MCP server/tools, "Error Handling": input validation errors are tool execution errors, which
    # the model reads to correct its call. The SDK's quoted pydantic's whole validation dump.
    body = {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {"name": "add_note", "arguments": arguments}}
    async with Lab(revision=server) as lab, lab.httpx_client() as http:
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab, scope='notes:read notes:write')}"}
        if header == "2026-07-28":
            body = {**modern_message("tools/call", name="add_note", arguments=arguments), "id": 8}
            headers |= {"Mcp-Method": "tools/call", "Mcp-Name": "add_note"}
        if header:
            headers["MCP-Protocol-Version"] = header
        response = await http.post(lab.mcp_url, content=json.dumps(body), headers=headers)
    result = response.json()["result"]
    assert result["isError"] is True
    assert result["content"] == [{"type": "text", "text": f"Error executing tool add_note: {rule} (the inputSchema of tool add_note)"}]  # fmt: skip


NOTIFICATION = {"jsonrpc": "2.0", "method": "notifications/initialized"}


@pytest.mark.parametrize(
    ("server", "accept_legacy", "message", "header", "code"),
    [
        ("2026-07-28", False, NOTIFICATION, None, -32020),
        ("2026-07-28", True, NOTIFICATION, "2099-01-01", -32022),
        ("2026-07-28", True, {"jsonrpc": "2.0", "id": 5, "result": {}}, "2099-01-01", -32022),
        # 2026-07-28 streamable-http, Sending Messages: "The client MUST NOT send JSON-RPC responses"
        # (the SDK refused one with "id": null).
        ("2026-07-28", True, {"jsonrpc": "2.0", "id": 5, "result": {}}, "2026-07-28", -32600),
        ("2025-11-25", True, {"jsonrpc": "2.0", "id": 5, "error": {"code": 1, "message": "m"}}, "2099-01-01", -32600),
        ("2025-11-25", True, {"jsonrpc": "2.0", "method": "notifications/x", "params": "p"}, "2025-11-25", -32600),
    ],
)
async def test_an_error_answering_a_notification_or_a_response_has_no_id(
    server: str, accept_legacy: bool, message: dict[str, Any], header: str | None, code: int
) -> None:
    # MCP Streamable HTTP, "Sending Messages" (every revision): a notification or a response the
    # server cannot accept gets an HTTP error whose body MAY be "a JSON-RPC error response that
    # has no `id`"; the schema from 2025-11-25 (JSONRPCErrorResponse, id?: RequestId) has no null.
    # The lab wrote "id": null, which the 2025-11-25 and 2026-07-28 schemas refuse (found by
    # `test_mcp_schema_judge`); null stays for what JSON-RPC 2.0 §5 names, an id that could not be read.
    async with Lab(seed=0, revision=server, accept_legacy=accept_legacy) as lab:
        version = {"MCP-Protocol-Version": header} if header else {}
        sent = {**JSON_HEADERS, **version, "Authorization": f"Bearer {mint(lab)}"}
        async with lab.httpx_client("t") as http:
            answer = await http.post(lab.mcp_url, content=json.dumps(message), headers=sent)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.text
        assert "id" not in answer.json(), answer.text
