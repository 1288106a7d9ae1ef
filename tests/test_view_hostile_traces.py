"""The views of what strangers put in a trace (served mode, a trace file): drawn, never a crash,
and their text/plain, which a terminal prints, shows escape codes and bidi overrides as escapes."""

from __future__ import annotations

import base64
import html
import html.parser
import json
import re
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest
from starlette.types import Message, Receive, Scope, Send

from lab_servers import Exchange
from lab_servers.client.browser import _read_page
from lab_servers.client.records import StepRecord
from lab_servers.client.server_data import ServerDataRefused
from lab_servers.serve_trace import TraceRecorder, print_and_save
from lab_servers.trace import BodyTap, Trace, current_step, in_step
from lab_servers.views import (
    compare_identities,
    sequence_diagram,
    show_as_state,
    show_consent,
    show_exchange,
    show_step,
    show_token,
)
from lab_servers.views._html import as_text, cut_tokens_html, short_token, shorten
from lab_servers.views.diagram_model import Note, build_model

# ESC [2J clears a terminal, ESC ]0;… sets its title; U+202E makes "/mcp/\u202egpj.exe" read "/mcp/exe.jpg".
CONTROLS = "\x1b[2J\x1b]0;owned\x07\u202e"


def _untagged(html: str) -> str:
    return re.sub(r"<[^>]*>", "", html)


def stranger(caller: str, host: str, path: str = "/mcp") -> Exchange:
    return Exchange(
        seq=1, step=None, caller=caller, host=host, address="127.0.0.1", method="GET",
        url=f"https://{host}{path}", request_headers=(), request_body="", status=404, response_headers=(),
        response_body="", done=1,
    )  # fmt: skip


def test_a_stranger_whose_user_agent_names_the_host_it_called_is_drawn_as_a_message_to_itself() -> None:
    # Served mode names the caller by its User-Agent and the host by its Host field: a stranger
    # sending both as mcp.example.com made the SVG's layout divide by zero (a span of no gap).
    diagram = sequence_diagram([stranger("mcp.example.com", "mcp.example.com")])
    assert "MCP->>MCP: GET /mcp" in diagram.mermaid
    assert "GET /mcp" in diagram.svg and diagram.html.startswith("<div")


def test_every_views_text_shows_a_strangers_control_characters_as_escapes() -> None:
    # Exchange.summary is safe to print; the views' text/plain (print(view), a REPL) was not,
    # and the diagram's <img> alt text carried the bidi override itself.
    exchange = stranger(f"agent{CONTROLS}", "mcp.example.com", f"/mcp/{CONTROLS}")
    claims = base64.urlsafe_b64encode(json.dumps({"sub": CONTROLS}).encode()).rstrip(b"=").decode()
    diagram = sequence_diagram([exchange])
    texts = [repr(show_exchange(exchange)), repr(diagram), repr(show_token(f"e30.{claims}.sig"))]
    texts += [repr(show_consent(f"<p>{CONTROLS}</p>"))]
    for text in texts:
        assert text.isprintable() and r"\x1b" in text and r"\u202e" in text, text
    assert "\u202e" not in diagram.html and r"\u202e" in diagram.html


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


NONE_HEADER = b64(b'{"alg":"none"}')


def test_a_jwts_three_parts_are_shown_each_in_its_place() -> None:
    # RFC 7515 §7.1: header.payload.signature. Every length of a base64url part mod 4 (RFC 7515
    # §2: its padding is left off) is read back, and the signature is the third part.
    for sub in ("", "a", "ab"):
        view = show_token(f"{NONE_HEADER}.{b64(json.dumps({'sub': sub}).encode())}.c2ln")
        assert view.claims == {"sub": sub} and view.header == {"alg": "none"} and view.signature == "c2ln"
        assert "c2ln</code>: decoded here, not verified" in view.html and "<b>Claims</b>" in view.html
        assert "Not a JWT" not in view.html and f"({len(view.token or '')} characters)" in view.html
    empty_claims = show_token(f"{NONE_HEADER}.{b64(b'{}')}.c2ln")
    assert "<b>Header</b>" in empty_claims.html and "Not a JWT" not in empty_claims.html


