"""An outside judge of every MCP message the lab sends and answers: the MCP specification's own JSON
Schemas (`tests/judges/mcp_schema/`, one per revision, vendored byte for byte) read each JSON-RPC
message of the exchanges the other judges walk (every revision's handshakes, notebook 07's story,
the refusal lists), of clients of every revision against servers of every revision, of the official
SDK client in each of its eras, of a tour of the MCP endpoint's own refusals at every revision
(-32700, -32600, -32601, the legacy 400, -32020, -32022), and, slow, of the served lab
(`mcp_schema_judge` says what is judged against which definition).

Every finding fails, unless `ALLOWED` names it with the spec's words that make the lab right.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lab_servers import Lab
from lab_servers.resource_server.tools import NotesServer
from lab_servers.sdk import sdk_whoami
from lab_servers.trace import Exchange

from . import mcp_schema_judge as judge
from . import test_emitted_grammar as grammar
from .test_resource_server_transport import mint

pytestmark = pytest.mark.anyio

_NULL_ID = (
    "JSON-RPC 2.0 §5: the id of an answer to a request whose id could not be read (a Parse error, an "
    'Invalid Request) "MUST be Null", and every MCP message "MUST follow the '
    'JSON-RPC 2.0 specification" (basic/index.mdx, Messages); the schema has no null: {}. The SDK '
    'writes the same null (mcp_types JSONRPCError: "Required but nullable per JSON-RPC 2.0")'
)
# The start of a finding -> why the lab's message is right all the same. Nothing else passes.
ALLOWED: dict[str, str] = {
    "server 2025-03-26 JSONRPCError $.id: None is not of type": _NULL_ID.format("schema.ts line 110, id: RequestId"),
    "server 2025-06-18 JSONRPCError $.id: None is not of type": _NULL_ID.format("schema.ts line 122, id: RequestId"),
    "server 2025-11-25 JSONRPCErrorResponse $.id: None is not of type": _NULL_ID.format(
        "schema.ts line 161, id?: RequestId, lets it be left out, which JSON-RPC 2.0 readers (rmcp) refuse"
    ),
    "server 2026-07-28 JSONRPCErrorResponse $.id: None is not of type": _NULL_ID.format(
        "schema.ts line 300, id?: RequestId, lets it be left out, which JSON-RPC 2.0 readers (rmcp) refuse"
    ),
    # MCP 2025-03-26 and 2025-06-18 contradict themselves: their transports (2025-03-26 line 102,
    # 2025-06-18 line 96, "Sending Messages to the Server"; and "Security Warning", for a 403 to an
    # Origin) answer a notification or a response the server cannot accept, or a request refused on
    # its head, with "a JSON-RPC error response that has no `id`", where their schema.ts (lines 110,
    # 122) requires one; 2025-11-25 made it optional. The lab follows the transport text.
    "server 2025-03-26 JSONRPCError $: 'id' is a required property": "2025-03-26 basic/transports.mdx line 102",
    "server 2025-06-18 JSONRPCError $: 'id' is a required property": "2025-06-18 basic/transports.mdx line 96",
    # A body that is no JSON-RPC object (`[]`) at a 2026-07-28-only server with no header: -32020.
    "server 2026-07-28 HeaderMismatchError $.id: None is not of type": _NULL_ID.format(
        "HeaderMismatchError's id: RequestId, left out or a string or integer"
    ),
}


def is_notification_or_response(message: Any) -> bool:
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return False
    if "method" in message:
        return "id" not in message and "result" not in message and "error" not in message
    return "result" in message or "error" in message


def allowed_here(entry: str, message: judge.Message) -> bool:
    """Each entry holds for the answers its reason is about, and no other: a null id for what had
    an id that could not be read (no JSON, no object, an id of no type, a batch) or was not read (a
    message refused on its head, whatever its body held); no id at all for a notification or a
    response the server read."""
    unread = message.exchange.status in (403, 405, 406, 413, 415, 421)  # refused on its head alone
    answers_no_request = len(message.sent) == 1 and is_notification_or_response(message.sent[0])
    if "'id' is a required property" in entry:
        return answers_no_request and not unread
    return unread or not answers_no_request


def defined_tools(lab: Lab | None) -> dict[str, dict[str, Any]]:
    """The tools the lab's MCP server holds (None: a new one's), as tools/list writes them (for a
    call with no list in its trace)."""
    held = (lab.resource_server.mcp if lab else NotesServer())._tool_manager.list_tools()
    return {t.name: {"name": t.name, "inputSchema": t.parameters, "outputSchema": t.output_schema} for t in held}


def verdict(lab: Lab, exchanges: Iterable[Exchange], *, requests: bool) -> judge.Verdict:
    return judge.judge(
        exchanges, lab.revision.version, ALLOWED, requests=requests, tools=defined_tools(lab), when=allowed_here
    )


def assert_as_the_schema_writes_it(lab: Lab, exchanges: Iterable[Exchange], *, requests: bool = True) -> None:
    found = verdict(lab, exchanges, requests=requests)
    assert not found.found, "\n".join(found.found)
    assert any(direction == "server" for _, direction in found.judged), found.judged  # it read the answers


class Schema:
    """Stands in for `assert_as_the_specs_write_it`: the same exchanges, the MCP schema's verdict."""

    def __init__(self, *, requests: bool) -> None:
        self.requests = requests  # the refusal lists send malformed requests on purpose

    def __call__(self, lab: Lab, exchanges: Iterable[Exchange]) -> None:
        assert_as_the_schema_writes_it(lab, exchanges, requests=self.requests)


