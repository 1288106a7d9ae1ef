"""Cache-Control (RFC 9111 §5.2), its delta-seconds (§1.2.2) and Vary (§4.1), as the AS reads a
fetched client document's (CIMD -02 §5).

Cache-Control = #cache-directive, and cache-directive = token [ "=" ( token / quoted-string ) ]:
a comma-separated list (RFC 9110 §5.6.1) whose arguments may be quoted-strings (§5.6.4), and a
quoted-string may hold commas. The AS split the field on every comma, so a comma inside quotes
cut a directive in two, and its second half was read as a directive of its own:
`no-transform="x, max-age=86400", max-age=0` was reused for a day, where its one max-age says 0.
"""

from __future__ import annotations

import re

from .rfc9110 import OWS, QUOTED_STRING, TOKEN, unquoted

__all__ = ["cache_directives", "delta_seconds", "varies_past_matching"]

_DIRECTIVE = re.compile(rf"[ \t]*({TOKEN})(?:=({TOKEN}|{QUOTED_STRING}))?[ \t]*(?:,|\Z)")
_EMPTY_ELEMENT = re.compile(r"[ \t]*,")  # §5.6.1.2: a recipient MUST parse and ignore empty list elements
_OWS_TO_THE_END = re.compile(r"[ \t]*\Z")


def cache_directives(value: str) -> dict[str, str] | None:
    """Each directive's argument ("" for none), by its name in lower case (§5.2: directive names
    are case-insensitive), the first of a repeated one (§4.2.1: "the first occurrence should be
    used"); a quoted argument unquoted. None when the field is not a list of directives: then
    nothing in it can be trusted, and the caller reads the document as stale."""
    directives: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        if empty := _EMPTY_ELEMENT.match(value, pos):
            pos = empty.end()
            continue
        if _OWS_TO_THE_END.match(value, pos):
            # Matched where it stands: a copy of the rest at every directive made a field of
            # n directives cost n² (100 KB of "a," took 0.1 s, 800 KB 4.5 s).
            break
        directive = _DIRECTIVE.match(value, pos)
        if directive is None:
            return None
        name, argument = directive.group(1).lower(), directive.group(2) or ""
        if argument.startswith('"'):
            argument = unquoted(argument)
        directives.setdefault(name, argument)
        pos = directive.end()
    return directives


def varies_past_matching(vary: str) -> bool:
    """Whether a response with this Vary may never be reused: §4.1, "A stored response with a Vary
    header field value containing a member '*' always fails to match". Vary = #( "*" / field-name )
    (RFC 9110 §12.5.5), its lines joined with commas. Any other Vary names request fields, and the
    AS sends the same ones with every fetch of a document, so those always match."""
    return "*" in (member.strip(OWS) for member in vary.split(","))


def delta_seconds(value: str, *, invalid: int = 0) -> int:
    """A max-age argument or an Age field (§5.1) in seconds; `invalid` for no delta-seconds."""
    # RFC 9111 §1.2.2: delta-seconds = 1*DIGIT, ASCII digits only. Python's int() would also take
    # "+5", " 5", "1_0" and "١٢٣"; for anything else, `invalid` (for max-age: 0, not reused).
    value = value.strip(OWS)  # RFC 9110 §5.5; str.strip() also took NBSP and NEL
    if not (value.isascii() and value.isdigit()):
        return invalid
    # A value too large to represent MUST be taken as 2^31 (§1.2.2). Cutting the digits instead
    # read 00000000000600 as 0; converting them all would let 5,000 digits raise (int's limit).
    digits = value.lstrip("0")
    return 2**31 if len(digits) > 10 else min(int(digits or "0"), 2**31)
