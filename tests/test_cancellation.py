"""Every request of every story, cancelled at every await it reaches (`tests/cancellation.py`).

The handshake of 2025-11-25 and 2026-07-28, by DCR and by CIMD with a cold and a warm cache
(registration, the AS's CIMD fetch, the code and token, the MCP server's JWKS fetch, the SDK's
Streamable HTTP app); then notebook 07's story after it: refresh rotation, the MCP server's
token exchange (RFC 8693) for the downstream API, introspection (RFC 7662), revocation
(RFC 7009), the enterprise ID-JAG and its JWT bearer grant, and client credentials with a
private_key_jwt assertion. The fast suite sweeps one request of each kind; `slow` sweeps them all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from lab_servers import Lab, StepError, default_client_metadata
from lab_servers.network import LabNetwork
from lab_servers.sdk import whoami_over_tls
from lab_servers.serve_trace import HUNG_UP
from lab_servers.story import (
    SERVICE_CLIENT_ID,
    add_downstream_api,
    add_enterprise_idp,
    add_second_mcp_server,
    publish_service_client,
    use_introspection,
)

from .cancellation import Outcome, Scenario, Step, Story, logged_meanwhile, settle, sweep
from .serve_helpers import served, tls_dir, trusting
from .test_resource_server import mint

pytestmark = pytest.mark.anyio
__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py

HANDSHAKE = (
    "request_without_token", "discover_resource_metadata", "discover_authorization_server", "get_client_id",
    "authorize", "exchange_code", "call_mcp",
)  # fmt: skip


def client_step(name: str) -> Step:
    async def step(story: Story) -> Any:
        return await getattr(story.kept["client"], name)()

    return step


def new_client(method: str) -> Step:
    async def step(story: Story) -> None:
        story.kept["client"] = story.lab.client(method)

    return step


async def warm_cache(story: Story) -> None:
    await story.lab.client("cimd").run_all()


def handshake(revision: str, method: str, *, warm: bool = False) -> Scenario:
    label = {"dcr": "DCR", "cimd": "CIMD warm" if warm else "CIMD cold"}[method]
    steps = [("warm the CIMD cache", warm_cache)] if warm else []
    steps.append(("a new client", new_client(method)))
    steps += [(name, client_step(name)) for name in HANDSHAKE]
    return Scenario(f"{revision} {label}", lambda: Lab(revision=revision), tuple(steps), method)


HANDSHAKES = [
    handshake(revision, method, warm=warm)
    for revision in ("2026-07-28", "2025-11-25")
    for method, warm in (("dcr", False), ("cimd", False), ("cimd", True))
]


# Notebook 07's story ---------------------------------------------------------------------------------


def story_lab() -> Lab:
    lab = Lab(seed=0)
    add_downstream_api(lab)
    add_second_mcp_server(lab)
    return lab


async def refresh(story: Story) -> None:
    story.lab.clock.advance(901)  # past the access token's exp: the client refreshes (rotation)
    await story.kept["client"].refresh()


async def token_exchange(story: Story) -> None:
    # The MCP server exchanges the user's token at the AS (RFC 8693), then calls the API with it.
    story.lab.resource_server.downstream.mode = "exchange"
    result = await story.kept["client"].call_tool("list_contacts")
    assert result["isError"] is False and "error" not in result["structuredContent"], result


async def introspected_call(story: Story) -> None:
    use_introspection(story.lab)  # RFC 7662: the MCP server asks the AS about each token
    result = await story.kept["client"].call_tool("whoami")
    assert not result.get("isError"), result


async def revoke(story: Story) -> None:
    client = story.kept["client"]
    async with story.lab.httpx_client("client") as http:
        revoked = await http.post(
            f"{story.lab.issuer}/revoke",
            data={
                "token": client.state.access_token,
                "token_type_hint": "access_token",
                "client_id": client.state.credentials.client_id,
            },
        )
    assert revoked.status_code == 200, revoked.text


async def enterprise_discovery(story: Story) -> None:
    from lab_servers.client import Credentials
    from lab_servers.story import ENTERPRISE_CLIENT_AT_AS

    idp = story.kept["idp"] = add_enterprise_idp(story.lab)
    client = story.kept["enterprise"] = story.lab.client("preregistered")
    for _ in range(3):
        await client.next_step()
    registered = story.lab.auth_server.registry.get(ENTERPRISE_CLIENT_AT_AS)
    assert registered is not None
    client.state.credentials = Credentials(ENTERPRISE_CLIENT_AT_AS, registered.client_secret, "client_secret_basic")
    del idp


async def request_id_jag(story: Story) -> None:
    from lab_servers.story import ENTERPRISE_CLIENT_ID, IDP_ISSUER

    idp = story.kept["idp"]
    id_token = idp.sign_in("alice", ENTERPRISE_CLIENT_ID)
    secret = idp.clients[ENTERPRISE_CLIENT_ID].secret
    await story.kept["enterprise"].request_id_jag(f"{IDP_ISSUER}/token", id_token, ENTERPRISE_CLIENT_ID, secret)


async def redeem_id_jag(story: Story) -> None:
    await story.kept["enterprise"].redeem_id_jag()


KEYED_JOB = "https://app.example/keyed-job.json"
# Steps that make a lab client and run its discovery, swept in the handshakes: a cancelled one
# would shift the next client's ids by the client it made, not by a request.
SETUP = ("a new client", "warm the CIMD cache", "enterprise discovery", "a job's discovery")


def job_setup(client_id: str, *, jwks_uri: bool) -> Step:
    """A nightly job (SEP-1046) that authenticates with private_key_jwt, its public key in its
    document or at a jwks_uri (which the AS then fetches, a shared fetch as a CIMD one), and its
    discovery (steps 1-3); what is swept is the token request after it."""

    async def step(story: Story) -> None:
        from lab_servers.client import Credentials

        key = publish_service_client(story.lab)
        if jwks_uri:
            keys_url = f"{client_id.removesuffix('.json')}-keys.json"
            document = {
                **default_client_metadata(client_id), "grant_types": ["client_credentials"], "response_types": [],
                "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": keys_url,
            }  # fmt: skip
            story.lab.publish_client_document(client_id, document)
            story.lab.publish_client_document(keys_url, {"keys": [key.as_dict(private=False)]})
        client = story.kept["job"] = story.lab.client("cimd", client_metadata_url=client_id)
        for _ in range(3):
            await client.next_step()
        client.state.credentials = Credentials(client_id, None, "private_key_jwt", key, "Ed25519")

    return step


async def client_credentials(story: Story) -> None:
    # private_key_jwt (RFC 7523 §2.2): the assertion's jti is spent by the authentication.
    await story.kept["job"].client_credentials()


STORY = Scenario(
    "notebook 07",
    story_lab,
    (
        ("a new client", new_client("cimd")),
        *((name, client_step(name)) for name in HANDSHAKE),
        ("refresh", refresh),
        ("token exchange", token_exchange),
        ("introspection", introspected_call),
        ("revocation", revoke),
        ("enterprise discovery", enterprise_discovery),
        ("ID-JAG", request_id_jag),
        ("JWT bearer grant", redeem_id_jag),
        ("a job's discovery", job_setup(SERVICE_CLIENT_ID, jwks_uri=False)),
        ("client credentials", client_credentials),
        ("a job's discovery, its keys at a jwks_uri", job_setup(KEYED_JOB, jwks_uri=True)),
        ("client credentials, keys at a jwks_uri", client_credentials),
    ),
    "cimd",
)
# What the fast suite sweeps: one request of each kind, each where it does the most.
FAST = [
    (HANDSHAKES[0], "get_client_id"),  # DCR registration
    (HANDSHAKES[1], "authorize"),  # the AS's CIMD fetch, consent, code
    (HANDSHAKES[0], "exchange_code"),  # a code redeemed once
    (HANDSHAKES[0], "call_mcp"),  # the MCP server's JWKS fetch, the SDK's Streamable HTTP app
    (STORY, "refresh"),
    (STORY, "token exchange"),
    (STORY, "JWT bearer grant"),
]


def index_of(scenario: Scenario, name: str) -> int:
    return [n for n, _ in scenario.steps].index(name)


@pytest.mark.parametrize(("scenario", "step"), FAST, ids=[f"{s.name}: {n}" for s, n in FAST])
async def test_a_request_cancelled_at_any_await_leaves_nothing_half_done(scenario: Scenario, step: str) -> None:
    outcome = Outcome()
    await sweep(scenario, index_of(scenario, step), outcome)
    assert outcome.points > 0
    assert outcome.problems == []


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [*HANDSHAKES, STORY], ids=lambda s: s.name)
async def test_every_request_cancelled_at_every_await(scenario: Scenario) -> None:
    outcome = Outcome()
    start = time.perf_counter()
    for index, (name, _) in enumerate(scenario.steps):
        if not name.startswith(SETUP):
            await sweep(scenario, index, outcome)
    print(f"{scenario.name}: {outcome.points} cancellation points in {time.perf_counter() - start:.1f} s")
    assert outcome.problems == []


# The defect the sweep found ---------------------------------------------------------------------------


async def test_a_caller_cancelled_while_the_app_winds_down_stays_cancelled() -> None:
    """Closing a response hangs up and waits for the app to end (the MCP SDK's Streamable HTTP
    app runs on after its answer, as uvicorn lets it). A caller cancelled during that wait (its
    `asyncio.timeout`, an interrupted cell) must end cancelled: the network used to await the
    app's task inside `suppress(CancelledError)`, which swallowed the caller's cancellation with the
    app's, and the request returned its answer as if nobody had given up (2025-11-25's `call_mcp`
    ran on)."""
    winding_down = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"answered", "more_body": True})
        try:
            assert await receive() == {"type": "http.disconnect"}  # the client hangs up
        finally:
            winding_down.set()
            for _ in range(3):
                await asyncio.sleep(0)  # its cleanup takes a few iterations of the loop

    network = LabNetwork()
    network.add_host("slow.example", "192.0.2.80", app)

    async def read_the_answer_then_hang_up() -> None:
        response = await network.open("client", "GET", "https://slow.example/", [], b"")
        assert await response.__anext__() == b"answered"
        await response.aclose()

    caller = asyncio.ensure_future(read_the_answer_then_hang_up())
    await winding_down.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert caller.cancelled()
    # What the answer had brought is filed all the same (the trace keeps every exchange).
    [exchange] = network.trace.exchanges
    assert exchange.status == 200 and exchange.response_body.startswith("answered")


# Served: a client that hangs up -----------------------------------------------------------------------


async def test_served_clients_that_hang_up_mid_request_leave_the_lab_fine_for_the_next(
    tls_dir: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Over sockets, uvicorn does not cancel an app whose client went away: it hands the app an
    `http.disconnect` when it next reads, and drops what it sends. A client that hangs up right
    after its headers, in the middle of its body, or while the AS fetches its CIMD document,
    leaves the served lab as it was: the next client's handshake completes and nothing is
    printed as a traceback. (The MCP server answers JSON, not an SSE stream: `json_response`.)"""
    async with served(tls_dir, revision="2025-11-25") as lab:
        token = mint(lab.lab, iss=lab.issuer, aud=lab.mcp_url)
        call = b'{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}}'
        mcp_head = (
            f"POST /mcp HTTP/1.1\r\nHost: {{host}}\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}"
            f"\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n"
        ).encode()
        document = f"{lab.documents_origin}/inspector-cli.json"
        query = urlencode({
            "response_type": "code", "client_id": document, "redirect_uri": "http://127.0.0.1:6276/oauth/callback",
            "code_challenge": "x" * 43, "code_challenge_method": "S256", "state": "s", "resource": lab.mcp_url,
        })  # fmt: skip
        hang_ups = [
            (lab.issuer, b"POST /register HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
             b"Content-Length: 200\r\n\r\n"),  # headers only
            (lab.issuer, b"POST /token HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Content-Length: 200\r\n\r\ngrant_type=authorization_code&co"),  # half its body
            (lab.mcp_url, b"POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
             b"Accept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\""),
            (lab.issuer, f"GET /authorize?{query} HTTP/1.1\r\nHost: {{host}}\r\n\r\n".encode()),  # the AS fetches
            (lab.mcp_url, mcp_head + f"Content-Length: {len(call)}\r\n\r\n".encode() + call),  # a whole tool call
            (lab.mcp_url, mcp_head + f"Content-Length: {len(call)}\r\n\r\n".encode() + call[:40]),  # half of one
        ]  # fmt: skip
        for url, request in hang_ups:
            host = urlsplit(url).netloc
            _, writer = await asyncio.open_connection(
                *host.rsplit(":", 1), ssl=trusting(tls_dir), server_hostname="127.0.0.1"
            )
            writer.write(request.replace(b"{host}", host.encode()))
            await writer.drain()
            writer.transport.abort()  # gone, without a close_notify
        for _ in range(200):  # until each is recorded, with the AS's CIMD fetch and the MCP server's JWKS one
            if len(lab.lab.trace) == len(hang_ups) + 2:
                break
            await asyncio.sleep(0.05)
        hung_up = [(e.method, e.url.split("?")[0].rsplit("/", 1)[-1], e.status, e.error) for e in lab.lab.trace]
        unanswered = {(e.response_headers, e.response_body) for e in lab.lab.trace if e.status is None}
        whoami = await whoami_over_tls(lab.mcp_url, tls_dir / "ca.pem")
    assert whoami["aud"] == lab.mcp_url
    # The trace says what happened to each: a request whose body the servers had not read when
    # its client went is recorded unanswered, never as the client's error (a 400 "the form body
    # could not be read", a -32700 "not valid JSON" for a tool call sent whole); the document the
    # AS fetched for a client that had already gone was fetched all the same.
    gone = HUNG_UP  # "no response: the client closed its connection before its request was read whole"
    assert ("POST", "register", None, gone) in hung_up and ("POST", "token", None, gone) in hung_up
    assert ("POST", "mcp", None, gone) in hung_up  # half a tool call
    assert unanswered == {((), "")}  # nor any of the 500 Starlette sends after uvicorn's disconnect
    # The whole one: unread (uvicorn's disconnect comes before the body it has) or answered.
    assert {status for method, name, status, _ in hung_up if name == "mcp"} <= {401, 200, None}
    assert ("GET", "inspector-cli.json", 200, None) in hung_up
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, out + err
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


