"""Notebook 07's exercises and their self-checks (added to `notebook_support.EXERCISES`)."""

from __future__ import annotations

import re
from typing import Any

from .answer_reading import claims_named, error_code, glosses, glosses_offer_another, name_set, text, without_full_stop
from .notebook_support import CLAIM_NAMES_ARE_CASE_SENSITIVE, EXERCISES, Exercise, case_only, verdicts


def _scope_set(value: Any) -> set[str]:
    """notes:read notes:write, typed as a set, a list, one string, "scope=…" or "a, b and c". Not
    lowercased: scope values are case-sensitive strings (RFC 6749 §3.3), so NOTES:READ is another scope.
    A gloss naming another scope ("(or notes:delete)", any word with a colon) hedges."""
    if isinstance(value, str):
        value = re.sub(r"^scopes?\s*[=:]?\s*", "", text(value), flags=re.IGNORECASE)
    return name_set(value, lambda gloss: set(re.findall(r"[^\s,()]+:[^\s,()]+", gloss)))


def _claim(value: Any) -> str:
    """aud, typed as "the aud claim", "aud (audience)", "audience", with quotes or backticks, or with a
    full stop. Not lowercased:
    claim names are case-sensitive (RFC 7519 §10.1.1), so AUD is another claim. A gloss naming
    another claim or hedging ("aud (I mean iss)") makes the answer its text."""
    typed, found = glosses(without_full_stop(text(value)))
    words = [text(w) for w in typed.split() if w.lower() not in ("the", "claim")]
    name = " ".join(words)
    name = "aud" if name.lower() == "audience" else name
    return text(value) if glosses_offer_another(found, {name, name.lower()}, claims_named) else name


EXERCISES.setdefault(
    "07-refresh-reuse",
    Exercise(
        "The client refreshed, so its first refresh token was rotated out. Someone replays that old refresh token. "
        "Which OAuth error code does the AS answer with?",
        lambda lab: "invalid_grant",
        error_code,
        "The refresh token is the grant the client presents; which RFC 6749 §5.2 code says a grant is invalid, "
        "expired or revoked?",
    ),
)
EXERCISES.setdefault(
    "07-step-up-union",
    Exercise(
        "The client had asked for notes:read notes:export; add_note is refused with 403 naming only this "
        "operation's scopes, notes:read notes:write (MCP 2026-07-28). Which scopes does the client ask for in the "
        "step-up authorization?",
        lambda lab: {"notes:export", "notes:read", "notes:write"},
        _scope_set,
        "SEP-2350: the new request is the union of what the client asked for before and what the challenge names; "
        "the challenge alone would drop one.",
        near_misses=(case_only("scope values are case-sensitive strings (RFC 6749 §3.3), so these are other scopes."),),
    ),
)
EXERCISES.setdefault(
    "07-revoked-jwt",
    Exercise(
        "The access token was revoked at the AS a moment ago. Does (a) the MCP server that checks JWTs locally and "
        "(b) the MCP server that introspects accept it?",
        lambda lab: {"a": "accepted", "b": "refused"},
        lambda value: verdicts(value, yes="accepted"),  # "Does (a) … accept it?": yes, it is accepted
        "Which of the two ever asks the AS about this token? A signature and an exp do not change when the AS "
        "writes something in its own denylist.",
    ),
)
EXERCISES.setdefault(
    "07-passthrough-claim",
    Exercise(
        "The MCP server forwards the user's token to api.example.com. Which claim makes the API refuse it?",
        lambda lab: "aud",
        _claim,
        "The token is genuine, signed by the right AS, unexpired: but whom was it minted for (RFC 8707)?",
        near_misses=(case_only(CLAIM_NAMES_ARE_CASE_SENSITIVE),),
    ),
)
EXERCISES.setdefault(
    "07-exchange-error",
    Exercise(
        "The MCP server asks the AS to exchange the user's token for one at https://evil.example/. Which error code "
        "does the AS answer with?",
        lambda lab: "invalid_target",
        error_code,
        "RFC 8693 §2.2.2 adds one error code of its own for a resource or audience the AS will not issue for.",
    ),
)
EXERCISES.setdefault(
    "07-id-jag-replay",
    Exercise(
        "The client presents the same ID-JAG to the AS a second time. Which OAuth error code does the AS answer with?",
        lambda lab: "invalid_grant",
        error_code,
        "RFC 7523 §3.1 names one error code for every assertion the AS will not accept; the jti check is one of its rules.",
    ),
)
EXERCISES.setdefault(
    "07-client-credentials-public",
    Exercise(
        "The nightly job's document is republished without keys (token_endpoint_auth_method: none, a public "
        "client), and the job asks for a token again with its signed assertion. Which OAuth error code does the AS "
        "answer with?",
        lambda lab: "invalid_client",
        error_code,
        "The assertion is how the client authenticates; which RFC 6749 §5.2 code says client authentication failed?",
    ),
)
