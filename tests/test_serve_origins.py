"""`python -m lab_servers serve`: who may talk to the served lab. The AS trusts one local origin;
browser clients get CORS where they need it; a foreign Origin or Host (DNS rebinding) is refused
in each server's own shape (MCP Streamable HTTP, Security; RFC 6749 §5.2), and localhost is told
which name is canonical (RFC 9110 §15.5.20)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.responses import PlainTextResponse

from lab_servers import ASCapabilities
from lab_servers.browser_origins import (
    ALLOWED_REQUEST_HEADERS,
    MAX_PARAM_HEADER_CHARS,
    MAX_PARAM_HEADERS,
    BrowserOrigins,
)
from lab_servers.client_documents import READY_DOCUMENTS
from lab_servers.revisions import DEFAULT_REVISION
from lab_servers.serve import serving
from lab_servers.serve_binding import canonical_host_only

from .serve_helpers import authorization_page, served, tls_dir, trusting

__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py
pytestmark = pytest.mark.anyio


async def test_the_hardened_as_trusts_exactly_one_local_origin(tls_dir: Path) -> None:
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        assert lab.lab.policy.trusted_local_origins == (lab.documents_origin,)
        other_loopback = f"https://127.0.0.1:{urlsplit(lab.mcp_url).port}/client.json"
        for client_id, verdict in ((f"{lab.documents_origin}/inspector-cli.json", 200), (other_loopback, 400)):
            page = await authorization_page(lab, http, client_id, "http://127.0.0.1:6276/oauth/callback")
            assert page.status_code == verdict, page.text
        assert "special-use address" in page.text


async def test_a_document_on_the_internet_is_out_of_the_served_as_s_reach_not_a_name_that_does_not_resolve(
    tls_dir: Path,
) -> None:
    # Codex's default (`--oauth-client-registration auto`) sends OpenAI's own CIMD document URL
    # wherever the AS advertises CIMD. The served AS fetches only its documents host (and the
    # virtual network), and said the URL's host "does not resolve", which it does on the
    # user's machine; its error page now names the rule the lab keeps and the way in it offers.
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        page = await authorization_page(lab, http, "https://chatgpt.com/oauth/codex/client.json")
    assert page.status_code == 400 and "invalid_client" in page.text  # no redirect: OAuth 2.1 §4.1.2.1
    assert "does not resolve" not in page.text, page.text
    assert "host &#x27;chatgpt.com&#x27; is not fetched" in page.text, page.text
    assert f"only from its own documents host, {lab.documents_origin}" in page.text
    assert "never from the internet; with serve --no-cimd a client that sends its own registers by DCR" in page.text
    # Claude Code keeps the refused id and sends it to `serve --no-cimd` too (test_claude_code.py).
    assert "(one that kept this client_id sends it again until you sign it out)" in page.text


@pytest.mark.parametrize(
    "host", ["93.184.216.34", "[2606:2800:220:1::]", "[2606:2800:220:1::ABCD]", "93.184.216.34:8443"]
)
async def test_a_document_at_a_public_ip_literal_is_out_of_the_served_as_s_reach_not_a_refused_connection(
    tls_dir: Path, host: str
) -> None:
    # An IP literal needs no lookup, so the out-of-reach refusal above was skipped and the user
    # read "connection refused", as if the host were down: the served AS fetches only its
    # documents host, never the internet, whatever the URL's host is spelled as. (A special-use
    # literal, 127.0.0.1 or 10.0.0.1, is still refused as such: CIMD §8.6.)
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        page = await authorization_page(lab, http, f"https://{host}/client.json")
    assert page.status_code == 400 and "invalid_client" in page.text  # no redirect: OAuth 2.1 §4.1.2.1
    assert "connection refused" not in page.text, page.text
    assert "is not fetched" in page.text and "never from the internet" in page.text, page.text


async def test_an_ip_literal_a_lab_name_answers_with_is_within_the_served_as_s_reach(tls_dir: Path) -> None:
    # The virtual network's hosts are the served AS's reach, by name or by address: app.example's
    # address is the lab's own, not the internet, and is fetched like the name.
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        (address,) = lab.lab.network.dns.records()["app.example"]
        page = await authorization_page(lab, http, f"https://{address}/client.json")
    assert page.status_code < 500 and "is not fetched" not in page.text, page.text


async def test_the_served_as_s_fetch_on_the_lab_network_is_printed_and_saved_from_its_true_host(
    tls_dir: Path,
) -> None:
    # serve "prints every exchange as it happens", and --trace-file keeps them all: the AS's fetch
    # of https://app.example/client.json went over the lab network, which recorded it in the
    # trace, unprinted and unsaved, as sent by auth.example.com, a host the served lab has not.
    printed: list[str] = []
    async with (
        served(tls_dir, on_exchange=lambda exchange: printed.append(exchange.summary())) as lab,
        httpx.AsyncClient(verify=trusting(tls_dir)) as http,
    ):
        await authorization_page(lab, http, "https://app.example/client.json", "https://app.example/callback")
        in_memory = [exchange.summary() for exchange in lab.lab.trace]
    issuer_host = urlsplit(lab.issuer).netloc
    assert f"#2 {issuer_host} → app.example: GET /client.json → 200" in printed, printed
    assert sorted(printed) == sorted(in_memory) and len(printed) == 2


@pytest.mark.parametrize("dcr", ["initial_access_token", "closed", "removed"])
async def test_a_document_out_of_reach_names_serve_no_cimd_only_where_dcr_is_open(tls_dir: Path, dcr: str) -> None:
    # "with serve --no-cimd a client that sends its own registers by DCR" is a way in only where
    # anyone may register: a client with no initial access token is refused (RFC 7591 §3), and a
    # closed or removed /register takes no one; the refusal names no way in this AS does not offer.
    token = {"initial_access_token": "lab-initial-access-token"} if dcr == "initial_access_token" else {}
    capabilities = dataclasses.replace(ASCapabilities.for_revision(DEFAULT_REVISION), dcr=dcr, **token)
    async with served(tls_dir, capabilities=capabilities) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        page = await authorization_page(lab, http, "https://chatgpt.com/oauth/codex/client.json")
    assert page.status_code == 400 and "invalid_client" in page.text  # no redirect: OAuth 2.1 §4.1.2.1
    assert "never from the internet" in page.text and "--no-cimd" not in page.text, page.text


async def test_every_ready_made_document_opens_the_consent_page_for_each_redirect_uri_it_lists(tls_dir: Path) -> None:
    # The documents `serve` publishes for real clients (Inspector, the SDK example, FastMCP) are
    # only of use if the AS takes them: its client_id is its URL (CIMD §3), and each listed
    # redirect URI is matched as an exact string (OAuth 2.1 §4.1.1), the localhost form apart.
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        for ready in READY_DOCUMENTS:
            for redirect_uri in ready.redirect_uris:
                page = await authorization_page(lab, http, f"{lab.documents_origin}{ready.path}", redirect_uri)
                assert page.status_code == 200 and ready.client_name in page.text, (ready.path, redirect_uri, page.text)
    assert "/fastmcp-client.json" in {ready.path for ready in READY_DOCUMENTS}


async def test_browser_clients_get_cors_on_metadata_registration_and_token_but_not_authorize(tls_dir: Path) -> None:
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        origin = "http://localhost:6274"
        for url in (
            f"{lab.issuer}/.well-known/oauth-authorization-server",
            f"{lab.issuer}/register",
            f"{lab.issuer}/token",
            lab.mcp_url,
        ):
            preflight = await http.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == origin
        metadata = await http.get(f"{lab.issuer}/.well-known/oauth-authorization-server", headers={"Origin": origin})
        assert metadata.status_code == 200 and metadata.headers["access-control-allow-origin"] == origin
        unauthorized = await http.post(lab.mcp_url, json={}, headers={"Origin": lab.issuer})  # the lab's own origin
        assert (
            unauthorized.status_code == 401
            and "www-authenticate" in unauthorized.headers["access-control-expose-headers"]
        )
        authorize = await http.options(
            f"{lab.issuer}/authorize", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
        )
        assert authorize.status_code == 403 and "access-control-allow-origin" not in authorize.headers


async def test_origin_validation_refuses_other_origins_and_foreign_host_names(tls_dir: Path) -> None:
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        for url in (lab.mcp_url, f"{lab.issuer}/.well-known/oauth-authorization-server"):
            refused = await http.get(url, headers={"Origin": "https://attacker.example"})
            assert refused.status_code == 403 and "DNS-rebinding" in refused.text
        rebound = await http.get(
            f"{lab.issuer}/.well-known/oauth-authorization-server", headers={"Host": "attacker.example"}
        )
        assert rebound.status_code == 403


async def test_a_foreign_origin_at_the_served_mcp_endpoint_is_the_json_rpc_error_the_mcp_server_gives(
    tls_dir: Path,
) -> None:
    # MCP Streamable HTTP, Security: "If the Origin header is present and invalid, servers MUST
    # respond with HTTP 403 Forbidden. The HTTP response body MAY comprise a JSON-RPC error
    # response", its id null (JSON-RPC 2.0 §5: not read): served as in process (transport.OwnNames), token or none; a foreign
    # Host (a rebinding page's) is refused in the same shape.
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        origin = await http.post(lab.mcp_url, json={}, headers={"Origin": "https://attacker.example"})
        host = await http.post(lab.mcp_url, json={}, headers={"Host": "attacker.example", "Authorization": "Bearer x"})
    for refused in (origin, host):
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/json"
        error = refused.json()
        assert (error["jsonrpc"], error["id"], error["error"]["code"]) == ("2.0", None, -32600)
        assert "DNS-rebinding protection" in error["error"]["message"]
    assert "servers MUST validate the Origin header" in origin.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/token", "/.well-known/oauth-authorization-server", "/jwks.json"])
async def test_a_foreign_origin_at_the_served_as_is_an_oauth_error_with_a_registered_code(
    tls_dir: Path, path: str
) -> None:
    # RFC 6749 §5.2: `error` is one of the registered codes; the lab's refusals of the request itself
    # (its 404s and 405s) are invalid_request, with no-store (§5.1) and the rule as the description.
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        refused = await http.post(f"{lab.issuer}{path}", headers={"Origin": "https://attacker.example"})
        rebound = await http.get(f"{lab.issuer}{path}", headers={"Host": "attacker.example"})
    for response in (refused, rebound):
        assert response.status_code == 403 and response.headers["cache-control"] == "no-store"
        assert response.json()["error"] == "invalid_request"
        assert "DNS-rebinding protection" in response.json()["error_description"]


async def test_localhost_is_told_which_name_is_canonical_in_each_servers_own_shape(tls_dir: Path) -> None:
    # RFC 9110 §15.5.20 421 Misdirected Request; the MCP endpoint answers it as a JSON-RPC error with
    # a null id (JSON-RPC 2.0 §5), the AS as an OAuth error whose code is a registered one (RFC 6749
    # §5.2: `misdirected_request` is none).
    async with served(tls_dir) as lab, httpx.AsyncClient(verify=trusting(tls_dir)) as http:
        mcp = await http.post(lab.mcp_url.replace("127.0.0.1", "localhost"), json={})
        oauth = await http.get(f"{lab.issuer}/jwks.json".replace("127.0.0.1", "localhost"))
        document = await http.get(f"{lab.documents_origin}/inspector-web.json".replace("127.0.0.1", "localhost"))
    assert mcp.status_code == oauth.status_code == document.status_code == 421
    assert mcp.json()["id"] is None and mcp.json()["error"]["code"] == -32600
    assert lab.mcp_url.removesuffix("/mcp") in mcp.json()["error"]["message"]
    assert oauth.json()["error"] == document.json()["error"] == "invalid_request"
    assert lab.issuer in oauth.json()["error_description"]


async def test_a_lab_on_another_loopback_address_still_refuses_a_host_it_does_not_serve() -> None:
    # 127.0.0.2 (over --http, since the CA signs only 127.0.0.1 and ::1) needs --allow-non-loopback,
    # which switched the Host gates off as for 0.0.0.0: a DNS-rebinding page, whose same-origin GETs
    # carry no Origin, read the lab's answers under its own name.
    async with serving(
        host="127.0.0.2", allow_non_loopback=True, tls=False, mcp_port=0, as_port=0, documents_port=0
    ) as served:
        metadata = f"{served.issuer}/.well-known/oauth-authorization-server"
        port = urlsplit(served.issuer).port
        async with httpx.AsyncClient() as http:
            assert (await http.get(metadata)).status_code == 200
            rebound = await http.get(metadata, headers={"Host": f"rebind.example:{port}"})
    assert rebound.status_code == 403 and "DNS-rebinding" in rebound.json()["error_description"]


async def _ok(scope: object, receive: object, send: object) -> None:
    await PlainTextResponse("ok")(scope, receive, send)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("origin", "host", "status"),
    [("http://127.0.0.1:80", "127.0.0.1", 200), ("http://127.0.0.1:80", "127.0.0.1:80", 200),
     ("https://127.0.0.1:443", "127.0.0.1", 200), ("http://127.0.0.1:8000", "127.0.0.1:8000", 200),
     ("http://127.0.0.1:80", "127.0.0.1:443", 421), ("http://127.0.0.1:8000", "127.0.0.1", 421)],
)  # fmt: skip
async def test_a_server_served_on_its_scheme_s_default_port_is_asked_for_without_one(
    origin: str, host: str, status: int
) -> None:
    # RFC 9110 §4.2.3: http://127.0.0.1:80/ and http://127.0.0.1/ are equivalent, and a client leaves
    # the default port out of Host (§7.2); served on port 80, the lab told it to use the name it used.
    app = canonical_host_only(_ok, urlsplit(origin).netloc, origin)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as http:
        response = await http.get("/", headers={"Host": host})
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("own", "origin", "status"),
    [("https://lab.example:443", "https://lab.example", 200), ("https://lab.example", "https://LAB.example:443", 200),
     ("http://lab.example:80", "http://lab.example", 200), ("https://lab.example:443", "https://lab.example:8443", 403),
     ("https://lab.example:443", "http://lab.example:443", 403)],
)  # fmt: skip
async def test_the_lab_s_own_origin_with_its_default_port_spelled_out_is_its_own(
    own: str, origin: str, status: int
) -> None:
    # A browser serializes an origin without its default port (RFC 6454 §6.2); the served lab names
    # its origins with theirs (`https://10.0.0.5:443` served on every interface), so they compare by
    # RFC 9110 §4.2.3's rule, as the MCP server's own gate compares them in process.
    app = BrowserOrigins(_ok, own_origins=[own], any_host=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as http:
        response = await http.get("/", headers={"Origin": origin})
    assert response.status_code == status, response.text


async def _preflight(asked: list[str]) -> httpx.Response:
    app = BrowserOrigins(_ok, own_origins=["https://127.0.0.1:8443"], allowed_hosts=("127.0.0.1",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://127.0.0.1:8443") as http:
        headers = [("Origin", "http://localhost:6274"), ("Access-Control-Request-Method", "POST"),
                   *(("Access-Control-Request-Headers", line.encode("latin-1")) for line in asked)]  # fmt: skip
        return await http.options("/mcp", headers=headers)


def allowed_headers(response: httpx.Response) -> list[str]:
    assert response.status_code == 204, response.text
    return [name.strip() for name in response.headers["access-control-allow-headers"].split(",")]


async def test_a_preflight_allows_the_mcp_param_headers_of_a_2026_07_28_tool_call() -> None:
    # MCP 2026-07-28 Custom Headers from Tool Parameters: a tools/call sends Mcp-Param-{Name} for
    # each argument its tool marks x-mcp-header; the browser lists them in the preflight's
    # Access-Control-Request-Headers and sends the call only if Access-Control-Allow-Headers names
    # each (Fetch standard, CORS-preflight fetch). The lab's fixed list never named one.
    asked = (
        "authorization, content-type, mcp-method, mcp-name, mcp-param-region, mcp-param-dry-run, mcp-protocol-version"
    )
    allowed = allowed_headers(await _preflight([asked]))
    assert {name.strip() for name in asked.split(",")} <= set(allowed)
    assert allowed[-2:] == ["mcp-param-region", "mcp-param-dry-run"]  # the fixed list, then the ones asked
    # A list: its lines read as one (RFC 9110 §5.3), names compared case-insensitively (§5.1).
    assert allowed_headers(await _preflight(["Mcp-Param-Region", "MCP-PARAM-Zone,\tmcp-param-region"]))[-2:] == [
        "mcp-param-region", "mcp-param-zone"
    ]  # fmt: skip


async def test_a_preflight_allows_only_mcp_param_names_that_are_field_names_and_within_the_lab_s_bounds() -> None:
    # Nothing else asked is echoed: not a header outside the fixed list, not an Mcp-Param- with no
    # name or one that is no token (RFC 9110 §5.1), not a name past MAX_PARAM_HEADER_CHARS, nor
    # more than MAX_PARAM_HEADERS of them (lab limits: a stranger's preflight is not echoed whole).
    longest = "mcp-param-" + "a" * (MAX_PARAM_HEADER_CHARS - len("mcp-param-"))
    too_long = longest + "a"
    asked = ["x-custom, mcp-param-, mcp-param-a b, mcp-param-(x), mcp-param-é", too_long]
    assert allowed_headers(await _preflight(asked)) == ALLOWED_REQUEST_HEADERS.split(", ")
    assert allowed_headers(await _preflight([longest])) == [*ALLOWED_REQUEST_HEADERS.split(", "), longest]
    many = [f"mcp-param-p{n}" for n in range(MAX_PARAM_HEADERS + 5)]
    assert allowed_headers(await _preflight([", ".join(many)]))[-MAX_PARAM_HEADERS - 1 :] == [
        "last-event-id", *many[:MAX_PARAM_HEADERS]
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("origin", "status", "said"),
    [("https://127.0.0.1:019300", 200, ""), ("null", 403, "'null' is neither the lab's own nor a loopback origin"),
     ("https://127.0.0.1:123456", 403, "'https://127.0.0.1:123456' is no origin (RFC 6454 section 7.1"),
     ("https://127.0.0.1/mcp", 403, "is no origin (RFC 6454 section 7.1")],
)  # fmt: skip
async def test_an_origin_field_is_refused_for_what_it_is(origin: str, status: int, said: str) -> None:
    # A port with leading zeros is its number, in an Origin as in a Host (rfc6454.SERIALIZED_ORIGIN):
    # `https://127.0.0.1:019300` was refused as "neither the lab's own nor a loopback origin", and
    # a value that is no origin at all is not called another one (an OAuth error_description is
    # ASCII without `"`: RFC 6749 §5.2, `error_text`).
    app = BrowserOrigins(_ok, own_origins=["https://lab.example"], any_host=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as http:
        response = await http.get("/", headers={"Origin": origin})
    assert response.status_code == status and said in response.text, response.text
