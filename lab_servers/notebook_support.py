"""Small helpers for the notebooks: exercise self-checks and showing a step that fails.

Everything here prints plain, deterministic text (no addresses, paths or timings), so that the
notebooks' stored outputs can be compared strictly by nbval.

    from lab_servers.notebook_support import check_answer, expect_failure, is_correct
    check_answer("01-prm-url", my_answer, lab)      # prints ✅, ❌ (with a hint) or ✏️
    is_correct("01-prm-url", my_answer, lab)        # True or False, printing nothing
    error = await expect_failure(client.authorize())  # prints ⛔ step 5 (authorize): …
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .arguments import likely, wrong_type
from .client import StepError
from .client.discovery import authorization_server_metadata_urls, protected_resource_metadata_urls

__all__ = ["EXERCISES", "Exercise", "check_answer", "expect_failure", "identifier", "is_correct", "verdicts"]


def _text(value: Any) -> str:
    return str(value).strip().strip("'\"").strip()


def _word(value: Any) -> str:
    return _text(value).lower()


# Number words a learner may type instead of digits ("three", "zero").
_NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])}  # fmt: skip


def _number(value: Any) -> Any:
    """3, "3", "three", "3 records", "201 Created", "HTTP 201": the number given, as an int.
    Anything without exactly one number ("1 or 2" hedges) is returned as text, so that it is
    simply wrong, never an error."""
    if isinstance(value, bool):
        return _text(value)
    if isinstance(value, int):
        return value
    words = re.findall(r"[a-z]+|\d+", _word(value))
    numbers = {int(word) if word.isdigit() else _NUMBER_WORDS[word] for word in words
               if word.isdigit() or word in _NUMBER_WORDS}  # fmt: skip
    return numbers.pop() if len(numbers) == 1 else _text(value)


def _date(value: Any) -> str:
    """A revision as typed: "2025-06-18", "MCP 2025-06-18", "the 2025-06-18 revision"; two dates hedge."""
    dates = set(re.findall(r"\d{4}-\d{2}-\d{2}", _text(value)))
    return dates.pop() if len(dates) == 1 else _text(value)


def _url(value: Any) -> str:
    """A URL as typed: quotes, spaces and one trailing slash do not make it wrong (the check says
    when the exact string differs: identifiers are compared exactly, RFC 9728 §3.3)."""
    return _text(value).rstrip("/")


def _url_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [_url(v) for v in value]


def _word_set(value: Any) -> set[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return {_word(v) for v in value}


# Verdict words: a learner may say "rejected" or "refused", "allowed" or "accepted".
_VERDICTS = {
    "refused": (
        "refused",
        "refuse",
        "refuses",
        "rejected",
        "reject",
        "rejects",
        "denied",
        "deny",
        "denies",
        "blocked",
        "block",
        "blocks",
        "fails",
        "failed",
        "no",
    ),
    "accepted": (
        "accepted",
        "accept",
        "accepts",
        "allowed",
        "allow",
        "allows",
        "passes",
        "passed",
        "ok",
        "okay",
        "works",
        "yes",
    ),
}
# Ways of naming how a client gets its client_id.
_METHODS = {
    "cimd": ("cimd", "clientidmetadatadocument", "clientidmetadatadocuments", "metadatadocument", "url"),
    "dcr": ("dcr", "dynamicclientregistration", "dynamicregistration", "rfc7591", "register"),
    "preregistered": ("preregistered", "preregistration", "preregister", "static", "manual", "manuallyregistered"),
}


def _canonical(word: str, synonyms: dict[str, tuple[str, ...]]) -> str:
    squeezed = re.sub(r"[\s_\-.]", "", word.lower())
    for canonical, forms in synonyms.items():
        if squeezed in forms:
            return canonical
    return word.lower()


def _choices(value: Any) -> dict[str, str]:
    return {str(k).strip().lower(): _canonical(_word(v), _METHODS) for k, v in dict(value).items()}


def verdicts(value: Any) -> dict[str, str]:
    """{"a": "Rejected", "B": "allowed"} → {"a": "refused", "b": "accepted"}."""
    return {str(k).strip().lower(): _canonical(_word(v), _VERDICTS) for k, v in dict(value).items()}


def identifier(value: Any) -> str:
    """A Python name typed with spaces, hyphens, quotes, "=False" or ": False", or reached through
    what holds it (HARDENED.pin_vetted_address, HARDENED.but(pin_vetted_address=False)): pin_vetted_address."""
    text = re.split(r"[=:]", _word(value))[0]
    text = re.split(r"[.(]", text)[-1].strip()
    return re.sub(r"[\s\-]+", "_", text)


def _error_code(value: Any) -> str:
    """An OAuth error code typed with quotes, "error=" or spaces: invalid_client."""
    text = _word(value).removeprefix("error").lstrip(" =:").strip().strip("'\"")
    return re.sub(r"[\s\-]+", "_", text)


def _s256(value: Any) -> str:
    return _text(value)


def _prm_url_fetched(lab: Any) -> str:
    fetched = [e.url for e in lab.trace if e.step == "resource-metadata" and e.method == "GET"]
    return fetched[0] if fetched else protected_resource_metadata_urls(lab.mcp_url, None)[0].url


def _code_challenge_sent(lab: Any) -> str:
    """The code_challenge the lab's client sent in its last authorization request."""
    sent = [e.url for e in lab.trace if e.step == "authorize" and e.method == "GET" and "code_challenge=" in e.url]
    if not sent:
        raise ValueError(
            "this lab's client has sent no authorization request yet: run step 5 (client.authorize()) first"
        )
    return parse_qs(urlsplit(sent[-1]).query)["code_challenge"][0]


