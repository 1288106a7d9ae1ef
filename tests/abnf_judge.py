"""The machinery of `test_abnf_judge_readers.py`: the inputs each reader is judged on, how a
reading is compared with the `abnf` package's (parsers built from the RFCs' own ABNF), and what
the grammar reads from each field, in the terms the lab's reader answers in.

A judge puts the same text to the lab's reader and to the grammar, each answering in the same
terms (None for "not this rule", else what was read), and names every input where they differ.
A difference the lab makes on purpose is listed in the test with its reason and spec line; any
other is a defect."""

from __future__ import annotations

import base64
import calendar
import datetime
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from abnf import Node, ParseError, Rule
from abnf.grammars import rfc3986, rfc9110, rfc9111
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from .abnf_rules import RFC6749, RFC6750, RFC9110Recipient, RFC9111Recipient

OWS = " \t"
NOW = calendar.timegm((2026, 1, 1, 0, 0, 0))  # the clock an rfc850-date's two-digit year is placed by

# Few examples, derandomized: the fast suite stays fast and every run judges the same strings.
JUDGED = settings(
    max_examples=40, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# The values that broke the servers before (tests/test_fuzz_hostile_values.py's SPECIALS), and
# the characters a reader most often mistakes for one of its grammar's: obs-text and Latin-1's
# NBSP (a header is read as Latin-1), Unicode's spaces and digits, the controls, the separators.
HOSTILE = ["\ud800", "\udfff", "\x00", "\u202e", "\u2066", "\u200b", "\ufeff", "\uffff", "\U0010ffff", "\n", "\t",
           "\\", '"', "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\x80", "\xa0", "\xff", "\u3000", "\u0661", "\uff10",
           "\u017f", "\u212a", "", " ", ",", ";", "=", '""', '"\\"', "%", "%zz", "%ff", "é"]  # fmt: skip
MUTATIONS = ["\t", " ", "  ", ",", ";", "=", '"', "\\", "\x00", "\x7f", "\x80", "\xa0", "\xff", "\u3000", "\n", "é"]


def grammar_text(pieces: Iterable[str], max_pieces: int = 10) -> st.SearchStrategy[str]:
    """Strings built from a grammar's own pieces (its literals, tokens, separators) and a few
    characters that break it, in any order: mostly near misses, often well-formed."""
    alphabet = st.sampled_from([*pieces, *MUTATIONS])
    return st.lists(alphabet, max_size=max_pieces).map("".join)


def parsed(rule: Rule, text: str) -> Node | None:
    try:
        return rule.parse_all(text)
    except ParseError:
        return None


def found(node: Node, name: str) -> Iterator[Node]:
    """The nodes called `name` under `node`, outermost first, not looking inside one found."""
    for child in node.children:
        if child.name == name:
            yield child
        else:
            yield from found(child, name)


def first(node: Node, name: str) -> Node:
    return next(found(node, name))


def unquoted(quoted_string: str) -> str:
    """RFC 9110 §5.6.4: a quoted-string's content, each quoted-pair read as the octet it quotes."""
    out, escaped = [], False
    for c in quoted_string[1:-1]:
        if c == "\\" and not escaped:
            escaped = True
            continue
        out.append(c)
        escaped = False
    return "".join(out)


@dataclass
class Judge:
    """`lab` and `grammar` read one input in the same terms; `allowed` names the listed reason for
    a difference on it (a key of the test's ALLOWED), or None."""

    lab: Callable[[str], Any]
    grammar: Callable[[str], Any]
    allowed: Callable[[str, Any, Any], str | None] = lambda text, lab, grammar: None

    def disagreement(self, text: str, reasons: dict[str, str], used: set[str]) -> str | None:
        lab, grammar = self.lab(text), self.grammar(text)
        if lab == grammar:
            return None
        reason = self.allowed(text, lab, grammar)
        if reason is not None:
            assert reason in reasons, f"{reason!r} is not in the allow-list"
            used.add(reason)
            return None
        return f"{text!r}: the lab reads {lab!r}, the grammar {grammar!r}"

    def disagreements(self, texts: Iterable[str], reasons: dict[str, str], used: set[str]) -> list[str]:
        return [d for d in (self.disagreement(t, reasons, used) for t in texts) if d is not None]


# What the grammar reads, field by field ---------------------------------------------------------

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def grammar_date(text: str) -> int | str | None:
    """Epoch seconds of an HTTP-date as the grammar parses it; a string for one it takes that
    names no time; None for no HTTP-date."""
    tree = parsed(rfc9110.Rule("HTTP-date"), text.strip(OWS))
    if tree is None:
        return None
    hour, minute, second = (int(first(tree, name).value) for name in ("hour", "minute", "second"))
    month = _MONTHS.index(first(tree, "month").value) + 1
    if date2 := next(found(tree, "date2"), None):  # rfc850-date: §5.6.7's 50-year rule for a 2-digit year
        day, year = int(first(date2, "day").value), int(date2.value[-2:]) + 2000
        year -= 100 if year > time_year() + 50 else 0
    elif date3 := next(found(tree, "date3"), None):  # asctime-date
        day, year = int(date3.value[4:]), int(first(tree, "year").value)
    else:
        day, year = int(first(tree, "day").value), int(first(tree, "year").value)
    try:
        datetime.datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return f"{text!r} names no time"
    return None if second > 60 else calendar.timegm((year, month, day, hour, minute, second))


def time_year() -> int:
    return datetime.datetime.fromtimestamp(NOW, datetime.UTC).year


def recased(text: str) -> str:
    return re.sub(r"[A-Za-z]+", lambda m: "GMT" if m[0].upper() == "GMT" else m[0].title(), text)


def grammar_media_type(text: str) -> str:
    tree = parsed(rfc9110.Rule("media-type"), text.strip(OWS))
    return "" if tree is None else f"{first(tree, 'type').value}/{first(tree, 'subtype').value}".lower()


_JSON_RANGES = ("*/*", "application/*", "application/json")  # by specificity, least first
_QVALUE = rfc9110.Rule("qvalue")


def grammar_accepts_json(text: str) -> bool:
    tree = parsed(RFC9110Recipient("Accept"), text.strip(OWS))
    if tree is None:
        return False  # the lab takes nothing from a field that is no Accept (transport.py)
    # §12.5.1: "If more than one media range applies to a given type, the most specific reference
    # has precedence": the weight JSON gets is that of the most specific range naming it.
    # A range's other parameters narrow it to representations carrying them (§12.5.1's example:
    # `text/html;level=1` is not `text/html;level=3`); the lab sends UTF-8 JSON (RFC 8259 §8.1).
    weights_by_range: dict[tuple[int, int], list[bool]] = {}
    for element in found(tree, "accept-element"):
        media_range = first(element, "media-range")
        name = media_range.value.split(";", 1)[0].lower().rstrip(OWS)
        if name not in _JSON_RANGES:
            continue
        parameters = [n.value.lstrip(OWS + ";").split("=", 1) for n in _in_order(element, ("parameter", "weight"))]
        # §12.4.2: "q" is the weight, written in the media-range's parameters or as the weight.
        weights = [value for key, value in parameters if key.lower() == "q"]
        narrowing = {key.lower(): _unquoted(value) for key, value in parameters if key.lower() != "q"}
        if narrowing and narrowing != {"charset": "utf-8"}:
            continue
        weight = weights[0] if weights else "1"
        if parsed(_QVALUE, weight) is not None:  # a malformed weight: the range does not count
            specificity = (_JSON_RANGES.index(name), len(narrowing))
            weights_by_range.setdefault(specificity, []).append(float(weight) > 0)
    return bool(weights_by_range) and any(weights_by_range[max(weights_by_range)])


def _unquoted(value: str) -> str:
    """§5.6.4's quoted-string as the value it carries; a charset compared case-insensitively (§8.3.2)."""
    text = re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith('"') else value
    return text.lower()


def _in_order(node: Any, names: tuple[str, ...]) -> list[Any]:
    return [n for n in _walk(node) if n.name in names]


def _walk(node: Any) -> list[Any]:
    return [c for child in node.children for c in [child, *_walk(child)]]


def grammar_no_coding(text: str) -> bool | None:
    tree = parsed(RFC9110Recipient("Content-Encoding"), text.strip(OWS))
    if tree is None:
        return None
    # §12.5.3: "identity" is a synonym for "no encoding" (rfc9110.py takes it as none applied).
    return all(coding.value.lower() == "identity" for coding in found(tree, "content-coding"))


def grammar_directives(text: str) -> dict[str, str] | None:
    tree = parsed(RFC9111Recipient("Cache-Control"), text.strip(OWS))
    if tree is None:
        return None
    directives: dict[str, str] = {}
    for directive in found(tree, "cache-directive"):
        name, _, argument = directive.value.partition("=")
        directives.setdefault(name.lower(), unquoted(argument) if argument.startswith('"') else argument)
    return directives


def grammar_delta_seconds(text: str) -> int:
    tree = parsed(rfc9111.Rule("delta-seconds"), text.strip(OWS))
    return -1 if tree is None else min(int(tree.value), 2**31)  # §1.2.2: too large to represent is 2^31


def grammar_scope(text: str) -> list[str] | None:
    tree = parsed(RFC6749("scope"), text)
    return None if tree is None else list(dict.fromkeys(token.value for token in found(tree, "scope-token")))


def grammar_bearer(text: str) -> str | None:
    tree = parsed(RFC6750("credentials"), text.strip(OWS))
    return None if tree is None else first(tree, "b64token").value


def grammar_basic(text: str) -> tuple[str, str] | str | None:
    tree = parsed(rfc9110.Rule("credentials"), text.strip(OWS))
    if tree is None or first(tree, "auth-scheme").value.lower() != "basic" or not list(found(tree, "token68")):
        return None
    token68 = first(tree, "token68").value
    # RFC 7617 §2: base64 (RFC 4648 §4, padded as §3.2 asks) of user-id ":" password, no CTL.
    try:
        user_pass = base64.b64decode(token68, validate=True) if len(token68) % 4 == 0 else None
    except ValueError:
        user_pass = None
    if user_pass is None or b":" not in user_pass or re.search(rb"[\x00-\x1f\x7f]", user_pass):
        return f"{token68!r} is a token68, not Basic's user-pass"
    # RFC 6749 §2.3.1: the client_id and secret are each form-urlencoded (Appendix B: UTF-8).
    try:
        return tuple(unquote_to_bytes(part.replace(b"+", b" ")).decode() for part in user_pass.split(b":", 1))  # type: ignore[return-value]
    except UnicodeDecodeError:
        return f"{token68!r} holds no UTF-8 client_id and secret"


Reading = list[tuple[str, dict[str, str]]]


def grammar_challenges(text: str) -> tuple[Reading, bool] | None:
    tree = parsed(RFC9110Recipient("WWW-Authenticate"), text.strip(OWS))
    if tree is None:
        return None
    reading: Reading = []
    for challenge in found(tree, "challenge"):
        params: dict[str, str] = {}
        for param in found(challenge, "auth-param"):
            value = param.children[-1].value  # token / quoted-string, after BWS "=" BWS
            params.setdefault(first(param, "token").value.lower(), unquoted(value) if value.startswith('"') else value)
        reading.append((first(challenge, "auth-scheme").value.lower(), params))
    return reading, True


URI_REFERENCE = rfc3986.Rule("URI-reference")


def absolute_uri(text: str) -> bool:
    return parsed(rfc3986.Rule("absolute-URI"), text) is not None  # RFC 6749 §3.1.2: "an absolute URI" (§4.3)
