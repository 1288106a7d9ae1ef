"""Against a hostile or broken server the lab client names the step that fails and the rule broken,
and never crashes: every JSON body it reads goes through the bounded parser and must be the JSON
type its RFC says, every URL a server gives it is parsed before use, and an authorization server's
endpoints use https (loopback aside)."""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from lab_servers import Lab, StepError
from lab_servers.client import parse_www_authenticate
from lab_servers.client.server_data import ServerDataRefused, server_url

pytestmark = pytest.mark.anyio

HOST = "hostile.example"
BASE = f"https://{HOST}"
NESTED = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError, not ValueError


def _json(body: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(body if isinstance(body, str) else json.dumps(body), status, media_type=content_type)


def _metadata(issuer: str = BASE, **changes: Any) -> dict[str, Any]:
    return {"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/token",
            "registration_endpoint": f"{issuer}/register", "code_challenge_methods_supported": ["S256"], **changes}  # fmt: skip


def _redirect(request: Request, query: str | None = None) -> Response:
    """The AS's answer to an authorization request: straight back to the client, code and all."""
    q = request.query_params
    query = query if query is not None else urlencode({"code": "C", "state": q["state"], "iss": BASE})
    return Response(status_code=302, headers={"location": f"{q['redirect_uri']}?{query.format(state=q['state'])}"})


def _tools(answer: Any) -> Any:
    """An MCP server that answers tools/list with a whoami tool and tools/call with `answer`."""

    def respond(message: dict[str, Any]) -> Response:
        if message["method"] == "tools/list":
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [{"name": "whoami"}]}})
        return _json({"jsonrpc": "2.0", "id": message["id"], "result": answer})

    return respond


class HostileServer:
    """An MCP server and its AS on one host; each answer can be replaced by a hostile one."""

    def __init__(self, **answers: Any) -> None:
        self.answers = {
            "prm": _json({"resource": f"{BASE}/mcp", "authorization_servers": [BASE]}),
            "as_metadata": _json(_metadata()),
            "register": _json({"client_id": "hostile-client"}, 201),
            "authorize": _redirect,
            "token": _json({"access_token": "opaque", "token_type": "Bearer"}),
            "mcp": _tools({"structuredContent": {"sub": "alice"}}),
            **answers,
        }
        self.seen: list[str] = []
        self.challenge = f'Bearer resource_metadata="{BASE}/.well-known/oauth-protected-resource/mcp"'

    def answer(self, name: str, request: Request) -> Response:
        answer = self.answers[name]
        return answer if isinstance(answer, Response) else answer(request)  # a Response is callable too (ASGI)

    async def mcp(self, request: Request) -> Response:
        if "authorization" not in request.headers:
            return Response("{}", 401, headers={"WWW-Authenticate": self.challenge})
        answer = self.answers["mcp"]
        return answer if isinstance(answer, Response) else answer(json.loads(await request.body()))

    async def authorize(self, request: Request) -> Response:
        self.seen.append(str(request.url))
        return self.answer("authorize", request)

    def app(self) -> Starlette:
        def route(path: str, name: str, method: str = "GET") -> Route:
            async def endpoint(request: Request) -> Response:
                return self.answer(name, request)

            return Route(path, endpoint, methods=[method])

        return Starlette(routes=[
            Route("/mcp", self.mcp, methods=["POST"]), Route("/authorize", self.authorize, methods=["GET", "POST"]),
            route("/.well-known/oauth-protected-resource/mcp", "prm"),
            route("/.well-known/oauth-authorization-server", "as_metadata"),
            route("/register", "register", "POST"), route("/token", "token", "POST"),
        ])  # fmt: skip


async def _run(
    lab: Lab,
    server: HostileServer,
    steps: int,
    host: str = HOST,
    address: str = "93.184.215.90",
    revision: str | None = None,
) -> Any:
    lab.network.add_host(host, address, server.app())
    client = lab.client("dcr", revision=revision)
    client.mcp_url = f"{BASE}/mcp"
    for _ in range(steps):
        await client.next_step()
    return client


