"""Why the served lab answers 400 to a request h11 cannot parse, in the words of the rule it
breaks (RFC 9112, RFC 9110): uvicorn said "Invalid HTTP request received." to each, dropping
h11's reason. h11 says what it met, not where: a field it refuses may be in the head or in the
trailer section after a chunked body (RFC 9112 §7.1.2), where the rules differ, and the head
tells nothing of the trailer's fields. `serve_sockets` says which h11 was reading."""

from __future__ import annotations

import ast

from .rfc9112 import HTTP10_TRANSFER_ENCODING, MAX_EMPTY_LINES, head_lines, read_as_http11

# h11's words for a request it cannot parse (`str` of its RemoteProtocolError, h11 0.16), by how
# they begin, with the rule each one breaks. uvicorn dropped them for "Invalid HTTP request
# received.", which names no rule: a client could not tell a bad Content-Length from a bad chunk.
_H11_REFUSALS = (
    ("illegal request line", "the request line is not `method SP request-target SP HTTP-version` in visible ASCII (RFC 9112 §3: an invalid request-line SHOULD be answered 400)"),
    ("continuation line at start of headers", "the first field line begins with whitespace (RFC 9112 §2.2: a recipient MUST reject such a message or ignore the line)"),
    ("Missing mandatory Host", "an HTTP/1.1 request (or a later HTTP/1.x one, read as 1.1: RFC 9110 §2.5) has no Host field (RFC 9112 §3.2: a server MUST answer 400)"),
    ("Found multiple Host", "the request has more than one Host field (RFC 9112 §3.2: a server MUST answer 400)"),
    ("conflicting Content-Length", "the request's Content-Length values differ, so it has no one length (RFC 9112 §6.3: a server MUST answer 400 and close the connection; RFC 9110 §8.6)"),
    ("bad Content-Length", "Content-Length is not a number of octets, 1*DIGIT (RFC 9110 §8.6; at most 20 digits here), so the request has no length (RFC 9112 §6.3: a server MUST answer 400 and close the connection)"),
    ("illegal chunk header", "a chunk's size line is not chunk-size [ chunk-ext ] CRLF, its size in hexadecimal, of at most 20 digits here (RFC 9112 §7.1)"),
    ("malformed chunk footer", "a chunk's data is not followed by CRLF where its chunk-size says it ends (RFC 9112 §7.1)"),
    ("Receive buffer too long", "a chunk's size line or the trailer section grew past what this server reads of one (RFC 9112 §7.1, §7.1.2; RFC 9110 §5.4: a server MUST answer a 4xx)"),
    ("peer unexpectedly closed", "the client closed its side of the connection before the request was whole (RFC 9112 §8: an incomplete request)"),
    ("peer closed connection without sending complete message body", "the client closed its side of the connection before the body was whole (RFC 9112 §8: an incomplete request)"),
)  # fmt: skip


def unparsable_request(h11_error: str, head: bytes, empty_lines: int = 0, *, in_body: bool = False) -> str:
    """Why a request h11 could not parse (`h11_error`, its message) is answered 400, naming the
    rule; `head` is what arrived of the request's head, read for which field broke it, and
    `empty_lines` how many empty lines were dropped before it (`rfc9112.empty_lines_before`).
    `in_body`: h11 was reading the body, its chunks and trailer section, and its words are of
    those (`in_the_trailer_section`), not of the head. A message not listed (another h11's) gets
    the rule every one of them breaks."""
    if in_body and (said := in_the_trailer_section(h11_error)) is not None:
        return said
    request_line, *fields = head_lines(head) or [""]
    read = [(name.lower(), colon, value) for name, colon, value in (line.partition(":") for line in fields)]
    if h11_error.startswith("no request line received"):  # h11 met an empty line where one was due
        if empty_lines >= MAX_EMPTY_LINES:
            return (
                f"more than {MAX_EMPTY_LINES} empty lines came before the request line (RFC 9112 §2.2: a server"
                f" SHOULD ignore at least one; this one ignores {MAX_EMPTY_LINES})"
            )
        return "an empty line came where the request line was due (RFC 9112 §2.2, §3)"
    if h11_error.startswith("conflicting Content-Length"):
        lengths = {
            length.strip(" \t") for name, _, value in read if name == "content-length" for length in value.split(",")
        }
        if len(lengths - {""}) <= 1:  # h11 read `2,` as two values, 2 and none
            return (
                "Content-Length is not a number of octets, 1*DIGIT, but a list with an empty element (RFC 9110 §8.6:"
                " a recipient MAY reject a list as invalid; this one reads only one number, or one repeated), so the"
                " request has no length (RFC 9112 §6.3: a server MUST answer 400 and close the connection)"
            )
    if h11_error.startswith("illegal header line"):
        line = _refused_line(h11_error)
        refused = [line.decode("latin-1").partition(":")] if line is not None else read
        if any(colon and name != name.rstrip(" \t") for name, colon, _ in refused):
            return (
                "a field line has whitespace between its name and the colon (RFC 9112 §5.1: a server MUST answer 400)"
            )
        return (
            'a field line is not field-name ":" field-value, its name a token, its value without CR, LF, NUL or'
            " other controls (RFC 9112 §5; RFC 9110 §5.1, §5.5)"
        )
    # Past `unknown_transfer_coding`, whose 501s an HTTP/1.1 request's other codings had.
    if h11_error.startswith(("multiple Transfer-Encoding", "Only Transfer-Encoding")):
        if not read_as_http11(request_line):  # HTTP/1.0: every other major version is a 505
            return HTTP10_TRANSFER_ENCODING
        listed = [c.strip(" \t").lower() for n, _, v in read if n == "transfer-encoding" for c in v.split(",")]
        codings = [coding for coding in listed if coding]  # RFC 9110 §5.6.1.2: empty elements are ignored
        if codings.count("chunked") > 1:
            return "chunked is applied more than once (RFC 9112 §6.1: a sender MUST NOT), so the body has no one framing (§6.3)"
        if not codings:
            return (
                "Transfer-Encoding names no transfer coding, so chunked is not the final one and the body has no"
                " one framing (RFC 9112 §6.3: a server MUST answer 400 and close the connection)"
            )
        return "Transfer-Encoding is not chunked, named once (RFC 9112 §6.1, §7), so the body has no one framing (§6.3)"
    for begins, why in _H11_REFUSALS:
        if h11_error.startswith(begins):
            return why
    return "the request is not an HTTP/1.1 message this server can parse (RFC 9112 §2.1)"


