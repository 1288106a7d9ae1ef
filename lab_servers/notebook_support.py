"""Small helpers for the notebooks: exercise self-checks and showing a step that fails.

Everything here prints plain, deterministic text (no addresses, paths or timings), so that the
notebooks' stored outputs can be compared strictly by nbval. How a typed answer is read ("201
Created", "1 of 4", "aud (audience)") is `answer_reading`'s.

    from lab_servers.notebook_support import check_answer, expect_failure, is_correct
    check_answer("01-prm-url", my_answer, lab)      # prints ✅, ❌ (with a hint) or ✏️
    is_correct("01-prm-url", my_answer, lab)        # True or False, printing nothing
    error = await expect_failure(client.authorize())  # prints ⛔ step 5 (authorize): …
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .answer_reading import canonical, date, error_code, identifier, name_set, number, slash_added, text, url, url_list
from .arguments import likely, wrong_type
from .client import LabClient, StepError
from .client.discovery import authorization_server_metadata_urls, protected_resource_metadata_urls

__all__ = [
    "CLAIM_NAMES_ARE_CASE_SENSITIVE", "EXERCISES", "Exercise", "case_only", "check_answer", "expect_failure", "identifier",
    "is_correct", "verdicts",
]  # fmt: skip


# Verdict words: a learner may say "rejected" or "refused", "allowed" or "accepted". Not "yes" or
# "no": which verdict they give is the question's (`verdicts`).
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
    ),
}
# Ways of naming how a client gets its client_id.
_METHODS = {
    "cimd": ("cimd", "clientidmetadatadocument", "clientidmetadatadocuments", "metadatadocument", "url"),
    "dcr": ("dcr", "dynamicclientregistration", "dynamicregistration", "rfc7591", "register"),
    "preregistered": ("preregistered", "preregistration", "preregister", "static", "manual", "manuallyregistered"),
}


# Words around a verdict or a method that change nothing: "(a) still accepted", "it is refused",
# "by DCR". A negation is never one ("not accepted" names no verdict).
_VERDICT_FILLERS = frozenset(
    {"still", "it", "it's", "is", "gets", "get", "would", "will", "be", "the", "token", "just"}
)
_METHOD_FILLERS = frozenset({"the", "by", "via", "using", "with", "it", "used", "uses", "chose", "method"})


def _choices(value: Any) -> dict[str, str]:
    return {str(k).strip().lower(): _method(v) for k, v in dict(value).items()}


def _method(value: Any) -> str:
    return canonical(value, _METHODS, _METHOD_FILLERS)


def verdicts(value: Any, *, yes: str | None = None) -> dict[str, str]:
    """{"a": "Rejected", "B": "still allowed"} → {"a": "refused", "b": "accepted"}. A "yes" or a
    "no" (True or False, typed in Python) answers the question asked, so `yes` is the verdict it
    gives: "accepted" for "Does it accept it?", "refused" for "Which does it refuse?". Without
    `yes`, it names no verdict."""
    return {str(k).strip().lower(): _verdict(v, yes) for k, v in dict(value).items()}


def _verdict(value: Any, yes: str | None) -> str:
    if yes is None:
        return canonical(value, _VERDICTS, _VERDICT_FILLERS)
    no = next(v for v in _VERDICTS if v != yes)
    if isinstance(value, bool):
        return yes if value else no
    synonyms = {yes: (*_VERDICTS[yes], "yes"), no: (*_VERDICTS[no], "no")}
    return canonical(value, synonyms, _VERDICT_FILLERS)


def _prm_url_fetched(lab: Any) -> str:
    fetched = [e.url for e in lab.trace if e.step == "resource-metadata" and e.method == "GET"]
    return fetched[0] if fetched else protected_resource_metadata_urls(lab.mcp_url, None)[0].url


def _code_challenges_sent(where: Any) -> list[str]:
    """The code_challenge of each authorization request `where` sent, first to last. A lab
    client's own is its latest (the one its code_verifier belongs to); a lab's are every one its
    clients sent: after Run All, notebook 02's lab holds three clients' (cell n02-33 connects two)."""
    if isinstance(where, LabClient):
        sent = [where.state.authorization_url] if where.state.authorization_url else []
        who = "this client"
    else:
        sent = [
            e.url for e in where.trace if e.step == "authorize" and e.method == "GET" and "code_challenge=" in e.url
        ]
        who = "this lab's client"
    challenges = [c for u in sent for c in parse_qs(urlsplit(u).query).get("code_challenge", [])[:1]]
    if not challenges:
        raise ValueError(f"{who} has sent no authorization request yet: run step 5 (client.authorize()) first")
    return list(dict.fromkeys(challenges))


def _other_challenges(where: Any) -> dict[str, str]:
    """Given the lab rather than a client, the challenge of any other authorization request in it
    is the S256 of that request's verifier, computed right."""
    note = (
        "That is the code_challenge of a later authorization request in this lab (another client's, or a new "
        "step 5). To check against one client's own, pass it: check_answer('02-pkce-s256', my_challenge, client)."
    )
    return dict.fromkeys(_code_challenges_sent(where)[1:], note)


