"""BodyLimit at its edges, called as the ASGI middleware it is: a body of exactly the cap is taken
(RFC 9110 §15.5.14 refuses content "larger than the server is willing or able to process", not
as large), one byte more is 413, whether Content-Length announces it or the body streams; and the
middleware is transparent to what is no HTTP request (the ASGI lifespan) and to attribute reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lab_servers.authorization_server.errors import oauth_refusal
from lab_servers.body_limit import BodyLimit, BodyTooLarge

pytestmark = pytest.mark.anyio
CAP = 100


class Endpoint:
    """An app that reads the whole body and answers 200 with its length."""

    marker = "the wrapped app's own attribute"

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] != "http":
            return
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


async def post(body: bytes, *, announce: bool, chunk: int = 30, length: bytes | None = None) -> list[dict[str, Any]]:
    """POST `body` through a BodyLimit of CAP bytes, with a Content-Length (`length`, else the
    body's own) or streamed in chunks."""
    headers = [(b"content-length", length or str(len(body)).encode())] if announce else []
    scope = {"type": "http", "method": "POST", "path": "/token", "headers": headers}
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await BodyLimit(Endpoint(), CAP, refusal=oauth_refusal)(scope, receive, send)
    return sent


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "streamed"])
async def test_a_body_of_exactly_the_cap_is_processed(announce: bool) -> None:
    sent = await post(b"a" * CAP, announce=announce)
    assert sent[0]["status"] == 200 and sent[1]["body"] == str(CAP).encode()


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "streamed"])
async def test_one_byte_over_the_cap_is_413_content_too_large(announce: bool) -> None:
    sent = await post(b"a" * (CAP + 1), announce=announce)
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]  # RFC 9112 §9.6: the rest is not read


async def test_a_content_length_of_thousands_of_digits_is_413_not_a_500() -> None:
    # RFC 9110 §8.6: Content-Length = 1*DIGIT, with no bound on the digits; CPython's int() refuses
    # more than 4,300 of them (a ValueError, once a 500 at every endpoint). Such a value announces
    # a body larger than any cap: 413 (§15.5.14), before a byte is read.
    sent = await post(b"a", announce=True, length=b"9" * 5_000)
    assert sent[0]["status"] == 413 and b"Content-Length announces more" in sent[1]["body"]


async def test_leading_zeros_do_not_make_a_content_length_larger() -> None:
    # 1*DIGIT: "0005" is five, however many zeros lead it.
    sent = await post(b"a" * 5, announce=True, length=b"0" * 5_000 + b"5")
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"5"


async def test_the_asgi_lifespan_passes_through_to_the_app_untouched() -> None:
    # A lifespan scope has no path and no headers: the cap is for HTTP request bodies alone.
    app = Endpoint()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}

    async def never() -> dict[str, Any]:  # pragma: no cover - the app above reads nothing here
        raise AssertionError("not read")

    async def drop(_message: dict[str, Any]) -> None:  # pragma: no cover
        raise AssertionError("not sent")

    await BodyLimit(app, CAP, refusal=oauth_refusal)(scope, never, drop)
    assert app.scopes == [scope]


def test_the_middleware_is_transparent_to_attribute_reads_and_copies() -> None:
    # A Starlette app's `router` or `state` stays reachable through the wrapper; a copy (which
    # builds the object before `app` is set) must not recurse through its own __getattr__.
    limit = BodyLimit(Endpoint(), CAP, refusal=oauth_refusal)
    assert limit.marker == Endpoint.marker
    duplicate = copy.copy(limit)
    assert duplicate.app is limit.app and duplicate.limit_for("/any") == CAP


class Framework:
    """An app that reacts to an aborted read as frameworks do: it catches the error, reads again,
    and answers 400; `early` starts its answer before reading the body at all."""

    def __init__(self, *, early: bool = False) -> None:
        self.early = early
        self.received: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.early:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while (message := await receive())["type"] == "http.request":
                self.received.append(message)
        except BodyTooLarge:
            self.received.append(await receive())
        if not self.early:
            await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b"the app's own reaction"})


async def through(app: Framework, size: int) -> list[dict[str, Any]]:
    scope = {"type": "http", "method": "POST", "path": "/token", "headers": []}
    chunks = [{"type": "http.request", "body": b"a" * 60, "more_body": True} for _ in range(size // 60)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await BodyLimit(app, CAP, refusal=oauth_refusal)(scope, receive, send)
    return sent


async def test_past_the_cap_the_app_reads_nothing_more_and_its_reaction_is_dropped_for_the_413() -> None:
    # The 413 is the answer (RFC 9110 §15.5.14); what the app makes of the aborted read (a
    # framework's 400 or 500) is not what the client should see, and no byte past the cap reaches it.
    app = Framework()
    sent = await through(app, 10 * CAP)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert b"the app's own reaction" not in b"".join(m.get("body", b"") for m in sent)
    assert sum(len(m.get("body", b"")) for m in app.received) <= CAP
    assert app.received[-1] == {"type": "http.disconnect"}  # read again after the refusal: gone


async def test_an_answer_already_started_is_not_followed_by_a_second_start() -> None:
    # ASGI (and HTTP/1.1) has one status line per response: once the app has started its own,
    # the middleware cannot answer 413; it stops the read, and the app's answer ends there.
    sent = await through(Framework(early=True), 10 * CAP)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200]


async def test_an_apps_own_failure_under_the_cap_is_not_swallowed() -> None:
    # Only the failure the cap caused is the middleware's to answer (with its 413); any other
    # reaches the server, which answers 500 as for any app: silence would leave the client waiting.
    async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise LookupError("the app's own bug")

    async def unused(*_message: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover - never called
        raise AssertionError("the app neither reads nor answers")

    scope = {"type": "http", "method": "POST", "path": "/token", "headers": []}
    with pytest.raises(LookupError):
        await BodyLimit(failing, CAP, refusal=oauth_refusal)(scope, unused, unused)