@pytest.fixture
def judged_by_the_schema(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    return lambda requests: monkeypatch.setattr(grammar, "assert_as_the_specs_write_it", Schema(requests=requests))


@pytest.mark.parametrize(("revision", "method"), grammar.HANDSHAKES)
async def test_every_mcp_message_of_a_handshake_is_as_its_revisions_schema_writes_it(
    revision: str, method: str, judged_by_the_schema: Callable[[bool], None]
) -> None:
    judged_by_the_schema(True)
    await grammar.test_every_answer_in_a_handshake_is_as_the_specs_write_it(revision, method)


async def test_every_mcp_message_of_the_complete_story_is_as_the_schema_writes_it(
    lab: Lab, judged_by_the_schema: Callable[[bool], None]
) -> None:
    judged_by_the_schema(True)
    await grammar.test_every_answer_in_the_complete_story_is_as_the_specs_write_it(lab)


async def test_every_answer_of_the_mcp_endpoint_in_its_refusal_list_is_as_the_schema_writes_it(
    lab: Lab, judged_by_the_schema: Callable[[bool], None]
) -> None:
    # The one refusal list with MCP traffic (the others judge only what follows their handshake).
    judged_by_the_schema(False)
    await grammar.test_every_refusal_of_the_mcp_server_and_the_downstream_api_is_as_the_specs_write_it(lab)


@pytest.mark.parametrize("server", judge.REVISIONS)
async def test_clients_of_every_revision_and_their_answers_are_as_the_schema_writes_them(server: str) -> None:
    # A client of each revision against this server: the initialize-era fallbacks, a 2026-07-28
    # client's first request answered by a legacy 400, the negotiated older version.
    for client in judge.REVISIONS:
        if client == "2025-03-26" and server != "2025-03-26":
            continue  # its AS lives at the MCP origin, which no later server has: it stops at step 4
        async with Lab(seed=0, revision=server) as lab:
            await lab.client(revision=client).run_all()
            assert_as_the_schema_writes_it(lab, lab.trace.exchanges)


@pytest.mark.parametrize(
    ("server", "mode"),
    [("2025-11-25", None), ("2025-11-25", "auto"), ("2026-07-28", None), ("2026-07-28", "legacy"),
     ("2026-07-28", "auto"), ("2026-07-28", "2026-07-28")],
)  # fmt: skip
async def test_the_mcp_servers_answers_to_the_official_sdk_client_are_as_the_schema_writes_them(
    server: str, mode: str | None
) -> None:
    # The SDK client's own requests are judged too: "auto" probes server/discover first.
    async with Lab(seed=0, revision=server) as lab:
        await sdk_whoami(lab, mode=mode)
        assert_as_the_schema_writes_it(lab, lab.trace.exchanges)


META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "tour", "version": "1"}}  # fmt: skip


def modern(id_: int, method: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": {**params, "_meta": META}}


def initialize(version: str) -> dict[str, Any]:
    params = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "tour", "version": "1"}}
    return {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}


