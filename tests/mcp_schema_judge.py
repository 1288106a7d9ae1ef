"""The MCP specification's own JSON Schemas (`judges/mcp_schema/<revision>.json`, vendored byte for
byte: see the README there) as an outside judge of every MCP JSON-RPC message in a trace.

Each message is judged by the schema of the revision its exchange speaks (`request_revision`,
`answer_revision`): the `MCP-Protocol-Version` header, else the version an `initialize` asks for
(its answer: the version negotiated), else the `_meta` version a 2026-07-28 request carries, else
2025-03-26 (what a server assumes of a request with no header, 2025-06-18 transports); an answer
only a 2026-07-28 server gives (-32020 to -32022) is that revision's. What is judged against what:

- a request the lab's clients send: `JSONRPCRequest`, and the revision's type for its method
  (`InitializeRequest`, `ListToolsRequest`, `CallToolRequest`, `DiscoverRequest`…), read off the
  schema's own `ClientRequest` union; a notification: `JSONRPCNotification` and its
  `ClientNotification` type;
- an answer of the MCP endpoint: `JSONRPCResponse` (`JSONRPCResultResponse` from 2025-11-25) and its
  result against the method's result type (`InitializeResult`, `ListToolsResult`…, read off the
  schema as the request type's name with `Result` for `Request`, else `EmptyResult`); an error
  against `JSONRPCError` (`JSONRPCErrorResponse`), and against the type the schema defines for its
  code, if any (2026-07-28: `ParseError`, `InvalidRequestError`, `HeaderMismatchError`,
  `UnsupportedProtocolVersionError`…);
- every tool a `tools/list` result lists: its `inputSchema` and `outputSchema` are themselves valid
  JSON Schemas of their dialect (their `$schema`, else the revision's default: 2020-12 from
  2025-11-25, basic/index "JSON Schema Usage"; earlier revisions name none, so a schema must be
  valid under draft-07, the dialect of their own schema.json, and 2020-12 alike), and every
  `structuredContent` conforms to its tool's `outputSchema` (server/tools, "Output Schema":
  "Servers MUST provide structured results that conform to this schema").

`formats` are not checked (jsonschema checks them only with optional packages installed, which
would make the verdict depend on the machine). Validators are built once per revision and type.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import referencing
import referencing.jsonschema
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

from lab_servers.trace import Exchange

SCHEMAS = Path(__file__).parent / "judges" / "mcp_schema"
REVISIONS = ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
MCP_PATH = "/mcp"


@functools.cache
def schema(revision: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{revision}.json").read_bytes())  # type: ignore[no-any-return]


def definitions(revision: str) -> dict[str, Any]:
    document = schema(revision)
    return document.get("$defs") or document["definitions"]  # type: ignore[no-any-return]


@functools.cache
def _registry(revision: str) -> tuple[str, referencing.Registry[Any]]:
    document = schema(revision)
    uri = f"urn:mcp-schema:{revision}"
    specification = referencing.jsonschema.specification_with(document["$schema"])
    resource = referencing.Resource(contents=document, specification=specification)
    return uri, referencing.Registry().with_resource(uri, resource)


@functools.cache
def validator(revision: str, name: str) -> Validator:
    """A validator for the definition `name` of `revision`'s schema, of the draft its `$schema` names."""
    uri, registry = _registry(revision)
    cls = jsonschema.validators.validator_for(schema(revision))
    keyword = "$defs" if "$defs" in schema(revision) else "definitions"
    if name not in definitions(revision):
        raise KeyError(f"{revision} defines no {name}")
    return cls({"$ref": f"{uri}#/{keyword}/{name}"}, registry=registry)  # type: ignore[call-arg]


def _union(revision: str, name: str) -> dict[str, str]:
    """method -> definition, for each member of the union `name` (ClientRequest, ClientNotification)."""
    found = {}
    for member in definitions(revision)[name]["anyOf"]:
        member_name = member["$ref"].rsplit("/", 1)[1]
        method = definitions(revision)[member_name]["properties"]["method"]["const"]
        found[method] = member_name
    return found


@functools.cache
def client_requests(revision: str) -> dict[str, str]:
    return _union(revision, "ClientRequest")


@functools.cache
def client_notifications(revision: str) -> dict[str, str]:
    return _union(revision, "ClientNotification")


def result_type(revision: str, method: str) -> str | None:
    request = client_requests(revision).get(method)
    if request is None:
        return None
    name = request.removesuffix("Request") + "Result"
    return name if name in definitions(revision) else "EmptyResult"


