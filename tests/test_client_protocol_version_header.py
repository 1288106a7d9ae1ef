"""What an initialize opens, and the lab client carries on every request after it: the version it
negotiated (MCP lifecycle, Version Negotiation), in MCP-Protocol-Version from 2025-06-18 (2025-03-26
had no such header, and an initialize negotiates anew, so it carries none from an earlier one);
and the session the server assigned, in Mcp-Session-Id (Streamable HTTP, Session Management,
2025-03-26 to 2025-11-25; 2026-07-28 has no sessions)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import Response

from lab_servers import Lab
from lab_servers.client import StepError
from lab_servers.client.server_data import ServerDataRefused
from lab_servers.client.streamable_http import session_id

from .hostile_server import HostileServer, _json, _run

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


class SessionServer(HostileServer):
    """An initialize-era MCP server that answers initialize with `version` (None: the one asked
    for) and Mcp-Session-Id `ids` (by default one, "sess-1", "sess-2", … a new one each time),
    and a request without the session 400 (Session Management, point 2). A request in a session
    of `ended`, or of method `end_at`, is answered 404: the server ended that session (point 3).
    `open_initialize`: initialize and notifications need no token (step 1 gets through them)."""

    def __init__(self, version: str | None = None, ids: list[str] | None = None, open_initialize: bool = False) -> None:
        super().__init__()
        self.version, self.ids, self.open_initialize = version, ids, open_initialize
        self.ended: tuple[str, ...] = ()
        self.end_at: str | None = None  # a method that ends the session it comes in (then 404)
        self.opened = 0

    async def mcp(self, request: Request) -> Response:
        message = json.loads(await request.body())
        method, session = message.get("method"), request.headers.get("mcp-session-id")
        if "authorization" not in request.headers and not (self.open_initialize and method != "tools/list"):
            return Response("{}", 401, headers={"WWW-Authenticate": self.challenge})
        if session in self.ended or (session is not None and method == self.end_at):
            return Response(status_code=404)
        if session is None and method != "initialize" and "authorization" in request.headers:
            # "Servers that require a session ID SHOULD respond to requests without an
            # Mcp-Session-Id header (other than initialization) with HTTP 400 Bad Request."
            return Response("Bad Request: Missing session ID", 400, media_type="text/plain")
        if method == "initialize":
            self.opened += 1
            version = message["params"]["protocolVersion"] if self.version is None else self.version
            result = {"protocolVersion": version, "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}
            ids = self.ids if self.ids is not None else [f"sess-{self.opened}"]
            answer = _json({"jsonrpc": "2.0", "id": message["id"], "result": result})
            answer.raw_headers += [(b"mcp-session-id", value.encode("latin-1")) for value in ids]
            return answer
        if "id" not in message:
            return Response(status_code=202)
        if method == "tools/list":
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [{"name": "whoami"}]}})
        return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"structuredContent": {"sub": "alice"}}})


def _carried(lab: Lab, header: str = "mcp-session-id") -> list[tuple[str, str | None]]:
    """Each request to the MCP server: its method and its Mcp-Session-Id (or `header`)."""
    return [
        (json.loads(e.request_body).get("method"), e.request_header(header))
        for e in lab.trace.exchanges
        if e.path == "/mcp" and e.request_body
    ]


@pytest.mark.parametrize("revision", ["2025-03-26", "2025-06-18", "2025-11-25"])
async def test_a_session_the_server_assigns_at_initialize_is_named_on_every_later_request(
    lab: Lab, revision: str
) -> None:
    # Session Management: "If an Mcp-Session-Id is returned by the server during initialization,
    # clients ... MUST include it in the Mcp-Session-Id header on all of their subsequent HTTP requests."
    client = await _run(lab, SessionServer(), 7, revision=revision)
    assert client.state.whoami == {"sub": "alice"} and client.records[-1].learned["session_id"] == "sess-1"
    assert _carried(lab)[-4:] == [("initialize", None), ("notifications/initialized", "sess-1"),
                                   ("tools/list", "sess-1"), ("tools/call", "sess-1")]  # fmt: skip
    await client.call_tool("whoami")
    assert _carried(lab)[-1] == ("tools/call", "sess-1")


async def test_a_new_initialize_starts_a_new_session_without_the_old_id(lab: Lab) -> None:
    client = await _run(lab, SessionServer(), 7, revision="2025-11-25")
    await client.call_mcp()  # step 7 again: a new initialize
    assert _carried(lab)[-4:] == [("initialize", None), ("notifications/initialized", "sess-2"),
                                   ("tools/list", "sess-2"), ("tools/call", "sess-2")]  # fmt: skip


async def test_the_requests_after_an_initialize_let_through_without_a_token_name_its_session(lab: Lab) -> None:
    # Step 1 goes on without a token until the first 401; the session is one from initialize on.
    await _run(lab, SessionServer(open_initialize=True), 1, revision="2025-11-25")
    assert _carried(lab) == [("initialize", None), ("notifications/initialized", "sess-1"), ("tools/list", "sess-1")]


async def test_a_2026_07_28_client_names_no_session(lab: Lab) -> None:
    # 2026-07-28 has no sessions (no initialize, SEP-2575): an Mcp-Session-Id a server sends anyway
    # goes back nowhere.
    def respond(message: dict[str, Any]) -> Response:
        answer = _json({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [{"name": "whoami"}]}
                        if message["method"] == "tools/list" else {"structuredContent": {"sub": "alice"}}})  # fmt: skip
        answer.raw_headers.append((b"mcp-session-id", b"sess-1"))
        return answer

    client = await _run(lab, HostileServer(mcp=respond), 7, revision="2026-07-28")
    await client.call_tool("whoami")
    assert client.state.era == "modern" and {session for _, session in _carried(lab)} == {None}


async def test_a_404_to_a_request_in_a_session_starts_a_new_one_and_sends_the_request_again(lab: Lab) -> None:
    # Session Management: "When a client receives HTTP 404 in response to a request containing an
    # Mcp-Session-Id, it MUST start a new session by sending a new InitializeRequest without a
    # session ID attached."
    server = SessionServer()
    client = await _run(lab, server, 7, revision="2025-11-25")
    server.ended = ("sess-1",)
    assert await client.call_tool("whoami") == {"structuredContent": {"sub": "alice"}}
    assert _carried(lab)[-4:] == [("tools/call", "sess-1"), ("initialize", None),
                                   ("notifications/initialized", "sess-2"), ("tools/call", "sess-2")]  # fmt: skip


async def test_a_server_that_ends_the_new_session_too_fails_the_call_naming_session_management(lab: Lab) -> None:
    server = SessionServer()
    client = await _run(lab, server, 7, revision="2025-11-25")
    server.end_at = "tools/call"
    with pytest.raises(StepError, match=r"tools/call answered 404 in a new session too: .*\(MCP Streamable HTTP, "
                                        r"Session Management\)$"):  # fmt: skip
        await client.call_tool("whoami")
    assert [method for method, _ in _carried(lab)].count("initialize") == 3  # step 7's, and one new session


async def test_calls_made_at_once_that_find_the_session_ended_go_on_in_one_new_session(lab: Lab) -> None:
    # Session Management, point 3, for calls in flight together: the first 404 starts the new
    # session; the others, and a call sent while its initialize is out, wait for it and send again
    # in it. The others went out again at once with no session, and the server answered 400.
    class Watched(SessionServer):
        initializing = asyncio.Event()

        async def mcp(self, request: Request) -> Response:
            if json.loads(await request.body()).get("method") == "initialize" and self.opened:
                self.initializing.set()
            return await super().mcp(request)

    server = Watched()
    client = await _run(lab, server, 7, revision="2025-11-25")
    server.ended = ("sess-1",)

    async def sent_while_the_new_session_starts() -> dict[str, Any]:
        await server.initializing.wait()
        return await client.call_tool("whoami")

    calls = [client.call_tool("whoami"), client.call_tool("whoami"), sent_while_the_new_session_starts()]
    assert await asyncio.gather(*calls) == [{"structuredContent": {"sub": "alice"}}] * 3
    assert _carried(lab)[-9:] == [("tools/call", "sess-1")] * 3 + [
        ("initialize", None), ("tools/call", "sess-1"),  # the one sent meanwhile, 404 too
        ("notifications/initialized", "sess-2"),
    ] + [("tools/call", "sess-2")] * 3  # fmt: skip
    assert server.opened == 2


async def test_a_404_to_notifications_initialized_starts_a_new_session(lab: Lab) -> None:
    # Session Management: "When a client receives HTTP 404 in response to a request containing an
    # Mcp-Session-Id, it MUST start a new session", notifications/initialized as any other.
    server = SessionServer()
    server.ended = ("sess-1",)  # ended as soon as it opened
    client = await _run(lab, server, 7, revision="2025-11-25")
    assert client.state.session_id == "sess-2" and client.state.whoami == {"sub": "alice"}
    assert _carried(lab)[-6:] == [("initialize", None), ("notifications/initialized", "sess-1"), ("initialize", None),
                                   ("notifications/initialized", "sess-2"), ("tools/list", "sess-2"),
                                   ("tools/call", "sess-2")]  # fmt: skip


async def test_a_404_to_notifications_initialized_in_the_new_session_too_fails_naming_session_management(
    lab: Lab,
) -> None:
    server = SessionServer()
    server.end_at = "notifications/initialized"
    with pytest.raises(StepError, match=r"notifications/initialized answered 404 in a new session too: .*\(MCP "
                                        r"Streamable HTTP, Session Management\)$"):  # fmt: skip
        await _run(lab, server, 7, revision="2025-11-25")
    assert [method for method, _ in _carried(lab)].count("initialize") == 3  # step 1's, step 7's and one more


class StatefulSdkServer(HostileServer):
    """The official SDK's MCPServer keeping sessions (`stateless_http=False`, the SDK's default;
    the lab's own MCP server is stateless), answering in an event stream (its default) or with
    `json_response`, behind the hostile server's AS. It keeps the session an initialize opened
    only once that request's app has returned (`_serve_opening_request`)."""

    def __init__(self, json_response: bool) -> None:
        super().__init__()
        server = MCPServer("stateful-sdk")

        @server.tool()
        def whoami() -> dict[str, str]:
            """Who the caller is."""
            return {"sub": "alice"}

        self.sdk = server.streamable_http_app(
            streamable_http_path="/mcp", stateless_http=False, json_response=json_response,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )  # fmt: skip

    def app(self) -> Any:
        others = super().app()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            with_token = scope["type"] == "http" and any(name == b"authorization" for name, _ in scope["headers"])
            await (self.sdk if with_token and scope["path"] == "/mcp" else others)(scope, receive, send)

        return app