# Every JSON body: bounded (RFC 8259 §9), and the JSON type its rule says -----------------------

HOSTILE_BODIES = [
    ("prm", _json(NESTED), 2, r"step 2 \(resource-metadata\): the Protected Resource Metadata at .* nested deeper than 32 levels \(RFC 8259 §9"),
    ("prm", _json([1]), 2, r"step 2 \(resource-metadata\): .* is a JSON array, not a JSON object \(RFC 9728 §3.2"),
    ("as_metadata", _json([1, 2]), 3, r"step 3 \(as-metadata\): the authorization server metadata at .* is a JSON array, not a JSON object \(RFC 8414 §3.2"),
    ("as_metadata", _json(NESTED), 3, r"step 3 \(as-metadata\): .* nested deeper than 32 levels \(RFC 8259 §9"),
    ("as_metadata", _json("<html>", content_type="text/html"), 3, r"step 3 \(as-metadata\): .* is not valid JSON"),
    ("as_metadata", _json(_metadata(code_challenge_methods_supported="S256-or-not")), 3, r"step 3 \(as-metadata\): the AS does not advertise PKCE S256"),
    ("as_metadata", _json(_metadata(token_endpoint_auth_methods_supported="none")), 3, r"step 3 \(as-metadata\): AS metadata token_endpoint_auth_methods_supported is not a JSON array of strings \(RFC 8414 §2\)"),
    ("register", _json(NESTED, 201), 4, r"step 4 \(client-id\): the registration response is nested deeper"),
    ("register", _json([1], 400), 4, r"step 4 \(client-id\): the registration endpoint's 400 answer is a JSON array, not a JSON object \(RFC 7591 §3.2.2"),
    ("register", _json('"no"', 400), 4, r"step 4 \(client-id\): .* 400 answer is a JSON string"),
    # RFC 9110 §8.3.1: the type and subtype are case-insensitive; the refusal's JSON is read under any case.
    ("register", _json({"error": "invalid_client_metadata", "error_description": "no"}, 400, "Application/JSON"), 4, r"step 4 \(client-id\): registration refused \(400 invalid_client_metadata: no\)"),
    ("register", _json({"client_id": {"a": 1}}, 201), 4, r"step 4 \(client-id\): the registration response's client_id is a JSON object, not a JSON string \(RFC 7591 §3.2.1\)"),
    ("register", _json({"client_secret": "s"}, 201), 4, r"step 4 \(client-id\): the registration response has no client_id \(RFC 7591 §3.2.1: REQUIRED\)"),
    # RFC 7591 §3.2.1: a number of seconds; Python's bool is an int, so true was read as 1 (long expired).
    ("register", _json({"client_id": "c", "client_secret": "s", "client_secret_expires_at": True}, 201), 4, r"step 4 \(client-id\): the registration response's client_secret_expires_at is a JSON boolean, not a JSON number \(RFC 7591 §3.2.1\)"),
    ("token", _json([1]), 6, r"step 6 \(token\): the token response is a JSON array, not a JSON object \(RFC 6749 §5.1"),
    ("token", _json([1], 400), 6, r"step 6 \(token\): the token endpoint's 400 answer is a JSON array, not a JSON object \(RFC 6749 §5.2"),
    ("token", _json(NESTED), 6, r"step 6 \(token\): the token response is nested deeper"),
    ("token", _json({"access_token": 5, "token_type": "Bearer"}), 6, r"step 6 \(token\): the token response's access_token is a JSON number, not a JSON string \(RFC 6749 §5.1\)"),
    ("token", _json({"access_token": "t", "token_type": "Bearer", "scope": ["a"]}), 6, r"step 6 \(token\): the token response's scope is a JSON array"),
    ("mcp", lambda m: _json({"jsonrpc": "2.0", "id": m["id"], "error": "boom"}), 7, r"step 7 \(mcp\): the JSON-RPC response's error is a JSON string, not a JSON object \(JSON-RPC 2.0 §5.1\)"),
    ("mcp", lambda m: _json([1]), 7, r"step 7 \(mcp\): the JSON-RPC response is a JSON array, not a JSON object \(JSON-RPC 2.0 §5"),
    ("mcp", lambda m: _json(NESTED), 7, r"step 7 \(mcp\): the JSON-RPC response is nested deeper"),
    ("mcp", lambda m: _json("data: " + NESTED + "\n\n", content_type="text/event-stream"), 7, r"step 7 \(mcp\): an event's JSON-RPC message is nested deeper"),
    ("mcp", lambda m: _json({"jsonrpc": "2.0", "id": m["id"], "result": [1]}), 7, r"step 7 \(mcp\): the JSON-RPC response's result is a JSON array, not a JSON object \(MCP schema\)"),
    ("mcp", _tools({"content": ["x"]}), 7, r"step 7 \(mcp\): the tools/call result's first content item is not a JSON object"),
    ("mcp", _tools({"content": [{"type": "text", "text": 5}]}), 7, r"step 7 \(mcp\): the first content item's text is a JSON number"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "body", "steps", "message"), HOSTILE_BODIES,
                         ids=[f"{a}-{i}" for i, (a, *_) in enumerate(HOSTILE_BODIES)])  # fmt: skip
