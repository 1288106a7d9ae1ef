"""MCP 2026-07-28 Streamable HTTP "Request Metadata" (SEP-2243), both sides of the lab: every
request mirrors its version, method and name into `MCP-Protocol-Version`, `Mcp-Method` and
`Mcp-Name`; a value that is not plain printable ASCII travels as `=?base64?…?=`; the server
answers any disagreement, missing or malformed header with 400 and -32020 HeaderMismatch, and an
unknown method with 404 and -32601. And "Custom Headers from Tool Parameters": the lab client mirrors
each argument a tool's inputSchema marks with `x-mcp-header` into `Mcp-Param-{Name}`."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pytest
from mcp.shared.inbound import validate_mcp_param_headers
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from lab_servers import Lab, StepError
from lab_servers.client.pagination import BYTE_CAP, ITEM_CAP, PAGE_CAP, every_page
from lab_servers.client.server_data import ServerDataRefused
from lab_servers.client.tool_parameter_headers import (
    LISTING_SCHEMA_NODES,
    TOOL_SCHEMA_NODES,
    designated_parameters,
    param_headers,
    read_tools_list,
)

from .hostile_server import BASE, HostileServer, _json, _run
from .test_resource_server_transport import JSON_HEADERS, mint

pytestmark = pytest.mark.anyio
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


def call(name: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": name, "arguments": {}, "_meta": META}}


def sentinel(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return f"=?base64?{base64.b64encode(raw).decode()}?="


async def post(lab: Lab, body: dict[str, Any], headers: list[tuple[str, str | bytes]]) -> Any:
    sent = [*JSON_HEADERS.items(), ("Authorization", f"Bearer {mint(lab)}"), *headers]
    async with lab.httpx_client() as http:
        return await http.post(lab.mcp_url, content=json.dumps(body), headers=sent)


def header_mismatch(response: Any) -> str:
    assert response.status_code == 400, response.text
    assert response.json()["id"] == 9 and response.json()["error"]["code"] == -32020, response.text
    return str(response.json()["error"]["message"])


def with_tool(lab: Lab, name: str) -> None:
    """A tool whose name MCP only SHOULD-constrains (server/tools, Tool names): any string may come."""

    def echo() -> str:
        return "ok"

    lab.resource_server.mcp.add_tool(echo, name=name)  # the SDK logs a warning about such names


# The header MUST match the body's _meta version, on a dual-era server too ------------------------


@pytest.mark.parametrize(
    "versions",
    [[], ["2025-11-25"], ["2026-07-28", "2026-07-28"], ["2099-01-01"]],
    ids=["missing", "initialize-era", "twice", "unknown"],
)
async def test_a_request_whose_meta_says_2026_07_28_needs_that_one_mcp_protocol_version_header(
    lab: Lab, versions: list[str]
) -> None:
    # streamable-http "Protocol Version Header": "The header value MUST match the
    # io.modelcontextprotocol/protocolVersion field carried in the request body's _meta. If the
    # values do not match, the server MUST reject the request with 400 Bad Request and a
    # HeaderMismatch". The SDK routed a missing or initialize-era header the initialize way and
    # served the call (200), the body's _meta unread. A header naming a version the body does not
    # is a client disagreeing with itself (the SDK's ladder judges so before the version), not -32022.
    headers: list[tuple[str, str | bytes]] = [("Mcp-Method", "tools/call"), ("Mcp-Name", "whoami")]
    response = await post(lab, call("whoami"), [*(("MCP-Protocol-Version", v) for v in versions), *headers])
    message = header_mismatch(response)
    assert "'2026-07-28'" in message and "Protocol Version Header" in message


async def test_an_initialize_era_request_with_no_header_is_still_served_by_the_dual_era_server(lab: Lab) -> None:
    # "A server that supports clients implementing protocol versions earlier than 2025-06-18 MAY
    # treat a request that omits the header as protocol version 2025-03-26": no _meta version, no
    # mismatch.
    initialize = {"jsonrpc": "2.0", "id": 9, "method": "initialize",
                  "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    response = await post(lab, initialize, [])
    assert response.status_code == 200 and response.json()["result"]["protocolVersion"] == "2025-03-26"


# A value that is not plain printable ASCII is sent as =?base64?…?=, else refused ------------------

# streamable-http "Value Encoding": values a client MUST send as =?base64?…?= (non-ASCII, a control
# character, a tab, edge whitespace), each as it means it and as sent raw; Mcp-Name's and each
# Mcp-Param-{Name}'s alike.
MUST_BE_ENCODED = [
    ("café", "café".encode("latin-1")),
    ("café", "café".encode()),
    ("a\x01b", b"a\x01b"),
    ("a\tb", b"a\tb"),
    (" spaced ", b" spaced "),
]
MUST_BE_ENCODED_IDS = ["latin-1", "utf-8", "control-character", "tab", "edge-spaces"]


@pytest.mark.parametrize(("name", "raw"), MUST_BE_ENCODED, ids=MUST_BE_ENCODED_IDS)
async def test_a_raw_mcp_name_a_client_must_have_encoded_is_a_header_mismatch(lab: Lab, name: str, raw: bytes) -> None:
    # streamable-http "Value Encoding": a value with "non-ASCII characters, control characters, or
    # ... leading/trailing whitespace" MUST be sent as =?base64?…?=; "Server Validation": "A header
    # value contains invalid characters" is a validation failure. The SDK read the bytes as
    # Latin-1 and compared: café in ISO-8859-1, a control character, edge spaces were all served.
    with_tool(lab, name)
    message = header_mismatch(await post(lab, call(name), [("MCP-Protocol-Version", "2026-07-28"),
                                                           ("Mcp-Method", "tools/call"), ("Mcp-Name", raw)]))  # fmt: skip
    assert "Mcp-Name" in message and "Value Encoding" in message
    served = await post(lab, call(name), [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"),
                                          ("Mcp-Name", sentinel(name))])  # fmt: skip
    assert served.status_code == 200 and served.json()["result"]["content"][0]["text"] == "ok"


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        pytest.param([("Mcp-Name", "whoami")], call("whoami"), id="no-Mcp-Method"),
        pytest.param([("Mcp-Method", "tools/call")], call("whoami"), id="no-Mcp-Name"),
        pytest.param([("Mcp-Method", "TOOLS/CALL"), ("Mcp-Name", "whoami")], call("whoami"), id="method-in-capitals"),
        pytest.param([("Mcp-Method", "tools/call"), ("Mcp-Name", "WHOAMI")], call("whoami"), id="name-in-capitals"),
        pytest.param(
            [("Mcp-Method", "tools/call"), ("Mcp-Name", "whoami"), ("Mcp-Name", "add_note")],
            call("whoami"),
            id="Mcp-Name-twice",
        ),
        pytest.param(
            [("Mcp-Method", "resources/read"), ("Mcp-Name", "file:///b")],
            {**call("x"), "method": "resources/read", "params": {"uri": "file:///a", "_meta": META}},
            id="uri",
        ),
        pytest.param([("Mcp-Method", "tools/call"), ("Mcp-Name", "=?base64?!!!!?=")], call("whoami"), id="not-base64"),
        pytest.param(
            [("Mcp-Method", "tools/call"), ("Mcp-Name", sentinel(b"\xff\xfe"))], call("\ufffd"), id="not-utf-8"
        ),
        pytest.param([("Mcp-Method", "tools/call"), ("Mcp-Name", "=?base64?d2hvYW0?=")], call("whoam"), id="unpadded"),
        pytest.param(
            [("Mcp-Method", "tools/call"), ("Mcp-Name", "=?base64?d2hvYW0==?=")], call("whoam"), id="over-padded"
        ),
        pytest.param(
            [("Mcp-Method", "tools/call"), ("Mcp-Name", "=?BASE64?d2hvYW0=?=")], call("whoam"), id="marker-in-capitals"
        ),
        # Only Mcp-Name and Mcp-Param-{Name} "permit the Base64 sentinel encoding".
        pytest.param(
            [("Mcp-Method", sentinel("tools/call")), ("Mcp-Name", "whoami")], call("whoami"), id="method-encoded"
        ),
    ],
)
async def test_a_missing_mismatching_or_malformed_mirrored_header_is_a_header_mismatch(
    lab: Lab, headers: list[tuple[str, str]], body: dict[str, Any]
) -> None:
    # streamable-http "Server Validation": a required header missing, a value that does not match
    # the body ("Header values ... are case-sensitive"), or one that is malformed is 400 -32020;
    # "=?base64?" and "?=" are case-sensitive markers, and Base64 is the padded alphabet. Held by
    # the SDK (2.3.0) on its 2026-07-28 path.
    header_mismatch(await post(lab, body, [("MCP-Protocol-Version", "2026-07-28"), *headers]))


@pytest.mark.parametrize(
    ("headers", "body", "missing"),
    [
        pytest.param([("Mcp-Name", "whoami")], call("whoami"), "Mcp-Method", id="no-Mcp-Method"),
        pytest.param([("Mcp-Method", "tools/call")], call("whoami"), "Mcp-Name", id="no-Mcp-Name"),
        pytest.param(
            [("Mcp-Method", "resources/read")],
            {**call("x"), "method": "resources/read", "params": {"uri": "file:///a", "_meta": META}},
            "Mcp-Name",
            id="no-Mcp-Name-for-a-uri",
        ),
    ],
)
async def test_a_missing_required_header_is_named_as_missing(
    lab: Lab, headers: list[tuple[str, str]], body: dict[str, Any], missing: str
) -> None:
    # Request Metadata: Mcp-Method is REQUIRED, Mcp-Name for the methods that name a target. The
    # SDK's -32020 said such a header "does not match" the body; the lab says it is missing.
    message = header_mismatch(await post(lab, body, [("MCP-Protocol-Version", "2026-07-28"), *headers]))
    assert f"no {missing} header" in message and "Request Metadata" in message, message


async def test_header_names_compare_case_insensitively_and_an_unknown_method_is_404(lab: Lab) -> None:
    # "Clients and servers MUST use case-insensitive comparisons for header names"; "If the server
    # does not implement the requested RPC method, it MUST respond with 404 Not Found and a JSON-RPC
    # error with code -32601".
    served = await post(lab, call("whoami"), [("mcp-protocol-version", "2026-07-28"), ("MCP-METHOD", "tools/call"),
                                              ("mcp-name", "whoami")])  # fmt: skip
    assert served.status_code == 200 and served.json()["result"]["isError"] is False
    unknown = {"jsonrpc": "2.0", "id": 9, "method": "tools/nope", "params": {"_meta": META}}
    response = await post(lab, unknown, [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/nope")])
    assert response.status_code == 404 and response.json()["error"]["code"] == -32601


# The lab's client ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("café", True),
        ("日本語", True),
        (" spaced ", True),
        ("tab\there", True),
        ("line\nbreak", True),
        ("=?base64?literal?=", True),
        ("n" * 2_000, False),
        ("add-note.v2", False),
    ],
)
async def test_the_lab_client_sends_a_name_unsafe_as_a_header_value_base64_encoded_and_is_served(
    name: str, encoded: bool
) -> None:
    # streamable-http "Value Encoding": "clients MUST use Base64 encoding of the UTF-8
    # representation" for a value with non-ASCII or control characters or edge whitespace, and
    # MUST encode a plain value that looks like the sentinel; a safe one, however long, goes plain.
    async with Lab() as lab:
        with_tool(lab, name)
        connection = await lab.connect()
        result = await connection.client.call_tool(name)
        assert result["isError"] is False and result["content"][0]["text"] == "ok"
        assert lab.trace.exchanges[-1].request_header("mcp-name") == (sentinel(name) if encoded else name)


@pytest.mark.parametrize(
    ("name", "lines"),
    [("Mcp-Method", ["tools/call", "tools/list"]), ("Mcp-Name", ["whoami", "whoami"])],
    ids=["method-twice", "name-twice"],
)
async def test_a_mirrored_header_sent_twice_is_a_header_mismatch_naming_the_rule(name: str, lines: list[str]) -> None:
    # §Server Validation: a required header "malformed" is -32020; two lines of a header that names
    # one method (or one name) are none (RFC 9110 §5.3), and a router could route on either. The
    # SDK refused them too, saying only that the header "appears more than once".
    async with Lab(revision="2026-07-28") as lab:
        headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "whoami"}
        sent: list[tuple[str, str | bytes]] = [(k, v) for k, v in headers.items() if k != name]
        message = header_mismatch(await post(lab, call("whoami"), [*sent, *((name, line) for line in lines)]))
    assert f"2 {name} headers" in message and "RFC 9110 §5.3" in message, message


@pytest.mark.parametrize(("modern", "code"), [(True, -32020), (False, -32600)], ids=["2026-07-28", "initialize-era"])
def test_two_protocol_version_headers_are_refused_with_the_code_of_the_servers_era(modern: bool, code: int) -> None:
    # RFC 9110 §5.3: a header naming one version, sent twice, names none. A 2026-07-28 server
    # answers a malformed required header with -32020 HeaderMismatch (§Server Validation); an
    # initialize-era server has no such code and answers 400 Invalid Request (-32600).
    from lab_servers.resource_server.request_metadata import protocol_version

    lines = [(b"mcp-protocol-version", b"2026-07-28"), (b"mcp-protocol-version", b"2025-11-25")]
    version, refusal = protocol_version(lines, modern, 7)
    assert version is None and refusal is not None and refusal.status_code == 400
    assert json.loads(bytes(refusal.body))["error"]["code"] == code


# Custom Headers from Tool Parameters ----------------------------------------------------------------


def header(name: str) -> Any:
    return Field(json_schema_extra={"x-mcp-header": name})


def route(
    region: Annotated[str, header("Region")],
    count: Annotated[int, header("Count")] = 0,
    dry: Annotated[bool, header("Dry-Run")] = False,
) -> str:
    """A tool whose parameters a gateway routes on."""
    return f"{region} {count} {dry}"


def mirrored(lab: Lab) -> dict[str, str]:
    return {k: v for k, v in lab.trace.exchanges[-1].request_headers if k.lower().startswith("mcp-param-")}


@pytest.mark.parametrize(
    ("arguments", "headers"),
    [
        ({"region": "us-west1"}, {"Mcp-Param-Region": "us-west1"}),
        ({"region": "Hello, 世界", "count": 42, "dry": True},
         {"Mcp-Param-Region": "=?base64?SGVsbG8sIOS4lueVjA==?=", "Mcp-Param-Count": "42", "Mcp-Param-Dry-Run": "true"}),
        ({"region": " padded ", "count": -7, "dry": False},
         {"Mcp-Param-Region": "=?base64?IHBhZGRlZCA=?=", "Mcp-Param-Count": "-7", "Mcp-Param-Dry-Run": "false"}),
        ({"region": "=?base64?literal?="}, {"Mcp-Param-Region": "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="}),
    ],
    ids=["plain", "non-ascii-integer-boolean", "edge-spaces", "sentinel-and-absent"],
)  # fmt: skip
async def test_the_lab_client_mirrors_each_x_mcp_header_argument_into_mcp_param_and_is_served(
    arguments: dict[str, Any], headers: dict[str, str]
) -> None:
    # "When a server's tool definition includes x-mcp-header annotations, conforming clients MUST
    # mirror the designated parameter values into HTTP headers": a string as is, an integer in
    # decimal, a boolean as true/false, each encoded as Value Encoding says (its table's examples);
    # a null or absent value: "Client MUST omit the header". The SDK's server checks them (-32020).
    async with Lab() as lab:
        lab.resource_server.mcp.add_tool(route)
        client = (await lab.connect()).client
        assert client.records[-1].learned["param_headers"] == {
            "route": ["Mcp-Param-Count", "Mcp-Param-Dry-Run", "Mcp-Param-Region"]
        }
        result = await client.call_tool("route", arguments)
        assert result["isError"] is False and mirrored(lab) == headers


def call_route(region: str) -> dict[str, Any]:
    return {**call("route"), "params": {"name": "route", "arguments": {"region": region}, "_meta": META}}


MODERN_ROUTE = [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", "route")]


@pytest.mark.parametrize(("region", "raw"), MUST_BE_ENCODED, ids=MUST_BE_ENCODED_IDS)
async def test_a_raw_mcp_param_header_a_client_must_have_encoded_is_a_header_mismatch(
    lab: Lab, region: str, raw: bytes
) -> None:
    # Server Behavior for Custom Headers: "Servers MUST reject requests with a recognized
    # Mcp-Param-{Name} header that contains invalid characters (see Value Encoding)", 400 -32020.
    # The SDK read the bytes as Latin-1 and compared them decoded: café in ISO-8859-1, a control
    # character, a tab, edge spaces were all served.
    lab.resource_server.mcp.add_tool(route)
    message = header_mismatch(await post(lab, call_route(region), [*MODERN_ROUTE, ("Mcp-Param-Region", raw)]))
    assert "Mcp-Param-Region header carries a character" in message, message
    assert "Value Encoding and Server Behavior for Custom Headers" in message, message
    served = await post(lab, call_route(region), [*MODERN_ROUTE, ("mcp-param-region", sentinel(region))])
    assert served.status_code == 200 and served.json()["result"]["content"][0]["text"] == f"{region} 0 False"


async def test_an_mcp_param_header_the_tool_does_not_name_is_not_recognized_and_is_ignored(lab: Lab) -> None:
    # Only a "recognized" Mcp-Param-{Name} is judged: one no x-mcp-header of the called tool names
    # is what intermediaries "MUST forward ... and otherwise ignore", and so does this server.
    lab.resource_server.mcp.add_tool(route)
    stray = [("Mcp-Param-Zone", "café".encode("latin-1")), ("Mcp-Param-Region", "eu")]
    served = await post(lab, call_route("eu"), [*MODERN_ROUTE, *stray])
    assert served.status_code == 200 and served.json()["result"]["content"][0]["text"] == "eu 0 False"
    raw = [("MCP-Protocol-Version", "2026-07-28"), ("Mcp-Method", "tools/call"), ("Mcp-Name", "whoami"),
           ("Mcp-Param-Region", b"a\x01b")]  # fmt: skip
    assert (await post(lab, call("whoami"), raw)).status_code == 200  # whoami names no header


@pytest.mark.parametrize(
    ("arguments", "values"),
    [
        ({"region": "eu"}, ["=?base64?!!!!?="]),
        ({"region": "\ufffd"}, [sentinel(b"\xff\xfe")]),
        ({"region": "eu"}, ["=?base64?ZXU?="]),
        ({"region": "eu"}, ["=?base64?ZXV=?="]),
        ({"region": "eu"}, ["=?BASE64?ZXU=?="]),
        ({"region": "eu"}, [sentinel("us")]),
        ({"region": "eu"}, ["EU"]),
        ({"region": "eu"}, []),
        ({"region": "eu"}, ["eu", "eu"]),
        ({}, ["eu"]),
    ],
    ids=["not-base64", "not-utf-8", "unpadded", "non-canonical", "marker-in-capitals", "other-value", "other-case",
         "missing", "twice", "no-argument"],
)  # fmt: skip
async def test_a_recognized_mcp_param_header_is_sent_once_valid_base64_of_utf_8_or_plain_and_equal_to_its_argument(
    lab: Lab, arguments: dict[str, Any], values: list[str]
) -> None:
    # Value Encoding: "Base64 encoding of the UTF-8 representation", markers "case-sensitive";
    # servers "MUST validate that encoded header values, after decoding if Base64-encoded, match the
    # corresponding values in the request body"; "Client omits header but value is in body":
    # "Server MUST reject the request". Held by the SDK (2.3.0): the lab's README says so.
    lab.resource_server.mcp.add_tool(route)
    body = {**call("route"), "params": {"name": "route", "arguments": arguments, "_meta": META}}
    header_mismatch(await post(lab, body, [*MODERN_ROUTE, *(("Mcp-Param-Region", value) for value in values)]))


async def test_a_call_refused_for_its_mcp_param_headers_lists_the_tools_again_and_retries_once() -> None:
    # Client Behavior: refused with HeaderMismatch for Mcp-Param-* headers, the client "SHOULD call
    # tools/list to check for changes to the tool's inputSchema, then retry the original request
    # with the appropriate headers". Here the tool came after the client listed the tools.
    async with Lab() as lab:
        client = (await lab.connect()).client
        lab.resource_server.mcp.add_tool(route)
        result = await client.call_tool("route", {"region": "eu-west1"})
        calls = lab.trace.exchanges[-3:]
        assert result["isError"] is False and mirrored(lab) == {"Mcp-Param-Region": "eu-west1"}
    assert [(e.request_header("mcp-method"), e.status) for e in calls] == [
        ("tools/call", 400), ("tools/list", 200), ("tools/call", 200)
    ]  # fmt: skip


async def test_an_initialize_era_client_refused_minus_32020_is_told_the_servers_revision_without_listing_again(
    lab: Lab,
) -> None:
    # The retry is for a 2026-07-28 client's Mcp-Param-* headers; a 2025-11-25 client sends none,
    # and a -32020 tells it the server speaks a revision it does not (versioning §4).
    error = {"code": -32020, "message": "MCP-Protocol-Version header is required"}

    def answer(message: dict[str, Any]) -> Response:
        if "id" not in message:
            return Response(status_code=202)  # notifications/initialized
        if message["method"] == "tools/call":
            return _json({"jsonrpc": "2.0", "id": message["id"], "error": error}, 400)
        initialized = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}
        result = initialized if message["method"] == "initialize" else {"tools": [{"name": "whoami"}]}
        return _json({"jsonrpc": "2.0", "id": message["id"], "result": result})

    with pytest.raises(StepError, match=r"^step 7 \(mcp\): the server answered -32020 .* speaks only 2025-11-25"):
        await _run(lab, HostileServer(mcp=answer), 7, revision="2025-11-25")
    methods = [json.loads(e.request_body)["method"] for e in lab.trace.exchanges if e.url == f"{BASE}/mcp"]
    assert methods[-2:] == ["tools/list", "tools/call"] and methods.count("tools/call") == 1


async def test_a_tool_whose_x_mcp_header_is_invalid_is_left_out_of_tools_list_and_the_step_says_why(lab: Lab) -> None:
    # Schema Extension: "Clients using the Streamable HTTP transport MUST reject tool definitions
    # where any x-mcp-header value violates these constraints", excluding the tool from the result
    # of tools/list, and SHOULD log a warning naming the tool and the reason.
    bad = {
        "name": "sum",
        "inputSchema": {"type": "object", "properties": {"x": {"type": "number", "x-mcp-header": "X"}}},
    }

    def answer(message: dict[str, Any]) -> Response:
        if message["method"] == "tools/list":
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [bad, {"name": "whoami"}]}})
        return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"structuredContent": {"sub": "alice"}}})

    class Server(HostileServer):
        async def mcp(self, request: Request) -> Response:
            return (
                await super().mcp(request) if "authorization" not in request.headers else answer(await request.json())
            )

    client = await _run(lab, Server(), 7)
    assert client.records[-1].learned["tools"] == ["whoami"]
    assert client.records[-1].notes == [
        "tool 'sum' is left out of tools/list: x-mcp-header of property 'x' is not on an integer, string or boolean "
        "parameter (MCP 2026-07-28 streamable-http, Custom Headers from Tool Parameters)"
    ]


def _schema(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


@pytest.mark.parametrize(
    ("schema", "broken"),
    [
        (_schema(a={"type": "string", "x-mcp-header": ""}), "is not an HTTP field-name token"),
        (_schema(a={"type": "string", "x-mcp-header": "Re gion"}), "is not an HTTP field-name token"),
        (_schema(a={"type": "string", "x-mcp-header": "A\r\nB"}), "is not an HTTP field-name token"),
        (_schema(a={"type": "string", "x-mcp-header": 5}), "is not an HTTP field-name token"),
        (_schema(a={"type": "number", "x-mcp-header": "A"}), "not on an integer, string or boolean parameter"),
        (_schema(a={"type": "object", "x-mcp-header": "A"}), "not on an integer, string or boolean parameter"),
        (_schema(a={"type": "string", "x-mcp-header": "A"}, b={"type": "string", "x-mcp-header": "a"}), "repeats"),
        (_schema(a={"type": "array", "items": {"type": "string", "x-mcp-header": "A"}}), "through `properties` alone"),
        ({"type": "object", "oneOf": [_schema(a={"type": "string", "x-mcp-header": "A"})]}, "through `properties` alone"),
        ({"$defs": {"a": {"type": "string", "x-mcp-header": "A"}}}, "through `properties` alone"),
        ({"type": "string", "x-mcp-header": "A"}, "is not on a property"),
    ],
    ids=["empty", "space", "crlf", "not-a-string", "number", "object", "case-insensitive-twice", "under-items",
         "under-oneOf", "under-defs", "the-root"],
)  # fmt: skip
def test_an_x_mcp_header_that_breaks_a_schema_extension_constraint_is_named(schema: Any, broken: str) -> None:
    with pytest.raises(ValueError, match=broken):
        designated_parameters(schema)


def test_a_designated_parameter_is_read_at_its_exact_property_path_and_data_is_no_annotation() -> None:
    # "Nested object properties are permitted as long as every step in the chain is a properties
    # key"; a `default` is an instance value, not a subschema.
    schema = _schema(
        target=_schema(zone={"type": "string", "x-mcp-header": "Zone"}),
        options={"type": "object", "default": {"x-mcp-header": "Not"}},
    )
    designated = designated_parameters(schema)
    assert designated == {("target", "zone"): "Zone"}
    assert param_headers(designated, {"target": {"zone": "b"}}) == {"Mcp-Param-Zone": "b"}
    assert param_headers(designated, {"target": "b"}) == {}  # no value at that path: omitted
    assert param_headers({("n",): "N"}, {"n": 42.0}) == {"Mcp-Param-N": "42"}  # the integer 42
    assert param_headers({("n",): "N"}, {"n": None}) == {}  # "Parameter value is null: Client MUST omit"


class ListingServer(HostileServer):
    """A 2026-07-28 MCP server whose tools/list answers each `params.cursor` with `pages[cursor]`
    (page 1 has none), and whose tools/call of a tool in `checked` is refused -32020 unless each
    of its designated arguments is mirrored, as the SDK's server checks (validate_mcp_param_headers)."""

    def __init__(self, pages: dict[str | None, dict[str, Any]], checked: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.pages, self.checked = pages, checked or {}
        self.cursors: list[str | None] = []

    async def mcp(self, request: Request) -> Response:
        if "authorization" not in request.headers:
            return await super().mcp(request)
        message = json.loads(await request.body())
        params = message.get("params") or {}
        if message["method"] == "tools/list":
            self.cursors.append(params.get("cursor"))
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": self.pages[params.get("cursor")]})
        schema = self.checked.get(params["name"])
        if schema is not None:
            refused = validate_mcp_param_headers(schema, params.get("arguments") or {}, dict(request.headers))
            if refused is not None:
                error = {"code": -32020, "message": refused.message}
                return _json({"jsonrpc": "2.0", "id": message["id"], "error": error}, 400)
        return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"structuredContent": {"sub": "alice"}}})


