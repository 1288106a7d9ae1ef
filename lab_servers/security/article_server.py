"""The article's MCP server, as written, to run what it gets wrong.

The article "How MCP clients find your auth server" (WorkOS, January 2026) shows a middleware for
an MCP server at `/mcp`. Three of its choices contradict the specs it cites, and this server makes
exactly those choices, on the lab network, so a notebook can run them against real clients:

1. A request without a token gets `401` with `Bearer error="unauthorized", error_description=…`.
   `unauthorized` is not an RFC 6750 error code (§3.1 defines `invalid_request`, `invalid_token`,
   `insufficient_scope`; others must be registered, §6.2), and a request that carried no
   credentials SHOULD get no error code at all (§3.1).
2. Its token check verifies the signature and the issuer, never the audience: a token the same
   AS minted for another resource passes. MCP §11.1 / RFC 8707: the server MUST check that it is
   the token's audience.
3. Its Protected Resource Metadata says `resource` is the origin (`https://article.example`) while
   the server lives at `/mcp`. RFC 9728 §3.3: the `resource` MUST be identical to the URL the
   client requested (when the metadata URL came from `WWW-Authenticate`).

`prm_resource=` lets the notebook also run the corrected PRM (the path), so that a client can get
a token *for this server* and show the lab's own MCP server refusing it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import KeySet
from starlette.types import Receive, Scope, Send

from ..arguments import expect, wrong_type
from ..client import Browser, LabClient, bearer_challenge
from ..client.base import RegistrationMethod
from ..determinism import SeededIds
from ..lab import SCOPES, Lab, default_client_metadata
from ..resource_server.tokens import ALGORITHMS
from ..rfc7519 import JwtRejected, verified_claims

ARTICLE_HOST = "article.example"
ARTICLE_ADDRESS = "93.184.215.50"
ARTICLE_ORIGIN = f"https://{ARTICLE_HOST}"
ARTICLE_MCP_URL = f"{ARTICLE_ORIGIN}/mcp"
ARTICLE_PRM_URL = f"{ARTICLE_ORIGIN}/.well-known/oauth-protected-resource"

# RFC 6750 §3.1: the error codes a Bearer challenge may carry (more only by IANA registration, §6.2).
RFC6750_ERRORS = ("invalid_request", "invalid_token", "insufficient_scope")


class ArticleServer:
    """An ASGI app: the article's middleware in front of a trivial MCP endpoint."""

    def __init__(self, lab: Lab, *, prm_resource: str = ARTICLE_ORIGIN) -> None:
        self.issuer = lab.issuer
        self.prm_resource = prm_resource
        self.http = lab.httpx_client(ARTICLE_HOST)
        self._keys: KeySet | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return None
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/.well-known/oauth-protected-resource":
            # The article's metadata: the origin as `resource`, although the server is at /mcp.
            body = {
                "resource": self.prm_resource,
                "authorization_servers": [self.issuer],
                "scopes_supported": ["notes:read"],
            }
            return await _json(send, 200, body)
        if method != "POST" or path != "/mcp":
            return await _json(send, 404, {"error": "not_found"})
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        token = (
            headers.get("authorization", "")[7:] if headers.get("authorization", "")[:7].lower() == "bearer " else ""
        )
        if not token:
            challenge = (f'Bearer error="unauthorized", error_description="Authorization needed", '
                         f'resource_metadata="{ARTICLE_PRM_URL}"')  # fmt: skip
            return await _json(send, 401, {"error": "unauthorized"}, [("www-authenticate", challenge)])
        claims = await self.issuer_only_check(token)
        if claims is None:
            return await _json(
                send, 401, {"error": "invalid_token"}, [("www-authenticate", 'Bearer error="invalid_token"')]
            )
        # Accepted: answer the JSON-RPC call with who the token says is calling.
        result = {k: claims.get(k) for k in ("iss", "aud", "sub", "client_id")}
        return await _json(send, 200, {"jsonrpc": "2.0", "id": 1, "result": {"accepted_token_for": result}})

    async def issuer_only_check(self, token: str) -> dict[str, Any] | None:
        """The article's check: a valid signature from the AS's keys and the right `iss`. No `aud`."""
        if self._keys is None:
            response = await self.http.get(f"{self.issuer}/jwks.json")
            self._keys = KeySet.import_key_set(response.json())
        try:
            claims = verified_claims(token, self._keys, ALGORITHMS, what="the token")
        except JwtRejected:
            return None
        return claims if claims.get("iss") == self.issuer else None


async def _json(send: Send, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
    data = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers or []]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


def add_article_server(lab: Lab, *, prm_resource: str = ARTICLE_ORIGIN) -> ArticleServer:
    """Put the article's server on the lab network at https://article.example/mcp, and let the
    lab's AS issue tokens for it (RFC 8707: the AS knows the resources it serves)."""
    expect(Lab, lab, "add_article_server takes the lab first, such as add_article_server(lab)")
    expect(str, prm_resource, f"add_article_server(prm_resource=…) takes a URL string, such as {ARTICLE_MCP_URL!r}")
    server = ArticleServer(lab, prm_resource=prm_resource)
    lab.network.add_host(ARTICLE_HOST, ARTICLE_ADDRESS, server)
    lab.auth_server.resource_scopes[ARTICLE_MCP_URL] = list(SCOPES)
    return server


def client_for(lab: Lab, mcp_url: str, method: RegistrationMethod = "cimd") -> LabClient:
    """A lab client (the lab's strict one) for an MCP server other than the lab's own."""
    expect(Lab, lab, "client_for takes the lab first, such as client_for(lab, ARTICLE_MCP_URL)")
    expect(str, mcp_url, f"client_for takes the MCP server's URL second, a string such as {ARTICLE_MCP_URL!r}")
    return LabClient(
        mcp_url,
        http=lab.network.httpx_client("client"),
        browser=Browser(lab.network.httpx_client("browser")),
        trace=lab.trace,
        ids=SeededIds(f"{lab.ids.seed}:client:{urlsplit(mcp_url).hostname}"),
        method=method,
        client_metadata=default_client_metadata(lab.client_metadata_url),
        client_metadata_url=lab.client_metadata_url,
    )


def strict_reading(www_authenticate: str | None) -> str:
    """What a client that holds servers to RFC 6750 §3.1 does with a 401's challenge. None is a
    response without the header (`response.headers.get("WWW-Authenticate")` of a 200)."""
    if www_authenticate is not None and not isinstance(www_authenticate, str):
        raise wrong_type(
            'strict_reading takes the WWW-Authenticate header, response.headers.get("WWW-Authenticate")',
            www_authenticate,
        )
    challenge = bearer_challenge(www_authenticate) if www_authenticate is not None else None
    if challenge is None:
        return "no Bearer challenge: this is not an OAuth-protected MCP server (MCP §4.2)"
    error = challenge.get("error")
    if error is None:
        return "no error code: the request carried no credentials, so start authorization (RFC 6750 §3.1)"
    if error == "invalid_token":
        return "the token was refused: refresh it or authorize again (RFC 6750 §3.1)"
    if error == "insufficient_scope":
        return "step-up: authorize again for the scope named (RFC 6750 §3.1, MCP §10.1)"
    if error == "invalid_request":
        return "the request was malformed: fix it rather than retry it (RFC 6750 §3.1)"
    return (f"error={error!r} is not an RFC 6750 error code ({', '.join(RFC6750_ERRORS)}; others must be registered, "
            "§6.2): a strict client cannot tell a missing token from a refused one, and stops with a protocol error")  # fmt: skip