async def tour(lab: Lab) -> None:
    """Every kind of answer the MCP endpoint writes itself, at the lab's revision."""
    version = lab.revision.version
    legacy = {"MCP-Protocol-Version": version} if version != "2025-03-26" else {}
    posts: list[tuple[Any, dict[str, str]]] = [
        (b"{", {}), (b"[]", {}), (b'{"jsonrpc":"2.0","id":{},"method":"tools/list"}', {}),
        (b'{"jsonrpc":"1.0","id":1,"method":"tools/list"}', {}), (b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[]}', {}),
        (initialize(version if version != "2026-07-28" else "2025-11-25"), {}),
        (initialize("2099-01-01"), {}), ({"jsonrpc": "2.0", "method": "notifications/initialized"}, legacy),
        ({"jsonrpc": "2.0", "id": 2, "method": "ping"}, legacy), ({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, legacy),
        ({"jsonrpc": "2.0", "id": 4, "method": "nope/x"}, legacy),
        ({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "nope", "arguments": {}}}, legacy),
        ({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "whoami", "arguments": {"x": 1}}}, legacy),
        ({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}, {"MCP-Protocol-Version": "2099-01-01"}),
        ({"jsonrpc": "2.0", "id": 8, "result": {}}, legacy),
    ]  # fmt: skip
    if version == "2026-07-28":
        name = {"Mcp-Name": "whoami"}
        posts += [
            (modern(9, "server/discover"), {"Mcp-Method": "server/discover"}),
            (modern(10, "tools/list"), {"Mcp-Method": "tools/list"}),
            (modern(11, "tools/call", name="whoami", arguments={}), {"Mcp-Method": "tools/call", **name}),
            (modern(12, "tools/call", name="nope", arguments={}), {"Mcp-Method": "tools/call", "Mcp-Name": "nope"}),
            (modern(13, "tools/call", name="whoami", arguments={}), {"Mcp-Method": "tools/list", **name}),  # -32020
            (modern(14, "nope/x"), {"Mcp-Method": "nope/x"}),
            (modern(15, "ping"), {"Mcp-Method": "ping"}),
            ({**modern(16, "tools/list"), "params": {}}, {"Mcp-Method": "tools/list"}),
        ]
    token = {"Authorization": f"Bearer {mint(lab, scope='notes:read notes:write')}"}
    async with lab.httpx_client("tour") as http:
        for body, headers in posts:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            modern_headers = {"MCP-Protocol-Version": "2026-07-28"} if headers.get("Mcp-Method") else {}
            sent = {**grammar.MCP_ACCEPT, "Content-Type": "application/json", **token, **modern_headers, **headers}
            await http.post(lab.mcp_url, content=content, headers=sent)


@pytest.mark.parametrize(("server", "accept_legacy"), [(r, True) for r in judge.REVISIONS] + [("2026-07-28", False)])
async def test_every_answer_the_mcp_endpoint_writes_itself_is_as_the_schema_writes_it(
    server: str, accept_legacy: bool
) -> None:
    async with Lab(seed=0, revision=server, accept_legacy=accept_legacy) as lab:
        await tour(lab)
        found = verdict(lab, lab.trace.exchanges, requests=False)
        assert not found.found, "\n".join(found.found)
        assert sum(found.judged.values()) >= 13, found.judged


@pytest.mark.slow
async def test_every_mcp_message_of_the_served_lab_is_as_the_schema_writes_it(tmp_path: Path) -> None:
    from .test_served_emitted_grammar import served_exchanges

    _, traced, _ = await served_exchanges(tmp_path)
    found = judge.judge(traced, "2026-07-28", ALLOWED, tools=defined_tools(None), when=allowed_here)
    assert not found.found, "\n".join(found.found)
    assert ("2026-07-28", "server") in found.judged or ("2025-11-25", "server") in found.judged, found.judged


# The judge can fail ------------------------------------------------------------------------------


def exchange(request: Any, answer: Any, version: str | None = "2025-11-25") -> Exchange:
    headers = (("mcp-protocol-version", version),) if version else ()
    return Exchange(0, None, "test", "mcp.example.com", None, "POST", "https://mcp.example.com/mcp", headers,
                    json.dumps(request), 200, (("content-type", "application/json"),), json.dumps(answer))  # fmt: skip


LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "arguments": {}}}
TOOL = {"name": "t", "inputSchema": {"type": "object"}, "outputSchema": {"type": "object", "required": ["a"]}}
BROKEN = [
    ("a request of jsonrpc 1.0", {**LIST, "jsonrpc": "1.0"}, {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}, "2025-11-25", "client 2025-11-25 JSONRPCRequest $.jsonrpc"),
    ("a request with a null id", {**LIST, "id": None}, {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}, "2025-11-25", "client 2025-11-25 JSONRPCRequest $.id"),
    ("a tools/call with no name", {**CALL, "params": {}}, {"jsonrpc": "2.0", "id": 1, "result": {"content": []}}, "2025-11-25", "client 2025-11-25 CallToolRequest $.params"),
    ("a 2026-07-28 request with no _meta", LIST, {"jsonrpc": "2.0", "id": 1, "result": {"tools": [], "resultType": "complete"}}, "2026-07-28", "client 2026-07-28 ListToolsRequest $.params"),
    ("initialize at 2026-07-28", {**LIST, "method": "initialize"}, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "m"}}, "2026-07-28", "client 2026-07-28 ClientRequest $.method"),
    ("an answer of jsonrpc 1.0", LIST, {"jsonrpc": "1.0", "id": 1, "result": {"tools": []}}, "2025-11-25", "server 2025-11-25 JSONRPCResultResponse $.jsonrpc"),
    ("a tools/list result with no tools", LIST, {"jsonrpc": "2.0", "id": 1, "result": {}}, "2025-11-25", "server 2025-11-25 ListToolsResult $.result"),
    ("a 2026-07-28 result with no resultType", LIST, {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}}, "2026-07-28", "server 2026-07-28 JSONRPCResultResponse $.result"),
    ("an error code that is a string", LIST, {"jsonrpc": "2.0", "id": 1, "error": {"code": "-32600", "message": "m"}}, "2025-11-25", "server 2025-11-25 JSONRPCErrorResponse $.error.code"),
    ("an error with no message", LIST, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32600}}, "2025-03-26", "server 2025-03-26 JSONRPCError $.error"),
    ("a -32022 with no data", LIST, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32022, "message": "m"}}, "2026-07-28", "server 2026-07-28 UnsupportedProtocolVersionError $.error"),
    ("a -32022 whose supported is a string", LIST, {"jsonrpc": "2.0", "id": 1, "error": {"code": -32022, "message": "m", "data": {"supported": "2026-07-28", "requested": "x"}}}, "2026-07-28", "server 2026-07-28 UnsupportedProtocolVersionError $.error.data.supported"),
    ("a tool with an array inputSchema", LIST, {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{**TOOL, "inputSchema": {"type": "array"}}]}}, "2025-11-25", "server 2025-11-25 ListToolsResult $.result.tools[0].inputSchema.type"),
    ("a tool whose inputSchema is no object", LIST, {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{**TOOL, "inputSchema": "object"}]}}, "2025-11-25", "server 2025-11-25 ListToolsResult $.result.tools[0].inputSchema"),
    ("a tool whose outputSchema is no JSON Schema", LIST, {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{**TOOL, "outputSchema": {"type": "object", "required": "a"}}]}}, "2025-11-25", "server 2025-11-25 JSON Schema $.result.tools[0].outputSchema"),
    ("structuredContent against its outputSchema", CALL, {"jsonrpc": "2.0", "id": 1, "result": {"content": [], "structuredContent": {"b": 1}}}, "2025-11-25", "server 2025-11-25 outputSchema $.result.structuredContent: t's outputSchema"),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "answer", "version", "start"), [pytest.param(*b[1:], id=b[0]) for b in BROKEN])
def test_a_message_the_schema_does_not_allow_is_found_out(request_: Any, answer: Any, version: str, start: str) -> None:
    # Without these, a sweep that finds nothing could be a sweep that reads nothing.
    found = judge.judge([exchange(request_, answer, version)], version, ALLOWED, tools={"t": TOOL}).found
    assert any(f.startswith(start) for f in found), found