ROUTE = {"name": "route", "inputSchema": _schema(region={"type": "string", "x-mcp-header": "Region"})}
WHOAMI = {"name": "whoami", "inputSchema": {"type": "object"}}


async def test_the_client_follows_next_cursor_and_mirrors_the_parameters_of_a_tool_on_page_2(lab: Lab) -> None:
    # Pagination: the client asks for the next page with nextCursor as params.cursor, until a page
    # has none; and "conforming clients MUST mirror the designated parameter values" of every tool
    # listed, on whatever page. Page 1 alone left route's Region unmirrored: -32020, twice.
    server = ListingServer({None: {"tools": [WHOAMI], "nextCursor": "p2"}, "p2": {"tools": [ROUTE]}},
                           checked={"route": ROUTE["inputSchema"]})  # fmt: skip
    client = await _run(lab, server, 7)
    assert client.records[-1].learned["tools"] == ["whoami", "route"] and server.cursors == [None, "p2"]
    assert await client.call_tool("route", {"region": "eu-west1"}) == {"structuredContent": {"sub": "alice"}}
    assert mirrored(lab) == {"Mcp-Param-Region": "eu-west1"}


async def test_the_tools_list_after_a_minus_32020_reads_every_page_before_the_retry(lab: Lab) -> None:
    # Client Behavior: refused with HeaderMismatch, the client "SHOULD call tools/list to check for
    # changes to the tool's inputSchema, then retry": here route came, on page 2, after step 7.
    pages: dict[str | None, dict[str, Any]] = {None: {"tools": [WHOAMI]}}
    server = ListingServer(pages, checked={"route": ROUTE["inputSchema"]})
    client = await _run(lab, server, 7)
    pages.update({None: {"tools": [WHOAMI], "nextCursor": "p2"}, "p2": {"tools": [ROUTE]}})
    assert await client.call_tool("route", {"region": "eu-west1"}) == {"structuredContent": {"sub": "alice"}}
    assert server.cursors == [None, None, "p2"] and mirrored(lab) == {"Mcp-Param-Region": "eu-west1"}