def test_a_token_of_two_or_five_parts_is_shown_opaque() -> None:
    # Two parts is no JWS; five is a JWE (RFC 7516 §7.1), which only its recipient can read.
    # A header or payload that is JSON but no object (RFC 7515 §4, RFC 7519 §7.2) is no JWT either.
    not_objects = [f"{b64(b'[]')}.{b64(b'{}')}.sig", f"{b64(b'{}')}.{b64(b'[]')}.sig"]
    for token in (f"{b64(b'{}')}.{b64(b'{}')}", ".".join([b64(b"{}")] * 5), "opaque-access-token", *not_objects):
        view = show_token(token)
        assert (view.claims, view.header) == ({}, {}), token
        assert "Not a JWT: an opaque token" in view.html and "<b>Claims</b>" not in view.html


def test_a_tokens_parts_are_read_up_to_8_levels_and_16_kib_and_shown_opaque_past_that() -> None:
    # RFC 8259 §9 lets a parser bound depth and size: the views read no more of a token than this.
    def token(claims: bytes) -> str:
        return f"{b64(b'{}')}.{b64(claims)}.sig"

    eight_deep = b'{"a":' + b"[" * 7 + b"]" * 7 + b"}"
    assert show_token(token(eight_deep)).claims == {"a": [[[[[[[]]]]]]]}
    assert show_token(token(b'{"a":' + b"[" * 8 + b"]" * 8 + b"}")).claims == {}
    sixteen_kib = b'{"a":"' + b"x" * 8192 + b'","b":"' + b"x" * 8177 + b'"}'  # strings: 8 KiB each at most
    assert len(sixteen_kib) == 16 * 1024 and show_token(token(sixteen_kib)).claims != {}
    assert show_token(token(sixteen_kib[:-2] + b'x"}')).claims == {}


def test_a_run_of_64_token_characters_is_cut_keeping_both_ends_and_63_is_not() -> None:
    # A JWT or secret drowns the fields around it; a shorter value (a client_id, a state) is shown whole.
    assert cut_tokens_html("a" * 63) == "a" * 63 and short_token("b" * 63) == "b" * 63
    token = "A" * 16 + "x" * 44 + "ZZZZ"
    assert short_token(token) == f"{'A' * 16}…[+44]…ZZZZ"
    assert cut_tokens_html(f"<{token}>") == f'&lt;<span class="cut">{"A" * 16}…[+44]…ZZZZ</span>&gt;'


def test_a_value_is_shown_as_compact_json_in_its_own_order_and_characters() -> None:
    assert as_text({"b": "Café", "a": [1]}) == '{"b": "Café", "a": [1]}' and as_text("bare") == "bare"


def test_a_preview_keeps_60_characters_and_marks_a_cut_with_an_ellipsis() -> None:
    assert shorten("x" * 60) == "x" * 60
    assert shorten("x" * 61) == "x" * 59 + "…" and len(shorten("y" * 500, 10)) == 10


def test_a_consent_page_that_leaves_out_its_head_end_tag_is_read_as_the_user_sees_it() -> None:
    # HTML §13.1.2.4: </head> may be omitted. The page is a stranger's when the AS is (a mix-up's
    # attacker, an outside AS in served mode); its text read as empty beside the page the user saw.
    page = "<!doctype html><html><head><meta charset=utf-8><title>Consent</title><body><h1>Allow Evil?</h1><button>Approve</button>"
    assert show_consent(page).text == "Allow Evil? [Approve]"


def test_the_raw_view_shows_every_header_and_the_text_around_a_highlight_as_sent() -> None:
    exchange = replace(
        stranger("agent", "mcp.example.com"),
        request_headers=(("X-Stranger", "v1"), ("Authorization", "Bearer t")),
        request_body="grant=1&client_id=abc&z",
        response_body='"\\u003cb\\u003e"',  # JSON, but no object or array: shown as sent, not decoded
    )
    html = _untagged(show_exchange(exchange).html)
    assert "X-Stranger: v1" in html and "Authorization: Bearer t" in html
    assert "grant=1&amp;client_id=abc&amp;z" in html and "&quot;\\u003cb\\u003e&quot;" in html


