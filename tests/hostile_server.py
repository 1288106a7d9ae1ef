"""A hostile or broken server for the lab client to meet: one app playing the MCP server and its
authorization server at https://hostile.example, each answer replaceable, and `_run`, which runs
the lab client against it up to a step."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lab_servers import Lab

HOST = "hostile.example"


BASE = f"https://{HOST}"


def _json(body: Any, status: int = 200, content_type: str = "application/json") -> Response:
    return Response(body if isinstance(body, str) else json.dumps(body), status, media_type=content_type)


def _metadata(issuer: str = BASE, **changes: Any) -> dict[str, Any]:
    return {"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/token",
            "registration_endpoint": f"{issuer}/register", "code_challenge_methods_supported": ["S256"], **changes}  # fmt: skip


def _redirect(request: Request, query: str | None = None) -> Response:
    """The AS's answer to an authorization request: straight back to the client, code and all."""
    q = request.query_params
    query = query if query is not None else urlencode({"code": "C", "state": q["state"], "iss": BASE})
    return Response(status_code=302, headers={"location": f"{q['redirect_uri']}?{query.format(state=q['state'])}"})


def _tools(answer: Any) -> Any:
    """An MCP server that answers tools/list with a whoami tool and tools/call with `answer`."""

    def respond(message: dict[str, Any]) -> Response:
        if message["method"] == "tools/list":
            return _json({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [{"name": "whoami"}]}})
        return _json({"jsonrpc": "2.0", "id": message["id"], "result": answer})

    return respond


class HostileServer:
    """An MCP server and its AS on one host; each answer can be replaced by a hostile one."""

    def __init__(self, **answers: Any) -> None:
        self.answers = {
            "prm": _json({"resource": f"{BASE}/mcp", "authorization_servers": [BASE]}),
            "as_metadata": _json(_metadata()),
            "register": _json({"client_id": "hostile-client"}, 201),
            "authorize": _redirect,
            "token": _json({"access_token": "opaque", "token_type": "Bearer"}),
            "mcp": _tools({"structuredContent": {"sub": "alice"}}),
            **answers,
        }
        self.seen: list[str] = []
        self.challenge = f'Bearer resource_metadata="{BASE}/.well-known/oauth-protected-resource/mcp"'

    def answer(self, name: str, request: Request) -> Response:
        answer = self.answers[name]
        return answer if isinstance(answer, Response) else answer(request)  # a Response is callable too (ASGI)

    async def mcp(self, request: Request) -> Response:
        if "authorization" not in request.headers:
            return Response("{}", 401, headers={"WWW-Authenticate": self.challenge})
        answer = self.answers["mcp"]
        return answer if isinstance(answer, Response) else answer(json.loads(await request.body()))

    async def authorize(self, request: Request) -> Response:
        self.seen.append(str(request.url))
        return self.answer("authorize", request)

    def app(self) -> Starlette:
        def route(path: str, name: str, method: str = "GET") -> Route:
            async def endpoint(request: Request) -> Response:
                return self.answer(name, request)

            return Route(path, endpoint, methods=[method])

        return Starlette(routes=[
            Route("/mcp", self.mcp, methods=["POST"]), Route("/authorize", self.authorize, methods=["GET", "POST"]),
            route("/.well-known/oauth-protected-resource/mcp", "prm"),
            route("/.well-known/oauth-authorization-server", "as_metadata"),
            route("/register", "register", "POST"), route("/token", "token", "POST"),
        ])  # fmt: skip


async def _run(
    lab: Lab,
    server: HostileServer,
    steps: int,
    host: str = HOST,
    address: str = "93.184.215.90",
    revision: str | None = None,
) -> Any:
    lab.network.add_host(host, address, server.app())
    client = lab.client("dcr", revision=revision)
    client.mcp_url = f"{BASE}/mcp"
    for _ in range(steps):
        await client.next_step()
    return client
