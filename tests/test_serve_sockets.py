"""`python -m lab_servers serve`'s sockets and their limits: a start refused or cancelled closes what
it bound, listeners are TCP with no port shared on Windows, a request must arrive whole by its
deadline (408), a connection over the limit is refused (503), running out of descriptors is
logged once a minute, and a request gets one answer (RFC 9112 §9.3)."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import anyio
import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol

from lab_servers import serve_trace
from lab_servers.client_documents import ClientDocumentError
from lab_servers.serve import serving
from lab_servers.serve_binding import address_option, bind, url_host
from lab_servers.serve_sockets import uvicorn_limit
from lab_servers.serve_trace import HUNG_UP, STOPPING, TraceRecorder
from lab_servers.trace import Exchange, Trace

from .serve_helpers import Recorded, served, tls_connection, tls_dir

__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py
pytestmark = pytest.mark.anyio


def test_on_windows_no_other_process_may_bind_the_labs_port_beside_it() -> None:
    # SO_REUSEADDR on Windows lets a second socket bind a port already bound, so a local stranger
    # could sit on the lab's port and take its connections; the lab set it everywhere.
    assert address_option("posix") == socket.SO_REUSEADDR
    assert address_option("nt") != socket.SO_REUSEADDR
    assert address_option("nt") == getattr(socket, "SO_EXCLUSIVEADDRUSE", None)


def test_on_windows_the_labs_port_is_its_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # Python on POSIX has no SO_EXCLUSIVEADDRUSE, where the test above reads None either way; as
    # Windows' socket module has it, the lab asks for it.
    monkeypatch.setattr(socket, "SO_EXCLUSIVEADDRUSE", -5, raising=False)
    assert address_option("nt") == -5


@pytest.mark.skipif(os.name != "posix", reason="SO_REUSEADDR is the POSIX choice")
def test_a_listening_socket_on_posix_takes_its_port_back_at_once() -> None:
    # A port just freed, its old connections in TIME_WAIT, is bound again at once (SO_REUSEADDR).
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
    finally:
        sock.close()


def test_uvicorns_limit_sits_above_two_tasks_for_each_connection_the_lab_keeps() -> None:
    # At the lab's own limit uvicorn answered a burst 503 whole; a pipelined request (RFC 9112
    # §9.3.2) holds two tasks on one connection for a moment.
    assert uvicorn_limit(100) == 201


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _open_sockets() -> set[str]:
    """This process's sockets: uvicorn's first start closes pytest's log file (its dictConfig
    closes every logging handler), so a count of all descriptors would differ for that alone."""
    links = (os.path.realpath(f"/proc/self/fd/{name}") for name in os.listdir("/proc/self/fd"))
    return {link for link in links if "socket:" in link}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts this process's open descriptors in /proc")
async def test_a_start_refused_after_its_ports_were_bound_closes_their_sockets(tls_dir: Path, tmp_path: Path) -> None:
    # A notebook keeps the last error's traceback (sys.last_traceback), and with it every local of
    # the frames it passed through: the sockets a refused start had bound stayed open (on macOS,
    # where SO_REUSEADDR does not let a second socket bind the port, the second try then found
    # its port in use).
    broken = tmp_path / "client.json"
    broken.write_text("{", encoding="utf-8")
    before = _open_descriptors()
    with pytest.raises(ClientDocumentError) as refused:
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir, client_documents=(broken,)):
            pass
    assert _open_descriptors() == before
    with socket.socket() as taken:  # the AS's port in use: the MCP server's socket, bound before it, is closed
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        before = _open_descriptors()
        with pytest.raises(OSError, match="cannot listen") as in_use:
            async with serving(mcp_port=0, as_port=taken.getsockname()[1], documents_port=0, tls_directory=tls_dir):
                pass
        assert _open_descriptors() == before
    assert refused.traceback and in_use.traceback  # held to the end, as the notebook would


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts this process's open descriptors in /proc")
@pytest.mark.parametrize("cancelled", ["while starting", "while serving"])
async def test_a_block_its_cancel_scope_leaves_stops_the_servers_and_closes_their_sockets(
    tls_dir: Path, cancelled: str
) -> None:
    # anyio's `move_on_after` or `fail_after` around `serving`: a cancelled scope cancels again at
    # every await in it, the clean-up's first one too. The three servers served on after the
    # block, their sockets and tasks kept, and the loop kept serving's exception handler.
    loop = asyncio.get_running_loop()
    before, handler, tasks = _open_sockets(), loop.get_exception_handler(), asyncio.all_tasks()
    with anyio.CancelScope() as scope:
        if cancelled == "while starting":
            scope.cancel()  # the first await of the start, after the ports are bound, is cancelled
        async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir):
            scope.cancel()
            await anyio.sleep(10)
    assert scope.cancelled_caught
    assert asyncio.all_tasks() == tasks and _open_sockets() == before
    assert loop.get_exception_handler() is handler


def test_an_ipv6_address_is_named_in_brackets_and_every_interface_by_loopback() -> None:
    # RFC 3986 §3.2.2: an IPv6 address in a URI's host is an IP-literal, "[" IPv6address "]"; a
    # socket bound to every interface is named by the loopback address of its family. Bound sockets
    # stand in here: a machine without ::1 skips the served test of the same.
    class Bound:
        def __init__(self, address: str) -> None:
            self.address = address

        def getsockname(self) -> tuple[str, int]:
            return (self.address, 0)

    def host(address: str) -> str:
        return url_host(cast(socket.socket, Bound(address)), tls=True)

    assert [host(a) for a in ("::1", "::", "127.0.0.1", "0.0.0.0")] == ["[::1]", "[::1]", "127.0.0.1", "127.0.0.1"]


def test_listening_sockets_are_tcp_so_responses_are_not_held_back_by_nagle() -> None:
    # asyncio turns on TCP_NODELAY only for sockets whose proto is IPPROTO_TCP (accepted sockets
    # inherit it from the listener); with proto 0 every kept-alive response waited ~40 ms.
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()


def _get(url: str) -> bytes:
    parts = urlsplit(url)
    return f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()


async def test_a_request_that_has_not_arrived_whole_by_the_deadline_is_answered_408_and_closed(tls_dir: Path) -> None:
    """uvicorn's keep-alive timer runs only between requests: a request dripping in (slow-loris)
    held its connection for as long as the client liked."""
    async with served(tls_dir, request_deadline=1) as lab:
        host = urlsplit(lab.issuer).netloc
        headers_only = f"POST /token HTTP/1.1\r\nHost: {host}\r\nX-Slow: a".encode()
        form = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100"
        part_of_the_body = f"POST /token HTTP/1.1\r\nHost: {host}\r\n{form}\r\n\r\ngrant_type".encode()

        async def send_and_wait(partial: bytes) -> bytes:
            reader, writer = await tls_connection(lab.issuer, tls_dir)
            writer.write(partial)
            answer = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closes
            writer.close()
            return answer

        # Both at once: each connection has its own deadline.
        for answer in await asyncio.gather(send_and_wait(headers_only), send_and_wait(part_of_the_body)):
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"connection: close" in answer
            assert answer.endswith(b"the request did not arrive whole within 1 s")


async def test_a_request_past_its_deadline_is_traced_as_the_408_it_was_answered_not_as_a_client_hanging_up(
    tls_dir: Path,
) -> None:
    """RFC 9110 §15.5.9: the server answered 408; the trace and serve's console said "no response:
    the client's connection ended", with no status, though the client had not hung up, and a head
    that never came whole was not there at all. A client that does hang up is traced as one."""
    recorded = Recorded(3)
    async with served(tls_dir, request_deadline=0.5, on_exchange=recorded) as lab:
        host = urlsplit(lab.issuer).netloc
        form = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100"
        part_of_the_body = f"POST /token HTTP/1.1\r\nHost: {host}\r\n{form}\r\n\r\ngrant_type".encode()
        part_of_the_head = f"POST /register HTTP/1.1\r\nHost: {host}\r\nX-Slow: a".encode()
        for partial in (part_of_the_body, part_of_the_head):
            reader, writer = await tls_connection(lab.issuer, tls_dir)
            writer.write(partial)
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            writer.close()
        reader, writer = await tls_connection(lab.issuer, tls_dir)
        writer.write(part_of_the_body.replace(b"grant_type", b"grant"))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()  # hung up, well before the deadline
        await asyncio.wait_for(recorded.came.wait(), 30)
    said = "the request did not arrive whole within 0.5 s"
    assert [(e.url, e.status, e.response_body, e.error) for e in recorded.exchanges] == [
        (f"{lab.issuer}/token", 408, said, None),
        (f"{lab.issuer}/register", 408, said, None),
        (f"{lab.issuer}/token", None, "", HUNG_UP),
    ]
    assert recorded.exchanges[0].request_body == "grant_type" and HUNG_UP.startswith("no response: the client closed")


async def test_a_request_serve_stops_before_answering_is_answered_and_traced_503_not_500(tls_dir: Path) -> None:
    """uvicorn cancels a request still in flight once its graceful shutdown has passed, and answered
    it 500 "Internal Server Error", for no error; the trace said neither, status and error both
    None ("→ None" in serve's console). RFC 9110 §15.6.4: 503, unable to handle it for now."""
    trace, sent = Trace(), []

    async def stopped(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    async def nothing() -> dict[str, Any]:
        return {"type": "http.request", "body": b"grant_type", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "scheme": "https", "path": "/token", "raw_path": b"/token",
             "query_string": b"", "headers": [(b"host", b"127.0.0.1:8001")], "client": ("127.0.0.1", 5)}  # fmt: skip
    with pytest.raises(asyncio.CancelledError):
        await TraceRecorder(stopped, trace, lambda: 0)(scope, nothing, send)
    assert [m.get("status") for m in sent] == [503, None]
    (exchange,) = trace.exchanges
    assert exchange.status == 503 and exchange.response_body == STOPPING and exchange.error is None
    assert sent[1]["body"].decode() == STOPPING and "serve stopped before this request was answered" in STOPPING


async def test_a_request_answered_before_its_body_arrived_is_closed_at_the_deadline(tls_dir: Path) -> None:
    """Answered from its headers (a 401 without a token), the rest of the body is not waited for
    past the deadline: the connection, which can carry no next request before it, is closed."""
    async with served(tls_dir, request_deadline=0.5) as lab:
        host = urlsplit(lab.mcp_url).netloc
        reader, writer = await tls_connection(lab.mcp_url, tls_dir)
        writer.write(f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n{{".encode())
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)
        closed = await asyncio.wait_for(_until_closed(reader), 5)
        writer.close()
    assert answer == b"HTTP/1.1 401 Unauthorized\r\n" and closed


async def test_empty_lines_before_a_request_line_start_its_deadline_as_its_first_bytes(tls_dir: Path) -> None:
    """RFC 9112 §2.2: empty lines before a request line are ignored (`rfc9112.MAX_EMPTY_LINES`),
    not forgotten: dropped before h11 reads them, they left nothing arriving and no timer running,
    so a client that sent one and no more would hold its connection for ever."""
    async with served(tls_dir, request_deadline=1) as lab:
        reader, writer = await tls_connection(lab.issuer, tls_dir)
        writer.write(b"\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closes
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def _until_closed(reader: asyncio.StreamReader) -> bool:
    while await reader.read(65536):
        pass
    return True


@pytest.mark.slow  # waits out the 1 s deadline twice
async def test_on_a_kept_connection_the_deadline_runs_for_each_request_and_not_while_idle(tls_dir: Path) -> None:
    """The deadline starts with a request's first bytes: a connection idle between requests is
    uvicorn's keep-alive timer's (5 s), and a second request dripping in gets its own 408."""
    async with served(tls_dir, request_deadline=1) as lab:
        metadata = f"{lab.issuer}/.well-known/oauth-authorization-server"
        reader, writer = await tls_connection(lab.issuer, tls_dir)
        for _ in range(2):  # idle longer than the deadline before the second: still served
            request = _get(metadata)
            writer.write(request[:10])  # in two reads: one deadline for the request, not one per read
            await writer.drain()
            await asyncio.sleep(0.1)
            writer.write(request[10:])
            assert (await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)) == b"HTTP/1.1 200 OK\r\n"
            await asyncio.wait_for(reader.readuntil(b"}"), 10)  # the JSON body, one object
            await asyncio.sleep(1.5)
        writer.write(_get(metadata)[:20])  # a third request, never finished
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


async def test_at_its_connection_limit_a_server_serves_every_connection_it_keeps_and_refuses_the_next(
    tls_dir: Path,
) -> None:
    """The limit bounds descriptors, not service: with uvicorn's limit equal to the lab's, a burst
    that filled the slots had every request on them answered 503 (200 clients, 200 failed)."""
    async with served(tls_dir, max_connections=2) as lab:
        metadata = f"{lab.issuer}/.well-known/oauth-authorization-server"
        first_reader, first = await tls_connection(lab.issuer, tls_dir)
        second_reader, second = await tls_connection(lab.issuer, tls_dir)  # two: the limit
        third_reader, third = await tls_connection(lab.issuer, tls_dir)
        refused_at_once = await asyncio.wait_for(third_reader.read(), 10)  # before it sent anything
        answers = []
        for reader, writer in ((first_reader, first), (second_reader, second)):
            writer.write(_get(metadata))
            answers.append(await asyncio.wait_for(reader.readuntil(b"\r\n"), 10))
        for writer in (first, second, third):
            writer.close()
    assert (
        refused_at_once.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        and b"too many open connections" in refused_at_once
    )
    assert answers == [b"HTTP/1.1 200 OK\r\n"] * 2  # both connections within the limit are served


async def test_connections_their_clients_closed_leave_the_count_and_make_room(tls_dir: Path) -> None:
    """A closed connection must leave uvicorn's count as it leaves the lab's: counted on, closed
    connections would fill the limit and every later one be refused 503."""
    async with served(tls_dir, max_connections=2) as lab:
        metadata = f"{lab.issuer}/.well-known/oauth-authorization-server"
        answers = []
        for _ in range(4):  # twice the limit, one after another
            reader, writer = await tls_connection(lab.issuer, tls_dir)
            writer.write(_get(metadata))
            answers.append(await asyncio.wait_for(reader.readuntil(b"\r\n"), 10))
            writer.close()
            await writer.wait_closed()
            await asyncio.sleep(0.05)  # the server sees the close
    assert answers == [b"HTTP/1.1 200 OK\r\n"] * 4


def test_descriptors_running_out_is_logged_once_a_minute_not_once_per_failed_accept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from lab_servers.serve_sockets import QuietOutOfFiles

    others: list[dict[str, Any]] = []
    handler = QuietOutOfFiles(lambda loop, context: others.append(context))
    loop = asyncio.new_event_loop()
    try:
        out_of_files = {
            "message": "socket.accept() out of system resource",
            "exception": OSError(24, "Too many open files"),
        }
        for _ in range(1000):
            handler(loop, out_of_files)
        handler(loop, {"message": "something else"})
    finally:
        loop.close()
    logged = [r for r in caplog.records if "out of file descriptors" in r.getMessage()]
    assert len(logged) == 1 and handler.suppressed == 999
    assert others == [{"message": "something else"}]


def test_every_other_loop_exception_goes_to_asyncios_own_handler_when_none_was_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from lab_servers.serve_sockets import QuietOutOfFiles

    loop = asyncio.new_event_loop()
    try:
        QuietOutOfFiles(None)(loop, {"message": "a callback failed", "exception": RuntimeError("boom")})
    finally:
        loop.close()
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == ["a callback failed"]


def test_the_next_out_of_descriptors_message_a_minute_on_counts_the_ones_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from lab_servers.serve_sockets import QuietOutOfFiles

    handler = QuietOutOfFiles(None)
    out_of_files = {
        "message": "socket.accept() out of system resource",
        "exception": OSError(24, "Too many open files"),
    }
    loop = asyncio.new_event_loop()
    try:
        for _ in range(4):  # the first logged, three held back
            handler(loop, out_of_files)
        handler.last -= 59.5  # not yet a minute on: held back too
        handler(loop, out_of_files)
        handler.last -= 0.5  # a minute on
        handler(loop, out_of_files)
    finally:
        loop.close()
    first, second = [r.getMessage() for r in caplog.records if "out of file descriptors" in r.getMessage()]
    assert "more since" not in first  # nothing was held back before the first
    assert "(4 more since the last such message)" in second and handler.suppressed == 0


async def test_a_body_h11_cannot_parse_after_the_answer_was_sent_adds_no_second_answer(tls_dir: Path) -> None:
    """The MCP server answers 401 from the headers alone, before the body has come; a chunk h11
    then cannot parse (RFC 9112 §7.1: chunk-size is hex) got a second answer, a 400 written
    after the 401 with no request to answer: a client reads one response per request (RFC 9112
    §9.3). The connection is closed, and nothing more is written."""
    async with served(tls_dir) as lab:
        url = urlsplit(lab.mcp_url)
        reader, writer = await tls_connection(lab.mcp_url, tls_dir)
        writer.write(
            f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            "Accept: application/json, text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.write(b"zz\r\n")  # no chunk-size
        rest = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closes
        writer.close()
    assert head.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
    assert b"HTTP/1.1 400" not in rest, rest


async def test_a_pipelined_request_after_one_answered_before_its_body_is_traced_with_its_own_target(
    tls_dir: Path,
) -> None:
    """RFC 9112 §3.2: each request's target is its own request line's. A POST answered 401 from
    its headers, whose body then came with the next request right behind it, made h11 read that
    request in the same pass: its trace showed the POST's target (`GET /mcp?first=1 → 200`, the
    protected resource's metadata answered), read from a head kept before the pass began."""
    recorded = Recorded(2)
    async with served(tls_dir, on_exchange=recorded) as lab:
        host = urlsplit(lab.mcp_url).netloc
        reader, writer = await tls_connection(lab.mcp_url, tls_dir)
        writer.write(f"POST /mcp?first=1 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\n".encode())
        assert await asyncio.wait_for(reader.readuntil(b"\r\n"), 10) == b"HTTP/1.1 401 Unauthorized\r\n"
        await asyncio.sleep(1.2)  # past serve_trace.UNREAD_BODY_SECONDS: the POST is traced alone
        writer.write(f"12345GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await asyncio.wait_for(recorded.came.wait(), 10)
        writer.close()
    assert [(e.method, e.path, e.status) for e in recorded.exchanges] == [
        ("POST", "/mcp?first=1", 401),
        ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
    ]


@pytest.fixture
def keep_alive(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Sets uvicorn's keep-alive timer (5 s) shorter than the deadlines below, where a timer left
    running shows as a connection closed before its deadline, and one not running as none closed."""

    def lasting(seconds: float) -> None:
        init = H11Protocol.__init__

        def shorter(self: H11Protocol, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            self.timeout_keep_alive = seconds  # type: ignore[assignment]

        monkeypatch.setattr(H11Protocol, "__init__", shorter)

    return lasting


@pytest.mark.parametrize(
    ("pipelined", "traced"),
    [(b"GET /jwks.json HTTP/1.1\r\n", [("GET", "/jwks.json", 408)]), (b"\r\n", []), (b"\r", [])],
    ids=["part-of-a-head", "an-empty-line", "a-lone-cr"],
)
async def test_a_request_pipelined_in_part_behind_an_answer_has_its_deadline_and_its_408(
    tls_dir: Path, keep_alive: Callable[[float], None], pipelined: bytes, traced: list[tuple[str, str, int]]
) -> None:
    """A request must arrive whole within its deadline, or be answered 408 (RFC 9110 §15.5.9),
    however its first bytes came: sent behind the request before it, they were closed silently by
    uvicorn's keep-alive timer (armed as that answer completed, left running while they arrived),
    with no 408 and nothing in the trace, where on a fresh connection they had their deadline. A
    CR alone, or an empty line, begins no request: answered 408, it is traced as none."""
    keep_alive(0.3)
    exchanges: list[Exchange] = []
    async with served(tls_dir, request_deadline=1, on_exchange=exchanges.append) as lab:
        metadata = f"{lab.issuer}/.well-known/oauth-authorization-server"
        reader, writer = await tls_connection(lab.issuer, tls_dir)
        writer.write(_get(metadata) + pipelined)
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)) == b"HTTP/1.1 200 OK\r\n"
        await asyncio.wait_for(reader.readuntil(b"}"), 10)  # the JSON body, one object
        rest = await asyncio.wait_for(reader.read(), 10)  # read() returns once the server closes
        writer.close()
        await asyncio.sleep(0.1)  # the 408's exchange reaches the trace
    assert rest.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), rest
    assert [(e.method, e.path, e.status) for e in exchanges[1:]] == traced


async def test_a_connection_idle_after_a_body_its_answer_came_before_is_closed_by_the_keep_alive_timer(
    tls_dir: Path, keep_alive: Callable[[float], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between requests a kept connection waits uvicorn's keep-alive timeout, then closes. A POST
    answered 401 from its headers, its body coming after the answer was complete, left the
    connection with no timer at all: held open for as long as its client liked, one of 64 slots."""
    keep_alive(1)
    monkeypatch.setattr(serve_trace, "UNREAD_BODY_SECONDS", 0.1)  # the 401 complete at 0.1 s, not 1 s
    async with served(tls_dir) as lab:
        host = urlsplit(lab.mcp_url).netloc
        reader, writer = await tls_connection(lab.mcp_url, tls_dir)
        writer.write(f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\n".encode())
        assert await asyncio.wait_for(reader.readuntil(b"\r\n"), 10) == b"HTTP/1.1 401 Unauthorized\r\n"
        await asyncio.sleep(0.5)  # the 401 complete, the keep-alive timer armed and not yet run out
        writer.write(b"{}")  # the body, whole: the connection is idle again
        closed = await asyncio.wait_for(_until_closed(reader), 4)
        writer.close()
    assert closed
