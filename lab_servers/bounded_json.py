"""The lab's one JSON parser for text a stranger chose: bounded size, depth, strings and numbers.

RFC 8259 §9 lets a parser "set limits on the size of texts", "on the maximum depth of nesting",
"on the range and precision of numbers" and "on the length and character contents of strings".
Python's `json.loads` sets none of them: 2,000 nested `[` make it raise `RecursionError` (which
is not a `ValueError`, so `except ValueError` lets it become a 500), `"\\ud800"` decodes to a
lone surrogate that later fails to encode, and `1e999` becomes `inf`. Every JSON body and
document the lab's servers parse (registration bodies, CIMD documents, JWKS, JSON-RPC messages,
JWT headers and claims) goes through `parse_json`, which either returns the value or raises
`JsonRejected` whose `rule` says which limit was broken; each endpoint turns that into its own
error (`invalid_client_metadata`, `invalid_client`, a JSON-RPC parse error…).

The depth is measured by a scan that never recurses, *before* the standard parser runs, so
nothing deeper than the limit ever reaches a recursive parser; and the scan's work is linear in
the length of the text, whatever the text, as the parser's own is.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_LIMITS", "JsonLimits", "JsonRejected", "array_elements", "parse_json"]


@dataclass(frozen=True)
class JsonLimits:
    """The numbers, all in one place so the README can list them."""

    max_bytes: int = 64 * 1024  # the whole text, in UTF-8 bytes
    max_depth: int = 32  # nested arrays/objects; client metadata needs 3, a JWKS 3, JSON-RPC ~6
    max_string_chars: int = 8 * 1024  # any one string, member names included
    max_number_chars: int = 40  # digits, sign, point and exponent of any one number
    max_members: int = 2_000  # array elements plus object members, counted over the whole text
    allow_duplicate_names: bool = False  # RFC 8259 §4: names SHOULD be unique; duplicates are ambiguous

    def but(self, **changes: Any) -> JsonLimits:
        from dataclasses import replace

        return replace(self, **changes)


DEFAULT_LIMITS = JsonLimits()


class JsonRejected(ValueError):
    """The text is not JSON the lab accepts; `rule` names why (printable; no byte of the text is echoed raw)."""

    def __init__(self, rule: str) -> None:
        super().__init__(rule)
        self.rule = rule


# A string runs from its quote to the next quote no backslash escapes or, left open, to the end
# of the text (a lone backslash last included), so the pattern matches at every quote it is tried
# at; its quantifiers are possessive, so it never gives back a character to read it again:
# blanking strings out is one pass. The textbook pattern needs the closing quote: at an open one
# it reads to the end, fails, and `sub` tries again at the next quote, so `"` and n `\"` cost
# n²/2 steps (64 KB took 12 s, a 10 MB CIMD document would take hours, the event loop blocked).
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
# What comes before the first string left open: characters outside strings and closed strings.
# The open string is read to the end once (possessive again), then the match stops there. The
# outer repeat is greedy, not possessive: nothing follows it, so it never backtracks either, and
# CPython 3.11.0 to 3.11.4 (Debian 12's python3 is 3.11.2) mis-match a possessive repeat whose
# alternative fails after reading on (CPython gh-106052, fixed in 3.11.5): there, `"` alone counted as
# a closed string, and the brackets after an open quote went uncounted.
_BEFORE_AN_OPEN_STRING = re.compile(r'(?:[^"]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*', re.DOTALL)
_OPENER = re.compile(r"[\[{]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def parse_json(data: bytes | str, limits: JsonLimits = DEFAULT_LIMITS, *, what: str = "the JSON text") -> Any:
    """Parse `data` (UTF-8 bytes, RFC 8259 §8.1) within `limits`, or raise `JsonRejected`."""
    size = len(data) if isinstance(data, bytes | bytearray) else len(data.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise JsonRejected(f"{what} is {size} bytes; the limit is {limits.max_bytes} bytes (RFC 8259 §9: size limit)")
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRejected(f"{what} is not valid UTF-8 (RFC 8259 §8.1)") from None
    else:
        text = data
    _check_structure(text, limits, what)
    try:
        value = _decoder(limits).decode(text)
    except _NumberRefused as refused:
        raise JsonRejected(f"{what} {refused}") from None
    except JsonRejected:
        raise
    except RecursionError:  # pragma: no cover - the structure check bounds the depth first
        raise JsonRejected(f"{what} is nested too deeply (RFC 8259 §9)") from None
    except ValueError as exc:
        if text.startswith("\ufeff"):
            # Refused, as §8.1 lets a parser do; the rule is what the sender broke.
            raise JsonRejected(
                f"{what} is not valid JSON: it begins with a byte order mark, which a sender MUST NOT add (RFC 8259 §8.1)"
            ) from None
        raise JsonRejected(f"{what} is not valid JSON ({_ascii(str(exc))}) (RFC 8259)") from None
    if (
        len(text) > limits.max_string_chars
        or "\\u" in text
        or (isinstance(data, str) and _SURROGATE.search(text))  # strict UTF-8 decoding yields none
    ):
        # Otherwise no string in it can break a rule: none is longer than the whole text, and
        # a lone surrogate needs a \u escape or one in a `str` text (UTF-8 cannot carry it).
        _check_strings(value, limits, what)
    return value


# RFC 8259 §2: insignificant whitespace, and the tokens that nest: a string (read as _STRING
# reads one, so a bracket inside one is no bracket) or a bracket.
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NESTING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def array_elements(text: str, limits: JsonLimits = DEFAULT_LIMITS, *, what: str = "the JSON text") -> Iterator[Any]:
    """The elements of the JSON array `text`, each parsed by `parse_json` within `limits` and
    handed over before the next is read: a caller that refuses one has not paid for those after it.
    `parse_json` of the whole array builds every element first (100 MiB of `{},` is 35 million
    dicts, 9 GB, before the first could be looked at). `limits` apply to each element."""
    at = _WHITESPACE.match(text).end()  # type: ignore[union-attr]  # `*` matches even ""
    if not text.startswith("[", at):
        raise JsonRejected(f"{what} is not a JSON array (RFC 8259 §5)")
    at = _WHITESPACE.match(text, at + 1).end()  # type: ignore[union-attr]
    number = 0
    while not text.startswith("]", at):
        number += 1
        end = _element_end(text, at, limits, f"{what}'s element {number}")
        yield parse_json(text[at:end], limits, what=f"{what}'s element {number}")
        at = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
        if text.startswith(",", at):
            at = _WHITESPACE.match(text, at + 1).end()  # type: ignore[union-attr]
        elif not text.startswith("]", at):
            raise JsonRejected(f"{what} is not valid JSON: ',' or ']' expected after element {number} (RFC 8259 §5)")
    if _WHITESPACE.match(text, at + 1).end() != len(text):  # type: ignore[union-attr]
        raise JsonRejected(f"{what} is not valid JSON: there is more after the array's ']' (RFC 8259 §2)")


def _element_end(text: str, at: int, limits: JsonLimits, what: str) -> int:
    """Where the value that begins at `at` ends: past its closing bracket, found by a flat scan
    that stops at max_depth (the nesting a recursive parser may then be given), or past a scalar."""
    if text.startswith(("[", "{"), at):
        depth = 0
        for token in _NESTING.finditer(text, at):
            bracket = token.group()  # or a string, which neither opens nor closes
            if bracket in ("[", "{"):
                depth += 1
                if depth > limits.max_depth:
                    raise JsonRejected(
                        f"{what} is nested deeper than {limits.max_depth} levels (RFC 8259 §9: depth limit)"
                    )
            elif bracket in ("]", "}"):
                depth -= 1
                if depth == 0:
                    return token.end()
        raise JsonRejected(f"{what} is not valid JSON: an array or object is left open (RFC 8259 §5, §4)")
    try:  # a scalar: no nesting to bound
        return int(_decoder(limits).raw_decode(text, at)[1])
    except (_NumberRefused, ValueError):
        # parse_json says what is wrong with it, from the next ',' or ']' on left out.
        cut = min((i for i in (text.find(",", at), text.find("]", at)) if i >= 0), default=len(text))
        return cut if cut > at else len(text)


def _check_structure(text: str, limits: JsonLimits, what: str) -> None:
    """Depth and member count, by a flat scan over the brackets left once strings are blanked out.

    A malformed text may be mis-scanned here (say, an unterminated string); the standard parser
    rejects it right after, and it can never be deeper than what this scan saw, since blanking
    strings out only ever removes brackets.
    """
    openers = text.count("[") + text.count("{")
    if openers <= limits.max_depth and openers + text.count(",") <= limits.max_members:
        return  # the scan could not count more brackets than the whole text has (most texts)
    skeleton = _blank_strings(text)
    # Only an opener deepens the nesting, and each adds a member, so the loop visits at most
    # max_members + 1 openers before a limit is broken, however long the text. The commas and
    # closers between two openers are counted by str.count, in C: a loop over every bracket cost
    # a Python iteration per character of a text of nothing but `]` (1.7 s for 10 MB).
    depth = members = after = 0
    for opener in _OPENER.finditer(skeleton):
        at = opener.start()
        members += skeleton.count(",", after, at)
        if members > limits.max_members:  # a comma before this opener was one too many
            raise _too_many_members(limits, what)
        depth += 1 - skeleton.count("]", after, at) - skeleton.count("}", after, at)
        if depth > limits.max_depth:
            raise JsonRejected(f"{what} is nested deeper than {limits.max_depth} levels (RFC 8259 §9: depth limit)")
        members += 1
        after = at + 1
    if members + skeleton.count(",", after) > limits.max_members:
        raise _too_many_members(limits, what)


def _blank_strings(text: str) -> str:
    """`text` with every string's content dropped (`"…"` becomes `""`), read once left to right.

    From a string left open on, the text stays as it is, as the textbook pattern left it (every
    quote after an open one is escaped, so opens a string left open too): its brackets are counted
    as well, which can only refuse the text sooner, and each malformed text is refused for the
    reason it always was.
    """
    skeleton = _STRING.sub('""', text)
    if skeleton.endswith('""'):  # the last string may be one left open (not so a text ending in } or ])
        open_at = _BEFORE_AN_OPEN_STRING.match(text).end()  # type: ignore[union-attr]  # `*+` matches even ""
        if open_at < len(text):
            return skeleton[:-2] + text[open_at:]
    return skeleton


def _too_many_members(limits: JsonLimits, what: str) -> JsonRejected:
    return JsonRejected(f"{what} has more than {limits.max_members} array elements and object members (RFC 8259 §9)")


@functools.lru_cache(maxsize=32)
def _decoder(limits: JsonLimits) -> json.JSONDecoder:
    """One decoder per set of limits (`json.loads` with hooks builds a new one, scanner and all,
    for every text: about a tenth of what the lab client spends reading an answer)."""
    return json.JSONDecoder(
        parse_constant=_reject_constant,
        parse_int=functools.partial(_number, kind=int, limit=limits.max_number_chars),
        parse_float=functools.partial(_number, kind=float, limit=limits.max_number_chars),
        object_pairs_hook=None if limits.allow_duplicate_names else _unique_names,
    )


class _NumberRefused(Exception):
    """A number breaks a limit; `parse_json` names the text it is in."""


def _number(digits: str, *, kind: type, limit: int) -> int | float:
    if len(digits) > limit:
        raise _NumberRefused(f"has a number of {len(digits)} characters; the limit is {limit} (RFC 8259 §9)")
    value = kind(digits)
    if isinstance(value, float) and not math.isfinite(value):
        raise _NumberRefused(f"has a number out of range: {digits} (RFC 8259 §6, §9)")
    return value


def _reject_constant(name: str) -> Any:
    raise JsonRejected(f"{name} is not a JSON value (RFC 8259 §6: NaN and Infinity are not permitted)")


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise JsonRejected(
                f"member name {_ascii(name)[:60]!s} appears twice in one object (RFC 8259 §4: names SHOULD be unique)"
            )
        result[name] = value
    return result


def _check_strings(value: Any, limits: JsonLimits, what: str) -> None:
    """Every string and member name within the length limit, checked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings: list[str] = [item]
        elif isinstance(item, dict):
            strings = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            strings = []
            stack.extend(item)
        else:
            continue
        for string in strings:
            if len(string) > limits.max_string_chars:
                raise JsonRejected(
                    f"{what} has a string of {len(string)} characters; the limit is {limits.max_string_chars} (RFC 8259 §9)"
                )
            if _SURROGATE.search(string):
                # "\ud800" escapes decode to a lone surrogate, which no UTF-8 encoder accepts later.
                raise JsonRejected(f"{what} has a string with a lone surrogate code point (RFC 8259 §8.2)")


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")
