"""The lab's readers of `application/x-www-form-urlencoded` text judged against the algorithm that
defines it, the WHATWG URL Standard §5.1 "application/x-www-form-urlencoded parsing" (RFC 6749
Appendix B and §3.1.2 name this format for parameters and for a query an endpoint URI keeps).

Three readers: the AS's form and query reader (`rfc6749.form_urlencoded`, which reads UTF-8
strictly where §5.1 replaces), and two that read only the *names* in a query a stranger wrote,
through `urllib.parse.parse_qsl`: the AS's check that a registered redirect_uri's query names no
authorization-response parameter (`redirect_uris.check_redirect_uri`), and the lab client's check that
an AS's authorization_endpoint query names none of its request's (`_authorization_request_url`).
The reference below is §5.1 step by step, on bytes, with §1.3's percent-decode.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hypothesis import given

from lab_servers.authorization_server.errors import MetadataError, OAuthError
from lab_servers.authorization_server.redirect_uris import AUTHORIZATION_RESPONSE_PARAMETERS, check_redirect_uri
from lab_servers.authorization_server.rfc6749 import form_urlencoded
from lab_servers.client.authorization_steps import _authorization_request_url
from lab_servers.client.base import StepError
from lab_servers.rfc3986 import grammar_problem

from .abnf_judge import HOSTILE, JUDGED, grammar_text

_HEX = b"0123456789ABCDEFabcdef"


def percent_decode(data: bytes) -> bytes:
    # URL §1.3 "percent-decode": "1. Let output be an empty byte sequence. 2. For each byte byte in input:"
    output, i = bytearray(), 0
    while i < len(data):
        # "2. Otherwise, if byte is 0x25 (%) and the next two bytes after byte in input are not in
        # the ranges 0x30 (0) to 0x39 (9), 0x41 (A) to 0x46 (F), and 0x61 (a) to 0x66 (f) ... append byte"
        if data[i] == 0x25 and len(data) > i + 2 and data[i + 1] in _HEX and data[i + 2] in _HEX:
            # "3. Otherwise: ... bytePoint be the two bytes after byte in input, decoded, and then
            # interpreted as hexadecimal number ... Append ... Skip the next two bytes in input."
            output.append(int(data[i + 1 : i + 3], 16))
            i += 3
        else:  # "1. If byte is not 0x25 (%), then append byte to output." (and 2.)
            output.append(data[i])
            i += 1
    return bytes(output)


def whatwg_form(data: bytes, *, errors: str = "replace") -> list[tuple[str, str]]:
    """URL §5.1; `errors="strict"` raises where its "UTF-8 decode without BOM" would put U+FFFD."""
    output = []  # "2. Let output be an initially empty list of name-value tuples"
    for sequence in data.split(b"&"):  # "1. Let sequences be the result of splitting input on 0x26 (&)."
        if sequence == b"":  # "3.1 If bytes is the empty byte sequence, then continue."
            continue
        if b"=" in sequence:  # "3.2 ... name ... up to but excluding its first 0x3D (=), ... value ... after"
            name, value = sequence[: sequence.index(b"=")], sequence[sequence.index(b"=") + 1 :]
        else:  # "3.3 Otherwise, let name have the value of bytes and let value be the empty byte sequence."
            name, value = sequence, b""
        name, value = name.replace(b"+", b" "), value.replace(b"+", b" ")  # "3.4 Replace any 0x2B (+) ... with 0x20"
        # "3.5 ... UTF-8 decode without BOM on the percent-decoding of name and value": a BOM stays.
        output.append((percent_decode(name).decode("utf-8", errors), percent_decode(value).decode("utf-8", errors)))
    return output


def whatwg_names(url: str) -> set[str]:
    # A URL's query is a string: URLSearchParams parses its UTF-8 encoding (URL §6.2, §5.1). Which
    # query a URL has (tabs and newlines dropped, the fragment cut off) is the URL parser's to say,
    # judged by the URL tests (`test_abnf_judge_oauth_readers.py`, `test_url_differentials.py`); here
    # both readers are given urlsplit's, as the lab's readers are.
    return {name for name, _ in whatwg_form(urlsplit(url).query.encode("utf-8", "surrogatepass"))}


# The readers, each in the reference's terms ---------------------------------------------------


def lab_form(data: bytes) -> list[tuple[str, str]] | str:
    try:
        return form_urlencoded(data)
    except OAuthError:
        return "refused"


def reference_form(data: bytes) -> list[tuple[str, str]] | str:
    # RFC 6749 Appendix B: names and values are "encoded using UTF-8"; the lab refuses one that is
    # not (rfc6749.py) where §5.1 reads U+FFFD: a value the client cannot have meant.
    try:
        return whatwg_form(data, errors="strict")
    except UnicodeDecodeError:
        return "refused"


_TAKEN = re.compile(r"has (.*) in its query")


def redirect_uri_names_taken(query: str) -> set[str] | None:
    """The response parameters the AS finds in a redirect_uri's query; None when the URI is refused
    before its query is read (not printable ASCII, not RFC 3986)."""
    uri = f"https://app.example/cb?{query}"
    if not all(0x20 < ord(c) < 0x7F for c in uri) or grammar_problem(uri):
        return None
    try:
        check_redirect_uri(uri)
    except MetadataError as refused:
        if found := _TAKEN.search(refused.description):
            return set(found[1].split(", "))
    return set()


REQUEST = dict.fromkeys(("response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method",
                         "state", "resource", "scope"), "x")  # fmt: skip
_CLASHING = re.compile(r"query already has (.*): the request")


class _Step:
    def fail(self, reason: str) -> StepError:
        return StepError(5, "authorize", reason)


def endpoint_names_clashing(query: str) -> set[str]:
    try:
        _authorization_request_url(f"https://as.example/authorize?{query}", REQUEST, _Step())  # type: ignore[arg-type]
    except StepError as refused:
        return set(_CLASHING.search(str(refused))[1].split(", "))  # type: ignore[index]
    return set()


def disagreements(queries: list[str]) -> list[str]:
    found = []
    for query in queries:
        data = query.encode("utf-8", "surrogatepass")
        if (lab := lab_form(data)) != (reference := reference_form(data)):
            found.append(f"{query!r}: form_urlencoded reads {lab!r}, §5.1 {reference!r}")
        names = whatwg_names(f"https://app.example/cb?{query}")
        taken = redirect_uri_names_taken(query)
        if taken is not None and taken != names & AUTHORIZATION_RESPONSE_PARAMETERS:
            found.append(
                f"{query!r}: check_redirect_uri finds {taken!r}, §5.1 {names & AUTHORIZATION_RESPONSE_PARAMETERS!r}"
            )
        if (clashing := endpoint_names_clashing(query)) != names & set(REQUEST):
            found.append(f"{query!r}: the client finds {clashing!r}, §5.1 {names & set(REQUEST)!r}")
    return found


EDGES = ["code", "code=1", "co%64e", "%63%6F%64%65=x", "CODE", "Code=1", "code=", "=code", "code&", "&&code&&", "+code",
         "code+", "code%20", "code;", ";code", "a=1;code=2", "a=1&code=2", "code%3D1", "code%00", "%2563ode", "co%64e%",
         "co%6", "co%6g", "%EF%BB%BFcode", "\ufeffcode", "state=%FF", "%FF=1", "st%61te", "iss", "i%73s=1",
         "error_description=a+b", "error%5Furi", "scope", "client_id=1&client%5Fid=2", "resource=https%3A%2F%2Fx",
         "redirect_uri", "response_type=code", "a=%C3%A9&%E2%9C%93=1", "a=é", "a=%C3", "a=%ED%A0%80", "a==b", "=",
         "&", "", "code=1&code=2", "state#frag", "a%26code=1", "a+%2B=1"]  # fmt: skip
PIECES = ["code", "state", "iss", "scope", "client_id", "=", "&", "%", "%63", "%6F", "%5F", "+", ";", "%FF", "%C3%A9",
          "a", "%3D", "%26", "%2B", "_"]  # fmt: skip


def test_form_readers_agree_with_the_whatwg_url_standard() -> None:
    assert disagreements(EDGES) == []


def test_form_readers_agree_with_the_whatwg_url_standard_on_hostile_values() -> None:
    assert disagreements([*HOSTILE, *(f"{h}code={h}" for h in HOSTILE), *(f"co{h}de&state{h}" for h in HOSTILE)]) == []


@JUDGED
@given(grammar_text(PIECES, 12))
def test_form_readers_agree_with_the_whatwg_url_standard_on_generated_text(query: str) -> None:
    assert disagreements([query]) == []


def test_the_reference_reads_the_standards_own_cases() -> None:
    # URL §5.1's note and RFC 6749 Appendix B's example ("+%25%2D.%2A_~" is " %-.*_~").
    assert whatwg_form(b"a=b&&c&=d&e=f=g") == [("a", "b"), ("c", ""), ("", "d"), ("e", "f=g")]
    assert whatwg_form(b"+%25%2D.%2A_~=%E2%82%AC") == [(" %-.*_~", "\u20ac")]
    assert whatwg_form(b"a=%FF%zz") == [("a", "\ufffd%zz")]
