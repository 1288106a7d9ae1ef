"""opencode judges `python -m lab_servers serve` over TLS — the README section "Point opencode at
the lab", run as a test.

opencode is a Bun-compiled program: its TLS is BoringSSL's, which cannot check the lab CA's
IP-address constraints, so it trusts `ca-bun.pem` (`lab_servers/local_ca.py`). Its OAuth client is
the TypeScript SDK's, bundled, behind opencode's own provider: `opencode mcp auth` signs in
(discovery, registration, PKCE, `resource`) on a fixed loopback port, and `opencode run`, its
model a fake on loopback, calls whoami with the stored token (`tests/opencode.py`).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from lab_servers import ASCapabilities, load_trace
from lab_servers.client_documents import READY_DOCUMENTS
from lab_servers.serve import ServedLab
from lab_servers.trace import Exchange
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import show_token

from .ci import unavailable
from .consenting_user import approve, consent, free_port, port_free
from .opencode import CALLBACK, SUCCESS, WAITING, auth_store, configure, installed, opencode_run, opencode_sign_in
from .serve_helpers import restartable
from .serve_helpers import served as on_free_ports  # `serving` on ports the system picks
from .served_trace import form_of, mcp_methods, posts_to, query_of

DOCUMENT = next(ready for ready in READY_DOCUMENTS if ready.path == "/opencode.json")
PORT = urlsplit(CALLBACK).port

pytestmark = [pytest.mark.conformance, pytest.mark.anyio]


@pytest.fixture(scope="module")
def opencode() -> Path:
    if not port_free(PORT or 0):
        unavailable(f"port {PORT}, opencode's fixed callback port, is taken on this machine")
    return installed()


def _signing_in(trace: list[Exchange]) -> list[str]:
    return [e.path for e in trace if e.path in ("/register", "/token") or e.path.startswith("/authorize")]


async def test_opencode_registers_by_dcr_signs_in_with_pkce_and_calls_whoami(opencode: Path, tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "opencode.jsonl")  # what `serve --trace-file` does
    async with on_free_ports(tmp_path / "tls", on_exchange=writer.write) as served:
        home, project = tmp_path / "home", configure(tmp_path / "project", served)
        signed = await opencode_sign_in(opencode, served, home, project)
        signed_in = list(served.lab.trace)
        run = await opencode_run(opencode, served, home, project)
        trace = list(served.lab.trace)
    print(signed.printed)
    assert signed.returncode == 0 and signed.consents == 1 and SUCCESS in signed.printed
    # Discovery from the 401 (MCP authorization, "Authorization Server Discovery"): the PRM the
    # challenge names (RFC 9728 §5.1), then the AS metadata (RFC 8414 §3).
    assert [(e.method, e.path, e.status) for e in signed_in[:3]] == [
        ("POST", "/mcp", 401), ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
        ("GET", "/.well-known/oauth-authorization-server", 200),
    ]  # fmt: skip
    # Two registrations per sign-in: `mcp auth` first connects as opencode does at start (a
    # registration, kept until the sign-in's own replaces it), then signs in with a provider of
    # its own, which registers again. RFC 7591 allows it; the AS keeps a client nobody uses.
    first, registration = posts_to(signed_in, "/register")
    metadata = json.loads(registration.request_body)
    assert json.loads(first.request_body) == metadata
    # A public client (RFC 7591 §2: token_endpoint_auth_method none) on one fixed loopback
    # redirect URI (RFC 8252 §7.3), asking for the scope the challenge named (RFC 6750 §3).
    assert metadata["redirect_uris"] == [CALLBACK] and metadata["token_endpoint_auth_method"] == "none"
    # Departure, pinned: no application_type, which a 2026-07-28 client MUST send
    # (client-registration, SEP-837: "native" for a loopback client); the lab's AS, whose DCR is
    # deprecated there rather than strict, registers it anyway.
    assert "application_type" not in metadata
    assert metadata["client_name"] == "OpenCode" and metadata["scope"] == "notes:read"
    # OAuth 2.1 §4.1.1 (PKCE S256), RFC 8707 §2 (resource), MCP "Scope Selection Strategy".
    query = query_of(signed.authorize_url)
    assert query["client_id"] == json.loads(registration.response_body)["client_id"]
    assert query["code_challenge_method"] == "S256" and query["resource"] == served.mcp_url
    assert query["scope"] == "notes:read" and query["redirect_uri"] == CALLBACK
    (token,) = posts_to(signed_in, "/token")
    form = form_of(token)
    assert form["grant_type"] == "authorization_code" and form["resource"] == served.mcp_url and token.status == 200
    assert form["code_verifier"] and form["redirect_uri"] == CALLBACK and form["client_id"] == query["client_id"]
    # Signed in, it connects: initialize at 2025-11-25, which the 2026-07-28 server agrees on (it
    # still answers initialize-era clients; MCP lifecycle, "Version Negotiation"), then tools/list.
    initialize = next(e for e in posts_to(signed_in, "/mcp") if '"initialize"' in e.request_body and e.status == 200)
    asked, answered = json.loads(initialize.request_body), json.loads(initialize.response_body)
    assert asked["params"]["protocolVersion"] == answered["result"]["protocolVersion"] == "2025-11-25"
    assert "server/discover" not in mcp_methods(signed_in) and "tools/list" in mcp_methods(signed_in)
    # `opencode run`, a second process: the stored token, no sign-in, and whoami called.
    assert _signing_in(trace[len(signed_in) :]) == [] and {"lab_whoami", "lab_list_notes"} <= set(run.offered)
    assert run.result is not None, run.state
    assert run.result["client_id"] == query["client_id"] and run.result["sub"] == "alice"
    assert run.result["aud"] == served.mcp_url
    writer.close()
    saved = load_trace(tmp_path / "opencode.jsonl")  # its handshake, for the notebooks' views
    assert {show_token(t).claims["client_id"] for t in access_tokens(saved)} == {run.result["client_id"]}


async def test_opencode_sends_its_stored_token_until_the_server_refuses_it(opencode: Path, tmp_path: Path) -> None:
    async with on_free_ports(tmp_path / "tls") as served:
        home, project = tmp_path / "home", configure(tmp_path / "project", served)
        await opencode_sign_in(opencode, served, home, project)
        # The expiry it stored (seconds) has passed; the token itself (900 s) has not.
        store = auth_store(home)
        stored = json.loads(store.read_text())
        store.write_text(
            json.dumps(stored | {"lab": stored["lab"] | {"tokens": stored["lab"]["tokens"] | {"expiresAt": 1}}})
        )
        seen = len(served.lab.trace)
        run = await opencode_run(opencode, served, home, project)
        after = list(served.lab.trace)[seen:]
    assert run.result is not None, run.state
    # No refresh by the clock: the SDK sends what it holds and refreshes on a 401 (or 403).
    assert _signing_in(after) == []
    bearer = {e.request_header("authorization") for e in posts_to(after, "/mcp")}
    assert bearer == {f"Bearer {stored['lab']['tokens']['accessToken']}"}


async def test_opencode_answers_insufficient_scope_with_a_refresh_which_cannot_add_the_scope(
    opencode: Path, tmp_path: Path
) -> None:
    async with on_free_ports(tmp_path / "tls") as served:
        home, project = tmp_path / "home", configure(tmp_path / "project", served)
        await opencode_sign_in(opencode, served, home, project)
        refresh_token = json.loads(auth_store(home).read_text())["lab"]["tokens"]["refreshToken"]
        seen = len(served.lab.trace)
        run = await opencode_run(opencode, served, home, project, ("add_note", {"text": "from opencode"}))
        after = list(served.lab.trace)[seen:]
    # add_note needs notes:write: the server names the scopes the call needs (RFC 6750 §3.1; MCP
    # authorization, "Scope Challenge Handling"). The SDK "upscopes" by refreshing (OAuth 2.1
    # §4.3), which asks for no scope and can only get the granted one or less (RFC 6749 §6): the
    # retry meets the same 403, and the call fails. The step-up the MCP spec describes, a new
    # authorization request for the union of scopes, never happens (`run` has no user to send).
    first, second = [e for e in posts_to(after, "/mcp") if e.status == 403]
    challenge = first.response_header("www-authenticate") or ""
    assert 'error="insufficient_scope"' in challenge and 'scope="notes:read notes:write"' in challenge
    (refresh,) = posts_to(after, "/token")
    form = form_of(refresh)
    assert form["grant_type"] == "refresh_token" and form["refresh_token"] == refresh_token and "scope" not in form
    assert form["resource"] == served.mcp_url and refresh.status == 200
    assert json.loads(refresh.response_body)["scope"] == "notes:read" and second.request_body == first.request_body
    assert run.result is None and "403 after trying upscoping" in run.state["error"]
    assert not any(e.path.startswith("/authorize") for e in after)


async def test_opencode_redeems_a_code_whose_iss_names_another_issuer(opencode: Path, tmp_path: Path) -> None:
    """Mix-up defence (RFC 9207 §2.4; MCP 2026-07-28 authorization): where the AS metadata says
    `authorization_response_iss_parameter_supported`, a client compares the `iss` that comes
    with the code to the issuer it sent the user to, and redeems nothing on a mismatch. opencode's
    listener reads `code` and `state` alone: here the user's browser (an attacker's page, in the
    attack) swaps the lab's `iss` for another, and opencode redeems the code all the same."""

    async def swapping_iss(served: ServedLab, url: str) -> None:
        redirect = await consent(served, url)
        assert query_of(redirect.location)["iss"] == served.issuer
        swapped = query_of(redirect.location) | {"iss": "https://attacker.example"}
        async with httpx.AsyncClient(trust_env=False) as http:
            landed = await http.get(urlsplit(redirect.location)._replace(query=urlencode(swapped)).geturl())
        assert landed.status_code == 200, landed.text

    async with on_free_ports(tmp_path / "tls") as served:
        home, project = tmp_path / "home", configure(tmp_path / "project", served)
        signed = await opencode_sign_in(opencode, served, home, project, user=swapping_iss)
        trace = list(served.lab.trace)
    metadata = json.loads(next(e for e in trace if e.path == "/.well-known/oauth-authorization-server").response_body)
    assert metadata["authorization_response_iss_parameter_supported"] is True
    (token,) = posts_to(trace, "/token")
    assert form_of(token)["grant_type"] == "authorization_code" and token.status == 200
    assert signed.returncode == 0 and SUCCESS in signed.printed