def case_only(why: str) -> Callable[[Any, Any], str | None]:
    """A near miss: the names are right but for their letter case, which counts (`why`)."""

    def folded(value: Any) -> Any:
        if isinstance(value, str):
            return value.casefold()
        return {v.casefold() if isinstance(v, str) else v for v in value} if isinstance(value, set) else value

    return lambda given, expected: (
        f"right but for the letter case: {why}" if folded(given) == folded(expected) else None
    )


@dataclass(frozen=True)
class Exercise:
    question: str
    expected: Callable[[Any], Any]  # lab (may be None) → the right answer, normalised
    normalise: Callable[[Any], Any]
    hint: str  # guides towards the answer without stating it
    # Other answers that are right too, each with what the learner should know about it.
    also_right: dict[Any, str] = field(default_factory=dict)
    needs_lab: bool = False  # the right answer is read from the learner's lab run (passed to check_answer)
    # Right answers read from the learner's run besides `expected`'s, each with its note.
    also_right_in_run: Callable[[Any], dict[Any, str]] | None = None
    # Wrong answers that deserve more than the hint: each reads (given, expected), both
    # normalised, and says what is wrong, or None when it is not that near miss.
    near_misses: tuple[Callable[[Any, Any], str | None], ...] = ()


CLAIM_NAMES_ARE_CASE_SENSITIVE = "JWT claim names are case-sensitive (RFC 7519 §10.1.1) and compared as exact strings (§7.3), so this is another claim."


