"""OAuth error responses: one exception type carrying the status, the `error` code and a
description that names the rule broken (RFC 6749 §5.2, RFC 7591 §3.2.2, OAuth 2.1 §3.2.4)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from ..error_text import error_description

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400, headers: dict[str, str] | None = None):
        description = error_description(description)
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={**NO_STORE, **self.headers},
        )


def invalid_client(description: str, *, basic_auth_attempted: bool = False) -> OAuthError:
    # RFC 6749 §5.2: 401 with a WWW-Authenticate naming the scheme the client tried.
    if basic_auth_attempted:
        return OAuthError("invalid_client", description, 401, {"WWW-Authenticate": 'Basic realm="token"'})
    return OAuthError("invalid_client", description, 401)