async def test_the_tools_list_after_a_minus_32020_stops_at_the_page_that_lists_the_tool_called(lab: Lab) -> None:
    # As the SDK's _relist_tool: the pages after the one listing the tool change nothing of its
    # call, and a server whose pages go on would make every refused call read them all again.
    pages: dict[str | None, dict[str, Any]] = {None: {"tools": [WHOAMI]}}
    server = ListingServer(pages, checked={"route": ROUTE["inputSchema"]})
    client = await _run(lab, server, 7)
    pages.update({None: {"tools": [WHOAMI], "nextCursor": "p2"}, "p2": {"tools": [ROUTE], "nextCursor": "p3"},
                  "p3": {"tools": [{"name": "later"}]}})  # fmt: skip
    assert await client.call_tool("route", {"region": "eu-west1"}) == {"structuredContent": {"sub": "alice"}}
    assert server.cursors == [None, None, "p2"] and mirrored(lab) == {"Mcp-Param-Region": "eu-west1"}


async def test_a_cursor_that_leads_back_to_a_page_already_read_ends_the_listing_and_the_step_says_so(
    lab: Lab,
) -> None:
    # Cursors are opaque: the client cannot tell a loop from its text, only that one comes again.
    pages = {None: {"tools": [WHOAMI], "nextCursor": "a"}, "a": {"tools": [ROUTE], "nextCursor": "a"}}
    client = await _run(lab, ListingServer(pages), 7)
    assert client.records[-1].learned["tools"] == ["whoami", "route"]
    assert client.records[-1].notes == [
        "tools/list page 2 names the cursor 'a' again: the pages loop, and the client stops at the 2 items read "
        "(MCP server/utilities/pagination)"
    ]


