"""`rfc9112.oversized_head`: the status for a request head longer than the server's limit, judged
on whatever has arrived: 414 URI Too Long when the request line alone is over it (RFC 9112 §3: a
server "MUST respond with a 414 (URI Too Long) status code" to a request-target longer than it
wishes to parse), else 431 Request Header Fields Too Large (RFC 6585 §5)."""

from __future__ import annotations

from lab_servers.rfc9112 import oversized_head

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