EXERCISES: dict[str, Exercise] = {
    "01-prm-url": Exercise(
        "Which URL did the client fetch in step 2 to get the Protected Resource Metadata?",
        _prm_url_fetched,
        url,
        "Look at the 401's WWW-Authenticate header: one of its parameters names a URL, and the header's URL "
        "wins over any URL the client could build itself (MCP §4.2).",
        needs_lab=True,
    ),
    "01-tenant-as-urls": Exercise(
        "An issuer has a path: https://auth.example.com/tenant1. List the AS metadata URLs a client tries, in order.",
        lambda lab: authorization_server_metadata_urls("https://auth.example.com/tenant1"),
        url_list,
        "Three URLs: two where the well-known part goes between the host and the path (RFC 8414 first), "
        "then one where it goes after the path (MCP §4.3).",
    ),
    "02-register-status": Exercise(
        "Which HTTP status code does a successful POST /register return?",
        lambda lab: 201,
        number,
        "Registration creates something on the server; which 2xx code says so (RFC 7591 §3.2.1)?",
    ),
    "02-records-after-three": Exercise(
        "After three DCR connections, how many registration records does the AS hold?",
        lambda lab: 3,
        number,
        "Does a new DCR client in this lab remember an id from an earlier connection? And count the "
        "registration from step 4 too.",
    ),
    "02-pkce-s256": Exercise(
        "Compute the S256 code_challenge of the client's code_verifier.",
        lambda where: _code_challenges_sent(where)[0],  # the lab's first: in notebook 02, `client`'s step 5
        text,
        "S256 is BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2): hashlib.sha256 over the verifier's "
        "bytes, then base64.urlsafe_b64encode, and the '=' padding removed (RFC 7636 Appendix A).",
        needs_lab=True,
        also_right_in_run=lambda where: {} if isinstance(where, LabClient) else _other_challenges(where),
    ),
    "03-mismatch-error": Exercise(
        "A document served at https://app.example/agent.json says its client_id is "
        "https://APP.example/agent.json. Which OAuth error code does the AS answer with?",
        lambda lab: "invalid_client",
        error_code,
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
        number,
        "Filter lab.trace for exchanges whose path is /register and whose step belongs to the CIMD run.",
    ),
    "04-differing-claims": Exercise(
        "Which claims differ between the DCR token and the CIMD token?",
        lambda lab: {"client_id", "jti"},
        name_set,
        "Compare the two decoded tokens claim by claim; one claim is the point of this notebook, "
        "and one more is unique for every token by design (RFC 7519 §4.1).",
        near_misses=(case_only(CLAIM_NAMES_ARE_CASE_SENSITIVE),),
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
        date,
        "Look at the PRM column of the timeline: the first revision that says yes.",
    ),
    "06-fallback-method": Exercise(
        "Against the DCR-only authorization server, which registration method did the modern client choose?",
        lambda lab: "dcr",
        _method,
        "Read step 4's reasons: CIMD was skipped (why?), so the next option in MCP §5's order was taken.",
    ),
    "06-mixup-stopped": Exercise(
        "In how many of the four mix-up runs was the attack stopped?",
        lambda lab: 1,
        lambda value: number(value, of=4),  # "1 of 4": the question's own total
        "The defence needs two things at once: a client that checks iss, and an honest AS that sends it.",
    ),
}


def check_answer(exercise: str, answer: Any, lab: Any = None) -> None:
    """Check a learner's answer; print ✅, ❌ with a hint, or ✏️ if no answer was given yet.
    `lab`: the run an answer is read from, for the exercises that need one; for 02-pkce-s256, the
    client whose code_verifier it is may be given instead. Returns nothing, so that the cell shows
    only the verdict. What a typed answer is read as: `lab_servers.answer_reading`."""
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
        right = all(given.get(k) == expected[k] for k in expected)
        extra = [k for k in given if k not in expected]
        for key in expected:
            say(f"{'✅' if given.get(key) == expected[key] else '❌'} ({key}) {given.get(key, '(no answer)')}")
        for key in extra:
            say(f"❌ ({key}) {given[key]}: the question has no ({key})")
        if right and extra:
            parts = ", ".join(f"({k})" for k in expected)
            say(f"❌ Not quite: answer only the question's parts, {parts}.")
        else:
            say("✅ All right!" if right else f"❌ Not quite. Hint: {spec.hint}")
        return right and not extra
    also_right = {**spec.also_right, **(spec.also_right_in_run(lab) if spec.also_right_in_run else {})}
    if isinstance(given, str) and given in also_right:
        say(f"✅ Right: {given}. {also_right[given]}")
        return True
    # A URL is compared exactly (RFC 9728 §3.3); one slash the learner added to a URL that has none
    # is forgiven, with a note, never one left off a URL that has it (that one may 404).
    slash = spec.normalise in (url, url_list) and slash_added(given, expected)
    if given != expected and not slash:
        why = next((w for w in (miss(given, expected) for miss in spec.near_misses) if w), None)
        say(f"❌ Not quite: {why}" if why else f"❌ Not quite. Hint: {spec.hint}")
        return False
    say(f"✅ Right: {_show(expected)}")
    if slash:
        say(
            "   Note: without the trailing slash. Where a URL is an identifier (a resource, an issuer, a "
            "client_id), a trailing slash makes a different string, and those are compared exactly (RFC 9728 §3.3)."
        )
    return True


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
