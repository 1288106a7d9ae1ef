"""Parsing `WWW-Authenticate` (RFC 9110 §11.6.1, RFC 6750 §3): several challenges per header,
header lines repeated, auth-params in any order, values as tokens or quoted-strings with escapes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..rfc9110 import QUOTED_STRING, TOKEN, unquoted
from .server_data import shown

# Whitespace in a challenge is SP and HTAB (RFC 9110 §11.6.1: 1*SP after the scheme, OWS and BWS
# around the rest, §5.6.3), never `\s`: `Bearer<NBSP>realm=x` and `Bearer<U+3000>realm=x` were read
# as Bearer challenges, and a vertical tab or U+3000 as the space between two challenges.
_SCHEME = re.compile(rf"[ \t]*({TOKEN})(?=[ \t]|,|$)")
# A quoted-string is §5.6.4's: qdtext and quoted-pairs of HTAB, SP, VCHAR and obs-text, no other
# control character (`[^"\\]` took NUL, CR and LF). Any character beyond ASCII is obs-text: httpx
# hands the field over decoded as UTF-8 when it can, so `"€"` is three octets of it (`rfc9110`).
_PARAM = re.compile(rf"[ \t]*({TOKEN})[ \t]*=[ \t]*(?:({TOKEN})|({QUOTED_STRING}))[ \t]*")
_TOKEN68 = re.compile(r"[ \t]*([A-Za-z0-9\-._~+/]+=*)[ \t]*(?=,|$)")
# RFC 9110 §5.6.1.2: a recipient accepts a list's empty elements, and a challenge's parameters are
# a list (§11.6.1: #auth-param): `Bearer error="invalid_token",, resource_metadata="…"` lost its
# resource_metadata, read as neither a parameter nor a new challenge.
_EMPTY_ELEMENTS = re.compile(r"[ \t]*(?:,[ \t]*)*")


@dataclass
class Challenge:
    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    # Why parsing stopped inside this challenge, if text the grammar does not allow followed a
    # parameter: the parameters before it are kept, the one it cut short is not, and nothing after.
    malformed: str | None = None
    # Parameter names that came more than once (RFC 9110 §11.2, RFC 6750 §3: each MUST occur at
    # most once). The first value is the one read; the step says the server broke the rule.
    repeated: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.params.get(name.lower())


def parse_www_authenticate(values: list[str] | str) -> list[Challenge]:
    """All challenges in the given header values; malformed text ends parsing of that value."""
    challenges: list[Challenge] = []
    for value in [values] if isinstance(values, str) else values:
        challenges.extend(_parse_one(value))
    return challenges


def _parse_one(text: str) -> list[Challenge]:
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(text):
        pos = _past_empty_elements(text, pos)  # #challenge is a list too (§11.6.1, §5.6.1.2)
        scheme = _SCHEME.match(text, pos)
        if not scheme:
            if challenges and pos < len(text):
                # Neither a parameter of the last challenge nor a new one (§11.6.1): an unclosed
                # quoted-string, a parameter with no name. Parsing stopped here without a word, and
                # a parameter after it (resource_metadata) was lost with nothing to say why.
                unread = shown(text[pos : pos + 40])
                challenges[-1].malformed = f"{unread} is neither an auth-param nor a new challenge (RFC 9110 §11.6.1)"
            break
        challenge = Challenge(scheme.group(1))
        challenges.append(challenge)
        pos = scheme.end()
        token68 = _TOKEN68.match(text, pos)
        if token68 and not _PARAM.match(text, pos):
            pos = token68.end()
            continue
        # Empty elements before the first parameter come after the scheme's 1*SP (`Bearer , realm=x`).
        start = _past_empty_elements(text, pos) if text[pos : pos + 1] in (" ", "\t") else pos
        while param := _PARAM.match(text, start):
            name = param.group(1).lower()
            pos = param.end()
            if pos < len(text) and text[pos] != ",":
                # RFC 9110 §11.2: a value is a token or a quoted-string, and a comma comes next.
                # `resource_metadata=https://…` unquoted matched only "https": a URL cut short.
                challenge.malformed = (
                    f"{shown(text[param.start(1) : pos + 20])} breaks RFC 9110 §11.2: an auth-param's value is a "
                    "token or a quoted-string (so a URL must be quoted), and a comma comes next"
                )
                return challenges  # malformed text ends the parsing of this header value
            value = param.group(2) if param.group(2) is not None else unquoted(param.group(3))
            if name in challenge.params:  # RFC 6750 §3: parameters MUST NOT repeat; the first stands
                challenge.repeated.append(name)
            challenge.params.setdefault(name, value)
            # A comma ends this parameter; past it and any empty elements, a parameter continues the
            # challenge, and anything else (a new scheme) is the outer loop's, from the comma.
            start = _past_empty_elements(text, pos)
    return challenges


def _past_empty_elements(text: str, pos: int) -> int:
    found = _EMPTY_ELEMENTS.match(text, pos)
    return found.end() if found else pos


def bearer_challenge(values: list[str] | str) -> Challenge | None:
    for challenge in parse_www_authenticate(values):
        if challenge.scheme.lower() == "bearer":
            return challenge
    return None