# Closing the lab while requests run ---------------------------------------------------------------------


@pytest.mark.parametrize("revision", ["2025-11-25", pytest.param("2026-07-28", marks=pytest.mark.slow)])
async def test_closing_the_lab_mid_handshake_ends_its_requests_before_the_mcp_servers_lifespan(revision: str) -> None:
    """`Lab.aclose` ends the MCP server's lifespan (the SDK's session manager). uvicorn shuts
    down in an order: no new connection, the requests running end, then the lifespan. The lab
    network ended the lifespan under the requests still running in it: each answered 500 and the
    SDK logged "Error handling POST request" with a traceback, which a notebook prints in red.
    Closed at every iteration of a handshake, the lab now ends each request first (cancelled, as
    when its caller goes), refuses new ones meanwhile, and logs nothing; nothing is left pending."""
    for k in range(1, 200):
        lab = Lab(revision=revision)
        before = set(asyncio.all_tasks())
        handshake = asyncio.ensure_future(lab.connect("dcr"))
        for _ in range(k):
            await asyncio.sleep(0)
        if handshake.done():
            handshake.result()
            break
        with logged_meanwhile() as logged:
            await lab.aclose()
            done, _ = await asyncio.wait([handshake], timeout=10)
            assert done, f"closed after {k} iterations, the handshake never ended"
            if handshake.exception() is not None:  # the lab closed under it: a step names what failed
                assert isinstance(handshake.exception(), StepError | RuntimeError), handshake.exception()
            assert await settle(before) == []
        assert logged == [], f"closed after {k} iterations"
    else:
        raise AssertionError("the handshake never completed")


async def test_a_first_request_cancelled_while_the_mcp_server_starts_is_filed_unanswered() -> None:
    """The MCP server's first request waits for its lifespan to start, and the network had taken
    the exchange's `seq` before: cancelled there, the exchange was never filed, and the trace had
    a gap (an exchange begun, none recorded). It is filed as a request with no response."""
    lab = Lab()
    request = asyncio.ensure_future(lab.client().request_without_token())
    await asyncio.sleep(0)  # one iteration: the request waits for the MCP server to start
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    [exchange] = lab.trace.exchanges
    assert (exchange.status, exchange.error) == (None, "no response: the caller gave up while the server started")
    await lab.aclose()
