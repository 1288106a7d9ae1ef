"""HTTP/1.1's message syntax (RFC 9112) at the served lab's sockets, sent as raw bytes: what h11
leaves to the server (`lab_servers.rfc9112`), the protocol switch and the proxy headers uvicorn
would honour on its own. Each answer is the status the RFC gives, in the server's own shape of
refusal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn.protocols.websockets.auto

from lab_servers import Lab
from lab_servers.serve_trace import TraceRecorder
from lab_servers.trace import Exchange, Trace
from lab_servers.views import show_exchange

from .emitted_bodies import problems
from .serve_helpers import Recorded, served, tls_connection, tls_dir, trusting

pytestmark = pytest.mark.anyio
__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py


async def exchange(
    url: str, request: bytes, context: ssl.SSLContext, *, until_closed: bool = False
) -> tuple[bytes, Any, bytes | None]:
    """Send `request` (`{host}` in it: the server's host:port) on a new connection to `url`'s
    server: the status line of the answer, its body (parsed, if JSON) and, `until_closed`, what came after it
    until the server closed the connection (None if it was still open 0.5 s later: a server that
    closes does so as it answers, in milliseconds)."""
    host = urlsplit(url).netloc
    reader, writer = await asyncio.open_connection(*host.rsplit(":", 1), ssl=context, server_hostname="127.0.0.1")
    writer.write(request.replace(b"{host}", host.encode()))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    body = await asyncio.wait_for(reader.readexactly(int(length[1])), 10) if length else b""
    after: bytes | None = None
    if until_closed:
        with contextlib.suppress(TimeoutError):  # None: kept open for another request
            after = await asyncio.wait_for(reader.read(), 0.5)
    writer.close()
    is_json = re.search(rb"(?i)\r\ncontent-type: application/json", head)
    return head.split(b"\r\n")[0], json.loads(body) if is_json else body.decode(), after


async def test_a_request_with_both_content_length_and_transfer_encoding_is_refused_and_its_connection_closed(
    tls_dir: Path,
) -> None:
    """RFC 9112 §6.3: such a request "ought to be handled as an error", and "Regardless, the server
    MUST close the connection after responding". h11 framed it by Transfer-Encoding and kept the
    connection: what Content-Length counted as body was served as a second request (smuggled)."""
    body = b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: {host}\r\n\r\n"
    head = b"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
        status, error, after = await exchange(lab.mcp_url, request, trusting(tls_dir), until_closed=True)
    assert status == b"HTTP/1.1 400 Bad Request" and after == b""  # closed, with nothing more said
    assert (error["id"], error["error"]["code"]) == (None, -32600)  # the MCP endpoint's JSON-RPC error
    assert "RFC 9112 §6.3" in error["error"]["message"]
    assert [exchange.path for exchange in exchanges] == ["/mcp"]


async def test_an_http_1_0_request_with_transfer_encoding_is_refused_as_faulty_framing(tls_dir: Path) -> None:
    """RFC 9112 §6.1: a server that receives an HTTP/1.0 message with Transfer-Encoding "MUST treat
    the message as if the framing is faulty"; h11 decoded it as chunked and the request was served."""
    request = b"POST /mcp HTTP/1.0\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    async with served(tls_dir) as lab:
        status, error, after = await exchange(lab.mcp_url, request, trusting(tls_dir), until_closed=True)
    assert status == b"HTTP/1.1 400 Bad Request" and after == b""
    assert error["error"]["code"] == -32600 and "RFC 9112 §6.1" in error["error"]["message"]


@pytest.mark.parametrize("codings", [b"gzip, chunked", b"identity", b"chunked, chunked, x-custom"])
async def test_a_transfer_coding_the_server_does_not_implement_is_a_501_and_the_connection_closed(
    tls_dir: Path, codings: bytes
) -> None:
    """RFC 9112 §6.1: "A server that receives a request message with a transfer coding it does not
    understand SHOULD respond with 501 (Not Implemented)"; h11, which decodes chunked alone, made
    it a 400. Its body cannot be framed, so the connection ends with the answer."""
    request = b"POST /mcp HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: " + codings + b"\r\n\r\n0\r\n\r\n"
    async with served(tls_dir) as lab:
        status, said, after = await exchange(lab.mcp_url, request, trusting(tls_dir), until_closed=True)
    assert status == b"HTTP/1.1 501 Not Implemented" and after == b""
    assert "RFC 9112 §6.1" in said


@pytest.mark.parametrize("version", [b"0.9", b"2.0", b"3.1"])
async def test_a_request_of_a_major_version_other_than_1_is_answered_505_and_traced(
    tls_dir: Path, version: bytes
) -> None:
    """RFC 9110 §2.5: a server "can send a 505 (HTTP Version Not Supported) response if it wishes,
    for any reason, to refuse service of the client's major protocol version" (§15.6.6). h11 took
    any `HTTP/d.d`: `HTTP/0.9` with Transfer-Encoding was decoded as chunked and served, though the
    lab refuses the same of HTTP/1.0 as faulty framing (RFC 9112 §6.1)."""
    body = b'{"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}'
    request = (
        b"POST /register HTTP/" + version + b"\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        status, said, after = await exchange(lab.issuer, request, trusting(tls_dir), until_closed=True)
    assert status == b"HTTP/1.1 505 HTTP Version Not Supported" and after == b""
    assert f"not HTTP/{version.decode()} (RFC 9110 §2.5" in said and "speaks HTTP/1.1" in said
    assert [(e.method, e.path, e.status, e.response_body) for e in exchanges] == [("POST", "/register", 505, said)]


@pytest.mark.parametrize(
    ("fields", "body", "answered"),
    [
        (b"Host: {host}\r\nTransfer-Encoding: chunked,\r\n", b"2\r\n{}\r\n0\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"Host: {host}\r\nTransfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n", b"HTTP/1.1 501 Not Implemented"),
        (b"Content-Length: 2\r\n", b"{}", b"HTTP/1.1 400 Bad Request"),
    ],
    ids=["empty-list-element", "unknown-coding", "no-host"],
)  # fmt: skip
async def test_a_request_of_a_later_http_1_x_is_read_as_http_1_1(
    tls_dir: Path, fields: bytes, body: bytes, answered: bytes
) -> None:
    """RFC 9110 §2.5: a recipient SHOULD process a higher minor version "as if it were in the
    highest minor version within that major version to which the recipient is conformant". Judged
    by the string `HTTP/1.1`, `HTTP/1.2` with `chunked,` was a 400 calling it "not chunked, named
    once" (RFC 9110 §5.6.1.2: empty elements are ignored), `gzip, chunked` a 400 (RFC 9112 §6.1:
    501), and one without Host went on to the Host gate's 403 (RFC 9112 §3.2: 400)."""
    request = b"POST /register HTTP/1.2\r\nContent-Type: application/json\r\n" + fields + b"\r\n" + body
    async with served(tls_dir) as lab:
        status, said, _ = await exchange(lab.issuer, request, trusting(tls_dir), until_closed=True)
    assert status == answered
    if b"chunked," in fields:  # read, and answered by the registration endpoint for what `{}` says
        assert said["error"] == "invalid_redirect_uri"
    elif b"gzip" in fields:
        assert "no transfer coding 'gzip'" in said
    else:
        assert "has no Host field (RFC 9112 §3.2: a server MUST answer 400)" in said


async def test_an_absolute_form_request_is_served_for_the_authority_it_names_not_its_host_field(
    tls_dir: Path,
) -> None:
    """RFC 9112 §3.2.2: "A server MUST accept the absolute-form", and MUST ignore the Host field for
    the target's authority. uvicorn handed the whole URI to the apps as a path: each was a 404,
    and the Host and Origin gates judged the Host field."""
    metadata = "/.well-known/oauth-authorization-server"
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        own, context = urlsplit(lab.issuer).netloc, trusting(tls_dir)
        ours = f"GET {lab.issuer}{metadata} HTTP/1.1\r\nHost: attacker.example\r\n\r\n"
        theirs = f"GET https://attacker.example{metadata} HTTP/1.1\r\nHost: {own}\r\n\r\n"
        plain = f"GET http://{own}{metadata} HTTP/1.1\r\nHost: {own}\r\n\r\n"  # not this https server
        answers = [await exchange(lab.issuer, request.encode(), context) for request in (ours, theirs, plain)]
    statuses, bodies = [status for status, _, _ in answers], [body for _, body, _ in answers]
    assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 403 Forbidden", b"HTTP/1.1 421 Misdirected Request"]
    assert bodies[0]["issuer"] == lab.issuer and "'attacker.example'" in bodies[1]["error_description"]
    assert bodies[1]["error"] == bodies[2]["error"] == "invalid_request"
    assert exchanges[0].url == f"{lab.issuer}{metadata}" and exchanges[1].host == "attacker.example"


async def test_a_request_target_in_no_form_of_rfc_9112_is_a_400_that_quotes_it(tls_dir: Path) -> None:
    """RFC 9112 §3.2: a request-target is a path ("/…"), an absolute URI, host:port (CONNECT's) or
    "*" (OPTIONS'); §3: an invalid request-line SHOULD be answered 400. uvicorn handed `GET mcp`
    on as a path: a 404, traced as `http://127.0.0.1:8001mcp`, a URL whose host swallowed it."""
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        context = trusting(tls_dir)
        sent = [(lab.mcp_url, "mcp"), (lab.issuer, "token?x=1"), (lab.issuer, "*"), (lab.documents_origin, "?a=b"),
                (lab.mcp_url, "/mcp#x"), (lab.issuer, "/jwks.json?a=b#x")]  # fmt: skip
        answers = [
            await exchange(url, f"GET {target} HTTP/1.1\r\nHost: {{host}}\r\n\r\n".encode(), context)
            for url, target in sent
        ]
    assert [status for status, _, _ in answers] == [b"HTTP/1.1 400 Bad Request"] * 6, answers
    # Each server refuses in the shape it gives a path outside its endpoints (`error_text.Refusal`).
    assert {body["error"] for _, body, _ in answers} == {"invalid_request"}
    assert "'mcp' is in none of the forms RFC 9112 section 3.2" in answers[0][1]["error_description"]
    assert answers[1][1]["error"] == "invalid_request" and "'token?x=1'" in answers[1][1]["error_description"]
    assert "'*' is for OPTIONS alone" in answers[2][1]["error_description"]
    # RFC 3986 §3.5: a fragment is the client's; uvicorn handed `/mcp#x` on as a path, a 404.
    assert all("'#' begins a fragment" in body["error_description"] for _, body, _ in answers[4:])
    # RFC 9112 §3.3: the target URI of a target in no origin-form has an empty path; its host stays its own.
    assert [e.url for e in exchanges] == [f"https://{urlsplit(url).netloc}" for url, _ in sent]


async def test_options_asterisk_is_a_ping_each_server_answers_200_with_no_content_once_its_gates_pass(
    tls_dir: Path,
) -> None:
    """RFC 9112 §3.2.4: `OPTIONS *` asks about the server as a whole, not a resource; RFC 9110
    §9.3.7 calls it "only useful as a 'ping' or 'no-op'", and an answer without content MUST carry
    `Content-Length: 0`. uvicorn handed `*` on as a path, and each server answered 404 for an
    endpoint it named `*` or `/*`. A foreign Host is still refused first; `*` with a query is no
    asterisk-form, and is in no form at all (400)."""
    exchanges: list[Exchange] = []
    heads: list[bytes] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        context = trusting(tls_dir)
        servers = [lab.mcp_url, lab.issuer, lab.documents_origin]
        for url in servers:
            host = urlsplit(url).netloc
            reader, writer = await asyncio.open_connection(
                *host.rsplit(":", 1), ssl=context, server_hostname="127.0.0.1"
            )
            writer.write(f"OPTIONS * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            heads.append(await asyncio.wait_for(reader.read(), 10))
            writer.close()
        query = await exchange(lab.issuer, b"OPTIONS *?x HTTP/1.1\r\nHost: {host}\r\n\r\n", context)
        foreign = await exchange(lab.issuer, b"OPTIONS * HTTP/1.1\r\nHost: evil.example\r\n\r\n", context)
        # §3.2.4: an absolute-form OPTIONS with an empty path and no query is what a proxy MUST
        # send on as `OPTIONS *`: the same question, the same answer (it was a 404).
        absolute = await exchange(
            lab.issuer, f"OPTIONS {lab.issuer} HTTP/1.1\r\nHost: {{host}}\r\n\r\n".encode(), context
        )
    for head in heads:
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n"), head  # nothing after the head
        assert re.search(rb"(?i)\r\ncontent-length: 0\r\n", head), head
    assert [(e.method, e.status, e.url) for e in exchanges[:3]] == [
        ("OPTIONS", 200, f"https://{urlsplit(url).netloc}")
        for url in servers  # §3.3: empty path and query
    ]
    assert not [problem for e in exchanges for problem in problems(e)]  # each answer as RFC 9110 writes it
    # Printed and shown with the request line as sent (§3.2.4's asterisk-form), not `OPTIONS /`.
    assert all(e.summary().endswith(": OPTIONS * → 200") for e in exchanges[:3]), exchanges[0].summary()
    assert "<b>OPTIONS</b> * HTTP/1.1" in show_exchange(exchanges[0]).html
    assert query[0] == b"HTTP/1.1 400 Bad Request" and "'*?x' is in none of the forms" in query[1]["error_description"]
    assert absolute[0] == b"HTTP/1.1 200 OK" and exchanges[-1].summary().endswith(": OPTIONS * → 200")
    assert foreign[0] == b"HTTP/1.1 403 Forbidden" and "'evil.example'" in foreign[1]["error_description"]


async def test_an_http_1_0_request_without_host_is_refused_for_its_missing_host_not_an_empty_name(
    tls_dir: Path,
) -> None:
    """RFC 9112 §3.2: an HTTP/1.1 request without Host is h11's 400; HTTP/1.0 may omit it, and the
    DNS-rebinding gate, which cannot tell what name such a request was sent to, refuses it. The
    refusal said "Host '' is not a name this lab serves", quoting a field that was never sent."""
    async with served(tls_dir) as lab:
        status, body, _ = await exchange(lab.issuer, b"GET /jwks.json HTTP/1.0\r\n\r\n", trusting(tls_dir))
    assert status == b"HTTP/1.1 403 Forbidden" and body["error"] == "invalid_request"
    assert body["error_description"].startswith("the request has no Host field (HTTP/1.0 may omit it)")


async def test_connect_is_not_implemented_and_traced_for_the_authority_it_names(tls_dir: Path) -> None:
    """The lab opens no tunnels: CONNECT is 501 Not Implemented (RFC 9110 §9.3.6, §15.6.2), not a
    404 or a 403 judged by the Host field. RFC 9112 §3.3: its target URI's authority is the
    request-target (authority-form, §3.2.3), so the trace names the host it asked for."""
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        connect = b"CONNECT internal.example:22 HTTP/1.1\r\nHost: {host}\r\n\r\n"
        status, body, _ = await exchange(lab.issuer, connect, trusting(tls_dir))
    assert status == b"HTTP/1.1 501 Not Implemented" and "opens no tunnels" in body["error_description"]
    assert (exchanges[0].host, exchanges[0].url) == ("internal.example:22", "https://internal.example:22")


@pytest.mark.parametrize("host", ["user@{own}", "127.0.0.1:port", "127.0.0.1:80:80", "[zz]"])
async def test_a_host_field_that_is_not_host_and_port_is_a_400_in_each_servers_shape(tls_dir: Path, host: str) -> None:
    """RFC 9112 §3.2: a server MUST answer 400 to a Host header field with an invalid value
    (RFC 9110 §4.2.4: no userinfo); the gates behind answered 403 or 421, as for a foreign name."""
    async with served(tls_dir) as lab:
        answers = []
        for url, path in ((lab.mcp_url, "/mcp"), (lab.issuer, "/token")):
            own = urlsplit(url).netloc
            request = f"POST {path} HTTP/1.1\r\nHost: {host.format(own=own)}\r\nContent-Length: 0\r\n\r\n"
            answers.append(await exchange(url, request.encode(), trusting(tls_dir)))
    (mcp_status, mcp, _), (as_status, oauth, _) = answers
    assert mcp_status == as_status == b"HTTP/1.1 400 Bad Request"
    assert mcp["error"]["code"] == -32600 and "RFC 9112 §3.2" in mcp["error"]["message"]
    assert oauth["error"] == "invalid_request" and "RFC 9112 section 3.2" in oauth["error_description"]


async def test_a_request_head_over_16_kib_is_answered_414_or_431_however_it_arrives(tls_dir: Path) -> None:
    """h11 limits only a head still incomplete, so one that came in one read was served up to
    ~64 KiB, and one that came in pieces was uvicorn's 400. RFC 9112 §3: a request-target longer
    than the server wishes to parse MUST be answered 414; longer headers, 431 (RFC 6585 §5)."""
    long_target = f"GET /jwks.json?{'a' * 17_000} HTTP/1.1\r\nHost: {{host}}\r\n\r\n".encode()
    many_fields = b"GET /jwks.json HTTP/1.1\r\nHost: {host}\r\n" + b"X: y\r\n" * 4_000 + b"\r\n"
    async with served(tls_dir) as lab:
        context, host = trusting(tls_dir), urlsplit(lab.issuer).netloc
        answers = [await exchange(lab.issuer, head, context, until_closed=True) for head in (long_target, many_fields)]
        # 20 KiB of the same head in pieces, and no more: the server has read all of it when it answers.
        reader, writer = await asyncio.open_connection(*host.rsplit(":", 1), ssl=context, server_hostname="127.0.0.1")
        for start in range(0, 20 * 1024, 4096):
            writer.write(many_fields.replace(b"{host}", host.encode())[start : start + 4096])
            await writer.drain()
        in_pieces = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    statuses = [status for status, _, _ in answers]
    assert statuses == [b"HTTP/1.1 414 URI Too Long", b"HTTP/1.1 431 Request Header Fields Too Large"]
    assert "reads a request line of at most 16384 bytes" in answers[0][1]  # the answer names what was too long
    assert "reads a request line and headers of at most 16384 bytes" in answers[1][1]
    assert [after for _, _, after in answers] == [b"", b""]  # then closed
    assert in_pieces.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


async def test_what_the_sockets_answer_before_any_application_is_printed_and_saved_like_any_exchange(
    tls_dir: Path,
) -> None:
    """README: serve "prints every exchange as it happens" and --trace-file "keeps them all". The
    414, 431 and 501 the protocol answers before h11 parses a head, and the 400 to one h11 cannot
    parse, reached no application and so no recorder: the client had its answer, the trace nothing."""
    heads = [
        b"GET /mcp?" + b"a" * 17_000 + b" HTTP/1.1\r\nHost: {host}\r\n\r\n",
        b"POST /mcp HTTP/1.1\r\nHost: {host}\r\nX-Big: " + b"a" * 17_000 + b"\r\nContent-Length: 0\r\n\r\n",
        b"POST /mcp HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET /mcp HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe/1\r\nBad Header: x\r\n\r\n",
    ]
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        answers = [await exchange(lab.mcp_url, head, trusting(tls_dir), until_closed=True) for head in heads]
    assert [status for status, _, _ in answers] == [
        b"HTTP/1.1 414 URI Too Long",
        b"HTTP/1.1 431 Request Header Fields Too Large",
        b"HTTP/1.1 501 Not Implemented",
        b"HTTP/1.1 400 Bad Request",
    ]
    assert [(e.method, e.status, e.response_body) for e in exchanges] == [
        (method, int(status.split()[1]), said)
        for (status, said, _), method in zip(answers, ["GET", "POST", "POST", "GET"], strict=True)
    ]
    mcp = urlsplit(lab.mcp_url)
    assert exchanges[0].url.startswith(f"https://{mcp.netloc}/mcp?aaaa")
    assert [e.url for e in exchanges[1:]] == [lab.mcp_url] * 3
    assert exchanges[3].caller == "probe/1" and ("bad header", "x") in exchanges[3].request_headers
    assert all(e.error is None and ("connection", "close") in e.response_headers for e in exchanges)


async def test_a_client_cannot_name_its_own_address_or_scheme_in_x_forwarded_headers(tls_dir: Path) -> None:
    """No proxy stands in front of a served lab, yet uvicorn trusted X-Forwarded-For and
    X-Forwarded-Proto from loopback, where every client of the lab is: a new address on each
    registration walked around the hardened AS's per-address rate limit (20 a minute)."""
    exchanges: list[Exchange] = []
    registration = {"redirect_uris": ["http://127.0.0.1:9/callback"], "token_endpoint_auth_method": "none"}
    async with (
        served(tls_dir, on_exchange=exchanges.append) as lab,
        httpx.AsyncClient(verify=trusting(tls_dir)) as http,
    ):
        answers = [
            await http.post(
                f"{lab.issuer}/register",
                json=registration,
                headers={"X-Forwarded-For": f"203.0.113.{n}", "X-Forwarded-Proto": "http"},
            )
            for n in range(21)
        ]
    assert [answer.status_code for answer in answers] == [201] * 20 + [429]
    assert "from 127.0.0.1 " in answers[-1].json()["error_description"]
    assert {(exchange.address, exchange.url.split(":")[0]) for exchange in exchanges} == {("127.0.0.1", "https")}


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _WebSocketLibrary:
    """What uvicorn's "auto" WebSocket protocol is when `websockets` or `wsproto` is installed
    (`uvicorn[standard]`): here it only says that it took the connection."""

    def __init__(self, **_: Any) -> None:
        pass

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, _: bytes) -> None:
        self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")


async def test_an_upgrade_to_websocket_stays_an_http_request_behind_the_labs_gates(
    tls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn's default hands a WebSocket upgrade to the WebSocket library whenever one is
    installed: the connection left the lab's limits and trace, the Host and Origin gates let the
    "websocket" scope through, and the client-metadata host answered it 500. The lab serves no
    WebSocket: the request is an HTTP request like the others."""
    monkeypatch.setattr(uvicorn.protocols.websockets.auto, "AutoWebSocketsProtocol", _WebSocketLibrary)
    upgrade = (
        b"GET /inspector-web.json HTTP/1.1\r\nHost: attacker.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    logged: list[logging.LogRecord] = []
    async with served(tls_dir) as lab:
        uvicorn_log = logging.getLogger("uvicorn.error")  # configured by uvicorn: it does not reach the root
        monkeypatch.setattr(uvicorn_log, "handlers", [*uvicorn_log.handlers, _Collect(logged)])
        status, refusal, _ = await exchange(lab.documents_origin, upgrade, trusting(tls_dir))
    assert status == b"HTTP/1.1 403 Forbidden" and "DNS-rebinding" in refusal["error_description"]
    # RFC 9110 §7.8: a server MAY ignore Upgrade, and the lab does so silently: uvicorn's advice
    # to install a WebSocket library, logged for each such request, is not for the lab.
    assert not [record.getMessage() for record in logged if "upgrade" in record.getMessage().lower()]


async def test_a_field_that_holds_one_value_sent_twice_is_refused_served_whoever_reads_it(tls_dir: Path) -> None:
    """RFC 9110 §5.3: a field that is no list is not sent twice, and two of its lines are no value.
    h11 refuses two Host fields and differing Content-Length values (RFC 9112 §3.2, §6.3) before
    any application; two Origin fields it passes on, and `BrowserOrigins` read the last of them (an
    attacker's, then a loopback one, was vetted and echoed): 403 (RFC 6454 §7.3). Two
    Authorization fields reach the MCP server and the AS, and both refuse them with 400."""
    async with served(tls_dir) as lab:
        context, head = trusting(tls_dir), "POST {path} HTTP/1.1\r\nHost: {host}\r\n{more}\r\n"
        sent = [
            (lab.mcp_url, "/mcp", "Host: {host}\r\nContent-Length: 0\r\n"),
            (lab.mcp_url, "/mcp", "Content-Length: 0\r\nContent-Length: 2\r\n"),
            (lab.mcp_url, "/mcp", "Origin: https://evil.example\r\nOrigin: http://localhost:6274\r\nContent-Length: 0\r\n"),
            (lab.issuer, "/token", "Origin: http://localhost:6274\r\nOrigin: http://localhost:6274\r\nContent-Length: 0\r\n"),
            (lab.mcp_url, "/mcp", "Authorization: Bearer abc\r\nAuthorization: Basic eDp5\r\nContent-Length: 0\r\n"),
            (lab.issuer, "/token", "Authorization: Basic eDp5\r\nAuthorization: Basic eTp6\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n"),
        ]  # fmt: skip
        answers = [
            await exchange(url, head.format(path=path, host="{host}", more=more).encode(), context)
            for url, path, more in sent
        ]
        # RFC 9110 §8.6: lines of one Content-Length value may be read as one (h11 and BodyLimit do).
        same_length = "GET /jwks.json HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"
        kept = await exchange(lab.issuer, same_length.encode(), context)
    statuses = [status.split(b" ")[1] for status, _, _ in answers]
    assert statuses == [b"400", b"400", b"403", b"403", b"400", b"400"], answers
    assert kept[0] == b"HTTP/1.1 200 OK" and "keys" in kept[1], kept
    assert "RFC 6454 §7.3" in answers[2][1]["error"]["message"]
    assert "RFC 6454 section 7.3" in answers[3][1]["error_description"]
    assert "RFC 9110 section 5.3" in answers[4][1]["error_description"]  # the MCP server's RFC 6750 answer
    assert answers[5][1]["error"] == "invalid_request" and "RFC 9110 section 5.3" in answers[5][1]["error_description"]


INITIALIZE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})


async def test_a_body_the_app_answered_without_reading_is_traced_as_sent(tls_dir: Path) -> None:
    """Every outside client's first POST /mcp is a 401 its app sends without reading the body: the
    served trace kept its Content-Length and an empty body (notebooks/sdk-client-trace.jsonl's
    first POST too), where the in-process trace of the same request holds the body as sent."""
    exchanges: list[Exchange] = []
    async with (
        served(tls_dir, on_exchange=exchanges.append) as lab,
        httpx.AsyncClient(verify=trusting(tls_dir)) as http,
    ):
        answer = await http.post(lab.mcp_url, content=INITIALIZE, headers={"content-type": "application/json"})
        kept = lab.lab.trace.exchanges[-1].request_body
        large = await http.post(lab.mcp_url, content=b"x" * 200_000, headers={"content-type": "application/json"})
    assert answer.status_code == large.status_code == 401
    assert exchanges[0].request_body == kept == INITIALIZE
    # Up to what the trace keeps of a body (64 KiB), and no more is read for it.
    assert exchanges[1].request_body.startswith("x" * 65536 + "\n… [truncated: the trace keeps the first 65536 of ")
    assert re.search(r"\[the app answered without reading this body to its end; the trace read its first \d+ bytes\]$",
                     exchanges[1].request_body)  # fmt: skip


async def test_a_body_that_never_comes_is_waited_for_a_moment_and_the_trace_says_so(
    tls_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading what the app left unread must not make the answer wait on a client that declares a
    body and never sends it: the trace waits UNREAD_BODY_SECONDS, and says what came. A client
    that asks for a 100 (Continue) first (RFC 9110 §10.1.1) gets none once the answer has begun,
    and one that sends its body anyway has it traced as sent (it was said to have sent none)."""
    from lab_servers import serve_trace

    monkeypatch.setattr(serve_trace, "UNREAD_BODY_SECONDS", 0.2)
    exchanges: list[Exchange] = []
    head = "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        host = urlsplit(lab.mcp_url).netloc
        reader, writer = await asyncio.open_connection(
            *host.rsplit(":", 1), ssl=trusting(tls_dir), server_hostname="127.0.0.1"
        )
        writer.write(f"{head}\r\n{INITIALIZE[:10]}".replace("{host}", host).encode())  # and nothing more
        status = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).split(b"\r\n")[0]
        for _ in range(100):  # recorded once the answer has ended, 0.2 s on
            if exchanges:
                break
            await asyncio.sleep(0.05)
        writer.close()
        # Kept open, as a client waiting for a 100 keeps it (closed, the trace says it ended).
        reader, writer = await asyncio.open_connection(
            *host.rsplit(":", 1), ssl=trusting(tls_dir), server_hostname="127.0.0.1"
        )
        writer.write(f"{head}Expect: 100-continue\r\n\r\n".replace("{host}", host).encode())
        waiting = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).split(b"\r\n")
        for _ in range(100):
            if len(exchanges) > 1:
                break
            await asyncio.sleep(0.05)
        writer.close()
        anyway = f"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        anyway += f"Content-Length: {len(INITIALIZE)}\r\n\r\n{INITIALIZE}"
        await exchange(lab.mcp_url, anyway.encode(), trusting(tls_dir))
    assert status == waiting[0] == b"HTTP/1.1 401 Unauthorized"
    assert exchanges[2].request_body == INITIALIZE
    assert exchanges[0].request_body == INITIALIZE[:10] + (
        "\n… [the app answered without reading this body to its end; 10 bytes of it came, then none for 0.2 s]"
    )
    assert exchanges[1].request_body.endswith(
        "none came in 0.2 s: it asked to wait for a 100 (Continue), and none is sent once the answer has begun]"
    )


# Targets a percent-decoding server reads as something else: a newline, a fragment, a query, a
# path segment, an octet that is no UTF-8, a space and a tab, each encoded as the URI has them.
ENCODED_TARGETS = ["/toke%0An", "/token%23x", "/mcp%3Fx=1", "/x%2F..%2Fadmin", "/p%FF", "/a%20b", "/mcp%09x",
                   "/jwks.json?a=%2F%23&b=%0A"]  # fmt: skip


async def test_the_served_trace_records_each_request_target_as_sent_as_the_in_process_trace_does(
    tls_dir: Path,
) -> None:
    """RFC 9112 §3.2: the request-target is the octets the request line carries. The served trace
    built it from uvicorn's percent-decoded path: `/toke%0An` was shown as `POST /token`,
    `/token%23x` as `/token`, `/mcp%3Fx=1` with a query it never had and `%2F..%2F` as `/../`,
    where the in-process trace keeps the target as sent. An absolute-form target is kept as sent
    too; one of octets beyond ASCII h11 refuses before any app, and the 400 the sockets answer is
    traced with the target's octets read as Latin-1, as a field value's are (RFC 9110 §5.5)."""
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        context = trusting(tls_dir)
        for target in [*ENCODED_TARGETS, f"{lab.issuer}/p%FF?q=%0A"]:
            await exchange(lab.issuer, f"GET {target} HTTP/1.1\r\nHost: {{host}}\r\n\r\n".encode(), context)
        status, _, _ = await exchange(lab.issuer, "GET /é HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(), context)
    in_process = Lab()
    async with in_process.httpx_client("you") as http:
        for target in ENCODED_TARGETS:
            await http.get(f"{in_process.issuer}{target}")
    assert [e.path for e in exchanges] == [*ENCODED_TARGETS, "/p%FF?q=%0A", "/\u00c3\u00a9"]
    assert [e.path for e in in_process.trace.exchanges] == ENCODED_TARGETS
    assert exchanges[-2].url == f"{lab.issuer}/p%FF?q=%0A"
    assert status == b"HTTP/1.1 400 Bad Request" and exchanges[-1].status == 400
    assert "<b>GET</b> /toke%0An HTTP/1.1" in show_exchange(exchanges[0]).html


async def test_a_served_answer_to_head_is_traced_without_the_body_that_never_went_on_the_wire(tls_dir: Path) -> None:
    """RFC 9110 §9.3.2: no content in an answer to HEAD. Starlette sends GET's body anyway and
    h11 drops it on the socket; the served trace kept all 1,300 characters of it, where the
    in-process one (which drops it as h11 does) kept none."""
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        host = urlsplit(lab.issuer).netloc
        reader, writer = await asyncio.open_connection(
            *host.rsplit(":", 1), ssl=trusting(tls_dir), server_hostname="127.0.0.1"
        )
        writer.write(
            f"HEAD /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        head, _, after = (await asyncio.wait_for(reader.read(), 10)).partition(b"\r\n\r\n")
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and after == b""  # on the wire: the head alone
    assert (exchanges[-1].status, exchanges[-1].response_body) == (200, "")


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("POST", 304), ("GET", 200)])
async def test_the_served_trace_keeps_no_content_for_head_204_or_304_as_h11_sends_none(
    method: str, status: int
) -> None:
    # RFC 9110 §9.3.2, §15.3.5, §15.4.5, as the in-process network drops it (`network.asgi`).
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"not sent"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    trace = Trace()
    scope = {"type": "http", "method": method, "path": "/x", "raw_path": b"/x", "scheme": "https",
             "query_string": b"", "headers": [(b"host", b"mcp.example.com")], "client": ("127.0.0.1", 1)}  # fmt: skip
    await TraceRecorder(app, trace, lambda: 0)(scope, receive, send)
    assert trace.exchanges[-1].response_body == ("not sent" if (method, status) == ("GET", 200) else "")


# Hosts a server refuses (RFC 9112 §3.2: 400), with "[" or "]" outside an IP literal, controls, a space.
HOSTILE_HOSTS = ["a]b", "[", "[x", "]", "\x1b]0;pwn\x07", "a b", "[::1", "a[b]c"]


async def test_a_served_request_with_a_hostile_host_is_traced_with_the_target_its_request_line_had(
    tls_dir: Path,
) -> None:
    """The trace's target is what the request line carried (RFC 9112 §3.2), whatever the Host said.
    An invalid Host with "[" or "]" left a URL `urlsplit` refuses, and every view showed the
    whole URL as the target: `GET https://a]b/mcp?a=1`; the raw view must show what was sent."""
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        for host in HOSTILE_HOSTS:
            request = f"GET /mcp?a=1 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("latin-1")
            status, _, _ = await exchange(lab.mcp_url, request, trusting(tls_dir))
            assert status == b"HTTP/1.1 400 Bad Request", host
    assert [e.host for e in exchanges] == HOSTILE_HOSTS  # as sent: the summary escapes what a terminal acts on
    assert [e.path for e in exchanges] == ["/mcp?a=1"] * len(HOSTILE_HOSTS)
    assert all("<b>GET</b> /mcp?a=1 HTTP/1.1" in show_exchange(e).html for e in exchanges)
    assert all(e.summary().endswith(": GET /mcp?a=1 → 400") for e in exchanges)


async def test_the_served_trace_keeps_an_empty_query_as_the_in_process_trace_does(tls_dir: Path) -> None:
    """RFC 3986 §3.4: `/mcp?` has a query, empty, and `/mcp` none; the in-process trace shows the
    "?". uvicorn's scope splits the target at its "?" and keeps no sign of one, and the served trace
    dropped it: the protocol now hands the request line's target to the trace (`REQUEST_TARGET`),
    and the 400 the sockets answer to a head h11 cannot parse keeps it too."""
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        for target in ("/mcp?", "/mcp", "/.well-known/oauth-protected-resource/mcp?", "mcp?"):
            await exchange(lab.mcp_url, f"GET {target} HTTP/1.1\r\nHost: {{host}}\r\n\r\n".encode(), trusting(tls_dir))
        status, _, _ = await exchange(
            lab.mcp_url, b"GET /mcp? HTTP/1.1\r\nHost: {host}\r\nX: a\x00b\r\n\r\n", trusting(tls_dir)
        )
    in_process = Lab()
    async with in_process.httpx_client("you") as http:
        await http.get(f"{in_process.mcp_url}?")
    assert in_process.trace.exchanges[0].path == "/mcp?"
    assert status == b"HTTP/1.1 400 Bad Request"  # h11 refuses the NUL: the sockets answer
    assert [e.path for e in (*exchanges[:3], exchanges[-1])] == [
        "/mcp?", "/mcp", "/.well-known/oauth-protected-resource/mcp?", "/mcp?"
    ]  # fmt: skip
    assert "'mcp?' is in none of the forms" in str(exchanges[3].response_body)  # the 400 quotes it as sent


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (
            b"\r\nGET /mcp?x=1 HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe/1\r\nX: a\x00b\r\n\r\n",
            "an empty line first",
        ),
        (b"GET /mcp?x=1 HTTP/1.1\nHost: {host}\nUser-Agent: probe/1\nX: a\x00b\n\n", "LF line ends"),
        (b"\n\r\nGET /mcp?x=1 HTTP/1.1\r\nHost: {host}\nUser-Agent: probe/1\r\nX: a\x00b\n\r\n", "both"),
    ],
    ids=["leading-crlf", "bare-lf", "both"],
)
async def test_a_head_the_sockets_answer_is_read_as_rfc_9112_reads_it(tls_dir: Path, head: bytes, why: str) -> None:
    """RFC 9112 §2.2: a server SHOULD ignore an empty line before the request line, and MAY take a
    bare LF as a line's end, as h11 does. The trace of a 400 split the head on CRLF alone: after an
    empty line it had no method and the request line as a header; with LF ends, the whole head was
    the target and there were no headers."""
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        status, _, _ = await exchange(lab.mcp_url, head, trusting(tls_dir), until_closed=True)
    assert status == b"HTTP/1.1 400 Bad Request", why
    (traced,) = exchanges
    host = urlsplit(lab.mcp_url).netloc
    assert (traced.method, traced.path, traced.caller, traced.status) == ("GET", "/mcp?x=1", "probe/1", 400)
    assert traced.request_headers == (("host", host), ("user-agent", "probe/1"), ("x", "a\x00b"))


# "[V1.a:b]" is a valid Host (an IPvFuture, its "v" case-insensitive, RFC 5234 §2.3) that
# Python's urlsplit refuses all the same.
@pytest.mark.parametrize("host", [*HOSTILE_HOSTS, "[V1.a:b]"])
def test_every_view_of_an_exchange_with_a_hostile_host_shows_the_target_sent(host: str) -> None:
    # The recorder's URL for an origin-form target and an invalid Host: one `urlsplit` reads, on
    # every Python the lab runs on, so that the target is the path and query, not the whole URL.
    from lab_servers.serve_trace import _target
    from lab_servers.views.diagram_model import request_label

    scope = {"method": "GET", "scheme": "https", "path": "/mcp", "raw_path": b"/mcp", "query_string": b"a=1"}
    named, url = _target(scope, host)
    urlsplit(url)  # no ValueError
    traced = Exchange(seq=1, step=None, caller="c", host=named, address="127.0.0.1", method="GET", url=url,
                      request_headers=(("host", host),), request_body="", status=400, response_headers=(),
                      response_body="")  # fmt: skip
    assert named == host and traced.path == "/mcp?a=1" and request_label(traced).startswith("GET /mcp?")


def test_a_head_the_sockets_answer_is_traced_as_rfc_9112_reads_it_whatever_its_line_ends() -> None:
    from lab_servers.serve_sockets import SocketAnswer
    from lab_servers.serve_trace import record_socket_answers
    from lab_servers.trace import Trace

    trace = Trace()
    record = record_socket_answers(trace, lambda: 0)
    for head in (
        b"\r\nGET /mcp? HTTP/1.1\r\nUser-Agent: curl/8\r\n\r\n",
        b"GET /mcp? HTTP/1.1\nUser-Agent: curl/8\nX: a\x00b\n\n",
        b"GET /mcp? HTTP/1.1\r\nUser-Agent: curl/8\r\nX: a",  # all that came before a 408
    ):
        record(SocketAnswer(400, (), "no", head=head, client=("127.0.0.1", 5), server=("127.0.0.1", 8000)))
    assert [e.summary() for e in trace.exchanges] == [
        f"#{n} curl/8 → 127.0.0.1:8000: GET /mcp? → 400" for n in (1, 2, 3)
    ]
    assert [e.request_headers[0] for e in trace.exchanges] == [("user-agent", "curl/8")] * 3


async def _answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """The status line and body of the next answer on a connection, framed by its Content-Length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    return head.split(b"\r\n")[0], await asyncio.wait_for(reader.readexactly(int(length[1]) if length else 0), 10)


async def test_empty_lines_before_a_request_line_are_ignored_first_and_between_pipelined_requests(
    tls_dir: Path,
) -> None:
    """RFC 9112 §2.2: "a server that is expecting to receive and parse a request-line SHOULD ignore
    at least one empty line (CRLF) received prior to the request-line". h11 answered the first one
    400 and closed the connection, and the CRLF some clients add after a POST's body broke the
    request pipelined behind it: the trace showed that well-formed GET answered 400, and no why."""
    get = b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: {host}\r\n\r\n"
    post = b"POST /register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        context, host = trusting(tls_dir), urlsplit(lab.issuer).netloc.encode()
        first = [await exchange(lab.issuer, lines + get, context) for lines in (b"\r\n", b"\n\r\n" * 5)]
        reader, writer = await asyncio.open_connection(
            *host.decode().rsplit(":", 1), ssl=context, server_hostname="127.0.0.1"
        )
        writer.write((post + b"\r\n" + get).replace(b"{host}", host))
        pipelined = [await _answer(reader) for _ in range(2)]
        writer.write(b"\r")  # an empty line's CR alone in one read (h11 took it for a request line), its LF next
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.write(b"\n" + get.replace(b"{host}", host))
        pipelined.append(await _answer(reader))
        writer.close()
    assert [status for status, _, _ in first] == [b"HTTP/1.1 200 OK"] * 2
    assert [status for status, _ in pipelined] == [b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK"]
    assert b"redirect_uris" in pipelined[0][1]  # the registration's own 400: `{}` registers no client
    metadata = ("GET", "/.well-known/oauth-authorization-server", 200)
    assert [(e.method, e.path, e.status) for e in exchanges] == [
        metadata,
        metadata,
        ("POST", "/register", 400),
        metadata,
        metadata,
    ]


async def test_more_than_ten_empty_lines_before_a_request_line_are_a_400_that_names_the_rule(tls_dir: Path) -> None:
    """§2.2 asks a server to ignore at least one; ten are ignored, for each request (Apache httpd's
    limit). Past them they are no client's robustness, and the 400 and its trace say which rule,
    where h11's 400 said "Invalid HTTP request received." of every head it could not parse."""
    get = b"GET /jwks.json HTTP/1.1\r\nHost: {host}\r\n\r\n"
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        ten, eleven = [
            await exchange(lab.issuer, b"\r\n" * n + get, trusting(tls_dir), until_closed=True) for n in (10, 11)
        ]
    assert ten[0] == b"HTTP/1.1 200 OK" and ten[2] is None  # kept open for the next request
    assert eleven[0] == b"HTTP/1.1 400 Bad Request" and eleven[2] == b""
    assert "more than 10 empty lines came before the request line (RFC 9112 §2.2" in eleven[1]
    assert [(e.path, e.status) for e in exchanges] == [("/jwks.json", 200), ("/jwks.json", 400)]
    assert exchanges[1].response_body == eleven[1]


@pytest.mark.parametrize(
    ("fields", "body", "rule"),
    [
        (b"Content-Length: 2\r\nContent-Length: 3\r\n", b"{}", "Content-Length values differ, so it has no one length (RFC 9112 §6.3"),
        (b"Content-Length: -1\r\n", b"", "Content-Length is not a number of octets, 1*DIGIT (RFC 9110 §8.6"),
        (b"Transfer-Encoding: chunked, chunked\r\n", b"0\r\n\r\n", "chunked is applied more than once (RFC 9112 §6.1"),
        (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\n", "chunked is applied more than once (RFC 9112 §6.1"),
        (b"Content-Type : application/json\r\nContent-Length: 2\r\n", b"{}", "whitespace between its name and the colon (RFC 9112 §5.1: a server MUST answer 400)"),
        (b"X: a\x00b\r\nContent-Length: 2\r\n", b"{}", "its value without CR, LF, NUL or other controls (RFC 9112 §5; RFC 9110 §5.1, §5.5)"),
        (b"Transfer-Encoding: chunked\r\n", b"f" * 24 + b"\r\nab\r\n0\r\n\r\n", "a chunk's size line is not chunk-size [ chunk-ext ] CRLF"),
        (b"Transfer-Encoding: chunked\r\n", b"1\r\nabc\r\n0\r\n\r\n", "a chunk's data is not followed by CRLF where its chunk-size says it ends (RFC 9112 §7.1)"),
        (b"Content-Length: 2,\r\n", b"{}", "Content-Length is not a number of octets, 1*DIGIT, but a list with an empty element (RFC 9110 §8.6"),
        (b"Transfer-Encoding: ,\r\n", b"0\r\n\r\n", "Transfer-Encoding names no transfer coding, so chunked is not the final one"),
    ],
    ids=["two-lengths", "negative-length", "chunked-twice", "two-chunked-fields", "space-before-colon", "nul", "chunk-size-overflow", "chunk-overrun", "length-with-empty-element", "no-coding"],
)  # fmt: skip
async def test_a_request_h11_cannot_parse_is_answered_400_naming_the_rule_it_breaks(
    tls_dir: Path, fields: bytes, body: bytes, rule: str
) -> None:
    """The lab's own socket answers (414, 431, 501, 408) say what was wrong; uvicorn answered every
    request h11 cannot parse "Invalid HTTP request received.", dropping h11's reason, so a client
    could not tell a negative Content-Length from a chunk-size too long. The answer names the rule
    (RFC 9112 §5.1, §6.1, §6.3, §7.1; RFC 9110 §8.6), and the trace keeps it as sent."""
    exchanges: list[Exchange] = []
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        head = b"POST /token HTTP/1.1\r\nHost: {host}\r\n" + fields + b"\r\n"
        status, said, after = await exchange(lab.issuer, head + body, trusting(tls_dir), until_closed=True)
    assert status == b"HTTP/1.1 400 Bad Request" and after == b""
    assert rule in said, said
    assert [(e.method, e.path, e.status, e.response_body) for e in exchanges] == [("POST", "/token", 400, said)]


@pytest.mark.parametrize(
    ("after_body", "status", "said", "traced"),
    [
        (b"\r\n" + b"GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {host}\r\n\r\n", b"200 OK", "authorization_servers", ("GET", "/.well-known/oauth-protected-resource/mcp", 200)),
        (b"POST /mcp HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", b"501 Not Implemented", "no transfer coding 'gzip', chunked alone (RFC 9112 §6.1", ("POST", "/mcp", 501)),
        (b"\r\n" * 11 + b"GET /jwks.json HTTP/1.1\r\nHost: {host}\r\n\r\n", b"400 Bad Request", "more than 10 empty lines came before the request line", ("GET", "/jwks.json", 400)),
    ],
    ids=["one-empty-line", "unknown-coding", "eleven-empty-lines"],
)  # fmt: skip
async def test_the_request_after_a_body_its_answer_came_before_is_read_as_every_request_is(
    tls_dir: Path, after_body: bytes, status: bytes, said: str, traced: tuple[str, str, int]
) -> None:
    """RFC 9112 §2.2 (empty lines ignored), §6.1 (501 for a coding not understood) hold for each
    request on a connection. A POST answered 401 from its headers, its body then coming with the
    next request behind it, made uvicorn read that request in its own loop, past the checks: the
    one CRLF a client adds after a body was an eleventh empty line's 400, closing the connection,
    `gzip, chunked` a 400, and a 400 was traced with the POST's head."""
    recorded = Recorded(2)
    async with served(tls_dir, on_exchange=recorded) as lab:
        host = urlsplit(lab.mcp_url).netloc.encode()
        reader, writer = await tls_connection(lab.mcp_url, tls_dir)
        writer.write(b"POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Length: 2\r\n\r\n" % host)
        assert (await _answer(reader))[0] == b"HTTP/1.1 401 Unauthorized"
        await asyncio.sleep(1.2)  # past serve_trace.UNREAD_BODY_SECONDS: the 401 is complete
        writer.write(b"{}" + after_body.replace(b"{host}", host))
        answered, body = await _answer(reader)
        await asyncio.wait_for(recorded.came.wait(), 10)
        writer.close()
    assert answered == b"HTTP/1.1 " + status and said in body.decode(), body
    assert [(e.method, e.path, e.status) for e in recorded.exchanges] == [("POST", "/mcp", 401), traced]


@pytest.mark.parametrize(
    "fields",
    [b"Transfer-Encoding: chunked,\r\n", b"Transfer-Encoding: , chunked\r\n", b"Transfer-Encoding: chunked\r\nTransfer-Encoding: ,\r\n", b"Transfer-Encoding: ,chunked , ,\r\n",
     b"Transfer-Encoding: chunked,\r\n ,\r\n"],
    ids=["after", "before", "a-line-of-them", "around", "folded"],
)  # fmt: skip
async def test_empty_elements_of_the_transfer_encoding_list_are_ignored(tls_dir: Path, fields: bytes) -> None:
    """RFC 9110 §5.6.1.2: "a recipient MUST parse and ignore a reasonable number of empty list
    elements"; h11 takes the field's value whole and refused `chunked,` as framing it cannot read.
    Chunked it is: the registration endpoint reads the body and answers for what it says. Folded
    onto a second line (RFC 9112 §5.2: read with SP for the fold, as h11 reads other folded
    fields), it was refused as "not chunked, named once"."""
    head = b"POST /register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n" + fields + b"\r\n"
    async with served(tls_dir) as lab:
        status, error, after = await exchange(
            lab.issuer, head + b"2\r\n{}\r\n0\r\n\r\n", trusting(tls_dir), until_closed=True
        )
    assert status == b"HTTP/1.1 400 Bad Request" and after is None  # the endpoint's own 400, the connection kept
    assert error["error"] == "invalid_redirect_uri"  # `{}` registers no client


@pytest.mark.parametrize(
    ("trailer", "rule"),
    [
        (b"Content-Length: 5, 6\r\n", "the trailer section has a Content-Length field (its value is a list, not one number of octets)"),
        (b"Transfer-Encoding: chunked,\r\n", "the trailer section has a Transfer-Encoding field (its value is not `chunked` alone"),
        (b"X-Sum : 1\r\n", "a field line of the trailer section has whitespace between its name and the colon"),
    ],
    ids=["content-length", "transfer-encoding", "space-before-colon"],
)  # fmt: skip
async def test_a_trailer_field_h11_refuses_is_named_as_a_trailer_field_not_read_from_the_head(
    tls_dir: Path, trailer: bytes, rule: str
) -> None:
    """RFC 9112 §7.1.2: a chunked body may end with a trailer section of field lines; RFC 9110
    §6.5.1: a field that frames the message belongs in no trailer. h11 refuses these there, and the
    400 named a rule read from the head, which broke none: `Content-Length: 5, 6` was "a list with
    an empty element", `Transfer-Encoding: chunked,` "not chunked, named once". Its trailer
    `X-Sum: 1` (a field line as it should be) is served."""
    exchanges: list[Exchange] = []
    head = b"POST /register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with served(tls_dir, on_exchange=exchanges.append) as lab:
        status, said, after = await exchange(
            lab.issuer, head + b"2\r\n{}\r\n0\r\n" + trailer + b"\r\n", trusting(tls_dir), until_closed=True
        )
        fine, error, _ = await exchange(lab.issuer, head + b"2\r\n{}\r\n0\r\nX-Sum: 1\r\n\r\n", trusting(tls_dir))
    assert status == b"HTTP/1.1 400 Bad Request" and after == b""
    assert said.startswith(rule) and "RFC 9112 §7.1.2" in said, said
    assert [(e.path, e.status, e.response_body) for e in exchanges[:1]] == [("/register", 400, said)]
    assert fine == b"HTTP/1.1 400 Bad Request" and error["error"] == "invalid_redirect_uri"  # the endpoint's own
