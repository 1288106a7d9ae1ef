"""The trace of `python -m lab_servers serve`: the recorder every served app sits behind, and the
bounds on what it keeps, since a served process answers strangers for as long as its user wants."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .network.http1 import NO_CONTENT
from .rfc9112 import (
    REQUEST_TARGET,
    absolute_form_authority,
    head_lines,
    is_host_field,
    method_and_target,
    request_target_form,
)
from .serve_sockets import GRACEFUL_SHUTDOWN_SECONDS, SOCKET_ANSWER, SocketAnswer
from .trace import BodyTap, Exchange, Headers, Trace

# A served process lives as long as its user wants and answers anyone, so what it keeps in memory
# has a bound that does not depend on what strangers send: the latest exchanges, each with its
# first headers and the first characters of its bodies (h11 already caps a request's line and
# headers at 16 KiB). At their limits 1,000 exchanges are estimated at under ~100 MB; measured:
# 3,000 POSTs of 64 KiB that decode to U+FFFD grew the process by 16 MB (12,000 grew it by 1.3 GB
# before). Every exchange is still printed and, with --trace-file, saved to the file as it
# happens, bodies as the trace keeps them (64 KiB).
MAX_SERVED_EXCHANGES = 1_000
MAX_SERVED_BODY_CHARS = 4_096
MAX_SERVED_HEADERS = 40  # a browser sends ~20; 16 KiB of tiny headers cost ~0.5 MB as Python tuples
# How long an answer waits for the rest of a body its app left unread, for the trace (below): a
# client sends its body with its head, so this is spent only on one that does not send it.
UNREAD_BODY_SECONDS = 1.0
# Who ended an exchange no one answered, as the trace says it (RFC 9110 §15.5.9's 408 and an answer
# to a serve stopping are answers, recorded as such).
HUNG_UP = "no response: the client closed its connection before its request was read whole"
STOPPING = (
    "serve stopped before this request was answered: it was still in flight when the graceful shutdown's "
    f"{GRACEFUL_SHUTDOWN_SECONDS} s had passed (RFC 9110 §15.6.4: 503, try again once serve is back)"
)


def print_and_save(trace: Trace, on_exchange: Callable[[Exchange], None]) -> None:
    """Hand every exchange recorded in a served lab's `trace` to `on_exchange` (serve prints it
    and saves it to --trace-file) as it is recorded, then keep the trace bounded. On the trace
    itself, not in `TraceRecorder`: the served AS's fetch of a document on the lab network
    (https://app.example/client.json, `serve_outbound`) is recorded there by the network, and was
    neither printed nor saved."""

    def recorded(exchange: Exchange) -> None:
        try:
            on_exchange(exchange)
        finally:
            _keep_bounded(trace, exchange)

    trace.on_record = recorded


class TraceRecorder:
    """ASGI middleware recording every HTTP exchange an app serves, whoever the caller is."""

    def __init__(self, app: ASGIApp, trace: Trace, clock_now: Callable[[], int]):
        self.app, self.trace, self.clock_now = app, trace, clock_now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seq = self.trace.start()
        request_body, response_body = BodyTap(), BodyTap()  # bounded: a trace is not a copy of every upload
        # RFC 9110 §9.3.2, §15.3.5, §15.4.5: no content in an answer to HEAD, nor in a 204 or a 304.
        # An app may send a body anyway (Starlette answers HEAD with GET's), which h11 drops on the
        # socket: the trace keeps none either, as the in-process network (`network.asgi`) does.
        response: dict[str, Any] = {"status": None, "headers": (), "content": scope["method"] != "HEAD"}
        # Its body read to its end; what the trace says if not; whether the server said it was gone.
        request: dict[str, Any] = {"ended": False, "unread": "", "disconnected": False}

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.add(message.get("body", b""))
                request["ended"] = not message.get("more_body", False)
            else:  # http.disconnect: no more of it will come
                request["ended"] = request["disconnected"] = True
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["content"] = response["content"] and message["status"] not in NO_CONTENT
                response["headers"] = tuple(
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])
                )
            elif message["type"] == "http.response.body":
                if not message.get("more_body", False) and not request["ended"]:
                    # Before the answer ends: uvicorn hands the app no more of the request after.
                    request["unread"] = await _read_what_was_left(receive, request_body, scope)
                if response["content"]:
                    response_body.add(message.get("body", b""))
            await send(message)

        gone: str | None = None
        try:
            await self.app(scope, recording_receive, recording_send)
        except ClientDisconnect:
            # The connection ended before the request was read whole: the client hung up, or its
            # deadline passed and `serve_sockets` answered 408 (SOCKET_ANSWER, below). uvicorn hands
            # the app `http.disconnect` and Starlette's body reader raises this; uvicorn printed it
            # as "Exception in ASGI application" with a traceback, for every stranger who closes a
            # socket early. It is no server error and there is no one left to answer (uvicorn drops
            # whatever the app sends after `http.disconnect`, the 500 Starlette sends on the way
            # out too; the ASGI spec lets a server raise an OSError there instead, which would end
            # up here no more).
            gone = HUNG_UP
        except asyncio.CancelledError:
            # serve is stopping: uvicorn cancels a request still in flight once its graceful
            # shutdown has passed, and answered one not yet begun 500 "Internal Server Error", for
            # no error of the server's; the trace showed no status and no error at all ("→ None").
            if response["status"] is None and not request["disconnected"]:
                await _answer_stopping(send, response, response_body)
            raise
        finally:
            answered = scope.get(SOCKET_ANSWER)
            if isinstance(answered, SocketAnswer):  # the server's own 408 or 400, past the app
                gone = None
                response.update(status=answered.status, headers=answered.headers)
                response_body = BodyTap()
                response_body.add(answered.body.encode())
            elif response["status"] is None and request["disconnected"]:
                gone = HUNG_UP
            headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"])
            named = dict(headers)
            host, target = _target(scope, named.get("host", ""))
            user_agent = named.get("user-agent", "").split(" ")[0]
            client = scope.get("client") or ("?", 0)
            self.trace.record(
                seq,
                caller=user_agent or client[0],
                host=host,
                address=client[0],
                method=scope["method"],
                url=target,
                request_headers=headers,
                request_body=request_body.text() + request["unread"],
                status=None if gone else response["status"],
                response_headers=() if gone else response["headers"],
                response_body="" if gone else response_body.text(),
                error=gone,
                at=self.clock_now(),
            )


async def _answer_stopping(send: Send, response: dict[str, Any], body: BodyTap) -> None:
    text = STOPPING.encode()
    headers = (("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(text))))
    response.update(status=503, headers=headers)
    body.add(text)
    await send(
        {"type": "http.response.start", "status": 503, "headers": [(k.encode(), v.encode()) for k, v in headers]}
    )
    await send({"type": "http.response.body", "body": text})


def record_socket_answers(trace: Trace, clock_now: Callable[[], int]) -> Callable[[SocketAnswer], None]:
    """What `serve_sockets` is to tell of an answer it wrote to a request no application saw (a
    414, 431, 505 or 501 before its head was parsed, a 400 to a head h11 could not parse, a 408 to one
    that never came whole): an exchange in the trace, printed and saved like any other, made of
    what arrived of the head. They were in neither the console nor --trace-file."""

    def record(answer: SocketAnswer) -> None:
        seq = trace.start()
        request_line, *fields = head_lines(answer.head) or [""]
        method, target = method_and_target(request_line)
        headers = tuple((n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in fields))
        client, server = answer.client or ("?", 0), answer.server or ("?", 0)
        named = dict(headers)
        # `_target` reads the request-target as sent, which a socket answer has whole.
        scope = {"method": method, "scheme": answer.scheme, REQUEST_TARGET: target.encode("latin-1")}
        address = f"[{server[0]}]" if ":" in server[0] else server[0]  # RFC 3986 §3.2.2
        host, target = _target(scope, named.get("host", f"{address}:{server[1]}"))
        trace.record(
            seq,
            caller=named.get("user-agent", "").split(" ")[0] or client[0],
            host=host,
            address=client[0],
            method=method,
            url=target,
            request_headers=headers,
            request_body="",
            status=answer.status,
            response_headers=answer.headers,
            response_body=answer.body,
            error=None,
            at=clock_now(),
        )

    return record


async def _read_what_was_left(receive: Receive, body: BodyTap, scope: Scope) -> str:
    """Read, for the trace, the body of a request its app answered without reading it whole (every
    outside client's first POST /mcp: the 401 needs no body, and the served trace showed it empty
    where the in-process one shows it as sent), up to what the trace keeps of a body and for at
    most UNREAD_BODY_SECONDS; what the trace then says about it, or "" when it came whole."""
    unread = "\n… [the app answered without reading this body to its end"
    # RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` may wait for a 100 (Continue)
    # before its body, or send it anyway. Reading here asks for no 100: the answer has begun, and
    # uvicorn sends none after that; what the client sent anyway is read as any other body.
    waited = dict(scope["headers"]).get(b"expect", b"").lower() == b"100-continue"
    with anyio.move_on_after(UNREAD_BODY_SECONDS):
        while len(body.kept) < body.limit:
            message = await receive()
            if message["type"] != "http.request":
                return f"{unread}; its connection ended after {body.total} bytes]"
            body.add(message.get("body", b""))
            if not message.get("more_body", False):
                return ""  # whole, as sent
        return f"{unread}; the trace read its first {body.total} bytes]"
    if waited and body.total == 0:
        return f"{unread}; none came in {UNREAD_BODY_SECONDS:g} s: it asked to wait for a 100 (Continue), and none is sent once the answer has begun]"
    return f"{unread}; {body.total} bytes of it came, then none for {UNREAD_BODY_SECONDS:g} s]"


def _target(scope: Scope, host: str) -> tuple[str, str]:
    """The host a request was for and its target URI (RFC 9112 §3.3): an absolute-form
    request-target is the target URI itself, its authority the host (`rfc9112`); an origin-form
    one is completed with the connection's scheme and the Host field; CONNECT's authority-form is
    the authority, and with it and OPTIONS' "*" the path and query are empty."""
    # The request-target's octets as sent (§3.2): uvicorn's `path` is percent-decoded, so the
    # trace showed `/toke%0An` as `/token`, `/token%23x` as `/token`, `/mcp%3Fx=1` with a query
    # and `/x%2F..%2Fadmin` as `/x/../admin`, none of which was sent; the in-process trace keeps
    # the target as sent. h11 takes only visible ASCII in a target (§3.2, VCHAR), so Latin-1 is
    # each octet as one character, as the fields are recorded.
    sent = scope.get(REQUEST_TARGET)
    if isinstance(sent, bytes):  # its "?" too, which uvicorn's scope has not (`rfc9112.REQUEST_TARGET`)
        path, mark, query = sent.decode("latin-1").partition("?")
    else:
        path = scope.get("raw_path", str(scope["path"]).encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        mark = "?" if query else ""
    authority = absolute_form_authority(path)
    if authority is not None:
        return authority, f"{path}{mark}{query}"
    form = request_target_form(path, scope["method"], query)
    if form == "authority":
        host = path
    # An invalid Host (answered 400, RFC 9112 §3.2) is recorded as sent, but percent-encoded inside
    # the URL's authority: spliced in whole, a stranger's "evil/admin?x=" became the path the trace
    # showed ("GET /admin?x=/mcp" for a request to /mcp). Its brackets too: a valid Host has them
    # only around an IP literal (RFC 3986 §3.2.2), and `urlsplit` refuses a URL whose authority has
    # any other ("a]b", "["), which `trace.request_target` then showed whole as the target. And a
    # valid one `urlsplit` still refuses: an IPvFuture's "v" in capitals (RFC 5234 §2.3: ABNF
    # literals are case-insensitive), "[V1.a:b]", which Python reads in lower case alone.
    shown = host if is_host_field(host) and _splits(host) else quote(host, safe="!$&'()*+,;=:")
    if form != "origin":
        # "*", host:port, or a target in no form (`GET mcp`, a 400 that quotes it): §3.3 gives them
        # an empty path and query. Appended, "mcp" became part of the host: "http://127.0.0.1:8001mcp".
        return host, f"{scope['scheme']}://{shown}"
    return host, f"{scope['scheme']}://{shown}{path}{mark}{query}"


def _splits(host: str) -> bool:
    try:
        urlsplit(f"//{host}")
    except ValueError:
        return False
    return True


def _keep_bounded(trace: Trace, exchange: Exchange) -> None:
    """Swap the exchange just recorded for a copy cut to MAX_SERVED_HEADERS headers and
    MAX_SERVED_BODY_CHARS characters of each body, then drop the oldest past MAX_SERVED_EXCHANGES.
    What is cut is said where it was, as `BodyTap` does."""
    cut = dataclasses.replace(
        exchange,
        request_headers=_cut_headers(exchange.request_headers),
        request_body=_cut(exchange.request_body),
        response_headers=_cut_headers(exchange.response_headers),
        response_body=_cut(exchange.response_body),
    )
    exchanges = trace.exchanges
    for index in range(len(exchanges) - 1, -1, -1):  # recorded in `seq` order: usually the last one
        if exchanges[index] is exchange:
            exchanges[index] = cut
            break
    if len(exchanges) > MAX_SERVED_EXCHANGES:
        del exchanges[: len(exchanges) - MAX_SERVED_EXCHANGES]


def _cut_headers(headers: Headers) -> Headers:
    if len(headers) <= MAX_SERVED_HEADERS:
        return headers
    kept = MAX_SERVED_HEADERS
    note = f"[truncated: a served lab keeps the first {kept} of {len(headers)} headers in memory]"
    return (*headers[:kept], ("…", note))


def _cut(body: str) -> str:
    if len(body) <= MAX_SERVED_BODY_CHARS:
        return body
    kept = MAX_SERVED_BODY_CHARS
    return body[:kept] + f"\n… [truncated: a served lab keeps the first {kept} of {len(body)} characters in memory]"
