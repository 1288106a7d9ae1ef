"""Served (`python -m lab_servers serve`), what the lab's sockets send is as the specs write it:
the same checks as in process (`emitted_http`, `emitted_bodies`), over TLS, on the answers as a
client reads them, with what uvicorn and the socket layer add (`Date`, the 414 written below h11)
and the CORS headers (`browser_origins`)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from lab_servers.rfc9110 import http_date
from lab_servers.sdk import whoami_over_tls
from lab_servers.serve import serving
from lab_servers.trace import Exchange

from .emitted_bodies import problems

pytestmark = pytest.mark.anyio
LOOPBACK_PAGE = "http://localhost:6274"  # MCP Inspector's origin


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


def as_exchange(response: httpx.Response) -> Exchange:
    request = response.request
    return Exchange(
        seq=0, step=None, caller="test", host=request.url.host, address=None, method=request.method,
        url=str(request.url), request_headers=tuple(request.headers.multi_items()),
        request_body=request.content.decode("utf-8", "replace"), status=response.status_code,
        response_headers=tuple(response.headers.multi_items()), response_body=response.text,
    )  # fmt: skip


async def served_exchanges(tls_dir: Path) -> tuple[str, list[Exchange], list[httpx.Response]]:
    """The served lab's issuer, its trace of a whole handshake and of the requests below, and the
    answers to those requests as the client read them (the last three: 414, 431 and a 404)."""
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir) as lab:
        await whoami_over_tls(lab.mcp_url, tls_dir / "ca.pem")  # a whole handshake, traced
        context = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
        mcp_origin = lab.mcp_url.rsplit("/", 1)[0]
        prm = f"{mcp_origin}/.well-known/oauth-protected-resource/mcp"
        metadata = f"{lab.issuer}/.well-known/oauth-authorization-server"
        page = {"Origin": LOOPBACK_PAGE}
        preflight = {**page, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        answers = []
        async with httpx.AsyncClient(verify=context) as http:
            for method, url, headers in [
                ("GET", prm, {}), ("GET", prm, page), ("HEAD", prm, page), ("GET", metadata, page),
                ("GET", f"{lab.issuer}/jwks.json", page), ("OPTIONS", f"{lab.issuer}/token", preflight),
                ("OPTIONS", lab.mcp_url, preflight), ("POST", lab.mcp_url, page), ("GET", lab.mcp_url, page),
                ("POST", f"{lab.issuer}/token", page), ("GET", f"{lab.issuer}/token", page),
                ("POST", f"{lab.issuer}/register", {"Origin": "https://attacker.example"}),
                ("POST", lab.mcp_url, {"Origin": "https://attacker.example"}),
                ("GET", f"{lab.issuer}/authorize?client_id=x", page), ("OPTIONS", f"{lab.issuer}/authorize", preflight),
                ("GET", f"{lab.issuer}/{'x' * 20_000}", {}), ("GET", prm, {"X-Long": "y" * 20_000}),
                ("GET", f"{lab.documents_origin}/nothing.json", page),
            ]:  # fmt: skip
                answers.append(await http.request(method, url, headers=headers))
        return lab.issuer, list(lab.lab.trace.exchanges), answers


async def test_every_answer_of_the_served_lab_is_as_the_specs_write_it(tls_dir: Path) -> None:
    issuer, traced, answers = await served_exchanges(tls_dir)
    found = sorted(
        {f"{e.method} {e.url[:120]} -> {e.status}: {p}" for e in [*traced, *map(as_exchange, answers)] for p in problems(e, issuer=issuer)}
    )  # fmt: skip
    assert not found, "\n".join(found)
    assert [a.status_code for a in answers[-3:-1]] == [414, 431]  # written below h11, and judged too


async def test_the_answers_written_below_h11_and_uvicorns_400_carry_a_date(tls_dir: Path) -> None:
    # RFC 9110 §6.6.1: an origin server with a clock "MUST generate a Date header field in all 2xx
    # (Successful), 3xx (Redirection), and 4xx (Client Error) responses"; the 414 and 431 the
    # socket layer writes before h11 parses the head (serve_sockets) are 4xx too, and so is the
    # 400 uvicorn wrote, with no Date, for a request h11 cannot parse.
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir) as lab:
        context = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
        async with httpx.AsyncClient(verify=context) as http:
            answers = [
                await http.get(f"{lab.issuer}/{'x' * 20_000}"),
                await http.get(f"{lab.issuer}/jwks.json", headers={"X-Long": "y" * 20_000}),
                await http.get(f"{lab.issuer}/jwks.json"),
            ]
        # uvicorn's own 400, for a request h11 cannot parse: HTTP/1.1 without a Host (RFC 9112 §3.2)
        host = urlsplit(lab.issuer).netloc
        reader, writer = await asyncio.open_connection(*host.rsplit(":", 1), ssl=context, server_hostname="127.0.0.1")
        writer.write(b"GET /jwks.json HTTP/1.1\r\n\r\n")
        unparsed = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert [a.status_code for a in answers] == [414, 431, 200]
    for answer in answers:
        # One Date, uvicorn's: the apps write none (the lab network adds it in process only).
        assert len(answer.headers.get_list("date")) == 1, answer.headers
        assert http_date(answer.headers["date"], 0) is not None, answer.headers
    status, *fields = unparsed.split(b"\r\n\r\n")[0].decode().split("\r\n")
    dates = [f.split(":", 1)[1].strip() for f in fields if f.lower().startswith("date:")]
    assert status == "HTTP/1.1 400 Bad Request" and len(dates) == 1 and http_date(dates[0], 0) is not None, unparsed
