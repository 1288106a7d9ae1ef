"""What step 7 reads from the MCP server's results (the MCP schema, schema.ts): tools/list's
ListToolsResult, whose tools are objects with a string name, and a tools/call result shown as its
structuredContent or its first text content, read as JSON when it is a JSON object."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from starlette.responses import Response

from lab_servers import Lab
from lab_servers.client import StepError
from lab_servers.client.server_data import ServerDataRefused
from lab_servers.client.streamable_http import json_rpc_response

from .hostile_server import HostileServer, _json, _run, _tools

pytestmark = pytest.mark.anyio


def _listing(result: Any) -> Any:
    """An MCP server whose tools/list answers `result`; tools/call answers whoami's object."""

    def respond(message: dict[str, Any]) -> Response:
        if message["method"] == "tools/list":
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": result})
        return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"structuredContent": {"sub": "alice"}}})

    return respond


async def test_step_7_learns_the_names_of_the_tools_the_server_lists(lab: Lab) -> None:
    client = await _run(lab, HostileServer(mcp=_listing({"tools": [{"name": "whoami"}, {"name": "add_todo"}]})), 7)
    assert client.records[-1].learned["tools"] == ["whoami", "add_todo"]


async def test_a_tools_list_result_without_tools_fails_step_7_naming_list_tools_result(lab: Lab) -> None:
    # MCP schema: ListToolsResult's tools is required.
    with pytest.raises(
        StepError, match=r"^step 7 \(mcp\): the tools/list result has no tools \(MCP schema: ListToolsResult\)"
    ):
        await _run(lab, HostileServer(mcp=_listing({})), 7)


@pytest.mark.parametrize("tool", ["whoami", {"title": "no name"}, {"name": 5}], ids=["string", "no-name", "number"])
async def test_a_listed_tool_that_is_not_an_object_with_a_string_name_fails_step_7(lab: Lab, tool: Any) -> None:
    # MCP schema: Tool is an object whose name is a string.
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): a tool in the tools/list result is not an object with a "
                                        r"string name \(MCP schema: Tool\)"):  # fmt: skip
        await _run(lab, HostileServer(mcp=_listing({"tools": [tool]})), 7)


async def test_a_text_content_that_is_a_json_object_is_shown_as_that_object(lab: Lab) -> None:
    # No structuredContent: the first text content is shown, read as JSON when it is an object.
    client = await _run(lab, HostileServer(mcp=_tools({"content": [{"type": "text", "text": '{"sub": "bob"}'}]})), 7)
    assert client.state.whoami == {"sub": "bob"}


async def test_a_client_told_to_call_the_first_tool_fails_step_7_when_the_server_lists_none(lab: Lab) -> None:
    client = await _run(lab, HostileServer(mcp=_listing({"tools": []})), 6)
    client.tool = None  # call the first tool tools/list returns
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): the server lists no tools to call$"):
        await client.call_mcp()


async def test_a_client_told_to_call_the_first_tool_calls_the_first_listed(lab: Lab) -> None:
    client = await _run(lab, HostileServer(mcp=_listing({"tools": [{"name": "first"}, {"name": "whoami"}]})), 6)
    client.tool = None
    await client.call_mcp()
    assert json.loads([e for e in lab.trace if e.path == "/mcp"][-1].request_body)["params"]["name"] == "first"


def _legacy_server(
    initialize: Any = None, notified: int = 202, listed: Any = None, modern: Response | None = None
) -> Any:
    """An MCP server of the initialize era: `initialize` answers `initialize` (a result), the
    initialized notification `notified`, tools/list `listed` (a Response, or a JSON-RPC body
    without its id), and a request before initialize `modern` (a 2026-07-28 client's first)."""
    initialized: list[bool] = []

    def respond(message: dict[str, Any]) -> Response:
        method = message.get("method")
        if method == "initialize":
            initialized.append(True)
            result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}
            return _json(
                {"jsonrpc": "2.0", "id": message["id"], "result": result if initialize is None else initialize}
            )
        if method == "notifications/initialized":
            return Response(status_code=notified)
        if not initialized and modern is not None:
            return modern
        if method == "tools/list" and listed is not None:
            return listed if isinstance(listed, Response) else _json({"jsonrpc": "2.0", "id": message["id"], **listed})
        if method == "tools/list":
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [{"name": "whoami"}]}})
        return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"structuredContent": {"sub": "alice"}}})

    return respond


