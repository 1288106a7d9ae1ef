"""The lab network in process answers as the same app served over a socket (uvicorn with h11, as
`serve` runs it) would: the same status, fields, body, or the same class of failure, for apps
that answer in unusual but possible ways. Each case pins what the client sees; the in-process
half checks the lab against it, the socket half (one uvicorn, ~0.2 s) checks that a socket still does it, so
the pair is a differential: a change on either side shows here.

Known differences, each pinned with its reason:
- framing: h11 adds `Transfer-Encoding: chunked` to an answer with no Content-Length, and
  rewrites one the app set in its own case; in process no bytes are framed (RFC 9112 §6), and
  the lab's readers never look at the field. Compared without it (`seen`).
- `Date` and `Server`: the lab adds its own clock's Date (`DateField`); uvicorn adds its own
  Date and `server: uvicorn`. Compared without them.
- two equal Content-Length fields: h11 merges them into one (RFC 9110 §8.6 allows a recipient
  to), in process both reach the client, which reads one length from them either way.
- the wording of an error: the lab's names the rule; the class is the same.
- a request httpx's h11 will not send (a body of another length than its Content-Length, a field
  it cannot write) is sent in process as written: see `REQUESTS`.
- 1xx: ASGI has no message for an interim response, so neither side can send one (a 1xx as the
  final status is refused by both: `status_103`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import certifi
import httpx
import pytest
import uvicorn

from lab_servers import Lab
from lab_servers.serve_binding import bind
from lab_servers.serve_sockets import limited_protocol

pytestmark = pytest.mark.anyio
HOST, PUBLIC = "odd.example", "93.184.216.34"
DISCONNECTED = ("error", "RemoteProtocolError")  # the connection closed before the answer was whole
REFUSED = ("error", "LocalProtocolError")  # the client's h11 would not send the request
_NOT_COMPARED = (b"date", b"server", b"transfer-encoding")  # see the module's docstring

App = Callable[[dict[str, Any], Any, Any], Any]


def answering(
    status: int = 200,
    headers: tuple[tuple[bytes, bytes], ...] = (),
    body: tuple[bytes, ...] = (b"ok",),
    *,
    then: str = "end",
) -> App:
    """An app that reads the request, starts its answer and sends `body` in chunks (`more_body`
    on all but the last); `then`: "end", "return" (no last chunk), "raise" (instead of it),
    "return-unstarted" / "raise-unstarted" (before starting), "body-first" (a body message before
    the start), "start-twice" (a second start), "send-after-end" (a body message after the last)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        if then == "return-unstarted":
            return
        if then == "raise-unstarted":
            raise RuntimeError("the app failed before answering")
        if then == "body-first":  # ASGI's order broken: its `send` raises, as uvicorn's does
            await send({"type": "http.response.body", "body": b"too early", "more_body": True})
        await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        if then == "start-twice":
            await send({"type": "http.response.start", "status": status, "headers": list(headers)})
        for chunk in body[:-1]:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if then == "raise":
            raise RuntimeError("the app failed mid-body")
        if then in ("end", "start-twice", "send-after-end"):
            await send({"type": "http.response.body", "body": body[-1] if body else b""})
        if then == "send-after-end":  # uvicorn raises in the app; the answer was already whole
            await send({"type": "http.response.body", "body": b"late"})

    return app


