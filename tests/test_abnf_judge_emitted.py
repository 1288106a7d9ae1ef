"""An outside judge of what the lab SENDS: the `abnf` package parses every value of the exchanges
`test_emitted_grammar` and `test_served_emitted_grammar` make (the handshakes of every revision,
notebook 07's story, the refusal lists with their hostile values, the served lab over TLS) with
the rule its RFC writes for it (`abnf_emitted`): the response fields, the Bearer challenge's
attributes, the authorization response's parameters, the OAuth members of every JSON answer, and,
in the handshakes and the story, what the lab's own clients send.

Every value a rule refuses fails, unless `ALLOWED` names it with the RFC's words that make the
lab's value right (where the package's grammar and the RFC's text disagree, the RFC's text wins).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import pytest

from lab_servers import Lab
from lab_servers.trace import Exchange

from . import test_emitted_grammar as grammar
from .abnf_emitted import FIELDS, RULES, verdicts
from .test_httplint_judge import REFUSALS
from .test_served_emitted_grammar import as_exchange, served_exchanges

pytestmark = pytest.mark.anyio

# The start of a verdict ("response www-authenticate 'Basic ...") -> why the lab's value is right all
# the same, with the RFC's words. Nothing else passes; today nothing needs to. (The one difference
# between an RFC's text and the package is not the lab's: CSP Level 3 §2.3 writes a range as
# "%x21-%x2B", which RFC 5234 does not, and `abnf_rules.CSP3` writes it as RFC 5234 does.)
ALLOWED: dict[str, str] = {}


def judged(exchanges: Iterable[Exchange], *, requests: bool) -> tuple[list[str], set[str]]:
    found, read = set(), set()
    for exchange in exchanges:
        verdict = verdicts(exchange, requests=requests)
        kept = [p for p in verdict.found if not p.startswith(tuple(ALLOWED))]
        found |= {f"{exchange.method} {exchange.url[:120]} -> {exchange.status}: {p}" for p in kept}
        read |= set(verdict.judged)
    return sorted(found), read


class Abnf:
    """Stands in for `assert_as_the_specs_write_it`: the same exchanges, the ABNF's verdict."""

    def __init__(self, *, requests: bool) -> None:
        self.requests = requests  # the refusal lists send malformed requests on purpose

    def __call__(self, lab: Lab, exchanges: Iterable[Exchange]) -> None:
        found, read = judged(exchanges, requests=self.requests)
        assert not found, "\n".join(found)
        assert {"response date", "response content-length"} <= read, read  # it read the answers