LEGACY_FAILURES = [
    # MCP lifecycle: the initialize result carries the protocolVersion the server chose.
    (
        _legacy_server(initialize={"capabilities": {}}),
        r"the initialize result has no protocolVersion \(MCP lifecycle\)$",
    ),
    # Streamable HTTP: a notification the server accepts is answered 202 Accepted with no body.
    (_legacy_server(notified=200), r"notifications/initialized answered 200, expected 202$"),
    (_legacy_server(listed=Response("oops", 500)), r"tools/list answered 500: oops$"),
    # JSON-RPC 2.0 §5: a response has a result or an error, and an error is reported as one.
    (_legacy_server(listed={"error": {"code": -32603, "message": "boom"}}), r"tools/list failed: boom$"),
    (_legacy_server(listed={}), r"the JSON-RPC response has neither result nor error \(JSON-RPC 2\.0 §5\)$"),
    (_legacy_server(listed={"error": None}), r"tools/list failed: None$"),
]


@pytest.mark.parametrize(("server", "message"), LEGACY_FAILURES,
                         ids=["no-protocol-version", "notified-200", "status-500", "rpc-error", "no-result", "null-error"])  # fmt: skip
async def test_an_initialize_era_answer_the_client_cannot_use_fails_step_7_naming_why(
    lab: Lab, server: Any, message: str
) -> None:
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): " + message):
        await _run(lab, HostileServer(mcp=server), 7, revision="2025-11-25")


async def test_a_legacy_400_whose_body_is_no_json_makes_a_2026_07_28_client_fall_back_to_initialize(lab: Lab) -> None:
    # 2026-07-28 versioning §4: a 400 that is not one of the modern errors is a legacy server's.
    server = _legacy_server(modern=Response("Bad Request: no session", 400, media_type="text/plain"))
    client = await _run(lab, HostileServer(mcp=server), 7, revision="2026-07-28")
    assert client.state.era == "legacy" and client.state.whoami == {"sub": "alice"}
    assert any("falling back to initialize" in note for note in client.records[-1].notes)


SHOWN = [
    # MCP schema, CallToolResult: structuredContent, when present, is what the tool returned.
    ({"structuredContent": {"sub": "alice"}, "content": [{"type": "text", "text": "Hello, alice"}]}, {"sub": "alice"}),
    ({"structuredContent": {"sub": "alice"}, "content": []}, {"sub": "alice"}),
    ({"content": []}, None),
    # ContentBlock: an image (or any block without text) shows as empty text, not a crash.
    ({"content": [{"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"}]}, {"text": ""}),
]


@pytest.mark.parametrize(("result", "shown"), SHOWN, ids=["structured-and-text", "structured", "nothing", "image"])
async def test_a_tool_result_is_shown_as_its_structured_content_else_its_first_text(
    lab: Lab, result: dict[str, Any], shown: Any
) -> None:
    client = await _run(lab, HostileServer(mcp=_tools(result)), 7)
    assert client.state.whoami == shown


async def test_a_client_told_which_tool_to_call_calls_it_not_the_first_listed(lab: Lab) -> None:
    client = await _run(lab, HostileServer(mcp=_listing({"tools": [{"name": "first"}, {"name": "whoami"}]})), 7)
    assert json.loads([e for e in lab.trace if e.path == "/mcp"][-1].request_body)["params"]["name"] == "whoami"
    assert client.tool == "whoami"


async def test_a_403_naming_invalid_token_is_no_reason_to_refresh(lab: Lab) -> None:
    # RFC 6750 §3.1: invalid_token goes with 401; the client refreshes on a 401 invalid_token
    # (MCP §10.1) and takes a 403 for what it is, a refusal.
    refused = Response("{}", 403, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    token = _json({"access_token": "opaque", "token_type": "Bearer", "refresh_token": "r1"})
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): tools/list answered 403"):
        await _run(lab, HostileServer(token=token, mcp=lambda message: refused), 7)
    assert len([e for e in lab.trace if e.path == "/token"]) == 1  # the code's redemption, no refresh


def _always(status: int, challenge: str) -> Any:
    return lambda message: Response("{}", status, headers={"WWW-Authenticate": challenge})


def _refreshes(lab: Lab) -> list[object]:
    return [e for e in lab.trace if e.path == "/token" and "grant_type=refresh_token" in e.request_body]


async def test_a_401_naming_no_invalid_token_is_no_reason_to_refresh(lab: Lab) -> None:
    # MCP §10.1: refresh on 401 invalid_token; a 401 naming no error (the resource moved to another
    # AS, SEP-2352) sends the client to discovery again, not to its refresh token.
    token = _json({"access_token": "opaque", "token_type": "Bearer", "refresh_token": "r1"})
    server = HostileServer(
        token=token,
        mcp=_always(401, 'Bearer resource_metadata="https://hostile.example/.well-known/oauth-protected-resource/mcp"'),
    )
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): tools/list answered 401"):
        await _run(lab, server, 7)
    assert _refreshes(lab) == []


