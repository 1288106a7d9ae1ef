"""When the MCP server's metadata names another authorization server, nothing the first one issued
goes to the second: not its refresh token, which RFC 6749 §10.4 shares between the AS that issued
it and the client alone, and not an initial access token the lab's AS gave (RFC 7591 §3), a
bearer token that must not reach an unintended party (RFC 6750 §5.3). Found by a hostile-server
attack: a resource that moved to an AS with no way to register, and the client's next call
refreshed there with the first AS's refresh token."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lab_servers import ASCapabilities, Lab, StepError

from .hostile_server import BASE, HostileServer, _json, _metadata

pytestmark = pytest.mark.anyio

AS2 = "https://as2.example"


class MovingServer(HostileServer):
    """An MCP server whose every request, once `moved`, is refused with a challenge naming
    metadata that lists AS2 for the same resource."""

    moved = False

    async def mcp(self, request: Request) -> Response:
        if self.moved:
            challenge = f'Bearer error="invalid_token", resource_metadata="{AS2}/prm"'
            return Response("{}", 401, headers={"WWW-Authenticate": challenge})
        return await super().mcp(request)


def second_as(seen: list[tuple[str, Any]], *, registration: bool) -> Starlette:
    async def prm(request: Request) -> Response:
        return _json({"resource": f"{BASE}/mcp", "authorization_servers": [AS2]})

    async def metadata(request: Request) -> Response:
        document = _metadata(AS2)
        if not registration:
            del document["registration_endpoint"]
        return _json(document)

    async def token(request: Request) -> Response:
        seen.append(("token", dict(await request.form())))
        return _json({"error": "invalid_grant"}, 400)

    async def register(request: Request) -> Response:
        seen.append(("register", request.headers.get("authorization")))
        return _json({"error": "invalid_client_metadata"}, 400)

    return Starlette(routes=[
        Route("/prm", prm), Route("/.well-known/oauth-authorization-server", metadata),
        Route("/token", token, methods=["POST"]), Route("/register", register, methods=["POST"]),
    ])  # fmt: skip


async def moved_after_a_handshake(lab: Lab, server: MovingServer, **options: Any) -> Any:
    lab.network.add_host("hostile.example", "93.184.215.90", server.app())
    client = lab.client("dcr", **options)
    client.mcp_url = f"{BASE}/mcp"
    await client.run_all()
    server.moved = True
    return client


async def test_the_first_as_refresh_token_never_goes_to_the_second(lab: Lab) -> None:
    seen: list[tuple[str, Any]] = []
    lab.network.add_host("as2.example", "93.184.215.92", second_as(seen, registration=False))
    token = {"access_token": "t1", "token_type": "Bearer", "refresh_token": "AS1-REFRESH"}
    client = await moved_after_a_handshake(lab, MovingServer(token=_json(token)))
    for _ in range(2):  # the first call refreshes at the first AS, then finds the second
        with pytest.raises(StepError):
            await client.call_tool("whoami")
    assert client.state.issuer == AS2 and client.state.tokens is None
    assert [form for what, form in seen if what == "token"] == []


async def test_an_initial_access_token_goes_to_the_as_that_gave_it_alone(lab: Lab) -> None:
    seen: list[tuple[str, Any]] = []
    first: list[str | None] = []

    def register_at_first(request: Request) -> Response:
        first.append(request.headers.get("authorization"))
        return _json({"client_id": "as1-client"}, 201)

    lab.network.add_host("as2.example", "93.184.215.92", second_as(seen, registration=True))
    client = await moved_after_a_handshake(
        lab, MovingServer(register=register_at_first), initial_access_token="iat-of-the-lab-as"
    )
    with pytest.raises(StepError):
        await client.call_tool("whoami")
    # The lab's AS gave it (`lab.client`): neither the MCP server's own AS nor the second gets it.
    assert first == [None] and seen == [("register", None)]
    assert any(f"initial access token is {lab.issuer}'s" in note for r in client.records for note in r.notes)


async def test_a_refresh_after_step_3_found_another_as_is_refused_by_the_client(lab: Lab) -> None:
    # A learner may run step 3 again by hand once the metadata names another AS: the refresh
    # token still goes back only to the AS it came from.
    client = lab.client("dcr")
    await client.run_all()
    client.state.issuer = "https://other.example"
    with pytest.raises(StepError, match=r"goes back only to the AS that issued it \(RFC 6749 §10.4\)"):
        await client.refresh()


# When the old AS can no longer refresh: discover again (SEP-2352), as when it still refreshes ------

AS2_HOST, AS2_ADDRESS = "auth2.example.com", "93.184.215.21"


def forget_clients(lab: Lab) -> None:
    lab.auth_server.registry.records.clear()


def retire(lab: Lab) -> None:
    lab.network.dns.remove("auth.example.com")


async def moved_to_auth2(lab: Lab) -> Any:
    """Notebook 06's resource_moves: a 2026-07-28 client registered by DCR at the lab's AS, then
    the MCP server's metadata names auth2 instead."""
    lab.add_authorization_server(AS2_HOST, AS2_ADDRESS, capabilities=ASCapabilities(cimd=False))
    client = lab.client(revision="2026-07-28")
    await client.run_all()
    lab.use_authorization_server(f"https://{AS2_HOST}")
    return client


