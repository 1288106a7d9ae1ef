"""`rfc9112.oversized_head`, then `Rfc9112`'s pass-through: the status for a request head longer than the server's limit, judged
on whatever has arrived: 414 URI Too Long when the request line alone is over it (RFC 9112 §3: a
server "MUST respond with a 414 (URI Too Long) status code" to a request-target longer than it
wishes to parse), else 431 Request Header Fields Too Large (RFC 6585 §5)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import Response

from lab_servers.rfc9112 import (
    MAX_EMPTY_LINES,
    Rfc9112,
    as_http11,
    chunked_listed_plainly,
    empty_lines_before,
    head_lines,
    method_and_target,
    oversized_head,
    read_as_http11,
    request_target_form,
    request_version,
    unknown_transfer_coding,
    unsupported_version,
)
from lab_servers.rfc9112_refusals import unparsable_request

LIMIT = 64


def _head(line_length: int, fields: str = "") -> bytes:
    line = b"GET /" + b"a" * (line_length - len(b"GET / HTTP/1.1")) + b" HTTP/1.1"
    assert len(line) == line_length
    return line + b"\r\n" + fields.encode() + b"\r\n"


def test_a_head_of_exactly_the_limit_is_read() -> None:
    head = _head(LIMIT - 4)  # the line, its CRLF and the empty line's: LIMIT bytes
    assert len(head) == LIMIT and oversized_head(head, LIMIT) is None
    assert oversized_head(head + b"the body, not the head", LIMIT) is None


def test_one_byte_over_the_limit_is_431_when_the_line_fits() -> None:
    head = _head(LIMIT - 4 - 7, "X: abc\r\n")  # one field line makes it LIMIT + 1
    assert len(head) == LIMIT + 1 and oversized_head(head, LIMIT) == 431


def test_a_request_line_over_the_limit_is_414_whether_or_not_its_end_has_arrived() -> None:
    assert oversized_head(_head(LIMIT + 1), LIMIT) == 414
    assert oversized_head(b"GET /" + b"a" * LIMIT, LIMIT) == 414  # no line end yet


def test_a_request_line_ending_at_the_limit_is_no_uri_too_long() -> None:
    head = _head(LIMIT - 1, "X: a\r\n")  # its LF the limit's byte; the field makes the head too long
    assert head.index(b"\n") == LIMIT
    assert oversized_head(head, LIMIT) == 431


async def _seen_by_the_application(
    raw_path: bytes, headers: list[tuple[bytes, bytes]], version: str = "1.0", method: str = "GET"
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def application(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope)

    def refusal(path: str, status: int, why: str) -> Response:
        raise AssertionError(f"refused {status}: {why}")

    scope = {"type": "http", "scheme": "http", "http_version": version, "method": method, "path": raw_path.decode(),
             "raw_path": raw_path, "headers": headers}  # fmt: skip
    await Rfc9112(application, refusal=refusal)(scope, None, None)  # type: ignore[arg-type]
    return seen


@pytest.mark.anyio
async def test_an_absolute_form_target_with_an_empty_path_is_served_as_slash() -> None:
    # RFC 9112 §3.2.2: the origin server uses the target's authority as Host; RFC 9110 §4.2.3: an
    # empty path is "/".
    seen = await _seen_by_the_application(b"http://127.0.0.1:8001", [(b"host", b"other.example")])
    assert seen["path"] == "/" and seen["raw_path"] == b"/"
    assert seen["headers"] == [(b"host", b"127.0.0.1:8001")]


@pytest.mark.anyio
async def test_an_http_1_0_request_without_host_goes_on_to_the_application() -> None:
    # RFC 9112 §3.2: the 400 is for an invalid Host; HTTP/1.0 need not send one (h11 requires it of 1.1).
    seen = await _seen_by_the_application(b"/", [])
    assert seen["path"] == "/"


@pytest.mark.anyio
async def test_an_http_1_1_request_framed_by_transfer_encoding_alone_goes_on_to_the_application() -> None:
    # RFC 9112 §6.1, §6.3: chunked framing is HTTP/1.1's; only 1.0 with it, or it with Content-Length, is refused.
    chunked = [(b"host", b"127.0.0.1:8001"), (b"transfer-encoding", b"chunked")]
    assert (await _seen_by_the_application(b"/token", chunked, version="1.1"))["path"] == "/token"


@pytest.mark.anyio
async def test_options_asterisk_goes_on_to_the_application() -> None:
    # RFC 9112 §3.2.4: "*" is OPTIONS' request-target for the server as a whole, in no other request.
    seen = await _seen_by_the_application(b"*", [(b"host", b"127.0.0.1:8001")], version="1.1", method="OPTIONS")
    assert seen["path"] == "*"


def test_each_request_target_has_the_form_rfc_9112_gives_it() -> None:
    forms = {("/mcp", "POST"): "origin", ("https://a.example/x", "GET"): "absolute", ("a.example:443", "CONNECT"): "authority",
             ("*", "OPTIONS"): "asterisk", ("*", "GET"): None, ("a.example:443", "GET"): None, ("mcp", "GET"): None,
             ("", "GET"): None, ("user@a.example:443", "CONNECT"): None, ("/mcp#x", "GET"): None,
             ("https://a.example/x#y", "GET"): None}  # fmt: skip
    assert {key: request_target_form(*key) for key in forms} == forms
    # §3.2.4: asterisk-form is "*" alone; uvicorn hands `OPTIONS *?x` on as "*" and the query "x".
    assert request_target_form("*", "OPTIONS", "x") is None
    assert request_target_form("/token", "POST", "a=b#c") is None  # RFC 3986 §3.4: a query ends at "#"


@pytest.mark.parametrize(
    "head",
    [
        b"GET /mcp HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\nthe body",
        b"\r\nGET /mcp HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n",  # §2.2: an empty line first, ignored
        b"\r\n\n\r\nGET /mcp HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n",
        b"GET /mcp HTTP/1.1\nHost: h\nX: 1\n\n",  # §2.2: a bare LF as a line's end
        b"GET /mcp HTTP/1.1\r\nHost: h\nX:\r\n 1\r\n\r\n",  # §5.2: obs-fold, joined as h11 joins it
        b"GET /mcp HTTP/1.1\r\nHost: h\r\nX: 1",  # all that arrived before a 408
    ],
    ids=["crlf", "leading-crlf", "leading-empty-lines", "bare-lf", "obs-fold", "unfinished"],
)
def test_a_head_is_read_as_a_recipient_of_rfc_9112_reads_it(head: bytes) -> None:
    lines = head_lines(head)
    assert lines == ["GET /mcp HTTP/1.1", "Host: h", "X: 1"]
    assert method_and_target(lines[0]) == ("GET", "/mcp")


def test_a_head_of_nothing_but_empty_lines_has_no_line() -> None:
    assert head_lines(b"\r\n\r\n\n") == [] and head_lines(b"") == []
    assert method_and_target("GET  /mcp HTTP/1.1") == ("GET", " /mcp") and method_and_target("BREW") == ("BREW", "")


def test_empty_lines_before_a_request_line_are_counted_crlf_or_bare_lf_up_to_a_bound() -> None:
    """§2.2: the empty lines a server ignores before a request line, CRLF or a bare LF; a CR alone
    is not yet one, and the request line's own bytes are not counted."""
    assert empty_lines_before(b"\r\n\n\r\nGET / HTTP/1.1\r\n", MAX_EMPTY_LINES) == (3, 5)
    assert empty_lines_before(b"\r\n" * 12 + b"GET", MAX_EMPTY_LINES) == (10, 20)
    assert empty_lines_before(b"\r", 10) == (0, 0) and empty_lines_before(b"\r\n", 0) == (0, 0)


