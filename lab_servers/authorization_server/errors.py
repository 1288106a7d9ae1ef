"""OAuth error responses: one exception type carrying the status, the `error` code and a
description that names the rule broken (RFC 6749 §5.2, RFC 7591 §3.2.2, OAuth 2.1 §3.2.4)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..error_text import error_description

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class MetadataError(Exception):
    """A metadata value breaks a rule; `error` is the RFC 7591 §3.2.2 code."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400, headers: dict[str, str] | None = None):
        description = error_description(description)  # spelled out and bounded (error_text)
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> Response:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={**NO_STORE, **self.headers},
        )


def oauth_refusal(_path: str, status: int, description: str) -> Response:
    """A `Refusal` (error_text) for the gates in front of the AS's and the IdP's routes (a body
    over the cap; served, a foreign Origin or Host, a non-canonical name): the `invalid_request`
    their own 404s and 405s answer with, since no credentials would change the answer."""
    return OAuthError("invalid_request", description, status).response()


def invalid_client(description: str) -> OAuthError:
    # RFC 6749 §5.2: a 401 indicates "which HTTP authentication schemes are supported", and after
    # HTTP Basic the AS MUST answer 401 with a WWW-Authenticate naming it; RFC 9110 §15.5.2: every
    # 401 MUST carry a WWW-Authenticate. Basic is the one HTTP scheme the lab's servers take from
    # clients, so every invalid_client names it, whichever method the client tried.
    return OAuthError("invalid_client", description, 401, {"WWW-Authenticate": 'Basic realm="token"'})


# The AS's 404 description (the IdP names itself instead).
AS_NO_ENDPOINT = "this authorization server has no endpoint at {path} (RFC 8414 §2 lists them)"


def http_exception_as_oauth_error(
    request: Request,
    error: HTTPException,
    *,
    no_endpoint: str = AS_NO_ENDPOINT,
) -> OAuthError:
    """Starlette's routing errors (404 no such path, 405 wrong method), as OAuth error bodies.
    `no_endpoint` is the 404's description: the server's name and where its endpoints are listed."""
    path = request.url.path
    if error.status_code == 405:
        # Starlette builds Allow from a set, so its order changes between runs: sort it (determinism).
        allowed = ", ".join(sorted(m.strip() for m in (error.headers or {}).get("Allow", "").split(",") if m.strip()))
        # A HEAD is answered with GET's Content-Length (RFC 9110 §8.6, §9.3.2), so with GET's description.
        method = "GET" if request.method == "HEAD" else request.method
        return OAuthError(
            "invalid_request", f"{method} is not allowed on {path}; use {allowed or 'another method'} (RFC 9110 §15.5.6)", 405,
            {"Allow": allowed} if allowed else None,
        )  # fmt: skip
    if error.status_code == 404:
        return OAuthError("invalid_request", no_endpoint.format(path=path), 404)
    return OAuthError(
        "invalid_request",
        f"the request was refused with HTTP {error.status_code}",
        error.status_code,
        dict(error.headers or {}),
    )


ExceptionHandler = Callable[[Request, Any], Coroutine[Any, Any, Response]]


def oauth_exception_handlers(*, no_endpoint: str = AS_NO_ENDPOINT) -> dict[type[Exception] | int, ExceptionHandler]:
    """A Starlette app's `exception_handlers` for an OAuth server (the AS, the enterprise IdP):
    whatever goes wrong, the client reads `error` and `error_description` (RFC 6749 §5.2)."""

    async def oauth_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, OAuthError)
        return error.response()

    async def http_error(request: Request, error: Exception) -> Response:
        # Starlette's own 404/405 would answer in plain text; an OAuth client reads `error` and
        # `error_description` (RFC 6749 §5.2) wherever it lands.
        assert isinstance(error, HTTPException)
        return http_exception_as_oauth_error(request, error, no_endpoint=no_endpoint).response()

    async def unexpected(_: Request, error: Exception) -> Response:  # pragma: no cover - a bug if reached
        return JSONResponse({"error": "server_error", "error_description": type(error).__name__}, 500, headers=NO_STORE)

    return {OAuthError: oauth_error, HTTPException: http_error, Exception: unexpected}