@pytest.mark.parametrize(
    ("old_as", "refused"),
    [(retire, "auth.example.com: name does not resolve"), (forget_clients, "401 invalid_client")],
    ids=["its-name-removed", "its-registrations-dropped"],
)
async def test_a_refresh_the_old_as_cannot_make_sends_the_client_to_register_and_authorize_at_the_new_one(
    old_as: Any, refused: str
) -> None:
    # MCP 2026-07-28: a client MUST register again when the metadata names a new AS. The 401
    # said where the metadata is, but the refresh at the old AS failed first and every call
    # ended in step 9 for ever, the metadata never read again.
    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        client = await moved_to_auth2(lab)
        old_as(lab)
        before = len(client.records)
        result = await client.call_tool("whoami")
        assert result["structuredContent"]["iss"] == f"https://{AS2_HOST}"
        records = client.records[before:]
        assert [r.name for r in records] == [
            "refresh", "resource-metadata", "as-metadata", "client-id", "authorize", "token", "call",
        ]  # fmt: skip
        assert refused in records[0].learned["error"] and "discovers again" in records[0].notes[-1]
        assert records[3].learned["method"] == "dcr" and set(client.credential_store) == {
            lab.issuer, f"https://{AS2_HOST}",
        }  # fmt: skip
        again = len(client.records)
        await client.call_tool("whoami")  # the new AS's token: no refresh, no discovery
        assert [r.name for r in client.records[again:]] == ["call"]


def revoke_the_grant(lab: Lab) -> None:
    lab.auth_server.refresh_tokens.clear()  # its refresh token unknown: invalid_grant (RFC 6749 §5.2)


@pytest.mark.parametrize(
    "at_the_as", [forget_clients, revoke_the_grant], ids=["registrations-dropped", "grant-revoked"]
)
async def test_a_refresh_refused_where_the_resource_has_not_moved_fails_the_call_at_step_9_and_asks_no_one(
    at_the_as: Any,
) -> None:
    # The client looks whether the resource moved (steps 2-3); it has not, so the refresh's
    # failure is the call's: a grant revoked or a registration dropped at the same AS is the
    # person's to mend, not a consent page each call opens on its own (with the client's default
    # decision, "approve", the stepper's Expire button consented for the person).
    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        client = lab.client(revision="2026-07-28")
        await client.run_all()
        handshake = len(lab.trace)
        at_the_as(lab)
        lab.clock.advance(3600)
        for _ in range(2):
            before = len(client.records)
            with pytest.raises(StepError, match=r"^step 9 \(refresh\)"):
                await client.call_tool("whoami")
            records = client.records[before:]
            assert [r.name for r in records] == ["refresh", "resource-metadata", "as-metadata", "call"]
            assert records[0].notes[-1] == "the resource still names the same AS: the refresh's failure stands"
        assert not [e for e in list(lab.trace)[handshake:] if e.caller == "browser"]  # no consent page opened


NO_TOKEN = (
    "no access token is held: the tokens of 'https://auth.example.com' were dropped when the resource moved to "
    "'https://auth2.example.com' (RFC 6749 §10.4, SEP-2352), and the new authorization there did not complete "
    "(step 5 (authorize) failed: the AS answered access_denied: the user denied the request). To authorize there, "
    "run the handshake again with a new client: `await lab.connect()`, or `client = lab.client()` and "
    "`await client.run_all()`"
)


def cannot_refresh(lab: Lab) -> None:
    lab.auth_server.refresh_tokens.clear()


