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

from lab_servers import Lab, StepError

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