@pytest.mark.parametrize("json_response", [False, True], ids=["event-stream", "json"])
@pytest.mark.parametrize("revision", ["2025-03-26", "2025-06-18", "2025-11-25"])
async def test_the_lab_client_keeps_a_session_with_the_official_sdks_stateful_server_in_process(
    lab: Lab, revision: str, json_response: bool
) -> None:
    # The lab network serves an app as uvicorn does: an app whose answer its client has read (whole,
    # or, from an event stream, up to the response) runs to its end. Cancelled there, the SDK
    # discarded the session its initialize had opened, and answered notifications/initialized 404.
    server = StatefulSdkServer(json_response)
    async with server.sdk.router.lifespan_context(server.sdk):
        client = await _run(lab, server, 7, revision=revision)
        assert (await client.call_tool("whoami"))["isError"] is False
    session = client.state.session_id
    assert session is not None and client.state.whoami == {"sub": "alice"}
    assert _carried(lab)[-5:] == [("initialize", None), ("notifications/initialized", session), ("tools/list", session),
                                   ("tools/call", session), ("tools/call", session)]  # fmt: skip


@pytest.mark.parametrize(
    "ids",
    [["sess 1"], ["sess-1\tX"], [""], ["caf\xe9"], ["sess-1\x7f"], ["sess-1", "sess-2"]],
    ids=["space", "tab", "empty", "latin-1", "del", "two-fields"],
)
async def test_a_session_id_that_is_not_one_visible_ascii_string_is_refused_naming_the_rule(
    lab: Lab, ids: list[str]
) -> None:
    # Session Management: "The session ID MUST only contain visible ASCII characters (ranging from
    # 0x21 to 0x7E)"; it would go back in a header on every request. One field (RFC 9110 §5.3).
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): .*(Session Management|RFC 9110 §5\.3)"):
        await _run(lab, SessionServer(ids=ids), 7, revision="2025-11-25")
    assert _carried(lab)[-1] == ("initialize", None)  # nothing sent after it


