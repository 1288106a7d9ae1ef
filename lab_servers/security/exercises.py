"""Notebook 05's exercises and their self-checks.

Two predictions are checked by `notebook_support.check_answer` like every other notebook's
(their entries are added to its `EXERCISES` registry here); the third exercise is active: the
learner's document is run through the hardened authorization server, on the lab network.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import fields
from typing import Any

import httpx

from ..answer_reading import (
    hedged,
    identifier,
    identifier_parts,
    is_call,
    negated,
    top_level_clauses,
    without_prose_strings,
    word,
)
from ..authorization_server import HARDENED, ASPolicy
from ..client import ConsentPage
from ..lab import CLIENT_METADATA_URL, Lab, default_client_metadata
from ..notebook_support import EXERCISES, Exercise, verdicts
from ..views._html import shorten
from .cimd_rules import EVIL, REDIRECT_URI, json_response, valid_document
from .impersonation import what_the_user_sees
from .network_fixtures import ATTACKER_HOST, add_internal_network
from .requests import open_authorization, refusal
from .ssrf import run_dns_rebinding

CRAFTED_URL = f"{EVIL}/crafted.json"


_POLICY_FIELDS = [f.name for f in fields(ASPolicy)]
# The fields a policy switches on and off: `name` is its label ("hardened, not pinned").
_SWITCHES = frozenset(_POLICY_FIELDS) - {"name"}
# Beside code, words that say a switch does nothing ("… has no effect", "… changes nothing").
_SAYS_NONE = re.compile(r"\b(?:no|nothing|none|nobody|without)\b")


def _fields_in_code(typed: str) -> str:
    """The switches an answer typed as code names, wherever it names them (a call's keywords, a
    dict's keys, an attribute, a call of its own), sorted and joined by " and ": the learner's code
    may call what it likes (run_dns_rebinding, print, dataclasses.replace) and explain itself after
    a comma or a "#". The answer is its text if it hedges or asks anywhere, or negates in a clause
    naming a switch ("not HARDENED.but(…)", "HARDENED.but(not pin_vetted_address)")."""
    code = without_prose_strings(typed)
    if hedged(code) or "?" in code:
        return typed
    named: set[str] = set()
    for clause in top_level_clauses(code):
        switches = _SWITCHES.intersection(re.findall(r"\b[a-z_]\w*", clause))
        if switches and (negated(clause) or _SAYS_NONE.search(clause)):
            return typed
        named |= switches
    return " and ".join(sorted(named)) or typed


def _policy_field(value: Any) -> str:
    """The ASPolicy field named, as `identifier` reads it. Beside it, a part that cannot be a field
    (several words, none close to a field's name, no hedge) explains: "pin_vetted_address, because the
    connection looks the name up again", "pin_vetted_address and nothing else". Two fields, or a
    second part that may be one mistyped, are read as all the names given: no one field."""
    if isinstance(value, str) and is_call(word(value)):  # HARDENED.but(pin_vetted_address=False)
        return _fields_in_code(word(value))
    parts = identifier_parts(value)
    named = [name for _, name in parts if name in _POLICY_FIELDS]
    explaining = [
        typed
        for typed, name in parts
        if name not in _POLICY_FIELDS
        and len(re.split(r"[\s=:]+", typed.strip())) > 1
        and "_" not in typed
        and not hedged(typed)
        and not difflib.get_close_matches(name, _POLICY_FIELDS, 1)
    ]
    return named[0] if len(named) == 1 and len(named) + len(explaining) == len(parts) else identifier(value)


def _one_field(given: Any, expected: Any) -> str | None:
    """Two of ASPolicy's fields named: the question asks for one."""
    if isinstance(given, str) and sum(name in _POLICY_FIELDS for name in given.split(" and ")) > 1:
        return "name one field. The question asks which single field, switched off alone, lets the attack through."
    return None


EXERCISES.setdefault(
    "05-which-refused",
    Exercise(
        "Which does the hardened AS refuse? (a) client_id https://app.example:443/client.json, document says "
        "https://app.example/client.json; (b) a document using private_key_jwt with a jwks_uri; (c) a client_id "
        "whose host resolves to 100.64.0.7; (d) a flawless document on evil.example.",
        lambda lab: {"a": "refused", "b": "accepted", "c": "refused", "d": "accepted"},
        lambda value: verdicts(value, yes="refused"),  # "Which does it refuse?": yes, (a) is refused
        "For each one, find the rule in the rules table above that would name it, if any: the URL rules "
        "(how are ids compared?), the document rules (what may a public document hold?), the fetch rules "
        "(which address ranges are special-use?). No rule judges a client's intent.",
    ),
)
EXERCISES.setdefault(
    "05-rebinding-rule",
    Exercise(
        "Which single ASPolicy field, switched off in the hardened policy, lets the DNS rebinding attack reach the admin service?",
        lambda lab: "pin_vetted_address",
        _policy_field,
        "The check itself still runs; what matters is which address the connection then goes to.",
        near_misses=(_one_field,),
    ),
)


async def which_refused_observed(policy: ASPolicy = HARDENED) -> dict[str, tuple[str, str | None]]:
    """Exercise 1's four cases, run through `policy`'s AS: each one's verdict and the error
    description that names the rule which decided it (None when accepted)."""
    pkj_url = f"{EVIL}/pkj.json"
    cases = {
        # (a) the same document reached through an id with :443 (CIMD §3: ids are exact strings)
        "a": (
            CLIENT_METADATA_URL.replace("app.example", "app.example:443", 1),
            default_client_metadata()["redirect_uris"][0],
        ),
        "b": (pkj_url, REDIRECT_URI),  # (b) private_key_jwt with a jwks_uri (§8.2)
        "c": ("https://cgnat.evil.example/client.json", REDIRECT_URI),  # (c) a name resolving to 100.64.0.7
        "d": (f"{EVIL}/client.json", REDIRECT_URI),  # (d) a flawless document on the attacker's host
    }
    observed: dict[str, tuple[str, str | None]] = {}
    async with Lab(seed="exercise-05-which-refused", policy=policy) as lab:
        attacker = add_internal_network(lab).attacker
        attacker.publish("/client.json", valid_document())
        attacker.publish(
            "/pkj.json",
            valid_document(pkj_url, token_endpoint_auth_method="private_key_jwt", jwks_uri=f"{EVIL}/jwks.json"),
        )
        for case, (client_id, redirect_uri) in cases.items():
            refused = refusal(await open_authorization(lab, client_id, redirect_uri))
            observed[case] = ("refused", refused[1]) if refused else ("accepted", None)
    return observed


async def switches_that_let_rebinding_through() -> list[str]:
    """Every ASPolicy field that is on in the hardened policy and, switched off alone, lets the DNS
    rebinding name reach an internal service: Exercise 3's answer, found by running each one."""
    switches = [f.name for f in fields(ASPolicy) if getattr(HARDENED, f.name) is True]
    through = []
    for name in switches:
        result = await run_dns_rebinding(HARDENED.but(**{name: False}))
        if result.outcome == "rebinding reached an internal service":
            through.append(name)
    return through


async def check_crafted_document(document: dict[str, Any] | None) -> None:
    """Publish `document` at https://evil.example/crafted.json, open an authorization request for
    it under the hardened policy, and print what the AS said and what the user would read."""
    await crafted_document_accepted(document, say=print)


async def crafted_document_accepted(document: dict[str, Any] | None, say: Any = lambda *_: None) -> bool:
    """True when the hardened AS accepts `document` (the consent page is then the last defence)."""
    if document is None:
        say("✏️  Write a document in my_document (its client_id must be " + CRAFTED_URL + "), then run this cell again.")
        return False
    try:
        served = json_response(document)
    except (TypeError, ValueError) as error:  # a set where a list was meant, bytes, a date…
        say(f"❌ my_document cannot be written as JSON: {error}.")
        say(
            "   A client metadata document is a JSON object (CIMD §4): dicts, lists [...], strings, numbers, True/False/None."
        )
        return False
    except RecursionError:  # json.dumps of a dict nested thousands deep (check_answer's answers alike)
        say("❌ my_document is nested deeper than Python's json module can write.")
        say(
            "   A client metadata document is a JSON object of a few fields (CIMD §4); the deepest, jwks, nests 3 levels."
        )
        return False
    redirects = document.get("redirect_uris") if isinstance(document, dict) else None
    redirect = (
        redirects[0]
        if isinstance(redirects, list) and redirects and isinstance(redirects[0], str)
        else f"{EVIL}/callback"
    )
    async with Lab(seed="exercise-05", policy=HARDENED) as lab:
        add_internal_network(lab).attacker.publish_response("/crafted.json", served)
        try:
            page = await open_authorization(lab, CRAFTED_URL, redirect)
        except (httpx.InvalidURL, UnicodeError) as error:  # too long for a URL, or a lone surrogate
            say(
                f"❌ The browser cannot even send an authorization request with redirect_uri {shorten(repr(redirect), 80)}: {error}."
            )
            say(
                "   A redirect URI is a URL the browser is sent to (RFC 3986 §2): printable ASCII, of a sensible length."
            )
            return False
    refused = refusal(page)
    if refused or not isinstance(page, ConsentPage):
        say(f"❌ The hardened AS refused it: {refused[1] if refused else page}")
        say("   Fix the rule it names and try again.")
        return False
    say("✅ The hardened AS accepted it: every rule passed.")
    say(f"   The user reads: {what_the_user_sees(page)}")
    say(f"   What should make a user refuse: the client is vouched for by {ATTACKER_HOST}, whatever it calls itself.")
    return True