INTERNAL_ERROR = ("answer", 500, [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")], b"Internal Server Error")  # fmt: skip

# name → (app, method, what the client sees in process, over a socket if that differs)
CASES: dict[str, tuple[App, str, tuple[Any, ...], tuple[Any, ...] | None]] = {
    # RFC 9110 §5.5: obs-text is carried octet for octet (a980ed6), an empty value too.
    "obs_text": (answering(headers=((b"x-a", "café".encode()),)), "GET", ("answer", 200, [(b"x-a", "café".encode())], b"ok"), None),
    "empty_value": (answering(headers=((b"x-e", b""),)), "GET", ("answer", 200, [(b"x-e", b"")], b"ok"), None),
    "control_in_value": (answering(headers=((b"x-c", b"a\x01b"),)), "GET", ("answer", 200, [(b"x-c", b"a\x01b")], b"ok"), None),
    # Names keep their case and duplicates their order (RFC 9110 §5.1, §5.3).
    "mixed_case_name": (answering(headers=((b"X-Mixed-Case", b"v"),)), "GET", ("answer", 200, [(b"X-Mixed-Case", b"v")], b"ok"), None),
    "duplicate_fields": (answering(headers=((b"x-d", b"1"), (b"x-d", b"2"))), "GET", ("answer", 200, [(b"x-d", b"1"), (b"x-d", b"2")], b"ok"), None),
    # RFC 9110 §6.4.1: a 204, a 304 and an answer to HEAD have no content, whatever the app sends.
    "204_with_body": (answering(204, body=(b"oops",)), "GET", ("answer", 204, [], b""), None),
    "304_with_body": (answering(304, body=(b"oops",)), "GET", ("answer", 304, [], b""), None),
    "head_with_body": (answering(body=(b"oops",)), "HEAD", ("answer", 200, [], b""), None),
    "head_short_of_length": (answering(headers=((b"content-length", b"10"),), body=(b"",)), "HEAD", ("answer", 200, [(b"content-length", b"10")], b""), None),
    "head_unended": (answering(body=(), then="return"), "HEAD", ("answer", 200, [], b""), None),
    "empty_chunks": (answering(body=(b"", b"a", b"", b"b")), "GET", ("answer", 200, [], b"ab"), None),
    "app_transfer_encoding": (answering(headers=((b"transfer-encoding", b"chunked"),), body=(b"abc",)), "GET", ("answer", 200, [], b"abc"), None),
    "app_date": (answering(headers=((b"date", b"Mon, 01 Jan 2001 00:00:00 GMT"),)), "GET", ("answer", 200, [], b"ok"), None),
    "two_equal_lengths": (answering(headers=((b"content-length", b"2"), (b"content-length", b"2")), body=(b"ab",)), "GET",
                          ("answer", 200, [(b"content-length", b"2"), (b"content-length", b"2")], b"ab"),
                          ("answer", 200, [(b"content-length", b"2")], b"ab")),  # h11 merges them
    # An app that fails or returns before answering: uvicorn's 500, its fields and body.
    "return_unstarted": (answering(then="return-unstarted"), "GET", INTERNAL_ERROR, None),
    "raise_unstarted": (answering(then="raise-unstarted"), "GET", INTERNAL_ERROR, None),
    # ASGI's message order, as uvicorn enforces it (its `send` raises): a body before the start
    # fails the app before it answered (500, the early body nowhere); a second start mid-answer.
    "body_before_start": (answering(then="body-first"), "GET", INTERNAL_ERROR, None),
    "start_twice": (answering(then="start-twice"), "GET", DISCONNECTED, None),
    "send_after_end": (answering(then="send-after-end"), "GET", ("answer", 200, [], b"ok"), None),
    # RFC 9112 §6.2, §8: a body cut short, or longer than its length, is no complete message.
    "longer_than_length": (answering(headers=((b"content-length", b"2"),), body=(b"abcdef",)), "GET", DISCONNECTED, None),
    "shorter_than_length": (answering(headers=((b"content-length", b"10"),), body=(b"abc",)), "GET", DISCONNECTED, None),
    "returns_unended": (answering(body=(), then="return"), "GET", DISCONNECTED, None),
    "raises_after_start": (answering(body=(), then="raise"), "GET", DISCONNECTED, None),
    "raises_mid_body": (answering(body=(b"part", b""), then="raise"), "GET", DISCONNECTED, None),
    # What HTTP/1.1 cannot write: the connection closes with no response (RFC 9110 §15, §5.5, §8.6).
    "status_299": (answering(299), "GET", ("answer", 299, [], b"ok"), None),  # unregistered, but a status (§15)
    "status_600": (answering(600), "GET", DISCONNECTED, None),
    "status_99": (answering(99), "GET", DISCONNECTED, None),
    "status_103": (answering(103), "GET", DISCONNECTED, None),
    "length_no_number": (answering(headers=((b"content-length", b"abc"),), body=(b"abc",)), "GET", DISCONNECTED, None),
    # h11 writes at most 20 digits; 4,301 are more than CPython's int() reads (a ValueError, a 500).
    "length_of_21_digits": (answering(headers=((b"content-length", b"1" * 21),), body=(b"abc",)), "GET", DISCONNECTED, None),
    "length_of_4301_digits": (answering(headers=((b"content-length", b"1" * 4301),), body=(b"abc",)), "GET", DISCONNECTED, None),
    "crlf_in_value": (answering(headers=((b"x-bad", b"a\r\nb"),)), "GET", DISCONNECTED, None),
    "space_in_name": (answering(headers=((b"x bad", b"a"),)), "GET", DISCONNECTED, None),
    "padded_value": (answering(headers=((b"x-ws", b" padded "),)), "GET", DISCONNECTED, None),
}  # fmt: skip


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that answers with the request it read: its method, fields and body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    skipped = (b"host", b"user-agent", b"accept", b"accept-encoding", b"connection")
    fields = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"] if k not in skipped]
    seen = {"method": scope["method"], "fields": fields, "body": body.decode("latin-1")}
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(seen).encode()})


