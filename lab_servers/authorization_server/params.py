"""Request parameters as the AS reads them (OAuth 2.1 §3.1, §3.2.2): each one once, forms only."""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from ..rfc9110 import RepeatedField, media_type, one_field
from .errors import OAuthError
from .rfc6749 import form_urlencoded

_TARGETS = ("resource", "audience")  # parameters the specs let repeat, for several targets
MAX_PARAMETER_CHARS = 8192  # any one request parameter; a client assertion is the longest legitimate one
# What revocation and introspection only look up: the token the caller asks about, and its hint
# (RFC 7009 §2.1, RFC 7662 §2.1). Neither is stored nor echoed, so an overlong one is just no token
# this AS issued, which those endpoints answer 200 (RFC 7009 §2.2) or {"active": false} (RFC
# 7662 §2.2), never 400; the request body's cap (MAX_REQUEST_BODY_BYTES) still bounds them.
LOOKED_UP = frozenset({"token", "token_type_hint"})


def single_valued(items: list[tuple[str, str]], *, looked_up: frozenset[str] = frozenset()) -> dict[str, str]:
    """OAuth 2.1 §3.1: request parameters MUST NOT be included more than once, and "parameters
    sent without a value MUST be treated as if they were omitted from the request" (§3.1, §3.2;
    RFC 6749 §3.1, §3.2): `state=` is no state, `client_secret=` no secret. Each value is held to
    `MAX_PARAMETER_CHARS`, except those named in `looked_up` (see `LOOKED_UP`)."""
    values: dict[str, str] = {}
    for key, value in items:
        if not value:
            continue
        if len(value) > MAX_PARAMETER_CHARS and key not in looked_up:
            # Values are stored (a pending consent keeps `state`) and echoed (the redirect carries
            # it back): unbounded, 10,000 pending consents could hold gigabytes.
            raise OAuthError(
                "invalid_request",
                f"parameter {key[:40]!r} is {len(value)} characters long; the limit is {MAX_PARAMETER_CHARS} (lab limit)",
            )
        if key in values and key in _TARGETS:
            # RFC 8707 §2 and RFC 8693 §2.1 let a client name several resources (or audiences),
            # and the AS refuse what it cannot serve with invalid_target: each token here is for
            # one resource (MCP: its `aud` is the one MCP server it was issued for).
            raise OAuthError(
                "invalid_target",
                f"{key} is named more than once; this AS issues each token for one {key} (RFC 8707 §2, RFC 8693 §2.1)",
            )
        if key in values:
            raise OAuthError(
                "invalid_request",
                f"parameter {key!r} is repeated; parameters MUST NOT be included more than once (OAuth 2.1 §3.1, §3.2)",
            )
        values[key] = value
    return values


def sent_content_type(request: Request) -> str | None:
    """The request's one Content-Type (None: none). Read first-only, `application/x-www-form-
    urlencoded` then `application/json` was served as a form, and a registration sent as JSON then
    text/plain as JSON: two lines of a singleton are no media type (RFC 9110 §5.3, §8.3)."""
    try:
        return one_field(request.headers.getlist("content-type"), "Content-Type", "§8.3")
    except RepeatedField as repeated:
        raise OAuthError("invalid_request", str(repeated)) from None


async def form_items(request: Request) -> list[tuple[str, str]]:
    """The body of a POST to the token, revocation or introspection endpoint, or the consent form."""
    if media_type(sent_content_type(request)) != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded (OAuth 2.1 §3.2.2)")
    try:
        body = await request.body()
    except ClientDisconnect:
        raise  # the client went before its body was read: no one to answer (served: `serve_trace`)
    except Exception:  # noqa: BLE001 - a body cut short (BodyLimit has answered 413 already)
        raise OAuthError("invalid_request", "the form body could not be read") from None
    # Read as RFC 6749 Appendix B says, not by Starlette's parser: see rfc6749.py.
    return form_urlencoded(body)


def source_address(request: Request) -> str:
    """The address a request came from, which the AS's per-source limits and shares key on (the
    registration rate limit, the pending-consent and code stores): the peer of its connection, or,
    in process, the lab network's name for the caller."""
    return request.client.host if request.client else "unknown"