def test_what_h11_cannot_parse_is_refused_for_the_rule_it_breaks_or_for_rfc_9112_as_a_whole() -> None:
    head = b"POST /token HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"
    assert "an HTTP/1.0 request has no Transfer-Encoding" in unparsable_request(
        "Only Transfer-Encoding: chunked is supported", head
    )
    assert "(RFC 9112 §3.2: a server MUST answer 400)" in unparsable_request("Missing mandatory Host: header", b"")
    assert (
        unparsable_request("something h11 says one day", b"")
        == "the request is not an HTTP/1.1 message this server can parse (RFC 9112 §2.1)"
    )


def test_eleven_empty_lines_are_named_only_where_ten_were_counted() -> None:
    """h11 says "no request line received" of any empty line it meets where a request line was
    due: past the ten `serve_sockets` drops, or where a request was read without them (uvicorn's
    own loop, after a body its answer came before); only the first is an eleventh."""
    assert "more than 10 empty lines" in unparsable_request("no request line received", b"", MAX_EMPTY_LINES)
    said = unparsable_request("no request line received", b"\r\nGET / HTTP/1.1\r\n", 1)
    assert said == "an empty line came where the request line was due (RFC 9112 §2.2, §3)"


def test_a_content_length_with_an_empty_element_is_one_malformed_value_not_two_that_differ() -> None:
    """RFC 9110 §8.6: Content-Length = 1*DIGIT; h11 reads `2,` as the values 2 and none, which
    "conflicting Content-Length" calls two lengths. Two numbers that differ are that; `2,` is not."""
    malformed = unparsable_request(
        "conflicting Content-Length headers", b"POST / HTTP/1.1\r\nContent-Length: 2,\r\n\r\n"
    )
    assert malformed.startswith("Content-Length is not a number of octets, 1*DIGIT, but a list with an empty element")
    differ = unparsable_request(
        "conflicting Content-Length headers", b"POST / HTTP/1.1\r\nContent-Length: 2, 3\r\n\r\n"
    )
    assert differ.startswith("the request's Content-Length values differ")