async def chunks() -> AsyncIterator[bytes]:
    yield b"ab"
    yield b""
    yield b"cd"


JSON = [(b"content-type", b"application/json")]

# name → (request keywords, what the app (or the client) sees in process, over a socket if that differs)
REQUESTS: dict[str, tuple[dict[str, Any], tuple[Any, ...], tuple[Any, ...] | None]] = {
    "obs_text_sent": ({"headers": [(b"x-a", "café".encode())]}, ("answer", 200, JSON, {"method": "GET", "fields": [["x-a", "cafÃ©"]], "body": ""}), None),
    "get_with_body": ({"content": b"hello"}, ("answer", 200, JSON, {"method": "GET", "fields": [["content-length", "5"]], "body": "hello"}), None),
    "expect_continue": ({"method": "POST", "content": b"hi", "headers": {"expect": "100-continue"}},
                        ("answer", 200, JSON, {"method": "POST", "fields": [["expect", "100-continue"], ["content-length", "2"]], "body": "hi"}), None),
    "streamed_with_empty_chunk": ({"method": "POST", "content": chunks}, ("answer", 200, JSON, {"method": "POST", "fields": [["transfer-encoding", "chunked"]], "body": "abcd"}), None),
    "mixed_case_sent": ({"headers": [(b"X-Mixed", b"v")]}, ("answer", 200, JSON, {"method": "GET", "fields": [["x-mixed", "v"]], "body": ""}), None),
    # RFC 9112 §6.2; RFC 9110 §5.5: httpx's h11 refuses to send these, before a byte goes out.
    # Deliberately not in process: the lab network is the wire, not httpx's h11, and carries a
    # request as a client writing raw bytes would; the lab's tests send such requests through it
    # to reach each server's own refusal (two Content-Lengths, a VT in a credential, a padded
    # Bearer), which the lab's readers must make whatever the client.
    "body_longer_than_length": ({"method": "POST", "content": b"abcdef", "headers": {"content-length": "2"}},
                                ("answer", 200, JSON, {"method": "POST", "fields": [["content-length", "2"]], "body": "abcdef"}), REFUSED),
    "body_shorter_than_length": ({"method": "POST", "content": b"abc", "headers": {"content-length": "10"}},
                                 ("answer", 200, JSON, {"method": "POST", "fields": [["content-length", "10"]], "body": "abc"}), REFUSED),
    "padded_value_sent": ({"headers": [(b"x-w", b" v ")]}, ("answer", 200, JSON, {"method": "GET", "fields": [["x-w", " v "]], "body": ""}), REFUSED),
    "crlf_sent": ({"headers": [(b"x-w", b"a\r\nb")]}, ("answer", 200, JSON, {"method": "GET", "fields": [["x-w", "a\r\nb"]], "body": ""}), REFUSED),
}  # fmt: skip


async def seen(client: Any, method: str, url: str, **options: Any) -> tuple[Any, ...]:
    """What the client sees: the answer (status, the compared fields, the body) or its failure's class."""
    if callable(options.get("content")):
        options["content"] = options["content"]()  # a fresh stream for each request
    try:
        with anyio.fail_after(5):
            response = await client.request(method, url, **options)
    except Exception as exc:  # noqa: BLE001 - httpx's or httpx2's: compared by class name
        return ("error", type(exc).__name__)
    fields = [(k, v) for k, v in response.headers.raw if k.lower() not in _NOT_COMPARED]
    body = response.json() if response.headers.get("content-type") == "application/json" else response.content
    return ("answer", response.status_code, fields, body)