async def test_opencode_never_sends_a_cimd_client_id_of_its_own(opencode: Path, tmp_path: Path) -> None:
    """The MCP revisions prefer a Client ID Metadata Document where the AS metadata says
    `client_id_metadata_document_supported` (2025-11-25 authorization, "Client Registration
    Approaches"); opencode has none (its provider gives the SDK no `clientMetadataUrl`), so an AS
    offering CIMD and no registration endpoint leaves it asking for a client id."""
    capabilities = ASCapabilities.for_revision("2026-07-28").but(dcr="removed")
    async with on_free_ports(tmp_path / "tls", capabilities=capabilities) as served:
        signed = await opencode_sign_in(opencode, served, tmp_path / "home", configure(tmp_path / "project", served))
        trace = list(served.lab.trace)
    print(signed.printed)
    metadata = json.loads(next(e for e in trace if e.path == "/.well-known/oauth-authorization-server").response_body)
    assert metadata["client_id_metadata_document_supported"] is True and "registration_endpoint" not in metadata
    assert "Incompatible auth server: does not support dynamic client registration" in signed.printed
    assert not signed.authorize_url and _signing_in(trace) == []
    assert signed.returncode == 0  # "Authentication failed", and still a success to the shell


async def test_opencode_given_the_lab_s_document_url_as_its_client_id_links_by_cimd(
    opencode: Path, tmp_path: Path
) -> None:
    """`"oauth": {"clientId": …}` is a client id known beforehand, sent as-is; a URL is a CIMD
    client id (CIMD §3), so the AS fetches the lab's `/opencode.json` and nobody registers."""
    async with on_free_ports(tmp_path / "tls") as served:
        document = f"{served.documents_origin}{DOCUMENT.path}"
        home, project = tmp_path / "home", configure(tmp_path / "project", served, {"clientId": document})
        signed = await opencode_sign_in(opencode, served, home, project)
        run = await opencode_run(opencode, served, home, project)
        trace = list(served.lab.trace)
    assert signed.returncode == 0 and signed.consents == 1
    assert run.result is not None and run.result["client_id"] == document, run.state
    assert run.result["aud"] == served.mcp_url and run.result["identified_by"]["method"] == "CIMD"
    assert not posts_to(trace, "/register") and DOCUMENT.path in [e.path for e in trace]  # CIMD §3, §6
    assert query_of(signed.authorize_url)["redirect_uri"] == CALLBACK
    (token,) = posts_to(trace, "/token")
    assert form_of(token)["client_id"] == document and form_of(token)["resource"] == served.mcp_url


