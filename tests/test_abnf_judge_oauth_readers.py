"""The `abnf` judge (see `test_abnf_judge_readers.py`) on the OAuth readers of the lab's servers:
RFC 6749's scope, RFC 7636's PKCE values, RFC 6750's Bearer and RFC 7617's Basic credentials,
RFC 3986's URIs; and on the lab client's readers of what servers send: RFC 9110's challenge
(WWW-Authenticate) and the media type of an MCP answer. The allow-list is the one in
`test_abnf_judge_readers.py`, whose judges the last test here also checks it against."""

from __future__ import annotations

import base64
import hashlib
import re
import string
from typing import Any

import httpx
import pytest
from hypothesis import given

from lab_servers import MCP_URL
from lab_servers.authorization_server.errors import OAuthError
from lab_servers.authorization_server.presented_credentials import basic_credentials
from lab_servers.authorization_server.resources import canonical_resource
from lab_servers.authorization_server.rfc6749 import scope_tokens
from lab_servers.authorization_server.rfc7591 import MetadataError, check_redirect_uri
from lab_servers.authorization_server.rfc7636 import check_code_challenge, verify_code_verifier
from lab_servers.client.streamable_http import json_rpc_response
from lab_servers.client.www_authenticate import parse_www_authenticate
from lab_servers.resource_server.rfc6750 import MalformedBearerRequest, bearer_token
from lab_servers.rfc3986 import grammar_problem, is_uri_text

from .abnf_judge import (
    HOSTILE,
    JUDGED,
    OWS,
    URI_REFERENCE,
    Judge,
    Reading,
    absolute_uri,
    grammar_basic,
    grammar_bearer,
    grammar_challenges,
    grammar_media_type,
    grammar_scope,
    grammar_text,
    parsed,
)
from .abnf_rules import RFC7636
from .test_abnf_judge_readers import (
    ACCEPT_EDGES,
    ACCEPT_JUDGE,
    ALLOWED,
    CACHE_CONTROL_EDGES,
    CACHE_CONTROL_JUDGE,
    CODING_EDGES,
    CODING_JUDGE,
    DATE_EDGES,
    DATE_JUDGE,
    HOST_EDGES,
    HOST_JUDGE,
    MEDIA_TYPE_EDGES,
    MEDIA_TYPE_JUDGE,
    ORIGIN_EDGES,
    ORIGIN_JUDGE,
    TOKEN_EDGES,
    TOKEN_JUDGE,
    judged,
)

# The lab client reads the MCP answer by its media type (RFC 9110 §8.3.1) --------------------


def _client_reads_a_stream(text: str) -> bool:
    # The lab client reads an MCP answer as an event stream, or as JSON (MCP Streamable HTTP).
    stream = b'data: {"jsonrpc": "2.0", "id": 1, "result": {}}\n\n'
    response = httpx.Response(200, headers=[(b"content-type", text.encode("latin-1"))], content=stream)
    try:
        return json_rpc_response(response, 1) == {"jsonrpc": "2.0", "id": 1, "result": {}}
    except ValueError:
        return False


STREAM_JUDGE = Judge(lab=_client_reads_a_stream, grammar=lambda text: grammar_media_type(text) == "text/event-stream")
STREAM_EDGES = [*(h for h in HOSTILE if all(c <= "\xff" for c in h)), "text/event-stream", "Text/Event-Stream",
                "TEXT/EVENT-STREAM; charset=utf-8", "text/event-streamx", "text/event-stream;", "text/event-stream x",
                "text/event-stream\xa0", " text/event-stream", "application/json", "text/event-stream, application/json"]  # fmt: skip


def test_the_client_reads_an_event_stream_by_its_media_type() -> None:
    judged(STREAM_JUDGE, STREAM_EDGES)


# RFC 6749 §3.3, Appendix A.4: scope ------------------------------------------------------------


def _lab_scope(text: str) -> list[str] | None:
    try:
        return scope_tokens(text)
    except OAuthError:
        return None


def _scope_allowed(text: str, lab: Any, grammar: Any) -> str | None:
    if grammar is None and lab == [] and text.strip(" ") == "":
        return "omitted-scope"
    if grammar is None and lab and grammar_scope(re.sub(" +", " ", text.strip(" "))) == lab:
        return "extra-sp"
    return None


