"""The views: deterministic bytes, the nested CIMD fetch drawn inside step 5, the fields that
matter highlighted, and hostile strings escaped everywhere."""

from __future__ import annotations

import ast
import base64
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import lab_servers
from lab_servers import Connection, Exchange, Lab
from lab_servers.client import StepError, decode_jwt_payload
from lab_servers.security.results import ExperimentResult
from lab_servers.trace_file import access_tokens
from lab_servers.views import (
    compare_identities,
    sequence_diagram,
    show_as_state,
    show_consent,
    show_exchange,
    show_step,
    show_token,
)
from lab_servers.views.diagram_model import build_model
from lab_servers.views.mermaid import FRONT_MATTER
from lab_servers.views.step import ERROR_LIMIT, NOTE_LIMIT, NOTES_SHOWN

pytestmark = pytest.mark.anyio

HOSTILE = "</pre><script>alert(1)</script><img src=x onerror=alert(2)>\"'&;#%%"


async def both(lab: Lab) -> tuple[Connection, Connection]:
    return await lab.connect("dcr"), await lab.connect("cimd")


def render_all(lab: Lab, dcr: Connection, cimd: Connection) -> list[str]:
    """Every representation every view offers, for the two standard connections."""
    out: list[str] = []
    for diagram in (
        sequence_diagram(lab.trace),
        sequence_diagram(cimd, title="CIMD"),
        sequence_diagram(dcr.records[4].exchanges),
    ):
        out += [diagram.mermaid, diagram.svg, diagram.markdown, repr(diagram)]
    views = [show_exchange(e) for e in lab.trace.exchanges]
    views += [show_step(r) for r in dcr.records + cimd.records]
    views += [show_token(dcr.access_token), show_token(cimd.access_token), show_consent(cimd.client.state.consent_page)]
    views += [show_as_state(lab), compare_identities(dcr, cimd)]
    for view in views:
        out += [view._repr_html_(), repr(view)]
        assert "<style" not in view._repr_html_() and "<svg" not in view._repr_html_()  # both dropped by sanitizers
    out.append(str(compare_identities(dcr, cimd)))
    return out


async def test_every_view_is_byte_identical_for_the_same_seed() -> None:
    renders = []
    for _ in range(2):
        async with Lab(seed=0) as lab:
            renders.append(render_all(lab, *await both(lab)))
    assert renders[0] == renders[1]
    assert not any(re.search(r"0x[0-9a-f]{6,}", text) for text in renders[0])  # no memory addresses


async def test_the_cimd_fetch_is_drawn_inside_the_browsers_authorization_request(lab: Lab) -> None:
    cimd = await lab.connect("cimd")
    model = build_model(cimd)
    authorize = next(b for b in model.blocks if b.step == "authorize")
    names = [p.label for p in model.participants]
    arrows = [(m.kind, names[m.source], names[m.target]) for m in authorize.items]  # type: ignore[union-attr]
    assert arrows[:4] == [
        ("request", "Browser", "AS"),
        ("request", "AS", "app.example"),
        ("response", "app.example", "AS"),
        ("response", "AS", "Browser"),
    ]
    text = sequence_diagram(cimd).mermaid
    rect = text[text.index("5 · Authorization request") : text.index("6 · Exchange")]
    assert (
        rect.index("Browser->>AS: GET /authorize?…")
        < rect.index("AS->>H1: GET /client.json")
        < rect.index("H1-->>AS: 200 OK")
        < rect.index("AS-->>Browser: 200 OK")
    )
    assert rect.count("    end\n") == 1 and rect.index("303 → app.example/callback") < rect.index(
        "    end\n"
    )  # one band
    assert "participant H1 as app.example" in text


async def test_a_step_that_sent_nothing_still_appears_as_a_note(lab: Lab) -> None:
    cimd = await lab.connect("cimd")
    text = sequence_diagram(cimd).mermaid
    assert "Note over Client: no request: client_id = https://app.example/client.json" in text
    assert "client_id = https://app.example/client.json" in sequence_diagram(cimd).svg