async def test_a_hostile_body_fails_its_step_by_name_and_rule_never_with_a_crash(
    lab: Lab, answer: str, body: Any, steps: int, message: str
) -> None:
    with pytest.raises(StepError, match="^" + message):
        await _run(lab, HostileServer(**{answer: body}), steps)


async def test_a_servers_error_description_cannot_write_terminal_codes_into_the_step_error(lab: Lab) -> None:
    # RFC 6749 §5.2 allows error_description only printable ASCII; a hostile one may carry ESC
    # codes, a carriage return and a bidi override, and StepError text is printed.
    forged = "\x1b[8mhidden\x1b[0m\x1b[32m✅ step 4 succeeded\x1b[0m\rX\u202eabc"
    register = _json({"error": "invalid_client_metadata", "error_description": forged}, 400)
    with pytest.raises(StepError) as refused:
        await _run(lab, HostileServer(register=register), 4)
    text = str(refused.value)
    assert text.isprintable()
    assert r"\x1b[8mhidden\x1b[0m\x1b[32m✅ step 4 succeeded\x1b[0m\rX\u202eabc" in text


async def test_a_tools_text_that_is_not_a_json_object_it_can_read_is_shown_as_text(lab: Lab) -> None:
    # MCP asks no JSON of a text content: a nesting too deep to read is just text, not a crash.
    text = '{"a":' + NESTED + "}"
    client = await _run(lab, HostileServer(mcp=_tools({"content": [{"type": "text", "text": text}]})), 7)
    assert client.state.whoami == {"text": text}


async def test_the_hostile_servers_happy_path_completes(lab: Lab) -> None:
    client = await _run(lab, HostileServer(), 7)
    assert client.state.whoami == {"sub": "alice"}


# Every answer: read to a limit, on the wire and decoded ------------------------------------------

CHUNK = 64 * 1024
LIMIT = 1024 * 1024  # SERVER_JSON_LIMITS.max_bytes


class Endless:
    """An answer that streams 64 KiB chunks for as long as the client reads (here: at most 64 MB,
    so that a client without a limit ends the test instead of hanging it), counting what it sent."""

    def __init__(self, status: int = 200, content_type: str = "application/json") -> None:
        self.status, self.content_type, self.sent = status, content_type, 0

    def __call__(self, request: Any) -> Response:
        async def chunks() -> Any:
            for _ in range(1024):
                self.sent += CHUNK
                yield b" " * CHUNK

        return StreamingResponse(chunks(), self.status, media_type=self.content_type)


ENDLESS = [("prm", 2, "GET"), ("as_metadata", 3, "GET"), ("register", 4, "POST"), ("authorize", 5, "GET"),
           ("token", 6, "POST"), ("mcp", 7, "POST")]  # fmt: skip


