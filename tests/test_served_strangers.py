"""What a stranger can send the served lab, and what it keeps. Origin validation (MCP Streamable
HTTP: servers MUST validate the Origin header): whatever is in `Origin`, the answer is a 403
naming the rule, never a 500. The trace file holds tokens and secrets: its owner's alone."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from starlette.responses import PlainTextResponse

from lab_servers.browser_origins import BrowserOrigins
from lab_servers.trace_file import TraceWriter

pytestmark = pytest.mark.anyio


async def _ok(scope: object, receive: object, send: object) -> None:
    await PlainTextResponse("ok")(scope, receive, send)  # type: ignore[arg-type]


async def request(headers: dict[str, str], path: str = "/mcp") -> httpx.Response:
    app = BrowserOrigins(_ok, own_origins=["https://127.0.0.1:8001"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        return await http.get(path, headers=headers)


@pytest.mark.parametrize(
    "origin",
    [
        "http://[::1",
        "http://[evil]",
        "https://[127.0.0.1]x",
        "null",
        "https://attacker.example",
        "http://localhost.evil",
        # Not an origin's serialization (RFC 6454 §6.2), though urlsplit reads a loopback host in each
        "http://127.0.0.1:6274.evil.example",
        "http://evil.example@127.0.0.1",
        "http://127.0.0.1?evil.example",
        "http://127.0.0.1#evil.example",
        "http://127.0.0.1:",
        "ftp://127.0.0.1",
    ],
)
async def test_an_origin_that_is_not_a_loopback_one_is_refused_with_403_never_a_500(origin: str) -> None:
    response = await request({"Origin": origin})
    assert response.status_code == 403 and "DNS-rebinding" in response.json()["error_description"]


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:6274", "http://localhost:6274", "http://[::1]:6274", "https://localhost", "http://LOCALHOST:1"],
)
async def test_a_loopback_origin_is_let_through_with_cors(origin: str) -> None:
    response = await request({"Origin": origin})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize(
    "headers",
    [{}, {"Origin": "http://localhost:6274"}, {"Origin": "https://attacker.example"}],
    ids=["none", "loopback", "foreign"],
)
async def test_every_answer_a_page_may_fetch_varies_by_origin_whether_or_not_the_request_had_one(
    headers: dict[str, str],
) -> None:
    # Fetch standard §3.2.5 (CORS protocol and HTTP caches): a resource that sends
    # Access-Control-Allow-Origin in answer to some requests only says `Vary: Origin` in all its
    # answers, else a cache keeps a navigation's answer, without CORS headers, for a page's fetch.
    response = await request(headers)
    assert response.headers.get_list("vary") == ["Origin"]


async def test_a_page_to_navigate_to_does_not_vary_by_origin() -> None:
    # /authorize never answers with CORS headers (it is navigated to, not fetched): no Vary.
    assert "vary" not in (await request({}, "/authorize")).headers


async def test_a_browser_client_refused_429_can_read_when_to_retry() -> None:
    # RFC 6585 §4: a 429 MAY say how long to wait in Retry-After (the AS's /register does, and its
    # /token's 503); a page's script reads only the response headers CORS exposes beyond the
    # safelisted ones.
    async def rate_limited(scope: object, receive: object, send: object) -> None:
        response = PlainTextResponse("slow down", 429, headers={"Retry-After": "60"})
        await response(scope, receive, send)  # type: ignore[arg-type]

    app = BrowserOrigins(rate_limited, own_origins=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8001") as http:
        response = await http.post("/register", headers={"Origin": "http://localhost:6274"})
    exposed = [name.strip() for name in response.headers["access-control-expose-headers"].split(",")]
    assert response.status_code == 429 and "retry-after" in exposed


def test_a_trace_file_holding_tokens_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    # Bearer tokens, refresh tokens and DCR client secrets cross the wire and land in the file.
    writer = TraceWriter(tmp_path / "trace.jsonl")
    writer.close()
    assert stat.S_IMODE((tmp_path / "trace.jsonl").stat().st_mode) == 0o600


async def test_a_preflight_is_answered_204_with_no_content_length() -> None:
    # RFC 9110 §8.6: "A server MUST NOT send a Content-Length header field in any response with a
    # status code of ... 204 (No Content)"; the preflight's answer sent "content-length: 0".
    app = BrowserOrigins(_ok, own_origins=[])
    preflight = {"Origin": "http://localhost:6274", "Access-Control-Request-Method": "POST"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8001") as http:
        response = await http.options("/token", headers=preflight)
    assert response.status_code == 204 and "content-length" not in response.headers


async def test_a_page_to_navigate_to_gets_no_cors_headers_even_from_an_allowed_origin() -> None:
    # A form post from a loopback page to /authorize carries that Origin; /authorize is navigated
    # to, never fetched, so no answer of it lets a page's script read it (Fetch standard §3.2).
    response = await request({"Origin": "http://localhost:6274"}, "/authorize")
    assert response.status_code == 200 and "access-control-allow-origin" not in response.headers


async def test_a_request_to_a_host_the_lab_does_not_serve_never_reaches_the_application() -> None:
    # DNS-rebinding protection: the 403 is the whole answer; the server behind it never sees the
    # request (a token request would have been served, its answer sent after the refusal).
    reached: list[str] = []

    async def app(scope: dict[str, str], receive: object, send: object) -> None:
        reached.append(scope["path"])
        await _ok(scope, receive, send)

    guarded = BrowserOrigins(app, own_origins=[])  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guarded), base_url="http://attacker.example"
    ) as http:
        response = await http.get("/mcp")
    assert response.status_code == 403 and reached == []