async def test_the_diagram_renders_live_and_statically(lab: Lab, tmp_path: Path) -> None:
    dcr = await lab.connect("dcr")
    diagram = sequence_diagram(lab.trace, title="DCR")
    bundle = diagram._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/vnd.mermaid", "image/svg+xml"}
    assert bundle["text/vnd.mermaid"].startswith(FRONT_MATTER + "sequenceDiagram\n    title DCR\n")
    assert diagram.markdown == f"```mermaid\n{diagram.mermaid}```\n"
    assert bundle["image/svg+xml"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert bundle["text/plain"] == "<SequenceDiagram DCR: 10 exchanges, 7 step bands; Browser, Client, MCP server, AS>"
    for label in (
        "POST /register",
        "201 Created",
        "303 → app.example/callback?…",
        "GET /jwks.json",
        "POST /mcp tools/call whoami",
    ):
        assert label in diagram.mermaid
        status, _, rest = label.partition(" ")
        assert label in diagram.svg if not status.isdigit() else f"{status}</tspan> {rest}" in diagram.svg
    assert len(re.findall(r"^    rect rgb", diagram.mermaid, re.MULTILINE)) == len(dcr.records) == 7
    path = diagram.save_svg(str(tmp_path / "dcr.svg"))
    assert Path(path).read_text() == diagram.svg + "\n"
    assert "<script" not in diagram.svg and "href" not in diagram.svg  # nothing external, nothing active


async def test_raw_http_highlights_the_fields_that_matter(lab: Lab) -> None:
    dcr = await lab.connect("dcr")
    by_step = {r.name: r.exchanges for r in dcr.records}
    challenge = unstyled(show_exchange(by_step["challenge"][0]).html)
    assert '<mark class="hdr">www-authenticate:</mark>' in challenge
    # The Date every answer carries (RFC 9110 §6.6.1) says nothing about OAuth: dimmed.
    assert '<span class="dim">date: Thu, 01 Jan 2026 00:00:00 GMT</span>' in challenge
    assert (
        '<mark class="res">resource_metadata=&quot;https://mcp.example.com/.well-known/oauth-protected-resource/mcp&quot;</mark>'
        in challenge
    )
    authorize = unstyled(show_exchange(by_step["authorize"][0]).html)
    for field in ("client_id=tpc_", "code_challenge=", "resource=https%3A%2F%2Fmcp.example.com%2Fmcp", "state="):
        assert re.search(rf'<mark class="\w+">{re.escape(field)}', authorize), field
    decision = unstyled(show_exchange(by_step["authorize"][1]).html)
    assert '<mark class="hdr">location:</mark>' in decision
    assert '<mark class="res">iss=https%3A%2F%2Fauth.example.com</mark>' in decision
    token = unstyled(show_exchange(by_step["token"][0]).html)
    assert dcr.access_token and dcr.access_token not in token  # shortened, visibly
    assert re.search(
        r'<mark class="tok">&quot;access_token&quot;: &quot;<span class="cut">eyJ[\w-]{13}…\[\+\d+\]…', token
    )
    call = unstyled(show_exchange(by_step["mcp"][-1], highlight="structuredContent").html)
    assert '<mark class="tok">Authorization:</mark>' in call
    assert '<mark class="hdr">&quot;structuredContent&quot;:' in call
    assert (
        repr(show_exchange(by_step["authorize"][0]))
        == "<RawHTTP: #5 browser → auth.example.com: GET /authorize?… → 200>"
    )


def test_the_request_line_shows_the_target_as_sent_an_empty_query_too() -> None:
    # httpx sends `GET /mcp? HTTP/1.1` for https://mcp.example.com/mcp?; urlsplit reads its empty
    # query as none, and the view showed `/mcp`, a request that was not sent (RFC 3986 §6.2.3).
    exchange = Exchange(
        seq=1, step=None, caller="client", host="mcp.example.com", address=None, method="GET",
        url="https://mcp.example.com/mcp?", request_headers=(), request_body="", status=404,
        response_headers=(), response_body="",
    )  # fmt: skip
    assert "<b>GET</b> /mcp? HTTP/1.1" in show_exchange(exchange).html


def unstyled(html: str) -> str:
    """The markup without its inline styles, to assert on structure and classes."""
    return re.sub(r' style="[^"]*"', "", html)


def hostile_exchange() -> Exchange:
    return Exchange(
        seq=1, step=HOSTILE, caller="client", host="evil.example", address=None, method="GET",
        url=f"https://evil.example/{HOSTILE}?client_id={HOSTILE}",
        request_headers=(("X-Evil", HOSTILE),), request_body=HOSTILE,
        status=418, response_headers=(("Location", HOSTILE),), response_body=json.dumps({"client_id": HOSTILE}),
        done=1,
    )  # fmt: skip


def test_hostile_strings_are_escaped_in_every_rendering() -> None:
    exchange = hostile_exchange()
    diagram = sequence_diagram([exchange], title=HOSTILE)
    assert diagram.svg in base64.b64decode(diagram.html.split("base64,", 1)[1].split('"', 1)[0]).decode()
    for html in (show_exchange(exchange, highlight=HOSTILE).html, diagram.svg, diagram.html):
        assert "<script" not in html and "<img src=x" not in html and "</pre><script" not in html
    title = diagram.mermaid.split("title ", 1)[1].splitlines()[0]
    assert (
        title
        == "#lt;/pre#gt;#lt;script#gt;alert(1)#lt;/script#gt;#lt;img src=x onerror=alert(2)#gt;#quot;'&#59;#35;#37;#37;"
    )
    consent = show_consent(f"<h1>{HOSTILE}</h1>")
    assert "<script" not in consent.html.split("srcdoc=", 1)[1].split("</iframe>")[0]
    assert 'sandbox=""' in consent.html
    assert show_token({"sub": HOSTILE}).html.count("<script") == 0


def test_a_bidi_override_in_a_strangers_path_is_shown_as_its_escape_in_every_rendering() -> None:
    # UAX #9: U+202E makes "/mcp/\u202egpj.exe" read as "/mcp/exe.jpg"; emoji joiners stay as they are.
    exchange = Exchange(
        seq=1, step=None, caller="stranger 👩\u200d💻", host="mcp.example.com", address=None, method="GET",
        url="https://mcp.example.com/mcp/\u202egpj.exe", request_headers=(), request_body="", status=404,
        response_headers=(), response_body="",
    )  # fmt: skip
    diagram = sequence_diagram([exchange])
    for rendering in (show_exchange(exchange).html, diagram.svg, diagram.mermaid):
        assert "\u202e" not in rendering and r"\u202egpj.exe" in rendering
        assert "👩\u200d💻" in rendering


@pytest.mark.parametrize("claims", [{"iat": 1, "exp": "soon"}, {"iat": 10**20, "exp": True}, {"exp": 1, "iat": "0"}])
def test_a_token_whose_dates_are_not_numeric_dates_is_shown_not_a_crash(claims: dict[str, object]) -> None:
    # A hostile AS may hand the client any token; the client treats it as opaque, the views read it.
    def b64(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none'})}.{b64(claims)}.sig"
    view = show_token(token).html
    assert "Lifetime" not in view
    assert ("beyond the calendar" in view) == (claims["iat"] == 10**20)
    connection = type("Connection", (), {"whoami": {}, "access_token": token, "records": []})()
    assert "token lifetime" in compare_identities(connection, connection).html


@pytest.mark.parametrize(
    ("header", "claims"),
    [
        pytest.param(b'{"alg": "none"}', b"[" * 3000 + b"]" * 3000, id="claims-nested-3000-deep"),
        pytest.param(b'{"a": ' + b"[" * 3000 + b"]" * 3000 + b"}", b"{}", id="header-nested-3000-deep"),
    ],
)
def test_a_token_whose_json_nests_deeper_than_the_lab_reads_is_shown_opaque_not_a_crash(
    header: bytes, claims: bytes
) -> None:
    # RFC 8259 §9: a parser may limit nesting. Unbounded, json.loads raised RecursionError (not the
    # ValueError that marks a token opaque) on a token from a trace file or a hostile AS; the
    # client's own decode_jwt_payload already refused it.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    token = f"{b64(header)}.{b64(claims)}.sig"
    view = show_token(token)
    assert (view.claims, view.header) == ({}, {}) and "opaque token" in repr(view)


def test_a_body_nested_deeper_than_the_lab_reads_is_shown_as_sent_in_every_view() -> None:
    # RFC 8259 §9: a parser may limit nesting. A stranger's request in served mode (or a hostile
    # server's answer) 3,000 levels deep made json.loads raise RecursionError, not the ValueError
    # that shows a body as text, out of Exchange.json(), show_exchange and the sequence diagram.
    deep_object, deep_array = '{"a":' * 3000 + "1" + "}" * 3000, "[" * 3000 + "]" * 3000
    exchange = Exchange(
        seq=1, step=None, caller="stranger", host="mcp.example.com", address=None, method="POST",
        url="https://mcp.example.com/mcp", request_headers=(("Content-Type", "application/json"),),
        request_body=deep_object, status=200, response_headers=(("Content-Type", "application/json"),),
        response_body=deep_array,
    )  # fmt: skip
    assert exchange.json() is None
    assert "[" * 1000 in show_exchange(exchange).html  # shown as sent, not indented
    assert "POST /mcp" in sequence_diagram([exchange]).mermaid
    assert access_tokens([replace(exchange, url="https://auth.example.com/token")]) == []


def test_an_experiment_summary_quoting_a_server_is_markdown_text_not_markup() -> None:
    result = ExperimentResult("e", "hardened", "refused", f"the AS said {HOSTILE} [x](javascript:alert(1))", "why")
    markdown = result._repr_markdown_()
    assert "<script" not in markdown and "<img" not in markdown and "](javascript" not in markdown
    assert r"&lt;script&gt;alert\(1\)&lt;/script&gt;" in markdown


async def test_a_hostile_client_name_is_escaped_from_wire_to_view(lab: Lab) -> None:
    metadata = {"client_name": HOSTILE}
    dcr = await lab.connect("dcr", client_metadata={**lab.client("dcr").client_metadata, **metadata})
    htmls = [show_exchange(e).html for e in lab.trace.exchanges] + [show_step(r).html for r in dcr.records]
    htmls += [show_as_state(lab).html, show_consent(dcr.client.state.consent_page).html]
    for html in htmls:
        assert "<script>" not in html and "<img src=x" not in html


@pytest.mark.parametrize(
    ("header", "claims", "said"),
    [
        ({"typ": "oauth-id-jag+jwt"}, {"iss": "https://idp.example.com", "aud": "https://auth.example.com"},
         ["Identity assertion (ID-JAG)", "the enterprise IdP", "the AS that will redeem it", "The AS verifies it with the IdP"]),
        ({"typ": "at+jwt"}, {"aud": "https://api.example.com/", "scope": "contacts:read", "act": {"sub": "notes-mcp-server"}},
         ["from a token exchange", "the API the MCP server calls", "not the user&#x27;s consent", "The API verifies it"]),
        ({"typ": "at+jwt"}, {"sub": "https://app.example/service.json", "client_id": "https://app.example/service.json"},
         ["a client acting for itself", "the client itself, acting for nobody"]),
    ],
    ids=["id-jag", "exchanged", "client-credentials"],
)  # fmt: skip
def test_a_token_that_is_no_users_access_token_is_explained_as_what_it_is(
    header: dict[str, str], claims: dict[str, object], said: list[str]
) -> None:
    # Notebook 07 shows three: each was explained as a user's access token for the MCP server, the
    # IdP called "the authorization server", the AS "the MCP server's canonical URI", a job "the user".
    def b64(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    html = show_token(f"{b64(header)}.{b64(claims)}.c2ln").html
    assert [phrase for phrase in said if phrase not in html] == []


async def test_the_token_view_explains_each_claim(lab: Lab) -> None:
    cimd = await lab.connect("cimd")
    assert cimd.access_token
    view = show_token(cimd.access_token)
    for name in ("iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti", "alg", "typ", "kid"):
        assert f"<code>{name}</code>" in unstyled(view.html)
    for spec in ("RFC 9068", "RFC 8707", "RFC 7519"):
        assert spec in view.html
    assert "1767225600 (2026-01-01T00:00:00Z)" in view.html and "Lifetime: 900 s." in view.html
    assert cimd.access_token not in view.html
    assert repr(view).startswith(
        "<TokenView: iss=https://auth.example.com sub=alice aud=https://mcp.example.com/mcp client_id=https://app.example/client.json"
    )
    assert show_token(view.claims).claims == view.claims
    assert repr(show_token("opaque-token")) == "<TokenView: opaque token opaque-token>"


async def test_the_consent_view_shows_the_page_in_a_sandbox_and_as_text(lab: Lab) -> None:
    cimd = await lab.connect("cimd")
    view = show_consent(cimd.client.state.consent_page)
    assert '<iframe sandbox="" srcdoc="&lt;!doctype html&gt;' in view.html
    assert "client_id: https://app.example/client.json" in view.text
    assert "[Approve] [Deny]" in view.text
    assert repr(view).startswith("<ConsentView: Allow access to your account?")


async def test_the_as_state_view_sets_records_against_the_cache(lab: Lab) -> None:
    dcr, cimd = await both(lab)
    view = show_as_state(lab)
    registrations, cache = view.html.split("CIMD cache", 1)
    assert dcr.client_id in registrations and cimd.client_id not in registrations
    assert cimd.client_id in cache and "fresh for 300 s" in cache
    assert repr(view) == "<ASStateView: 1 registration(s), 1 cached document(s), 2 token(s) issued>"


async def test_the_as_state_view_counts_every_access_token_issued_expired_ones_too() -> None:
    # The AS forgets an expired token's record at its next issuance: counted from the records,
    # "2 token(s) issued" became "1" once a third was issued after the first two expired.
    lab = Lab(seed=0)
    first = await lab.connect("cimd")
    await lab.connect("cimd")
    claims = decode_jwt_payload(first.access_token)
    lab.clock.advance(claims["exp"] - claims["iat"] + 1)
    await lab.connect("cimd")
    assert len(lab.auth_server.issued) == 1 and "3 access token(s) issued" in show_as_state(lab).html


async def test_compare_identities_same_user_and_audience_different_client(lab: Lab) -> None:
    dcr, cimd = await both(lab)
    table = compare_identities(dcr, cimd)
    rows = {name: (a, b) for name, a, b in table.rows}
    assert rows["user (sub)"] == ("alice", "alice")
    assert rows["audience (aud)"][0] == rows["audience (aud)"][1] == lab.mcp_url
    assert rows["token client_id claim"] == (dcr.client_id, cimd.client_id)
    assert rows["how the id was obtained"] == ("dcr", "cimd")
    assert repr(table) == "<IdentityComparison: DCR vs CIMD: 4 of 9 rows differ>"
    assert str(table).splitlines()[0].split() == ["DCR", "CIMD"]


async def test_a_failed_step_is_shown_with_the_step_it_failed_in(lab: Lab) -> None:
    client = lab.client("dcr", decision="deny")
    with pytest.raises(Exception, match=r"step 5 \(authorize\)"):
        await client.run_all()
    view = show_step(client.records[-1])
    assert '<div class="err"><b>step 5 (authorize) failed:</b> the AS answered access_denied' in unstyled(view.html)
    assert repr(view).startswith(
        "<StepView: step 5 authorize — Authorization request, consent, redirect: failed: the AS answered access_denied"
    )
    text = sequence_diagram(client).mermaid
    assert "5 · Authorization request, consent, redirect — failed" in text
    assert "AS-->>Browser: 303 → app.example/callback?error=access_denied" in text


async def test_a_failed_steps_card_shows_at_most_error_limit_characters_of_its_reason(lab: Lab) -> None:
    # The second line of defence behind the client's own bound (error_text.told): a reason of any
    # length, however it was made, is cut in the middle, keeping the rule cited at its end.
    client = lab.client("dcr", decision="deny")
    with pytest.raises(StepError):
        await client.run_all()
    record = replace(client.records[-1], learned={"error": "x" * 600_000 + " (the rule, §1)"})
    html = show_step(record).html
    assert "x" * ERROR_LIMIT not in html and "x [...] x" in html and "(the rule, §1)</div>" in html
    assert len(html) < 20_000


@pytest.mark.parametrize(
    ("learned", "drawn"),
    [
        ({"request": "tools/call", "challenged": " ".join(f"s{i}" for i in range(60_000))}, "challenged=s0 s1 s2 "),
        ({"error": "x" * 600_000 + " (the rule, §1)"}, "no request sent; failed: xxx"),
        (
            {"method": "cimd", "client_id": "https://app.example/" + "c" * 600_000},
            "client_id = https://app.example/ccc",
        ),
    ],
    ids=["a-step-up-s-scope", "a-failure", "a-cimd-client-id"],
)
async def test_a_step_that_sent_nothing_is_drawn_as_a_note_cut_as_a_messages_label_is(
    lab: Lab, learned: dict[str, str], drawn: str
) -> None:
    # A step-up's challenged scope of 400 kB (the server's), written whole into the step's note,
    # made a 1 MB SVG of the stepper's whole-run diagram: each value is cut to the labels' limit,
    # a failure in the middle, keeping the rule at its end.
    dcr = await lab.connect("dcr")
    record = replace(dcr.records[0], number=10, name="step-up", exchanges=[], learned=learned)
    (note,) = [item.text for block in build_model([record]).blocks for item in block.items]
    assert note.startswith("no request") and drawn in note and len(note) < 700
    assert "(the rule, §1)" in note if "error" in learned else "…" in note
    diagram = sequence_diagram([record])
    assert len(diagram.svg) < 20_000 and len(diagram.mermaid) < 5_000


async def test_a_steps_card_shows_at_most_error_limit_characters_of_an_explanation_or_a_note(lab: Lab) -> None:
    # They quote servers too (a scope, a client_id, a list of names): bounded as a reason is, behind
    # the client's own bound, however they were made.
    dcr = await lab.connect("dcr")
    long = "x" * 600_000 + " (the rule, §1)"
    html = show_step(replace(dcr.records[3], explanation=long, notes=[long, "short"])).html
    assert "x" * ERROR_LIMIT not in html and html.count("x [...] x") == 2 and html.count("(the rule, §1)") == 2
    assert "<li>short</li>" in html and len(html) < 40_000


async def test_a_step_cards_notes_are_cut_as_its_reason_is_and_shown_at_most_notes_shown_of_them(lab: Lab) -> None:
    # A server can make a step note much: a list of versions 840 kB long went whole into one note,
    # and a tools/list of 10,000 invalid tools makes a note for each. Each note is cut in the middle
    # (keeping the rule cited at its end), and the card says how many more there are.
    dcr = await lab.connect("dcr")
    notes = ["x" * 600_000 + " (the rule, §1)", *(f"note {n}" for n in range(10_000))]
    html = unstyled(show_step(replace(dcr.records[0], notes=notes)).html)
    assert "x" * NOTE_LIMIT not in html and "x [...] x" in html and "(the rule, §1)</li>" in html
    assert f"note {NOTES_SHOWN - 2}</li>" in html and f"note {NOTES_SHOWN - 1}</li>" not in html
    assert f"and {len(notes) - NOTES_SHOWN} more notes</li>" in html and len(html) < 20_000


async def test_a_long_step_card_can_be_folded_under_its_title(lab: Lab) -> None:
    dcr = await lab.connect("dcr")
    step5 = dcr.records[4]
    folded, open_ = unstyled(show_step(step5, collapsed=True).html), unstyled(show_step(step5).html)
    title = "<h4>Step 5 · Authorization request, consent, redirect"
    assert title in folded and folded.index(title) < folded.index("<details><summary>The whole step card")
    assert "The whole step card" not in open_ and repr(show_step(step5, collapsed=True)) == repr(show_step(step5))


async def test_a_sequence_diagram_marks_where_two_runs_meet(lab: Lab) -> None:
    await lab.connect("dcr")
    cimd = await lab.connect("cimd")
    first = cimd.client.records[0].exchanges[0]
    diagram = sequence_diagram(lab.trace, marks={first.seq: "DCR above, CIMD below"})
    lines = diagram.mermaid.splitlines()
    note = next(i for i, line in enumerate(lines) if line.strip().endswith(": DCR above, CIMD below"))
    request = next(i for i, line in enumerate(lines) if i > note and "->>" in line)
    assert lines[request].strip().startswith("Client->>") and "POST /mcp" in lines[request]
    assert "DCR above, CIMD below" in diagram.svg
    assert sequence_diagram(lab.trace, marks={10_000: "nowhere"}).mermaid == sequence_diagram(lab.trace).mermaid


def test_the_views_do_not_import_ipywidgets() -> None:
    # `import lab_servers` and the views must stay fast: only lab_servers.widgets loads ipywidgets.
    package = Path(lab_servers.__file__).parent
    for path in [package / "__init__.py", *(package / "views").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("ipywidgets", "IPython") or "widgets" in n for n in names), path
