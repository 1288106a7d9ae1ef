"""What RFC 9110 (HTTP Semantics) asks of the lab that its libraries leave to it: reading an
HTTP-date (§5.6.7) and writing one (the lab network's `Date`, §6.6.1), a request's media type
(§8.3.1) and its content coding (§8.4).

**HTTP-date.** A fetched client metadata document's `Expires` and `Date` set how long the AS may
reuse it (RFC 9111 §4.2.1, CIMD -02 §5). An HTTP-date is an IMF-fixdate
(`Sun, 06 Nov 1994 08:49:37 GMT`), or one of the two obsolete forms a recipient "MUST accept":
rfc850-date (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime-date (`Sun Nov  6 08:49:37 1994`). All
three are in GMT. The grammar is case-sensitive, but the AS reads these dates as a cache, and RFC
9111 §4.2 asks a cache recipient to "match the field value case-insensitively" (`gmt`, `SUN`, `nov`).
The AS read them with `email.utils.parsedate_to_datetime`, which parses RFC 5322's dates, not
HTTP's, and differed from the rule in three ways:
- an asctime-date, and an RFC 5322 date with `-0000` or no zone, came back without a zone, and
  `.timestamp()` placed them in the machine's local time zone: the same document's cache lifetime
  (and with it whether the next request fetched it again) changed with where the lab ran;
- dates with other zones (`+0500`, `PST`) were taken, where RFC 9111 §5.3 says a cache "MUST
  interpret invalid date formats ... as representing a time in the past" (§4.2: a zone other
  than GMT SHOULD be invalid);
- a two-digit year from 69 to 99 was always 19xx, where §5.6.7 places it within 50 years ahead
  of now (in 2026, `01-Jan-70` is 2070).

**Content codings.** A request's `Content-Encoding` says its content was compressed (gzip, br, …)
and is to be decoded before its media type applies. None of the lab's servers decodes one. An
origin server "MAY respond with a status code of 415 (Unsupported Media Type) if a representation
in the request message has a content coding that is not acceptable" (§8.4), and the 415 "ought
to" carry `Accept-Encoding` to say which codings would have been (§15.5.16). Read as if no coding
had been applied, a compressed body is gibberish that names no rule: at the AS a gzip'd token
request was "client_id is required", a gzip'd registration "not valid UTF-8", and a plain body
merely labelled `br` was taken as it stood. The MCP endpoint applies the rule in its own order of
checks (`resource_server/transport.py`); the AS and the enterprise IdP through `NoContentCoding`,
in front of every route.

**A field sent more than once** (§5.2, §5.3). A list field (Accept, Content-Encoding,
Cache-Control, WWW-Authenticate) may come as several lines, which read as one list, in order. A
field that holds one value (Authorization §11.6.2, Content-Type §8.3, Host §7.2, Origin, Location
§10.2.2, MCP's own headers) a sender MUST NOT send twice, and two of its lines are no value:
`one_field` refuses them, naming the rule, wherever the lab reads one. Read first-only (Starlette's
`headers.get`) or last-only (a dict of the headers), the lab's gates had judged one line while a
proxy, the SDK or the next reader could judge the other.
"""

from __future__ import annotations

import calendar
import datetime
import email.utils
import functools
import re
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from .error_text import Refusal

__all__ = [
    "ACCEPTED_CODINGS",
    "JSON_UTF8",
    "OWS",
    "PARAMETERS",
    "QUOTED_STRING",
    "TOKEN",
    "NoContentCoding",
    "RepeatedField",
    "content_codings",
    "field_values",
    "http_date",
    "imf_fixdate",
    "media_type",
    "one_field",
    "prefers",
    "unquoted",
    "unsupported_coding",
    "weight_of",
]

OWS = " \t"  # §5.6.3: optional whitespace is SP and HTAB, nothing else
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # §5.6.2: token = 1*tchar, as a regular expression

# HTTP-date (§5.6.7) -----------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DAY_NAME_L = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = f"(?P<month>{'|'.join(_MONTHS)})"
# DIGIT is ASCII (RFC 5234 B.1): `[0-9]`, never `\d`, which also takes other scripts' digits.
_TIME_OF_DAY = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
# RFC 9111 §4.2: "Although all date formats are specified to be case-sensitive, a cache recipient
# SHOULD match the field value case-insensitively." ASCII case only: in Unicode, U+017F (long s) is an s.
_CASELESS = re.IGNORECASE | re.ASCII
_IMF_FIXDATE = re.compile(
    f"{_DAY_NAME}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME_OF_DAY} GMT", _CASELESS
)
_RFC850_DATE = re.compile(
    f"{_DAY_NAME_L}, (?P<day>[0-9]{{2}})-{_MONTH}-(?P<yy>[0-9]{{2}}) {_TIME_OF_DAY} GMT", _CASELESS
)
_ASCTIME_DATE = re.compile(
    f"{_DAY_NAME} {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME_OF_DAY} (?P<year>[0-9]{{4}})", _CASELESS
)


