"""The lab network carries bodies as a socket would, and its DNS answers with record sets
(issue 7 items 7 and 17): so the AS's streaming cap bounds memory inside the lab as it would on
the internet, a gzip bomb is stopped at the cap, and a name with any special-use address in its
answer set is never fetched by the hardened AS."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import tracemalloc
from typing import Any

import anyio
import httpx
import pytest

from lab_servers import Lab, default_client_metadata
from lab_servers.authorization_server import HARDENED, NAIVE, OAuthError
from lab_servers.authorization_server.defensive_fetch import FetchRefused, SpecialUseAddress, defensive_fetch, vet_host
from lab_servers.network import LabConnectError, asgi
from lab_servers.trace import Exchange

pytestmark = pytest.mark.anyio
CHUNK = 64 * 1024
HOST = "files.example"
PUBLIC = "93.184.216.34"


class Streamer:
    """An ASGI app that answers with `chunks` chunks of 64 KiB and counts what it got to send."""

    def __init__(self, chunks: int, *, content: bytes | None = None, encoding: str | None = None) -> None:
        self.chunks, self.content, self.encoding = chunks, content, encoding
        self.sent = 0
        self.request_pieces: list[int] = []
        self.cancelled = False
        self.finished = False  # returned after its last `send`

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            self.request_pieces.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        headers = [(b"content-type", b"application/json")]
        if self.encoding:
            headers.append((b"content-encoding", self.encoding.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            if self.content is not None:
                await send({"type": "http.response.body", "body": self.content})
            else:
                for _ in range(self.chunks):
                    self.sent += 1
                    await send({"type": "http.response.body", "body": b" " * CHUNK, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            self.finished = True
        except BaseException:
            self.cancelled = True
            raise


def serve(lab: Lab, app: Streamer) -> str:
    lab.network.add_host(HOST, PUBLIC, app)
    return f"https://{HOST}/client.json"


async def fetch(lab: Lab, url: str, policy: Any = HARDENED) -> Any:
    async with lab.network.httpx_client("auth.example.com") as http:
        return await defensive_fetch(
            url, what="client_id", http=http, resolve=lab.network.dns.resolve_all, policy=policy
        )


async def test_a_response_body_streams_with_backpressure_so_the_cap_stops_the_sender(lab: Lab) -> None:
    app = Streamer(chunks=320)  # 20 MiB, were it all sent
    with pytest.raises(FetchRefused, match="larger than 5120 bytes"):
        await fetch(lab, serve(lab, app))
    assert app.sent <= 3  # held at `send` until the reader took the previous chunk, then disconnected
    assert app.cancelled
    exchange = lab.trace.exchanges[-1]
    assert exchange.response_body.endswith("[the reader closed the stream after 65536 bytes]")


async def test_an_app_that_never_ends_after_its_answer_is_cancelled_after_the_grace(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The app runs on after its answer, as uvicorn lets it, but not for ever: the caller, which
    # waits for it (so that what it does comes before the next request), has its answer at once.
    monkeypatch.setattr(asgi, "APP_END_GRACE", 0.05)
    ended: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"answered"})
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    lab.network.add_host(HOST, PUBLIC, app)
    started = asyncio.get_running_loop().time()
    answer = await lab.network.send("client", "GET", f"https://{HOST}/", [], b"")
    assert answer.body == b"answered" and ended == ["cancelled"]
    assert asyncio.get_running_loop().time() - started < 1


async def test_an_answer_that_fits_in_the_send_buffer_lets_the_app_finish_before_anyone_reads(lab: Lab) -> None:
    # A server writes a small answer into the socket's send buffer and moves on (its handler
    # ends): it does not wait for the client to read, and nothing of it stays alive meanwhile.
    app = Streamer(0, content=b'{"ok": true}')
    response = await lab.network.open("client", "GET", serve(lab, app), [], b"")
    try:
        for _ in range(3):
            await asyncio.sleep(0)
        assert app.finished and not app.cancelled  # the handler has returned, its answer unread
        assert await response.read() == b'{"ok": true}'
    finally:
        await response.aclose()


async def test_a_body_many_times_the_send_buffer_arrives_whole_and_in_order(lab: Lab) -> None:
    # The app and the reader take turns at the full buffer, twenty times over.
    app = Streamer(chunks=20)
    async with lab.httpx_client() as http:
        response = await http.get(serve(lab, app))
    assert app.sent == 20 and response.content == b" " * (20 * CHUNK)


async def test_an_app_that_sends_from_two_tasks_at_a_full_buffer_gets_every_chunk_through(lab: Lab) -> None:
    # ASGI lets a response be sent from more than one task (an SSE server's ping task beside its
    # data task): both may be held at a full send buffer, and both must be let go in turn.
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})

        async def writer(fill: bytes) -> None:
            for _ in range(5):
                await send({"type": "http.response.body", "body": fill * CHUNK, "more_body": True})

        await asyncio.gather(writer(b"a"), writer(b"b"))
        await send({"type": "http.response.body", "body": b""})

    lab.network.add_host(HOST, PUBLIC, app)
    async with lab.httpx_client() as http:
        response = await asyncio.wait_for(http.get(f"https://{HOST}/"), 10)
    assert response.content.count(b"a") == response.content.count(b"b") == 5 * CHUNK


async def test_a_gzip_bomb_is_stopped_at_the_cap_on_decoded_bytes(lab: Lab) -> None:
    bomb = gzip.compress(b"\0" * (4 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < HARDENED.max_document_bytes  # small on the wire, 4 MiB once inflated
    url = serve(lab, Streamer(0, content=bomb, encoding="gzip"))
    tracemalloc.start()
    try:
        with pytest.raises(FetchRefused, match="inflates to more than 5120 bytes"):
            await fetch(lab, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


async def test_a_small_gzip_document_is_inflated_and_accepted(lab: Lab) -> None:
    url = serve(lab, Streamer(0, content=gzip.compress(b'{"client_id": "x"}'), encoding="gzip"))
    assert (await fetch(lab, url)).body == b'{"client_id": "x"}'


@pytest.mark.parametrize(
    ("encoding", "rule"), [("br", r"Accept-Encoding \(gzip, deflate\) did not offer"), ("gzip", "not valid gzip")]
)
async def test_an_encoding_the_as_cannot_bound_or_a_corrupt_one_is_refused(lab: Lab, encoding: str, rule: str) -> None:
    with pytest.raises(FetchRefused, match=rule):
        await fetch(lab, serve(lab, Streamer(0, content=b"not compressed at all", encoding=encoding)))


async def test_a_truncated_gzip_stream_is_refused(lab: Lab) -> None:
    with pytest.raises(FetchRefused, match="ends inside its gzip stream"):
        await fetch(lab, serve(lab, Streamer(0, content=gzip.compress(b"{}" * 100)[:-12], encoding="gzip")))


async def test_a_request_body_reaches_the_server_in_socket_sized_pieces(lab: Lab) -> None:
    app = Streamer(0, content=b"{}")
    url = serve(lab, app)
    async with lab.httpx_client() as http:
        await http.post(url, content=b"a" * (1024 * 1024))
    assert max(app.request_pieces) <= CHUNK and sum(app.request_pieces) == 1024 * 1024


async def test_a_name_can_have_several_addresses_in_one_answer(lab: Lab) -> None:
    lab.network.dns.set("multi.example", ["93.184.216.1", "2606:2800:220:1::1"])
    assert lab.network.dns.resolve_all("multi.example") == ("93.184.216.1", "2606:2800:220:1::1")
    assert lab.network.dns.resolve("multi.example") == "93.184.216.1"


async def test_the_hardened_as_refuses_a_name_if_any_address_of_its_answer_set_is_special_use(lab: Lab) -> None:
    lab.network.dns.set("mixed.example", ["93.184.216.1", "169.254.169.254"])
    with pytest.raises(SpecialUseAddress, match=r"169\.254\.169\.254 \(one of its 2 addresses\)"):
        vet_host("mixed.example", what="client_id", resolve=lab.network.dns.resolve_all)


async def test_the_hardened_as_never_connects_to_a_mixed_answer_set_but_the_naive_one_reaches_inside(lab: Lab) -> None:
    inside = Streamer(0, content=b'{"secret": "internal"}')
    lab.network.add_host("admin.internal", "10.0.0.5", inside)
    # Nothing listens at the public address, so a client trying the set in order lands inside.
    lab.network.dns.set(HOST, ["93.184.216.99", "10.0.0.5"])
    url = f"https://{HOST}/client.json"
    with pytest.raises(SpecialUseAddress):
        await fetch(lab, url)
    assert inside.request_pieces == []  # never connected
    assert (await fetch(lab, url, NAIVE)).body == b'{"secret": "internal"}'


async def test_a_pin_holds_for_the_host_it_was_vetted_for_and_a_followed_redirect_connects_where_its_host_resolves(
    lab: Lab,
) -> None:
    # httpx copies a request's extensions onto the redirect it follows; the address vetted for
    # files.example says nothing about where admin.internal lives, so the redirect connects there.
    inside = Streamer(0, content=b'{"secret": "internal"}')
    lab.network.add_host("admin.internal", "10.0.0.5", inside)
    lab.network.add_host(HOST, PUBLIC, RedirectTo("http://admin.internal/"))
    fetched = await fetch(lab, f"https://{HOST}/client.json", HARDENED.but(follow_redirects=True))
    assert fetched.body == b'{"secret": "internal"}'
    assert (fetched.url, fetched.served_from) == (f"https://{HOST}/client.json", "http://admin.internal/")
    assert [(e.host, e.address) for e in lab.trace] == [(HOST, PUBLIC), ("admin.internal", "10.0.0.5")]


async def test_a_connection_tries_each_address_and_fails_only_if_none_listens(lab: Lab) -> None:
    lab.network.dns.set("nowhere.example", ["93.184.216.98", "93.184.216.99"])
    async with lab.httpx_client() as http:
        with pytest.raises(Exception, match=r"93\.184\.216\.98, 93\.184\.216\.99"):
            await http.get("https://nowhere.example/")
    assert issubclass(LabConnectError, ConnectionError)


class RedirectTo:
    """An ASGI app that answers every request with 302 to `location`."""

    def __init__(self, location: str) -> None:
        self.location = location

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"location", self.location.encode())]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


class CookieSetter:
    """An ASGI app that sets a cookie on /login and echoes the Cookie header it was sent."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        headers = [(b"content-type", b"text/plain")]
        if scope["path"] == "/login":
            headers.append((b"set-cookie", b"session=s3cr3t; Path=/; Secure; HttpOnly"))
        sent = dict(scope["headers"]).get(b"cookie", b"")
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": sent})