def test_the_lab_s_own_shapes_pass_and_a_null_id_passes_only_on_an_error() -> None:
    kept = judge.judge([exchange(CALL, {"jsonrpc": "2.0", "id": 1, "result": {"content": [], "structuredContent": {"a": 1}}})],
                       "2025-11-25", ALLOWED, tools={"t": TOOL})  # fmt: skip
    assert kept.found == [] and kept.judged == {("2025-11-25", "client"): 1, ("2025-11-25", "server"): 1}
    null_result = judge.judge(
        [exchange(LIST, {"jsonrpc": "2.0", "id": None, "result": {"tools": []}})], "2025-11-25", ALLOWED
    )
    assert any("JSONRPCResultResponse $.id" in f for f in null_result.found), null_result.found
    # An allowed null id hides nothing beside it: every error of a message is judged.
    both = judge.judge([exchange(LIST, {"jsonrpc": "2.0", "id": None, "error": {"code": "1", "message": "m"}})],
                       "2025-11-25", ALLOWED)  # fmt: skip
    assert [f.split("  [")[0] for f in both.found] == [
        "server 2025-11-25 JSONRPCErrorResponse $.error.code: '1' is not of type 'integer'"
    ]


async def test_every_allow_list_entry_is_still_met_by_what_the_lab_sends() -> None:
    # An entry no input meets would hide nothing and mislead: a parse error at every revision, and
    # a body that is no JSON-RPC object at a 2026-07-28-only server, with no header (-32020).
    # And a notification with params of no structured type, at the two revisions whose schema
    # requires an id their transport text leaves out.
    met: set[str] = set()
    refused = b'{"jsonrpc":"2.0","method":"notifications/x","params":"p"}'
    for revision, accept_legacy, body, header in [*((r, True, b"{", r) for r in judge.REVISIONS),
                                                  ("2026-07-28", False, b"[]", None), ("2025-03-26", True, refused, None),
                                                  ("2025-06-18", True, refused, "2025-06-18")]:  # fmt: skip
        async with Lab(seed=0, revision=revision, accept_legacy=accept_legacy) as lab:
            version = {"MCP-Protocol-Version": header} if header and header != "2025-03-26" else {}
            sent = {**grammar.MCP_ACCEPT, "Content-Type": "application/json", **version,
                    "Authorization": f"Bearer {mint(lab)}"}  # fmt: skip
            async with lab.httpx_client("t") as http:
                await http.post(lab.mcp_url, content=body, headers=sent)
            met |= verdict(lab, lab.trace.exchanges, requests=False).allowed
    assert met == set(ALLOWED)


# The schemas themselves ---------------------------------------------------------------------------

# The blob ids of the four files at the spec repository's commit (the README names it): `git
# hash-object` of each vendored file must be its blob's, so the files are the spec's, byte for byte.
BLOBS = {
    "2025-03-26": "a1e3f26799d06421eea7e2334e6d279233c6d090",
    "2025-06-18": "15c5d5127a247189918a7d4da6c3dec929b75130",
    "2025-11-25": "c722dd45ba83610bec2b3f576a7658d5d6dc1553",
    "2026-07-28": "213c58f6d9a1c2ce6ad055afe90bbdb095a29ee8",
}


@pytest.mark.parametrize("revision", judge.REVISIONS)
def test_each_vendored_schema_is_the_spec_s_byte_for_byte_and_judged_by_its_own_draft(revision: str) -> None:
    data = (judge.SCHEMAS / f"{revision}.json").read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == BLOBS[revision]
    assert BLOBS[revision] in (judge.SCHEMAS / "README.md").read_text()
    draft = {"http://json-schema.org/draft-07/schema#": jsonschema.Draft7Validator,
             "https://json-schema.org/draft/2020-12/schema": jsonschema.Draft202012Validator}  # fmt: skip
    assert type(judge.validator(revision, "JSONRPCRequest")) is draft[judge.schema(revision)["$schema"]]
    # The unions the judge reads methods from name every method the lab's clients send.
    requests = set(judge.client_requests(revision))
    assert {"tools/list", "tools/call"} <= requests
    assert ("initialize" in requests) == (revision != "2026-07-28") == ("ping" in requests)
    assert ("server/discover" in requests) == (revision == "2026-07-28")


@pytest.mark.slow  # half a second for each of the two 2020-12 schemas
@pytest.mark.parametrize("revision", judge.REVISIONS)
def test_each_vendored_schema_is_valid_in_the_draft_it_names(revision: str) -> None:
    judge.metaschema(judge.schema(revision)["$schema"]).validate(judge.schema(revision))  # type: ignore[union-attr]