def dispatch(path: str) -> App:
    name = path.rsplit("/", 1)[-1]
    return echo if name in REQUESTS else CASES[name][0]


async def routed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await dispatch(scope["path"])(scope, receive, send)


async def in_process(name: str, method: str, client: str = "httpx", **options: Any) -> tuple[tuple[Any, ...], Any]:
    async with Lab() as lab:
        lab.network.add_host(HOST, PUBLIC, routed)
        http = lab.httpx_client("t") if client == "httpx" else lab.httpx2_client("t")
        async with http:
            outcome = await seen(http, method, f"https://{HOST}/{name}", **options)  # type: ignore[arg-type]
        return outcome, list(lab.trace)


@pytest.mark.parametrize("name", list(CASES))
async def test_an_odd_answer_reaches_the_client_in_process_as_over_a_socket(name: str) -> None:
    _, method, expected, _ = CASES[name]
    outcome, trace = await in_process(name, method)
    assert outcome == expected
    (exchange,) = trace
    if outcome[0] == "error":  # the trace says why the connection ended, in the rule's words
        assert exchange.error is not None and "the server closed the connection" in exchange.error
    else:
        assert (exchange.status, exchange.error, exchange.response_body) == (outcome[1], None, outcome[3].decode())


@pytest.mark.parametrize("name", ["obs_text", "raises_mid_body", "status_600", "204_with_body"])
async def test_httpx2_sees_what_httpx_sees(name: str) -> None:
    """The SDK's client, through the lab's other transport, fails with its own RemoteProtocolError."""
    _, method, expected, _ = CASES[name]
    outcome, _ = await in_process(name, method, client="httpx2")
    assert outcome == expected


async def test_a_body_cut_short_keeps_in_the_trace_what_came_before_the_connection_closed() -> None:
    outcome, (exchange,) = await in_process("raises_mid_body", "GET")
    assert outcome == DISCONNECTED
    assert (exchange.status, exchange.response_body) == (200, "part")
    assert (
        exchange.error == "the server closed the connection before the body was complete: its app failed (RuntimeError)"
    )


async def test_an_answer_http_cannot_carry_is_filed_unanswered() -> None:
    outcome, (exchange,) = await in_process("status_103", "GET")
    assert outcome == DISCONNECTED and exchange.status is None
    assert exchange.error is not None and "status 103" in exchange.error and "RFC 9110 §15" in exchange.error


@pytest.mark.parametrize("name", ["length_of_21_digits", "length_of_4301_digits"])
async def test_a_content_length_longer_than_h11_writes_is_no_answer(name: str) -> None:
    """RFC 9110 §8.6: a recipient anticipates large numbers; h11 writes at most 20 digits."""
    outcome, (exchange,) = await in_process(name, "GET")
    assert outcome == DISCONNECTED and exchange.status is None
    assert exchange.error is not None and "more than the 20 h11 writes (RFC 9110 §8.6" in exchange.error


@pytest.mark.parametrize("name", list(REQUESTS))
async def test_an_odd_request_reaches_the_app_in_process_as_a_raw_client_would_send_it(name: str) -> None:
    options, expected, _ = REQUESTS[name]
    outcome, trace = await in_process(
        name, options.get("method", "GET"), **{k: v for k, v in options.items() if k != "method"}
    )
    assert outcome == expected
    (exchange,) = trace
    assert exchange.request_body == expected[3]["body"]


async def test_the_same_apps_served_by_uvicorn_over_a_socket_answer_as_pinned() -> None:
    """The socket half: one uvicorn with the served lab's protocol settings (`serve.serving`) on
    an ephemeral loopback port, each case asked over it with a plain httpx client."""
    config = uvicorn.Config(
        routed, log_level="critical", lifespan="off", http=limited_protocol(10), ws="none", proxy_headers=False
    )
    async with _uvicorn_on_loopback(config) as port:
        outcomes, expected = {}, {}
        async with httpx.AsyncClient() as client:
            for name, (_, method, in_process_too, over_socket) in CASES.items():
                outcomes[name] = await seen(client, method, f"http://127.0.0.1:{port}/{name}")
                expected[name] = over_socket or in_process_too
            for name, (options, in_process_too, over_socket) in REQUESTS.items():
                rest = {k: v for k, v in options.items() if k != "method"}
                outcomes[name] = await seen(
                    client, options.get("method", "GET"), f"http://127.0.0.1:{port}/{name}", **rest
                )
                expected[name] = over_socket or in_process_too
        assert outcomes == expected