def test_a_body_of_1600_characters_is_shown_whole_and_a_longer_one_says_how_much_is_cut() -> None:
    body = "ab " * 533 + "c"  # 1,600 characters, no run long enough to be cut as a token
    whole = show_exchange(replace(stranger("agent", "mcp.example.com"), response_body=body)).html
    assert body in whole and "not shown" not in whole
    cut = show_exchange(replace(stranger("agent", "mcp.example.com"), response_body=body + "d")).html
    assert body + "d" not in cut and body in cut and "… 1 more characters not shown" in cut


def test_a_header_value_of_1600_characters_is_shown_whole_and_a_longer_one_says_how_much_is_cut() -> None:
    # A header is a server's words as much as a body is: a 230 kB challenge (30,000 repeated
    # parameters) was shown whole, and the step card that holds the raw view was 800 kB.
    value = "Bearer " + "ab " * 531
    exchange = stranger("agent", "mcp.example.com")
    whole = show_exchange(replace(exchange, response_headers=(("WWW-Authenticate", value),))).html
    assert len(value) == 1600 and value in whole and "not shown" not in whole
    cut = show_exchange(replace(exchange, response_headers=(("WWW-Authenticate", value + "c" * 500_000),))).html
    assert value in cut and value + "c" not in cut and "… 500000 more characters not shown" in cut
    assert len(cut) < 10_000


def test_a_request_target_of_1600_characters_is_shown_whole_and_a_longer_one_says_how_much_is_cut() -> None:
    # The request line is the client's, but what it carries is a server's: a step-up asks for the
    # union of the scopes a 403 named, and a 47 kB scope made the raw view's first line 47 kB.
    target = "/authorize?scope=" + "ab+" * 527 + "cd"
    whole = _untagged(show_exchange(stranger("agent", "mcp.example.com", target)).html)
    assert len(target) == 1600 and target in whole and "not shown" not in whole
    cut = _untagged(show_exchange(stranger("agent", "mcp.example.com", target + "d" * 500_000)).html)
    assert target in cut and target + "d" not in cut and "… 500000 more characters not shown" in cut
    assert len(cut) < 10_000
    bare = _untagged(show_exchange(stranger("agent", "mcp.example.com", "/" + "p" * 2_000)).html)  # no query
    assert "/" + "p" * 1599 in bare and "p" * 1600 not in bare and "… 401 more characters not shown" in bare


def test_the_raw_views_one_line_summary_is_bounded_as_its_html_is() -> None:
    # repr() is the text/plain a notebook stores beside the HTML: a 500 kB path made it 500 kB.
    long = stranger("a" * 300_000, "h" * 300_000, "/" + "p" * 500_000)
    summary = repr(show_exchange(replace(long, status=None, error="e" * 300_000)))
    assert len(summary) < 1_000 and "/" + "p" * 198 + "…" in summary and "a" * 199 + "…" in summary
    assert repr(show_exchange(stranger("agent", "mcp.example.com", "/mcp?x=1"))) == (
        "<RawHTTP: #1 agent → mcp.example.com: GET /mcp?… → 404>"
    )


def test_a_trace_files_500_kb_step_caller_host_method_header_name_or_error_is_cut_in_the_raw_view() -> None:
    # A trace file may be someone else's (load_trace takes 100 MiB): each of these fields, 500 kB,
    # made the raw view's HTML 500 kB, where a body, a header value and the target are cut.
    big = "x" * 500_000
    exchange = replace(
        stranger(big, big), step=big, method=big, request_headers=((big, "v"),), response_headers=((big, "v"),)
    )
    assert len(show_exchange(exchange).html) < 10_000
    assert len(show_exchange(replace(exchange, status=None, error=big)).html) < 10_000
    assert "x" * 199 + "…" in show_exchange(exchange).html


def test_a_step_the_lab_does_not_name_is_cut_as_a_label_in_the_diagram() -> None:
    # Its name is a band's title in the HTML, the Mermaid text and the SVG: 500 kB made each 500 kB.
    diagram = sequence_diagram([replace(stranger("agent", "mcp.example.com"), step="x" * 500_000)])
    assert all(len(text) < 10_000 for text in (diagram.html, diagram.mermaid, diagram.svg))


def test_the_raw_view_says_which_step_sent_it_and_when_no_response_came() -> None:
    refused = replace(stranger("agent", "mcp.example.com"), step="discover", status=None, error="connection refused")
    html = _untagged(show_exchange(refused).html)
    assert "step: discover" in html and "GET /mcp HTTP/1.1(no response" in html
    assert html.endswith("(no response: connection refused)") and "connection refused" in repr(show_exchange(refused))
    assert show_exchange(refused).html.count('<span class="err"') == 1  # marked as the failure it is


