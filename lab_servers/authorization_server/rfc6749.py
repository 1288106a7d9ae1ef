"""RFC 6749's grammar for what a client sends: parameters as `application/x-www-form-urlencoded`
(Appendix B), and the scope (§3.3, Appendix A.4).

The AS read both with general-purpose tools whose grammar was looser than these:
- query strings and form bodies through Starlette (`urllib.parse.parse_qsl`, python-multipart),
  which decode a percent-escape that is not UTF-8 as U+FFFD and a raw byte as Latin-1. Appendix B
  says names and values are "encoded using UTF-8", so such a value is not one the client could
  have meant: `state=%FF` went back to the client as `state=%EF%BF%BD`, another value than it sent;
- scopes with `str.split()`, which also splits on HTAB, VT, NBSP, U+3000 and every other Unicode
  space, where a scope is scope-tokens separated by SP: `notes:read<TAB>notes:write` was granted
  as two scopes, from a request that §3.3's grammar says is malformed (`invalid_scope`).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from .errors import OAuthError

__all__ = ["form_urldecoded", "form_urlencoded", "is_scope", "is_state", "scope_tokens"]

# Appendix A.4: scope = scope-token *( SP scope-token ), scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
# The lab also reads a value of SPs alone as no scope (omitted), and extra SPs as one: neither
# changes which tokens were named. Any other character, and any other space, is malformed.
_SCOPE_CHARACTERS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# Appendix A.5: state = 1*VSCHAR, VSCHAR = %x20-7E.
_STATE = re.compile(r"[\x20-\x7e]+")


def form_urldecoded(raw: bytes) -> str:
    """One name or value (Appendix B): `+` is a space, `%XX` a byte, and the bytes are UTF-8
    (WHATWG URL §5.1, but decoded strictly: WHATWG's "UTF-8 decode without BOM" puts U+FFFD for a
    malformed sequence). UnicodeDecodeError (a ValueError) when they are not. A `%` not followed
    by two hex digits stays a `%`, as every form parser reads it."""
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def form_urlencoded(data: bytes) -> list[tuple[str, str]]:
    """The name-value pairs of a query string or form body, in order, repeats kept (params.py
    refuses them). A value that is not UTF-8 is refused, never replaced: `invalid_request`."""
    items: list[tuple[str, str]] = []
    for field in data.split(b"&"):
        if not field:
            continue
        raw_name, _, raw_value = field.partition(b"=")
        try:
            name = form_urldecoded(raw_name)
        except UnicodeDecodeError:
            raise OAuthError(
                "invalid_request",
                "a parameter name is not UTF-8 once percent-decoded; names and values are UTF-8, then "
                "percent-encoded (RFC 6749 Appendix B)",
            ) from None
        try:
            items.append((name, form_urldecoded(raw_value)))
        except UnicodeDecodeError:
            raise OAuthError(
                "invalid_request",
                f"the value of {name[:40]!r} is not UTF-8 once percent-decoded; names and values are UTF-8, then "
                "percent-encoded (RFC 6749 Appendix B)",
            ) from None
    return items


def is_scope(value: str) -> bool:
    """True when `value` is a scope by §3.3's grammar, or SPs alone (no scope)."""
    return _SCOPE_CHARACTERS.fullmatch(value) is not None


def is_state(value: str) -> bool:
    """True when `value` is a state by Appendix A.5's grammar: one or more printable ASCII."""
    return _STATE.fullmatch(value) is not None


def scope_tokens(scope: str | None) -> list[str]:
    """The scope-tokens a request's `scope` names, each once (§3.3: the order does not matter, a
    repeat adds nothing); [] when it is omitted, empty or only SPs (read as omitted)."""
    if not scope:
        return []
    if not is_scope(scope):
        raise OAuthError(
            "invalid_scope",
            "the scope is malformed: scope-tokens are printable ASCII but for the double quote and the backslash, "
            "separated by spaces (SP) only (RFC 6749 §3.3)",
        )
    return list(dict.fromkeys(token for token in scope.split(" ") if token))