@pytest.mark.parametrize("value", ["sess-1\r\nX-Injected: 1", "sess-1\n", "\x00"])
def test_a_session_id_with_a_line_end_or_a_control_character_is_refused(value: str) -> None:
    # The lab network refuses such a field before it reaches the client; a server on a socket may not.
    answer = httpx.Response(200, headers=[(b"mcp-session-id", value.encode())])
    with pytest.raises(ServerDataRefused, match=r"visible ASCII characters, 0x21 to 0x7E\)$"):
        session_id(answer)


@pytest.mark.parametrize(
    ("revision", "answered", "header"),
    [("2025-11-25", "2025-06-18", "2025-06-18"), ("2025-11-25", "2025-03-26", None),
     ("2026-07-28", "2025-06-18", "2025-06-18")],  # a 2026-07-28 client falling back to initialize
    ids=["older", "2025-03-26", "fallback"],
)  # fmt: skip
async def test_the_client_goes_on_in_an_older_version_the_server_answers_when_it_speaks_it(
    lab: Lab, revision: str, answered: str, header: str | None
) -> None:
    # MCP lifecycle, Version Negotiation: a server that does not support the version asked for
    # "MUST respond with another protocol version it supports".
    client = await _run(lab, SessionServer(version=answered), 7, revision=revision)
    assert client.state.protocol_version == answered and client.state.era == "legacy"
    assert _carried(lab, "mcp-protocol-version")[-3:] == [
        ("notifications/initialized", header), ("tools/list", header), ("tools/call", header)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("revision", "answered"),
    [("2025-06-18", "2025-11-25"), ("2025-06-18", "2026-07-28"), ("2025-03-26", "2025-06-18"),
     ("2025-11-25", "2024-11-05"), ("2025-11-25", "1999-01-01"), ("2025-11-25", "2025-11-25\r\nX-Injected: 1"),
     ("2025-11-25", "2025-11-25\u2603"), ("2025-11-25", "x" * 2000), ("2025-11-25", "")],
    ids=["newer", "modern", "newer-than-2025-03-26", "http-with-sse", "unknown", "line-end", "non-ascii", "long",
         "empty"],
)  # fmt: skip
async def test_a_version_the_client_does_not_speak_fails_step_7_naming_version_negotiation(
    lab: Lab, revision: str, answered: str
) -> None:
    # MCP lifecycle, Version Negotiation: "If the client does not support the version in the
    # server's response, it SHOULD disconnect"; and the version never reaches a header.
    rule = "Version Negotiation" if answered else r"the initialize result has no protocolVersion \(MCP lifecycle\)"
    with pytest.raises(StepError, match=rf"^step 7 \(mcp\): .*{rule}"):
        await _run(lab, SessionServer(version=answered), 7, revision=revision)
    assert _carried(lab)[-1] == ("initialize", None)  # disconnected: nothing sent after it


