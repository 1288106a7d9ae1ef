"""An outside judge for the lab's grammar readers: the `abnf` package (2.9.1, parsers built from the
RFCs' own ABNF; the rules it lacks are loaded from the RFCs' text in `abnf_rules.py`).

Every function of `lab_servers/` that reads a standard grammar from a stranger is put the same
inputs as the grammar it implements: the hostile values the other tests use, hand-picked edges of
each grammar, and hypothesis strings built from the grammar's pieces and a few characters that
break it. The lab accepts exactly what the grammar accepts, and reads the same structure from it
(a media type's type/subtype, Cache-Control's directives, a challenge's scheme and parameters),
or the difference is one listed in ALLOWED, with its reason and the spec line that makes it right.

The OAuth readers (scope, PKCE, Bearer and Basic credentials, URIs) and the lab client's
(WWW-Authenticate, its MCP answers' media type) are judged in `test_abnf_judge_oauth_readers.py`,
against the same allow-list.

A header reader is judged on a field value as the HTTP layer hands it over: RFC 9110 §5.5, "a
field value does not include leading or trailing whitespace" (h11 strips it), so the grammar is
asked about the value without the OWS around it."""

from __future__ import annotations

import re
from typing import Any

from abnf.grammars import cors, rfc9110
from hypothesis import given

from lab_servers.authorization_server.defensive_fetch import is_json_media_type
from lab_servers.browser_origins import LOOPBACK_HOSTS, is_loopback_origin
from lab_servers.resource_server.transport import OwnNames, _accepts_json
from lab_servers.rfc9110 import TOKEN, http_date, media_type, unsupported_coding
from lab_servers.rfc9111 import cache_directives, delta_seconds
from lab_servers.rfc9112 import is_host_field

from .abnf_judge import (
    HOSTILE,
    JUDGED,
    NOW,
    OWS,
    Judge,
    first,
    found,
    grammar_accepts_json,
    grammar_date,
    grammar_delta_seconds,
    grammar_directives,
    grammar_media_type,
    grammar_no_coding,
    grammar_text,
    parsed,
    recased,
)

# Each difference the lab makes on purpose: why, and the spec line that makes the lab right.
ALLOWED = {
    "cache-case": 'RFC 9111 §4.2: "Although all date formats are specified to be case-sensitive, a cache recipient '
    'SHOULD match the field value case-insensitively" (the AS reads dates as a cache: CIMD -02 §5)',
    "no-such-date": "RFC 9110 §5.6.7's grammar takes 31 Feb and 25:61:61, which name no time; RFC 9111 §5.3: a cache "
    '"MUST interpret invalid date formats ... as representing a time in the past"',
    "invalid-coding-refused": "a Content-Encoding that is no list of codings (RFC 9110 §8.4) cannot be taken to say "
    '"none": the content is refused with 415, as a coding the server does not take (§15.5.16)',
    "omitted-scope": "RFC 6749 §3.3: the scope is OPTIONAL; the lab reads an empty value, or SPs alone, as omitted "
    "(no scope-token named), where A.4's grammar has no empty scope",
    "extra-sp": "the lab reads several SPs between scope-tokens, or around them, as one (rfc6749.py): the tokens "
    "named are the same; every other character outside A.4's grammar is still invalid_scope",
    "basic-is-base64": "RFC 7617 §2: Basic's token68 is the Base64 encoding (RFC 4648 §4, padded: §3.2) of user-id "
    '":" password, which MUST NOT contain control characters; RFC 6749 §2.3.1: each part form-urlencoded UTF-8. '
    "token68 alone is a wider alphabet (-._~) and padding",
    "lenient-client": "the lab client reads the challenges of a WWW-Authenticate that breaks RFC 9110 §11.6.1 up to "
    "the break (a server's mistake later in the field does not hide a Bearer challenge before it; the one cut short "
    "is marked malformed): RFC 9110 §2.3's robustness. It reads no other character as whitespace (checked)",
    "resource-known-only": "the AS takes as a resource only the MCP servers it knows, their scheme and host in any case "
    "(RFC 8707 §2: invalid_target for one it does not issue tokens for; MCP §8.1: SHOULD accept uppercase scheme and "
    "host); a valid URI of another server is refused",
    "uri-characters-only": "is_uri_text checks RFC 3986 §2's characters only; the grammar is judged by its callers",
    "grammar-problem-two-rules": "grammar_problem names two breaks of RFC 3986 (§2.1 pct-encoded, §3.2.2 brackets) "
    "that urlsplit does not see; urlsplit and the callers' checks judge the rest",
    "origin-case": "the MCP server's and the AS's Origin check takes an http(s) loopback origin with its scheme or host in "
    "upper case (`HTTP://LOCALHOST`), which the Fetch standard's serialized-origin never is (a browser lowercases both, "
    "RFC 6454 §6.2): the origin it names is the one a browser would send, and it is loopback either way",
    "port-zeros": "the Origin check reads a port with more leading zeros than the Fetch standard's 1*5DIGIT holds "
    "(`:019300`) as its number, as the Host check reads it (RFC 3986 §3.2.3: port = *DIGIT; RFC 6454 §5 compares "
    "ports as numbers): a browser sends none, and refused in one field and read in the other, one port was two",
    "redirect-uri-policy": "the AS refuses URIs the grammar takes, on purpose: MCP §11.3 (https, or http on "
    "loopback), RFC 6749 §3.1.2 (no fragment), RFC 3986 §7.6 (userinfo), the WHATWG readings (rfc3986.py)",
}