@pytest.mark.parametrize(("answer", "steps", "method"), ENDLESS, ids=[a for a, *_ in ENDLESS])
async def test_an_answer_that_will_not_end_fails_its_step_at_the_limit_not_after_it(
    lab: Lab, answer: str, steps: int, method: str
) -> None:
    endless = Endless(
        201 if answer == "register" else 200, "text/html" if answer == "authorize" else "application/json"
    )
    with pytest.raises(
        StepError,
        match=rf"^step {steps} \(.*\): the answer to {method} '{BASE}/\S* is larger than {LIMIT} bytes \(the lab client's limit\); reading stopped at the limit",
    ):
        await _run(lab, HostileServer(**{answer: endless}), steps)
    # Read while it streamed, not whole and judged after: the app was stopped a few chunks past the
    # limit (those the lab network had in flight), not after the 64 MB it would have sent.
    assert endless.sent <= LIMIT + 4 * CHUNK


def _encoded(body: bytes, encoding: str) -> Response:
    return Response(body, 200, media_type="application/json", headers={"Content-Encoding": encoding})


async def test_a_gzip_bomb_is_refused_while_it_inflates(lab: Lab) -> None:
    bomb = gzip.compress(b" " * (64 * LIMIT))  # 65 KB on the wire, 64 MB inflated
    with pytest.raises(
        StepError, match=rf"^step 3 \(as-metadata\): the answer to GET .* inflates to more than {LIMIT} bytes"
    ):
        await _run(lab, HostileServer(as_metadata=_encoded(bomb, "gzip")), 3)


async def test_a_gzipped_answer_within_the_limit_is_read_decoded(lab: Lab) -> None:
    client = await _run(
        lab, HostileServer(as_metadata=_encoded(gzip.compress(json.dumps(_metadata()).encode()), "gzip")), 7
    )
    assert client.state.whoami == {"sub": "alice"}
    assert all(e.request_header("accept-encoding") == "gzip, deflate" for e in lab.trace)


async def test_an_encoding_the_client_did_not_offer_is_refused(lab: Lab) -> None:
    with pytest.raises(
        StepError,
        match=r"^step 3 \(as-metadata\): .* was sent with Content-Encoding 'br', which the request's Accept-Encoding \(gzip, deflate\) did not offer \(RFC 9110 §8.4, §12.5.3\)",
    ):
        await _run(lab, HostileServer(as_metadata=_encoded(b"\x0b\x02\x80{}\x03", "br")), 3)


# Every URL a server gives: parsed before use, the field named ------------------------------------

BAD_URLS = [
    ("a 401 whose resource_metadata is not a URL", {"prm_url": "http://[::1"}, 2,
     r"step 2 \(resource-metadata\): the Protected Resource Metadata URL 'http://\[::1' is not a valid URL"),
    ("a 401 whose resource_metadata has no host", {"prm_url": "javascript:alert(1)"}, 2,
     r"step 2 \(resource-metadata\): the Protected Resource Metadata URL 'javascript:alert\(1\)' is not an absolute"),
    ("a port out of range", {"prm_url": f"{BASE}:99999/x"}, 2, r"step 2 \(resource-metadata\): .* is not a valid URL \(Port out of range"),
    ("PRM naming an issuer that is not a URL", {"prm": _json({"resource": f"{BASE}/mcp", "authorization_servers": ["http://[::1"]})}, 3,
     r"step 3 \(as-metadata\): the authorization server PRM names 'http://\[::1' is not a valid URL"),
    ("an authorization_endpoint that is not a URL", {"as_metadata": _json(_metadata(authorization_endpoint="http://[::1"))}, 3,
     r"step 3 \(as-metadata\): AS metadata authorization_endpoint 'http://\[::1' is not a valid URL"),
    ("a consent form whose action is not a URL",
     {"authorize": _json('<form action="http://[::1"><input type="hidden" name="t" value="1"></form>', content_type="text/html")}, 5,
     r"step 5 \(authorize\): the consent form's action 'http://\[::1' is not a valid URL"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "changes", "steps", "message"), BAD_URLS, ids=[c for c, *_ in BAD_URLS])