def test_a_trailer_section_too_long_cites_the_trailer_section_s_rule() -> None:
    # RFC 9112 §7.1.2 is the trailer section; §7.1.1 is chunk extensions.
    assert "(RFC 9112 §7.1, §7.1.2;" in unparsable_request("Receive buffer too long", b"")


@pytest.mark.parametrize(
    ("fields", "plain"),
    [(b"Transfer-Encoding: chunked,\r\n", b"Transfer-Encoding: chunked\r\n"),
     (b"transfer-encoding: , Chunked ,\r\n", b"transfer-encoding: Chunked\r\n"),
     (b"X: 1\r\nTransfer-Encoding: ,\r\nY: 2\r\nTransfer-Encoding: chunked\r\n", b"X: 1\r\nTransfer-Encoding: chunked\r\nY: 2\r\n"),
     (b"Transfer-Encoding:chunked,\n", b"Transfer-Encoding: chunked\n"),
     (b"Transfer-Encoding: chunked,\r\n ,\r\nX: 1\r\n", b"Transfer-Encoding: chunked\r\nX: 1\r\n"),
     (b"Transfer-Encoding: ,\r\n\t chunked\r\n", b"Transfer-Encoding: chunked\r\n")],
    ids=["after", "around", "two-lines", "bare-lf", "obs-fold", "obs-fold-first"],
)  # fmt: skip
def test_chunked_among_empty_list_elements_is_handed_to_h11_as_chunked(fields: bytes, plain: bytes) -> None:
    """RFC 9110 §5.6.1.2: "a recipient MUST parse and ignore a reasonable number of empty list
    elements"; h11 reads Transfer-Encoding's value whole and refuses all but `chunked`."""
    line, body = b"POST /mcp HTTP/1.1\r\nHost: h\r\n", b"\r\n2\r\n{}\r\n0\r\n\r\n"
    assert chunked_listed_plainly(line + fields + body) == line + plain + body


@pytest.mark.parametrize(
    "fields",
    [b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: ,\r\n", b"Transfer-Encoding: chunked, chunked,\r\n",
     b"Transfer-Encoding:\r\n chunked\r\n", b"Content-Length: 2\r\n"],
    ids=["plain-already", "no-coding", "chunked-twice", "obs-fold-plain", "no-field"],
)  # fmt: skip
def test_what_h11_is_to_read_or_refuse_as_it_stands_is_not_rewritten(fields: bytes) -> None:
    assert chunked_listed_plainly(b"POST /mcp HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n") is None
    assert chunked_listed_plainly(b"POST /mcp HTTP/1.0\r\nTransfer-Encoding: chunked,\r\n\r\n") is None  # §6.1: faulty
    assert chunked_listed_plainly(b"POST /mcp HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n") is None  # not whole yet


def test_a_request_s_version_is_read_once_as_a_number_and_a_later_http_1_x_is_read_as_1_1() -> None:
    """RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT. RFC 9110 §2.5: a higher minor
    version SHOULD be processed as the highest one the recipient is conformant to. Judged by the
    string `HTTP/1.1`, an `HTTP/1.2` request skipped §6.1's 501 and §5.6.1.2's empty elements."""
    assert [request_version(line) for line in (b"GET / HTTP/1.1\r", "GET / HTTP/1.2", b"GET / HTTP/2.0")] == [
        (1, 1), (1, 2), (2, 0)
    ]  # fmt: skip
    assert request_version(b"GET / HTTP/1.12") is None and request_version("GET /") is None
    assert [read_as_http11(f"GET / HTTP/{v}") for v in ("1.0", "1.1", "1.2", "1.9")] == [False, True, True, True]
    later = b"POST /mcp HTTP/1.2\r\nHost: h\r\nTransfer-Encoding: "
    assert unknown_transfer_coding(later + b"gzip, chunked\r\n\r\n") == "gzip"  # §6.1: 501, as for 1.1
    assert chunked_listed_plainly(later + b"chunked,\r\n\r\n") == later + b"chunked\r\n\r\n"
    assert method_and_target("GET /mcp HTTP/2.0") == ("GET", "/mcp")  # the 505's trace: its target alone


