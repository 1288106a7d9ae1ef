"""The MCP endpoint's Streamable HTTP rules, per revision: JSON-RPC batches (MCP 2025-03-26
"Batching", removed in 2025-06-18), the methods and media types it takes (RFC 9110 §15.5.6,
§15.5.7, §15.5.16), and capabilities it can keep."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from lab_servers import REVISIONS, Lab, browser_origins, wellknown
from lab_servers.resource_server import transport
from lab_servers.resource_server.batches import MAX_BATCH_MESSAGES
from lab_servers.resource_server.server import MAX_MCP_BODY_BYTES
from lab_servers.resource_server.transport import OwnNames

pytestmark = pytest.mark.anyio
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
WHOAMI = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def mint(lab: Lab, scope: str = "notes:read") -> str:
    # The lab's own issuer: at 2025-03-26 the AS is found at the MCP server's origin.
    now = lab.clock.now()
    claims = {"iss": lab.issuer, "sub": "alice", "aud": lab.mcp_url, "client_id": "tpc_x", "scope": scope,
              "iat": now, "exp": now + 900, "jti": "j"}  # fmt: skip
    return lab.auth_server.keys.sign_access_token(claims)


async def post_raw(lab: Lab, content: Any, **headers: str) -> Any:
    sent = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab)}", **headers}
    async with lab.httpx_client() as http:
        return await http.post(lab.mcp_url, content=content, headers=sent)


async def post(lab: Lab, body: Any, version: str | None = None, scope: str = "notes:read", **headers: str) -> Any:
    sent = {**JSON_HEADERS, "Authorization": f"Bearer {mint(lab, scope=scope)}", **headers}
    if version:
        sent["MCP-Protocol-Version"] = version
    async with lab.httpx_client() as http:
        return await http.post(lab.mcp_url, content=json.dumps(body), headers=sent)


async def post_with_no_accept(lab: Lab, body: Any, version: str | None = None, **headers: str) -> Any:
    sent = {"Content-Type": "application/json", "Authorization": f"Bearer {mint(lab)}", **headers}
    if version:
        sent["MCP-Protocol-Version"] = version
    async with lab.httpx_client() as http:
        del http.headers["accept"]  # httpx sends Accept: */* unless told not to
        response = await http.post(lab.mcp_url, content=json.dumps(body), headers=sent)
    assert "accept" not in response.request.headers
    return response


# MCP 2025-03-26 "Batching": implementations MUST support receiving JSON-RPC batches -------------


@pytest.mark.parametrize(
    ("server", "header"),
    [("2025-03-26", None), ("2025-03-26", "2025-03-26"), ("2025-11-25", "2025-03-26"), ("2026-07-28", None)],
)
async def test_a_batch_from_a_2025_03_26_client_is_answered_with_an_array_of_the_responses(
    server: str, header: str | None
) -> None:
    # A later server that grants 2025-03-26 speaks it; no header at all SHOULD be taken as 2025-03-26.
    async with Lab(revision=server) as lab:
        response = await post(lab, [TOOLS_LIST, INITIALIZED, WHOAMI], header)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    answers = response.json()
    assert [a["id"] for a in answers] == [1, 2]  # JSON-RPC 2.0 §6: the notification gets no entry
    assert {t["name"] for t in answers[0]["result"]["tools"]} >= {"whoami"}
    assert answers[1]["result"]["structuredContent"]["sub"] == "alice"


async def test_a_batch_of_notifications_alone_is_accepted_with_202_and_no_body() -> None:
    async with Lab(revision="2025-03-26") as lab:
        response = await post(lab, [INITIALIZED, INITIALIZED])
    assert response.status_code == 202 and response.content == b""


async def test_an_empty_batch_is_one_invalid_request_error() -> None:
    async with Lab(revision="2025-03-26") as lab:
        response = await post(lab, [])
    assert response.status_code == 400
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {
            "code": -32600,
            "message": "Invalid Request: an empty batch is not a JSON-RPC call (JSON-RPC 2.0 §6)",
        },
    }


async def test_each_message_of_a_batch_that_is_not_json_rpc_gets_its_own_invalid_request_entry() -> None:
    async with Lab(revision="2025-03-26") as lab:
        response = await post(lab, [1, {"foo": "boo"}, {"jsonrpc": "2.0", "id": "x"}, TOOLS_LIST])
    assert response.status_code == 200
    answers = response.json()
    assert [(a["id"], a.get("error", {}).get("code")) for a in answers] == [
        (None, -32600),
        (None, -32600),
        ("x", -32600),
        (1, None),
    ]


async def test_the_initialize_request_must_not_be_part_of_a_batch() -> None:
    initialize = {"jsonrpc": "2.0", "id": 9, "method": "initialize",
                  "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    async with Lab(revision="2025-03-26") as lab:
        response = await post(lab, [initialize, TOOLS_LIST])
    first = response.json()[0]
    assert first["id"] == 9 and first["error"]["code"] == -32600
    assert "MUST NOT be part of a JSON-RPC batch" in first["error"]["message"]


async def test_a_batch_needs_the_scopes_of_all_its_tool_calls_before_any_message_runs() -> None:
    add_note = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "add_note", "arguments": {"text": "x"}}}  # fmt: skip
    async with Lab(revision="2025-03-26") as lab:
        refused = await post(lab, [WHOAMI, add_note])
        assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
        assert lab.resource_server.mcp.notes == []
        granted = await post(lab, [WHOAMI, add_note], scope="notes:read notes:write")
        assert [a["id"] for a in granted.json()] == [2, 3] and len(lab.resource_server.mcp.notes) == 1


async def test_a_batch_longer_than_the_server_s_bound_is_refused_whole() -> None:
    async with Lab(revision="2025-03-26") as lab:
        response = await post(lab, [INITIALIZED] * (MAX_BATCH_MESSAGES + 1))
    assert response.status_code == 400 and response.json()["error"]["code"] == -32600


@pytest.mark.parametrize(
    ("server", "header"),
    [("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"), ("2026-07-28", "2026-07-28"),
     ("2026-07-28", "2025-11-25")],
)  # fmt: skip
async def test_from_2025_06_18_on_a_batch_is_an_invalid_request_naming_the_rule(server: str, header: str) -> None:
    async with Lab(revision=server) as lab:
        response = await post(lab, [TOOLS_LIST], header)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32600 and "removed in 2025-06-18" in error["message"]
    assert len(error["message"]) < 300  # not the SDK's validation dump


# Methods and media types: the status RFC 9110 gives, with a JSON-RPC error whose id is null -----
# (JSON-RPC 2.0 §5: the id was not read; the SDK client reads it so, test_jsonrpc_unread_id.py)


def transport_error(response: Any) -> str:
    """The message of a JSON-RPC error with a null id, after checking that the answer is one."""
    assert response.headers["content-type"] == "application/json", response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None and body["error"]["code"] == -32600, body
    return str(body["error"]["message"])


@pytest.mark.parametrize("server", list(REVISIONS))
@pytest.mark.parametrize(
    ("method", "rule"),
    [("GET", "offers no SSE stream"), ("DELETE", "no session to terminate"), ("PUT", "by POST")],
)
async def test_a_method_other_than_post_is_405_with_allow_and_a_json_rpc_error(
    server: str, method: str, rule: str
) -> None:
    # 2025-11-25: a server without an SSE stream answers GET with 405, and MAY answer DELETE with
    # 405; 2026-07-28 "Backward Compatibility": GET or DELETE, 405. RFC 9110 §15.5.6: with Allow.
    async with Lab(revision=server) as lab, lab.httpx_client() as http:
        stranger = await http.request(method, lab.mcp_url)
        headers = {"Authorization": f"Bearer {mint(lab)}", "Accept": "application/json, text/event-stream"}
        if server == "2026-07-28":
            headers["MCP-Protocol-Version"] = server
        response = await http.request(method, lab.mcp_url, headers=headers)
    assert stranger.status_code == 401  # the gate speaks first
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert rule in transport_error(response) and "RFC 9110 §15.5.6" in transport_error(response)


async def test_a_head_is_answered_with_the_content_length_a_get_would_have() -> None:
    # RFC 9110 §9.3.2: HEAD is answered with the header fields GET would have had; §8.6: a server
    # MUST NOT send a Content-Length in it unless that is the length GET's content would have been.
    async with Lab() as lab, lab.httpx_client() as http:
        headers = {"Authorization": f"Bearer {mint(lab)}", "Accept": "application/json, text/event-stream"}
        get = await http.get(lab.mcp_url, headers={**headers, "MCP-Protocol-Version": lab.revision.version})
        head = await http.head(lab.mcp_url, headers={**headers, "MCP-Protocol-Version": lab.revision.version})
    assert head.status_code == get.status_code == 405 and head.headers["allow"] == "POST"
    assert head.headers["content-length"] == get.headers["content-length"]


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
    assert "RFC 9110 §15.5.16" in transport_error(response)


@pytest.mark.parametrize("server", list(REVISIONS))
async def test_a_body_in_a_content_coding_the_server_does_not_take_is_415_with_accept_encoding(server: str) -> None:
    # RFC 9110 §8.4: MAY answer 415; §15.5.16: Accept-Encoding names what would be taken. Read
    # as it came, the gzipped body was a parse error about UTF-8, which named nothing of this.
    async with Lab(revision=server) as lab:
        response = await post(lab, TOOLS_LIST, **{"Content-Encoding": "gzip"})
    assert response.status_code == 415 and response.headers["accept-encoding"] == "identity"
    assert "Content-Encoding is 'gzip'" in transport_error(response)


@pytest.mark.parametrize("server", list(REVISIONS))
@pytest.mark.parametrize("accept", ["text/html", "application/json;q=0, text/event-stream", ""])
async def test_a_post_that_accepts_no_json_is_406_naming_the_rule(server: str, accept: str) -> None:
    async with Lab(revision=server) as lab:
        response = await post(lab, TOOLS_LIST, server, Accept=accept)
    assert response.status_code == 406
    assert "RFC 9110 §15.5.7" in transport_error(response)


@pytest.mark.parametrize("server", list(REVISIONS))
async def test_a_post_with_no_accept_field_accepts_any_media_type_and_is_answered_in_json(server: str) -> None:
    # RFC 9110 §12.5.1: "A request without any Accept header field implies that the user agent will
    # accept any media type in response". opencode and Claude Code send none; the SDK read the
    # missing field as accepting nothing and answered 406 (an empty Accept field is another matter).
    modern_era = server == "2026-07-28"  # a request names its method and carries the _meta envelope
    body, headers = (modern("tools/list"), {"Mcp-Method": "tools/list"}) if modern_era else (TOOLS_LIST, {})
    async with Lab(revision=server) as lab:
        response = await post_with_no_accept(lab, body, server, **headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json", response.text
    assert response.json()["result"]["tools"]


async def test_a_body_over_the_cap_is_413_with_a_json_rpc_error_like_every_transport_refusal() -> None:
    # RFC 9110 §15.5.14 413 Content Too Large, at the MCP endpoint in the shape of its other
    # HTTP-level refusals (a JSON-RPC error with a null id), not an OAuth error body; refused from the
    # Content-Length, before a byte is read (a chunked body: test_resource_server_hostile).
    async with Lab() as lab:
        response = await post_raw(lab, b" " * (MAX_MCP_BODY_BYTES + 1))
    assert response.status_code == 413 and response.headers["connection"] == "close"
    assert "larger than this endpoint's limit of 262144 bytes" in transport_error(response)


async def test_a_content_length_that_is_not_one_integer_is_400_with_a_json_rpc_error() -> None:
    # RFC 9110 §8.6: the framing is unknowable, so nothing of the body is read.
    async with Lab() as lab:
        response = await post_raw(lab, b"{}", **{"Content-Length": "2, 3"})
    assert response.status_code == 400 and "RFC 9110 §8.6" in transport_error(response)


# DNS rebinding: MCP Streamable HTTP, Security: "Servers MUST validate the Origin header" ----------


@pytest.mark.parametrize("server", list(REVISIONS))
@pytest.mark.parametrize(
    ("headers", "status", "mention"),
    [
        # "If the Origin header is present and invalid, servers MUST respond with HTTP 403
        # Forbidden. The HTTP response body MAY comprise a JSON-RPC error response that has no id."
        ({"Origin": "https://evil.example"}, 403, "MUST validate the Origin header"),
        # A rebinding page's requests carry the attacker's name as Host (RFC 9110 §15.5.20: 421).
        ({"Host": "evil.example"}, 421, "'evil.example' is not a name this MCP server answers to"),
    ],
    ids=["origin", "host"],
)
async def test_a_foreign_origin_or_host_is_a_json_rpc_error_not_the_sdk_s_plain_text(
    server: str, headers: dict[str, str], status: int, mention: str
) -> None:
    async with Lab(revision=server) as lab:
        response = await post(lab, TOOLS_LIST, **headers)
    assert response.status_code == status
    assert mention in transport_error(response)


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Host": "evil.example"}])
async def test_a_foreign_origin_or_host_is_refused_before_the_token_is_asked_for(headers: dict[str, str]) -> None:
    # "If the Origin header is present and invalid, servers MUST respond with HTTP 403 Forbidden":
    # with no token too, as the served lab answers (browser_origins), not 401 and a challenge.
    async with Lab() as lab, lab.httpx_client() as http:
        response = await http.post(lab.mcp_url, content=json.dumps(TOOLS_LIST), headers={**JSON_HEADERS, **headers})
    assert response.status_code == (403 if "Origin" in headers else 421)
    assert "www-authenticate" not in response.headers and "DNS-rebinding" in transport_error(response)


@pytest.mark.parametrize("host", ["127.0.0.1:80.evil.example", "localhost::", "localhost:8o"])
async def test_a_loopback_name_with_any_port_means_a_port_of_digits(lab: Lab, host: str) -> None:
    # The server answers to 127.0.0.1 and localhost on any port; a port is digits (RFC 3986 §3.2.3).
    response = await post(lab, TOOLS_LIST, Host=host)
    assert response.status_code == 421 and "is not a name this MCP server answers to" in transport_error(response)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:", "LOCALHOST", "localhost:"])
async def test_a_loopback_name_at_the_scheme_s_default_port_is_served_as_with_the_port_spelled_out(
    lab: Lab, host: str
) -> None:
    # RFC 9110 §4.2.3: over https, 127.0.0.1, 127.0.0.1: (an empty port) and 127.0.0.1:443 name one
    # authority, and the server answers to 127.0.0.1 on any port; it took 127.0.0.1:443 and refused
    # the others 421, reading the loopback names as written, not as normalized_authority reads them.
    response = await post(lab, TOOLS_LIST, Host=host)
    assert response.status_code == 200 and response.json()["id"] == 1


# Names of another server, or no name at all, beside the server's own and the loopback ones.
NOT_THIS_SERVER = [
    "mcp.example.com:80", "mcp.example.com.", "mcp.example.com.:443", "mcp.example.com:443:443", "x@mcp.example.com",
    "mcp.example.com@evil.com", "evil.com:@mcp.example.com", "mcp.example.com/evil", "mcp.example.com:443/x",
    "mcp.example.com:+443", "mcp.example.com: 443", "mcp.example.com:\u0664\u0664\u0663", "[::1]:443", "[::1]",
    "localhost.:80", "localhost.", "127.0.0.1.:443", "mcp.example.com:443.evil.com", "mcp.example.com%2e",
    "mcp.example.com:4430", "mcp.example.com:44", "mcp.example.com:-443", "MCP.EXAMPLE.COM\u212a",
    "mcp.example.com:\t443", "", ":443", ":", "mcp.example.com::", "mcp.example.com:443 ", "127.0.0.1::443",
    "127.0.0.1:-1", "localhost:+80", "127.0.0.1:443.evil.example", "evil.example:@localhost", "localhost@evil.example",
]  # fmt: skip


@pytest.mark.parametrize("host", NOT_THIS_SERVER)
def test_no_host_naming_another_server_is_taken_for_the_server_s_own_or_a_loopback_name(host: str) -> None:
    hosts = ("mcp.example.com", "127.0.0.1:*", "localhost:*")
    refused = OwnNames.of(hosts, ("https://mcp.example.com",), "https").refusal([(b"host", host.encode())])
    assert refused is not None and refused.status_code == 421


async def test_the_server_reads_its_own_names_once_and_each_request_s_host_and_origin_once(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's names and origin are fixed when it is built, and normalized then (OwnNames);
    # read again for every request, each request normalized the server's own list beside its own.
    read: list[str] = []
    for name in ("normalized_authority", "normalized_origin"):
        real = getattr(transport, name)
        monkeypatch.setattr(transport, name, lambda value, *rest, real=real: read.append(value) or real(value, *rest))
    response = await post(lab, TOOLS_LIST, Host="MCP.example.com:443", Origin="https://MCP.example.com:443")
    assert response.status_code == 200 and read == ["MCP.example.com:443", "https://MCP.example.com:443"]


def test_a_port_is_ascii_digits_not_any_unicode_digit() -> None:
    # A Host field is read as Latin-1, where the byte 0xB2 is "²", a digit to str.isdigit().
    refused = OwnNames.of(("localhost:*",), (), "https").refusal([(b"host", b"localhost:\xb2")])
    assert refused is not None and refused.status_code == 421


def test_a_request_without_host_is_refused_for_its_missing_host_not_as_an_empty_name() -> None:
    # HTTP/1.0 may omit Host (h11 refuses HTTP/1.1 without one, RFC 9112 §3.2); served on every
    # interface the lab's own gates let any Host through, and this one said "Host ''".
    refused = OwnNames.of(("127.0.0.1:*",), (), "https").refusal([(b"content-type", b"application/json")])
    assert refused is not None and refused.status_code == 421
    assert json.loads(refused.body)["error"]["message"].startswith("the request has no Host field")


async def test_a_loopback_name_with_a_port_is_served(lab: Lab) -> None:
    response = await post(lab, TOOLS_LIST, Host="localhost:8000")
    assert response.status_code == 200 and response.json()["id"] == 1


async def test_the_server_s_own_origin_is_no_rebinding_and_is_served(lab: Lab) -> None:
    response = await post(lab, TOOLS_LIST, Origin="https://mcp.example.com")
    assert response.status_code == 200 and response.json()["id"] == 1


@pytest.mark.parametrize(
    "headers", [{"Host": "MCP.Example.COM"}, {"Origin": "HTTPS://MCP.EXAMPLE.COM"}], ids=["Host", "Origin"]
)
async def test_the_server_s_own_name_in_capitals_is_still_its_own(lab: Lab, headers: dict[str, str]) -> None:
    # RFC 9110 §4.2.3, RFC 3986 §3.1 and §3.2.2: scheme and host compare case-insensitively.
    response = await post(lab, TOOLS_LIST, **headers)
    assert response.status_code == 200 and response.json()["id"] == 1


@pytest.mark.parametrize(
    "headers",
    [{"Host": "mcp.example.com:443"}, {"Host": "MCP.example.com:"}, {"Host": "mcp.example.com:00443"},
     {"Origin": "https://mcp.example.com:443"}, {"Origin": "HTTPS://MCP.EXAMPLE.COM:443"}],
    ids=["Host-443", "Host-empty-port", "Host-00443", "Origin-443", "Origin-443-capitals"],
)  # fmt: skip
async def test_the_server_s_own_https_address_with_its_default_port_spelled_out_is_its_own(
    lab: Lab, headers: dict[str, str]
) -> None:
    # RFC 9110 §4.2.3: "https://example.com:443/" and "https://example.com/" are equivalent, and so is
    # an empty port; §7.2: Host = uri-host [":" port]. Compared as written, the server's own address
    # was refused: 421 for the Host, 403 for the Origin.
    response = await post(lab, TOOLS_LIST, **headers)
    assert response.status_code == 200 and response.json()["id"] == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"Host": "mcp.example.com:80"}, 421), ({"Host": "mcp.example.com:4430"}, 421),
     ({"Origin": "http://mcp.example.com:443"}, 403), ({"Origin": "https://mcp.example.com:8443"}, 403),
     ({"Origin": "http://mcp.example.com"}, 403)],
    ids=["Host-80", "Host-4430", "Origin-http-443", "Origin-8443", "Origin-http"],
)  # fmt: skip
async def test_a_port_that_is_not_https_s_default_still_names_another_server(
    lab: Lab, headers: dict[str, str], status: int
) -> None:
    # The server is https://mcp.example.com: port 80 is http's default, not its own (RFC 9110 §4.2.2).
    response = await post(lab, TOOLS_LIST, **headers)
    assert response.status_code == status and "DNS-rebinding" in transport_error(response)


# The MCP server's own origin is read from its URL (`wellknown.normalized_origin`), a request's
# from its Origin field (`browser_origins.normalized_origin`); the two readings meet in one
# comparison, so wherever the field is a serialized origin (RFC 6454 §7.1) they must be one origin.
# URL text the field's grammar has no room for (userinfo, a path, a port that is no digits, an empty
# port, a zone id) is none of a request's (None), and stays the URL's as written.
ORIGIN_READINGS = [
    ("https://mcp.example.com", "https://mcp.example.com"),
    ("HTTPS://MCP.Example.COM", "https://mcp.example.com"),  # RFC 3986 §6.2.2.1
    ("https://mcp.example.com:443", "https://mcp.example.com"),  # RFC 9110 §4.2.3
    ("http://mcp.example.com:80", "http://mcp.example.com"),
    ("http://mcp.example.com:443", "http://mcp.example.com:443"),  # https's default, not http's
    ("https://mcp.example.com:0443", "https://mcp.example.com"),
    ("https://mcp.example.com:0444", "https://mcp.example.com:444"),  # RFC 6454 §4: the port is a number
    ("https://mcp.example.com:00", "https://mcp.example.com:0"),
    ("https://mcp.example.com:000444", "https://mcp.example.com:444"),  # more zeros than five digits hold
    ("https://mcp.example.com:019300", "https://mcp.example.com:19300"),
    ("https://mcp.example.com:99999", "https://mcp.example.com:99999"),  # no port a browser sends; as written
    ("https://mcp.example.com.", "https://mcp.example.com."),  # another name than mcp.example.com to a browser
    ("https://[::1]:443", "https://[::1]"),
    ("https://[::FFFF:7f00:1]:8443", "https://[::ffff:7f00:1]:8443"),
]
NO_SERIALIZED_ORIGIN = [
    ("https://u@mcp.example.com:443", "https://u@mcp.example.com"),
    ("https://mcp.example.com/mcp", "https://mcp.example.com"),
    ("https://mcp.example.com:", "https://mcp.example.com"),
    ("https://mcp.example.com:x", "https://mcp.example.com:x"),
    ("https://mcp.example.com:123456", "https://mcp.example.com:123456"),  # no port: six digits past its zeros
    ("https://[fe80::1%25eth0]", "https://[fe80::1%25eth0]"),
]


@pytest.mark.parametrize(("written", "origin"), ORIGIN_READINGS + NO_SERIALIZED_ORIGIN)
def test_a_url_s_origin_and_the_same_origin_sent_as_an_origin_field_are_read_alike(written: str, origin: str) -> None:
    assert wellknown.normalized_origin(written) == origin
    as_field = browser_origins.normalized_origin(written)
    assert as_field == (origin if (written, origin) in ORIGIN_READINGS else None)


def test_a_port_written_with_leading_zeros_is_the_same_port_in_the_host_and_the_origin() -> None:
    # RFC 3986 §3.2.3: port = *DIGIT, a decimal number; RFC 6454 §5 compares origins' ports as
    # numbers. 0443 was read as 443, https's default, and 0444 as another port than 444: a server
    # at https://mcp.example.com:444 refused its own origin 403 and its own name 421.
    headers = [(b"host", b"MCP.example.com:0444"), (b"origin", b"https://mcp.example.com:0444")]
    own = wellknown.normalized_origin("https://mcp.example.com:444/mcp")
    assert OwnNames.of((own.split("://")[1],), (own,), "https").refusal(headers) is None


@pytest.mark.parametrize("port", ["000444", "0000000444"])
def test_a_port_with_more_leading_zeros_than_five_digits_hold_is_still_one_port_on_both_sides(port: str) -> None:
    # The Host field read 000444 as 444 and the Origin field read it as no origin: one port was
    # two, and a loopback origin (127.0.0.1:019300) was refused as no loopback origin.
    headers = [(b"host", f"mcp.example.com:{port}".encode()), (b"origin", f"https://mcp.example.com:{port}".encode())]
    assert OwnNames.of(("mcp.example.com:444",), ("https://mcp.example.com:444",), "https").refusal(headers) is None
    assert browser_origins.is_loopback_origin(f"https://127.0.0.1:{port}")


@pytest.mark.parametrize(
    # RFC 9110 §5.6.6: parameters = *( OWS ";" OWS [ parameter ] ): a ";" with no parameter is one.
    "accept",
    ["application/json", "application/*", "*/*;q=0.5", "application/JSON; charset=utf-8", "application/json;"],
)
async def test_a_post_that_accepts_json_is_answered_since_json_is_all_this_server_sends(lab: Lab, accept: str) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    response = await post(lab, initialize, Accept=accept)
    assert response.status_code == 200 and response.json()["result"]["protocolVersion"] == "2025-11-25"


# Capabilities: a server MUST NOT claim what it does not do ---------------------------------------


def modern(method: str, **params: Any) -> dict[str, Any]:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}


async def test_an_unsupported_version_error_lists_the_versions_server_discover_does(lab: Lab) -> None:
    # 2026-07-28 versioning: UnsupportedProtocolVersionError lists "the versions it does support",
    # the ones a client may retry with; the suite's sep-2575-server-unsupported-version-error holds
    # them to server/discover's supportedVersions. Initialize-era versions are reached by falling back.
    discover = await post(lab, modern("server/discover"), "2026-07-28", **{"Mcp-Method": "server/discover"})
    unsupported = {**modern("server/discover"), "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": {}}}}  # fmt: skip
    refused = await post(lab, unsupported, "2099-01-01", **{"Mcp-Method": "server/discover"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == -32022
    data = refused.json()["error"]["data"]
    assert data == {"supported": discover.json()["result"]["supportedVersions"], "requested": "2099-01-01"}


async def test_server_discover_claims_the_capabilities_initialize_does_and_no_subscriptions(lab: Lab) -> None:
    # The lab's server is stateless and pushes nothing: no list changes, no resource updates.
    discover = await post(lab, modern("server/discover"), "2026-07-28", **{"Mcp-Method": "server/discover"})
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
    legacy = await post(lab, initialize)
    capabilities = discover.json()["result"]["capabilities"]
    assert capabilities == legacy.json()["result"]["capabilities"]
    assert capabilities["tools"] == {"listChanged": False}
    assert capabilities["resources"] == {"listChanged": False, "subscribe": False}
    listen = modern("subscriptions/listen", notifications={"toolsListChanged": True})
    response = await post(lab, listen, "2026-07-28", **{"Mcp-Method": "subscriptions/listen"})
    assert response.status_code == 404 and response.json()["error"]["code"] == -32601  # 2026-07-28: not implemented


@pytest.mark.parametrize(
    # None: no Accept field at all, which accepts any media type (RFC 9110 §12.5.1).
    "accept",
    ["application/json, text/event-stream", "application/json", "application/*", "*/*", None],
)
@pytest.mark.parametrize(
    "params", [{"notifications": {"toolsListChanged": True}}, {}], ids=["valid", "no-notifications"]
)
async def test_a_listen_this_server_does_not_implement_is_404_and_method_not_found_whatever_the_accept(
    lab: Lab, accept: str | None, params: dict[str, Any]
) -> None:
    # 2026-07-28 streamable-http, Protocol Version Header: "If the server does not implement the
    # requested RPC method, it MUST respond with 404 Not Found and a JSON-RPC error with code
    # -32601". The SDK sent its empty 406 to a listen accepting application/json alone (a listen's
    # answer is a stream), before it looked for the method this server does not have.
    listen = modern("subscriptions/listen", **params)
    if accept is None:
        response = await post_with_no_accept(lab, listen, "2026-07-28", **{"Mcp-Method": "subscriptions/listen"})
    else:
        response = await post(lab, listen, "2026-07-28", **{"Mcp-Method": "subscriptions/listen", "Accept": accept})
    assert response.status_code == 404 and response.headers["content-type"] == "application/json"
    assert response.json() == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "Method not found", "data": "subscriptions/listen"}}  # fmt: skip


# RFC 9110's grammar for Accept and Content-Type, not float()'s or str.strip()'s ------------------


@pytest.mark.parametrize("weight", ["1e-9", "inf", "+1", "2", "1_0", "0.0001", "1.5", "1.0000"])
async def test_a_json_range_with_a_weight_outside_the_qvalue_grammar_does_not_count(lab: Lab, weight: str) -> None:
    # RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ); float() took
    # each of these as a weight above 0, and the range as accepting JSON.
    response = await post(lab, TOOLS_LIST, Accept=f"application/json;q={weight}, text/event-stream")
    assert response.status_code == 406 and "RFC 9110 §15.5.7" in transport_error(response)


@pytest.mark.parametrize("weight", ["0.001", "1.000", "1", "0.5 "])
async def test_a_json_range_with_a_weight_in_the_grammar_above_0_counts(lab: Lab, weight: str) -> None:
    response = await post(lab, TOOLS_LIST, Accept=f"application/json;q={weight}, text/event-stream")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("space", [b"\xa0", b"\x85"], ids=repr)
async def test_a_media_type_padded_with_a_space_that_is_not_ows_is_not_json(lab: Lab, space: bytes) -> None:
    # RFC 9110 §5.6.3: OWS is SP and HTAB. Read as Latin-1, str.strip() also removed NBSP and NEL.
    response = await post(lab, TOOLS_LIST, **{"Content-Type": space + b"application/json"})  # type: ignore[arg-type]
    assert response.status_code == 415
    response = await post(lab, TOOLS_LIST, Accept=space + b"application/json")  # type: ignore[arg-type]
    assert response.status_code == 406


@pytest.mark.parametrize("accept", [" " * 100_000 + "x", " \t" * 50_000 + "x", "text/html," + " " * 100_000 + "x"],
                         ids=["SP", "SP HTAB", "after a member"])  # fmt: skip
async def test_an_accept_of_100_kb_of_ows_and_no_media_range_is_refused_at_once(lab: Lab, accept: str) -> None:
    # RFC 9110 §12.5.1 and §5.6.1.2: empty list members and OWS are read and skipped; a field with
    # no JSON range is 406. The reader is linear: an empty member's OWS, read by two `[ \t]*` in a
    # row, could be split between them every way, and each of these took over a minute to refuse.
    started = time.perf_counter()
    response = await post(lab, TOOLS_LIST, Accept=accept)
    assert response.status_code == 406 and time.perf_counter() - started < 2


@pytest.mark.parametrize(
    ("accept", "status"),
    [("application/json;q=0, */*", 406), ("application/json;q=0, application/*", 406), ("application/*;q=0, */*", 406),
     ("*/*;q=0, application/json", 200), ("application/*;q=0, application/json;q=0.5", 200), ("*/*;q=0, application/*", 200),
     # "q=" is case-insensitive (§12.4.2, RFC 5234 §2.3); of two equally specific ranges, either accepting counts
     ("application/json;Q=0, */*", 406), ("application/json, application/json;q=0", 200)],
)  # fmt: skip
async def test_the_most_specific_range_naming_json_decides_whether_json_is_accepted(
    lab: Lab, accept: str, status: int
) -> None:
    # RFC 9110 §12.5.1: "If more than one media range applies to a given type, the most specific
    # reference has precedence", and a weight of 0 is "not acceptable" (§12.4.2): `*/*` does not
    # undo `application/json;q=0`, which was read as JSON accepted since some range above 0 named it.
    response = await post(lab, TOOLS_LIST, Accept=accept)
    assert response.status_code == status, response.text