async def test_a_url_a_server_gives_that_httpx_cannot_request_fails_the_step_naming_the_field(
    lab: Lab, case: str, changes: dict[str, Any], steps: int, message: str
) -> None:
    prm_url = changes.pop("prm_url", None)
    server = HostileServer(**changes)
    if prm_url is not None:

        async def mcp(request: Request) -> Response:
            return Response("{}", 401, headers={"WWW-Authenticate": f'Bearer resource_metadata="{prm_url}"'})

        server.mcp = mcp  # type: ignore[method-assign]
    with pytest.raises(StepError, match="^" + message):
        await _run(lab, server, steps)


@pytest.mark.parametrize(
    ("header", "challenges"),
    [
        ('Bearer scope="a b", resource_metadata="https://h/x"', [("Bearer", {"scope": "a b", "resource_metadata": "https://h/x"}, False)]),
        ("Bearer scope=a, resource_metadata=https://h/x", [("Bearer", {"scope": "a"}, True)]),
        ('Bearer realm="a" x, Basic realm="b"', [("Bearer", {}, True)]),
        ('Bearer realm="a", Basic realm="b"', [("Bearer", {"realm": "a"}, False), ("Basic", {"realm": "b"}, False)]),
    ],
)  # fmt: skip
def test_a_value_followed_by_anything_but_a_comma_is_malformed_and_ends_the_header(
    header: str, challenges: list[tuple[str, dict[str, str], bool]]
) -> None:
    parsed = parse_www_authenticate(header)
    assert [(c.scheme, c.params, c.malformed is not None) for c in parsed] == challenges


async def test_an_unquoted_resource_metadata_url_is_not_read_cut_short_the_client_probes_the_well_known_urls(
    lab: Lab,
) -> None:
    # RFC 9110 §11.2: a value is a token or a quoted-string, and ':' and '/' are no token characters.
    # Read as a token, the value was "https", which step 2 then tried to fetch. MCP §4.2: without a
    # resource_metadata the client falls back to the well-known URLs.
    server = HostileServer()
    server.challenge = f"Bearer resource_metadata={BASE}/.well-known/oauth-protected-resource/mcp"
    client = await _run(lab, server, 7)
    assert client.state.whoami == {"sub": "alice"}
    first, second = client.records[:2]
    assert first.learned["resource_metadata"] is None
    assert first.notes == [
        "the Bearer challenge is malformed: 'resource_metadata=https://hostile.example/.' breaks RFC 9110 "
        "§11.2: an auth-param's value is a token or a quoted-string (so a URL must be quoted), and a comma comes "
        "next; the client reads the parameters before it and ignores the rest"
    ]
    assert [e.url for e in second.exchanges] == [f"{BASE}/.well-known/oauth-protected-resource/mcp"]


# The authorization response: every parameter once, an empty one is a value (RFC 6749 §3.1, RFC 9207)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("code=C&state={state}&iss=", r"iss '' in the redirect is not the issuer 'https://hostile.example': possible mix-up"),
        (f"code=C&state={{state}}&iss={BASE}&iss=https://other.example", r"the redirect repeats iss: parameters MUST NOT be included more than once \(RFC 6749 §3.1"),
        ("code=C&code=D&state={state}", r"the redirect repeats code"),
        ("code=C&state={state}&state=forged", r"the redirect repeats state"),
    ],
    ids=["empty-iss", "repeated-iss", "repeated-code", "repeated-state"],
)  # fmt: skip
async def test_an_authorization_response_with_an_empty_iss_or_a_repeated_parameter_fails_step_5(
    lab: Lab, query: str, message: str
) -> None:
    server = HostileServer(authorize=lambda request: _redirect(request, query))
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): " + message):
        await _run(lab, server, 5)


async def test_a_redirect_to_a_uri_that_only_begins_with_the_redirect_uri_fails_step_5(lab: Lab) -> None:
    # RFC 6749 §3.1.2: the AS sends the user agent to the redirect URI itself, its parameters added.
    def lookalike(request: Request) -> Response:
        location = f"{request.query_params['redirect_uri']}.evil.example?code=C&state={request.query_params['state']}"
        return Response(status_code=302, headers={"location": location})

    with pytest.raises(
        StepError, match=r"^step 5 \(authorize\): the AS redirected to .*not to this client's redirect_uri"
    ):
        await _run(lab, HostileServer(authorize=lookalike), 5)