async def test_a_call_after_the_user_denied_the_new_authorization_fails_saying_no_token_is_held_and_asks_no_one() -> (
    None
):
    # The old AS's tokens were dropped with the move (RFC 6749 §10.4) and the user denied the new
    # authorization: no token is held, and the call says so and what to do, sending nothing. It
    # said "run the steps in order" though every step had run; then it asked the user again at the
    # AS it last knew, without reading the resource's metadata: at an AS the resource had left, or
    # failing for good at one that was gone.
    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        client = await moved_to_auth2(lab)
        cannot_refresh(lab)
        client.decision = "deny"
        with pytest.raises(StepError, match=r"^step 5 \(authorize\): .*access_denied"):
            await client.call_tool("whoami")
        asked: list[Any] = []

        async def ask(page: Any) -> str:
            asked.append(page)
            return "approve"

        client.decision, sent = ask, len(lab.trace)
        for _ in range(2):
            with pytest.raises(StepError) as failure:
                await client.call_tool("whoami")
            assert str(failure.value) == f"step 8 (call): {NO_TOKEN}"
        assert [r.name for r in client.records[-2:]] == ["call", "call"]
        assert asked == [] and len(lab.trace) == sent


NOT_COMPLETED = NO_TOKEN.replace(
    " (step 5 (authorize) failed: the AS answered access_denied: the user denied the request)", ""
)


async def test_no_token_after_an_authorization_at_the_new_as_cut_short_names_no_earlier_failure() -> None:
    # The user denied a step-up at the first AS; later the resource moved and the call authorizing
    # at the new AS was cancelled while it registered there. The next call quoted the denied
    # step-up as the reason the new authorization failed: only what followed the step 3 that found
    # the new AS is its failure, and here nothing failed by a step's rule.
    import asyncio

    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        lab.add_authorization_server(AS2_HOST, AS2_ADDRESS, capabilities=ASCapabilities(cimd=False))
        client = lab.client(revision="2026-07-28")
        await client.run_all()
        client.decision = "deny"
        with pytest.raises(StepError, match=r"^step 5 \(authorize\): .*access_denied"):
            await client.call_tool("add_note", {"text": "x"})
        lab.use_authorization_server(f"https://{AS2_HOST}")
        cannot_refresh(lab)
        client.decision = "approve"
        task = asyncio.create_task(client.call_tool("whoami"))
        for _ in range(1000):  # until its step 3 found auth2 and dropped the tokens: step 4 runs
            if client.state.access_token is None:
                break
            await asyncio.sleep(0)
        assert client.state.access_token is None and not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(StepError) as failure:
            await client.call_tool("whoami")
        assert str(failure.value) == f"step 8 (call): {NOT_COMPLETED}"


async def test_no_token_after_an_authorization_at_the_new_as_that_raised_says_once_it_did_not_complete() -> None:
    # Nothing recorded failed (the decision raised): the reason read "did not complete (it did not complete)".
    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        client = await moved_to_auth2(lab)
        cannot_refresh(lab)

        async def gone(page: Any) -> str:
            raise RuntimeError("the widget went away")

        client.decision = gone
        with pytest.raises(RuntimeError):
            await client.call_tool("whoami")
        client.decision = "approve"
        with pytest.raises(StepError) as failure:
            await client.call_tool("whoami")
        assert str(failure.value) == f"step 8 (call): {NOT_COMPLETED}"
        assert "(it did not complete)" not in str(failure.value)


async def test_step_7_after_the_user_denied_the_new_authorization_says_no_token_is_held() -> None:
    # Steps 1-6 done, the resource moved before step 7, and the user denied the authorization step 7
    # led to at the new AS: step 7 again said "needs an access token from an earlier step; run the
    # steps in order", though they had run.
    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        lab.add_authorization_server(AS2_HOST, AS2_ADDRESS, capabilities=ASCapabilities(cimd=False))
        client = lab.client(revision="2026-07-28")
        for _ in range(6):
            await client.next_step()
        lab.use_authorization_server(f"https://{AS2_HOST}")
        cannot_refresh(lab)
        client.decision = "deny"
        with pytest.raises(StepError, match=r"^step 5 \(authorize\): .*access_denied"):
            await client.next_step()
        client.decision = "approve"
        with pytest.raises(StepError) as failure:
            await client.next_step()
        assert str(failure.value) == f"step 7 (mcp): {NO_TOKEN}"


async def test_calls_waiting_behind_a_new_authorization_the_user_denied_fail_saying_no_token_is_held() -> None:
    # Three calls at once find the resource moved; one authorizes at the new AS and the user denies
    # it. The two that waited for it went on with no token, posted to /mcp without Authorization,
    # and failed with the bare 401 challenge. A call that sent a token never sends none after it.
    import asyncio

    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        client = await moved_to_auth2(lab)
        cannot_refresh(lab)
        asked: list[Any] = []

        async def deny(page: Any) -> str:
            asked.append(page)
            return "deny"

        client.decision, start = deny, len(lab.trace.exchanges)
        results = await asyncio.gather(*(client.call_tool("whoami") for _ in range(3)), return_exceptions=True)
        assert [str(r) for r in results] == [
            "step 5 (authorize): the AS answered access_denied: the user denied the request",
            f"step 8 (call): {NO_TOKEN}",
            f"step 8 (call): {NO_TOKEN}",
        ]
        to_mcp = [e for e in lab.trace.exchanges[start:] if e.path == "/mcp"]
        assert (
            len(asked) == 1
            and to_mcp
            and all(any(name.lower() == "authorization" for name, _ in e.request_headers) for e in to_mcp)
        )