@pytest.mark.parametrize(
    ("status", "revision"), [(401, "2026-07-28"), (403, "2025-06-18")], ids=["401-not-403", "before-2025-11-25"]
)
async def test_insufficient_scope_is_a_step_up_only_on_a_403_from_2025_11_25_on(
    lab: Lab, status: int, revision: str
) -> None:
    # RFC 6750 §3.1: insufficient_scope goes with 403; MCP 2025-11-25 §10.1 brought the step-up.
    server = HostileServer(mcp=_always(status, 'Bearer error="insufficient_scope", scope="notes:write"'))
    client = await _run(lab, server, 6, revision=revision)
    with pytest.raises(StepError, match=rf"^step 7 \(mcp\): (tools/list|initialize) answered {status}"):
        await client.call_mcp()
    assert not [record for record in client.records if record.name == "step-up"]


async def test_a_401_without_a_bearer_challenge_after_a_working_token_sends_the_client_to_no_discovery(
    lab: Lab,
) -> None:
    # Rediscovery (SEP-2352) starts from the 401's Bearer challenge (MCP §4.2); a 401 with none
    # gives the client nowhere to start, and the call fails as answered.
    server = HostileServer(mcp=lambda message: Response("{}", 401))
    client = await _run(lab, server, 6)
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): tools/list answered 401"):
        await client.call_mcp()
    assert len(server.seen) == 1  # one authorization request: no discovery ran again


async def test_a_2026_07_28_client_reports_a_modern_servers_400_and_does_not_fall_back(lab: Lab) -> None:
    # 2026-07-28 versioning §4: a 400 carrying one of the modern errors is a modern server's; the
    # fallback to initialize is for a legacy 400, and the revision mismatch message for a legacy client.
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32020, "message": "Header mismatch"}}
    server = HostileServer(mcp=lambda message: _json(error, 400))
    client = await _run(lab, server, 6, revision="2026-07-28")
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): tools/list answered 400: "):
        await client.call_mcp()
    assert client.state.era == "modern"
    assert not [e for e in lab.trace if e.path == "/mcp" and '"initialize"' in e.request_body]


@pytest.mark.parametrize(
    ("initialize", "server_name"),
    [(None, "s"), ({"protocolVersion": "2025-11-25", "capabilities": {}}, None)],
    ids=["server-info", "no-server-info"],
)
async def test_step_7_learns_the_servers_name_from_its_initialize_result_when_it_gives_one(
    lab: Lab, initialize: Any, server_name: str | None
) -> None:
    client = await _run(lab, HostileServer(mcp=_legacy_server(initialize=initialize)), 7, revision="2025-11-25")
    assert client.records[-1].learned["server"] == server_name


async def test_a_tool_called_without_arguments_is_sent_an_empty_arguments_object(lab: Lab) -> None:
    # MCP schema, CallToolRequest: arguments is an object (a JSON null is none).
    await _run(lab, HostileServer(), 7)
    called = json.loads([e for e in lab.trace if e.path == "/mcp"][-1].request_body)
    assert called["method"] == "tools/call" and called["params"]["arguments"] == {}


async def test_a_2026_07_28_step_7_learns_the_servers_name_from_the_tools_list_meta(lab: Lab) -> None:
    # 2026-07-28 (no initialize, SEP-2575): serverInfo travels in a result's _meta.
    meta = {"io.modelcontextprotocol/serverInfo": {"name": "modern-server", "version": "1"}}
    server = HostileServer(mcp=_listing({"tools": [{"name": "whoami"}], "_meta": meta}))
    client = await _run(lab, server, 7, revision="2026-07-28")
    assert client.records[-1].learned["server"] == "modern-server"


async def test_a_tool_called_after_the_handshake_is_step_8_naming_the_tool_and_its_outcome(lab: Lab) -> None:
    client = await _run(lab, HostileServer(mcp=_tools({"content": [], "isError": True})), 7)
    await client.call_tool("whoami")
    assert client.records[-1].number == 8 and client.records[-1].learned == {"tool": "whoami", "is_error": True}


CALL_REFUSED = {
    "json-rpc-error": (lambda m: _json({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32603, "message": "no"}}),
                       r"tools/call failed: no$"),
    "500": (lambda m: _json("down", 500, "text/plain"), r"tools/call answered 500: down$"),
    "step-ups-spent": (lambda m: Response("{}", 403, headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="more"'}),
                       r"tools/call whoami still needs scope 'more' after 2 step-up authorizations"),
}  # fmt: skip


