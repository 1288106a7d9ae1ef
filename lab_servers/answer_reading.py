"""Reading what a learner typed as an answer, for the exercises' self-checks (notebook_support).

Each reader turns a typed answer into the form its check compares, reading what a learner means
without making a wrong answer right. What it cannot read for certain (two numbers, a negation, a
number word it does not know, a word it does not know beside a verdict) it returns as the text
typed, which is simply wrong, never an error. A parenthesised gloss, "aud (audience)" or
"3 (1 from step 4 + 2 new)", is read as a gloss and left out, unless it offers another answer:
"2 (or 1)" hedges.
"""

from __future__ import annotations

import re
from typing import Any


def text(value: Any) -> str:
    return str(value).strip().strip("'\"").strip()


def word(value: Any) -> str:
    return text(value).lower()


_GLOSS = re.compile(r"\(([^()]*)\)")
_HEDGES = ("or", "maybe", "perhaps", "possibly", "probably")


def without_glosses(typed: str) -> str:
    """`typed` without its parenthesised glosses; one that offers another answer ("(or 2)") stays,
    and so hedges. An answer that is all gloss is kept whole."""

    def drop(gloss: re.Match[str]) -> str:
        first = gloss[1].split()[:1]
        return gloss[0] if first and first[0].lower() in _HEDGES else " "

    kept = _GLOSS.sub(drop, typed).strip()
    return kept or typed


_NEGATION = re.compile(r"\b(?:not|never|neither|nor|cannot)\b|n't\b", re.IGNORECASE)


def negated(typed: str) -> bool:
    """ "not 201", "isn't accepted": an answer that says what the answer is not names none."""
    return bool(_NEGATION.search(typed))


# Number words read as numbers ("three", "none"). "no" is 0 only where no other number is given
# ("no requests"); beside one ("no, 3", "No. 201") it is not a count.
_NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])}  # fmt: skip
_NUMBER_WORDS["none"] = 0
# Number words this reader does not add up: an answer with one of them is read as its text
# ("three hundred" is not 3, "twenty one" not 1).
_UNREAD_NUMBER_WORDS = frozenset({
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty",
    "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "hundreds", "thousand", "thousands", "million",
    "millions", "billion", "dozen", "dozens", "half", "once", "twice", "thrice", "couple", "few", "several", "both",
})  # fmt: skip
_HTTP_VERSION = re.compile(r"\bhttp/\d+(?:\.\d+)?")  # "HTTP/1.1 201 Created": the version is no answer