@pytest.mark.parametrize("make_client", ["httpx_client", "httpx2_client"])
async def test_a_cookie_a_server_sets_is_sent_back_to_it_as_a_browser_would(lab: Lab, make_client: str) -> None:
    # RFC 6265 §5.3, §5.4. The lab's clients skip httpx's cookie parsing on responses with no
    # Set-Cookie header (issue 12); a response that has one is still stored and replayed.
    lab.network.add_host("shop.example", "93.184.216.50", CookieSetter())
    async with getattr(lab.network, make_client)("browser") as http:
        assert (await http.get("https://shop.example/")).text == ""
        assert (await http.get("https://shop.example/login")).text == ""
        assert (await http.get("https://shop.example/cart")).text == "session=s3cr3t"


@pytest.mark.parametrize("url", ["https://[/client.json", "https://[::1/client.json"])
async def test_a_url_that_cannot_be_parsed_is_refused_before_any_fetch(lab: Lab, url: str) -> None:
    # RFC 3986 §3.2.2: an IP literal is closed by "]"; urlsplit raises ValueError on one that is
    # not, which must be a refusal naming the rule, never an exception escaping to a 500.
    with pytest.raises(FetchRefused, match="not a URL that can be fetched"):
        await fetch(lab, url, NAIVE)


def test_an_exchange_summary_shows_a_strangers_control_characters_escaped_on_one_line() -> None:
    # `serve` prints every exchange's summary: a path carrying ESC sequences or a newline must not
    # retitle or clear the operator's terminal, nor forge a second exchange line.
    exchange = Exchange(seq=1, step=None, caller="127.0.0.1", host="127.0.0.1", address=None, method="GET",
                        url="https://127.0.0.1/x\x1b]0;PWNED\x07\x1b[2J\n#9 sdk-client \u202e", request_headers=[],
                        request_body="", status=404, response_headers=[], response_body="")  # fmt: skip
    summary = exchange.summary()
    assert "\n" not in summary and "\x1b" not in summary and "\u202e" not in summary
    assert "\\x1b]0;PWNED\\x07" in summary and summary.endswith("→ 404")