@dataclass(frozen=True)
class Exercise:
    question: str
    expected: Callable[[Any], Any]  # lab (may be None) → the right answer, normalised
    normalise: Callable[[Any], Any]
    hint: str  # guides towards the answer without stating it
    # Other answers that are right too, each with what the learner should know about it.
    also_right: dict[Any, str] = field(default_factory=dict)
    needs_lab: bool = False  # the right answer is read from the learner's lab run (passed to check_answer)


EXERCISES: dict[str, Exercise] = {
    "01-prm-url": Exercise(
        "Which URL did the client fetch in step 2 to get the Protected Resource Metadata?",
        _prm_url_fetched,
        _url,
        "Look at the 401's WWW-Authenticate header: one of its parameters names a URL, and the header's URL "
        "wins over any URL the client could build itself (MCP §4.2).",
        needs_lab=True,
    ),
    "01-tenant-as-urls": Exercise(
        "An issuer has a path: https://auth.example.com/tenant1. List the AS metadata URLs a client tries, in order.",
        lambda lab: authorization_server_metadata_urls("https://auth.example.com/tenant1"),
        _url_list,
        "Three URLs: two where the well-known part goes between the host and the path (RFC 8414 first), "
        "then one where it goes after the path (MCP §4.3).",
    ),
    "02-register-status": Exercise(
        "Which HTTP status code does a successful POST /register return?",
        lambda lab: 201,
        _number,
        "Registration creates something on the server; which 2xx code says so (RFC 7591 §3.2.1)?",
    ),
    "02-records-after-three": Exercise(
        "After three DCR connections, how many registration records does the AS hold?",
        lambda lab: 3,
        _number,
        "Does a new DCR client in this lab remember an id from an earlier connection? And count the "
        "registration from step 4 too.",
    ),
    "02-pkce-s256": Exercise(
        "Compute the S256 code_challenge of the client's code_verifier.",
        _code_challenge_sent,
        _s256,
        "S256 is BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2): hashlib.sha256 over the verifier's "
        "bytes, then base64.urlsafe_b64encode, and the '=' padding removed (RFC 7636 Appendix A).",
        needs_lab=True,
    ),
    "03-mismatch-error": Exercise(
        "A document served at https://app.example/agent.json says its client_id is "
        "https://APP.example/agent.json. Which OAuth error code does the AS answer with?",
        lambda lab: "invalid_client",
        _error_code,
        "Which part is at fault: the request's syntax, the user's decision, or the client itself? "
        "The codes are listed in RFC 6749 §4.1.2.1 and §5.2.",
        also_right={
            "invalid_request": "MCP §5.1.3 lets an AS answer an invalid client metadata document with invalid_request "
            "too; this lab's AS says invalid_client, because it is the client that is invalid (RFC 6749 §5.2).",
        },
    ),
    "03-register-requests": Exercise(
        "How many POST /register requests did the CIMD connection make?",
        lambda lab: 0,
        _number,
        "Filter lab.trace for exchanges whose path is /register and whose step belongs to the CIMD run.",
    ),
    "04-differing-claims": Exercise(
        "Which claims differ between the DCR token and the CIMD token?",
        lambda lab: {"client_id", "jti"},
        _word_set,
        "Compare the two decoded tokens claim by claim; one claim is the point of this notebook, "
        "and one more is unique for every token by design (RFC 7519 §4.1).",
    ),
    "04-best-fit": Exercise(
        "For each scenario, which way of getting a client_id fits best: 'cimd', 'dcr' or 'preregistered'?",
        lambda lab: {"a": "cimd", "b": "dcr", "c": "preregistered"},
        _choices,
        "Ask of each scenario: has the server met this client before? Does the server offer a way to bring "
        "your own identity? Who runs both sides? The table above has a 'best fit' row.",
    ),
    "06-prm-revision": Exercise(
        "In which MCP revision did Protected Resource Metadata (RFC 9728) become the way to find the AS?",
        lambda lab: "2025-06-18",
        _date,
        "Look at the PRM column of the timeline: the first revision that says yes.",
    ),
    "06-fallback-method": Exercise(
        "Against the DCR-only authorization server, which registration method did the modern client choose?",
        lambda lab: "dcr",
        lambda value: _canonical(_word(value), _METHODS),
        "Read step 4's reasons: CIMD was skipped (why?), so the next option in MCP §5's order was taken.",
    ),
    "06-mixup-stopped": Exercise(
        "In how many of the four mix-up runs was the attack stopped?",
        lambda lab: 1,
        _number,
        "The defence needs two things at once: a client that checks iss, and an honest AS that sends it.",
    ),
}


