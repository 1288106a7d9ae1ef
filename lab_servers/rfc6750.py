"""RFC 6750 §2.1: the bearer token a request carries, read alike by every server of the lab that
takes one: the MCP server and the downstream API (`resource_server.rfc6750` refuses for them), and
the AS's /register behind an initial access token (RFC 7591 §3: an OAuth 2.0 bearer token)."""

from __future__ import annotations

import re

from .rfc9110 import OWS, RepeatedField, one_field

# §2.1: credentials = "Bearer" 1*SP b64token, b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class MalformedBearerRequest(Exception):
    """The request's credentials cannot be read as one bearer token: 400 `invalid_request` (§3.1)."""


def bearer_token(authorizations: list[str]) -> str | None:
    """The token of the request's one `Authorization: Bearer` header (§2.1), from every
    `Authorization` value it sent; None when it sent no bearer credentials at all (§3.1).

    Two Authorization fields are refused whatever their schemes: the field holds one
    `credentials` (RFC 9110 §11.6.2), no list, so §5.3 forbids sending it twice, and §3.1 makes a
    request that "uses more than one method for including an access token, or is otherwise
    malformed" invalid_request. Read as the bearer one beside another (`Bearer t` then `Basic …`),
    the second went unread here where a proxy or the AS, which refuses two (client_authentication),
    would judge it: every server of the lab now reads the field alike."""
    try:
        authorization = one_field(authorizations, "Authorization", "§11.6.2")
    except RepeatedField as repeated:
        raise MalformedBearerRequest(
            f"{repeated}: more than one bearer token, or a token beside other credentials, is invalid_request "
            "(RFC 6750 §2, §3.1)"
        ) from None
    if authorization is None:
        return None
    # The field's leading and trailing OWS are no part of its value (RFC 9110 §5.5; RFC 9112 §5:
    # "excluded by parsers"), as h11 excludes them served. Read with them, `Bearer ` (the empty
    # bearer VS Code and Open WebUI send before they hold a token) was a malformed token, 400,
    # in process, and `Bearer` with no token, 401 and the challenge that starts discovery, served.
    # str.strip() would also take NBSP and NEL.
    authorization = authorization.strip(OWS)
    if authorization[:7].lower() == "bearer\t":
        # §2.1's 1*SP is SP only: an HTAB after the scheme is Bearer credentials, malformed (§3.1:
        # invalid_request), not the absence of any (401), as `Bearer <HTAB>token` already was.
        raise MalformedBearerRequest(
            "the Authorization header is malformed: Bearer, then SP (not HTAB), then one b64token (RFC 6750 §2.1)"
        )
    if authorization[:7].lower() != "bearer ":
        return None
    # SPs after the scheme (§2.1: "Bearer" 1*SP b64token): strip(OWS) took a TAB there too.
    token = authorization[7:].lstrip(" ")
    if not is_b64token(token):
        raise MalformedBearerRequest("the Authorization header is malformed: Bearer, then one b64token (RFC 6750 §2.1)")
    return token


def is_b64token(value: str) -> bool:
    """True when `value` can travel as `Authorization: Bearer <value>` (§2.1's b64token)."""
    return _B64TOKEN.fullmatch(value) is not None