def test_a_json_body_is_indented_by_two_with_its_characters_as_sent() -> None:
    # Pretty-printed for reading, but a stranger's "Café" is not turned into "Caf\u00e9".
    exchange = replace(stranger("agent", "mcp.example.com"), response_body='{"client_name":"Café","a":[1]}')
    html = _untagged(show_exchange(exchange).html)
    assert "{\n  &quot;client_name&quot;: &quot;Café&quot;,\n  &quot;a&quot;: [\n    1\n  ]\n}" in html


def test_the_consent_text_reads_entities_blocks_and_a_last_unclosed_line_as_a_browser_shows_them() -> None:
    # The AS escapes a client's name (&lt;script&gt;): the user reads "<script>", and so does the text.
    # A page may end in a character reference ("&amp" needs no ";", HTML §13.5 named references): still read.
    assert show_consent("<h1>Allow &lt;script&gt; &amp; Caf&eacute;?</h1><p>Tom &amp").text == (
        "Allow <script> & Café?\nTom &"
    )
    long = "y" * 80
    assert repr(show_consent(f"<p>a</p><p>{long}</p><p>c</p><p>d</p>")) == f"<ConsentView: a | {long[:69]}… | c>"


def test_the_consent_pages_no_request_policy_comes_before_all_its_markup() -> None:
    # HTML §4.2.5.3 honours a CSP <meta> only in the head: first, or right after a doctype.
    policy = "&lt;meta http-equiv=&quot;Content-Security-Policy&quot; content=&quot;default-src &#x27;none&#x27;"
    assert f'srcdoc="{policy}' in show_consent("<p>x</p>").html
    assert f'srcdoc="&lt;!DOCTYPE html&gt;{policy}' in show_consent("<!DOCTYPE html><p>x</p>").html


def test_a_recorded_body_is_read_as_json_loads_reads_it_up_to_pythons_4300_digit_numbers() -> None:
    # Shown as sent either way; read as JSON (to pretty-print it, to find a token) only as far as
    # Python's int() converts (4,300 digits) and with a repeated name's last value (RFC 8259 §4).
    def body(text: str) -> object:
        return replace(stranger("agent", "mcp.example.com"), response_body=text).json()

    assert body("[" + "9" * 4300 + "]") == [int("9" * 4300)] and body("[" + "9" * 4301 + "]") is None
    assert body('{"a": 1, "a": 2}') == {"a": 2}


def test_the_printed_identity_comparison_shows_a_hostile_servers_control_characters_as_escapes() -> None:
    # print(compare_identities(...)) is the documented way to read it; whoami is the server's answer.
    def connection(client_id: str) -> object:
        return type("Connection", (), {"whoami": {"client_id": client_id}, "access_token": None, "records": []})()

    printed = str(compare_identities(connection(f"evil{CONTROLS}"), connection("good")))
    assert all(line.isprintable() for line in printed.splitlines()) and r"evil\x1b[2J" in printed
    assert len(printed.splitlines()) == 10  # a header line and one per row


def test_a_body_the_reader_stopped_early_says_so_and_a_step_ends_with_its_block() -> None:
    tap = BodyTap(limit=4)
    tap.add(b"abc")
    tap.add(b"def")  # one byte of room left: kept
    tap.stopped_early()
    assert (
        tap.text()
        == "abcd\n… [truncated: the trace keeps the first 4 of 6 bytes]\n… [the reader closed the stream after 6 bytes]"
    )
    with in_step("discover"):
        assert current_step() == "discover"
    assert current_step() is None  # a later exchange is not filed under a step that has ended


def test_an_exchanges_one_line_summary_names_its_path_and_outcome() -> None:
    # The path keeps a query that holds another URL; the outcome is the status, or the error in its place.
    trace = Trace()
    url = "https://auth.example.com/authorize?redirect_uri=https://app.example/cb"
    fields = {**vars(stranger("browser", "auth.example.com")), "url": url}
    del fields["seq"], fields["step"], fields["done"]
    ok = trace.record(trace.start(), **fields)
    refused = trace.record(trace.start(), **(fields | {"status": None, "error": "connection refused"}))
    assert (ok.done, refused.done) == (1, 2)
    assert ok.summary() == "#1 browser → auth.example.com: GET /authorize?redirect_uri=https://app.example/cb → 404"
    assert refused.summary().endswith("→ connection refused")


