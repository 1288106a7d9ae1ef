"""Lifecycle "Version Negotiation": "If the server supports the requested protocol version, it
MUST respond with the same version. Otherwise, the server MUST respond with another protocol
version it supports." The SDK supports every revision, so a lab server of an older revision
rewrites what a newer client asks for to its own; these tests hold that rewrite to the request as
JSON reads it, not as its bytes happen to be spelled; and what a dual-era server takes on each path."""

from __future__ import annotations

import json

import pytest

from lab_servers import Lab
from lab_servers.story import OTHER_MCP_URL, add_second_mcp_server

from .test_resource_server_transport import JSON_HEADERS, mint

pytestmark = pytest.mark.anyio
NEWER = "2025-11-25"


def initialize(method: str = '"initialize"', *, padding: int = 0) -> str:
    client_info = {"name": "t", "version": "1"} | ({"description": "x" * padding} if padding else {})
    params = {"protocolVersion": NEWER, "capabilities": {}, "clientInfo": client_info}
    return f'{{"jsonrpc": "2.0", "id": 1, "method": {method}, "params": {json.dumps(params)}}}'


async def negotiated(revision: str, body: str) -> str:
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab)}"}
        response = await http.post(lab.mcp_url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["result"]["protocolVersion"])


@pytest.mark.parametrize("revision", ["2025-03-26", "2025-06-18"])
async def test_a_server_answers_a_newer_clients_initialize_with_its_own_revision(revision: str) -> None:
    assert await negotiated(revision, initialize()) == revision


@pytest.mark.parametrize("revision", ["2025-03-26", "2025-06-18"])
async def test_an_escaped_method_name_is_the_same_initialize_and_is_negotiated_alike(revision: str) -> None:
    # RFC 8259 §7: "\u0069" is the character i; the SDK reads the method as initialize, so the
    # server's answer must be its own revision, not the 2025-11-25 it does not speak.
    assert await negotiated(revision, initialize('"\\u0069nitialize"')) == revision


async def test_an_initialize_the_gate_accepts_is_negotiated_however_large() -> None:
    # The MCP endpoint takes messages up to its body cap (256 KB); the rewrite must read every
    # message the gate accepted, not only those within the smaller default JSON limits (64 KB).
    assert await negotiated("2025-03-26", initialize(padding=100_000)) == "2025-03-26"


async def test_a_server_added_to_the_lab_is_dual_era_like_the_labs_own() -> None:
    # A 2026-07-28 server built without saying otherwise still answers initialize-era clients
    # (2026-07-28 versioning, "Backward Compatibility with Initialization-Based Versions": a server
    # MAY implement both behaviors; Legacy client, Dual-era server: "Works"), as the
    # lab's own does: a notebook's second MCP server must not refuse the clients the first takes.
    async with Lab() as lab, lab.httpx_client() as http:
        add_second_mcp_server(lab)
        now = lab.clock.now()
        claims = {"iss": lab.issuer, "sub": "alice", "aud": OTHER_MCP_URL, "client_id": "tpc_x",
                  "scope": "notes:read", "iat": now, "exp": now + 900, "jti": "j2"}  # fmt: skip
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {lab.auth_server.keys.sign_access_token(claims)}"}
        response = await http.post(OTHER_MCP_URL, content=initialize(), headers=headers)
    assert response.status_code == 200 and response.json()["result"]["protocolVersion"] == NEWER


@pytest.mark.parametrize(("header", "status"), [("2025-11-25", 202), ("2026-07-28", 400)])
async def test_a_dual_era_server_takes_a_posted_response_on_the_legacy_path_only(header: str, status: int) -> None:
    # 2026-07-28 streamable-http, Sending Messages: "The client MUST NOT send JSON-RPC responses"
    # (the modern path asks the client nothing); a client that opened the legacy way speaks
    # 2025-11-25, where a POSTed response is accepted with 202 (2025-11-25 Streamable HTTP).
    async with Lab() as lab, lab.httpx_client() as http:
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab)}", "MCP-Protocol-Version": header}
        response = await http.post(lab.mcp_url, content='{"jsonrpc": "2.0", "id": 3, "result": {}}', headers=headers)
    assert response.status_code == status, response.text


@pytest.mark.parametrize("revision", ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"])
@pytest.mark.parametrize(
    ("version", "rule"),
    [(None, "is required"), (20250326, "must be a string"), ("null", "must be a string"), ({}, "must be a string")],
)
async def test_an_initialize_without_a_string_protocol_version_is_invalid_params_at_every_revision(
    revision: str, version: object, rule: str
) -> None:
    # The MCP schema's InitializeRequest: `protocolVersion: string`, required. Only a version the
    # server does not know is negotiated; what is no version at all is -32602 Invalid params, at
    # every revision as at 2026-07-28, not answered with the server's own version.
    params: dict[str, object] = {"capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    if version is not None:
        params["protocolVersion"] = None if version == "null" else version
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})
    async with Lab(revision=revision) as lab, lab.httpx_client() as http:
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab)}"}
        answer = (await http.post(lab.mcp_url, content=body, headers=headers)).json()
    assert answer["error"] == {
        "code": -32602,
        "message": f"Invalid params: params.protocolVersion {rule} (MCP schema InitializeRequest)",
    }