def test_a_later_http_1_x_is_handed_to_h11_as_http_1_1_once_its_head_is_whole() -> None:
    """h11 asks an `HTTP/1.1` request alone for a Host (RFC 9112 §3.2), and the ASGI scope's
    http_version is "1.0", "1.1" or "2": `HTTP/1.2` is processed as 1.1 (RFC 9110 §2.5)."""
    head = b"GET /mcp HTTP/1.2\r\nX: HTTP/1.2\r\n\r\n"
    assert as_http11(head) == b"GET /mcp HTTP/1.1\r\nX: HTTP/1.2\r\n\r\n"
    assert as_http11(b"GET /mcp HTTP/1.2\r\nX: 1\r\n") is None  # not whole yet
    assert as_http11(b"GET /mcp HTTP/1.1\r\n\r\n") is None and as_http11(b"GET /mcp HTTP/1.0\r\n\r\n") is None


def test_a_major_version_other_than_1_is_known_once_the_request_line_is_whole() -> None:
    """RFC 9110 §2.5: a server can send 505 to refuse service of the client's major version; h11
    took `HTTP/0.9` (chunked, where HTTP/1.0 is refused for it: RFC 9112 §6.1) and `HTTP/2.0`."""
    assert unsupported_version(b"GET / HTTP/0.9\r\n") == (0, 9)
    assert unsupported_version(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == (2, 0)
    assert unsupported_version(b"GET / HTTP/2.0") is None  # the line not whole yet
    assert unsupported_version(b"GET / HTTP/1.0\r\n") is None and unsupported_version(b"GET / HTTP/1.2\r\n") is None


def test_a_transfer_encoding_folded_onto_a_second_line_is_read_as_one_value() -> None:
    """RFC 9112 §5.2: a server MAY replace each obs-fold with SP before interpreting the value, as
    h11 does; read line by line, `chunked,` folded onto ` gzip` was no 501 (§6.1) but h11's 400."""
    assert unknown_transfer_coding(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n gzip\r\n\r\n") == "gzip"


@pytest.mark.parametrize(
    ("h11_error", "rule"),
    [
        ("conflicting Content-Length headers", "the trailer section has a Content-Length field (its value is a list, not one number of octets)"),
        ("bad Content-Length", "the trailer section has a Content-Length field (its value is not a number of octets)"),
        ("Only Transfer-Encoding: chunked is supported", "the trailer section has a Transfer-Encoding field (its value is not `chunked` alone"),
        ("illegal header line: b'X-Sum : 1'", "a field line of the trailer section has whitespace between its name and the colon"),
        ("illegal header line: bytearray(b'X-Sum: 1 \\x00')", 'a field line of the trailer section is not field-name ":" field-value'),
        ("continuation line at start of headers", "the trailer section's first field line begins with whitespace"),
    ],
    ids=["lengths-differ", "bad-length", "coding", "space-before-colon", "control", "fold-first"],
)  # fmt: skip
def test_a_field_h11_refuses_in_the_trailer_section_is_named_as_the_trailer_s_not_the_head_s(
    h11_error: str, rule: str
) -> None:
    """RFC 9112 §7.1.2: the trailer section is field lines after a chunked body; RFC 9110 §6.5.1:
    a field that frames the message is no trailer field. Read from the head, a trailer's
    `Content-Length: 5, 6` was "a list with an empty element", its `Transfer-Encoding: chunked,`
    "not chunked, named once", and a space before a trailer field's colon a "field line" of
    whatever the head had."""
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2,\r\nTransfer-Encoding: chunked,\r\nBad : x\r\n\r\n"
    said = unparsable_request(h11_error, head, in_body=True)
    assert said.startswith(rule) and "RFC 9112 §7.1.2" in said, said
    assert unparsable_request("malformed chunk footer", head, in_body=True).startswith("a chunk's data")