async def test_a_version_the_client_does_not_speak_at_an_initialize_let_through_fails_step_1(lab: Lab) -> None:
    with pytest.raises(StepError, match=r"^step 1 \(challenge\): .*'1999-01-01'.*Version Negotiation"):
        await _run(lab, SessionServer(version="1999-01-01", open_initialize=True), 1, revision="2025-11-25")
    assert _carried(lab) == [("initialize", None)]


class EndingUnauthorized(SessionServer):
    """A SessionServer with `open_initialize` that answers step 1's tools/list, in a session of
    `ended`, 404: it ended the session between the notification and the request."""

    def __init__(self) -> None:
        super().__init__(open_initialize=True)

    async def mcp(self, request: Request) -> Response:
        method = json.loads(await request.body()).get("method")
        if method == "tools/list" and request.headers.get("mcp-session-id") in self.ended:
            return Response(status_code=404)
        return await super().mcp(request)


async def test_a_404_in_the_session_step_1_opened_starts_a_new_session_there_too(lab: Lab) -> None:
    # Session Management: "When a client receives HTTP 404 in response to a request containing an
    # Mcp-Session-Id, it MUST start a new session". Step 1 read that 404 as "no MCP endpoint or
    # method at this URL", at the URL that had just served its initialize.
    server = EndingUnauthorized()
    server.ended = ("sess-1",)
    client = await _run(lab, server, 1, revision="2025-11-25")
    assert _carried(lab) == [("initialize", None), ("notifications/initialized", "sess-1"), ("tools/list", "sess-1"),
                             ("initialize", None), ("notifications/initialized", "sess-2"), ("tools/list", "sess-2")]  # fmt: skip
    assert client.records[0].notes == [
        "the server answered 404 in the session its initialize opened: the session ended, and the client starts a "
        "new one (MCP Streamable HTTP, Session Management)"
    ]


async def test_a_server_that_ends_step_1s_new_session_too_fails_it_saying_the_sessions_ended(lab: Lab) -> None:
    server = EndingUnauthorized()
    server.ended = ("sess-1", "sess-2")
    with pytest.raises(StepError, match=r"^step 1 \(challenge\): .*got 404: the server ended the session its "
                                        r"initialize opened, and the new one too \(MCP Streamable HTTP, Session "
                                        r"Management\), which says nothing about authorization$"):  # fmt: skip
        await _run(lab, server, 1, revision="2025-11-25")
    assert [method for method, _ in _carried(lab)].count("initialize") == 2
