"""Reading what a learner typed as an answer, for the exercises' self-checks (notebook_support).

Each reader turns a typed answer into the form its check compares, reading what a learner means
without making a wrong answer right: when in doubt it does not guess. What it cannot read for
certain it returns as the text typed, which is simply wrong, never an error: two answers ("1 or
2"), a hedge word anywhere ("maybe 3", "I mean 5"), a negation, comparison or quantifier in the
answer's own clause ("not 201", "more than one", "before 2025-06-18", "-3"; an explanation after a
comma, colon or dash is not the answer's clause: "0, CIMD never registers"), a number word it does
not know, a word it does not know beside a verdict. A parenthesised gloss, "aud (audience)" or
"0 (CIMD never registers)", is left out only when it names nothing of the answer's kind other
than the answer itself (no other number, date, claim, method, verdict, error code or field name)
and holds no hedge or question mark: "201 (200?)", "3 (I mean 5)" and "client_id, jti (and iat)"
hedge, and "3 (1 from step 4 + 2 new)" too, its numbers being other numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from typing import Any


def text(value: Any) -> str:
    """What was typed, without the spaces and quotes around it: '"aud"', "`invalid_client`" (a
    Markdown habit)."""
    return str(value).strip().strip("'\"`").strip()


def without_full_stop(typed: str) -> str:
    """`typed` without the "." or "!" that ends a sentence: "invalid_grant.", "client_id and jti.",
    "aud!". A reader of numbers, dates or verdicts never sees it as part of the answer; a reader of
    a name (an error code, a claim, a scope, a field) would, and a full stop is no part of one.
    The marks it closed are read away too: "`invalid_grant`." is the code. (`str.rstrip`, not a
    regex anchored at the end: that retried from every "." of a run, and 200 kB of them took 506 s.)"""
    return text(typed.rstrip().rstrip(".!"))


def word(value: Any) -> str:
    return text(value).lower()


_GLOSS = re.compile(r"\(([^()]*)\)")
# Words that offer another answer or take one back, anywhere in an answer: "2 (or 1)", "maybe 3",
# "3 (I mean 5)". In a gloss, a question mark too: "201 (200?)".
_HEDGES = frozenset(
    {"or", "maybe", "perhaps", "possibly", "probably", "could", "might", "mean", "either", "guess", "unsure",
     "actually", "rather", "instead", "wait", "sorry"}
)  # fmt: skip


def hedged(typed: str) -> bool:
    return any(w in _HEDGES for w in re.findall(r"[a-z]+", typed.lower()))


def glosses(typed: str) -> tuple[str, list[str]]:
    """`typed` without its parenthesised glosses, and the glosses. An answer that is all gloss is
    kept whole, with none."""
    rest = _GLOSS.sub(" ", typed).strip()
    return (rest, _GLOSS.findall(typed)) if rest else (typed, [])


def glosses_offer_another(found: Iterable[str], answer: Collection[Any], named: Callable[[str], set[Any]]) -> bool:
    """Whether a gloss hedges, asks, or names anything of the answer's kind but what `answer` holds
    (`named` finds those in a gloss): such a gloss makes the whole answer a hedge, so wrong."""
    return any(hedged(g) or "?" in g or named(g) - set(answer) for g in found)


_NEGATION = re.compile(r"\b(?:not|never|neither|nor|cannot)\b|n't\b", re.IGNORECASE)
# Words that make a number or a date a bound or a remainder, not the answer: "more than one",
# "all but one", "before 2025-06-18", "up to 3".
_COMPARISONS = frozenset(
    {"all", "but", "except", "more", "less", "fewer", "than", "over", "under", "least", "most", "before", "after",
     "since", "until", "till", "above", "below", "about", "around", "approximately", "roughly", "nearly", "almost",
     "up", "prior", "earlier", "later", "besides", "minus", "plus", "other", "another", "extra", "excluding",
     "including", "without"}
)  # fmt: skip
# Where an explanation begins: "0, CIMD never registers", "one: the client that …", "3 - …".
_CLAUSES = re.compile(r"[,;:!?]|\s[-–—]+\s")


def negated(typed: str) -> bool:
    """ "not 201", "isn't accepted": an answer that says what the answer is not names none."""
    return bool(_NEGATION.search(typed))


def qualified(typed: str, is_answer: Callable[[str], bool]) -> bool:
    """Whether a clause holding the answer (`is_answer`) negates, bounds or hedges it: "not 201",
    "more than one", "before 2025-06-18". A clause of explanation may say anything: "201, isn't it?"."""
    for clause in _CLAUSES.split(typed.lower().replace("at all", " ")):
        if is_answer(clause) and (negated(clause) or any(w in _COMPARISONS for w in re.findall(r"[a-z]+", clause))):
            return True
    return False


# Number words read as numbers ("three", "none"). "no" is 0 only where it is all the answer says,
# with at most a noun ("no", "no requests"): "no idea" names no number, and "no one" is text.
_NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])}  # fmt: skip
_NUMBER_WORDS["none"] = 0
_NO_NOUNS = frozenset({"requests", "request", "posts", "calls", "registrations", "records", "runs", "times"})
# Number words this reader does not add up: an answer with one of them is read as its text
# ("three hundred" is not 3, "twenty one" not 1).
_UNREAD_NUMBER_WORDS = frozenset({
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty",
    "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "hundreds", "thousand", "thousands", "million",
    "millions", "billion", "dozen", "dozens", "half", "once", "twice", "thrice", "couple", "few", "several", "both",
})  # fmt: skip
_HTTP_VERSION = re.compile(r"\bhttp/\d+(?:\.\d+)?")  # "HTTP/1.1 201 Created": the version is no answer
_A_NUMBER = re.compile(rf"\d|\b(?:{'|'.join([*_NUMBER_WORDS, *_UNREAD_NUMBER_WORDS])})\b")
_MINUS = re.compile(r"(?:^|[\s(])[-−–]\s*\d")  # "-3" is no count


def _numbers_named(typed: str) -> set[Any]:
    """Every number a gloss names, digits or words; one it does not read counts as another."""
    found: set[Any] = {int(d) for d in re.findall(r"\d+", typed)}
    for w in re.findall(r"[a-z]+", typed.lower()):
        if w in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[w])
        elif w in _UNREAD_NUMBER_WORDS:
            found.add(w)
    return found


def number(value: Any, *, of: int | None = None) -> Any:
    """What a learner gave as a count or a status code, as an int: 3, 3.0, "3", "three",
    "3 records", "201 Created", "HTTP/1.1 201 Created", "0, CIMD never registers", "none",
    "none of them", "no" or "no requests" (0); with `of`, the total the question names, "1 of 4",
    "one out of the four" and "1/4" are 1. Returned as text (simply wrong, never an error): two
    numbers ("1 or 2"), a gloss with a number ("2 (or 1)", "3 (1 from step 4 + 2 new)"), a hedge
    ("maybe 3"), a negation, comparison or minus sign beside the number ("not 201", "more than
    one", "all but one", "-3"), "no" beside anything but a noun ("no idea", "no one"), a fraction
    (2.5), a number of more than nine digits, and a number word not read here ("three hundred")."""
    if isinstance(value, bool):
        return text(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else text(value)
    typed, found = glosses(word(value))
    typed = re.sub(r"(\d)\s*/\s*(\d)", r"\1 of \2", _HTTP_VERSION.sub(" ", typed))
    if hedged(typed) or _MINUS.search(typed) or qualified(typed, lambda clause: bool(_A_NUMBER.search(clause))):
        return text(value)
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
    if any(w[0].isdigit() or w in _NUMBER_WORDS for w in re.findall(r"\bno\s+(\d|[a-z]+)", typed)):
        return text(value)  # "no one", "no 1": no count ("No. 201" and "no, 3" are)
    numbers = set(re.findall(r"#(\d+)", joined))
    if not numbers and (read == ["no"] or (read[:1] == ["no"] and len(read) == 2 and read[1] in _NO_NOUNS)):
        numbers = {"0"}  # "no", "no requests"; "no idea" is no number
    if len(numbers) != 1:
        return text(value)
    answer = int(numbers.pop())
    return text(value) if glosses_offer_another(found, {answer}, _numbers_named) else answer


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def date(value: Any) -> str:
    """A revision as typed: "2025-06-18", "MCP 2025-06-18", "the 2025-06-18 revision",
    "2025-06-18 (the first with PRM)". Two dates hedge, a date in a gloss too ("2025-06-18
    (2025-11-25?)"), and "not 2025-06-18" or "before 2025-06-18" names none."""
    typed, found = glosses(text(value))
    dates = set(_DATE.findall(typed))
    if len(dates) != 1 or hedged(typed) or qualified(typed, lambda clause: bool(_DATE.search(clause))):
        return text(value)
    answer = dates.pop()
    return text(value) if glosses_offer_another(found, {answer}, lambda g: set(_DATE.findall(g))) else answer


def url(value: Any) -> str:
    """A URL as typed, without quotes or spaces. Compared exactly (identifiers are exact strings,
    RFC 9728 §3.3); the check forgives one trailing slash the learner added to a URL that has none,
    and says so (`slash_added`)."""
    return text(value)


def url_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [url(v) for v in value]


def slash_added(given: Any, expected: Any) -> bool:
    """Whether `given` is `expected` (a URL or a list of them) but for one trailing slash the
    learner added to a URL that has none: never one taken off a URL that has it."""
    if isinstance(given, str) and isinstance(expected, str):
        return given == expected + "/" and not expected.endswith("/")
    if isinstance(given, list) and isinstance(expected, list) and len(given) == len(expected) and given != expected:
        return all(g == e or slash_added(g, e) for g, e in zip(given, expected, strict=True))
    return False


# Claim names a gloss may name: RFC 7519 §4.1's, and the others the lab's tokens carry.
CLAIM_NAMES = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "act", "may_act", "azp", "cnf",
     "auth_time", "nonce", "acr", "amr", "sid"}
)  # fmt: skip