def envelope(revision: str, kind: str) -> str:
    """The JSON-RPC envelope's definition: the names changed in 2025-11-25."""
    names = definitions(revision)
    if kind == "result":
        return "JSONRPCResultResponse" if "JSONRPCResultResponse" in names else "JSONRPCResponse"
    if kind == "error":
        return "JSONRPCErrorResponse" if "JSONRPCErrorResponse" in names else "JSONRPCError"
    return {"request": "JSONRPCRequest", "notification": "JSONRPCNotification"}[kind]


@functools.cache
def error_types(revision: str) -> dict[int, tuple[str, str]]:
    """code -> (the definition, "response" or "error"): the types a revision defines for one code,
    of the whole response (`HeaderMismatchError`) or of its error object (`ParseError`)."""
    found: dict[int, tuple[str, str]] = {}
    for name, definition in definitions(revision).items():
        code = definition.get("properties", {}).get("code", {}).get("const")
        if isinstance(code, int):
            found[code] = (name, "error")
        for part in definition.get("properties", {}).get("error", {}).get("allOf", []):
            code = part.get("properties", {}).get("code", {}).get("const")
            if isinstance(code, int):
                found[code] = (name, "response")
    return found


# --- tools' own schemas --------------------------------------------------------------------------

DRAFT_07, DRAFT_2020_12 = "http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2020-12/schema"


def default_dialects(revision: str) -> tuple[str, ...]:
    # 2025-11-25 basic/index "JSON Schema Usage": "When a schema does not include a `$schema`
    # field, it defaults to JSON Schema 2020-12" (2026-07-28 schema.ts, Tool.inputSchema: the same).
    return (DRAFT_2020_12,) if revision >= "2025-11-25" else (DRAFT_07, DRAFT_2020_12)


@functools.cache
def metaschema(dialect: str) -> Validator | None:
    """A validator of schemas written in `dialect` (its metaschema), None for a dialect unknown."""
    cls = jsonschema.validators.validator_for({"$schema": dialect}, default=None)
    return None if cls is None else cls(cls.META_SCHEMA)


def schema_problems(revision: str, tool_schema: Any) -> list[str]:
    """What makes `tool_schema` no valid JSON Schema of its dialect(s)."""
    if not isinstance(tool_schema, dict):
        return [f"is no JSON Schema object: {tool_schema!r:.80}"]
    dialects = (tool_schema["$schema"],) if "$schema" in tool_schema else default_dialects(revision)
    found = []
    for dialect in dialects:
        checker = metaschema(dialect)
        if checker is None:
            found.append(f"names a dialect the judge does not know: {dialect!r}")
            continue
        error = best_match(checker.iter_errors(tool_schema))
        if error is not None:
            found.append(f"is no valid {dialect} schema at {error.json_path}: {error.message:.160}")
    return found


def conforms(tool_schema: dict[str, Any], instance: Any, revision: str) -> str | None:
    dialect = tool_schema.get("$schema", default_dialects(revision)[-1])
    cls = jsonschema.validators.validator_for({"$schema": dialect})
    error = best_match(cls(tool_schema).iter_errors(instance))
    return None if error is None else f"at {error.json_path}: {error.message:.160}"


# --- the messages of a trace ---------------------------------------------------------------------


@dataclass
class Message:
    """One JSON-RPC message on the wire, with what the judge needs to know of its exchange."""

    direction: str  # "client" (sent to the MCP endpoint) or "server" (its answer)
    revision: str
    body: Any
    exchange: Exchange
    request: dict[str, Any] | None = None  # for an answer: the request it answers
    sent: tuple[Any, ...] = ()  # for an answer: every message of the request body it answers

    @property
    def method(self) -> str | None:
        method = (self.request or {}).get("method")
        return method if isinstance(method, str) else None

    def where(self) -> str:
        return f"{self.exchange.method} {self.exchange.url[:80]} -> {self.exchange.status}"


@dataclass
class Verdict:
    found: list[str] = field(default_factory=list)
    judged: dict[tuple[str, str], int] = field(default_factory=dict)  # (revision, direction) -> count
    allowed: set[str] = field(default_factory=set)  # the allow-list entries that hid a finding


def _headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in pairs}


