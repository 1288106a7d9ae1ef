"""Every endpoint caps its request body while it streams (RFC 9110 §15.5.14, 413), and a trace
keeps a bounded, visibly truncated copy of each body (issue 7 item 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.authorization_server.errors import oauth_refusal
from lab_servers.authorization_server.server import MAX_REQUEST_BODY_BYTES
from lab_servers.body_limit import BodyLimit
from lab_servers.resource_server.server import MAX_MCP_BODY_BYTES
from lab_servers.serve import serving
from lab_servers.story import IDP_ISSUER, add_enterprise_idp
from lab_servers.trace import MAX_TRACED_BODY_BYTES, BodyTap

from .raw_upload import stream_upload
from .test_resource_server import mint

pytestmark = pytest.mark.anyio
AS_POSTS = ["/register", "/token", "/authorize/decision"]
CONTENT_TYPES = {"/register": "application/json"}  # the others take forms


async def chunked(total: int, chunk: int = 16384) -> AsyncIterator[bytes]:
    """A body with no Content-Length: the server learns its size only by reading it."""
    for _ in range(total // chunk):
        yield b"a" * chunk


def form_or_json(path: str) -> dict[str, str]:
    return {"Content-Type": CONTENT_TYPES.get(path, "application/x-www-form-urlencoded")}


@pytest.mark.parametrize("path", AS_POSTS)
async def test_every_authorization_server_endpoint_refuses_a_body_over_its_cap_with_413(lab: Lab, path: str) -> None:
    async with lab.httpx_client() as http:
        response = await http.post(
            f"{ISSUER}{path}", content=chunked(4 * MAX_REQUEST_BODY_BYTES), headers=form_or_json(path)
        )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    assert f"limit of {MAX_REQUEST_BODY_BYTES} bytes" in response.json()["error_description"]


@pytest.mark.parametrize("path", AS_POSTS)
async def test_a_declared_content_length_over_the_cap_is_refused_up_front(lab: Lab, path: str) -> None:
    async with lab.httpx_client() as http:
        response = await http.post(
            f"{ISSUER}{path}", content=b"a" * (MAX_REQUEST_BODY_BYTES + 1), headers=form_or_json(path)
        )
    assert response.status_code == 413 and "Content-Length announces more" in response.json()["error_description"]


@pytest.mark.parametrize("streamed", [True, False], ids=["chunked", "content-length"])
async def test_the_enterprise_idps_token_endpoint_caps_its_body_like_the_authorization_server(
    lab: Lab, streamed: bool
) -> None:
    add_enterprise_idp(lab)
    body = chunked(4 * MAX_REQUEST_BODY_BYTES) if streamed else b"a=" + b"x" * 2_000_000
    async with lab.httpx_client() as http:
        response = await http.post(f"{IDP_ISSUER}/token", content=body, headers=form_or_json("/token"))
    assert response.status_code == 413 and response.json()["error"] == "invalid_request"
    assert f"limit of {MAX_REQUEST_BODY_BYTES} bytes" in response.json()["error_description"]


async def test_conflicting_content_lengths_are_a_400_naming_rfc_9110(lab: Lab) -> None:
    sent: list[dict] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # pragma: no cover - never reached
        raise AssertionError("the app must not run")

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:  # pragma: no cover
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": "/", "headers": [(b"content-length", b"5"), (b"content-length", b"7")]}
    await BodyLimit(app, 100, refusal=oauth_refusal)(scope, receive, send)
    assert sent[0]["status"] == 400 and b"RFC 9110 section 8.6" in sent[1]["body"]


async def test_a_body_under_the_cap_still_reaches_the_endpoint(lab: Lab) -> None:
    connection = await lab.connect("dcr")
    assert connection.whoami["client_id"].startswith("tpc_")


def test_a_tap_keeps_at_most_its_limit_and_says_what_it_dropped() -> None:
    tap = BodyTap(limit=10)
    for _ in range(1000):
        tap.add(b"0123456789abcdef")
    assert len(tap.kept) == 10
    assert tap.text() == "0123456789\n… [truncated: the trace keeps the first 10 of 16000 bytes]"
    small = BodyTap(limit=10)
    small.add(b"short")
    assert small.text() == "short"


async def test_the_in_process_trace_keeps_a_bounded_copy_of_a_large_body(lab: Lab) -> None:
    big = b'{"x": "' + b"a" * (MAX_MCP_BODY_BYTES - 20) + b'"}'
    async with lab.httpx_client() as http:
        await http.post(
            MCP_URL, content=big, headers={"Authorization": f"Bearer {mint(lab)}", "Content-Type": "application/json"}
        )
    exchange = next(e for e in lab.trace if e.method == "POST")
    assert len(exchange.request_body.encode()) < MAX_TRACED_BODY_BYTES + 200
    assert exchange.request_body.endswith(
        f"[truncated: the trace keeps the first {MAX_TRACED_BODY_BYTES} of {len(big)} bytes]"
    )


async def test_serve_mode_caps_bodies_and_its_trace_keeps_a_bounded_copy() -> None:
    # Port 0: the served lab binds before it makes its URLs, so the ports it chose are in them
    # (a port probed free first could be taken by another process before the lab binds it).
    async with serving(mcp_port=0, as_port=0, tls=False) as served:  # raw sockets speak plain http
        mcp_port, as_port = urlsplit(served.mcp_url).port, urlsplit(served.issuer).port
        token = mint(served.lab, iss=served.issuer, aud=served.mcp_url)
        form = form_or_json("/token")
        as_status, as_sent = await stream_upload("127.0.0.1", as_port, "/token", 16 * 1024 * 1024, headers=form)
        mcp_status, mcp_sent = await stream_upload("127.0.0.1", mcp_port, "/mcp", 16 * 1024 * 1024)  # no token
        authed = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"}
        big_status, _ = await stream_upload("127.0.0.1", mcp_port, "/mcp", 16 * 1024 * 1024, headers=authed)
        trace = served.lab.trace
    assert (as_status, mcp_status, big_status) == (413, 401, 413)
    assert max(as_sent, mcp_sent) < 16 * 1024 * 1024  # the answer came before the upload was done
    for exchange in trace:
        assert len(exchange.request_body.encode()) <= MAX_TRACED_BODY_BYTES + 200