async def test_opencode_registers_again_after_the_lab_restarts_and_mcp_auth_signs_in(
    opencode: Path, tmp_path: Path
) -> None:
    """`serve` starts with a new signing key and no clients: what opencode stored is stale."""
    home, lab = tmp_path / "home", restartable(tmp_path / "tls")  # the same URLs, so the same entry
    async with lab() as served:
        project = configure(tmp_path / "project", served)
        await opencode_sign_in(opencode, served, home, project)
        before = json.loads(auth_store(home).read_text())["lab"]["clientInfo"]["clientId"]
    async with lab() as served:
        stale = await opencode_run(opencode, served, home, project)
        refused = list(served.lab.trace)
        again = await opencode_sign_in(opencode, served, home, project)
        after = await opencode_run(opencode, served, home, project)
        trace = list(served.lab.trace)
    # The stored access token is refused (RFC 6750 §3.1: invalid_token, no such key), then its
    # refresh, naming the unknown client (RFC 6749 §5.2: invalid_client); opencode forgets the
    # client and registers again, but `run` has no user to send to the consent page: the lab's
    # tools are missing from the session. `opencode mcp auth lab` signs in again.
    bearer = [e for e in posts_to(refused, "/mcp") if "Bearer " in (e.request_header("authorization") or "")]
    assert bearer and 'error="invalid_token"' in (bearer[0].response_header("www-authenticate") or "")
    (refresh,) = posts_to(refused, "/token")
    assert form_of(refresh)["grant_type"] == "refresh_token" and refresh.status == 401
    assert json.loads(refresh.response_body)["error"] == "invalid_client"
    assert len(posts_to(refused, "/register")) == 1 and not any(e.path.startswith("/authorize") for e in refused)
    assert stale.state == {} and "lab_whoami" not in stale.offered and "read" in stale.offered
    assert again.returncode == 0 and again.consents == 1
    assert after.result is not None, after.state
    assert after.result["client_id"] != before and after.result["aud"] == served.mcp_url
    assert posts_to(trace, "/token")[-1].status == 200


