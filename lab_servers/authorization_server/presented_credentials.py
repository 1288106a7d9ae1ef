"""How a request presents client credentials, read before any client is looked up: its one
Authorization field (RFC 9110 §11.6.2), HTTP Basic in it (RFC 7617; RFC 6749 §2.3.1), and one
authentication method a request (RFC 6749 §2.3). The AS's client authentication
(`client_authentication.py`) and the enterprise IdP's token endpoint both read requests here.
"""

from __future__ import annotations

import base64
import re

from starlette.requests import Request

from ..rfc9110 import OWS, RepeatedField, one_field
from .errors import OAuthError, invalid_client
from .rfc6749 import form_urldecoded

_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")  # RFC 5234 B.1: CTL


def authorization_field(request: Request) -> str | None:
    """The request's one Authorization field value (None: it sent none). RFC 9110 §11.6.2: the
    field holds one `credentials`, no list, so §5.3 forbids a sender to send it twice. Read
    first-only, a second field went unread while the first authenticated the client: the right
    secret, then a wrong one (or another client's), got tokens, where a proxy that keeps the last
    would see another client. RFC 6749 §2.3: one method per request; §5.2: invalid_request."""
    try:
        return one_field(request.headers.getlist("authorization"), "Authorization", "§11.6.2")
    except RepeatedField as repeated:
        raise OAuthError(
            "invalid_request",
            f"{repeated}, and a client MUST NOT use more than one authentication method (RFC 6749 §2.3, §5.2)",
        ) from None


def basic_attempt(authorization: str | None) -> str | None:
    """`authorization` when the request tries HTTP Basic; None when it sent no credentials in an
    Authorization field. Credentials of another scheme are a client trying a method this server
    does not take: RFC 6749 §5.2's invalid_client ("unsupported authentication method"; §2.3 lets
    an AS take other HTTP schemes, the lab's take Basic alone), and "If the client attempted to
    authenticate via the Authorization request header field", a 401. Read as no credentials, a
    public client's stray `Authorization: Bearer …`, or `Basic<TAB>…`, was no authentication at all."""
    if not authorization:
        return None
    scheme = authorization.split(" ", 1)[0].split("\t", 1)[0]
    if scheme.lower() != "basic":
        raise invalid_client(
            f"the Authorization field's scheme {scheme[:40]!r} is not HTTP Basic, the one HTTP authentication "
            "scheme this server takes from clients (RFC 6749 §2.3, §5.2)"
        )
    return authorization


def refuse_more_than_one_method(form: dict[str, str], basic: bool) -> None:
    """RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
    request", and §5.2 names the error: invalid_request. Otherwise one method would be checked
    and another silently ignored, and a proxy and the AS could disagree on who is asking."""
    used = [name for name, present in (("HTTP Basic", basic), ("client_secret", "client_secret" in form),
                                       ("client_assertion", "client_assertion" in form)) if present]  # fmt: skip
    if len(used) > 1:
        raise OAuthError(
            "invalid_request",
            f"the request authenticates the client {len(used)} ways ({', '.join(used)}); a client MUST NOT use "
            "more than one authentication method in a request (RFC 6749 §2.3, §5.2)",
        )


def basic_credentials(authorization: str) -> tuple[str, str]:
    """The client_id and secret of an `Authorization: Basic …` header (RFC 7617 §2: base64 of
    `user-id:password`), or ValueError. The AS and the enterprise IdP both read them here."""
    # RFC 9110 §11.4: 1*SP after the scheme (a TAB there is no SP), and OWS after a field value,
    # nothing else. The credentials are base64 (RFC 4648 §4) exactly: b64decode(validate=True)
    # also took "YTpi=".
    if authorization[5:6] != " ":
        raise ValueError("no SP after the scheme (RFC 9110 §11.4)")
    encoded = authorization[6:].lstrip(" ").rstrip(OWS)
    if not _BASE64.fullmatch(encoded):
        raise ValueError("not base64 (RFC 7617 §2, RFC 4648 §4)")
    user_pass = base64.b64decode(encoded)
    if _CONTROL.search(user_pass):
        # RFC 7617 §2: "The user-id and password MUST NOT contain any control characters".
        raise ValueError("a control character in the user-id or password (RFC 7617 §2)")
    client_id, secret = user_pass.split(b":", 1)
    # RFC 6749 §2.3.1: both parts are form-urlencoded (Appendix B: UTF-8) before being joined.
    return form_urldecoded(client_id), form_urldecoded(secret)


def parse_basic(authorization: str) -> tuple[str, str]:
    try:
        client_id, secret = basic_credentials(authorization)
    except ValueError:
        raise invalid_client(
            "malformed HTTP Basic credentials: base64 of client_id ':' secret, each form-urlencoded UTF-8 "
            "(RFC 7617 §2, RFC 6749 §2.3.1)"
        ) from None
    if not client_id:
        raise invalid_client("the HTTP Basic user-id is empty: it must be the client_id (RFC 6749 §2.3.1)")
    return client_id, secret