def endless(size: int, fetched: list[str]) -> Callable[[str], Awaitable[tuple[dict[str, Any], int]]]:
    """A server's tools/list that never ends: each page one tool and a new cursor, `size` bytes on
    the wire; each cursor asked for is kept in `fetched`."""

    async def fetch(cursor: str) -> tuple[dict[str, Any], int]:
        fetched.append(cursor)
        return {"tools": [{"name": cursor}], "nextCursor": f"{cursor}+"}, size

    return fetch


async def test_a_listing_that_never_ends_is_cut_off_at_the_page_cap() -> None:
    # No cursor comes again, and the pages go on: the client stops at PAGE_CAP pages, as the SDK's.
    fetched: list[str] = []
    listed, cut = await every_page(
        ({"tools": [], "nextCursor": "c"}, 100), "tools", endless(100, fetched), "tools/list"
    )
    assert len(fetched) == PAGE_CAP - 1 and len(listed["tools"]) == PAGE_CAP - 1 and "nextCursor" not in listed
    assert cut is not None and cut.startswith(f"tools/list goes on past {PAGE_CAP} pages")


async def test_a_listing_for_a_tool_the_first_page_lists_fetches_no_other_page() -> None:
    # As the MCP SDK's _relist_tool: the listing ends at the first page that lists the tool called,
    # the first page too; the pages after it would change nothing the call needs.
    fetched: list[str] = []
    first = ({"tools": [WHOAMI, ROUTE], "nextCursor": "c"}, 100)
    listed, cut = await every_page(
        first, "tools", endless(100, fetched), "tools/list", found=lambda tools: ROUTE in tools
    )
    assert fetched == [] and cut is None
    assert listed == {"tools": [WHOAMI, ROUTE]}