@pytest.fixture
def judged_by_abnf(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    return lambda requests: monkeypatch.setattr(grammar, "assert_as_the_specs_write_it", Abnf(requests=requests))


@pytest.mark.parametrize(("revision", "method"), grammar.HANDSHAKES)
async def test_every_value_sent_in_a_handshake_is_in_its_rfcs_grammar(
    revision: str, method: str, judged_by_abnf: Callable[[bool], None]
) -> None:
    judged_by_abnf(True)
    await grammar.test_every_answer_in_a_handshake_is_as_the_specs_write_it(revision, method)


async def test_every_value_sent_in_the_complete_story_is_in_its_rfcs_grammar(
    lab: Lab, judged_by_abnf: Callable[[bool], None]
) -> None:
    judged_by_abnf(True)
    await grammar.test_every_answer_in_the_complete_story_is_as_the_specs_write_it(lab)


@pytest.mark.parametrize("refusals", REFUSALS, ids=lambda f: f.__name__.removeprefix("test_"))
async def test_every_value_in_the_refusals_is_in_its_rfcs_grammar(
    lab: Lab, refusals: Callable[[Lab], Awaitable[None]], judged_by_abnf: Callable[[bool], None]
) -> None:
    judged_by_abnf(False)
    await refusals(lab)


@pytest.mark.parametrize("dcr", ["initial_access_token", "closed", "removed"])
async def test_every_value_a_registration_endpoint_that_is_not_open_sends_is_in_its_rfcs_grammar(
    dcr: str, judged_by_abnf: Callable[[bool], None]
) -> None:
    judged_by_abnf(False)
    await grammar.test_every_refusal_of_a_registration_endpoint_that_is_not_open_is_as_the_specs_write_it(dcr)


async def test_every_value_the_served_lab_sends_is_in_its_rfcs_grammar(tmp_path: Path) -> None:
    # The apps' side (the served trace) and the answers as the client read them off the socket,
    # with what uvicorn and the socket layer add: Date, Server, the CORS fields, the 414 and 431.
    _, traced, answers = await served_exchanges(tmp_path)
    found, read = judged([*traced, *map(as_exchange, answers)], requests=False)
    assert not found, "\n".join(found)
    assert {"response access-control-allow-origin", "response server", "response www-authenticate"} <= read, read


def answer(status: int, headers: list[tuple[str, str]], body: object = "", *, url: str = "https://auth.example.com/token",
           method: str = "POST", request_headers: tuple[tuple[str, str], ...] = (), request: str = "") -> Exchange:  # fmt: skip
    text = body if isinstance(body, str) else json.dumps(body)
    return Exchange(0, None, "test", "h", None, method, url, request_headers, request, status, tuple(headers), text)


JSON = ("content-type", "application/json")
FORM = (("content-type", "application/x-www-form-urlencoded"),)
AUTHORIZE = "https://auth.example.com/authorize?state=s"
BROKEN = [
    ("a Date in RFC 850's form", answer(200, [("date", "Saturday, 05-Dec-26 00:00:00 GMT")]), "IMF-fixdate"),
    ("a Date with two spaces", answer(200, [("date", "Sat,  05 Dec 2026 00:00:00 GMT")]), "IMF-fixdate"),
    ("a Cache-Control with a space in a token", answer(200, [("cache-control", "no store")]), "Cache-Control"),
    ("a challenge with a quote unescaped", answer(401, [("www-authenticate", 'Bearer error="a"b"')]), "WWW-Authenticate"),
    ("a challenge with a comma for a scheme", answer(401, [("www-authenticate", ', Bearer error="x"')]), "WWW-Authenticate"),
    ("a Bearer description with a quote", answer(401, [("www-authenticate", r'Bearer error="invalid_token", error_description="a\"b"')]), "A.8 error-description"),
    ("an empty Bearer description", answer(401, [("www-authenticate", 'Bearer error="invalid_token", error_description=""')]), "A.8 error-description"),
    ("a Bearer scope with a tab", answer(401, [("www-authenticate", 'Bearer scope="a\tb"')]), "A.4 scope"),
    ("a relative resource_metadata", answer(401, [("www-authenticate", 'Bearer resource_metadata="/prm"')]), "§3 URI"),
    ("a Location with a space", answer(302, [("location", "https://app.example/cb?code=a b")], method="GET", url=AUTHORIZE), "Location"),
    ("a Content-Length with a sign", answer(200, [("content-length", "+2")]), "Content-Length"),
    ("a Vary of a quoted name", answer(200, [("vary", '"Origin"')]), "Vary"),
    ("an Allow with a slash", answer(405, [("allow", "GET/POST")]), "Allow"),
    ("a Retry-After in minutes", answer(429, [("retry-after", "1.5")]), "Retry-After"),
    ("a Pragma of nothing", answer(200, [("pragma", "")]), "Pragma"),
    ("a Content-Type with no subtype", answer(200, [("content-type", "application")]), "Content-Type"),
    ("a CORS origin with a path", answer(200, [("access-control-allow-origin", "https://a.example/")]), "Access-Control-Allow-Origin"),
    ("a CSP directive with a comma", answer(200, [("content-security-policy", "frame-ancestors a,,b")]), "CSP Level 3"),
    ("a session id with a space", answer(200, [("mcp-session-id", "a b")]), "Mcp-Session-Id"),
    ("a field value with a trailing space", answer(200, [("x-a", "b ")]), "§5.5 field-value"),
    ("an error with a quote", answer(400, [JSON], {"error": 'a"b'}), "A.7 error"),
    ("an empty error_description", answer(400, [JSON], {"error": "invalid_request", "error_description": ""}), "A.8"),
    ("an access token with a newline", answer(200, [JSON], {"access_token": "a\nb", "token_type": "Bearer"}), "A.12"),
    ("a token type with a space", answer(200, [JSON], {"access_token": "a", "token_type": "Bear er"}), "A.13"),
    ("expires_in negative", answer(200, [JSON], {"access_token": "a", "token_type": "Bearer", "expires_in": -1}), "A.14"),
    ("a scope with two spaces", answer(200, [JSON], {"access_token": "a", "token_type": "Bearer", "scope": "a  b"}), "A.4 scope"),
    ("a client_id with non-ASCII", answer(201, [JSON], {"client_id": "caf\u00e9"}, url="https://auth.example.com/register"), "A.1"),
    ("a CIMD client_id over http", answer(200, [JSON], {"client_id": "http://app.example/c.json"}, method="GET", url="https://app.example/c.json"), "https-URI"),
    ("a relative redirect URI", answer(201, [JSON], {"client_id": "c", "redirect_uris": ["/cb"]}, url="https://auth.example.com/register"), "absolute-URI"),
    ("an issuer over http", answer(200, [JSON], {"issuer": "http://auth.example.com"}, method="GET", url="https://auth.example.com/.well-known/oauth-authorization-server"), "https-URI"),
    ("a redirect's state with a tab", answer(302, [("location", "https://app.example/cb?code=c&state=a%09b")], method="GET", url=AUTHORIZE), "A.5 state"),
    ("a redirect's empty code", answer(302, [("location", "https://app.example/cb?code=&state=s")], method="GET", url=AUTHORIZE), "A.11 code"),
    ("a Bearer credential with a space", answer(200, [], request_headers=(("authorization", "Bearer a b"),)), "RFC 6750 §2.1"),
    ("a Basic credential not Base64", answer(200, [], request_headers=(("authorization", "Basic a*b"),)), "RFC 9110 §11.4"),
    ("a Basic user-id with a CTL", answer(200, [], request_headers=(("authorization", "Basic YQE6Yg=="),)), "no CTL"),
    ("a code verifier of 42", answer(200, [], request_headers=FORM, request="grant_type=authorization_code&code_verifier=" + "a" * 42), "RFC 7636 §4.1"),
    ("a code challenge with +", answer(200, [], method="GET", url="https://auth.example.com/authorize?code_challenge=" + "a%2B" * 43), "RFC 7636 §4.2"),
    ("a form with a raw space", answer(200, [], request_headers=FORM, request="scope=a b"), "§3.4 query"),
    ("a relative resource", answer(200, [], request_headers=FORM, request="resource=%2Fmcp"), "absolute-URI"),
]  # fmt: skip


@pytest.mark.parametrize(("exchange", "rule"), [pytest.param(e, r, id=name) for name, e, r in BROKEN])
def test_a_value_outside_its_rfcs_grammar_is_found_out(exchange: Exchange, rule: str) -> None:
    # Without these, a sweep that finds nothing could be a sweep that reads nothing.
    found = verdicts(exchange, requests=True).found
    assert any(rule in p for p in found), found


def test_the_values_the_lab_writes_pass() -> None:
    kept = answer(
        401,
        [("date", "Sat, 05 Dec 2026 00:00:00 GMT"), ("cache-control", "no-store"), ("pragma", "no-cache"),
         ("www-authenticate", 'Bearer error="invalid_token", error_description="a (b)", scope="x y", '
          'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"'),
         ("content-type", "application/json"), ("vary", "Origin"), ("x-frame-options", "DENY"),
         ("content-security-policy", "frame-ancestors 'none'")],
        {"error": "invalid_token", "error_description": "it expired"},
        request_headers=(("authorization", "Basic YTpi"), *FORM),
        request="grant_type=authorization_code&code_verifier=" + "a" * 43 + "&resource=https%3A%2F%2Fmcp.example.com%2Fmcp",
    )  # fmt: skip
    assert verdicts(kept, requests=True).found == []


def test_every_rule_named_is_loaded_and_the_allow_list_names_only_what_is_judged() -> None:
    # A rule the package lost, or an allow-list entry no judge reads, would hide nothing and mislead.
    for parser, _ in RULES.values():
        assert parser.definition is not None
    assert set(FIELDS.values()) <= set(RULES)
    assert all(start.startswith(("response ", "request ", "redirect ", "Bearer ", "Basic ")) for start in ALLOWED)