def check_answer(exercise: str, answer: Any, lab: Any = None) -> None:
    """Check a learner's answer; print ✅, ❌ with a hint, or ✏️ if no answer was given yet.
    Returns nothing, so that the cell shows only the verdict."""
    _check(exercise, answer, lab, quiet=False)


def is_correct(exercise: str, answer: Any, lab: Any = None) -> bool:
    """The same check, silent: for tests and the notebooks' sanity checks."""
    return _check(exercise, answer, lab, quiet=True)


def _unanswered(answer: Any) -> bool:
    return answer is None or answer is ... or (isinstance(answer, dict) and all(v is None for v in answer.values()))


# Exercises other modules add to EXERCISES, by the notebook whose first cell imports them.
_ADDED_BY = {"05-": "lab_servers.security.exercises", "07-": "lab_servers.story_exercises"}


def _exercise(exercise: Any) -> Exercise:
    if isinstance(exercise, str) and exercise in EXERCISES:
        return EXERCISES[exercise]
    if not isinstance(exercise, str):
        raise wrong_type("check_answer takes the exercise's id first, a string such as '01-prm-url'", exercise)
    known = sorted(EXERCISES)
    guess = likely(str(exercise), known)
    added_by = next((module for prefix, module in _ADDED_BY.items() if str(exercise).startswith(prefix)), None)
    raise ValueError(
        f"unknown exercise {exercise!r}"
        + (f" (did you mean {guess!r}?)" if guess else "")
        + (
            f"; notebook {str(exercise)[:2]}'s exercises are added by `import {added_by}`"
            if added_by and not guess
            else ""
        )
        + "; check_answer(exercise, answer) takes the exercise's id first, one of: "
        + ", ".join(known)
    )


