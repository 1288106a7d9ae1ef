"""What HTTP/1.1's message syntax (RFC 9112) asks of a server that h11 and uvicorn leave to the
application, for the served lab's sockets (`python -m lab_servers serve`).

h11 refuses what breaks its own parsing (no Host in HTTP/1.1, two Host fields, two different
Content-Length values, a NUL in a field: a plain-text 400, before any application; uvicorn's said
"Invalid HTTP request received." to each, `rfc9112_refusals` names the rule broken). These
rules about a request it parsed are the server's, and some about a request it is parsing:

- §2.2: "a server that is expecting to receive and parse a request-line SHOULD ignore at least one
  empty line (CRLF) received prior to the request-line". h11 answered one 400 and closed the
  connection, and the CRLF some clients add after a POST's body broke the request pipelined after
  it; `empty_lines_before` measures them for `serve_sockets` to drop, `MAX_EMPTY_LINES` at most.
- §3.2.2 absolute-form: "A server MUST accept the absolute-form in requests", and the origin
  server "MUST ignore the received Host header field (if any) and instead use the host
  information of the request-target". uvicorn hands `http://127.0.0.1:8001/jwks.json` to the
  application as its path, so the request was a 404, and the lab's Host and Origin gates judged a
  Host field the request says to ignore.
- §3.2: a server "MUST respond with a 400 (Bad Request) status code to any request message that
  contains ... a Host header field with an invalid field value" (`user@127.0.0.1:8001`, a port
  that is not digits); the gates behind answered 403 or 421, as if it were a name.
- §6.3: a request with both Transfer-Encoding and Content-Length "ought to be handled as an
  error", and "Regardless, the server MUST close the connection after responding to such a
  request". h11 frames it by Transfer-Encoding and keeps the connection, so whatever a front end
  that framed it by Content-Length took for body was served as a second request (request
  smuggling). The lab refuses it and closes; and an HTTP/1.0 request with Transfer-Encoding,
  which §6.1 says MUST be treated "as if the framing is faulty" (h11 decoded it as chunked).
- §3.2: a request-target is in one of four forms: origin-form (a path: "/…"), absolute-form,
  authority-form ("host:port", for CONNECT alone, §3.2.3) or asterisk-form ("*", for OPTIONS
  alone, §3.2.4). §3: an invalid request-line SHOULD be answered 400. uvicorn handed `GET mcp`
  and `GET ?x=1` on as paths: 404s, and the served trace joined the target to the host
  (`http://127.0.0.1:8001mcp`). The lab opens no tunnels: CONNECT is 501 Not Implemented
  (RFC 9110 §15.6.2), not a 404 or 403 judged by a Host field §3.3 says it does not use.
  asterisk-form is "*" alone: `OPTIONS *?x` is in no form (uvicorn splits off the query), nor is
  a target with a fragment (`GET /mcp#x`: a 404 for an endpoint named `/mcp#x`).
- §3.2.4: `OPTIONS *` asks about the server as a whole, not one of its resources; RFC 9110 §9.3.7
  calls it "only useful as a 'ping' or 'no-op' type of method". uvicorn handed `*` on as a path,
  and each lab server answered 404 for an endpoint it named `*` or `/*`. `ServerAsAWhole`, behind
  the Host and Origin gates, answers it 200 with no content; and an absolute-form OPTIONS with an
  empty path and no query too, which the last proxy on a chain "MUST send" on as `*`.
- §3: a server "MUST respond with a 414 (URI Too Long) status code" to a request-target longer
  than it wishes to parse. h11 limits only a head still incomplete, so a longer one that came in
  one read was served and one that came in pieces was a 400; `oversized_head` judges it whole
  (`serve_sockets.LimitedH11Protocol` answers, before h11 parses it).
- RFC 9110 §2.5: a request of a later HTTP/1.x is processed as HTTP/1.1 (`read_as_http11`; h11
  took any `HTTP/d.d`, and the rules below asked for exactly `HTTP/1.1`), and one of a major
  version other than 1 is answered 505 (`unsupported_version`), as the 414 is.
- §6.1: "A server that receives a request message with a transfer coding it does not understand
  SHOULD respond with 501 (Not Implemented)"; h11, which decodes chunked alone, answered 400.
  `unknown_transfer_coding` reads the whole head, answered as the 414 is. RFC 9110 §5.6.1.2: a
  recipient "MUST parse and ignore a reasonable number of empty list elements"; h11 refused
  `Transfer-Encoding: chunked,` 400, and `chunked_listed_plainly` hands it `chunked` instead.

`Rfc9112`'s refusals have the guarded server's shape at the path (`error_text.Refusal`), as its
other gates' refusals do; the 414 and 431 are plain text, written below h11 as its 408 and 503.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from .body_limit import answer_and_close
from .error_text import Refusal

# RFC 9112 §3.2.2 absolute-form = absolute-URI; for "http" and "https", RFC 9110 §4.2: the
# authority, then a path-abempty (uvicorn has already split off the query).
_ABSOLUTE_FORM = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/]*)(?P<path>.*)", re.DOTALL)
# RFC 9112 §3.2: Host = uri-host [ ":" port ]; RFC 3986 §3.2.2, §3.2.3: an IP-literal in brackets,
# or a reg-name (unreserved, pct-encoded, sub-delims; an IPv4 address is one too), and a port of
# digits. No "@": userinfo is no part of Host. pct-encoded is "%" HEXDIG HEXDIG, and an
# IP-literal an IPv6address or an IPvFuture: "%" alone and "[zz]" were taken (h11 takes any value).
_HOST = re.compile(r"(?:\[(?P<literal>[^\]]*)\]|(?:[0-9A-Za-z._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?")
# §3.2.2: IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
_IPV_FUTURE = re.compile(r"[vV][0-9A-Fa-f]+\.[0-9A-Za-z._~!$&'()*+,;=:-]+")


def request_target_form(target: str, method: str, query: str = "") -> str | None:
    """The form of a request-target (RFC 9112 §3.2), given as uvicorn splits it (`target` up to
    the "?", then the `query`): "origin", "absolute", "authority" (CONNECT's), "asterisk"
    (OPTIONS'), or None when it is in none of them."""
    if "#" in target or "#" in query:
        return None  # §3.2.1-§3.2.2, RFC 3986 §3.3-§3.5: no path or query holds "#"; a fragment stays with the client
    if target.startswith("/"):
        return "origin"
    if _ABSOLUTE_FORM.fullmatch(target):
        return "absolute"
    if method == "CONNECT":
        return "authority" if is_host_field(target) else None
    # §3.2.4: asterisk-form = "*", with nothing after it.
    return "asterisk" if target == "*" and not query and method == "OPTIONS" else None


def is_host_field(value: str) -> bool:
    """True when `value` is a Host field's value (RFC 9112 §3.2, RFC 3986 §3.2.2-§3.2.3)."""
    host = _HOST.fullmatch(value)
    if host is None or host["literal"] is None:
        return host is not None
    literal = host["literal"]
    if _IPV_FUTURE.fullmatch(literal):
        return True
    # IPv6address, as `ipaddress` reads one; it also takes a "%scope", which RFC 3986 has not.
    try:
        ipaddress.IPv6Address(literal)
    except ValueError:
        return False
    return "%" not in literal


# RFC 9112 §2.2: a request's head ends at its first empty line (a recipient MAY take a bare LF as
# a line's end, which h11 does).
_END_OF_HEAD = re.compile(rb"\n\r?\n")

# The request-target as the request line carried it (§3.2), in a served request's ASGI scope
# (`serve_sockets`): uvicorn splits it at its first "?" into `raw_path` and `query_string`, so
# `/mcp?` (an empty query, RFC 3986 §3.4) and `/mcp` were one scope, and the trace showed `/mcp`.
REQUEST_TARGET = "lab_servers.request_target"


def head_lines(head: bytes) -> list[str]:
    """The lines of what arrived of a request's head, as a recipient reads them (§2.2), each octet
    one Latin-1 character, as a field value's (RFC 9110 §5.5): up to its first empty line, a bare
    LF taken as a line's end (a recipient MAY, and h11 does), the empty lines before the request
    line skipped (a server SHOULD ignore at least one), and a field line begun with a space or tab
    joined to the one before (§5.2's obs-fold, as h11 joins it). Split on CRLF alone, a head with
    LF line ends was one request line holding every field, and one after an empty line had an empty
    request line and its own as a field. `head` is bounded by whoever kept it (serve_sockets: 16 KiB)."""
    lines = [line.removesuffix("\r") for line in head.decode("latin-1").split("\n")]
    start = next((index for index, line in enumerate(lines) if line), len(lines))
    read: list[str] = []
    for line in lines[start:]:
        if not line:
            break
        if len(read) > 1 and line[0] in " \t":
            read[-1] += " " + line.lstrip(" \t")
        else:
            read.append(line)
    return read


def method_and_target(request_line: str) -> tuple[str, str]:
    """The method and request-target of a request line (§3: `method SP request-target SP
    HTTP-version`), read from one that may break that grammar (a 400's): what follows the first
    space, its version cut off if it ends in one (any: a 505's `HTTP/2.0` too)."""
    method, _, rest = request_line.partition(" ")
    return method, rest.rpartition(" ")[0] if request_version(request_line) is not None else rest


# §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT, the request line's last word (§3).
_REQUEST_VERSION = re.compile(rb" HTTP/([0-9])\.([0-9])\r?")


def request_version(request_line: bytes | str) -> tuple[int, int] | None:
    """The HTTP-version a request line ends with (§2.3), as its major and minor numbers; None
    when it ends in none (h11 refuses such a line 400). h11 takes any `HTTP/d.d`."""
    line = request_line.encode("latin-1") if isinstance(request_line, str) else request_line
    version = _REQUEST_VERSION.search(line)
    return (int(version[1]), int(version[2])) if version and version.end() == len(line) else None


def read_as_http11(request_line: bytes | str) -> bool:
    """Whether a request is read by HTTP/1.1's rules (its framing, §6.1; its Host, §3.2): an
    HTTP/1.1 request, or one of a later HTTP/1.x. RFC 9110 §2.5: a recipient SHOULD process a
    higher minor version "as if it were in the highest minor version within that major version to
    which the recipient is conformant". Judged by the string `HTTP/1.1`, an `HTTP/1.2` request
    skipped §6.1's 501 and §5.6.1.2's empty elements, and h11 asked it for no Host."""
    version = request_version(request_line)
    return version is not None and version >= (1, 1)


def unsupported_version(arrived: bytes) -> tuple[int, int] | None:
    """The version of the request line `arrived` begins with, once whole, when its major version
    is not 1, else None. RFC 9110 §2.5: a server "can send a 505 (HTTP Version Not Supported)
    response if it wishes, for any reason, to refuse service of the client's major protocol
    version"; h11 took `HTTP/2.0` and `HTTP/0.9` as HTTP/1.x requests (0.9 with Transfer-Encoding
    decoded as chunked, where HTTP/1.0 is refused for it, §6.1). No HTTP/0.9 request has a
    version (RFC 9112 Appendix C.1) and HTTP/2's own preface is `PRI * HTTP/2.0`: neither is a
    request this server reads."""
    line_end = arrived.find(b"\n")
    version = request_version(arrived[:line_end]) if line_end != -1 else None
    return version if version is not None and version[0] != 1 else None


def as_http11(arrived: bytes) -> bytes | None:
    """`arrived`, its head whole, with the request line's `HTTP/1.x` (x > 1) made `HTTP/1.1`, the
    version it is processed as (`read_as_http11`), so that h11 asks it for a Host (§3.2) and the
    application's scope says "1.1" (ASGI's http_version is "1.0", "1.1" or "2"); else None."""
    end = _END_OF_HEAD.search(arrived)
    line_end = arrived.find(b"\n")
    version = request_version(arrived[:line_end]) if end is not None else None
    if version is None or version[0] != 1 or version[1] <= 1:
        return None
    at = arrived.rindex(b" HTTP/", 0, line_end)
    return arrived[:at] + b" HTTP/1.1" + arrived[at + len(b" HTTP/1.x") :]


def oversized_head(arrived: bytes, limit: int) -> int | None:
    """The status for a request whose head (`arrived` starts with it) is longer than `limit`
    bytes, or None: 414 URI Too Long when its request line alone is (§3: a server "MUST respond
    with a 414 (URI Too Long) status code" to a request-target longer than it wishes to parse),
    else 431 Request Header Fields Too Large (RFC 6585 §5)."""
    end = _END_OF_HEAD.search(arrived)
    if (end.end() if end else len(arrived)) <= limit:
        return None
    line_end = arrived.find(b"\n")
    return 414 if line_end == -1 or line_end > limit else 431


def _transfer_codings(head: bytes) -> tuple[bytes, list[tuple[range, bytes, list[bytes]]]]:
    """A whole head's request line, and each of its Transfer-Encoding field lines: the lines it
    spans (index into the head's lines after the request line), its name as sent, and its list's
    members (empty ones too). A line begun with a space or tab continues the field line before it
    (§5.2's obs-fold), joined with a space as h11 joins it (a server MAY "replace each received
    obs-fold with one or more SP octets prior to interpreting the field value"): read line by line,
    `chunked,` folded onto ` ,` was refused 400 as "not chunked, named once", and `chunked,`
    folded onto ` gzip` was no 501."""
    request_line, *lines = head.split(b"\n")
    fields: list[tuple[range, bytes, bytes]] = []
    for index, line in enumerate(line.removesuffix(b"\r") for line in lines):
        if fields and line[:1] in (b" ", b"\t"):
            spans, name, value = fields[-1]
            fields[-1] = (range(spans.start, index + 1), name, value + b" " + line.lstrip(b" \t"))
        else:
            name, colon, value = line.partition(b":")
            fields.append((range(index, index + 1), name if colon else b"", value))
    return request_line, [
        (spans, name, [member.strip(b" \t") for member in value.split(b",")])
        for spans, name, value in fields
        if name.lower() == b"transfer-encoding"
    ]


# §6.1: "as if the framing is faulty", alike when h11 parsed it (`Rfc9112`) and refused it (`rfc9112_refusals`).
HTTP10_TRANSFER_ENCODING = "an HTTP/1.0 request has no Transfer-Encoding; its framing is faulty (RFC 9112 §6.1)"


def _http11_transfer_codings(arrived: bytes) -> tuple[int, bytes, list[tuple[range, bytes, list[bytes]]]] | None:
    """Where the head `arrived` starts with ends, its request line and its Transfer-Encoding field
    lines (`_transfer_codings`), once the head is whole and read by HTTP/1.1's rules
    (`read_as_http11`); else None: an HTTP/1.0 request's Transfer-Encoding is not read but refused
    (§6.1: faulty framing, `Rfc9112`)."""
    end = _END_OF_HEAD.search(arrived)
    if end is None:
        return None
    request_line, fields = _transfer_codings(arrived[: end.start()])
    return (end.start(), request_line, fields) if read_as_http11(request_line) else None


def unknown_transfer_coding(arrived: bytes) -> str | None:
    """The first transfer coding an HTTP/1.1 request's head (or a later HTTP/1.x one's,
    `read_as_http11`) names that this server does not implement, once the head (`arrived` starts
    with it) is whole; else None. §6.1: "A server that receives a request message with a transfer
    coding it does not understand SHOULD respond with 501 (Not Implemented)"; h11, which decodes
    chunked alone (§7), answered 400. An HTTP/1.0 request with any Transfer-Encoding is faulty
    framing instead (§6.1: 400, `Rfc9112`)."""
    read = _http11_transfer_codings(arrived)
    if read is None:
        return None
    codings = (member.lower() for _, _, members in read[2] for member in members)
    unknown = [coding for coding in codings if coding and coding != b"chunked"]
    return unknown[0].decode("latin-1") if unknown else None


def chunked_listed_plainly(arrived: bytes) -> bytes | None:
    """`arrived` with its head's Transfer-Encoding field lines made one, `Transfer-Encoding:
    chunked`, when they list chunked once among empty elements (`chunked,`, `, chunked`, a line of
    them beside one that names it, or one folded onto the next, §5.2); else None: nothing to
    rewrite, or a head not whole, an HTTP/1.0 request's or a list h11 is to refuse as it stands.
    RFC 9110 §5.6.1.2: "a recipient MUST parse and ignore a reasonable number of empty list
    elements" (`unknown_transfer_coding` does); h11 takes the field's value whole, and refused
    anything but `chunked` itself, or named twice, as framing it cannot read (§6.3: a 400)."""
    read = _http11_transfer_codings(arrived)
    if read is None:
        return None
    end, request_line, fields = read
    listed = [member for _, _, members in fields for member in members]
    codings = [coding for coding in listed if coding]
    if len(codings) != 1 or (len(fields) == 1 and listed == codings):
        return None  # h11 reads it as it stands: `chunked`, or a 400 `rfc9112_refusals` explains
    lines = arrived[:end].split(b"\n")[1:]
    first, name = fields[0][0].start, fields[0][1]
    one = name + b": " + codings[0] + (b"\r" if lines[first].endswith(b"\r") else b"")
    spanned = {index for spans, _, _ in fields for index in spans}
    kept = [
        one if index == first else line for index, line in enumerate(lines) if index == first or index not in spanned
    ]
    return b"\n".join([request_line, *kept]) + arrived[end:]


# §2.2: the empty lines a server ignores before a request line, at most, counted afresh for each
# request: Apache httpd's limit (DEFAULT_LIMIT_BLANK_LINES). A client adds one at most, the CRLF
# after a POST's body (RFC 2616 §4.1 tells of it); past ten they are no client's robustness but a
# stranger's, answered 400. Each request's deadline (`serve_sockets`) runs from its first.
MAX_EMPTY_LINES = 10


def empty_lines_before(arrived: bytes, at_most: int) -> tuple[int, int]:
    """How many empty lines (CRLF, or a bare LF, §2.2) `arrived` begins with, up to `at_most`, and
    their octets."""
    empty = re.match(rb"(?:\r?\n){0,%d}" % max(at_most, 0), arrived)
    octets = empty.end() if empty else 0
    return arrived[:octets].count(b"\n"), octets


def absolute_form_authority(target: str) -> str | None:
    """The authority of a request-target in absolute-form (`127.0.0.1:8001` of
    `http://127.0.0.1:8001/jwks.json`), or None for any other form."""
    absolute = _ABSOLUTE_FORM.fullmatch(target)
    return absolute["authority"] if absolute else None


class Rfc9112:
    """ASGI middleware, in front of the Host and Origin gates: an absolute-form request is served
    as its origin-form with the target's authority as its Host; an invalid Host is a 400; a
    request with both Content-Length and Transfer-Encoding a 400 that closes the connection."""

    def __init__(self, app: ASGIApp, *, refusal: Refusal) -> None:
        self.app, self.refusal = app, refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_target = scope.get("raw_path", b"").decode("latin-1")
        absolute = _ABSOLUTE_FORM.fullmatch(raw_target)
        where = "Host"
        if absolute is not None:
            path = absolute["path"] or "/"  # RFC 9110 §4.2.3: an empty path is "/"
            if scope["method"] == "OPTIONS" and not absolute["path"] and not scope.get("query_string"):
                # §3.2.4: the last proxy MUST send such a request to the origin as `OPTIONS *`; it
                # asks the same (the server as a whole), and was a 404 where `*` is a 200.
                path = "*"
            others = [(k, v) for k, v in scope["headers"] if k.lower() != b"host"]
            host = (b"host", absolute["authority"].encode("latin-1"))
            scope = {**scope, "path": unquote(path), "raw_path": path.encode("latin-1"), "headers": [host, *others]}
            where = "the request-target's authority"
        fields = [(k.lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        hosts = [value for name, value in fields if name == b"host"]
        names = {name for name, _ in fields}
        query = scope.get("query_string", b"").decode("latin-1")
        form = request_target_form(raw_target, scope["method"], query)
        if form is None:
            sent = scope.get(REQUEST_TARGET)
            shown = sent.decode("latin-1") if isinstance(sent, bytes) else raw_target + (f"?{query}" if query else "")
            why = (
                f"the request-target {shown!r} is in none of the forms RFC 9112 §3.2 defines: a path begins"
                " with '/'; '*' is for OPTIONS alone, with no query, and host:port for CONNECT alone (§3.2.3,"
                " §3.2.4)"
                + ("; '#' begins a fragment, which a client does not send (RFC 3986 §3.5)" if "#" in shown else "")
            )
            await self.refusal(scope["path"], 400, why)(scope, receive, send)
        elif scope["method"] == "CONNECT":
            why = "this server opens no tunnels: CONNECT is not implemented here (RFC 9110 §9.3.6, §15.6.2)"
            await self.refusal(scope["path"], 501, why)(scope, receive, send)
        elif absolute is not None and absolute["scheme"].lower() != scope["scheme"]:
            why = (
                f"this server is reached over {scope['scheme']}; the request-target {raw_target!r} names"
                f" {absolute['scheme']} (RFC 9112 §3.2.2, RFC 9110 §15.5.20)"
            )
            await self.refusal(scope["path"], 421, why)(scope, receive, send)
        elif hosts and not is_host_field(hosts[0]):
            why = (
                f"{where} {hosts[0]!r} is not a valid host[:port] (RFC 9112 §3.2: a server MUST answer 400 to"
                " a Host header field with an invalid field value; RFC 9110 §4.2.4: no userinfo)"
            )
            await self.refusal(scope["path"], 400, why)(scope, receive, send)
        elif b"transfer-encoding" in names and b"content-length" in names:
            why = (
                "a request with both Transfer-Encoding and Content-Length has no one length, which is how"
                " requests are smuggled; the connection is closed (RFC 9112 §6.3)"
            )
            await answer_and_close(send, self.refusal(scope["path"], 400, why))
        elif b"transfer-encoding" in names and scope["http_version"] == "1.0":
            # §6.1: such a message MUST be treated "as if the framing is faulty": h11 read it chunked.
            # Served, no other version is below 1.1: another major one is a 505, and a later HTTP/1.x
            # is read as 1.1 (`unsupported_version`, `as_http11`).
            await answer_and_close(send, self.refusal(scope["path"], 400, HTTP10_TRANSFER_ENCODING))
        else:
            await self.app(scope, receive, send)


class ServerAsAWhole:
    """ASGI middleware, behind the Host and Origin gates, in front of one lab server: answers
    `OPTIONS *`, which asks about the server as a whole (RFC 9112 §3.2.4), 200 with no content.
    RFC 9110 §9.3.7: such a request "is only useful as a 'ping' or 'no-op' type of method", and
    "A server MUST generate a Content-Length field with a value of "0" if no content is to be sent
    in the response". No `Allow`: what a lab server allows differs from one endpoint to the next,
    and each says so in its own 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS" and scope.get("raw_path") == b"*":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)