def http_date(value: str, now: int) -> int | None:
    """`value` in epoch seconds if it is an HTTP-date, else None, read as a cache reads one (in
    any case, RFC 9111 §4.2). `now` (epoch seconds) places an rfc850-date's two-digit year. The
    day name is not checked against the date: §5.6.7 gives it no meaning beyond the grammar."""
    value = value.strip(OWS)  # OWS around a field value is not part of it (§5.5)
    if match := _IMF_FIXDATE.fullmatch(value) or _ASCTIME_DATE.fullmatch(value):
        year = int(match["year"])
    elif match := _RFC850_DATE.fullmatch(value):
        year = _rfc850_year(int(match["yy"]), now)
    else:
        return None
    month = _MONTHS.index(match["month"].title()) + 1
    day, hour, minute, second = (int(match[name]) for name in ("day", "hour", "minute", "second"))
    # The grammar allows 99:99:99 and 31 Feb; neither is a time. A leap second (60) is one.
    if hour > 23 or minute > 59 or second > 60:
        return None
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None
    return calendar.timegm((year, month, day, hour, minute, second))


def imf_fixdate(seconds: int) -> str:
    """`seconds` (since the epoch) as the HTTP-date a sender writes: "a sender MUST generate" the
    IMF-fixdate form (§5.6.7), `Thu, 01 Jan 2026 00:00:00 GMT`, as uvicorn writes its `Date`."""
    return email.utils.formatdate(seconds, usegmt=True)


def _rfc850_year(yy: int, now: int) -> int:
    """§5.6.7: recipients "MUST interpret a timestamp that appears to be more than 50 years in the
    future as representing the most recent year in the past that had the same last two digits"."""
    this_year = time.gmtime(now).tm_year
    past = this_year - (this_year - yy) % 100  # the most recent year ending in yy, this one included
    return past + 100 if past + 100 <= this_year + 50 else past


# A field sent more than once (§5.2, §5.3) ------------------------------------------------------


class RepeatedField(ValueError):
    """A field that holds one value, not a list, sent in more than one field line."""


def field_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every line of field `name` (lower case) in an ASGI scope's headers, in order, as Latin-1."""
    return [v.decode("latin-1") for k, v in headers if k.lower() == name]


def one_field(values: list[str], name: str, section: str, *, carrier: str = "the request") -> str | None:
    """The one value of a field that is no list (`section` defines it), None when it was not sent.
    §5.3: "A sender MUST NOT generate multiple field lines with the same name in a message ...
    unless that field's definition allows multiple field line values to be recombined as a
    comma-separated list"; a recipient may combine only a list's lines. Two lines of a singleton
    are no value at all: read first-only (or last-only, as a dict of the headers reads them), a
    gate and whatever reads the field after it could each judge a different one."""
    if len(values) > 1:
        raise RepeatedField(
            f"{carrier} carries {len(values)} {name} fields; {name} holds one value, not a list, and "
            f"is sent once (RFC 9110 §5.3, {section})"
        )
    return values[0] if values else None


# Media types (§8.3.1) --------------------------------------------------------------------------


# §5.6.4: qdtext is HTAB, SP, %x21, %x23-5B, %x5D-7E and obs-text; quoted-pair escapes one. obs-text
# is the octets %x80-FF: the servers read a field as Latin-1 (an octet, a character), httpx as UTF-8
# when it decodes (several octets, one character), so the lab client's `café` or `€` is obs-text too.
# Written as what each excludes, the same sets: a class spanning %x80-10FFFF took `re` about 5 ms
# to compile, and the six patterns built on this one were 7 % of the instructions of a fresh
# interpreter's first connect (`benchmarks/instructions.py`; README, "Working on the lab"). And
# written as a run of qdtext, then quoted-pairs each followed by a run ("unrolling the loop"): the
# same strings, each read one way only, but a run is one repeat of a class where an alternation
# per character was ten times slower (a 16 KiB value: 0.1 ms against 1.0 ms).
_QDTEXT = r'[^\x00-\x08\x0a-\x1f"\\\x7f]'
QUOTED_STRING = rf'"{_QDTEXT}*(?:\\[^\x00-\x08\x0a-\x1f\x7f]{_QDTEXT}*)*"'
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)  # quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )


def unquoted(quoted: str) -> str:
    """A quoted-string's value (§5.6.4): the text between its quotes, each quoted-pair replaced by
    the octet it escapes. Unescaped only when it holds an escape: a 16 KiB Accept field of quoted
    parameters spent most of its time in substitutions that changed nothing."""
    value = quoted[1:-1]
    return _QUOTED_PAIR.sub(r"\1", value) if "\\" in value else value


# §5.6.6: parameters = *( OWS ";" OWS [ parameter ] ), parameter = parameter-name "=" parameter-value.
# Written so that no run of OWS can be read two ways (a regex that could would backtrack on it).
PARAMETERS = rf"(?:[ \t]*;(?:[ \t]*{TOKEN}=(?:{TOKEN}|{QUOTED_STRING}))?)*"
_MEDIA_TYPE = re.compile(rf"({TOKEN}/{TOKEN}){PARAMETERS}[ \t]*")


def media_type(content_type: str | None) -> str:
    """The type/subtype of a Content-Type value, lowercased, without its parameters and the OWS
    around it (§8.3.1: the type and subtype are case-insensitive); "" for none, and for a value
    that is no `media-type` (§8.3.1: type "/" subtype parameters). Splitting at the first ";"
    read `application/json; charset` (a parameter with no value) as JSON, and
    `application/x y+json` as a JSON media type. `str.strip()`, which each reader of one used,
    also removes NBSP and NEL (a header is read as Latin-1)."""
    found = _MEDIA_TYPE.fullmatch((content_type or "").lstrip(OWS))
    return found[1].lower() if found else ""


# Proactive negotiation: Accept (§12.5.1) ---------------------------------------------------------

# JSON as a server sends it, weighed against Accept ranges parameters and all: JSON text is UTF-8
# (RFC 8259 §8.1), which a charset parameter only restates (§11), so `application/json;
# charset=utf-8` in an Accept field names it too.
JSON_UTF8 = "application/json; charset=utf-8"

# §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ). float() also takes
# "1e-9", "inf", "+1", "2", "1_0" and "0.0001".
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
# §12.5.1: media-range = ( "*/*" / ( type "/*" ) / ( type "/" subtype ) ) parameters; a member
# of the list, or an empty one, up to its comma. A "q" parameter is the weight (§12.4.2). The OWS
# after a member belongs to the member: an empty one's OWS, read by two `[ \t]*` in a row, could be
# split between them every way, and a field of 100 KB of spaces then took a minute to refuse.
_ACCEPT_MEMBER = re.compile(rf"[ \t]*(?:({TOKEN}/(?:{TOKEN}|\*))({PARAMETERS})[ \t]*)?(?:,|\Z)")
_PARAMETER = re.compile(rf"[ \t]*;(?:[ \t]*({TOKEN})=({TOKEN}|{QUOTED_STRING}))?")


def _parameters(text: str) -> dict[str, str]:
    """A media type's or range's parameters but its weight, as §5.6.6 compares them: names
    case-insensitive, a quoted-string's value unquoted (§5.6.4), a charset case-insensitive (§8.3.2)."""
    found: dict[str, str] = {}
    for parameter in _PARAMETER.finditer(text):
        name, value = (parameter[1] or "").lower(), parameter[2] or ""
        if name in ("", "q"):
            continue  # an empty parameter, or the weight (§12.5.1: "q" is it, wherever it stands)
        if value.startswith('"'):
            value = unquoted(value)
        found[name] = value.lower() if name == "charset" else value
    return found


@functools.cache
def _ranges_naming(wanted: str) -> tuple[dict[str, int], dict[str, str]]:
    """The ranges that can name `wanted`, by specificity (its type/subtype, `type/*`, `*/*`), and
    the parameters it carries. Cached: every MCP request weighs the same one or two types."""
    name, _, rest = wanted.partition(";")
    return {name: 2, name.split("/")[0] + "/*": 1, "*/*": 0}, _parameters(";" + rest)