@pytest.mark.anyio
async def test_a_strangers_invalid_host_is_recorded_as_sent_and_never_becomes_the_path() -> None:
    # RFC 9112 §3.2: the served lab answers an invalid Host 400; its trace still names the path asked for.
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        pass

    recorded: list[Exchange] = []
    for host, target in [("evil.example/admin?x=", "/mcp"), ("a@b", "/mcp"), ("mcp.example.com:8443", "/mcp"),
                         ("other", "https://mcp.example.com/mcp")]:  # fmt: skip
        headers = [(b"host", host.encode()), (b"user-agent", b"curl/8.5 (x86_64)")]
        scope = {"type": "http", "method": "GET", "path": target, "scheme": "https", "query_string": b"",
                 "headers": headers, "client": ("127.0.0.1", 1)}  # fmt: skip
        trace = Trace()
        print_and_save(trace, recorded.append)
        await TraceRecorder(app, trace, lambda: 0)(scope, receive, send)
    assert [(e.caller, e.host, e.path) for e in recorded] == [
        ("curl/8.5", "evil.example/admin?x=", "/mcp"), ("curl/8.5", "a@b", "/mcp"),
        ("curl/8.5", "mcp.example.com:8443", "/mcp"), ("curl/8.5", "mcp.example.com", "/mcp"),
    ]  # fmt: skip
    assert "GET /mcp → 400" in recorded[0].summary() and recorded[2].url == "https://mcp.example.com:8443/mcp"


def test_a_trace_keeps_send_order_whatever_order_responses_come_back_in() -> None:
    # A nested call (the AS fetching a CIMD document while serving /authorize) finishes first.
    trace = Trace()
    fields = {k: v for k, v in vars(stranger("client", "mcp.example.com")).items() if k not in {"seq", "step", "done"}}
    first, mark = trace.start(), trace.mark()
    nested, third = trace.start(), trace.start()
    with in_step("authorize"):
        trace.record(first, **fields)
        trace.record(third, **fields)
    trace.record(nested, **fields)
    assert [(e.seq, e.done) for e in trace] == [(1, 1), (2, 3), (3, 2)]
    assert [e.seq for e in trace.since(mark)] == [2, 3] and [e.seq for e in trace.for_step("authorize")] == [1, 3]
    trace.clear()
    assert (len(trace), trace.start()) == (0, 1)


def test_a_step_card_shows_everything_the_step_did_and_says_what_it_did_not() -> None:
    exchange = stranger("client", "mcp.example.com")
    value = "ab " * 133 + "ab"  # 401 characters; a learned value is cut at 400
    learned = {"resource": value, "short": "ok"}
    record = StepRecord(1, "challenge", "Request without a token", [exchange], learned, "Why it matters.", "MCP §4.2")
    record.notes.append("A note.")
    html = _untagged(show_step(record).html)
    assert "Why it matters." in html and "A note." in html and value[:399] + "…" in html and value[:400] not in html
    assert "shortok" in html and f"{show_exchange(exchange)._summary()}" in html
    assert "<img" in show_step(record).html and "<img" not in show_step(record, diagram=False).html
    assert "The whole step card" not in html and "sent no HTTP request" not in html
    silent = _untagged(show_step(StepRecord(4, "client-id", "Get a client_id", [], {}, "", "CIMD")).html)
    assert "This step sent no HTTP request." in silent and "Nothing learned." in silent
    assert value[:400] + "#1" in _untagged(show_step(replace(record, learned={"k": value[:400]})).html)


def test_the_comparison_marks_the_rows_that_differ_and_reads_the_tokens_lifetime() -> None:
    def connection(client_id: str) -> object:
        claims = b64(json.dumps({"client_id": client_id, "iat": 1000, "exp": 1300}).encode())
        return type(
            "Connection", (), {"whoami": {"sub": "alice"}, "access_token": f"e30.{claims}.sig", "records": []}
        )()

    view = compare_identities(connection("dcr-id"), connection("https://app.example/client.json"))
    rows = {name: (a, b) for name, a, b in view.rows}
    assert rows["token lifetime (exp − iat)"] == ("300 s", "300 s") and rows["user (sub)"] == ("alice", "alice")
    html = view.html
    assert (
        html.count('<tr class="diff"') == 1
        and html.count("<b>different</b>") == 1
        and "1 of 9 rows differ" in repr(view)
    )