# What a right answer may be typed as, by the kind of the expected one: a string answer only as
# a string; a number also as text ("201 Created"); a list or a set also as one comma-separated string.
_ANSWER_TYPES: list[tuple[type, tuple[type, ...], str]] = [
    (dict, (dict,), "a dict with one answer per letter, like {example}"),
    (set, (str, set, frozenset, list, tuple), "a set of names such as {{'a', 'b'}} (or one string, 'a, b')"),
    (list, (str, list, tuple), "a list such as ['…', '…'] (or one string, comma-separated)"),
    (int, (int, float, str), "a number"),
    (str, (str,), "a string, in quotes"),
]


def _check_answer_type(exercise: str, expected: Any, answer: Any) -> None:
    for kind, accepted, shape in _ANSWER_TYPES:
        if isinstance(expected, kind):
            if not isinstance(answer, accepted):
                example = "{" + ", ".join(f"{key!r}: …" for key in expected) + "}" if isinstance(expected, dict) else ""
                raise wrong_type(f"the answer to {exercise} is {shape.format(example=example)}", answer)
            return


def _check(exercise: str, answer: Any, lab: Any, *, quiet: bool) -> bool:
    spec = _exercise(exercise)
    say = (lambda *_: None) if quiet else print
    if _unanswered(answer):
        say(f"✏️  {exercise}: replace None with your answer, then run this cell again.")
        return False
    if spec.needs_lab and not hasattr(lab, "trace"):  # None, or a connection where the lab goes (an AttributeError)
        raise wrong_type(
            f"{exercise} is checked against your lab's run: pass the lab too, check_answer({exercise!r}, my_answer, lab)",
            lab,
        )
    raw = spec.expected(lab)
    _check_answer_type(exercise, raw, answer)
    expected = spec.normalise(raw)
    try:
        given = spec.normalise(answer)
    except RecursionError:
        # str() of a list nested 100,000 deep: no answer is, and the learner is told so.
        raise TypeError(f"the answer to {exercise} is nested deeper than any answer is; give it flat") from None
    except (TypeError, ValueError, AttributeError):
        given = answer
    if isinstance(expected, dict) and isinstance(given, dict):
        ok = set(given) == set(expected) and all(given.get(k) == expected[k] for k in expected)
        for key in expected:
            say(f"{'✅' if given.get(key) == expected[key] else '❌'} ({key}) {given.get(key, '(no answer)')}")
        say("✅ All right!" if ok else f"❌ Not quite. Hint: {spec.hint}")
        return ok
    if isinstance(given, str) and given in spec.also_right:
        say(f"✅ Right: {given}. {spec.also_right[given]}")
        return True
    if given != expected:
        say(f"❌ Not quite. Hint: {spec.hint}")
        return False
    say(f"✅ Right: {_show(expected)}")
    if _trailing_slash_added(answer):
        say(
            "   Note: without the trailing slash. Where a URL is an identifier (a resource, an issuer, a "
            "client_id), a trailing slash makes a different string, and those are compared exactly (RFC 9728 §3.3)."
        )
    return True


def _trailing_slash_added(answer: Any) -> bool:
    texts = (
        answer.replace(",", " ").split()
        if isinstance(answer, str)
        else answer
        if isinstance(answer, list | tuple)
        else []
    )
    return any(isinstance(t, str) and _text(t).endswith("/") and "://" in t for t in texts)


def _show(value: Any) -> str:
    if isinstance(value, set):
        return ", ".join(sorted(value))
    if isinstance(value, list):
        return "\n   " + "\n   ".join(value)
    return str(value)


async def expect_failure(step: Awaitable[Any]) -> StepError | None:
    """Run a handshake step that is expected to fail and print which step failed and why,
    instead of a traceback. Returns the `StepError` (or None, after saying so, if it succeeded)."""
    if not inspect.isawaitable(step):
        raise wrong_type("expect_failure takes a step's call, with its (): expect_failure(client.run_all())", step)
    try:
        await step
    except StepError as error:
        print(f"⛔ {error}")
        return error
    print("The step succeeded: nothing failed.")
    return None