@pytest.mark.parametrize(("answer", "reason"), CALL_REFUSED.values(), ids=CALL_REFUSED.keys())
async def test_a_tool_call_after_the_handshake_that_fails_names_step_8_the_step_that_ran_it(
    lab: Lab, answer: Any, reason: str
) -> None:
    # StepError: "str() names the step and the reason". The call ran, and was filed, as step 8:
    # its error named step 7, the handshake's step, which had long gone through.
    server = HostileServer()
    client = await _run(lab, server, 7)
    server.answers["mcp"] = answer
    with pytest.raises(StepError, match=r"^step 8 \(call\): " + reason) as failed:
        await client.call_tool("whoami")
    assert (
        (failed.value.number, failed.value.name) == (8, "call") == (client.records[-1].number, client.records[-1].name)
    )


# JSON-RPC 2.0 §5: the response's id "MUST be the same as the value of the id member in the Request
# Object" (the same JSON value: true and 1.0 are not 1), and jsonrpc "MUST be exactly "2.0"".
NOT_THE_ANSWER = {
    "other": '{"jsonrpc":"2.0","id":2,"result":{}}', "string": '{"jsonrpc":"2.0","id":"1","result":{}}',
    "true": '{"jsonrpc":"2.0","id":true,"result":{}}', "float": '{"jsonrpc":"2.0","id":1.0,"result":{}}',
    "array": '{"jsonrpc":"2.0","id":[1],"result":{}}', "null": '{"jsonrpc":"2.0","id":null,"result":{}}',
    "no-id": '{"jsonrpc":"2.0","result":{}}', "version-1.0": '{"jsonrpc":"1.0","id":1,"result":{}}',
    "version-number": '{"jsonrpc":2.0,"id":1,"result":{}}', "no-version": '{"id":1,"result":{}}',
}  # fmt: skip


def _answer(body: str, content_type: str) -> httpx.Response:
    content = f"data: {body}\n\n" if content_type == "text/event-stream" else body
    return httpx.Response(200, headers={"content-type": content_type}, content=content.encode())


@pytest.mark.parametrize("body", NOT_THE_ANSWER.values(), ids=NOT_THE_ANSWER.keys())
def test_a_json_answer_that_is_not_the_response_to_the_request_is_refused_naming_json_rpc_5(body: str) -> None:
    with pytest.raises(ServerDataRefused, match=r"^the JSON-RPC response has .*\(JSON-RPC 2\.0 §5: "):
        json_rpc_response(_answer(body, "application/json"), 1)


@pytest.mark.parametrize("body", NOT_THE_ANSWER.values(), ids=NOT_THE_ANSWER.keys())
def test_an_event_stream_whose_only_message_is_not_the_response_to_the_request_carries_none(body: str) -> None:
    # In a stream, messages with other ids may come first (MCP Streamable HTTP): one that is not
    # the response is not taken for it; the response to request 1 that is no JSON-RPC 2.0 is refused.
    expected = (r"^the JSON-RPC response has .*\(JSON-RPC 2\.0 §5: " if '"id":1,' in body
                else r"^the event stream carried no response to request 1$")  # fmt: skip
    with pytest.raises(ValueError, match=expected):
        json_rpc_response(_answer(body, "text/event-stream"), 1)


@pytest.mark.parametrize("revision", ["2025-11-25", "2026-07-28"])
async def test_answers_whose_id_is_not_the_requests_fail_step_7_and_a_later_call(lab: Lab, revision: str) -> None:
    def respond(message: dict[str, Any]) -> Response:
        if message["method"] == "initialize":
            result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}
        elif message["method"] == "tools/list":
            result = {"tools": [{"name": "whoami"}]}
        else:
            result = {"structuredContent": {"sub": "mallory"}}
        return (
            Response(status_code=202) if "id" not in message else _json({"jsonrpc": "2.0", "id": 999, "result": result})
        )

    server = HostileServer(mcp=respond)
    client = await _run(lab, server, 6, revision=revision)
    rule = r"has id 999, not \d+, the request's \(JSON-RPC 2\.0 §5: the id MUST be the same"
    with pytest.raises(StepError, match=rf"^step 7 \(mcp\): the JSON-RPC response {rule}"):
        await client.call_mcp()
    assert client.state.whoami is None
    with pytest.raises(StepError, match=rf"the JSON-RPC response {rule}"):
        await client.call_tool("whoami")


