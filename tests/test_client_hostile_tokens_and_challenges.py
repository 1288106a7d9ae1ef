"""Against a hostile or broken server the lab client names the step that fails and the rule broken,
and never crashes: a token response must hold a bearer token (RFC 6749 §5.1) and is never
reposted elsewhere, and the MCP server's challenges (RFC 6750 §3, MCP authorization's step-up)
are followed as far as they may be and no further."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from lab_servers import Lab, StepError
from lab_servers.client import parse_www_authenticate
from lab_servers.notebook_support import expect_failure

from .hostile_server import BASE, HOST, HostileServer, _json, _run, _tools

pytestmark = pytest.mark.anyio


# Rules the mutation audit found untested (RFC 6749 §5.1, MCP §4.2, §10.1.2) ------------------------


@pytest.mark.parametrize("token_type", ["mac", "DPoP", ""])
async def test_a_token_response_whose_token_type_is_not_bearer_fails_step_6(lab: Lab, token_type: str) -> None:
    # RFC 6749 §5.1: token_type is REQUIRED; this client presents tokens as RFC 6750 bearer tokens
    # only, so a token of another type (or of none) is not one it can use.
    token = _json({"access_token": "t", "token_type": token_type})
    with pytest.raises(StepError, match=r"^step 6 \(token\): the token response has no bearer access_token"):
        await _run(lab, HostileServer(token=token), 6)


async def test_a_null_member_of_the_token_response_is_read_as_left_out(lab: Lab) -> None:
    # RFC 6749 §5.1: scope and refresh_token are strings when present; a null is read as absent,
    # and kept out of what the client holds. Kept, `"scope": null` crashed the step-up that
    # followed a 403 insufficient_scope (None.split()), a traceback rather than a step.
    challenge = 'Bearer error="insufficient_scope", scope="notes:write"'
    token = _json({"access_token": "t", "token_type": "Bearer", "scope": None, "refresh_token": None})
    server = HostileServer(token=token, mcp=Response("{}", 403, headers={"WWW-Authenticate": challenge}))
    with pytest.raises(StepError, match=r"after 2 step-up authorizations; giving up"):
        await _run(lab, server, 7)


async def test_a_token_type_of_bearer_is_read_case_insensitively(lab: Lab) -> None:
    # RFC 6749 §5.1: the token_type value is case insensitive.
    client = await _run(lab, HostileServer(token=_json({"access_token": "t", "token_type": "BEARER"})), 7)
    assert client.state.whoami == {"sub": "alice"}


@pytest.mark.parametrize("status", [307, 308])
async def test_a_token_endpoint_redirecting_the_token_request_fails_step_6_and_nothing_is_reposted(
    lab: Lab, status: int
) -> None:
    # A 307 or 308 asks the user agent to repeat the POST, body and all, at the Location (RFC 9110
    # §15.4.8-9); for a token request that body holds the code and its PKCE verifier (and, for a
    # confidential client, its secret). RFC 9700 §4.12 forbids an AS that 307 for the user's
    # credentials; the client sends its own to the token endpoint it discovered and nowhere else.
    moved = Response(status_code=status, headers={"location": "https://collector.example/token"})
    lab.network.add_host("collector.example", "93.184.215.91", Starlette())
    with pytest.raises(StepError, match=rf"^step 6 \(token\): the token endpoint's {status} answer"):
        await _run(lab, HostileServer(token=moved), 6)
    assert not [e for e in lab.trace.exchanges if "collector.example" in e.url]


class ForbiddingServer(HostileServer):
    """An MCP server that answers a request without a token with 403, not 401."""

    async def mcp(self, request: Request) -> Response:
        if "authorization" not in request.headers:
            return Response("{}", 403, headers={"WWW-Authenticate": self.challenge})
        return await super().mcp(request)


async def test_a_server_answering_403_without_a_token_fails_step_1(lab: Lab) -> None:
    # MCP §4.2 / RFC 6750 §3.1: a request without credentials that needs authorization is answered
    # 401 with a challenge; a 403 is no invitation to authorize, and the client does not start one.
    with pytest.raises(
        StepError, match=r"^step 1 \(challenge\): expected 401 from an MCP request without a token, got 403"
    ):
        await _run(lab, ForbiddingServer(), 1)


class UnchallengingServer(HostileServer):
    """An MCP server that answers a request without a token with `first`, not a 401."""

    def __init__(self, first: Response) -> None:
        super().__init__()
        self.first = first

    async def mcp(self, request: Request) -> Response:
        return self.first if "authorization" not in request.headers else await super().mcp(request)


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (200, "got 200: the server answered without one, so it requires no authorization$"),
        (404, "got 404: no MCP endpoint or method at this URL, which says nothing about authorization$"),
        (503, r"got 503: the server failed \(RFC 9110 §15.6\), which says nothing about authorization$"),
        (405, r"got 405: not the Bearer challenge .*, so nothing says whether the server requires authorization$"),
    ],
)
async def test_only_a_2xx_to_a_request_without_a_token_says_the_server_requires_no_authorization(
    lab: Lab, status: int, said: str
) -> None:
    # MCP §4.2: a server that needs authorization answers 401 with a challenge. A request served
    # without a token is one it lets through; a 404 or a 5xx is no answer about authorization.
    body = {"jsonrpc": "2.0", "id": 1, "result": {"tools": []}} if status == 200 else {}
    with pytest.raises(StepError, match=r"^step 1 \(challenge\): expected 401 .*, " + said):
        await _run(lab, UnchallengingServer(_json(body, status)), 1)


@pytest.mark.parametrize("revision", ["2025-11-25", "2026-07-28"])
async def test_a_400_unsupported_protocol_version_to_a_request_without_a_token_names_the_versions_the_server_speaks(
    lab: Lab, revision: str
) -> None:
    # 2026-07-28 streamable-http, "Backward Compatibility": a modern error says the server speaks a
    # newer revision (-32022 lists them in data.supported), not that it requires no authorization.
    error = {"code": -32022, "message": "Unsupported protocol version", "data": {"supported": ["2026-09-30"]}}
    first = _json({"jsonrpc": "2.0", "id": 1, "error": error}, 400)
    with pytest.raises(
        StepError, match=r"^step 1 \(challenge\): expected 401 .*, got 400: the server answered -32022"
    ) as raised:
        await _run(lab, UnchallengingServer(first), 1, revision=revision)
    assert "it speaks MCP 2026-09-30" in str(raised.value)
    # A 2026-07-28 client speaks the initialize-era versions too, none of which the server lists.
    speaks = (
        "only 2025-11-25"
        if revision == "2025-11-25"
        else "2026-07-28 and, by initialize, 2025-03-26, 2025-06-18, 2025-11-25"
    )
    assert str(raised.value).endswith(f"this client speaks {speaks} (2026-07-28 basic/versioning §4)")


class VersionRefusingServer(HostileServer):
    """A server that has chosen not to support 2026-07-28 and says so as basic/versioning asks:
    -32022 with the versions it supports in data.supported; initialize-era requests as usual."""

    def __init__(self, supported: list[str], with_token_only: bool = False) -> None:
        super().__init__()
        self.supported, self.with_token_only = supported, with_token_only

    async def mcp(self, request: Request) -> Response:
        message, token = json.loads(await request.body()), "authorization" in request.headers
        if request.headers.get("mcp-protocol-version") == "2026-07-28" and (token or not self.with_token_only):
            error = {"code": -32022, "message": "Unsupported protocol version",
                     "data": {"supported": self.supported, "requested": "2026-07-28"}}  # fmt: skip
            return _json({"jsonrpc": "2.0", "id": message.get("id"), "error": error}, 400)
        if token and message["method"] == "initialize":
            result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "1"}}
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": result})
        if token and "id" not in message:
            return Response(status_code=202)  # notifications/initialized
        return await super().mcp(request)


@pytest.mark.parametrize("with_token_only", [False, True], ids=["step-1", "step-7"])
async def test_a_minus_32022_listing_a_version_the_client_speaks_by_initialize_is_answered_in_that_era(
    lab: Lab, with_token_only: bool
) -> None:
    # basic/versioning: "The client SHOULD select a mutually supported version from the supported
    # list and retry the request". For a 2026-07-28 client, 2025-11-25 is initialize's; it was
    # told that the server speaks 2025-11-25 "(no initialize; ...)" and it "only 2026-07-28".
    client = await _run(lab, VersionRefusingServer(["2025-11-25"], with_token_only), 7, revision="2026-07-28")
    fell_back = client.records[6 if with_token_only else 0]
    assert client.state.era == "legacy" and client.state.protocol_version == "2025-11-25"
    assert fell_back.notes == [
        "the server answered -32022 and supports MCP 2025-11-25, which this client speaks by initialize: falling "
        "back to initialize (2026-07-28 basic/versioning: the client SHOULD select a mutually supported version and "
        "retry)"
    ]
    assert client.state.whoami == {"sub": "alice"}


# A -32022's data.supported is the server's words: a 500 kB entry went whole into the step's
# error, its record and expect_failure's printed line (error_text.told bounds it, as the message).
HUGE_VERSION = "2026-09-30 " + "9" * 500_000
UNSUPPORTED = {"code": -32022, "message": "Unsupported protocol version", "data": {"supported": [HUGE_VERSION]}}


async def test_the_versions_a_400_to_a_request_without_a_token_lists_are_quoted_within_bounds(lab: Lab) -> None:
    lab.network.add_host(
        HOST, "93.184.215.90", UnchallengingServer(_json({"jsonrpc": "2.0", "id": 1, "error": UNSUPPORTED}, 400)).app()
    )
    client = lab.client("dcr", revision="2025-11-25")
    client.mcp_url = f"{BASE}/mcp"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        raised = await expect_failure(client.next_step())
    assert re.match(r"step 1 \(challenge\): .*it speaks MCP 2026-09-30 9+ \[\.\.\.\] 9+ \(no initialize", str(raised))
    assert (
        len(str(raised)) < 1000 and len(client.records[-1].learned["error"]) < 1000 and len(printed.getvalue()) < 1000
    )


async def test_the_versions_a_modern_server_lists_to_a_legacy_clients_step_7_are_quoted_within_bounds(lab: Lab) -> None:
    server = HostileServer()
    client = await _run(lab, server, 6, revision="2025-11-25")
    server.answers["mcp"] = lambda m: _json({"jsonrpc": "2.0", "id": m["id"], "error": UNSUPPORTED}, 400)
    with pytest.raises(StepError, match=r"^step 7 \(mcp\): .*it speaks MCP 2026-09-30 9+ \[\.\.\.\] 9+ \(") as raised:
        await client.next_step()
    assert len(str(raised.value)) < 1000 and len(client.records[-1].learned["error"]) < 1000


@pytest.mark.parametrize("with_token_only", [False, True], ids=["step-1", "step-7"])
async def test_the_fallback_names_each_version_both_speak_once_however_often_the_server_lists_it(
    lab: Lab, with_token_only: bool
) -> None:
    # A data.supported that repeats 2025-11-25 70,000 times went whole into the note: 840 kB, in
    # the step card too. The note names the client's own versions the list names, each once.
    supported = ["2025-11-25", "2027-01-01", "2025-06-18"] * 20_000
    client = await _run(lab, VersionRefusingServer(supported, with_token_only), 7, revision="2026-07-28")
    fell_back = client.records[6 if with_token_only else 0]
    assert fell_back.notes == [
        "the server answered -32022 and supports MCP 2025-06-18, 2025-11-25, which this client speaks by initialize: "
        "falling back to initialize (2026-07-28 basic/versioning: the client SHOULD select a mutually supported "
        "version and retry)"
    ]


class FlippingServer(HostileServer):
    """A server that answers a 2026-07-28 request with a legacy 400 and an initialize with -32022
    listing 2026-07-28 alone: the client falls back to initialize, and is refused there too."""

    def __init__(self, with_token_only: bool) -> None:
        super().__init__()
        self.with_token_only = with_token_only

    async def mcp(self, request: Request) -> Response:
        if self.with_token_only and "authorization" not in request.headers:
            return await super().mcp(request)
        message = json.loads(await request.body())
        if message.get("method") == "initialize":
            error = {"code": -32022, "message": "Unsupported protocol version",
                     "data": {"supported": ["2026-07-28"], "requested": "2025-11-25"}}  # fmt: skip
            return _json({"jsonrpc": "2.0", "id": message["id"], "error": error}, 400)
        return Response("Bad Request: No valid session ID provided", 400, media_type="text/plain")


@pytest.mark.parametrize(("with_token_only", "step"), [(False, r"1 \(challenge\)"), (True, r"7 \(mcp\)")],
                         ids=["step-1", "step-7"])  # fmt: skip
async def test_a_2026_07_28_client_refused_at_the_initialize_it_fell_back_to_is_told_every_version_it_speaks(
    lab: Lab, with_token_only: bool, step: str
) -> None:
    # Step 7 said the client "speaks only 2025-11-25", the version its initialize offered; it
    # speaks 2026-07-28 too, which the server lists: versioning §4 says both sides, as step 1 does.
    with pytest.raises(
        StepError, match=rf"^step {step}: .*the server answered -32022 .*it speaks MCP 2026-07-28"
    ) as raised:
        await _run(lab, FlippingServer(with_token_only), 7, revision="2026-07-28")
    assert str(raised.value).endswith(
        "this client speaks 2026-07-28 and, by initialize, 2025-03-26, 2025-06-18, 2025-11-25 "
        "(2026-07-28 basic/versioning §4)"
    )


async def test_the_client_gives_up_after_two_step_ups(lab: Lab) -> None:
    # MCP §10.1.2: clients SHOULD cap step-up retries; two step-ups make three authorizations.
    challenge = 'Bearer error="insufficient_scope", scope="notes:write"'
    server = HostileServer(mcp=Response("{}", 403, headers={"WWW-Authenticate": challenge}))
    with pytest.raises(StepError, match=r"after 2 step-up authorizations; giving up \(MCP §10.1.2\)"):
        await _run(lab, server, 7)
    assert len(server.seen) == 3  # the first authorization and two step-ups


async def test_a_step_ups_explanation_quotes_the_challenged_scope_within_bounds(lab: Lab) -> None:
    # The scope is the server's words (error_text.told): a 400 kB challenged scope went whole into
    # step 10's explanation, and its card was 1.5 MB.
    server = HostileServer()
    client = await _run(lab, server, 7)
    scope = " ".join(f"s{i}" for i in range(60_000))
    challenge = f'Bearer error="insufficient_scope", scope="{scope}"'
    server.answers["mcp"] = lambda m: Response("{}", 403, headers={"WWW-Authenticate": challenge})
    with pytest.raises(StepError):
        await client.call_tool("whoami")
    (step_up,) = [r for r in client.records if r.number == 10]
    assert step_up.explanation.startswith("tools/call was refused with 403 insufficient_scope naming s0 s1 s10 ")
    assert " [...] " in step_up.explanation and len(step_up.explanation) < 1000


async def test_a_step_up_that_went_through_resets_the_operations_count(lab: Lab) -> None:
    # MCP authorization, step-up: clients track scope upgrade attempts "to avoid repeated failures
    # for the same resource and operation combination"; an attempt that succeeded is no failure.
    # A server that challenges every other tools/call is stepped up for each call, not given up on
    # at the third.
    challenge = 'Bearer error="insufficient_scope", scope="notes:write"'
    answered = _tools({"structuredContent": {"sub": "alice"}})
    calls = 0

    def every_other_call_challenged(message: dict[str, object]) -> Response:
        nonlocal calls
        if message["method"] == "tools/call":
            calls += 1
            if calls % 2:
                return Response("{}", 403, headers={"WWW-Authenticate": challenge})
        return answered(message)

    server = HostileServer(mcp=every_other_call_challenged)
    client = await _run(lab, server, 7)  # step 7's call: challenged, stepped up, answered
    for _ in range(2):
        assert (await client.call_tool("whoami"))["structuredContent"] == {"sub": "alice"}
    assert len(server.seen) == 4  # the first authorization and one step-up for each of three calls


async def test_a_refresh_answered_without_a_new_refresh_token_keeps_the_old_one(lab: Lab) -> None:
    # OAuth 2.1 §4.3.2 (RFC 6749 §6): the AS MAY issue a new refresh token; when it does not, the
    # client keeps using the one it has.
    answers = iter([
        _json({"access_token": "a1", "token_type": "Bearer", "refresh_token": "r1"}),
        _json({"access_token": "a2", "token_type": "Bearer"}),
    ])  # fmt: skip
    client = await _run(lab, HostileServer(token=lambda request: next(answers)), 6)
    await client.refresh()
    assert client.state.tokens["access_token"] == "a2" and client.state.tokens["refresh_token"] == "r1"


def test_a_repeated_challenge_parameter_keeps_its_first_value() -> None:
    # RFC 6750 §3: auth-params MUST NOT appear more than once; a second resource_metadata (say,
    # appended by something on the way) does not replace the one the server sent first.
    header = 'Bearer resource_metadata="https://a.example/prm", resource_metadata="https://evil.example/prm"'
    (challenge,) = parse_www_authenticate(header)
    assert challenge.params["resource_metadata"] == "https://a.example/prm"
    assert challenge.repeated == ["resource_metadata"] and challenge.malformed is None


async def test_the_discovery_step_says_when_a_challenge_repeats_a_parameter(lab: Lab) -> None:
    # The first value is followed, and the learner is told the server broke the rule (it went unsaid).
    server = HostileServer()
    prm = f"{BASE}/.well-known/oauth-protected-resource/mcp"
    server.challenge = f'Bearer scope="notes:read", resource_metadata="{prm}", scope="x", resource_metadata="{prm}x"'
    client = await _run(lab, server, 2)
    first, second = client.records[:2]
    assert first.learned["resource_metadata"] == prm and first.learned["scope"] == "notes:read"
    assert first.notes == [
        "the Bearer challenge repeats resource_metadata, scope, which RFC 6750 §3 forbids; "
        "the client reads the first value of each"
    ]
    assert [e.url for e in second.exchanges] == [prm]


async def test_the_discovery_step_quotes_the_parameters_a_challenge_repeats_within_bounds(lab: Lab) -> None:
    # The names are the server's words (error_text.told), as step 5's repeated redirect parameters
    # are: 30,000 repeated names made a 229 kB note and an 815 kB step card.
    server = HostileServer()
    server.challenge += ", " + ", ".join(f"p{i}=x, p{i}=x" for i in range(30_000))
    client = await _run(lab, server, 1)
    (note,) = client.records[0].notes
    assert note.startswith("the Bearer challenge repeats p0, p1, p10, p100, ") and " [...] " in note
    assert note.endswith(", which RFC 6750 §3 forbids; the client reads the first value of each") and len(note) < 1000


@pytest.mark.parametrize(
    ("revision", "asked"),
    [
        pytest.param(None, "notes:read notes:write profile:read", id="2026-07-28-union"),
        pytest.param("2025-11-25", "notes:write", id="2025-11-25-challenge-alone"),
    ],
)
async def test_a_step_up_asks_for_what_it_holds_and_what_the_challenge_names(
    lab: Lab, revision: str | None, asked: str
) -> None:
    # 2026-07-28 §11.1.1 (SEP-2350): the challenge names this operation's scopes only, so the
    # client asks for the union of those and the scopes it already holds, or the step-up loses
    # them; before, the server accumulated and the client asked for the challenge's scope alone.
    token = _json({"access_token": "t", "token_type": "Bearer", "scope": "notes:read profile:read"})
    challenge = 'Bearer error="insufficient_scope", scope="notes:write"'
    server = HostileServer(token=token, mcp=Response("{}", 403, headers={"WWW-Authenticate": challenge}))
    with pytest.raises(StepError, match="giving up"):
        await _run(lab, server, 7, revision=revision)
    assert dict(parse_qsl(urlsplit(server.seen[1]).query))["scope"] == asked


async def test_a_2025_06_18_client_fetches_only_the_metadata_url_the_challenge_names(lab: Lab) -> None:
    # 2025-06-18 §2.3.2: a client MUST use the resource_metadata URL from the WWW-Authenticate
    # header when there is one; the well-known probe came later, for when the header names none.
    server = HostileServer()
    server.challenge = f'Bearer resource_metadata="{BASE}/not-here"'
    lab.network.add_host(HOST, "93.184.215.90", server.app())
    client = lab.client("dcr", revision="2025-06-18")
    client.mcp_url = f"{BASE}/mcp"
    await client.next_step()
    with pytest.raises(StepError, match=r"^step 2 \(resource-metadata\)"):
        await client.next_step()
    assert [e.url for e in client.records[1].exchanges] == [f"{BASE}/not-here"]


class OpenStreamServer(HostileServer):
    """An MCP server that answers each request with an event stream it keeps open: the response
    event at once, then a comment every tenth of a second, for ever."""

    async def mcp(self, request: Request) -> Response:
        if "authorization" not in request.headers:
            return await super().mcp(request)
        message = json.loads(await request.body())
        result = (
            {"tools": [{"name": "whoami"}]}
            if message["method"] == "tools/list"
            else {"structuredContent": {"sub": "alice"}}
        )

        async def stream() -> AsyncIterator[bytes]:
            yield f"event: message\ndata: {json.dumps({'jsonrpc': '2.0', 'id': message['id'], 'result': result})}\n\n".encode()
            while True:
                await anyio.sleep(0.1)
                yield b": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")


async def test_a_response_in_a_stream_the_server_keeps_open_is_read_as_it_arrives(lab: Lab) -> None:
    # MCP Streamable HTTP: after the response the server "SHOULD" close the stream, so it may not.
    # Read to its end, step 7 never finished: each comment restarted httpx's read timeout.
    with anyio.fail_after(10):
        client = await _run(lab, OpenStreamServer(), 7)
    assert client.state.whoami == {"sub": "alice"}
