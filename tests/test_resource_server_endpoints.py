"""Where the MCP server answers, and what it says elsewhere: its MCP endpoint at the resource's
path, its RFC 9728 metadata, and a 404 for any other path that names where MCP is served (so a
client that guessed a path learns the right one)."""

from __future__ import annotations

import httpx
import pytest

from lab_servers import ISSUER, Lab

pytestmark = pytest.mark.anyio


async def test_a_path_without_an_endpoint_is_404_naming_where_mcp_is_served(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        response = await http.get("https://mcp.example.com/sse")
    assert response.status_code == 404 and response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].endswith("MCP is served at /mcp")


async def test_the_mcp_endpoint_reads_a_body_to_the_message_that_says_no_more() -> None:
    # ASGI HTTP, "Request - receive event": more_body is optional and defaults to False, so a
    # message without it is the last one; reading on would wait for a body that never comes.
    from lab_servers.resource_server.transport import read_body

    messages = [{"type": "http.request", "body": b'{"a":', "more_body": True}, {"type": "http.request", "body": b"1}"}]

    async def receive() -> dict[str, object]:
        assert messages, "read past the last message of the body"
        return messages.pop(0)

    assert await read_body(receive) == b'{"a":1}'


@pytest.mark.parametrize("path", ["/register", "/token", "/authorize"])
async def test_an_oauth_endpoint_asked_of_the_mcp_server_is_404_naming_the_authorization_server(path: str) -> None:
    # MCP 2025-03-26 §2.3.3's default endpoints, guessed at the MCP server's origin by a client
    # that has no AS metadata for them: the MCP SDK (and FastMCP on it) with no
    # registration_endpoint advertised (`serve --dcr removed`), or refreshing a reloaded token. The
    # 404 said only that the path is missing here, which a user read as the lab lacking it.
    async with Lab() as lab, lab.httpx_client() as http:
        response = await http.post(f"https://mcp.example.com{path}", data={"grant_type": "refresh_token"})
    assert response.status_code == 404 and response.json()["error"] == "invalid_request"
    description = response.json()["error_description"]
    assert description.startswith(f"this MCP server has no endpoint at {path}; MCP is served at /mcp. ")
    assert "authorization server, https://auth.example.com," in description and "RFC 9728 section 2" in description
    # Where to look next: the AS's own metadata, which lists its real endpoints.
    assert description.endswith("that server's own metadata lists its endpoints (RFC 8414 section 2)"), description


async def test_the_sdk_registering_where_no_registration_endpoint_is_advertised_is_told_where_oauth_is() -> None:
    # The official SDK (mcp 2.3.0), given AS metadata with no registration_endpoint, posts its
    # registration to /register at the MCP server's origin (its 2025-03-26 fallback), and shows
    # its user the 404's description: it now names the AS the PRM names (RFC 9728 §2).
    from mcp.client.auth.exceptions import OAuthRegistrationError

    from lab_servers import ASCapabilities
    from lab_servers.sdk import sdk_whoami

    async with Lab(capabilities=ASCapabilities(cimd=False, dcr="removed")) as lab:
        with pytest.raises(ExceptionGroup) as failed:  # the SDK's task group
            await sdk_whoami(lab)
        stray = [e for e in lab.trace.exchanges if e.url == "https://mcp.example.com/register"]
    assert [(e.method, e.status) for e in stray] == [("POST", 404)]
    (shown,) = failed.value.exceptions
    assert isinstance(shown, OAuthRegistrationError) and "Registration failed: 404" in str(shown)
    assert "authorization server, https://auth.example.com," in str(shown)


@pytest.mark.parametrize("origin", ["https://mcp.example.com", "http://127.0.0.1:9"], ids=["in-process", "served"])
async def test_an_mcp_url_with_a_trailing_slash_is_served_at_exactly_that_url_and_its_metadata_where_it_says(
    origin: str,
) -> None:
    # RFC 9728 §3.1 removes only the '/' right after the host: …/mcp/'s metadata is at
    # /.well-known/oauth-protected-resource/mcp/, the URL its challenge names and the lab client
    # builds. Compared with the '/' cut off, the server answered its own URL 404 ("MCP is served
    # at /mcp") and that metadata URL 404, while /mcp's served a `resource` of …/mcp/.
    mcp_url = f"{origin}/mcp/"
    async with (
        Lab(mcp_url=mcp_url, issuer="http://127.0.0.1:8" if origin.startswith("http:") else ISSUER) as lab,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=lab.resource_server)) as http,
    ):
        challenge = await http.post(mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert challenge.status_code == 401
        metadata_url = f"{origin}/.well-known/oauth-protected-resource/mcp/"
        assert f'resource_metadata="{metadata_url}"' in challenge.headers["www-authenticate"]
        assert (await http.get(metadata_url)).json()["resource"] == mcp_url
        # Another URL is another resource (RFC 9728 §3.3): neither is served for this one.
        assert (await http.post(mcp_url.rstrip("/"), json={})).status_code == 404
        assert (await http.get(metadata_url.rstrip("/"))).status_code == 404


async def test_a_lab_whose_mcp_url_has_a_trailing_slash_runs_the_whole_handshake() -> None:
    # Its MCP server was on no host of the lab network, and answered its own URL 404 besides.
    async with Lab(mcp_url="https://mcp.example.com/mcp/") as lab:
        connection = await lab.connect("cimd")  # the whole handshake, and a tool call at …/mcp/
    assert connection.whoami["aud"] == "https://mcp.example.com/mcp/"


@pytest.mark.parametrize("path", ["/%7Bm%7D", "/%7Bm:foo%7D"])
async def test_an_mcp_url_path_is_served_as_the_literal_string_it_is(path: str) -> None:
    # MCP §8.1 compares the resource exactly. Decoded to /{m}, the path was the SDK's Starlette
    # route pattern: /{m:foo} failed Lab() with "Unknown path convertor".
    mcp_url = f"https://mcp.example.com{path}"
    async with Lab(mcp_url=mcp_url) as lab:
        connection = await lab.connect("cimd")  # the whole handshake, and a tool call at that URL
        assert connection.whoami["aud"] == mcp_url
        assert (await lab.httpx_client("t").post("https://mcp.example.com/other", json={})).status_code == 404


@pytest.mark.parametrize("mcp_url", ["https://mcp.example.com:443/mcp", "https://mcp.example.com?x=1"])
async def test_an_mcp_url_on_the_labs_host_as_any_client_writes_it_runs_the_whole_handshake(mcp_url: str) -> None:
    # Its host compares without the default port (RFC 3986 §6.2.3), and a query is part of the
    # resource (RFC 9728 §3.1 places it after the well-known string; RFC 8707 §2 only SHOULD NOT):
    # the query's host was taken as "mcp.example.com?x=1", so the server answered its own clients
    # 421, and :443 named a Host no client sends.
    async with Lab(mcp_url=mcp_url) as lab:
        assert (await lab.connect("cimd")).whoami["aud"] == mcp_url
