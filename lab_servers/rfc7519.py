"""Reading a JWT a stranger sent (RFC 7519 §7.2), the same way at every lab server.

Whoever verifies a JWT reads its header first (which key, which algorithm), so a stranger's
header reaches a parser before any signature can vouch for it. joserfc checks only that
`"alg" in header`, which the JSON array `["alg", "b64"]` and the string `"alg"` pass too, and
then indexes the header (`header["b64"]`): a TypeError, a 500. So every JWT the lab's servers
take (a client assertion, an ID-JAG, a bearer token, a subject token) goes through
`unverified_parts` before anything else reads it, and through `verified_claims` to check its
signature: the header and the claims through the bounded parser, each refused unless it is a JSON
object. Each caller turns `JwtRejected` into its own error (`invalid_client`, `invalid_grant`,
`invalid_token`...), with the rule as its description.

What a header may ask is read the same way everywhere too (RFC 7515 §4): a parameter no lab server
understands is ignored, unless `crit` lists it (§4.1.11: then the JWS is invalid); and what no lab
server does, a nested JWT (`cty`) or an unencoded payload (`b64`), is refused by name, before any
key is looked up.

The time claims are read here too, the same way everywhere: a NumericDate is a number
(RFC 7519 §2), and a JWT is not accepted before its `nbf` (§4.1.5). No clock skew is allowed:
every server of the lab reads one clock, and `exp` is checked without any either.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry
from joserfc.util import urlsafe_b64decode

from .bounded_json import DEFAULT_LIMITS, JsonLimits, JsonRejected, parse_json

__all__ = [
    "JWT_JSON",
    "JwtRejected",
    "audience_is_only",
    "check_not_before",
    "numeric_date",
    "required_string_claim",
    "typ_is",
    "unverified_parts",
    "verified_claims",
    "verify_signature",
]

JWT_JSON = DEFAULT_LIMITS.but(max_bytes=8 * 1024, max_depth=8)  # one JWT header or claims set


class JwtRejected(Exception):
    """Why the JWT is refused; `rule` names the rule broken (the caller's `error_description`)."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


def unverified_parts(token: str, *, what: str, limits: JsonLimits = JWT_JSON) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of `token`, not yet verified: only to choose how to verify it.
    `what` names the token in the rule ("the client_assertion", "the token")."""
    # RFC 7515 §7.1 / RFC 7519 §7.2 step 6: a JWS in the compact serialization has three parts
    # (a JWE has five; no lab server takes one).
    segments = token.split(".")
    if len(segments) != 3:
        raise JwtRejected(f"{what} is not a compact JWS: {len(segments)} parts, not 3 (RFC 7515 §7.1)")
    # Steps 2-4: the header, base64url-decoded, is a completely valid JSON object (RFC 7515 §4).
    header = _json_object(segments[0], what=f"{what} header", limits=limits)
    # RFC 7515 §4.1.1: alg MUST be present, a case-sensitive string.
    if not isinstance(header.get("alg"), str):
        raise JwtRejected(f"{what} header has no alg string (RFC 7515 §4.1.1)")
    _check_understood(header, what=what)
    # Steps 9-10: the payload is the claims set, a JSON object too.
    claims = _json_object(segments[1], what=f"{what} claims", limits=limits)
    return header, claims


def typ_is(header: dict[str, Any], media_type: str) -> bool:
    """Whether the header's `typ` names `media_type` (given without "application/"). RFC 7515
    §4.1.9: `typ` is a media type, and a recipient "MUST treat it as if 'application/' were
    prepended to any typ value not containing a '/'"; media type names are case-insensitive
    (RFC 6838 §4.2). So "at+jwt", "application/at+jwt" and "AT+JWT" are one type (RFC 9068 §4)."""
    return _is_media_type(header.get("typ"), media_type)


def _is_media_type(value: Any, media_type: str) -> bool:
    """`typ` and `cty` alike (RFC 7515 §4.1.9, §4.1.10): "application/" may be omitted, and media
    type names are case-insensitive."""
    if not isinstance(value, str):
        return False
    value = value.lower()
    return (value if "/" in value else f"application/{value}") == f"application/{media_type.lower()}"


def _check_understood(header: dict[str, Any], *, what: str) -> None:
    """What a header may ask of its reader that no lab server does, refused before any key is
    looked up, naming the rule (a JOSE library would call it a bad signature, or read on)."""
    # RFC 7515 §4.1.11: "If any of the listed extension Header Parameters are not understood and
    # supported by the recipient, then the JWS is invalid." No lab server supports an extension
    # (RFC 7797's b64 neither: a JWT's payload is base64url, RFC 7519 §7.2 step 6), and §4.1.11 lets
    # a recipient refuse a crit naming registered parameters, or an empty one: any crit is refused.
    if "crit" in header:
        raise JwtRejected(
            f"{what} header lists {header['crit']!r} as critical (crit), and this server understands no extension "
            "Header Parameter: such a JWS is invalid (RFC 7515 §4.1.11)"
        )
    # RFC 7797 §3: "b64": false signs the payload as it is, unencoded; a JWT's payload is the
    # base64url of its claims (RFC 7519 §7.2 step 6), so one that is not is no JWT. joserfc would
    # read the raw segment while `_json_object` decodes it: two readings of one token.
    if header.get("b64", True) is not True:
        raise JwtRejected(
            f"{what} header asks for an unencoded payload (b64 {header['b64']!r}), but a JWT's payload is "
            "base64url-encoded (RFC 7797 §3, RFC 7519 §7.2 step 6)"
        )
    # RFC 7519 §7.2 step 8: a cty of "JWT" says the payload is itself a JWT, nested signing or
    # encryption, whose own operations must be validated too (RFC 8725 §3.3). No lab server takes a
    # nested JWT, so the payload is never read as a claims set.
    if _is_media_type(header.get("cty"), "jwt"):
        raise JwtRejected(
            f"{what} header says its payload is a nested JWT (cty {header['cty']!r}), which this server does not "
            "accept (RFC 7519 §5.2, §7.2 step 8)"
        )


def verified_claims(
    token: str, key: Any, algorithms: Collection[str], *, what: str, limits: JsonLimits = JWT_JSON
) -> dict[str, Any]:
    """The claims of `token` once its signature verifies with `key` (a key or a KeySet) under one
    of `algorithms` (step 7); the header and claims are checked by `unverified_parts` first."""
    unverified_parts(token, what=what, limits=limits)
    return verify_signature(token, key, algorithms, what=what)


def verify_signature(token: str, key: Any, algorithms: Collection[str], *, what: str) -> dict[str, Any]:
    """Step 7 alone, for a token whose parts `unverified_parts` has already read (to choose the
    key by its `kid` or `iss`): the claims once the signature verifies."""
    # RFC 7515 §4: a Header Parameter the recipient does not understand "MUST be ignored" unless
    # crit lists it (`unverified_parts` refuses those). joserfc refuses every name outside its
    # registry (a client's assertion with a "nonce" header failed as "unsupported_header") unless
    # told not to; the parameters it knows are still checked (kid a string, jku a URL...).
    registry = JWSRegistry(algorithms=list(algorithms), strict_check_header=False)
    try:
        return dict(jwt.decode(token, key, algorithms=list(algorithms), registry=registry).claims)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        detail = str(exc).strip(": ") or type(exc).__name__
        raise JwtRejected(f"{what} signature not verified: {detail} (RFC 7515 §5.2)") from None


def numeric_date(claims: dict[str, Any], name: str, *, what: str) -> int | float | None:
    """`claims[name]` when it is a NumericDate (RFC 7519 §2: a JSON number of seconds), None when
    absent; anything else (a string, true) is refused, never compared."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JwtRejected(f"{what}'s {name} is not a NumericDate (RFC 7519 §2, §4.1)")
    return value


def required_string_claim(claims: dict[str, Any], name: str, *, what: str, required_by: str) -> str:
    """`claims[name]`, a claim the rule `required_by` says the JWT MUST contain, as a non-empty JSON
    string; anything else (an object, a number, "") is refused, never stringified. RFC 7519
    §4.1.1-§4.1.2: `iss` and `sub` are StringOrURI values, §4.1.7: `jti` is a case-sensitive string;
    str() of an object would put "{'x': 1}" in a token as somebody's name."""
    value = claims.get(name)
    if value is None:
        raise JwtRejected(f"{what} has no {name} claim, which it MUST contain ({required_by})")
    if not isinstance(value, str) or not value:
        raise JwtRejected(f"{what}'s {name} is not a non-empty string (RFC 7519 §2 StringOrURI, §4.1)")
    return value


def check_not_before(claims: dict[str, Any], now: int, *, what: str) -> None:
    """RFC 7519 §4.1.5: the JWT MUST NOT be accepted for processing before its nbf."""
    nbf = numeric_date(claims, "nbf", what=what)
    if nbf is not None and now < nbf:
        raise JwtRejected(f"{what} is not valid before {nbf} (nbf); it is now {now} (RFC 7519 §4.1.5)")


def audience_is_only(aud: Any, audience: str) -> bool:
    """True when `aud` names `audience` and nothing else. RFC 7519 §4.1.3: a JWT with one audience
    MAY carry it as a single string; an array of that one string says the same, and RFC 9068 §4
    asks a resource server only that aud "contains" its identifier, so both are accepted. A token
    that names other audiences beside it is refused: the lab's servers accept only a token issued
    for them (MCP §9.2, RFC 8707 §2), and each audience of a shared one could replay it to the others."""
    return aud == audience or aud == [audience]


def _json_object(segment: str, *, what: str, limits: JsonLimits) -> dict[str, Any]:
    try:
        decoded = urlsafe_b64decode(segment.encode("ascii"))
    except ValueError:  # binascii.Error, UnicodeEncodeError
        raise JwtRejected(f"{what} is not base64url (RFC 7515 §2, RFC 7519 §7.2 step 3)") from None
    try:
        value = parse_json(decoded, limits, what=what)
    except JsonRejected as rejected:
        raise JwtRejected(f"{rejected.rule}; not a JWT (RFC 7519 §7.2)") from None
    if not isinstance(value, dict):
        raise JwtRejected(f"{what} is a JSON {_kind(value)}, not a JSON object (RFC 7515 §4, RFC 7519 §7.2)")
    return value


def _kind(value: Any) -> str:
    names = {list: "array", str: "string", bool: "boolean", type(None): "null", int: "number", float: "number"}
    return names.get(type(value), type(value).__name__)
