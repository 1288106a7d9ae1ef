"""Small helpers for the notebooks: exercise self-checks and showing a step that fails.

Everything here prints plain, deterministic text (no addresses, paths or timings), so that the
notebooks' stored outputs can be compared strictly by nbval.

    from lab_servers.notebook_support import check_answer, expect_failure, is_correct
    check_answer("01-prm-url", my_answer, lab)      # prints ✅, ❌ (with a hint) or ✏️
    is_correct("01-prm-url", my_answer, lab)        # True or False, printing nothing
    error = await expect_failure(client.authorize())  # prints ⛔ step 5 (authorize): …
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .client import StepError
from .client.discovery import authorization_server_metadata_urls, protected_resource_metadata_urls

__all__ = ["EXERCISES", "Exercise", "check_answer", "expect_failure", "is_correct"]


def _text(value: Any) -> str:
    return str(value).strip().strip("'\"").strip()


def _word(value: Any) -> str:
    return _text(value).lower()


def _url_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split()
    return [_text(v) for v in value]


def _word_set(value: Any) -> set[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return {_word(v) for v in value}


def _choices(value: Any) -> dict[str, str]:
    return {str(k).lower(): _word(v).replace("-", "").replace(" ", "") for k, v in dict(value).items()}


def _prm_url_fetched(lab: Any) -> str:
    fetched = [e.url for e in lab.trace if e.step == "resource-metadata" and e.method == "GET"]
    return fetched[0] if fetched else protected_resource_metadata_urls(lab.mcp_url, None)[0].url


@dataclass(frozen=True)
class Exercise:
    question: str
    expected: Callable[[Any], Any]  # lab (may be None) → the right answer, normalised
    normalise: Callable[[Any], Any]
    hint: str


EXERCISES: dict[str, Exercise] = {
    "01-prm-url": Exercise(
        "Which URL did the client fetch in step 2 to get the Protected Resource Metadata?",
        _prm_url_fetched,
        _text,
        "Look at the 401's WWW-Authenticate header: its resource_metadata parameter names the URL, "
        "and the client fetches exactly that (MCP §4.2).",
    ),
    "01-tenant-as-urls": Exercise(
        "An issuer has a path: https://auth.example.com/tenant1. List the AS metadata URLs a client tries, in order.",
        lambda lab: authorization_server_metadata_urls("https://auth.example.com/tenant1"),
        _url_list,
        "Three URLs: RFC 8414 path insertion, OpenID path insertion, then OpenID path appending (MCP §4.3).",
    ),
    "02-register-status": Exercise(
        "Which HTTP status code does a successful POST /register return?",
        lambda lab: 201,
        lambda v: int(_text(v)) if _text(v).isdigit() else _text(v),
        "Registration creates something on the server (RFC 7591 §3.2.1).",
    ),
    "02-records-after-three": Exercise(
        "After three DCR connections, how many registration records does the AS hold?",
        lambda lab: 3,
        lambda v: int(_text(v)) if _text(v).isdigit() else _text(v),
        "Each DCR connection in this lab starts as a new client with no stored credentials, so each one registers.",
    ),
    "03-mismatch-error": Exercise(
        "A document served at https://app.example/agent.json says its client_id is "
        "https://APP.example/agent.json. Which OAuth error code does the AS answer with?",
        lambda lab: "invalid_client",
        _word,
        "The AS compares the two strings exactly, without normalising case (CIMD §4.1); "
        "a document that fails validation makes the client unusable, which OAuth calls…",
    ),
    "03-register-requests": Exercise(
        "How many POST /register requests did the CIMD connection make?",
        lambda lab: 0,
        lambda v: int(_text(v)) if _text(v).isdigit() else _text(v),
        "Filter lab.trace for exchanges whose path is /register and whose step belongs to the CIMD run.",
    ),
    "04-differing-claims": Exercise(
        "Which claims differ between the DCR token and the CIMD token?",
        lambda lab: {"client_id", "jti"},
        _word_set,
        "Compare the two decoded tokens claim by claim; one claim is the point of this notebook, "
        "the other is unique for every token by design (RFC 7519 §4.1.7).",
    ),
    "04-best-fit": Exercise(
        "For each scenario, which way of getting a client_id fits best: 'cimd', 'dcr' or 'preregistered'?",
        lambda lab: {"a": "cimd", "b": "dcr", "c": "preregistered"},
        _choices,
        "(a) a client nobody has met before: it should bring its own identity; "
        "(b) the AS offers no CIMD, and the client can keep credentials per AS; "
        "(c) both sides are run by the same people, configured once.",
    ),
}


def check_answer(exercise: str, answer: Any, lab: Any = None) -> None:
    """Check a learner's answer; print ✅, ❌ with a hint, or ✏️ if no answer was given yet.
    Returns nothing, so that the cell shows only the verdict."""
    _check(exercise, answer, lab, quiet=False)


def is_correct(exercise: str, answer: Any, lab: Any = None) -> bool:
    """The same check, silent: for tests and the notebooks' sanity checks."""
    return _check(exercise, answer, lab, quiet=True)


def _check(exercise: str, answer: Any, lab: Any, *, quiet: bool) -> bool:
    spec = EXERCISES[exercise]
    if answer is None or answer is ... or (isinstance(answer, dict) and all(v is None for v in answer.values())):
        if not quiet:
            print(f"✏️  {exercise}: replace None with your answer, then run this cell again.")
        return False
    expected = spec.normalise(spec.expected(lab))
    try:
        given = spec.normalise(answer)
    except (TypeError, ValueError):
        given = answer
    if isinstance(expected, dict) and isinstance(given, dict):
        right = [k for k in expected if given.get(k) == expected[k]]
        ok = len(right) == len(expected) and set(given) == set(expected)
        if not quiet:
            for key in expected:
                mark = "✅" if given.get(key) == expected[key] else "❌"
                print(f"{mark} ({key}) {given.get(key, '(no answer)')}")
            print(f"{'✅ All right!' if ok else '❌ Not quite. Hint: ' + spec.hint}")
        return ok
    ok = given == expected
    if not quiet:
        print(f"✅ Right: {_show(expected)}" if ok else f"❌ Not quite. Hint: {spec.hint}")
    return ok


def _show(value: Any) -> str:
    if isinstance(value, set):
        return ", ".join(sorted(value))
    if isinstance(value, list):
        return "\n   " + "\n   ".join(value)
    return str(value)


async def expect_failure(step: Awaitable[Any]) -> StepError | None:
    """Run a handshake step that is expected to fail and print which step failed and why,
    instead of a traceback. Returns the `StepError` (or None, after saying so, if it succeeded)."""
    try:
        await step
    except StepError as error:
        print(f"⛔ {error}")
        return error
    print("The step succeeded: nothing failed.")
    return None
