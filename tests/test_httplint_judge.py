"""An outside judge of what the lab's servers send: httplint (Mark Nottingham's HTTP message linter,
the engine behind REDbot) reads every response of the exchanges `test_emitted_grammar` and
`test_served_emitted_grammar` make (the handshakes of every revision, notebook 07's story, the
refusal lists with their hostile values, and the served lab's answers over TLS), each with the
request it answers, and the lab client's own requests in the handshakes and the story.

Every note at level BAD fails, and every WARN unless `ALLOWED` names it with the spec that makes
the lab's answer right; INFO and GOOD notes are read and left alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import pytest
from httplint import HttpRequestLinter, HttpResponseLinter, Note, levels

from lab_servers import Lab
from lab_servers.trace import Exchange

from . import test_emitted_grammar as grammar
from .test_served_emitted_grammar import as_exchange, served_exchanges

pytestmark = pytest.mark.anyio

# (note, the field it names or "") -> why the lab's answer is right all the same. Nothing else passes.
ALLOWED = {
    ("REQUEST_HDR_IN_RESPONSE", "Pragma"): "RFC 6749 §5.1: an answer with tokens, credentials or other "
    "sensitive information carries Pragma: no-cache beside Cache-Control: no-store (so do §5.2's and "
    "RFC 7591 §3.2.1's examples); the AS and IdP send the pair",
    ("REQUEST_HDR_IN_RESPONSE", "Accept"): "RFC 9110 §15.5.16: a 415 for a media type can name those "
    "it takes in the Accept response header field (§12.5.1)",
    ("REQUEST_HDR_IN_RESPONSE", "Accept-Encoding"): "RFC 9110 §12.5.3: a 415 for a content coding ought "
    "to carry Accept-Encoding, naming the codings it takes",
    ("CREATED_WITHOUT_LOCATION", ""): "RFC 7591 §3.2.1: the registration answer is a 201 with the "
    "client's information in its body; RFC 9110 §15.3.2 makes Location optional",
    ("FRESHNESS_HEURISTIC", ""): "advice, not a rule: RFC 9111 §4.2.2 lets a cache give a 200 with "
    "no explicit expiry a heuristic lifetime; metadata and keys may be cached, answers to an "
    "Authorization stay out of shared caches (RFC 9111 §3.5)",
    ("STATUS_BAD_REQUEST", ""): "a note on the request, not the answer: the refusal lists send "
    "malformed requests on purpose, and RFC 9110 §15.5.1 and RFC 6749 §5.2 answer them 400",
    ("STATUS_URI_TOO_LONG", ""): "a note on the request, not the answer: the served list sends a "
    "20 000-character target on purpose, and RFC 9110 §15.5.15 answers it 414",
}


def notes(linter: HttpRequestLinter | HttpResponseLinter) -> Iterable[Note]:
    pending = list(linter.notes)
    while pending:
        note = pending.pop()
        pending += note.subnotes
        yield note


def lint(exchange: Exchange, now: float | None) -> tuple[HttpRequestLinter, HttpResponseLinter]:
    """The request and its answer, each fed to httplint as it would read them off the wire."""
    # What the trace could not keep whole (cut at its limit, or not UTF-8) is no content to judge:
    # its Content-Length and type are `emitted_http`'s to check, as the trace holds more than was sent.
    cut = ("[truncated:", "[the reader closed", "\ufffd")
    request = HttpRequestLinter(start_time=now, no_content=any(c in exchange.request_body for c in cut))
    request.process_request_topline(exchange.method.encode(), exchange.url.encode(), b"HTTP/1.1")
    request.process_headers([(name.encode(), value.encode()) for name, value in exchange.request_headers])
    request.feed_content(exchange.request_body.encode())
    request.finish_content(True)
    response = HttpResponseLinter(start_time=now, no_content=any(c in exchange.response_body for c in cut))
    response.request, request.response = request, response
    response.is_head_response = exchange.method == "HEAD"
    response.base_uri = exchange.url
    response.process_response_topline(b"HTTP/1.1", str(exchange.status).encode())
    response.process_headers([(name.encode(), value.encode()) for name, value in exchange.response_headers])
    response.feed_content(exchange.response_body.encode())
    response.finish_content(True)
    return request, response


def allowed(note: Note, exchange: Exchange) -> bool:
    key = (type(note).__name__, note.vars.get("field_name", ""))
    if key == ("REQUEST_HDR_IN_RESPONSE", "Pragma"):
        # RFC 6749 §5.1's pair, and only the pair: a Pragma without no-store is no answer of its.
        return any(n.lower() == "cache-control" and "no-store" in v for n, v in exchange.response_headers)
    return key in ALLOWED


def verdicts(exchange: Exchange, now: float | None, *, requests: bool) -> list[str]:
    request, response = lint(exchange, now)
    judged = [("response", note) for note in notes(response)]
    judged += [("request", note) for note in notes(request)] if requests else []
    return [
        f"{exchange.method} {exchange.url[:120]} -> {exchange.status}: {kind} {note.level.name} "
        f"{type(note).__name__}: {note.summary}"
        for kind, note in judged
        if note.level in (levels.BAD, levels.WARN) and not allowed(note, exchange)
    ]


class Httplint:
    """Stands in for `assert_as_the_specs_write_it`: the same exchanges, httplint's verdict."""

    def __init__(self, *, requests: bool) -> None:
        self.requests = requests  # the refusal lists send malformed requests on purpose

    def __call__(self, lab: Lab, exchanges: Iterable[Exchange]) -> None:
        # In process each answer's Date is the lab clock's, so httplint reads it against `at`.
        found = sorted(
            {v for e in exchanges if e.status is not None for v in verdicts(e, e.at, requests=self.requests)}
        )
        assert not found, "\n".join(found)