async def test_a_later_page_without_its_list_of_items_is_refused_by_name() -> None:
    # MCP schema: every page of a tools/list is a ListToolsResult, whose tools are required; a
    # page without them is no page, not an empty one after which the listing goes on.
    async def fetch(cursor: str) -> tuple[dict[str, Any], int]:
        return {"nextCursor": "d"}, 20

    with pytest.raises(ServerDataRefused, match=r"^page 2 of the tools/list result has no tools \(MCP schema\)$"):
        await every_page(({"tools": [WHOAMI], "nextCursor": "c"}, 100), "tools", fetch, "tools/list")


async def test_a_listing_whose_pages_pass_the_item_cap_in_all_is_cut_off_there() -> None:
    # Pages of many small items stay under the byte cap long after the client holds more items
    # than any real listing has: the items in all are bounded too.
    fetched: list[str] = []

    async def fetch(cursor: str) -> tuple[dict[str, Any], int]:
        fetched.append(cursor)
        return {"tools": [{"name": "t"}] * 4_000, "nextCursor": f"{cursor}+"}, 40_000

    listed, cut = await every_page(({"tools": [], "nextCursor": "c"}, 100), "tools", fetch, "tools/list")
    assert len(fetched) == 3 and len(listed["tools"]) == 12_000 and "nextCursor" not in listed
    assert cut is not None and cut.startswith("tools/list goes on past 4 pages, 12000 items")
    assert f"{ITEM_CAP:,} items" in cut


