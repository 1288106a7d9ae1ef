"""`show_token(token)`: a JWT access token decoded, each header field and claim explained.

Decoding is not verifying: the view reads the token the way a learner would paste it into a
debugger. The resource server is the one that checks the signature (against the AS's JWKS),
`iss`, `aud` and `exp`.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from ..arguments import wrong_type
from ..bounded_json import DEFAULT_LIMITS, parse_json
from ._html import HtmlView, as_text, cut_tokens_html, esc, is_numeric_date, iso, lifetime, short_token, table

# name → (what it means here, where it is specified)
HEADER_FIELDS: dict[str, tuple[str, str]] = {
    "alg": (
        "Signature algorithm. The resource server accepts only the algorithms it expects.",
        "RFC 7515 §4.1.1; RFC 9068 §2.1",
    ),
    "typ": ("Token type: at+jwt marks an access token, so an ID token cannot be replayed as one.", "RFC 9068 §2.1"),
    "kid": ("Which key in the AS's JWKS signed it: the resource server looks it up at jwks_uri.", "RFC 7515 §4.1.4"),
}
CLAIMS: dict[str, tuple[str, str]] = {
    "iss": (
        "Issuer: the authorization server that minted the token; must equal the AS metadata's issuer.",
        "RFC 7519 §4.1.1; RFC 9068 §2.2",
    ),
    "sub": ("Subject: the user on whose behalf the client acts.", "RFC 7519 §4.1.2; RFC 9068 §2.2"),
    "aud": (
        "Audience: the MCP server's canonical URI from the resource parameter. Any other server must reject the token.",
        "RFC 8707 §2; RFC 9068 §2.2; MCP §11.1",
    ),
    "client_id": (
        "The client the token was issued to: an AS-minted id (DCR) or the URL of the client's metadata document (CIMD).",
        "RFC 9068 §2.2; RFC 8693 §4.3",
    ),
    "scope": ("What the user granted, space-separated.", "RFC 9068 §2.2.3; RFC 6749 §3.3"),
    "iat": ("Issued at (seconds since 1970).", "RFC 7519 §4.1.6"),
    "exp": ("Expires at: after this the resource server answers 401 and the client must refresh.", "RFC 7519 §4.1.4"),
    "nbf": ("Not valid before this time.", "RFC 7519 §4.1.5"),
    "jti": ("Unique token id, for revocation and replay detection.", "RFC 7519 §4.1.7"),
    "auth_time": ("When the user last authenticated.", "RFC 9068 §2.2.1"),
    "act": (
        "Actor: the party acting for the subject, here the MCP server that exchanged the user's token "
        "(delegation, not impersonation); a nested act is an earlier actor.",
        "RFC 8693 §4.1",
    ),
    "may_act": (
        "Who may act for the subject: the one party the AS will let exchange this token for another.",
        "RFC 8693 §4.4",
    ),
}
TIME_CLAIMS = {"iat", "exp", "nbf", "auth_time"}


# One JWT's header or claims, bounded as the servers bound them (RFC 8259 §9): a token from a trace
# file or a hostile AS nested 3,000 deep made json.loads raise RecursionError, not ValueError, so
# show_token raised instead of showing it opaque (the client's own decode_jwt_payload was bounded).
SHOWN_JSON = DEFAULT_LIMITS.but(max_bytes=16 * 1024, max_depth=8)


def _b64_json(part: str) -> Any:
    # JsonRejected is a ValueError: the token is then shown as opaque, as bad base64 is.
    return parse_json(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)), SHOWN_JSON, what="the token part")


def decode_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(header, claims, signature), unverified."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"a JWT has three dot-separated parts; this one has {len(parts)}")
    return _b64_json(parts[0]), _b64_json(parts[1]), parts[2]


def _rows(values: dict[str, Any], explained: dict[str, tuple[str, str]]) -> list[list[str]]:
    rows = []
    for name, value in values.items():
        meaning, spec = explained.get(name, ("Not a registered claim the lab explains.", ""))
        shown = as_text(value)
        if name in TIME_CLAIMS and is_numeric_date(value):
            shown = f"{value} ({iso(value)})"
        rows.append([
            f"<td><code>{esc(name)}</code></td>",
            f'<td class="v">{cut_tokens_html(shown)}</td>',
            f"<td>{esc(meaning)}</td>",
            f'<td class="spec">{esc(spec)}</td>',
        ])  # fmt: skip
    return rows


@dataclass(eq=False, repr=False)
class TokenView(HtmlView):
    claims: dict[str, Any]
    header: dict[str, Any] = field(default_factory=dict)
    token: str | None = None
    signature: str = ""

    def _body(self) -> str:
        parts = ['<h4>Access token <span class="spec">JWT profile for access tokens: RFC 9068</span></h4>']
        if self.token:
            parts.append(f"<p><code>{esc(short_token(self.token))}</code> ({len(self.token)} characters)</p>")
        if self.token and not self.claims and not self.header:
            parts.append(
                "<p>Not a JWT: an opaque token. To the client every access token is opaque (RFC 6749 §1.4); "
                "only the resource server, or the AS's introspection endpoint (RFC 7662), can read it.</p>"
            )
            return "".join(parts)
        if self.header:
            parts.append(
                "<b>Header</b>" + table(["field", "value", "meaning", "spec"], _rows(self.header, HEADER_FIELDS))
            )
        parts.append("<b>Claims</b>" + table(["claim", "value", "meaning", "spec"], _rows(self.claims, CLAIMS)))
        if (seconds := lifetime(self.claims)) is not None:
            parts.append(f"<p>Lifetime: {seconds} s.</p>")
        if self.signature:
            parts.append(
                f'<p class="spec">Signature <code>{esc(short_token(self.signature))}</code>: decoded here, not verified. '
                "The MCP server verifies it with the AS's public key (JWKS), then checks iss, aud and exp.</p>"
            )
        return "".join(parts)

    def _summary(self) -> str:
        if self.token and not self.claims and not self.header:
            return f"opaque token {short_token(self.token)}"
        c = self.claims
        keys = ("iss", "sub", "aud", "client_id", "scope")
        return " ".join(f"{k}={as_text(c[k])}" for k in keys if k in c)


def show_token(token: str | dict[str, Any]) -> TokenView:
    """Decode an access token (a JWT string) or take a claims dict, and explain each claim."""
    if token is None:
        raise ValueError(
            "show_token(None): there is no access token yet; run step 6 first (await client.exchange_code())"
        )
    if isinstance(token, dict):
        if "access_token" in token:
            raise ValueError(
                "show_token got a token response (it holds access_token), not a token's claims: "
                "pass the token, show_token(client.state.tokens['access_token'])"
            )
        return TokenView(dict(token))
    if not isinstance(token, str):
        raise wrong_type(
            "show_token takes an access token, a string such as connection.access_token, or a dict of claims", token
        )
    try:
        header, claims, signature = decode_jwt(token)
    except ValueError:  # includes bad base64 and bad JSON: the token is opaque to us
        return TokenView({}, {}, token)
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return TokenView({}, {}, token)
    return TokenView(claims, header, token, signature)