def judged(judge: Judge, texts: list[str]) -> None:
    assert judge.disagreements(texts, ALLOWED, set()) == []


# RFC 9110 §5.6.2: token ------------------------------------------------------------------------

TOKEN_JUDGE = Judge(
    lab=lambda text: re.fullmatch(TOKEN, text) is not None,
    grammar=lambda text: parsed(rfc9110.Rule("token"), text) is not None,
)
TOKEN_EDGES = [*HOSTILE, "a", "!#$%&'*+-.^_`|~", "A9", "a b", "a/b", "(", ")", "{", "@", "[", "?", "\x7f", "a\n"]


def test_token_agrees_with_rfc9110() -> None:
    judged(TOKEN_JUDGE, TOKEN_EDGES + [chr(c) for c in range(0x100)])


# RFC 9110 §5.6.7: HTTP-date ---------------------------------------------------------------------


def _date_allowed(text: str, lab: Any, grammar: Any) -> str | None:
    if lab is None and isinstance(grammar, str):
        return "no-such-date"
    if grammar is None and lab is not None and grammar_date(recased(text)) == lab:
        return "cache-case"
    return None


DATE_JUDGE = Judge(lab=lambda text: http_date(text, NOW), grammar=grammar_date, allowed=_date_allowed)
DATE_EDGES = [*HOSTILE, "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
              "Sun Nov 16 08:49:37 1994", "sun, 06 nov 1994 08:49:37 gmt", "SUNDAY, 06-NOV-94 08:49:37 GMT",
              " \tSun, 06 Nov 1994 08:49:37 GMT\t ", "Sun, 06 Nov 1994 08:49:37 GMT\xa0", "Sun,  06 Nov 1994 08:49:37 GMT",
              "Sun,\t06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 94 08:49:37 GMT",
              "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 23:59:60 GMT",
              "Sun, 06 Nov 1994 23:59:61 GMT", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 +0000",
              "Sun, 06 Nov 0000 08:49:37 GMT", "Sun, 29 Feb 2000 00:00:00 GMT", "Sun, 29 Feb 1900 00:00:00 GMT",
              "Sunday, 01-Jan-70 00:00:00 GMT", "Sunday, 01-Jan-77 00:00:00 GMT", "Sunday, 01-Jan-76 00:00:00 GMT",
              "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",
              "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 94", "Sun Nov 06 08:49:37 1994", "Sunday Nov  6 08:49:37 1994",
              "Sun, 06 Nov 1994 8:49:37 GMT", "Sun, 06 Nov 1994 08:49:37  GMT", "Sun, 06 Nov 1994 08:49:37 GMT\x00"]  # fmt: skip
DATE_PIECES = ["Sun", "Sunday", "sun", ", ", "-", " ", "  ", "06", "6", "94", "1994", "Nov", "nov", "08:49:37", ":", "GMT"]  # fmt: skip


def test_http_date_agrees_with_rfc9110() -> None:
    judged(DATE_JUDGE, DATE_EDGES)


@JUDGED
@given(grammar_text(DATE_PIECES, 12))
def test_http_date_agrees_with_rfc9110_on_generated_text(text: str) -> None:
    judged(DATE_JUDGE, [text])


# RFC 9110 §8.3.1: media-type (Content-Type) ----------------------------------------------------