def test_the_diagrams_alt_text_stays_inside_its_attribute_and_its_mermaid_can_be_saved(tmp_path: Path) -> None:
    diagram = sequence_diagram([stranger("client", "mcp.example.com")], title='x" onerror="alert(1)')
    assert ' onerror="alert' not in diagram.html and 'alt="&lt;SequenceDiagram x&quot; onerror=' in diagram.html
    saved = diagram.save_mermaid(str(tmp_path / "d.mmd"))
    assert Path(saved).read_text(encoding="utf-8") == diagram.mermaid
    assert "failed" not in diagram.mermaid  # a trace holds no step records: nothing is marked failed
    view = show_exchange(stranger("client", "mcp.example.com"))
    view.save_html(str(tmp_path / "e.html"))
    assert (tmp_path / "e.html").read_text(encoding="utf-8") == f'<!doctype html><meta charset="utf-8">{view.html}\n'


def test_a_cached_document_is_shown_expired_from_the_second_the_as_treats_it_so() -> None:
    # The AS refetches once expires_at <= now (authorization_server/cimd.py): so does the view.
    def state_at(now: int) -> str:
        cached = SimpleNamespace(expires_at=1300, fetched_at=1000, hits=2, document={"client_name": "<b>App</b>"})
        clock = SimpleNamespace(now=lambda: now, isoformat=lambda: "now")
        lab = SimpleNamespace(registrations={}, cimd_cache={"https://app.example/c.json": cached}, clock=clock)
        lab.as_state = lambda: {"issued_tokens": 3}
        return show_as_state(lab).html

    assert "fresh for 1 s" in state_at(1299) and "expired 0 s ago" in state_at(1300)
    assert "&lt;b&gt;App&lt;/b&gt;" in state_at(1300) and "3 access token(s) issued" in state_at(1300)


def test_a_step_that_sent_nothing_is_noted_across_whoever_the_diagram_has() -> None:
    # With no client in the diagram (a browser and the AS only), the note spans everyone drawn;
    # with nobody drawn at all, Mermaid (which rejects an empty diagram) gets the client alone.
    browser = StepRecord(5, "authorize", "Authorize", [stranger("browser", "auth.example.com")], {}, "", "")
    silent = StepRecord(4, "client-id", "Get a client_id", [], {}, "", "CIMD")
    both = sequence_diagram([silent, browser]).mermaid
    assert "Note over Browser,AS: 4 · Get a client_id" in both and "Note over Browser,AS: outside the handshake" in both
    alone = sequence_diagram([silent]).mermaid
    assert alone.endswith("    participant Client\n    Note over Client: no exchanges yet\n")


def test_the_diagram_draws_nested_calls_in_the_order_they_happened_with_marks_before_their_exchange() -> None:
    # The MCP server's call to the AS (#2) ends before it makes another (#3), both inside #1.
    def call(seq: int, done: int, caller: str, host: str, path: str = "/x") -> Exchange:
        return replace(stranger(caller, host, path), seq=seq, done=done)

    exchanges = [call(1, 3, "client", "mcp.example.com"), call(2, 1, "mcp.example.com", "auth.example.com"),
                 call(3, 2, "mcp.example.com", "auth.example.com", "/" + "a" * 41)]  # fmt: skip
    model = build_model(exchanges, marks={3: "third", 2: "second"})
    drawn = [(m.kind, m.exchange.seq) for m in model.messages]
    assert drawn == [("request", 1), ("request", 2), ("response", 2), ("request", 3), ("response", 3), ("response", 1)]
    notes = [item.text for block in model.blocks for item in block.items if isinstance(item, Note)]
    assert notes == ["second", "third"]
    # A mark belongs to its exchange's stretch: outside any step (a served trace), that is one band,
    # not a band per mark (a mark filed under step "" opened its own, and the exchange after it another).
    assert [block.title for block in model.blocks] == ["outside the handshake"]
    assert model.messages[3].label == "GET /" + "a" * 41  # 46 characters: whole
    assert build_model([call(1, 1, "client", "h", "/" + "a" * 42)]).messages[0].label.endswith("a…")


