"""`show_token(token)`: a JWT access token decoded, each header field and claim explained (and
the lab's other JWTs, each as what it is: an ID-JAG, a token from a token exchange, a client's own).

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

# The tokens a lab shows that are not a user's access token for the MCP server: what changes in
# the view, kind by kind (`token_kind`). Explained as a user's access token, an ID-JAG's issuer
# was "the authorization server", its audience "the MCP server", and a job's subject "the user".
ID_JAG = "ID-JAG"
EXCHANGED = "exchanged"
CLIENT_CREDENTIALS = "client credentials"
KIND_HEADINGS = {
    ID_JAG: 'Identity assertion (ID-JAG) <span class="spec">ID-JAG draft §3; RFC 7523</span>',
    EXCHANGED: 'Access token from a token exchange <span class="spec">RFC 8693; RFC 9068</span>',
    CLIENT_CREDENTIALS: 'Access token for a client acting for itself <span class="spec">RFC 6749 §4.4; RFC 9068</span>',
}
KIND_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    ID_JAG: {
        "alg": (
            "Signature algorithm. The AS accepts only the algorithms it expects from the IdP.",
            "RFC 7515 §4.1.1; RFC 7523 §3",
        ),
        "typ": (
            "Token type: oauth-id-jag+jwt marks an identity assertion, so no access token or ID token passes for one.",
            "ID-JAG draft §3",
        ),
        "kid": ("Which key in the IdP's JWKS signed it: the AS looks it up with the IdP it trusts.", "RFC 7515 §4.1.4"),
        "iss": ("Issuer: the enterprise IdP, which the AS trusts by configuration.", "ID-JAG draft §3; RFC 7523 §3"),
        "sub": ("Subject: the user, as the IdP knows them.", "ID-JAG draft §3; RFC 7523 §3"),
        "aud": (
            "Audience: the issuer of the AS that will redeem it for an access token; nobody else may take it.",
            "ID-JAG draft §3; RFC 7523 §3",
        ),
        "client_id": ("The client at that AS the assertion was issued for: only it may redeem it.", "ID-JAG draft §3"),
        "resource": ("The MCP server the access token will be for (RFC 8707's resource).", "ID-JAG draft §3.1"),
        "scope": ("The scopes the IdP's policy allows for that server, space-separated.", "ID-JAG draft §3"),
        "exp": (
            "Expires at: short-lived and single use; after it the client asks the IdP again (no refresh token).",
            "RFC 7519 §4.1.4; ID-JAG draft §4.4",
        ),
        "jti": ("Unique id: the AS remembers it, so the assertion is redeemed once.", "RFC 7519 §4.1.7; RFC 7523 §3"),
    },
    EXCHANGED: {
        "aud": (
            "Audience: the API the MCP server calls for the user; the MCP server itself must refuse this token.",
            "RFC 8693 §2.1; RFC 8707 §2",
        ),
        "client_id": (
            "The client that exchanged the user's token for this one: the MCP server.",
            "RFC 9068 §2.2; RFC 8693 §4.3",
        ),
        "scope": (
            "What the AS's exchange rule lets the actor have, an administrator's choice, not the user's consent.",
            "RFC 8693 §2.1; RFC 6749 §3.3",
        ),
        "exp": (
            "Expires at: after this the API answers 401 and the MCP server exchanges the user's token again (no refresh token).",
            "RFC 7519 §4.1.4; RFC 8693 §2.2.1",
        ),
    },
    CLIENT_CREDENTIALS: {
        "sub": (
            "Subject: the client itself, acting for nobody (no user: sub names the client).",
            "RFC 9068 §2.2; RFC 6749 §4.4",
        ),
        "scope": (
            "What the client asked for and the AS allows it, space-separated; no user consented.",
            "RFC 6749 §4.4.2, §3.3",
        ),
        "exp": (
            "Expires at: after this the client simply asks again (no refresh token).",
            "RFC 7519 §4.1.4; RFC 6749 §4.4.3",
        ),
    },
}
KIND_FOOTERS = {
    ID_JAG: "The AS verifies it with the IdP's public key (JWKS), then checks iss, aud, client_id and exp.",
    EXCHANGED: "The API verifies it with the AS's public key (JWKS), then checks iss, aud, act and exp.",
}


def token_kind(header: dict[str, Any], claims: dict[str, Any]) -> str | None:
    """Which of the lab's other tokens this is, or None for a user's access token."""
    if str(header.get("typ", "")).lower() == "oauth-id-jag+jwt":
        return ID_JAG
    if isinstance(claims.get("act"), dict):
        return EXCHANGED
    if "sub" in claims and claims.get("sub") == claims.get("client_id"):
        return CLIENT_CREDENTIALS
    return None


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
        kind = token_kind(self.header, self.claims)
        heading = KIND_HEADINGS.get(
            kind or "", 'Access token <span class="spec">JWT profile for access tokens: RFC 9068</span>'
        )
        parts = [f"<h4>{heading}</h4>"]
        header_fields, claims = HEADER_FIELDS, CLAIMS
        if kind is not None:
            header_fields = {**HEADER_FIELDS, **KIND_FIELDS[kind]}
            claims = {**CLAIMS, **KIND_FIELDS[kind]}
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
                "<b>Header</b>" + table(["field", "value", "meaning", "spec"], _rows(self.header, header_fields))
            )
        parts.append("<b>Claims</b>" + table(["claim", "value", "meaning", "spec"], _rows(self.claims, claims)))
        if (seconds := lifetime(self.claims)) is not None:
            parts.append(f"<p>Lifetime: {seconds} s.</p>")
        if self.signature:
            parts.append(
                f'<p class="spec">Signature <code>{esc(short_token(self.signature))}</code>: decoded here, not verified. '
                + KIND_FOOTERS.get(
                    kind or "",
                    "The MCP server verifies it with the AS's public key (JWKS), then checks iss, aud and exp.",
                )
                + "</p>"
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