async def test_a_listing_whose_answers_pass_the_byte_cap_in_all_is_cut_off_there() -> None:
    # Pages, items and bytes: one tool whose schema has 45,000 properties is one item of 445 kB,
    # and a hundred such pages were 45 MB parsed and held, in 80 s.
    fetched: list[str] = []
    first = ({"tools": [], "nextCursor": "c"}, 1_000_000)
    listed, cut = await every_page(first, "tools", endless(1_000_000, fetched), "tools/list")
    assert len(fetched) == BYTE_CAP // 1_000_000 and "nextCursor" not in listed
    assert cut == (
        "tools/list goes on past 5 pages, 4 items and 5,000,000 bytes: the client stops there, the lab client's "
        "limit (100 pages, as the MCP SDK's client; 10,000 items; 4 MB in all)"
    )


class EndlessServer(ListingServer):
    """Pages without end, each a tool whose description is half a megabyte: under the 1 MB an
    answer may have, and one item each."""

    def __init__(self) -> None:
        super().__init__({})

    async def mcp(self, request: Request) -> Response:
        message = json.loads(await request.body()) if "authorization" in request.headers else {}
        if message.get("method") == "tools/list":
            cursor = (message.get("params") or {}).get("cursor")
            n = 0 if cursor is None else int(cursor) + 1
            self.pages[cursor] = {"tools": [{"name": f"t{n}", "description": "x" * 500_000}], "nextCursor": str(n)}
        return await super().mcp(request)