def _json_messages(text: str, content_type: str) -> list[Any]:
    """The JSON-RPC messages of a body: one JSON text, or an SSE stream's `data` events."""
    if not text:
        return []
    if content_type.startswith("text/event-stream"):
        events, data = [], []
        for line in [*text.splitlines(), ""]:
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif not line and data:
                events.append("\n".join(data))
                data = []
        return [m for event in events for m in _json_messages(event, "application/json")]
    try:
        body = json.loads(text)
    except ValueError:
        return []  # no JSON (a trace cut at its limit, a plain-text refusal): `emitted_bodies` judges it
    return body if isinstance(body, list) else [body]


def _meta_version(message: Any) -> str | None:
    params = message.get("params") if isinstance(message, dict) else None
    meta = params.get("_meta") if isinstance(params, dict) else None
    version = meta.get(PROTOCOL_VERSION_META) if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


MODERN_ERRORS = {-32020, -32021, -32022}  # 2026-07-28 basic/index "Error Codes": only its servers send them
# 2025-06-18 transports, "Protocol Version Header": with no header "and no other way to identify the
# version", the server SHOULD assume 2025-03-26; a dual-era 2026-07-28 server answers so too.
NO_HEADER = "2025-03-26"


def _initialize(requests: list[Any]) -> dict[str, Any] | None:
    return next((m for m in requests if isinstance(m, dict) and m.get("method") == "initialize"), None)


def request_revision(exchange: Exchange, requests: list[Any]) -> str | None:
    """The revision a request speaks (None: one the judge has no schema for): its header; else
    the version its initialize asks for; else its `_meta` version; else 2025-03-26."""
    header = _headers(exchange.request_headers).get("mcp-protocol-version")
    initialize = _initialize(requests)
    asked = (initialize.get("params") or {}).get("protocolVersion") if initialize else None
    version = header or asked or next(filter(None, map(_meta_version, requests)), None) or NO_HEADER
    return version if version in REVISIONS else None


def answer_revision(exchange: Exchange, requests: list[Any], answers: list[Any], server: str) -> str:
    """The revision an answer speaks: 2026-07-28 for an answer only its servers give (-32020 to
    -32022, whatever the request's version); the version an initialize negotiated; else the
    request's; the server's own (`server`) for a request of a version the judge has no schema for."""
    codes = {a["error"].get("code") for a in answers if isinstance(a, dict) and isinstance(a.get("error"), dict)}
    if codes & MODERN_ERRORS:
        return "2026-07-28"
    if _initialize(requests) is not None:
        for answer in answers:
            negotiated = (answer.get("result") or {}).get("protocolVersion") if isinstance(answer, dict) else None
            if negotiated in REVISIONS:
                return negotiated  # type: ignore[no-any-return]
    return request_revision(exchange, requests) or server


def messages(exchanges: Iterable[Exchange], server: str, *, requests: bool = True) -> Iterator[Message]:
    """Every JSON-RPC message to and from the MCP endpoint (`requests=False`: the answers only,
    for the lists that send malformed requests on purpose)."""
    for exchange in exchanges:
        if urlsplit(exchange.url).path != MCP_PATH or exchange.method != "POST" or exchange.status is None:
            continue
        sent = _json_messages(exchange.request_body, "application/json")
        content_type = _headers(exchange.response_headers).get("content-type", "")
        answers = _json_messages(exchange.response_body, content_type)
        # The bearer gate's answers are RFC 6750's, not JSON-RPC (MCP authorization §9: a 401 or a
        # 403 with a challenge): only a body with a "jsonrpc" member is the MCP endpoint's own.
        answers = [a for a in answers if not isinstance(a, dict) or "jsonrpc" in a]
        asked = request_revision(exchange, sent)
        if requests and asked is not None:
            yield from (Message("client", asked, m, exchange) for m in sent)
        revision = answer_revision(exchange, sent, answers, server)
        by_id = {_key(m.get("id")): m for m in sent if isinstance(m, dict) and "id" in m}
        for answer in answers:
            request = by_id.get(_key(answer.get("id"))) if isinstance(answer, dict) else None
            yield Message("server", revision, answer, exchange, request, tuple(sent))


def _key(id_: Any) -> tuple[str, Any]:
    return (type(id_).__name__, id_ if isinstance(id_, (str, int)) else repr(id_))


def _errors(revision: str, name: str, instance: Any, path: str = "$") -> list[tuple[str, str, str]]:
    """(definition, json path, message) for each way `instance` breaks `name`: every error, so that
    one the allow-list names cannot hide another beside it (of an anyOf, the branch that fits best)."""
    found = []
    for each in validator(revision, name).iter_errors(instance):
        error = best_match([each])  # descends into an anyOf's likeliest branch
        assert error is not None
        found.append((name, path + error.json_path.removeprefix("$"), error.message))
    return found