async def test_a_request_whose_caller_gives_up_before_the_answer_is_still_in_the_trace(lab: Lab) -> None:
    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await anyio.sleep(5)

    lab.network.add_host("slow.example", "93.184.216.77", slow)
    with anyio.move_on_after(0.05):
        async with lab.httpx_client("client") as http:
            await http.get("https://slow.example/late")
    [exchange] = [e for e in lab.trace if e.host == "slow.example"]
    assert exchange.status is None and exchange.error == "no response: the caller gave up before it came"


async def test_the_hardened_as_fetches_nothing_but_https(lab: Lab) -> None:
    # CIMD §8.6: fetch only known schemes; MCP §11.3: HTTPS everywhere. Refused before any request.
    serve(lab, Streamer(0, content=b"{}"))
    with pytest.raises(FetchRefused, match="must be an https URL to be fetched, got 'http'"):
        await fetch(lab, f"http://{HOST}/client.json")


@pytest.mark.parametrize("origin", [f"https://docs.{HOST}", f"http://{HOST}", f"https://{HOST}:8443"])
async def test_only_the_exact_trusted_origin_skips_the_special_use_address_rule(lab: Lab, origin: str) -> None:
    # CIMD §8.6: the AS MUST NOT fetch from a special-use address; the one exception is the
    # lab's own documents origin, trusted by scheme, host and port exactly (RFC 6454 §4).
    lab.network.add_host(HOST, "127.0.0.1", Streamer(0, content=b"{}"))
    url = f"https://{HOST}/client.json"
    with pytest.raises(SpecialUseAddress):
        await fetch(lab, url, HARDENED.but(trusted_local_origins=(origin,)))
    assert (await fetch(lab, url, HARDENED.but(trusted_local_origins=(f"https://{HOST}",)))).body == b"{}"