SCOPE_JUDGE = Judge(lab=_lab_scope, grammar=grammar_scope, allowed=_scope_allowed)
SCOPE_EDGES = [*HOSTILE, "notes:read", "notes:read notes:write", "notes:read  notes:write", " notes:read ", "   ",
               "notes:read\tnotes:write", "notes:read\xa0notes:write", "notes:read\u3000notes:write", 'a"b', "a\\b",
               "!#[]~", "\x7f", "a b a", "é"]  # fmt: skip


def test_scope_reading_agrees_with_rfc6749() -> None:
    judged(SCOPE_JUDGE, SCOPE_EDGES)


@JUDGED
@given(grammar_text(["notes:read", "mcp", " ", "!", "~", "[", "]"]))
def test_scope_reading_agrees_with_rfc6749_on_generated_text(text: str) -> None:
    judged(SCOPE_JUDGE, [text])


# RFC 7636 §4.1, §4.2: code_verifier and code_challenge ------------------------------------------


def _lab_takes_challenge(text: str) -> bool:
    try:
        return check_code_challenge(text, "S256") == text
    except OAuthError:
        return False


def _lab_takes_verifier(text: str) -> bool:
    # Against the challenge it makes (S256, §4.2), so that only the grammar can refuse it.
    challenge = base64.urlsafe_b64encode(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
    try:
        verify_code_verifier(text, challenge.decode().rstrip("="))
    except OAuthError:
        return False
    return True


PKCE_EDGES = [*HOSTILE, "a" * 42, "a" * 43, "a" * 128, "a" * 129, "A-._~" * 9, "a" * 42 + "+", "a" * 42 + "/",
              "a" * 42 + "=", "a" * 43 + "\n", "a" * 42 + "\u0661", "a" * 42 + "\u017f", "a" * 42 + "K", "a" * 42 + "\u212a",
              " " + "a" * 43, "a" * 43 + " "]  # fmt: skip
PKCE_TEXT = grammar_text(["a" * 20, "Z9", "-", ".", "_", "~", "+", "/", "="], 14)


@pytest.mark.parametrize(
    ("rule", "lab"), [("code-challenge", _lab_takes_challenge), ("code-verifier", _lab_takes_verifier)]
)
def test_pkce_values_agree_with_rfc7636(rule: str, lab: Any) -> None:
    judged(Judge(lab=lab, grammar=lambda text: parsed(RFC7636(rule), text) is not None), PKCE_EDGES)


@JUDGED
@given(PKCE_TEXT)
def test_pkce_values_agree_with_rfc7636_on_generated_text(text: str) -> None:
    for rule, lab in (("code-challenge", _lab_takes_challenge), ("code-verifier", _lab_takes_verifier)):
        judged(Judge(lab=lab, grammar=lambda text: parsed(RFC7636(rule), text) is not None), [text])  # noqa: B023


# RFC 6750 §2.1: the bearer token; RFC 7617 §2: Basic credentials --------------------------------


def _lab_bearer(text: str) -> str | None:
    try:
        return bearer_token([text.strip(OWS)])
    except MalformedBearerRequest:
        return None


BEARER_JUDGE = Judge(lab=_lab_bearer, grammar=grammar_bearer)
B64 = ["abc", "AZaz09-._~+/", "abc=", "abc==", "=", "a=b", "a b", "a\tb", "\xa0", "\u3000", "é"]
BEARER_EDGES = [*HOSTILE, *(f"{scheme}{sep}{token}" for scheme in ("Bearer", "bearer", "BEARER", "Bearer\xa0", "Basic")
                            for sep in (" ", "  ", "\t", " \t", "\t ", "") for token in B64),
                # §2.1: "Bearer" 1*SP b64token: only SPs come off before the token, whichever b64token
                # character it begins with.
                *(f"Bearer {char}bc" for char in string.ascii_letters + string.digits + "-._~+/")]  # fmt: skip


def test_bearer_token_reading_agrees_with_rfc6750() -> None:
    judged(BEARER_JUDGE, BEARER_EDGES)


@JUDGED
@given(grammar_text(["Bearer ", "bearer ", "abc", "+/", "-._~", "="]))
def test_bearer_token_reading_agrees_with_rfc6750_on_generated_text(text: str) -> None:
    judged(BEARER_JUDGE, [text])


def _lab_basic(text: str) -> tuple[str, str] | None:
    field = text.strip(OWS)
    if field[:6].lower() != "basic ":  # the callers' own test for the scheme (presented_credentials.py)
        return None
    try:
        return basic_credentials(field)
    except ValueError:
        return None


def _basic(pair: bytes) -> str:
    return base64.b64encode(pair).decode()


BASIC_JUDGE = Judge(
    lab=_lab_basic,
    grammar=grammar_basic,
    allowed=lambda text, lab, grammar: "basic-is-base64" if lab is None and isinstance(grammar, str) else None,
)
BASIC_PAIRS = [b"a:b", b"a:", b":b", b"a", b"a:b:c", b"a%3Ab:c", b"a+b:c", b"\xff:b", b"a%FF:b", b"a\x00:b", b"a:b\x7f",
               b"caf\xc3\xa9:x", b"a:b\n"]  # fmt: skip
BASIC_EDGES = [*HOSTILE, *(f"{scheme}{sep}{_basic(pair)}" for scheme in ("Basic", "basic", "BASIC")
                           for sep in (" ", "  ", "\t", " \t", "") for pair in BASIC_PAIRS),
               "Basic YTpi=", "Basic YTpi==", "Basic YTp", "Basic YTpi-_", "Basic YR==", "Basic YQ==YQ==", "Basic =",
               "Basic YTpi\xa0", "Basic realm=x",
               # RFC 9110 §11.4: only SPs come off before the token68, whichever character it begins
               # with: a user-id of any printable first octet (`_:x` is `Xzp4`).
               *(f"Basic {_basic(bytes([octet]) + b':x')}" for octet in range(0x21, 0x7F))]  # fmt: skip


def test_basic_credentials_reading_agrees_with_rfc7617() -> None:
    judged(BASIC_JUDGE, BASIC_EDGES)


@JUDGED
@given(grammar_text(["Basic ", "YTpi", "YTo=", "OmI=", "YQ==", "=", "+", "/", "-"]))
def test_basic_credentials_reading_agrees_with_rfc7617_on_generated_text(text: str) -> None:
    judged(BASIC_JUDGE, [text])


# RFC 9110 §11.6.1: WWW-Authenticate, as the lab client reads it ----------------------------------


def _lab_challenges(text: str) -> tuple[Reading, bool]:
    challenges = parse_www_authenticate(text.strip(OWS))
    return [(c.scheme.lower(), c.params) for c in challenges], all(c.malformed is None for c in challenges)


def _lenient(text: str, lab: Any, grammar: Any) -> str | None:
    # Allowed where the lab read nothing, or did not take another character for whitespace: the same text
    # with every non-SP/HTAB space made an SP must not read, by the grammar, as the lab read it.
    spaced = "".join(" " if c.isspace() and c not in OWS else c for c in text)
    if grammar is None and (lab[0] == [] or spaced == text or grammar_challenges(spaced) != lab):
        return "lenient-client"
    return None


CHALLENGE_JUDGE = Judge(lab=_lab_challenges, grammar=grammar_challenges, allowed=_lenient)
CHALLENGE_EDGES = [*HOSTILE, "Bearer", "Bearer realm=x", 'Bearer realm="x"', 'Bearer realm="a\\"b\\\\c"', "bearer  realm = x",
                   'Basic realm="a", Bearer error="invalid_token", scope="a b"', "Bearer a=b,, c=d", "Bearer , a=b", ", Bearer a=b",
                   "Bearer a=b, Basic", "Newauth abc==, Bearer a=b", "Bearer abc==", "Bearer a=b c=d", "Bearer a=b, a=c",
                   "Bearer\u3000realm=x", "Bearer\xa0realm=x", "Bearer realm=x,\u3000Basic", "Bearer\trealm=x",
                   "Bearer realm=x\r\n, Basic", "Bearer resource_metadata=https://x/y", 'Bearer a="\x80\xff"',
                   'Bearer a="\x00"', "Bearer a=b\x0b, Basic", "Bearer =x", 'Bearer a="unterminated']  # fmt: skip
CHALLENGE_PIECES = ["Bearer", "Basic", " ", "realm", "=", "x", '"a b"', '"\\""', ",", ", ", "abc=="]


def test_www_authenticate_reading_agrees_with_rfc9110() -> None:
    judged(CHALLENGE_JUDGE, CHALLENGE_EDGES)


@JUDGED
@given(grammar_text(CHALLENGE_PIECES, 12))
def test_www_authenticate_reading_agrees_with_rfc9110_on_generated_text(text: str) -> None:
    judged(CHALLENGE_JUDGE, [text])


# RFC 3986: URIs, and RFC 6749 §3.1.2's redirect URI ----------------------------------------------

URI_EDGES = [*HOSTILE, "https://app.example/cb", "https://app.example/cb?x=1", "http://127.0.0.1:3000/cb", "https://[::1]/cb",
             "https://[v1.x]/cb", "https://a/%zz", "https://a/%2", "https://a/%2F", "https://a/[x]", "https://a/?q=[", "https://a[/",
             "https://a]/", "https://[::1/", "https://a@b/cb", "https://a:b@c/cb", "http://a:b:c/", "https://a:99999/",
             "https://a:/cb", "https://a/cb#f", "com.example.app:/cb", "com.example.app:/c[b]?next=https://app.example/",
             "https://a/b c", "https://a/b\\c", "https://a/\u00e9", "//a/b", "/a", "a:", "1a:/b", ":/b", "https:", "https://",
             "https:///cb", "https://a.example./cb", "https://a/%41", "https://[fe80::1%25eth0]/", "https://a/'~!$&()*+,;=:@",
             MCP_URL, MCP_URL.upper(), "HTTPS://MCP.EXAMPLE.COM/mcp", MCP_URL + "#", MCP_URL + "?", " " + MCP_URL,
             MCP_URL + "\t", "https://mcp.example.com:443/mcp", "https://mcp.example.com/%6Dcp"]  # fmt: skip
URI_PIECES = ["https", "http", ":", "//", "/", "?", "#", "[", "]", "@", "%", "2F", "zz", "app.example", "::1", "127.0.0.1",
              "80", "~", "'", "cb"]  # fmt: skip


def _redirect_uri_taken(text: str) -> bool:
    try:
        check_redirect_uri(text)
    except MetadataError:
        return False
    return True


def _resource_taken(text: str) -> bool:
    try:
        canonical_resource(text, [MCP_URL])
    except OAuthError:
        return False
    return True


URI_JUDGES = {
    # Each lab check refuses only what the grammar refuses; it need not refuse all of it (ALLOWED).
    "is_uri_text": Judge(
        lab=is_uri_text,
        grammar=lambda text: parsed(URI_REFERENCE, text) is not None,
        allowed=lambda text, lab, grammar: "uri-characters-only" if lab and not grammar else None,
    ),
    "grammar_problem": Judge(
        lab=lambda text: is_uri_text(text) and grammar_problem(text) is None,
        grammar=lambda text: parsed(URI_REFERENCE, text) is not None,
        allowed=lambda text, lab, grammar: "grammar-problem-two-rules" if lab and not grammar else None,
    ),
    "check_redirect_uri": Judge(
        lab=_redirect_uri_taken,
        grammar=absolute_uri,
        allowed=lambda text, lab, grammar: "redirect-uri-policy" if grammar and not lab else None,
    ),
    "canonical_resource": Judge(
        lab=_resource_taken,
        grammar=absolute_uri,  # RFC 8707 §2: "an absolute URI, as specified by Section 4.3 of [RFC3986]"
        allowed=lambda text, lab, grammar: "resource-known-only" if grammar and not lab else None,
    ),
}


@pytest.mark.parametrize("reader", URI_JUDGES)
def test_uri_readers_agree_with_rfc3986(reader: str) -> None:
    judged(URI_JUDGES[reader], URI_EDGES)


@JUDGED
@given(grammar_text(URI_PIECES, 12))
def test_uri_readers_agree_with_rfc3986_on_generated_text(text: str) -> None:
    for judge in URI_JUDGES.values():
        judged(judge, [text])


# The allow-list ------------------------------------------------------------------------------


def test_every_listed_difference_is_met_by_a_hand_picked_input() -> None:
    # A reason no input needs any more is a reason the lab no longer has: it leaves the list.
    used: set[str] = set()
    judges = [(TOKEN_JUDGE, TOKEN_EDGES), (DATE_JUDGE, DATE_EDGES), (MEDIA_TYPE_JUDGE, MEDIA_TYPE_EDGES),
              (ACCEPT_JUDGE, ACCEPT_EDGES), (CODING_JUDGE, CODING_EDGES), (CACHE_CONTROL_JUDGE, CACHE_CONTROL_EDGES),
              (SCOPE_JUDGE, SCOPE_EDGES), (HOST_JUDGE, HOST_EDGES), (ORIGIN_JUDGE, ORIGIN_EDGES), (BASIC_JUDGE, BASIC_EDGES), (CHALLENGE_JUDGE, CHALLENGE_EDGES),
              *((judge, URI_EDGES) for judge in URI_JUDGES.values())]  # fmt: skip
    for judge, edges in judges:
        assert judge.disagreements(edges, ALLOWED, used) == []
    assert set(ALLOWED) - used == set()