# A trailer field h11 refuses by the rules of the header field of its name: h11 reads the trailer
# section as it reads a head (`normalize_and_validate`), so these fields there are refused too.
_FRAMING_IN_TRAILER = (
    ("conflicting Content-Length", "Content-Length", "its value is a list, not one number of octets"),
    ("bad Content-Length", "Content-Length", "its value is not a number of octets"),
    ("multiple Transfer-Encoding", "Transfer-Encoding", "it came more than once"),
    ("Only Transfer-Encoding", "Transfer-Encoding", "its value is not `chunked` alone, and h11 reads no list there"),
)


def in_the_trailer_section(h11_error: str) -> str | None:
    """Why h11 refused a field line of a chunked body's trailer section (RFC 9112 §7.1.2:
    trailer-section = *( field-line CRLF )), or None for its other words while reading a body (a
    chunk's size line, its end), which `_H11_REFUSALS` names as they are. The head was read, and
    answered, before: its fields are not the ones refused (a `Content-Length: 5, 6` trailer was
    called the head's "list with an empty element", a `Transfer-Encoding: chunked,` trailer the
    head's coding "not chunked, named once")."""
    for begins, field, what in _FRAMING_IN_TRAILER:
        if h11_error.startswith(begins):
            return (
                # Not "a framing field belongs in no trailer": one h11 can read (`Content-Length: 3`) is
                # served; what is refused is a value h11 cannot read by its header field's rules.
                f"the trailer section has a {field} field ({what}), which h11 reads by the rules of the header"
                " field of that name and refuses; a field that frames the message frames nothing in a trailer,"
                " read after the content (RFC 9110 §6.5.1; RFC 9112 §7.1.2)"
            )
    if h11_error.startswith("continuation line at start of headers"):
        return (
            "the trailer section's first field line begins with whitespace, continuing no field line before it"
            " (RFC 9112 §7.1.2; §5.2: obs-fold continues a field line)"
        )
    if h11_error.startswith("illegal header line"):
        line = _refused_line(h11_error)
        name, colon, _ = (line or b"").partition(b":")
        if colon and name != name.rstrip(b" \t"):
            return (
                "a field line of the trailer section has whitespace between its name and the colon (RFC 9112"
                " §7.1.2: trailer fields are field lines; §5.1: a server MUST answer 400)"
            )
        return (
            'a field line of the trailer section is not field-name ":" field-value, its name a token, its value'
            " without CR, LF, NUL or other controls (RFC 9112 §7.1.2, §5; RFC 9110 §5.1, §5.5)"
        )
    return None


def _refused_line(h11_error: str) -> bytes | None:
    """The field line h11 quotes in its "illegal header line: b'…'" (h11 0.16), as sent."""
    quoted = h11_error.partition(": ")[2]
    if quoted.startswith("bytearray(") and quoted.endswith(")"):  # a line h11 joined from folded ones
        quoted = quoted.removeprefix("bytearray(").removesuffix(")")
    try:
        line = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        return None
    return line if isinstance(line, bytes) else None