MEDIA_TYPE_JUDGE = Judge(lab=media_type, grammar=grammar_media_type)
# The AS's test of a fetched document's Content-Type (CIMD -02 §5; lab policy: a JSON media type).
JSON_TYPE_JUDGE = Judge(
    lab=is_json_media_type,
    grammar=lambda text: (
        (kind := grammar_media_type(text)) == "application/json"
        or (kind.startswith("application/") and kind.endswith("+json"))
    ),
)
MEDIA_TYPE_EDGES = [*HOSTILE, "application/json", "Application/JSON", " application/json\t", "application/json;",
                    "application/json ; charset=utf-8", 'application/json;charset="utf-8"', 'a/b;c="\\"\\\\;,"',
                    "application/json; charset", "application/json; =x", "application/json;charset=utf 8",
                    "application/x y+json", "application/json\xa0", "application /json", "application/ json",
                    "application/json,text/html", "/json", "application/", "application", "*/*", "a/b;;;c=d; ;",
                    'a/b;c="\x80\xff"', 'a/b;c="\x00"', "application/json;charset=\u3000", "app\u017fication/json",
                    "application/x-www-form-urlencoded", "APPLICATION/X-WWW-FORM-URLENCODED;charset=UTF-8",
                    "application/cimd+json", "Application/CIMD+JSON; x=y", "application/+json", "application/ +json",
                    "application/a b+json", "text/json", "application/jsonx", "application/json+x"]  # fmt: skip
MEDIA_TYPE_PIECES = ["application", "json", "/", "+json", "*", "charset", "utf-8", '"utf-8"', '"\\""', "x-www-form-urlencoded"]  # fmt: skip


def test_media_type_agrees_with_rfc9110() -> None:
    judged(MEDIA_TYPE_JUDGE, MEDIA_TYPE_EDGES)
    judged(JSON_TYPE_JUDGE, MEDIA_TYPE_EDGES)


@JUDGED
@given(grammar_text(MEDIA_TYPE_PIECES))
def test_media_type_agrees_with_rfc9110_on_generated_text(text: str) -> None:
    judged(MEDIA_TYPE_JUDGE, [text])
    judged(JSON_TYPE_JUDGE, [text])


# RFC 9110 §12.5.1: Accept, at the MCP gate ------------------------------------------------------

ACCEPT_JUDGE = Judge(lab=_accepts_json, grammar=grammar_accepts_json)
ACCEPT_EDGES = [*HOSTILE, "application/json, text/event-stream", "*/*", "application/*", "application/json;q=0",
                "application/json;q=0.000", "application/json;q=0.001", "application/json;Q=1.000", "application/json;q=1.0001",
                "application/json;q=2", "application/json;q=1e-9", "application/json; q=0.5", "application/json ;q=0.5",
                'text/plain;a=",application/json,"', 'application/json;a="x,y"', ", ,application/json,", "application/json,,",
                "text/html, application/json;q=0, */*;q=0.1", "application/json;charset=utf-8;q=0", "application/json;q=0;q=1",
                "application/json\xa0", "application/json\u3000", "application/json, garbage junk", "Application/Json",
                "application/json;q=0.5;a=b", "*/json", "application/json;q"]  # fmt: skip
ACCEPT_PIECES = ["application/json", "application/*", "*/*", "text/event-stream", "q=", "0", "1", ".", "5", "a=b", '"x,y"']  # fmt: skip


def test_accept_reading_agrees_with_rfc9110() -> None:
    judged(ACCEPT_JUDGE, ACCEPT_EDGES)


@JUDGED
@given(grammar_text(ACCEPT_PIECES))
def test_accept_reading_agrees_with_rfc9110_on_generated_text(text: str) -> None:
    judged(ACCEPT_JUDGE, [text])


# RFC 9110 §8.4: Content-Encoding ----------------------------------------------------------------


def _lab_no_coding(text: str) -> bool:
    return unsupported_coding([(b"content-encoding", text.encode("latin-1"))]) is None


CODING_JUDGE = Judge(
    lab=_lab_no_coding,
    grammar=grammar_no_coding,
    allowed=lambda text, lab, grammar: "invalid-coding-refused" if grammar is None and lab is False else None,
)
CODING_EDGES = [*(h for h in HOSTILE if h.isascii() or h <= "\xff"), "identity", "IDENTITY", " identity\t", "gzip",
                "identity, gzip", ", identity", "identity,", "identity, identity", ",", " , ,", "identity\xa0",
                "identity gzip", "br", "x-gzip", "identity;q=1"]  # fmt: skip