# JSON-RPC 2.0 §4, §5: a Request has a method, a Response has result or error. MCP Streamable HTTP:
# "The server MAY send JSON-RPC requests and notifications before sending a JSON-RPC response", and
# a server's request ids are its own: one may equal the client's.
SERVER_REQUEST = '{"jsonrpc":"2.0","id":1,"method":"ping"}'
RESPONSE = '{"jsonrpc":"2.0","id":1,"result":{"ok":true}}'


def _events(*messages: str) -> str:
    return "".join(f"event: message\ndata: {message}\n\n" for message in messages)


def _stream(*messages: str) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=_events(*messages).encode())


def test_a_server_request_on_the_stream_with_the_requests_id_is_not_taken_for_its_response() -> None:
    assert json_rpc_response(_stream(SERVER_REQUEST, RESPONSE), 1)["result"] == {"ok": True}
    with pytest.raises(ValueError, match=r"^the event stream carried no response to request 1$"):
        json_rpc_response(_stream(SERVER_REQUEST), 1)


def test_a_json_answer_that_is_a_request_is_refused_naming_json_rpc_4_and_5() -> None:
    with pytest.raises(ServerDataRefused, match=r'^the answer is a JSON-RPC request \(has method "ping"\), not the '
                                                r"response to request 1 \(JSON-RPC 2\.0 §4, §5: "):  # fmt: skip
        json_rpc_response(_answer(SERVER_REQUEST, "application/json"), 1)


@pytest.mark.parametrize("revision", ["2025-11-25", "2026-07-28"])
async def test_step_7_reads_the_response_after_a_server_request_with_the_same_id(lab: Lab, revision: str) -> None:
    def respond(message: dict[str, Any]) -> Response:
        if "id" not in message:
            return Response(status_code=202)
        if message["method"] == "initialize":
            result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}
        else:
            result = {"tools": [{"name": "whoami"}]} if message["method"] == "tools/list" else {"structuredContent": {}}
        answered = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        server_request = {"jsonrpc": "2.0", "id": message["id"], "method": "ping"}
        return Response(_events(json.dumps(server_request), json.dumps(answered)), media_type="text/event-stream")

    client = await _run(lab, HostileServer(mcp=respond), 7, revision=revision)
    assert client.state.whoami == {}


# MCP 2025-03-26 basic, "Batching": implementations "MUST support receiving JSON-RPC batches"; its
# transports: on the stream, the responses "MAY be batched". 2025-06-18 removed batching.
BATCH = f'[{{"jsonrpc":"2.0","method":"notifications/message","params":{{}}}},{SERVER_REQUEST},{RESPONSE}]'


@pytest.mark.parametrize("content_type", ["text/event-stream", "application/json"])
def test_a_2025_03_26_answer_may_be_a_batch_holding_the_response(content_type: str) -> None:
    assert json_rpc_response(_answer(BATCH, content_type), 1, "2025-03-26")["result"] == {"ok": True}
    with pytest.raises(ValueError, match=r"(carried no response to request 1|holds no response to request 1)"):
        json_rpc_response(_answer(f"[{SERVER_REQUEST}]", content_type), 1, "2025-03-26")


@pytest.mark.parametrize("content_type", ["text/event-stream", "application/json"])
@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_a_batch_after_2025_03_26_is_refused_naming_the_rule(version: str, content_type: str) -> None:
    with pytest.raises(ServerDataRefused, match=rf"is a JSON-RPC batch \(an array\), which MCP {version} does not "
                                                r"have: batches belong to 2025-03-26 alone"):  # fmt: skip
        json_rpc_response(_answer(BATCH, content_type), 1, version)


@pytest.mark.parametrize("content_type", ["text/event-stream", "application/json"])
async def test_a_2025_03_26_server_answering_in_batches_gets_through_step_7(lab: Lab, content_type: str) -> None:
    def respond(message: dict[str, Any]) -> Response:
        if "id" not in message:
            return Response(status_code=202)
        if message["method"] == "initialize":
            result = {"protocolVersion": "2025-03-26", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}
        else:
            result = {"tools": [{"name": "whoami"}]} if message["method"] == "tools/list" else {"structuredContent": {}}
        notification = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}
        batch = json.dumps([notification, {"jsonrpc": "2.0", "id": message["id"], "result": result}])
        return Response(_events(batch) if content_type == "text/event-stream" else batch, media_type=content_type)

    client = await _run(lab, HostileServer(mcp=respond), 7, revision="2025-03-26")
    assert client.state.whoami == {}