async def test_the_authorization_endpoints_own_query_is_retained_when_the_request_adds_its_parameters(lab: Lab) -> None:
    # RFC 6749 §3.1: the endpoint URI "MAY include a query component, which MUST be retained".
    server = HostileServer(as_metadata=_json(_metadata(authorization_endpoint=f"{BASE}/authorize?tenant=acme")))
    await _run(lab, server, 5)
    query = dict(parse_qsl(urlsplit(server.seen[0]).query))
    assert query["tenant"] == "acme"
    assert query["response_type"] == "code"


async def test_an_authorization_endpoint_whose_query_has_a_request_parameter_fails_step_5(lab: Lab) -> None:
    server = HostileServer(as_metadata=_json(_metadata(authorization_endpoint=f"{BASE}/authorize?client_id=x")))
    with pytest.raises(
        StepError, match=r"^step 5 \(authorize\): authorization_endpoint's own query already has client_id"
    ):
        await _run(lab, server, 5)


# Authorization server endpoints use https (MCP authorization, Communication Security; OAuth 2.1 §1.5)


@pytest.mark.parametrize(
    ("changes", "steps", "message"),
    [
        ({"prm": _json({"resource": f"{BASE}/mcp", "authorization_servers": [f"http://{HOST}"]})}, 3,
         r"step 3 \(as-metadata\): the authorization server PRM names 'http://hostile.example' does not use https"),
        ({"as_metadata": _json(_metadata(authorization_endpoint=f"http://{HOST}/authorize"))}, 3,
         r"step 3 \(as-metadata\): AS metadata authorization_endpoint 'http://hostile.example/authorize' does not use https"),
        ({"as_metadata": _json(_metadata(token_endpoint=f"http://{HOST}/token"))}, 3,
         r"step 3 \(as-metadata\): AS metadata token_endpoint .* does not use https: every authorization server endpoint MUST"),
        ({"as_metadata": _json(_metadata(registration_endpoint=f"http://{HOST}/register"))}, 4,
         r"step 4 \(client-id\): AS metadata registration_endpoint .* does not use https"),
    ],
    ids=["issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint"],
)  # fmt: skip
async def test_an_authorization_server_endpoint_over_plain_http_is_refused(
    lab: Lab, changes: dict[str, Any], steps: int, message: str
) -> None:
    with pytest.raises(StepError, match="^" + message):
        await _run(lab, HostileServer(**changes), steps)


@pytest.mark.parametrize("url", ["http://localhost:3000/token", "http://127.0.0.1/token", "http://127.8.0.1/t",
                                 "http://[::1]:8080/token", "https://as.example/token"])  # fmt: skip
def test_an_authorization_server_endpoint_over_http_is_allowed_on_a_loopback_host_only(url: str) -> None:
    # The conformance suite's mock servers listen on http://localhost: nothing leaves the machine.
    assert server_url(url, "the token endpoint", https=True) == url


@pytest.mark.parametrize("url", ["http://as.example/token", "http://localhost.evil.example/t", "http://10.0.0.1/t"])
def test_an_authorization_server_endpoint_over_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(
        ServerDataRefused, match=r"does not use https: .* \(MCP authorization, Communication Security; OAuth 2.1 §1.5\)"
    ):
        server_url(url, "the token endpoint", https=True)


async def test_a_whole_handshake_with_an_authorization_server_on_http_localhost_completes(lab: Lab) -> None:
    local = "http://localhost"
    server = HostileServer(
        prm=_json({"resource": f"{BASE}/mcp", "authorization_servers": [local]}),
        authorize=lambda request: _redirect(request, urlencode({"code": "C", "state": request.query_params["state"], "iss": local})),
    )  # fmt: skip
    as_app = HostileServer(as_metadata=_json(_metadata(local)), authorize=server.answers["authorize"]).app()
    lab.network.add_host("localhost", "127.0.0.1", as_app)
    client = await _run(lab, server, 7)
    assert client.state.issuer == local
    assert client.state.whoami == {"sub": "alice"}