CODING_PIECES = ["identity", "Identity", "gzip", "br", ",", ", "]


def test_content_encoding_reading_agrees_with_rfc9110() -> None:
    judged(CODING_JUDGE, CODING_EDGES)


@JUDGED
@given(grammar_text(CODING_PIECES).filter(lambda text: all(c <= "\xff" for c in text)))  # a header is Latin-1
def test_content_encoding_reading_agrees_with_rfc9110_on_generated_text(text: str) -> None:
    judged(CODING_JUDGE, [text])


# RFC 9111 §5.2: Cache-Control, and §1.2.2 delta-seconds (max-age, Age) ---------------------------


CACHE_CONTROL_JUDGE = Judge(lab=cache_directives, grammar=grammar_directives)
CACHE_CONTROL_EDGES = [*HOSTILE, "max-age=60", "MAX-AGE=60", "max-age=60, max-age=0", 'no-transform="x, max-age=86400", max-age=0',
                       'a="\\"", max-age=1', 'a="\\\\", b', "max-age=60,", ",max-age=60", " , ,max-age=60 , ", "max-age = 60",
                       "max-age=60 no-store", "max-age=\xa060", "no-store\xa0", 'a="\x80\xff"', 'a="\x7f"', 'a="\\\x80"',
                       "a=b=c", "a=", "=b", 'a="unterminated', "private=\"x\"y", "max-age=-1", "a\tb", "a,\tb"]  # fmt: skip
CACHE_CONTROL_PIECES = ["max-age", "no-store", "=", "60", "0", '"', "\\", ",", ", ", '"x, y"', "private"]


def test_cache_control_reading_agrees_with_rfc9111() -> None:
    judged(CACHE_CONTROL_JUDGE, CACHE_CONTROL_EDGES)


@JUDGED
@given(grammar_text(CACHE_CONTROL_PIECES, 12))
def test_cache_control_reading_agrees_with_rfc9111_on_generated_text(text: str) -> None:
    judged(CACHE_CONTROL_JUDGE, [text])


DELTA_SECONDS_JUDGE = Judge(lab=lambda text: delta_seconds(text, invalid=-1), grammar=grammar_delta_seconds)
DELTA_SECONDS_EDGES = [*HOSTILE, "0", "00", "0600", "00000000000600", "2147483647", "2147483648", "2147483649", "9" * 11,
                       "1" + "0" * 400, "+5", "-5", " 5", "5 ", "\t5\t", "1_0", "5.0", "\u0661\u0662", "\uff15", "5\xa0",
                       "5,6", "0x10", "1e3", "²"]  # fmt: skip


def test_delta_seconds_reading_agrees_with_rfc9111() -> None:
    judged(DELTA_SECONDS_JUDGE, DELTA_SECONDS_EDGES)


@JUDGED
@given(grammar_text(["0", "1", "5", "9", "00", "+", "-", "_"], 14))
def test_delta_seconds_reading_agrees_with_rfc9111_on_generated_text(text: str) -> None:
    judged(DELTA_SECONDS_JUDGE, [text])


# RFC 9110 §7.2: Host, at the MCP gate's DNS-rebinding check --------------------------------------

HOSTS = ("mcp.example.com", "127.0.0.1:*", "localhost:*")  # the MCP server's list (resource_server/server.py)


def _grammar_listed(text: str) -> bool:
    tree = parsed(rfc9110.Rule("Host"), text.strip(OWS))
    if tree is None:
        return False
    host, port = first(tree, "uri-host").value.lower(), next(found(tree, "port"), None)
    if host == "mcp.example.com":
        # RFC 9110 §4.2.3: an https URI's port 443, or an empty one, is no port at all.
        return port is None or port.value == "" or port.value.lstrip("0") == "443"
    # "127.0.0.1:*": any port, the default one too, whether spelled out, empty or left out.
    return host in ("127.0.0.1", "localhost")


