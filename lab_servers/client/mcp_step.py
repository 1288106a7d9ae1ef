"""Step 7: MCP with the token (MCP §9); later tool calls; and what a refusal sets off: refresh on 401
`invalid_token`, step-up on 403 `insufficient_scope` (MCP §10.1)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import httpx

from ..arguments import wrong_type
from ..error_text import told
from ..revisions import HEADER_MISMATCH
from ..trace import current_step
from .base import StepRun
from .no_user_steps import NoUserSteps
from .pagination import Page, every_page
from .records import StepRecord
from .refresh_step import RefreshStep
from .revisions import initialize_fallback, modern_error
from .server_data import ServerDataRefused, member, server_json, shown
from .step_up import StepUpStep
from .streamable_http import json_rpc_response
from .tool_parameter_headers import RULE as PARAM_HEADERS_RULE
from .tool_parameter_headers import read_tools_list
from .www_authenticate import Challenge, bearer_challenge

# MCP §10.1.2: cap step-up retries. Two step-ups make three authorizations with the first one,
# the most the conformance suite's auth/scope-retry-limit accepts.
MAX_STEP_UPS = 2
# The MCP schema (schema.ts): every result, serverInfo, a tool and a tool call's content are
# JSON objects; a tool's name, a text content's text and protocolVersion are strings.
_SCHEMA = "MCP schema"


def _operation(message: dict[str, Any]) -> str:
    """What MCP §10.1.2 tracks step-up attempts by: the method, and the tool (or resource) it names."""
    params = message.get("params") or {}
    target = params.get("name") or params.get("uri")
    return f"{message['method']} {target}" if isinstance(target, str) else str(message["method"])


def _tool_names(listed: dict[str, Any]) -> list[str]:
    tools = member(listed, "tools", list, "the tools/list result's", rule=_SCHEMA)
    if tools is None:
        raise ServerDataRefused("the tools/list result has no tools (MCP schema: ListToolsResult)")
    names = []
    for tool in tools:
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise ServerDataRefused(
                "a tool in the tools/list result is not an object with a string name (MCP schema: Tool)"
            )
        names.append(tool["name"])
    return names


def _lists(tools: list[Any], name: str) -> bool:
    """Whether a page of tools/list lists the tool `name`."""
    return any(isinstance(tool, dict) and tool.get("name") == name for tool in tools)


def _shown_content(result: dict[str, Any]) -> dict[str, Any] | None:
    """What a tool call answered, as the step shows it: its structuredContent, else its first
    content item's text, read as a JSON object when it is one (whoami's is) and as text otherwise."""
    structured = member(result, "structuredContent", dict, "the tools/call result's", rule=_SCHEMA)
    items = member(result, "content", list, "the tools/call result's", rule=_SCHEMA)
    if structured is not None or not items:
        return structured
    if not isinstance(items[0], dict):
        raise ServerDataRefused(
            "the tools/call result's first content item is not a JSON object (MCP schema: ContentBlock)"
        )
    text = member(items[0], "text", str, "the first content item's", rule=_SCHEMA) or ""
    if text.startswith("{"):
        try:
            return server_json(text, "the tool's text content", rule=_SCHEMA)
        except ServerDataRefused:
            pass  # MCP asks no JSON of a text content: text that is not a JSON object shows as text
    return {"text": text}


class McpStep(RefreshStep, StepUpStep, NoUserSteps):
    # Step 7 ----------------------------------------------------------------------------------

    async def call_mcp(self) -> StepRecord:
        with self._step(7) as step:
            token = await self._held_token(step)
            server_info: dict[str, Any] = {}
            listed: dict[str, Any] | None = None
            if self.state.era == "modern":
                # 2026-07-28: no initialize (SEP-2575). The first request is the real one; a legacy
                # server answers it with a 400 that is not a modern error, and a server that speaks
                # an initialize-era version this client does too may list it in a -32022: fall back
                # (versioning §4).
                message = self._request("tools/list", {})
                response = await self._post_mcp(message, token)
                fallback = initialize_fallback(
                    response, self.spoken_versions,
                    "the server answered a modern request with a legacy 400: falling back to initialize (versioning §4)",
                )  # fmt: skip
                if fallback:
                    step.notes.append(fallback)
                    self.state.era = "legacy"
                else:
                    listed = await self._list_tools(step.notes, message, first=response)
                    self.state.protocol_version = self.revision.version
                    meta = member(listed, "_meta", dict, "tools/list result's", rule=_SCHEMA) or {}
                    server_info = (
                        member(meta, "io.modelcontextprotocol/serverInfo", dict, "_meta's", rule=_SCHEMA) or {}
                    )
            if self.state.era == "legacy":
                server_info = await self._initialize()
            if listed is None:
                listed = await self._list_tools(step.notes)
            tools = _tool_names(listed)
            for left_out, why in self.state.rejected_tools.items():
                step.notes.append(f"tool {shown(left_out)} is left out of tools/list: {why} ({PARAM_HEADERS_RULE})")
            name = self.tool or (tools[0] if tools else None)
            if name is None:
                raise step.fail("the server lists no tools to call")
            result = await self.call_tool(name)
            content = _shown_content(result)
            self.state.whoami = content
            step.learned.update(server=server_info.get("name"), protocol_version=self.state.protocol_version,
                                era=self.state.era, tools=tools, whoami=content)  # fmt: skip
            if self.state.session_id is not None:
                step.learned["session_id"] = self.state.session_id
            mirrored = {tool: sorted(f"Mcp-Param-{name}" for name in designated.values())
                        for tool, designated in self.state.tool_headers.items() if designated}  # fmt: skip
            if mirrored:  # what each call of these tools will carry in headers too
                step.learned["param_headers"] = mirrored
            step.explanation = (
                "Every MCP request carries Authorization: Bearer (MCP §9.1). The server validates the token's "
                "signature, issuer, audience and expiry, and whoami reports the caller as the token says."
            )
        return self.records[-1]

    async def _initialize(self) -> dict[str, Any]:
        """A new session (MCP lifecycle, Initialization): initialize, whose answer `_rpc` reads for
        the version it negotiated and the session it opened, then notifications/initialized.
        Returns the server's serverInfo. A 404 to the notification, in the session just opened, is
        answered as Session Management says of any request carrying a session: with a new session,
        once (it was taken for a failure of the step)."""
        for attempt in (1, 2):
            initialized = await self._rpc(self._initialize_message())
            server_info = member(initialized, "serverInfo", dict, "the initialize result's", rule=_SCHEMA) or {}
            opened = self.state.session_id
            notified = await self._post_mcp(
                {"jsonrpc": "2.0", "method": "notifications/initialized"}, self.state.access_token
            )
            if notified.status_code == 404 and opened is not None:
                # Streamable HTTP, Session Management: "When a client receives HTTP 404 in response
                # to a request containing an Mcp-Session-Id, it MUST start a new session".
                if attempt == 1:
                    continue
                raise self._failure("notifications/initialized answered 404 in a new session too: the server "
                                    "ended it again (MCP Streamable HTTP, Session Management)")  # fmt: skip
            if notified.status_code != 202:
                raise self._failure(f"notifications/initialized answered {notified.status_code}, expected 202")
            break
        return server_info

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a tool (with refresh and step-up, like every request after step 6) and return its
        result. Outside a step, the call is its own step (`call`), so its exchanges are named."""
        if not isinstance(name, str):
            raise wrong_type("call_tool's first argument is the tool's name, a string such as 'whoami'", name)
        if arguments is not None and not isinstance(arguments, dict):
            raise wrong_type(
                "call_tool's arguments are a dict of the tool's parameters, such as {'text': 'buy milk'}", arguments
            )
        try:  # what cannot be sent as JSON (RFC 8259 §6: no NaN) failed in the step, blamed on the server
            # A lone surrogate is no Unicode character, and JSON text is Unicode in UTF-8 (RFC 8259
            # §8.1, §8.2): escaped as \ud800 the server refused it (-32700), and mirrored into an
            # Mcp-Param header (or the name into Mcp-Name) it failed to encode, as "unexpected response".
            json.dumps([name, arguments], allow_nan=False, ensure_ascii=False).encode()
        except UnicodeEncodeError as error:
            raise TypeError(
                f"call_tool's name and arguments are sent as JSON text, in UTF-8: {error.object[error.start : error.end]!r} "
                "is a lone surrogate, no Unicode character (RFC 8259 §8.2)"
            ) from None
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"call_tool's arguments are sent as JSON: strings, numbers (not NaN or Infinity, RFC 8259 §6), lists, dicts ({error})"
            ) from None
        message = self._request("tools/call", {"name": name, "arguments": arguments or {}})
        if current_step() is not None:
            return await self._rpc(message)
        result: dict[str, Any] = {}
        with self._step(8) as step:
            await self._held_token(step)
            result = await self._rpc(message)
            step.learned.update(tool=name, is_error=result.get("isError", False))
            step.explanation = f"tools/call {name} with the current access token (MCP §9.1)."
        return result

    async def _held_token(self, step: StepRun) -> str:
        """The access token a call starts with. None held after a move dropped the old AS's: another
        call's new authorization there may be under way (`renewing`), and is waited for; none after
        it, the step fails saying why (`_why_no_token`)."""
        if self.state.access_token is None and self.state.tokens_issuer is not None:
            async with self.renewing:
                pass
        why = self._why_no_token()
        if why is not None:
            raise step.fail(why)
        return str(self._require(self.state.access_token, step, "an access token"))

    async def _rpc(self, message: dict[str, Any], first: httpx.Response | None = None) -> dict[str, Any]:
        """`_rpc_answer`'s result alone."""
        return (await self._rpc_answer(message, first))[0]

    async def _rpc_answer(self, message: dict[str, Any], first: httpx.Response | None = None) -> Page:
        """Send a JSON-RPC request with the token; its result, and the bytes of the answer that
        carried it (what a listing's pages count, `pagination.BYTE_CAP`). On 401 invalid_token with
        a refresh token in hand, refresh once and retry. On 403 insufficient_scope, step up
        (re-authorize for the union of the requested and the challenged scopes, MCP 2026-07-28
        §11.1.2; the challenge alone before) and retry: at most `MAX_STEP_UPS` step-ups per resource
        and operation, counted across calls until one goes through (MCP §10.1.2). On a 401 for a
        token that worked, or a refresh the AS can no longer make, discover again (the resource may
        have moved to another AS, SEP-2352) and retry once. The token changes one way at a time
        (`renewing`), and a call whose token changed after it sent retries with the new one."""
        refreshed, rediscovered, reopened, relisted = False, False, False, False
        operation = _operation(message)
        while True:
            sent_token, sent_session = self.state.access_token, self.state.session_id
            sent = (sent_token, self.renewals)  # and the renewals ended by then (`_renew`)
            why = self._why_no_token()
            if why is not None:  # a renewal this call waited for ended without a token: never sent bare
                raise self._failure(why)
            response = first or await self._post_mcp(message, sent_token)
            first = None
            if response.status_code == 404 and sent_session is not None and message["method"] != "initialize":
                # Streamable HTTP, Session Management: the server ended the session. "When a client
                # receives HTTP 404 in response to a request containing an Mcp-Session-Id, it MUST
                # start a new session by sending a new InitializeRequest without a session ID
                # attached." Once: a server that ends the new one too is answered as it answered.
                if reopened:
                    raise self._failure(f"{message['method']} answered 404 in a new session too: the server "
                                        "ended it again (MCP Streamable HTTP, Session Management)")  # fmt: skip
                reopened = True
                await self._reopen(sent_session)
                continue
            challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
            error = challenge.get("error") if challenge else None
            if response.status_code in (401, 403) and challenge and self.state.access_token != sent_token:
                # Refused a token another call changed after this one sent it (its refresh, step-up or
                # new authorization), or dropped while that call authorizes at the AS the resource
                # moved to: once that change ends, the call retries with the new token (none: the loop
                # says why). Read as its own refusal, the old AS's token failed the call with the 401
                # though the renewal went through, and a dropped one sent the call on with no token.
                async with self.renewing:
                    pass
                continue
            if (
                response.status_code == 401
                and challenge
                and error == "invalid_token"
                and not refreshed
                and (self.state.tokens or {}).get("refresh_token")
            ):
                refreshed = True
                # One refresh at a time (OAuth 2.1 §4.3.1): a second request refused for the same
                # token would present the same refresh token again, which a rotating AS takes for
                # reuse and answers by revoking the grant. Refreshed meanwhile: retry with the new.
                said = f"{message['method']} answered 401 invalid_token ({told(challenge.get('error_description'))})"
                renewal = partial(self._refresh_for, said, challenge, may_rediscover=not rediscovered)
                rediscovered = bool(await self._renew(sent, said, "refresh", 401, renewal)) or rediscovered
                continue
            if response.status_code == 403 and challenge and error == "insufficient_scope" and self.revision.step_up:
                # MCP §10.1.2: attempts are tracked per resource and operation, across requests: a
                # program calling a tool in a loop must not ask the user to consent again each time.
                # Nor calls made at once: one step-up at a time, and a call whose token was stepped
                # up after it sent retries with that token, uncounted. Two authorizations at once
                # overwrote each other's state and PKCE verifier (RFC 6749 §10.12: state binds the
                # redirect to the request), and the user was asked twice.
                key = (self.state.resource or self.mcp_url, operation)
                await self._renew(sent, f"{message['method']} answered 403 insufficient_scope", "step-up authorization",
                                  key, partial(self._step_up_for, key, challenge, message["method"]))  # fmt: skip
                continue
            if response.status_code == 401 and challenge and self.state.access_token and not rediscovered:
                rediscovered = True  # one discovery and authorization at a time, as above
                await self._renew(sent, f"{message['method']} answered 401 {error or 'with a challenge'}",
                                  "new authorization", 401, partial(self._rediscover, challenge))  # fmt: skip
                continue
            modern = modern_error(response)
            if modern and modern["code"] == HEADER_MISMATCH and self._relists(message, relisted):
                # streamable-http, Custom Headers from Tool Parameters, Client Behavior: refused for
                # Mcp-Param-* headers, the client "SHOULD call tools/list to check for changes to the
                # tool's inputSchema, then retry the original request with the appropriate headers".
                relisted = True
                # What it notes, step 7 noted of the first listing. Only as far as the page that
                # lists the tool called, as the SDK's _relist_tool: the rest would change nothing.
                await self._list_tools([], wanted=message["params"]["name"])
                continue
            if modern and self.state.era == "legacy":
                raise self._failure(self._modern_refusal(modern))
            if response.status_code != 200:  # the server's challenge or page, quoted within bounds (error_text.told)
                raise self._failure(f"{message['method']} answered {response.status_code}: "
                                    f"{told(response.headers.get('www-authenticate') or response.text)}")  # fmt: skip
            body = json_rpc_response(response, message["id"], self.answering_version(message))
            if "error" in body:
                rpc_error = member(body, "error", dict, "the JSON-RPC response's", rule="JSON-RPC 2.0 §5.1") or {}
                raise self._failure(f"{message['method']} failed: {told(rpc_error.get('message'))}")
            result = member(body, "result", dict, "the JSON-RPC response's", rule=_SCHEMA)
            if result is None:
                raise ServerDataRefused("the JSON-RPC response has neither result nor error (JSON-RPC 2.0 §5)")
            if message["method"] == "initialize":
                self.state.protocol_version = self._open_session(response, result)
            self.step_ups.pop((self.state.resource or self.mcp_url, operation), None)  # it went through
            return result, len(response.content)

    def _relists(self, message: dict[str, Any], relisted: bool) -> bool:
        """Whether a -32020 to `message` is met by listing the tools again: a 2026-07-28 tools/call,
        once (an initialize-era client meeting a modern server is told so instead)."""
        return self.state.era == "modern" and message["method"] == "tools/call" and not relisted

    async def _list_tools(
        self,
        notes: list[str],
        message: dict[str, Any] | None = None,
        first: httpx.Response | None = None,
        wanted: str | None = None,
    ) -> dict[str, Any]:
        """tools/list (`message`, answered `first` when it was sent already), every page of it (MCP
        server/utilities/pagination), or up to the page that lists the tool `wanted`: a tool on
        page 2 has its x-mcp-header parameters mirrored too, and a -32020's relist finds it. Why
        the listing stopped short, if it did, in `notes`."""
        first_page = await self._rpc_answer(message or self._request("tools/list", {}), first=first)
        listed, cut = await every_page(
            first_page, "tools", lambda cursor: self._rpc_answer(self._request("tools/list", {"cursor": cursor})),
            "tools/list", found=None if wanted is None else lambda tools: _lists(tools, wanted),
        )  # fmt: skip
        if cut is not None:
            notes.append(cut)
        return self._remember_tools(listed, notes) if self.state.era == "modern" else listed

    def _remember_tools(self, result: dict[str, Any], notes: list[str]) -> dict[str, Any]:
        """The tools/list result without the tools whose x-mcp-header annotations are invalid,
        which "the client MUST exclude", and each kept tool's designated parameters remembered
        for its calls (2026-07-28 streamable-http, Custom Headers from Tool Parameters). A name
        listed twice is its first tool's, said in `notes`."""
        result, designations, rejected, repeated = read_tools_list(result)
        notes.extend(f"tool {shown(name)} is listed more than once: the client keeps its first definition and "
                     "leaves the others out (MCP server/tools: tool names SHOULD be unique)" for name in repeated)  # fmt: skip
        self.state.tool_headers.update(designations)
        self.state.rejected_tools.update(rejected)
        for name in rejected:
            self.state.tool_headers.pop(name, None)
        for name in designations:
            self.state.rejected_tools.pop(name, None)
        return result

    async def _reopen(self, ended: str) -> None:
        """A new session in place of `ended`, which the server answered 404 in. One at a time: calls
        made at once all find the session ended: the others sent again at once, with no session
        while the first's initialize was out, and were answered 400. Now the first starts the new
        session, and the others wait for it and send again in it."""
        async with self.reopening:
            if self.state.session_id == ended:  # not started anew meanwhile by another call
                await self._initialize()

    async def _step_up_for(self, key: tuple[str, str], challenge: Challenge, method: str) -> None:
        if self.step_ups.get(key, 0) >= MAX_STEP_UPS:
            raise self._failure(f"{key[1]} still needs scope {shown(challenge.get('scope'))} "
                                f"after {MAX_STEP_UPS} step-up authorizations; giving up (MCP §10.1.2)")  # fmt: skip
        self.step_ups[key] = self.step_ups.get(key, 0) + 1
        record = await self.step_up(challenge, method)
        # MCP §10.1.2: a client with no user to ask MAY step up, asking for the union itself.
        if not await self.renew_without_a_user(record.learned["union"]):
            await self.authorize(scope=record.learned["union"])
            await self.exchange_code()