async def test_an_authorization_server_added_to_the_lab_vets_the_whole_answer_set_too(lab: Lab) -> None:
    # The README's rule holds for every AS of the lab, not only the first: one added with
    # add_authorization_server (a legacy AS, the one a resource moves to) was given the first
    # address alone, so a document behind [public, 10.0.0.5] passed its hardened check.
    second = lab.add_authorization_server("auth2.example.com", "93.184.215.21")
    lab.add_metadata_host("apps.example", "93.184.216.7")
    url = lab.publish_client_document(
        "https://apps.example/client.json", default_client_metadata("https://apps.example/client.json")
    )
    lab.network.dns.set("apps.example", ["93.184.216.7", "10.0.0.5"])
    with pytest.raises(OAuthError, match=r"special-use address 10\.0\.0\.5 \(one of its 2 addresses\)"):
        await second.cimd.resolve(url)


@pytest.mark.parametrize("make_client", ["httpx_client", "httpx2_client"])
async def test_a_lab_client_offers_the_same_content_codings_on_every_machine(lab: Lab, make_client: str) -> None:
    # RFC 9110 §12.5.3: Accept-Encoding lists the codings a client takes. httpx and httpx2 offer
    # `br` once brotli is installed (httplint, in the test tooling, brings it) and `zstd` with
    # zstandard, so the same request read differently from machine to machine, and the stored
    # outputs, which show every request, did not replay. A header the caller sets is kept.
    async with getattr(lab, make_client)("you") as http:
        await http.get(lab.client_metadata_url)
    async with getattr(lab, make_client)("you", headers={"accept-encoding": "identity"}) as http:
        await http.get(lab.client_metadata_url)
    offered = [[(n, v) for n, v in e.request_headers if n.lower() == "accept-encoding"] for e in lab.trace.exchanges]
    assert offered == [[("Accept-Encoding", "gzip, deflate")], [("accept-encoding", "identity")]]
    names = [n.lower() for n, _ in lab.trace.exchanges[0].request_headers]
    assert names[:4] == ["host", "accept", "accept-encoding", "connection"]  # where httpx puts it


@pytest.mark.parametrize("client", ["httpx", "httpx2"])
async def test_a_field_value_with_obs_text_reaches_the_client_octet_for_octet(client: str) -> None:
    # RFC 9110 §5.5: field-value = *field-content, and field-vchar includes obs-text (%x80-FF); a
    # socket carries the octets and httpx decodes them. In process they were handed to httpx as
    # str, which it encoded as ASCII: UnicodeEncodeError, and a step "unexpected response".
    sent = [(b"x-note", "café".encode("latin-1")), (b"location", "https://as.example/lögin".encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 302, "headers": sent})
        await send({"type": "http.response.body", "body": b""})

    async with Lab() as lab:
        lab.network.add_host(HOST, PUBLIC, app)
        http = lab.httpx_client("t") if client == "httpx" else lab.httpx2_client("t")
        async with http:
            response = await http.get(f"https://{HOST}/")
    assert [(k, v) for k, v in response.headers.raw if k.lower() in (b"x-note", b"location")] == sent
    assert response.headers["location"] == httpx.Headers(sent)["location"]  # as httpx reads them off a socket