def judge_message(message: Message) -> list[tuple[str, str, str]]:
    """(definition, path, message) for every rule of the schema the message breaks."""
    revision, body = message.revision, message.body
    if not isinstance(body, dict):
        return [("JSONRPCMessage", "$", f"a JSON-RPC message is an object: {body!r:.80}")]
    if message.direction == "client":
        if "id" in body:
            found = _errors(revision, envelope(revision, "request"), body)
            typed = client_requests(revision).get(body.get("method"))  # type: ignore[arg-type]
        else:
            found = _errors(revision, envelope(revision, "notification"), body)
            typed = client_notifications(revision).get(body.get("method"))  # type: ignore[arg-type]
        if typed is None:
            return [*found, ("ClientRequest", "$.method", f"{body.get('method')!r} is no client method of {revision}")]
        return found + _errors(revision, typed, body)
    if "error" in body:
        found = _errors(revision, envelope(revision, "error"), body)
        code = body["error"].get("code") if isinstance(body["error"], dict) else None
        typed, level = error_types(revision).get(code, (None, "")) if type(code) is int else (None, "")
        if typed is not None:
            found += (
                _errors(revision, typed, body)
                if level == "response"
                else _errors(revision, typed, body["error"], "$.error")
            )
        return found
    found = _errors(revision, envelope(revision, "result"), body)
    typed = result_type(revision, message.method) if message.method else None
    if typed is not None and isinstance(body.get("result"), dict):
        found += _errors(revision, typed, body["result"], "$.result")
    return found


def tool_problems(message: Message, tools: dict[str, dict[str, Any]]) -> list[tuple[str, str, str]]:
    """A tools/list result's tools, each schema valid (and kept in `tools`); a tools/call result's
    structuredContent, conforming to its tool's outputSchema."""
    result = message.body.get("result") if isinstance(message.body, dict) else None
    if not isinstance(result, dict):
        return []
    found = []
    if message.method == "tools/list":
        for index, tool in enumerate(result.get("tools") or []):
            if not isinstance(tool, dict):
                continue
            tools[tool.get("name")] = tool  # type: ignore[index]
            for member in ("inputSchema", "outputSchema"):
                if member in tool:
                    path = f"$.result.tools[{index}].{member}"
                    found += [("JSON Schema", path, p) for p in schema_problems(message.revision, tool[member])]
    elif message.method == "tools/call" and "structuredContent" in result:
        name = ((message.request or {}).get("params") or {}).get("name")
        tool = tools.get(name)
        if tool is None:
            found.append(("outputSchema", "$.result.structuredContent", f"no tool {name!r} is defined"))
        elif isinstance(tool.get("outputSchema"), dict):
            problem = conforms(tool["outputSchema"], result["structuredContent"], message.revision)
            if problem is not None:
                found.append(("outputSchema", "$.result.structuredContent", f"{name}'s outputSchema: {problem}"))
    return found


def judge(
    exchanges: Iterable[Exchange],
    server: str,
    allowed: dict[str, str],
    *,
    requests: bool = True,
    tools: dict[str, dict[str, Any]] | None = None,
    when: Callable[[str, Message], bool] = lambda entry, message: True,
) -> Verdict:
    """Every message of `exchanges` judged, at a server of revision `server`; `tools` are the
    definitions the server holds, for a tools/call the trace has no tools/list for (a tools/list
    in the trace replaces them). A finding whose text starts with a key of `allowed`, for a
    message `when(key, message)` holds for, is kept out of `found` and its key noted in `allowed`."""
    verdict, tools = Verdict(), dict(tools or {})
    for message in messages(exchanges, server, requests=requests):
        key = (message.revision, message.direction)
        verdict.judged[key] = verdict.judged.get(key, 0) + 1
        for definition, path, text in [*judge_message(message), *tool_problems(message, tools)]:
            finding = f"{message.direction} {message.revision} {definition} {path}: {text}"
            entry = next((k for k in allowed if finding.startswith(k) and when(k, message)), None)
            if entry is not None:
                verdict.allowed.add(entry)
            else:
                verdict.found.append(f"{finding}  [{message.where()}; {json.dumps(message.body)[:300]}]")
    return verdict