async def test_a_call_refused_for_a_token_another_call_replaced_meanwhile_retries_with_the_new_one() -> None:
    # A call sent the old AS's token just before another call's new authorization at the AS the
    # resource moved to had dropped it: refused (401 invalid_token), it failed with that 401 though
    # the renewal went through. _rpc: "a call whose token changed after it sent retries with the new one".
    import asyncio

    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        client = await moved_to_auth2(lab)
        cannot_refresh(lab)

        async def approve_later(page: Any) -> str:
            for _ in range(5):
                await asyncio.sleep(0)
            return "approve"

        async def late() -> Any:
            for _ in range(6):  # the first call's step 3 is done, its step 4 not yet begun
                await asyncio.sleep(0)
            return await client.call_tool("whoami")

        client.decision, start = approve_later, len(lab.trace.exchanges)
        results = await asyncio.gather(client.call_tool("whoami"), late())
        assert [r["structuredContent"]["iss"] for r in results] == [f"https://{AS2_HOST}"] * 2
        refused = [e for e in lab.trace.exchanges[start:] if e.path == "/mcp" and e.status == 401]
        assert len(refused) == 2  # the first call's, and the late call's with the old token


async def test_an_as_that_answers_a_refresh_with_a_503_fails_the_call_at_step_9_and_nobody_is_asked_again(
    lab: Lab,
) -> None:
    # Only a grant the AS refused (4xx) or an AS gone (no answer) sends the client to authorize
    # again: a 5xx is an AS that is there but failing now, and the user's consent mends nothing.
    seen: list[tuple[str, Any]] = []
    lab.network.add_host("as2.example", "93.184.215.92", second_as(seen, registration=True))
    token = {"access_token": "t1", "token_type": "Bearer", "refresh_token": "AS1-REFRESH"}
    server = MovingServer(token=_json(token))
    client = await moved_after_a_handshake(lab, server)
    server.answers["token"] = _json({"error": "server_error"}, 503)
    with pytest.raises(StepError, match=r"^step 9 \(refresh\): the token endpoint answered 503 server_error"):
        await client.call_tool("whoami")
    assert seen == [] and not any(e.url.startswith(AS2) for e in lab.trace.exchanges)


async def test_a_removed_token_endpoint_answering_an_html_404_sends_the_client_to_discover_again(lab: Lab) -> None:
    seen: list[tuple[str, Any]] = []
    lab.network.add_host("as2.example", "93.184.215.92", second_as(seen, registration=True))
    token = {"access_token": "t1", "token_type": "Bearer", "refresh_token": "AS1-REFRESH"}
    server = MovingServer(token=_json(token))
    client = await moved_after_a_handshake(lab, server)
    server.answers["token"] = _json("<html>Not Found</html>", 404, "text/html")
    with pytest.raises(StepError, match=r"^step 4 \(client-id\)"):  # as2 refuses every registration
        await client.call_tool("whoami")
    assert client.state.issuer == AS2 and seen == [("register", None)]


@pytest.mark.parametrize("old_as", [None, retire], ids=["still-refreshing", "its-name-removed"])
async def test_calls_made_at_once_after_the_move_register_at_the_new_as_once_and_the_user_consents_once(
    old_as: Any,
) -> None:
    # Discovering again changes the token as a step-up does: one at a time, or each call
    # registered and asked the user for itself, and their states overwrote each other's.
    import asyncio

    async with Lab(seed=0, capabilities=ASCapabilities(cimd=False)) as lab:
        client = await moved_to_auth2(lab)
        if old_as:
            old_as(lab)
        start = len(lab.trace.exchanges)
        results = await asyncio.gather(*(client.call_tool("whoami") for _ in range(3)))
        assert {r["structuredContent"]["iss"] for r in results} == {f"https://{AS2_HOST}"}
        consents = [e for e in lab.trace.exchanges[start:] if e.caller == "browser" and e.method == "POST"]
        assert len(consents) == 1 and len(lab.authorization_servers[f"https://{AS2_HOST}"].registry.records) == 1