def weight_of(accept: str, wanted: str) -> float | None:
    """The weight an Accept value gives `wanted`, a media type as the server sends it (lower case,
    parameters and all: `text/html; charset=utf-8`), 0.0 when no range names it, None when the
    value is no Accept list (it says nothing a server can trust).

    §12.5.1: `wanted` itself, `type/*` or `*/*`, the most specific deciding ("the most specific
    reference has precedence"), so `application/json;q=0, */*` refuses JSON, which read as any
    range above 0 was taken. A range's parameters narrow it: `text/html;level=1` names no page
    without that parameter, and is more specific than `text/html` for one with it (§12.5.1's
    example gives `text/html;level=1` 1, `text/html` 0.7 and `text/html;level=3` 0.7). Accept =
    #( media-range [ weight ] ), read as a list (§5.6.1.2: empty members are skipped) whose members
    may hold quoted-strings, and a quoted-string may hold a comma: split on every comma,
    `text/plain;a=",application/json,"` named JSON, where its one media range is text/plain. A
    range with a malformed weight does not count; of two equally specific ranges, the higher
    weight counts."""
    ranges, held = _ranges_naming(wanted)
    deciding: tuple[tuple[int, int], float] | None = None  # ((specificity, parameters named), weight)
    pos = 0
    while pos < len(accept):
        member = _ACCEPT_MEMBER.match(accept, pos)
        if member is None:
            return None
        pos = member.end()
        if member[1] is None:
            continue  # an empty member
        level = ranges.get(member[1].lower())
        if level is None:
            continue
        narrowing = _parameters(member[2]) if member[2] else {}
        if any(held.get(key) != value for key, value in narrowing.items()):
            continue  # the range names a parameter `wanted` does not carry: it does not apply
        weights = [p[2] for p in _PARAMETER.finditer(member[2]) if (p[1] or "").lower() == "q"]
        if weights and not _QVALUE.fullmatch(weights[0]):
            continue
        weight = float(weights[0]) if weights else 1.0  # §12.4.2: a weight of 0 is "not acceptable"
        specificity = (level, len(narrowing))
        if deciding is None or specificity > deciding[0] or (specificity == deciding[0] and weight > deciding[1]):
            deciding = (specificity, weight)
    return deciding[1] if deciding is not None else 0.0


def prefers(lines: list[str], media: str, *, over: str) -> bool:
    """Whether a request's Accept lines weigh `media` above `over` (§12.1, proactive negotiation);
    False without an Accept field (§12.5.1: it "will accept any media type") or with one that is
    no list, and on a tie: the server's own choice, `over`, stands."""
    accept = ",".join(lines)  # §5.3: a list field's lines read as one list, in order; none weigh alike
    ours, theirs = weight_of(accept, over), weight_of(accept, media)
    return ours is not None and theirs is not None and theirs > ours


# Content codings (§8.4) ------------------------------------------------------------------------


# §12.5.3: "identity" is a synonym for "no encoding". It is not a content coding, but a sender
# that names it has applied none, so it is taken like an empty or absent header.
ACCEPTED_CODINGS = {"Accept-Encoding": "identity"}


def unsupported_coding(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The rule a request breaks by declaring a content coding; None when it declares none."""
    lines = field_values(headers, b"content-encoding")
    if not content_codings(lines):
        return None
    sent = ", ".join(line.strip(OWS).lower() for line in lines)
    return f"this server takes no content coding; the request's Content-Encoding is {sent!r} (RFC 9110 §8.4, §15.5.16)"


def content_codings(lines: Iterable[str]) -> list[str]:
    """The codings a Content-Encoding field names, lowercased, in the order they were applied.
    Content-Encoding = #content-coding (§8.4), and its lines combine in order (§5.3): `identity`
    then `gzip` is gzip. A recipient "MUST parse and ignore a reasonable number of empty list
    elements" (§5.6.1.2), and identity names no coding (§12.5.3): `identity,` is none. OWS only
    (§5.6.3): str.strip() also took NBSP and NEL, so `identity<NBSP>` passed as identity."""
    members = (member.strip(OWS).lower() for line in lines for member in line.split(","))
    return [member for member in members if member not in ("", "identity")]


class NoContentCoding:
    """ASGI middleware: a request with content in a coding is refused with 415 and
    `Accept-Encoding: identity` (in the server's own error shape, `refusal`) before any route
    reads it. A request with no content (RFC 9112 §6: "The presence of a message body in a request
    is signaled by a Content-Length or Transfer-Encoding header field"; or a length of 0) has
    nothing a coding could apply to, and passes."""

    def __init__(self, app: ASGIApp, *, refusal: Refusal) -> None:
        self.app = app
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        coded = scope["type"] == "http" and _has_content(scope["headers"]) and unsupported_coding(scope["headers"])
        if not coded:
            return await self.app(scope, receive, send)
        refused = self.refusal(scope["path"], 415, coded)
        refused.headers.update(ACCEPTED_CODINGS)
        return await refused(scope, receive, send)


def _has_content(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(
        name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0"))
        for name, value in ((k.lower(), v) for k, v in headers)
    )