# Rules the mutation audit found untested (RFC 6749 §3.1, §5.1, OAuth 2.1 §1.5, MCP §4.2, §10.1.2) --


@pytest.mark.parametrize("token_type", ["mac", "DPoP", ""])
async def test_a_token_response_whose_token_type_is_not_bearer_fails_step_6(lab: Lab, token_type: str) -> None:
    # RFC 6749 §5.1: token_type is REQUIRED; this client presents tokens as RFC 6750 bearer tokens
    # only, so a token of another type (or of none) is not one it can use.
    token = _json({"access_token": "t", "token_type": token_type})
    with pytest.raises(StepError, match=r"^step 6 \(token\): the token response has no bearer access_token"):
        await _run(lab, HostileServer(token=token), 6)


async def test_a_token_type_of_bearer_is_read_case_insensitively(lab: Lab) -> None:
    # RFC 6749 §5.1: the token_type value is case insensitive.
    client = await _run(lab, HostileServer(token=_json({"access_token": "t", "token_type": "BEARER"})), 7)
    assert client.state.whoami == {"sub": "alice"}


async def test_a_consent_form_posting_over_plain_http_fails_step_5_and_nothing_is_posted(lab: Lab) -> None:
    # OAuth 2.1 §1.5: every authorization server endpoint uses TLS; the consent form carries the
    # user's decision and the AS's session, so its action is held to the same rule.
    consent = Response(f'<form method="post" action="http://{HOST}/consent"><input type="hidden" name="s" value="1"></form>',
                       200, media_type="text/html")  # fmt: skip
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the consent form's action .* does not use https"):
        await _run(lab, HostileServer(authorize=consent), 5)
    assert not [e for e in lab.trace.exchanges if e.method == "POST" and e.url.startswith("http://")]


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


@pytest.mark.parametrize(
    ("endpoint", "rule"),
    [
        # httpx reads host 127.0.0.1 (http allowed on loopback); a browser opens http://evil.example/@127.0.0.1/authorize.
        ("http://evil.example\\@127.0.0.1/authorize", "no URI contains"),
        ("https://hostile.example@evil.example/authorize", "RFC 3986 §7.6"),
        ("https://2130706433/authorize", "numeric host"),
    ],
    ids=["backslash-userinfo", "userinfo", "decimal-ipv4"],
)
async def test_an_authorization_endpoint_a_browser_would_read_as_another_url_fails_step_3(
    lab: Lab, endpoint: str, rule: str
) -> None:
    """The user's browser, not httpx, opens the authorization endpoint: the URL checked must be the
    URL it opens (MCP §11.3: https, loopback aside; the WHATWG URL Standard reads a backslash as '/')."""
    metadata = _json(_metadata(authorization_endpoint=endpoint))
    with pytest.raises(StepError, match=r"^step 3 \(as-metadata\): AS metadata authorization_endpoint") as failed:
        await _run(lab, HostileServer(as_metadata=metadata), 3)
    assert rule in str(failed.value)


async def test_an_authorization_endpoint_with_a_fragment_fails_step_3(lab: Lab) -> None:
    # RFC 6749 §3.1: the endpoint URI MUST NOT include a fragment component.
    metadata = _json(_metadata(authorization_endpoint=f"{BASE}/authorize#here"))
    with pytest.raises(StepError, match=r"^step 3 \(as-metadata\): AS metadata authorization_endpoint has a fragment"):
        await _run(lab, HostileServer(as_metadata=metadata), 3)


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


async def test_the_client_gives_up_after_two_step_ups(lab: Lab) -> None:
    # MCP §10.1.2: clients SHOULD cap step-up retries; two step-ups make three authorizations.
    challenge = 'Bearer error="insufficient_scope", scope="notes:write"'
    server = HostileServer(mcp=Response("{}", 403, headers={"WWW-Authenticate": challenge}))
    with pytest.raises(StepError, match=r"after 2 step-up authorizations; giving up \(MCP §10.1.2\)"):
        await _run(lab, server, 7)
    assert len(server.seen) == 3  # the first authorization and two step-ups


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
