"""Against a hostile or broken server the lab client names the step that fails and the rule broken,
and never crashes: every JSON body it reads goes through the bounded parser (RFC 8259 §9) and
must be the JSON type its RFC says, and every answer is read to a limit, on the wire and decoded."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from starlette.responses import Response, StreamingResponse

from lab_servers import Lab, StepError

from .hostile_server import BASE, HostileServer, _json, _metadata, _redirect, _run, _tools

pytestmark = pytest.mark.anyio


NESTED = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError, not ValueError


# Every JSON body: bounded (RFC 8259 §9), and the JSON type its rule says -----------------------

HOSTILE_BODIES = [
    ("prm", _json(NESTED), 2, r"step 2 \(resource-metadata\): the Protected Resource Metadata at .* nested deeper than 32 levels \(RFC 8259 §9"),
    ("prm", _json([1]), 2, r"step 2 \(resource-metadata\): .* is a JSON array, not a JSON object \(RFC 9728 §3.2"),
    ("as_metadata", _json([1, 2]), 3, r"step 3 \(as-metadata\): the authorization server metadata at .* is a JSON array, not a JSON object \(RFC 8414 §3.2"),
    ("as_metadata", _json(NESTED), 3, r"step 3 \(as-metadata\): .* nested deeper than 32 levels \(RFC 8259 §9"),
    ("as_metadata", _json("<html>", content_type="text/html"), 3, r"step 3 \(as-metadata\): .* is not valid JSON"),
    ("as_metadata", _json(_metadata(code_challenge_methods_supported="S256-or-not")), 3, r"step 3 \(as-metadata\): the AS does not advertise PKCE S256"),
    ("as_metadata", _json(_metadata(token_endpoint_auth_methods_supported="none")), 3, r"step 3 \(as-metadata\): AS metadata token_endpoint_auth_methods_supported is not a JSON array of strings \(RFC 8414 §2\)"),
    ("register", _json(NESTED, 201), 4, r"step 4 \(client-id\): the registration response is nested deeper"),
    ("register", _json([1], 400), 4, r"step 4 \(client-id\): the registration endpoint's 400 answer is a JSON array, not a JSON object \(RFC 7591 §3.2.2"),
    ("register", _json('"no"', 400), 4, r"step 4 \(client-id\): .* 400 answer is a JSON string"),
    # RFC 9110 §8.3.1: the type and subtype are case-insensitive; the refusal's JSON is read under any case.
    ("register", _json({"error": "invalid_client_metadata", "error_description": "no"}, 400, "Application/JSON"), 4, r"step 4 \(client-id\): registration refused \(400 invalid_client_metadata: no\)"),
    ("register", _json({"client_id": {"a": 1}}, 201), 4, r"step 4 \(client-id\): the registration response's client_id is a JSON object, not a JSON string \(RFC 7591 §3.2.1\)"),
    ("register", _json({"client_secret": "s"}, 201), 4, r"step 4 \(client-id\): the registration response has no client_id \(RFC 7591 §3.2.1: REQUIRED\)"),
    # RFC 7591 §3.2.1: a number of seconds; Python's bool is an int, so true was read as 1 (long expired).
    ("register", _json({"client_id": "c", "client_secret": "s", "client_secret_expires_at": True}, 201), 4, r"step 4 \(client-id\): the registration response's client_secret_expires_at is a JSON boolean, not a JSON number \(RFC 7591 §3.2.1\)"),
    ("token", _json([1]), 6, r"step 6 \(token\): the token response is a JSON array, not a JSON object \(RFC 6749 §5.1"),
    ("token", _json([1], 400), 6, r"step 6 \(token\): the token endpoint's 400 answer is a JSON array, not a JSON object \(RFC 6749 §5.2"),
    ("token", _json(NESTED), 6, r"step 6 \(token\): the token response is nested deeper"),
    ("token", _json({"access_token": 5, "token_type": "Bearer"}), 6, r"step 6 \(token\): the token response's access_token is a JSON number, not a JSON string \(RFC 6749 §5.1\)"),
    ("token", _json({"access_token": "t", "token_type": "Bearer", "scope": ["a"]}), 6, r"step 6 \(token\): the token response's scope is a JSON array"),
    ("mcp", lambda m: _json({"jsonrpc": "2.0", "id": m["id"], "error": "boom"}), 7, r"step 7 \(mcp\): the JSON-RPC response's error is a JSON string, not a JSON object \(JSON-RPC 2.0 §5.1\)"),
    ("mcp", lambda m: _json([1]), 7, r"step 7 \(mcp\): the JSON-RPC answer is a JSON-RPC batch \(an array\), which MCP 2025-11-25 does not have: batches belong to 2025-03-26 alone"),
    ("mcp", lambda m: _json(NESTED), 7, r"step 7 \(mcp\): the JSON-RPC response is nested deeper"),
    ("mcp", lambda m: _json("data: " + NESTED + "\n\n", content_type="text/event-stream"), 7, r"step 7 \(mcp\): an event's JSON-RPC message is nested deeper"),
    ("mcp", lambda m: _json({"jsonrpc": "2.0", "id": m["id"], "result": [1]}), 7, r"step 7 \(mcp\): the JSON-RPC response's result is a JSON array, not a JSON object \(MCP schema\)"),
    ("mcp", _tools({"content": ["x"]}), 7, r"step 7 \(mcp\): the tools/call result's first content item is not a JSON object"),
    ("mcp", _tools({"content": [{"type": "text", "text": 5}]}), 7, r"step 7 \(mcp\): the first content item's text is a JSON number"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "body", "steps", "message"), HOSTILE_BODIES,
                         ids=[f"{a}-{i}" for i, (a, *_) in enumerate(HOSTILE_BODIES)])  # fmt: skip
async def test_a_hostile_body_fails_its_step_by_name_and_rule_never_with_a_crash(
    lab: Lab, answer: str, body: Any, steps: int, message: str
) -> None:
    with pytest.raises(StepError, match="^" + message):
        await _run(lab, HostileServer(**{answer: body}), steps)


async def test_a_servers_error_description_cannot_write_terminal_codes_into_the_step_error(lab: Lab) -> None:
    # RFC 6749 §5.2 allows error_description only printable ASCII; a hostile one may carry ESC
    # codes, a carriage return and a bidi override, and StepError text is printed.
    forged = "\x1b[8mhidden\x1b[0m\x1b[32m✅ step 4 succeeded\x1b[0m\rX\u202eabc"
    register = _json({"error": "invalid_client_metadata", "error_description": forged}, 400)
    with pytest.raises(StepError) as refused:
        await _run(lab, HostileServer(register=register), 4)
    text = str(refused.value)
    assert text.isprintable()
    assert r"\x1b[8mhidden\x1b[0m\x1b[32m✅ step 4 succeeded\x1b[0m\rX\u202eabc" in text


# A server's words in a step's reason (an error_description, a JSON-RPC error's message, an error
# page): whole up to the 600 characters the lab's own descriptions may have, cut in the middle past
# that (error_text.told). A 600 kB message went whole into the error, its card and the status line.
WORDY = "boom " + "y" * 600_000 + " end"
# 20 kB, not 600: the AS's words here travel in the redirect's Location header.
WORDY_REDIRECT = "error=access_denied&error_description=boom+" + "y" * 20_000 + "+end&state={state}&iss=" + BASE
CUT = r"boom y+ \[\.\.\.\] y+ end"

SERVERS_WORDS = [
    ("mcp", lambda m: _json({"jsonrpc": "2.0", "id": m["id"], "error": {"code": -32603, "message": WORDY}}), 7, rf"step 7 \(mcp\): tools/list failed: {CUT}$"),
    ("mcp", lambda m: _json(WORDY, 500, "text/html"), 7, rf"step 7 \(mcp\): tools/list answered 500: {CUT}$"),
    ("token", _json({"error": "invalid_grant", "error_description": WORDY}, 400), 6, rf"step 6 \(token\): the token endpoint answered 400 invalid_grant: {CUT}$"),
    ("register", _json({"error": "invalid_client_metadata", "error_description": WORDY}, 400), 4, rf"step 4 \(client-id\): registration refused \(400 invalid_client_metadata: {CUT}\)$"),
    ("authorize", lambda request: _redirect(request, WORDY_REDIRECT), 5, rf"step 5 \(authorize\): the AS answered access_denied: {CUT}$"),
]  # fmt: skip


@pytest.mark.parametrize(("answer", "body", "steps", "message"), SERVERS_WORDS,
                         ids=["json-rpc-error", "500-page", "token-error", "registration-error", "redirect-error"])  # fmt: skip
async def test_a_servers_words_in_a_step_error_are_quoted_whole_to_600_characters_and_cut_in_the_middle_past_them(
    lab: Lab, answer: str, body: Any, steps: int, message: str
) -> None:
    with pytest.raises(StepError, match="^" + message) as failed:
        await _run(lab, HostileServer(**{answer: body}), steps)
    assert len(str(failed.value)) < 700


async def test_a_tools_text_that_is_not_a_json_object_it_can_read_is_shown_as_text(lab: Lab) -> None:
    # MCP asks no JSON of a text content: a nesting too deep to read is just text, not a crash.
    text = '{"a":' + NESTED + "}"
    client = await _run(lab, HostileServer(mcp=_tools({"content": [{"type": "text", "text": text}]})), 7)
    assert client.state.whoami == {"text": text}


async def test_the_hostile_servers_happy_path_completes(lab: Lab) -> None:
    client = await _run(lab, HostileServer(), 7)
    assert client.state.whoami == {"sub": "alice"}


# Every answer: read to a limit, on the wire and decoded ------------------------------------------

CHUNK = 64 * 1024


LIMIT = 1024 * 1024  # SERVER_JSON_LIMITS.max_bytes


class Endless:
    """An answer that streams 64 KiB chunks for as long as the client reads (here: at most 64 MB,
    so that a client without a limit ends the test instead of hanging it), counting what it sent."""

    def __init__(self, status: int = 200, content_type: str = "application/json") -> None:
        self.status, self.content_type, self.sent = status, content_type, 0

    def __call__(self, request: Any) -> Response:
        async def chunks() -> Any:
            for _ in range(1024):
                self.sent += CHUNK
                yield b" " * CHUNK

        return StreamingResponse(chunks(), self.status, media_type=self.content_type)


ENDLESS = [("prm", 2, "GET"), ("as_metadata", 3, "GET"), ("register", 4, "POST"), ("authorize", 5, "GET"),
           ("token", 6, "POST"), ("mcp", 7, "POST")]  # fmt: skip


@pytest.mark.parametrize(("answer", "steps", "method"), ENDLESS, ids=[a for a, *_ in ENDLESS])
async def test_an_answer_that_will_not_end_fails_its_step_at_the_limit_not_after_it(
    lab: Lab, answer: str, steps: int, method: str
) -> None:
    endless = Endless(
        201 if answer == "register" else 200, "text/html" if answer == "authorize" else "application/json"
    )
    with pytest.raises(
        StepError,
        match=rf"^step {steps} \(.*\): the answer to {method} '{BASE}/\S* is larger than {LIMIT} bytes \(the lab client's limit\); reading stopped at the limit",
    ):
        await _run(lab, HostileServer(**{answer: endless}), steps)
    # Read while it streamed, not whole and judged after: the app was stopped a few chunks past the
    # limit (those the lab network had in flight), not after the 64 MB it would have sent.
    assert endless.sent <= LIMIT + 4 * CHUNK


def _encoded(body: bytes, encoding: str) -> Response:
    return Response(body, 200, media_type="application/json", headers={"Content-Encoding": encoding})


async def test_a_gzip_bomb_is_refused_while_it_inflates(lab: Lab) -> None:
    bomb = gzip.compress(b" " * (64 * LIMIT))  # 65 KB on the wire, 64 MB inflated
    with pytest.raises(
        StepError, match=rf"^step 3 \(as-metadata\): the answer to GET .* inflates to more than {LIMIT} bytes"
    ):
        await _run(lab, HostileServer(as_metadata=_encoded(bomb, "gzip")), 3)


async def test_a_gzipped_answer_within_the_limit_is_read_decoded(lab: Lab) -> None:
    client = await _run(
        lab, HostileServer(as_metadata=_encoded(gzip.compress(json.dumps(_metadata()).encode()), "gzip")), 7
    )
    assert client.state.whoami == {"sub": "alice"}
    assert all(e.request_header("accept-encoding") == "gzip, deflate" for e in lab.trace)


async def test_an_encoding_the_client_did_not_offer_is_refused(lab: Lab) -> None:
    with pytest.raises(
        StepError,
        match=r"^step 3 \(as-metadata\): .* was sent with Content-Encoding 'br', which the request's Accept-Encoding \(gzip, deflate\) did not offer \(RFC 9110 §8.4, §12.5.3\)",
    ):
        await _run(lab, HostileServer(as_metadata=_encoded(b"\x0b\x02\x80{}\x03", "br")), 3)
