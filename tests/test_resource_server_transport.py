"""The MCP endpoint's Streamable HTTP rules, per revision: the methods and media types it takes
(RFC 9110 §15.5.6, §15.5.7, §15.5.16)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab_servers import REVISIONS, Lab

pytestmark = pytest.mark.anyio
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def mint(lab: Lab, scope: str = "notes:read") -> str:
    # The lab's own issuer: at 2025-03-26 the AS is found at the MCP server's origin.
    now = lab.clock.now()
    claims = {"iss": lab.issuer, "sub": "alice", "aud": lab.mcp_url, "client_id": "tpc_x", "scope": scope,
              "iat": now, "exp": now + 900, "jti": "j"}  # fmt: skip
    return lab.auth_server.keys.sign_access_token(claims)


async def post(lab: Lab, body: Any, version: str | None = None, scope: str = "notes:read", **headers: str) -> Any:
    sent = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab, scope=scope)}", **headers}
    if version:
        sent["MCP-Protocol-Version"] = version
    async with lab.httpx_client() as http:
        return await http.post(lab.mcp_url, content=json.dumps(body), headers=sent)


# Methods and media types: the status RFC 9110 gives, and the lab's JSON error -------------------


@pytest.mark.parametrize("server", list(REVISIONS))
async def test_delete_is_405_with_allow_since_the_server_keeps_no_session(server: str) -> None:
    async with Lab(revision=server) as lab, lab.httpx_client() as http:
        stranger = await http.delete(lab.mcp_url)
        response = await http.delete(lab.mcp_url, headers={"Authorization": f"Bearer {mint(lab)}"})
    assert stranger.status_code == 401  # the gate speaks first
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json()["error"] == "invalid_request"
    assert "no session to terminate" in response.json()["error_description"]


@pytest.mark.parametrize("server", list(REVISIONS))
@pytest.mark.parametrize("content_type", ["text/plain", "application/jsonp", None])
async def test_a_body_that_is_not_application_json_is_415_naming_the_rule(
    server: str, content_type: str | None
) -> None:
    async with Lab(revision=server) as lab, lab.httpx_client() as http:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {mint(lab)}"}
        if content_type:
            headers["Content-Type"] = content_type
        response = await http.post(lab.mcp_url, content=json.dumps(TOOLS_LIST).encode(), headers=headers)
    assert response.status_code == 415 and response.headers["accept"] == "application/json"
    assert "RFC 9110 section 15.5.16" in response.json()["error_description"]


@pytest.mark.parametrize("server", list(REVISIONS))
@pytest.mark.parametrize("accept", ["text/html", "application/json;q=0, text/event-stream", ""])
async def test_a_post_that_accepts_no_json_is_406_naming_the_rule(server: str, accept: str) -> None:
    async with Lab(revision=server) as lab:
        response = await post(lab, TOOLS_LIST, server, Accept=accept)
    assert response.status_code == 406 and response.headers["content-type"] == "application/json"
    assert "RFC 9110 section 15.5.7" in response.json()["error_description"]


@pytest.mark.parametrize(
    "accept", ["application/json", "application/*", "*/*;q=0.5", "application/JSON; charset=utf-8"]
)
async def test_a_post_that_accepts_json_is_answered_since_json_is_all_this_server_sends(lab: Lab, accept: str) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    response = await post(lab, initialize, Accept=accept)
    assert response.status_code == 200 and response.json()["result"]["protocolVersion"] == "2025-11-25"