def claims_named(typed: str) -> set[str]:
    """The claim names in `typed` ("audience" is aud), whatever their case: in a gloss, even AUD
    names a claim."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_]+", typed)}
    return (words & CLAIM_NAMES) | ({"aud"} if "audience" in words else set())


# Words between names that are no name: "client_id and jti", "the jti and client_id claims". Never a
# word that can be a name itself (scope is a claim; a scope value may be any word).
_LIST_FILLERS = frozenset({"and", "&", "the", "claim", "claims"})


def name_set(value: Any, named: Callable[[str], set[str]] = claims_named) -> set[str]:
    """Names (claims, scopes) typed as a set, a list, or one string: "client_id, jti",
    "client_id and jti", "jti (unique per token) and client_id". Never lowercased: names that are
    case-sensitive (JWT claim names, RFC 7519 §10.1.1; scope values, RFC 6749 §3.3) stay as typed,
    so JTI is another name. A gloss naming another name (`named`: claims by default) or hedging
    makes the whole answer its text: "client_id, jti (and iat)"."""
    if isinstance(value, str):
        typed, found = glosses(without_full_stop(text(value)))
        # "claims: a, b"; each name may be quoted on its own: '"a", "b"', "`a`, `b`"
        words = [text(w.removesuffix(":")) for w in typed.replace(",", " ").split()]
        names = {w for w in words if w and w.lower() not in _LIST_FILLERS}
        # A gloss naming the same claim in another case is no other answer; the case stays judged.
        same = names | {n.lower() for n in names}
        return {text(value)} if glosses_offer_another(found, same, named) else names
    return {text(v) for v in value}


def _named_in(typed: str, synonyms: dict[str, tuple[str, ...]]) -> set[str]:
    """Every name of `synonyms` a gloss gives, as one word or up to four ("dynamic client registration")."""
    words = [re.sub(r"[_\-.]", "", w) for w in re.split(r"[\s,;:!?]+", typed.lower()) if w]
    runs = {"".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, min(i + 5, len(words) + 1))}
    return {name for name, forms in synonyms.items() if runs & set(forms)}


def canonical(value: Any, synonyms: dict[str, tuple[str, ...]], fillers: frozenset[str] = frozenset()) -> str:
    """The name `synonyms` gives to what was typed: "Rejected" → "refused", "DCR (RFC 7591)" →
    "dcr", and, leaving out `fillers`, "still accepted" → "accepted". A negation ("not accepted")
    or any other word makes the answer its text, and so does a gloss naming another of the names
    ("DCR (I mean CIMD)", "accepted (no)")."""
    # "`dcr`." and "**cimd**", as the notebooks' solutions write them: Markdown's marks are no word.
    typed, found = glosses(without_full_stop(word(value).replace("**", "")))
    words = [w for w in re.split(r"[\s,;:!]+", typed) if w]
    for candidate in (words, [w for w in words if w not in fillers]):
        squeezed = re.sub(r"[_\-.]", "", "".join(candidate))
        for name, forms in synonyms.items():
            if squeezed in forms and not glosses_offer_another(found, {name}, lambda g: _named_in(g, synonyms)):
                return name
    return word(value)


# What a gloss names as an error code: a snake_case word, or a code spelled with spaces.
_ERROR_CODE = re.compile(
    r"\b(?:invalid|unauthori[sz]ed|unsupported|insufficient|access|server|temporarily)[\s_-]+[a-z]+|\b[a-z]+_[a-z_]+"
)


def _codes_named(gloss: str) -> set[str]:
    return {re.sub(r"[\s\-]+", "_", c) for c in _ERROR_CODE.findall(gloss.lower())}


def error_code(value: Any) -> str:
    """An OAuth error code typed with quotes, "error=", spaces or a gloss: invalid_client. A gloss
    naming another code or hedging ("invalid_grant (I mean invalid_request)") makes it its text."""
    typed, found = glosses(without_full_stop(word(value)))
    code = re.sub(r"[\s\-]+", "_", text(typed.removeprefix("error").lstrip(" =:")))
    return word(value) if glosses_offer_another(found, {code}, _codes_named) else code


def _snake_case_names(typed: str) -> set[str]:
    return set(re.findall(r"\b[a-z]+_[a-z_]+", typed))


def is_call(typed: str) -> bool:
    """Whether a name is called in `typed`: a "(" right after a word, and a ")" after it."""
    close = typed.rfind(")")
    return close > 0 and re.search(r"\w\(", typed[:close]) is not None


# A quote between two letters is an apostrophe ("isn't", "you'd"), not a string's end.
_QUOTED = re.compile(r"(?<![a-z0-9])(?:\"[^\"\n]*\"|'[^'\n]*')(?![a-z0-9])")
_DASH = re.compile(r"\s[-–—]+\s")  # where an explanation begins, as in `_CLAUSES`


def without_prose_strings(code: str) -> str:
    """`code` without its strings that hold a space: prose, not code ("hardened, not pinned")."""
    return _QUOTED.sub(lambda m: " " if re.search(r"\s", m.group(0)) else m.group(0), code)


def top_level_clauses(code: str) -> list[str]:
    """`code` cut where a clause ends outside every parenthesis (",", ";", ":", "#", a newline, a
    dash between spaces), and before a gloss (a "(" after a space: a call's has none):
    "HARDENED.but(a=False) (the check still runs), because …" is three clauses. One pass."""
    code = _DASH.sub("\n", code)
    clauses, start, depth = [], 0, 0
    for at, char in enumerate(code):
        if char == "(" and depth <= 0 and code[at - 1 : at].isspace():
            clauses.append(code[start:at])
            start, depth = at, 0
        depth += (char in "([{") - (char in ")]}")
        if depth <= 0 and char in ",;:#\n":
            clauses.append(code[start:at])
            start, depth = at + 1, 0
    return [*clauses, code[start:]]


def _call_parts(typed: str) -> list[tuple[str, str]]:
    """The names an answer typed as code names: every call's keywords ("HARDENED.but(a=False)": a)
    and every snake_case name not called with arguments ("run_dns_rebinding(…)" runs, it names no
    field; "b.but(…)" and "b()" name b), in every call and between them, in any order; none if the
    code or the words around it hedge, negate or ask ("not HARDENED.but(a=False)", "not(a)"). A
    string with a space in it is prose, not code: its words are no answer ("hardened, not pinned")."""
    code = without_prose_strings(typed)
    if hedged(code) or negated(code) or "?" in code:
        return []
    keywords = re.findall(r"[(,]\s*([a-z_]\w*)\s*=(?!=)", code)
    running = set(re.findall(r"\b([a-z_]\w*)\s*\((?!\s*\))", code))
    named = [n for n in re.findall(r"\b[a-z]+_[a-z_]+", code) if n not in running]
    return [(name, name) for name in dict.fromkeys([*keywords, *named])]


def identifier_parts(value: Any) -> list[tuple[str, str]]:
    """Each part of what was typed ("a, b", "a and b", "but(a=False, b=False)"), as typed and as the
    Python name it reads as (pin vetted address: pin_vetted_address); empty if a gloss hedges or
    names another snake_case name ("pin_vetted_address (I mean block_special_use_addresses)"). An
    answer typed as code is read as code (`_call_parts`)."""
    typed = without_full_stop(word(value))
    if is_call(typed):  # policy.but(…): the names are its keywords
        return _call_parts(typed)
    typed, found = glosses(typed)
    if glosses_offer_another(found, set(), _snake_case_names):
        return []
    parts = []
    for part in re.split(r",|;|\band\b", typed):
        name = re.split(r"[.(]", re.split(r"[=:]", part)[0])[-1]
        name = re.sub(r"[\s\-]+", "_", name.strip().strip("'\"{}*").strip())
        if name:
            parts.append((part.strip(), name))
    return parts


def identifier(value: Any) -> str:
    """A Python name typed with spaces, hyphens, quotes, "=False" or ": False", or reached through
    what holds it (HARDENED.pin_vetted_address, HARDENED.but(pin_vetted_address=False)):
    pin_vetted_address. Several names ("HARDENED.but(a=False, b=False)", "a and b"), in any
    order, read as all of them, sorted and joined by " and ": no one name. Which parts are names
    and which explain is the exercise's to say (`identifier_parts`)."""
    names = {name for _, name in identifier_parts(value)}
    return " and ".join(sorted(names)) or word(value)