async def test_opencode_s_fixed_callback_port_taken_sends_the_code_to_whoever_holds_it(
    opencode: Path, tmp_path: Path
) -> None:
    """opencode listens on 127.0.0.1:19876 (`callbackPort` in the config moves it). Finding the
    port taken, it assumes another opencode holds it and waits (5 minutes) rather than failing:
    the user's browser brings the code to whatever listens there. PKCE (RFC 7636 §1) is what
    keeps that code useless to it: the AS redeems it only with opencode's verifier."""
    landed: list[str] = []

    async def another_program(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        landed.append((await reader.readline()).decode())
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    holder = await asyncio.start_server(another_program, "127.0.0.1", PORT)
    try:
        async with on_free_ports(tmp_path / "tls") as served:
            project = configure(tmp_path / "project", served)
            signed = await opencode_sign_in(opencode, served, tmp_path / "home", project, approve_it=False)
            redirect, _ = await approve(served, signed.authorize_url)
            assert served.ca is not None
            verify = ssl.create_default_context(cafile=str(served.ca.ca_certificate))
            async with httpx.AsyncClient(verify=verify, trust_env=False) as http:
                query = query_of(signed.authorize_url)
                redeemed = await http.post(f"{served.issuer}/token", data={
                    "grant_type": "authorization_code", "code": query_of(redirect.location)["code"],
                    "client_id": query["client_id"], "redirect_uri": CALLBACK, "resource": served.mcp_url,
                })  # fmt: skip
    finally:
        holder.close()
        await holder.wait_closed()
    # It printed the URL and was still waiting when stopped: no word of the port.
    assert signed.returncode is not None and signed.returncode < 0 and WAITING in signed.printed
    assert "EADDRINUSE" not in signed.printed and "in use" not in signed.printed
    (request_line,) = [line for line in landed if line]  # and one bare connection, no request
    assert request_line.startswith("GET /mcp/oauth/callback?code=")
    # OAuth 2.1 §4.1.3: the code was issued with a challenge, so no verifier, no token.
    assert redeemed.status_code == 400 and redeemed.json()["error"] == "invalid_request", redeemed.text


async def test_opencode_s_callback_port_option_moves_its_listener(opencode: Path, tmp_path: Path) -> None:
    # `"oauth": {"callbackPort": N}` in the config: the listener, the registered redirect URI and
    # the one sent move together; the AS takes any loopback port a client registers (RFC 8252 §7.3).
    port = free_port()
    async with on_free_ports(tmp_path / "tls") as served:
        project = configure(tmp_path / "project", served, {"callbackPort": port})
        signed = await opencode_sign_in(opencode, served, tmp_path / "home", project)
        trace = list(served.lab.trace)
    moved = CALLBACK.replace(f":{PORT}/", f":{port}/")
    assert signed.returncode == 0 and signed.consents == 1 and SUCCESS in signed.printed
    assert {json.loads(e.request_body)["redirect_uris"][0] for e in posts_to(trace, "/register")} == {moved}
    assert query_of(signed.authorize_url)["redirect_uri"] == moved and posts_to(trace, "/token")[0].status == 200