HOST_JUDGE = Judge(
    lab=OwnNames.of(HOSTS, (), "https").host_listed,
    grammar=_grammar_listed,
)
HOST_EDGES = [*HOSTS, "MCP.Example.COM", "mcp.example.com:443", "mcp.example.com:", "mcp.example.com:0443",
              "mcp.example.com:0", "mcp.example.com:80", "localhost:", "localhost", "localhost:80",
              "LOCALHOST:65535", "localhost:99999", "localhost:\u0661", "localhost:+80", "localhost: 80", "127.0.0.1:80",
              "127.0.0.1:80.evil.example", "127.0.0.1:80@evil.example", "127.1:80", "[::1]:80", "mcp.example.com.",
              "mcp.example.com\xa0", "user@mcp.example.com", "mcp.example.com/x", "mcp%2Eexample.com", *HOSTILE]  # fmt: skip


def test_the_host_reading_agrees_with_rfc9110() -> None:
    judged(HOST_JUDGE, HOST_EDGES)


@JUDGED
@given(grammar_text(["localhost", "127.0.0.1", "mcp.example.com", ":", "80", "0", ".", "@", "[::1]"]))
def test_the_host_reading_agrees_with_rfc9110_on_generated_text(text: str) -> None:
    judged(HOST_JUDGE, [text])


# RFC 9112 §3.2: the served lab's Host check (400 for an invalid value), before the gates ---------

HOST_FIELD_JUDGE = Judge(
    lab=lambda text: is_host_field(text.strip(OWS)),
    grammar=lambda text: parsed(rfc9110.Rule("Host"), text.strip(OWS)) is not None,
)
HOST_FIELD_EDGES = [*HOST_EDGES, "[zz]", "[]", "[::1", "[::1]x", "[v1.x]", "[V7.a:b]", "[v.x]", "[v1.]", "[::1%25eth0]",
                    "[::1%eth0]", "[::ffff:1.2.3.4]", "[::1.2.3.04]", "[1:2:3:4:5:6:7::]", "[::1:2:3:4:5:6:7]", "[1::2::3]",
                    "[12345::]", "local%zzhost", "local%4", "local%41host", "%", "%%41", "a b", "a_b~!$&'()*+,;=", ":80", ""]  # fmt: skip


def test_the_host_field_check_agrees_with_rfc9110() -> None:
    judged(HOST_FIELD_JUDGE, HOST_FIELD_EDGES)


@JUDGED
@given(grammar_text(["localhost", "127.0.0.1", "[", "]", "::", "1", "f", "v", ".", ":", "%", "%41", "80", "@", "_"]))
def test_the_host_field_check_agrees_with_rfc9110_on_generated_text(text: str) -> None:
    judged(HOST_FIELD_JUDGE, [text])


# Fetch's serialized-origin (RFC 6454 §7.1): the Origin a browser sends, at the loopback check ------


def _grammar_loopback_origin(text: str) -> bool:
    tree = parsed(cors.Rule("serialized-origin"), text)
    scheme = text.split("://", 1)[0]
    return tree is not None and scheme in ("http", "https") and first(tree, "serialized-host").value in LOOPBACK_HOSTS


ORIGIN_JUDGE = Judge(
    lab=is_loopback_origin,
    grammar=_grammar_loopback_origin,
    allowed=lambda text, lab, grammar: (
        "origin-case"
        if lab and _grammar_loopback_origin(text.lower())
        else "port-zeros"
        if lab and _grammar_loopback_origin(re.sub(r":0+(?=[0-9]+$)", ":", text))
        else None
    ),
)
ORIGIN_EDGES = [*HOSTILE, "http://localhost", "http://localhost:6274", "https://127.0.0.1:1", "http://[::1]:80", "http://[::1]",
                "HTTP://LOCALHOST", "http://Localhost:1", "http://localhost:", "http://localhost:123456", "http://localhost/",
                "http://localhost.", "http://127.0.0.01", "http://[0:0:0:0:0:0:0:1]", "ws://localhost", "null",
                "http://x@localhost", "http://localhost?x", "http://127.0.0.1:6274.evil.example", "http://localhost ",
                "http://::1", "http://localhost:+1", "http://localhost:\u0661", "http://localhost:019300",
                "http://localhost:0000000080", "http://localhost:0123456"]  # fmt: skip


def test_the_loopback_origin_check_agrees_with_fetch() -> None:
    judged(ORIGIN_JUDGE, ORIGIN_EDGES)


@JUDGED
@given(
    grammar_text(["http://", "https://", "localhost", "127.0.0.1", "[::1]", "::1", ":", "80", "@", "/", ".", "L"], 8)
)
def test_the_loopback_origin_check_agrees_with_fetch_on_generated_text(text: str) -> None:
    judged(ORIGIN_JUDGE, [text])