@contextlib.asynccontextmanager
async def _uvicorn_on_loopback(config: uvicorn.Config) -> AsyncIterator[int]:
    """A uvicorn serving `config`'s app on an ephemeral loopback port, started: its port."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(5):
            while not server.started:
                assert not task.done(), "uvicorn stopped while starting"
                await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        with anyio.CancelScope(shield=True):
            await task
        sock.close()


async def test_a_lab_on_real_sockets_fetches_the_as_keys_without_the_environments_proxy() -> None:
    # Built for loopback URLs (not through `serve`, which sets its own), the MCP server fetches the
    # AS's JWKS over a socket. HTTPS_PROXY names a proxy elsewhere that cannot reach this machine's
    # loopback: behind one, every access token got 401 (the keys never arrived).
    async with Lab(mcp_url="http://127.0.0.1:9/mcp", issuer="http://127.0.0.1:8") as lab:
        assert isinstance(lab.resource_server.http, httpx.AsyncClient)
        assert lab.resource_server.http.trust_env is False
        await lab.resource_server.http.aclose()


async def test_labs_on_real_sockets_read_the_ca_bundle_once_not_once_a_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each reading of certifi's bundle costs some 18 ms of CPU, and `serve` builds such a lab at
    # every start (a served test suite's worth: about 150 readings of the same file).
    bundles: list[str | None] = []
    default_context = ssl.create_default_context
    monkeypatch.setattr(
        ssl, "create_default_context", lambda *a, **kw: bundles.append(kw.get("cafile")) or default_context(*a, **kw)
    )
    for _ in range(3):
        async with Lab(mcp_url="https://127.0.0.1:9/mcp", issuer="https://127.0.0.1:8") as lab:
            await lab.resource_server.http.aclose()
    assert bundles.count(certifi.where()) <= 1


def running_on(log: list[str], *, hang_up: bool) -> App:
    """An app that runs on after its answer, as the MCP SDK's stateful app does (it keeps the
    session an initialize opened once that request's app returns): it waits for `receive` to say
    http.disconnect (its answer whole, or, with `hang_up`, its client gone after the first chunk,
    the end of its answer then sent to nobody), then takes a few turns of the loop. `log` says
    how it ended."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": hang_up})
            log.append((await receive())["type"])
            if hang_up:
                await send({"type": "http.response.body", "body": b""})  # to nobody
            for _ in range(3):
                await asyncio.sleep(0)
            log.append("ended")
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    return app


async def _runs_on(http: httpx.AsyncClient, url: str, hang_up: bool) -> None:
    async with http.stream("GET", url) as response:
        async for chunk in response.aiter_raw():
            assert chunk == b"first"
            if hang_up:
                break


@pytest.mark.parametrize("hang_up", [False, True], ids=["answered", "client-hung-up"])
async def test_an_app_runs_to_its_end_after_its_answer_in_process_as_over_a_socket(hang_up: bool) -> None:
    # uvicorn never cancels an app whose answer is whole or whose client hung up: `receive` says
    # http.disconnect, what it sends goes nowhere, and it returns when it is done. In process the
    # client's close waits for it, so what it does comes before the client's next request.
    log: list[str] = []
    async with Lab() as lab:
        lab.network.add_host(HOST, PUBLIC, running_on(log, hang_up=hang_up))
        async with lab.httpx_client("t") as http:
            await _runs_on(http, f"https://{HOST}/", hang_up)
            assert log == ["http.disconnect", "ended"]
        assert lab.trace.exchanges[-1].error is None
    over_socket: list[str] = []
    config = uvicorn.Config(running_on(over_socket, hang_up=hang_up), log_level="critical", lifespan="off")
    async with _uvicorn_on_loopback(config) as port:
        with anyio.fail_after(5):
            async with httpx.AsyncClient() as http:
                await _runs_on(http, f"http://127.0.0.1:{port}/", hang_up)
            while len(over_socket) < 2:  # the app runs on after the client is done
                assert "cancelled" not in over_socket
                await asyncio.sleep(0.01)
        assert over_socket == log