def test_the_diagrams_svg_stays_xml_whatever_characters_a_stranger_sent() -> None:
    # XML 1.0 §2.2: ESC, NUL and U+FFFE are no XML characters. The SVG is shown as an <img> of a
    # data: URI and saved as a .svg, both read as XML: one such character in a stranger's name or
    # path (a trace file holds anything) left the whole drawing blank. Each is drawn as its escape.
    diagram = sequence_diagram([stranger(f"agent{CONTROLS}\x00", "mcp.example.com", "/mcp/\ufffe\ud800")])
    drawn = ElementTree.fromstring(diagram.svg.encode())
    assert "GET /mcp/\\ufffe\\ud800" in "".join(drawn.itertext())
    assert "agent\\x1b[2J\\x1b]0;owned\\x07\\u202e\\x00" in diagram.svg


def test_a_url_no_parser_can_split_is_drawn_and_shown_as_recorded() -> None:
    # A stranger's Host of "[" (the served trace keeps it) or a Location of "http://[x/cb": urlsplit
    # raised "Invalid IPv6 URL", and with it the whole trace's diagram and the exchange's view.
    exchange = replace(
        stranger("stranger", "["),
        url="https://[/mcp",
        status=302,
        response_headers=(("Location", "http://[x/cb?code=C"),),
    )
    diagram = sequence_diagram([exchange])
    assert "/mcp" in diagram.mermaid and "http://[x/cb" in _untagged(diagram.svg)
    assert "GET</b> https://[/mcp HTTP/1.1" in show_exchange(exchange).html


@pytest.mark.parametrize(
    ("body", "kept"),
    [('{"iss":"https://auth.example.com","iss":"https://evil.example"}', ["auth.example.com", "evil.example"]),
     ('{"client_name":"Pay\\u200bPal"}', ["Pay\\u200bPal"]),
     ('{"expires_in":1e2,"n":-0}', ["1e2", "-0"])],
    ids=["duplicate-member", "escape", "number-spelling"],
)  # fmt: skip
def test_json_is_shown_with_every_member_and_spelling_as_sent(body: str, kept: list[str]) -> None:
    # Parsed and written again, a second iss vanished (the last kept), \u200b became an invisible
    # character and 1e2 became 100.0: the raw view's only liberty is the indentation.
    html = _untagged(show_exchange(replace(stranger("agent", "mcp.example.com"), response_body=body)).html)
    assert [spelling for spelling in kept if spelling not in html] == [] and "\u200b" not in html


def test_a_consent_page_html_parser_cannot_read_is_shown_up_to_where_it_stops() -> None:
    # CPython's _markupbase raises AssertionError on `<![ x]>`: the view raised it, and the lab's
    # browser let it out of step 5 as a traceback.
    assert show_consent("<p>Allow?</p><![ x]>").text == (
        "Allow?\n(the rest of the page is not HTML the lab can read as text)"
    )
    with pytest.raises(ServerDataRefused, match="not HTML this browser can read"):
        _read_page("<form action='/c'></form><![ x]>")


def test_a_consent_page_of_unclosed_tags_is_read_without_close_scanning_them_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # CPython 3.11's HTMLParser.close() scans each unclosed `<x` to the end again (CVE-2025-6069):
    # a 65 KB page of `<a` took 5.8 s to show. What feed held back is closed only when no tag is
    # among it (a last "&amp" still is: test_the_consent_text_reads_entities…).
    def quadratic(self: object) -> None:
        raise AssertionError("close() called on a page with unclosed tags")

    monkeypatch.setattr(html.parser.HTMLParser, "close", quadratic)
    assert show_consent("<form action='/c'><p>Allow?</p></form>" + "<a" * 20_000).text == "Allow?"


def test_a_participant_is_named_within_a_labels_length() -> None:
    # A stranger's 14 KB User-Agent token was a participant 229,781 px wide, written three times.
    diagram = sequence_diagram([stranger("x" * 14_000, "mcp.example.com")])
    assert "x" * 47 not in diagram.mermaid and "x" * 47 not in diagram.svg and len(diagram.svg) < 20_000


