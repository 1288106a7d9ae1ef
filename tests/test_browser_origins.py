"""Origin validation in the served lab (MCP Streamable HTTP: servers MUST validate the Origin
header): whatever a stranger puts in `Origin` or `Host`, the answer is a 403 naming the rule,
never a 500."""

from __future__ import annotations

import httpx
import pytest
from starlette.responses import PlainTextResponse

from lab_servers.browser_origins import BrowserOrigins

pytestmark = pytest.mark.anyio


async def _ok(scope: object, receive: object, send: object) -> None:
    await PlainTextResponse("ok")(scope, receive, send)  # type: ignore[arg-type]


async def request(headers: dict[str, str]) -> httpx.Response:
    app = BrowserOrigins(_ok, own_origins=["https://127.0.0.1:8001"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        return await http.get("/mcp", headers=headers)


@pytest.mark.parametrize(
    "origin",
    [
        "http://[::1",
        "http://[evil]",
        "https://[127.0.0.1]x",
        "null",
        "https://attacker.example",
        "http://localhost.evil",
    ],
)
async def test_an_origin_that_is_not_a_loopback_one_is_refused_with_403_never_a_500(origin: str) -> None:
    response = await request({"Origin": origin})
    assert response.status_code == 403 and "DNS-rebinding" in response.json()["error_description"]


@pytest.mark.parametrize("origin", ["http://127.0.0.1:6274", "http://localhost:6274", "http://[::1]:6274"])
async def test_a_loopback_origin_is_let_through_with_cors(origin: str) -> None:
    response = await request({"Origin": origin})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == origin