@pytest.fixture
def judged_by_httplint(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    return lambda requests: monkeypatch.setattr(grammar, "assert_as_the_specs_write_it", Httplint(requests=requests))


@pytest.mark.parametrize(("revision", "method"), grammar.HANDSHAKES)
async def test_httplint_finds_nothing_wrong_in_a_handshake(
    revision: str, method: str, judged_by_httplint: Callable[[bool], None]
) -> None:
    judged_by_httplint(True)
    await grammar.test_every_answer_in_a_handshake_is_as_the_specs_write_it(revision, method)


async def test_httplint_finds_nothing_wrong_in_the_complete_story(
    lab: Lab, judged_by_httplint: Callable[[bool], None]
) -> None:
    judged_by_httplint(True)
    await grammar.test_every_answer_in_the_complete_story_is_as_the_specs_write_it(lab)


REFUSALS: list[Callable[[Lab], Awaitable[None]]] = [
    grammar.test_every_refusal_of_the_mcp_server_and_the_downstream_api_is_as_the_specs_write_it,
    grammar.test_every_refusal_of_the_authorization_server_is_as_the_specs_write_it,
    grammar.test_every_refusal_of_the_identity_provider_and_the_metadata_host_is_as_the_specs_write_it,
    grammar.test_a_redirect_uri_with_a_query_keeps_it_and_every_redirect_to_it_is_a_uri,
    grammar.test_every_refusal_after_the_handshake_is_as_the_specs_write_it,
]


@pytest.mark.parametrize("refusals", REFUSALS, ids=lambda f: f.__name__.removeprefix("test_"))
async def test_httplint_finds_nothing_wrong_in_the_refusals(
    lab: Lab, refusals: Callable[[Lab], Awaitable[None]], judged_by_httplint: Callable[[bool], None]
) -> None:
    judged_by_httplint(False)
    await refusals(lab)


@pytest.mark.parametrize("dcr", ["initial_access_token", "closed", "removed"])
async def test_httplint_finds_nothing_wrong_in_a_registration_endpoint_that_is_not_open(
    dcr: str, judged_by_httplint: Callable[[bool], None]
) -> None:
    judged_by_httplint(False)
    await grammar.test_every_refusal_of_a_registration_endpoint_that_is_not_open_is_as_the_specs_write_it(dcr)


async def test_httplint_finds_nothing_wrong_in_the_served_labs_answers(tmp_path: Path) -> None:
    # The answers as the client read them off the socket, with what uvicorn adds (Date) and takes
    # away (a HEAD's content). The served trace is the apps' side, before uvicorn: the same apps
    # judged in process above. Served, the clock is the machine's; `emitted_http` checks the Date.
    _, _, answers = await served_exchanges(tmp_path)
    found = sorted({v for answer in answers for v in verdicts(as_exchange(answer), None, requests=False)})
    assert not found, "\n".join(found)


def test_httplint_fails_an_answer_that_breaks_http_and_passes_what_the_allow_list_names() -> None:
    # The judge is wired: a Content-Length that is not the content's (RFC 9110 §8.6) is BAD, and
    # RFC 6749 §5.1's Pragma beside no-store passes only because `ALLOWED` names it.
    def answer(*headers: tuple[str, str]) -> Exchange:
        return Exchange(
            seq=0, step=None, caller="client", host="auth.example.com", address=None, method="POST",
            url="https://auth.example.com/token", request_headers=(("user-agent", "lab"),), request_body="",
            status=400, response_headers=(("date", "Sat, 05 Dec 2026 00:00:00 GMT"), ("content-type", "application/json"), *headers),
            response_body="{}",
        )  # fmt: skip

    now = 1_796_428_800.0  # the Date above
    (broken,) = verdicts(answer(("content-length", "5")), now, requests=True)
    assert "response BAD CL_INCORRECT" in broken
    kept = answer(("content-length", "2"), ("cache-control", "no-store"), ("pragma", "no-cache"))
    assert verdicts(kept, now, requests=True) == []
    (alone,) = verdicts(answer(("content-length", "2"), ("pragma", "no-cache")), now, requests=True)
    assert "REQUEST_HDR_IN_RESPONSE" in alone  # Pragma passes only beside no-store, as §5.1 pairs them
    _, response = lint(kept, now)
    assert [type(n).__name__ for n in notes(response) if n.level is levels.BAD] == ["REQUEST_HDR_IN_RESPONSE"]


def test_the_allow_list_names_only_notes_httplint_raises_at_bad_or_warn() -> None:
    # An entry for a note httplint renamed or dropped would hide nothing and mislead the reader.
    from httplint.cache import FRESHNESS_HEURISTIC
    from httplint.field import REQUEST_HDR_IN_RESPONSE
    from httplint.status import CREATED_WITHOUT_LOCATION, STATUS_BAD_REQUEST, STATUS_URI_TOO_LONG

    defined = [
        REQUEST_HDR_IN_RESPONSE,
        CREATED_WITHOUT_LOCATION,
        STATUS_BAD_REQUEST,
        STATUS_URI_TOO_LONG,
        FRESHNESS_HEURISTIC,
    ]
    assert {name for name, _ in ALLOWED} == {note.__name__ for note in defined}
    assert all(note.level in (levels.BAD, levels.WARN) for note in defined)