async def test_step_7_stops_a_listing_at_the_byte_cap_and_says_so(lab: Lab) -> None:
    # A hundred pages of 445 kB each (one tool of 45,000 properties) took 80 s and 860 MB: the
    # client reads pages up to 4 MB in all, here 9 of half a megabyte, not a hundred.
    server = EndlessServer()
    client = await _run(lab, server, 7)
    assert len(client.records[-1].learned["tools"]) == len(server.cursors) == 9
    assert client.records[-1].notes[0].startswith("tools/list goes on past 9 pages, 9 items and 4,50")
    assert client.records[-1].notes[0].endswith("(100 pages, as the MCP SDK's client; 10,000 items; 4 MB in all)")


async def test_a_cursor_that_is_not_a_string_is_refused_naming_the_schema() -> None:
    async def fetch(cursor: str) -> tuple[dict[str, Any], int]:
        raise AssertionError("no page is asked for with a cursor that is no string")

    with pytest.raises(ServerDataRefused, match=r"nextCursor is a JSON number, not a JSON string \(MCP schema"):
        await every_page(({"tools": [], "nextCursor": 2}, 100), "tools", fetch, "tools/list")


async def test_a_tool_name_listed_twice_is_its_first_definitions_in_the_result_and_its_headers(lab: Lab) -> None:
    # Tool names SHOULD be unique (server/tools); the SDK's server checks a call's headers against
    # its first tool of the name. The second definition, whose annotation is invalid, took route's
    # Region designation away and said nothing: route's call went out unmirrored, -32020.
    copy = {"name": "route", "inputSchema": _schema(n={"type": "number", "x-mcp-header": "N"})}
    server = ListingServer({None: {"tools": [ROUTE, copy, WHOAMI]}}, checked={"route": ROUTE["inputSchema"]})
    client = await _run(lab, server, 7)
    assert client.records[-1].learned["tools"] == ["route", "whoami"]
    assert client.records[-1].notes == [
        "tool 'route' is listed more than once: the client keeps its first definition and leaves the others out "
        "(MCP server/tools: tool names SHOULD be unique)"
    ]
    assert await client.call_tool("route", {"region": "eu-west1"}) == {"structuredContent": {"sub": "alice"}}
    assert mirrored(lab) == {"Mcp-Param-Region": "eu-west1"} and server.cursors == [None]