def number(value: Any, *, of: int | None = None) -> Any:
    """What a learner gave as a count or a status code, as an int: 3, 3.0, "3", "three",
    "3 records", "201 Created", "HTTP/1.1 201 Created", "none" or "no requests" (0),
    "3 (1 from step 4 + 2 new)"; with `of`, the total the question names, "1 of 4", "one out of
    the four" and "1/4" are 1. Returned as text (simply wrong, never an error): two numbers
    ("1 or 2", "2 (or 1)"), a negation ("not 201"), a fraction (2.5), a number of more than nine
    digits, and a number word not read here ("three hundred", "twenty one")."""
    if isinstance(value, bool):
        return text(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else text(value)
    typed = without_glosses(word(value))
    if negated(typed):
        return text(value)
    typed = re.sub(r"(\d)\s*/\s*(\d)", r"\1 of \2", _HTTP_VERSION.sub(" ", typed))
    read: list[str] = []  # each number as "#N", the words between them as they are
    for token in re.findall(r"\d+(?:\.\d+)?|[a-z]+", typed):
        if token[0].isdigit():
            whole, _, fraction = token.partition(".")
            if fraction.strip("0") or len(whole) > 9:  # 2.5 is no count; 3.0 is 3
                return text(value)
            read.append(f"#{int(whole)}")
        elif token in _UNREAD_NUMBER_WORDS:
            return text(value)
        else:
            read.append(f"#{_NUMBER_WORDS[token]}" if token in _NUMBER_WORDS else token)
    joined = " ".join(read)
    if of is not None:  # "1 of 4": the question's own total is not a second answer
        joined = re.sub(rf"(#\d+)((?: [a-z]+)?) (?:out )?(?:of|in) (?:the )?#{of}\b", r"\1\2", joined)
    numbers = set(re.findall(r"#(\d+)", joined)) or ({"0"} if "no" in read else set())
    return int(numbers.pop()) if len(numbers) == 1 else text(value)


def date(value: Any) -> str:
    """A revision as typed: "2025-06-18", "MCP 2025-06-18", "the 2025-06-18 revision",
    "2025-06-18 (after 2025-03-26)". Two dates hedge, and "not 2025-06-18" names none."""
    typed = without_glosses(text(value))
    dates = set(re.findall(r"\d{4}-\d{2}-\d{2}", typed))
    return dates.pop() if len(dates) == 1 and not negated(typed) else text(value)


def url(value: Any) -> str:
    """A URL as typed: quotes, spaces and one trailing slash do not make it wrong (the check says
    when the exact string differs: identifiers are compared exactly, RFC 9728 §3.3). Two slashes
    are another path."""
    return text(value).removesuffix("/")


def url_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [url(v) for v in value]


# Words between names that name nothing: "client_id and jti", "the jti and client_id claims".
_LIST_FILLERS = frozenset({"and", "&", "plus", "the", "claim", "claims", "scope", "scopes"})


def name_set(value: Any) -> set[str]:
    """Names (claims, scopes) typed as a set, a list, or one string: "client_id, jti",
    "client_id and jti", "jti (unique per token) and client_id". Never lowercased: names that are
    case-sensitive (JWT claim names, RFC 7519 §10.1.1; scope values, RFC 6749 §3.3) stay as typed,
    so JTI is another name."""
    if isinstance(value, str):
        typed = without_glosses(text(value)).replace(",", " ")
        value = [w for w in typed.split() if w.lower() not in _LIST_FILLERS]
    return {text(v) for v in value}


def canonical(value: Any, synonyms: dict[str, tuple[str, ...]], fillers: frozenset[str] = frozenset()) -> str:
    """The name `synonyms` gives to what was typed: "Rejected" → "refused", "DCR (RFC 7591)" →
    "dcr", and, leaving out `fillers`, "still accepted" → "accepted". A negation ("not accepted")
    or any other word makes the answer its text."""
    typed = without_glosses(word(value))
    if negated(typed):
        return typed
    words = [w for w in re.split(r"[\s,;:!]+", typed) if w]
    for candidate in (words, [w for w in words if w not in fillers]):
        squeezed = re.sub(r"[_\-.]", "", "".join(candidate))
        for name, forms in synonyms.items():
            if squeezed in forms:
                return name
    return typed


def error_code(value: Any) -> str:
    """An OAuth error code typed with quotes, "error=", spaces or a gloss: invalid_client."""
    typed = without_glosses(word(value)).removeprefix("error").lstrip(" =:").strip().strip("'\"")
    return re.sub(r"[\s\-]+", "_", typed)


def identifier(value: Any) -> str:
    """A Python name typed with spaces, hyphens, quotes, "=False" or ": False", or reached through
    what holds it (HARDENED.pin_vetted_address, HARDENED.but(pin_vetted_address=False)):
    pin_vetted_address. Several names ("HARDENED.but(a=False, b=False)", "a and b"), in any
    order, read as all of them, sorted and joined by " and ": no one name."""
    typed = word(value)
    call = re.search(r"\w\((.*)\)", typed)  # policy.but(…): the names are its keywords
    typed = call[1] if call else without_glosses(typed)
    names = []
    for part in re.split(r",|;|\band\b", typed):
        name = re.split(r"[.(]", re.split(r"[=:]", part)[0])[-1]
        name = re.sub(r"[\s\-]+", "_", name.strip().strip("'\"{}*").strip())
        if name:
            names.append(name)
    return " and ".join(sorted(set(names))) or typed