@pytest.mark.parametrize(
    ("method", "url", "line"),
    [
        ("OPTIONS", "https://127.0.0.1:8001", "OPTIONS *"),  # RFC 9112 §3.2.4, asterisk-form
        ("CONNECT", "https://127.0.0.1:8001", "CONNECT 127.0.0.1:8001"),  # §3.2.3, authority-form
        ("GET", "https://127.0.0.1:8001?x=1", "GET /?x=1"),  # §3.2.1: an empty path is sent as "/"
        ("OPTIONS", "https://127.0.0.1:8001/", "OPTIONS /"),
        ("OPTIONS", "https://127.0.0.1:8001?x", "OPTIONS /?x"),
        # RFC 3986 §3.2, §3.4: a "/" in a query after an empty path is the query's, not a path.
        ("GET", "http://127.0.0.1:8001?next=/admin/delete", "GET /?next=/admin/delete"),
        ("GET", "https://127.0.0.1:8001/a?b=/c", "GET /a?b=/c"),
    ],
)
def test_a_request_line_is_shown_as_sent_whatever_form_its_target_has(method: str, url: str, line: str) -> None:
    # The served trace records the target URI (RFC 9112 §3.3), whose path is empty for `*` and
    # host:port: `OPTIONS *` was printed and drawn as `OPTIONS /`, and a query after an empty path was lost.
    exchange = replace(stranger("curl", "127.0.0.1:8001"), method=method, url=url)
    assert exchange.summary().endswith(f": {line} → 404")
    method_html, target = line.split(" ", 1)
    assert f"<b>{method_html}</b> {html.escape(target)} HTTP/1.1" in show_exchange(exchange).html


@pytest.mark.parametrize("path", ["/mcp\tx", "/mcp\nx", "/mcp?a=\tb", "/m\rcp"])
def test_a_target_holding_a_tab_or_newline_is_shown_alike_in_the_summary_the_raw_view_and_the_diagram(
    path: str,
) -> None:
    # urlsplit drops every tab and newline: the raw view and the diagram showed `/mcp\tx` as `/mcpx`
    # where the summary (`Exchange.path`) showed the tab. Each shows the target as recorded.
    exchange = stranger("agent", "mcp.example.com", path)
    assert exchange.path == path
    assert f"<b>GET</b> {html.escape(path.replace('&', '&amp;'))} HTTP/1.1" in show_exchange(exchange).html
    # A label is one line (`shorten`): the diagram draws the tab or newline as a space, not as nothing.
    drawn = " ".join(f"GET {path.partition('?')[0]}".split()) + ("?…" if "?" in path else "")
    assert build_model([exchange]).messages[0].label == drawn


def test_the_raw_views_one_line_says_there_is_a_query_only_when_the_request_line_had_one() -> None:
    # RFC 3986 §3.5: a "?" inside the fragment, which is not sent, begins no query.
    fragment = replace(stranger("you", "auth.example.com"), url="https://auth.example.com/authorize#state?x=1")
    query = replace(fragment, url="https://auth.example.com/authorize?#x")  # an empty query is one (§3.4)
    assert repr(show_exchange(fragment)).endswith("GET /authorize → 404>")
    assert repr(show_exchange(query)).endswith("GET /authorize?… → 404>")


@pytest.mark.parametrize(
    "unit",
    ['"code":[,', 'code="', '"code":"', '"code"  ', "a" * 63 + ".", "eyJ" * 20 + "."],
)
def test_the_raw_view_highlights_a_header_in_time_linear_in_its_length(unit: str) -> None:
    # A field whose quoted string or bracket is never closed was scanned to the end of the value,
    # failed, and scanned again from the next field: a trace file's 0.88 MB header of `"code":[,`
    # took 102 s to show. Four times the text takes about four times as long, not sixteen.
    def shown_in(count: int) -> float:
        exchange = replace(stranger("x", "h"), request_headers=(("WWW-Authenticate", unit * count),))
        times = []
        for _ in range(2):
            start = time.perf_counter()
            show_exchange(exchange).html  # noqa: B018
            times.append(time.perf_counter() - start)
        return min(times)

    count = 30_000 // len(unit)
    assert shown_in(4 * count) < 8 * shown_in(count) + 0.05