async def test_an_added_as_holds_the_clients_an_administrator_preregistered() -> None:
    # MCP §5.2 (pre-registration): the client_secret goes with the record, not into its metadata;
    # as_state says which records hold a secret.
    async with Lab() as lab:
        second = lab.add_authorization_server(
            "legacy.example", "93.184.215.50",
            preregistered={"agent": {"redirect_uris": ["https://app.example/callback"], "client_secret": "s3cret"}},
        )  # fmt: skip
        record = second.registry.records["agent"]
        assert (record.kind, record.client_secret) == ("preregistered", "s3cret")
        assert "client_secret" not in record.metadata
        lab.auth_server.preregister("confidential", {}, "s3cret")
        lab.auth_server.preregister("public", {})
        held = {cid: r["has_secret"] for cid, r in lab.as_state()["registrations"].items()}
        assert held == {"confidential": True, "public": False}


async def test_a_fetch_failing_with_no_message_is_refused_naming_the_failure(lab: Lab) -> None:
    # httpx's ReadError for a reset connection carries no text: the refusal read "fetching
    # client_id failed: " with nothing after it.
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("", request=request)

    lab.network.add_host(HOST, PUBLIC, Streamer(chunks=0))
    async with httpx.AsyncClient(transport=httpx.MockTransport(reset)) as http:
        with pytest.raises(FetchRefused) as refused:
            await defensive_fetch(
                f"https://{HOST}/client.json", what="client_id", http=http, resolve=lab.network.dns.resolve_all,
                policy=HARDENED,
            )  # fmt: skip
    assert str(refused.value) == "fetching client_id failed: ReadError"


@pytest.mark.parametrize(
    ("url", "target"),
    [("https://files.example", "/"), ("https://files.example?x=1", "/?x=1"), ("https://files.example#top", "/")],
)
async def test_a_request_for_a_url_with_an_empty_path_is_traced_with_the_slash_it_was_sent_with(
    lab: Lab, url: str, target: str
) -> None:
    # RFC 9112 §3.2.1: "If the target URI's path component is empty, the client MUST send "/" as
    # the path". httpx sent `OPTIONS /` and the app was handed "/", but the trace kept the URL
    # without it, and every view showed `OPTIONS *` (§3.2.4), the server-wide ping it never sent.
    sent: list[bytes] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        sent.append(scope["raw_path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    lab.network.add_host(HOST, PUBLIC, app)
    async with lab.network.httpx_client("you") as http:
        await http.request("OPTIONS", url)
    traced = lab.trace.exchanges[-1]
    assert sent == [b"/"] and traced.url.startswith("https://files.example/")
    assert traced.summary() == f"#1 you → files.example: OPTIONS {target} → 204"


async def test_an_app_listening_for_the_disconnect_twice_ends_as_soon_as_its_client_hangs_up(lab: Lab) -> None:
    # ASGI, as uvicorn: every pending receive hears http.disconnect. Starlette's streaming answer
    # listens for it while `request.is_disconnected()` asks again under a cancelled scope; the
    # second call replaced the first one's waiter, which nothing then woke: every close of such
    # a stream waited APP_END_GRACE (2 s) for the app.
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def events(request: Request) -> StreamingResponse:
        async def stream() -> Any:
            while not await request.is_disconnected():
                yield b"data: 0\n\n"
                await asyncio.sleep(10)  # the next event, much later

        return StreamingResponse(stream(), media_type="text/event-stream")

    lab.network.add_host("stream.example", "93.184.216.34", Starlette(routes=[Route("/events", events)]))
    async with lab.httpx_client("c") as http:
        with anyio.fail_after(asgi.APP_END_GRACE / 2):
            async with http.stream("GET", "https://stream.example/events") as response:
                async for _ in response.aiter_raw():
                    break


@pytest.mark.parametrize("ending", ["fails", "returns"])
async def test_a_receive_still_pending_when_its_app_ends_without_ending_its_answer_hears_the_disconnect(
    lab: Lab, ending: str
) -> None:
    # ASGI, as uvicorn: once the response is over (a 500 for an app that failed before answering,
    # or a body the app never ended, cut short), every pending receive hears http.disconnect. The
    # answer's other ends woke such a receiver; this one left it waiting for ever.
    heard: list[str] = []
    listeners: list[asyncio.Task[None]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # the whole (empty) body

        async def listen() -> None:
            heard.append((await receive())["type"])

        listeners.append(asyncio.get_running_loop().create_task(listen()))
        await asyncio.sleep(0)
        if ending == "fails":
            raise RuntimeError("the app fails before it answers")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})

    lab.network.add_host(HOST, PUBLIC, app)
    async with lab.network.httpx_client("you") as http:
        with pytest.raises(httpx.RemoteProtocolError) if ending == "returns" else contextlib.nullcontext():
            assert (await http.get(f"https://{HOST}/")).status_code == 500
    with anyio.fail_after(1):
        await listeners[0]
    assert heard == ["http.disconnect"]