def _properties(count: int) -> dict[str, Any]:
    return _schema(**{f"p{n}": {} for n in range(count)})  # walked: the schema, its type, each property


async def test_a_tool_whose_schema_is_past_the_walk_limit_is_left_out_and_the_step_says_why(lab: Lab) -> None:
    # Its annotations cannot all be checked, and one that breaks a constraint MUST exclude the tool
    # (Schema Extension). A hundred tools of 45,000 properties each took 39 s to walk.
    large = {"name": "large", "inputSchema": _properties(TOOL_SCHEMA_NODES - 1)}
    client = await _run(lab, ListingServer({None: {"tools": [large, WHOAMI]}}), 7)
    assert client.records[-1].learned["tools"] == ["whoami"]
    assert client.records[-1].notes == [
        "tool 'large' is left out of tools/list: its inputSchema has more than 10,000 subschemas and values, more "
        "than the lab client walks to check its x-mcp-header annotations (MCP 2026-07-28 streamable-http, Custom "
        "Headers from Tool Parameters)"
    ]
    assert designated_parameters(_properties(TOOL_SCHEMA_NODES - 2)) == {}  # 10,000 are walked


def test_the_tools_past_the_walk_limit_of_a_whole_listing_are_left_out() -> None:
    # Each of these tools walks as many subschemas and values as one tool may, and route none.
    tools = [{"name": f"t{n}", "inputSchema": _properties(TOOL_SCHEMA_NODES - 2)}
             for n in range(LISTING_SCHEMA_NODES // TOOL_SCHEMA_NODES)]  # fmt: skip
    result, designations, rejected, _ = read_tools_list({"tools": [*tools, ROUTE]})
    assert len(result["tools"]) == len(designations) == len(tools) and list(rejected) == ["route"]
    assert rejected["route"] == (
        "the tools listed before it have the 100,000 subschemas and values the lab client walks in one listing to "
        "check x-mcp-header annotations"
    )


def test_a_name_whose_first_definition_is_invalid_stays_left_out_whatever_follows() -> None:
    bad = {"name": "route", "inputSchema": _schema(n={"type": "number", "x-mcp-header": "N"})}
    result, designations, rejected, repeated = read_tools_list({"tools": [bad, ROUTE]})
    assert result["tools"] == [] and designations == {} and list(rejected) == ["route"] and repeated == ["route"]


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("plain", {"region": "\ud800"}), ("route", {"region": "\ud800"}), ("route", {"\udfff": "x"}),
     ("\ud800", {})],
    ids=["an-argument", "a-mirrored-argument", "a-key", "the-name"],
)  # fmt: skip
async def test_a_lone_surrogate_in_a_call_is_refused_by_name_before_anything_is_sent(
    tool: str, arguments: dict[str, Any]
) -> None:
    # JSON text is Unicode (RFC 8259 §8.2): a lone surrogate is no character. Sent escaped, the
    # server refused it -32700; mirrored into Mcp-Param-Region, its encoding failed in step 8 as
    # the server's "unexpected response".
    def plain(region: str) -> str:
        return region

    async with Lab() as lab:
        lab.resource_server.mcp.add_tool(route)
        lab.resource_server.mcp.add_tool(plain)
        client = (await lab.connect()).client
        sent = len(lab.trace.exchanges)
        with pytest.raises(TypeError, match=r"is a lone surrogate, no Unicode character \(RFC 8259 §8\.2\)$"):
            await client.call_tool(tool, arguments)
        assert len(lab.trace.exchanges) == sent
