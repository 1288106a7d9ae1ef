"""What the lab's servers SEND, held to the grammar the specs give it: the HTTP fields of every
response (RFC 9110, RFC 9111, RFC 6750 §3, RFC 7617 §2, RFC 9728 §5.1). The bodies are judged by
`emitted_bodies`; `problems` runs both over one traced exchange and names each rule broken.

The readers the lab uses for what it is sent are strict; these are the same strictness turned
round, so that a server cannot emit what its own clients would have to refuse.
"""

from __future__ import annotations

import re

from lab_servers.rfc9110 import http_date
from lab_servers.rfc9111 import cache_directives
from lab_servers.trace import Exchange

TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # RFC 9110 §5.6.2
QUOTED_STRING = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'  # §5.6.4
_TOKEN68 = r"[A-Za-z0-9\-._~+/]+=*"  # §11.2
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e\x80-\xff](?:[ \t\x21-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?")  # §5.5
_MEDIA_TYPE = re.compile(rf"({TOKEN})/({TOKEN})((?:[ \t]*;[ \t]*{TOKEN}=(?:{TOKEN}|{QUOTED_STRING}))*)")  # §8.3.1
_PARAMETER = re.compile(rf"[ \t]*;[ \t]*({TOKEN})=({TOKEN}|{QUOTED_STRING})")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)

# RFC 3986 Appendix A, URI-reference, as one expression (pct-encoded is "%" HEXDIG HEXDIG).
_PCT = r"%[0-9A-Fa-f]{2}"
_UNRESERVED_SUB = r"A-Za-z0-9\-._~!$&'()*+,;="
_PCHAR = rf"(?:[{_UNRESERVED_SUB}:@]|{_PCT})"
_HOST = rf"(?:\[[0-9A-Fa-f:.]+\]|(?:[{_UNRESERVED_SUB}]|{_PCT})*)"
_AUTHORITY = rf"(?:(?:[{_UNRESERVED_SUB}:]|{_PCT})*@)?{_HOST}(?::[0-9]*)?"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_URI_REFERENCE = re.compile(
    rf"(?:[A-Za-z][A-Za-z0-9+\-.]*:)?(?://{_AUTHORITY})?(?:{_PCHAR}|/)*(?:\?{_QUERY})?(?:#{_QUERY})?"
)
_ABSOLUTE_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+\-.]*://{_AUTHORITY}(?:{_PCHAR}|/)*(?:\?{_QUERY})?")

# RFC 6750 §3 (and RFC 6749 §5.2 for the same attributes in a JSON body).
NQSCHAR = r"[\x20\x21\x23-\x5b\x5d-\x7e]"  # error, error_description
SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")  # RFC 6749 §3.3
ERROR_TEXT = re.compile(f"{NQSCHAR}*")
ERROR_CODE = re.compile(f"{NQSCHAR}+")
ERROR_URI = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]*")
BEARER_ERRORS = {400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope"}  # RFC 6750 §3.1

# RFC 9110 §5.6.7: an HTTP-date "MUST" be generated as an IMF-fixdate, case-sensitive, in GMT.
_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
IMF_FIXDATE = re.compile(rf"{_DAY}, [0-9]{{2}} {_MONTH} [0-9]{{4}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}} GMT")


def is_uri_reference(value: str) -> bool:
    return bool(_URI_REFERENCE.fullmatch(value))


def is_absolute_uri(value: str) -> bool:
    return bool(_ABSOLUTE_URI.fullmatch(value))


def unquoted(value: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", value[1:-1]) if value.startswith('"') else value


def challenges(value: str) -> list[tuple[str, list[tuple[str, str]] | str]] | None:
    """RFC 9110 §11.6.1: WWW-Authenticate = #challenge; challenge = auth-scheme [ 1*SP ( token68 /
    #auth-param ) ]; auth-param = token BWS "=" BWS ( token / quoted-string ). Each challenge as
    (scheme, its parameters unquoted, or its token68); None when the field is not that."""
    found: list[tuple[str, list[tuple[str, str]] | str]] = []
    pos, end_of_element = 0, re.compile(r"[ \t]*(?:,|\Z)")
    while pos < len(value):
        if value[pos] in " \t,":  # OWS and empty list elements (§5.6.1.2)
            pos += 1
            continue
        if (param := _AUTH_PARAM.match(value, pos)) and found and not isinstance(found[-1][1], str):
            found[-1][1].append((param[1].lower(), unquoted(param[2])))
            pos = param.end()
        elif scheme := re.compile(rf"({TOKEN})(?: +({_TOKEN68})(?=[ \t]*(?:,|\Z)))?").match(value, pos):
            first_param = _AUTH_PARAM.match(value, pos + len(scheme[1]))
            if first_param and value[pos + len(scheme[1])] == " ":  # 1*SP, then the first auth-param
                found.append((scheme[1], [(first_param[1].lower(), unquoted(first_param[2]))]))
                pos = first_param.end()
            else:
                found.append((scheme[1], scheme[2] or []))
                pos = scheme.end()
        else:
            return None
        element_end = end_of_element.match(value, pos)
        if element_end is None:
            return None
        pos = element_end.end()
    return found


_AUTH_PARAM = re.compile(rf"[ ]*({TOKEN})[ \t]*=[ \t]*({TOKEN}|{QUOTED_STRING})")


def header_problems(exchange: Exchange) -> list[str]:
    found: list[str] = []
    headers = [(name.lower(), value) for name, value in exchange.response_headers]
    fields: dict[str, list[str]] = {}
    for name, value in headers:
        fields.setdefault(name, []).append(value)
        if not re.fullmatch(TOKEN, name):
            found.append(f"field name {name!r} is no token (RFC 9110 §5.1)")
        if not _FIELD_VALUE.fullmatch(value):
            found.append(f"{name}: {value!r} is no field-value (RFC 9110 §5.5)")
    one = {name: values[0] for name, values in fields.items()}
    status = exchange.status or 0
    found += [
        f"{name} sent {len(fields[name])} times; it is a singleton field (RFC 9110)"
        for name in ("content-type", "content-length", "location", "retry-after", "date")
        if len(fields.get(name, [])) > 1
    ]
    found += _content_type(one.get("content-type"), exchange)
    found += _content_length(one.get("content-length"), exchange)
    if "cache-control" in one and cache_directives(", ".join(fields["cache-control"])) is None:
        found.append(f"Cache-Control {one['cache-control']!r} is no list of directives (RFC 9111 §5.2)")
    if status == 401 and "www-authenticate" not in one:
        found.append("a 401 MUST carry WWW-Authenticate (RFC 9110 §15.5.2)")
    for value in fields.get("www-authenticate", []):
        found += _www_authenticate(value, exchange)
    if status == 405:
        allow = one.get("allow")
        if allow is None:
            found.append("a 405 MUST carry Allow (RFC 9110 §15.5.6)")
        elif not re.fullmatch(rf"{TOKEN}(?:[ \t]*,[ \t]*{TOKEN})*", allow):
            found.append(f"Allow {allow!r} is no list of methods (RFC 9110 §10.2.1)")
        elif exchange.method in [m.strip() for m in allow.split(",")]:
            found.append(f"a 405 to {exchange.method} lists {exchange.method} in Allow {allow!r} (RFC 9110 §15.5.6)")
    if status == 415 and not ({"accept", "accept-encoding"} & set(one)):
        found.append("a 415 ought to say what it takes, in Accept or Accept-Encoding (RFC 9110 §15.5.16)")
    if "retry-after" in one:
        value = one["retry-after"]
        if not (re.fullmatch("[0-9]+", value) or http_date(value, 0) is not None):
            found.append(f"Retry-After {value!r} is neither delta-seconds nor an HTTP-date (RFC 9110 §10.2.3)")
    if "date" in one and not (IMF_FIXDATE.fullmatch(one["date"]) and http_date(one["date"], 0) is not None):
        found.append(f"Date {one['date']!r} is no IMF-fixdate, the form a sender MUST generate (RFC 9110 §5.6.7)")
    if "vary" in one and not re.fullmatch(rf"\*|{TOKEN}(?:[ \t]*,[ \t]*{TOKEN})*", one["vary"]):
        found.append(f"Vary {one['vary']!r} is neither * nor a list of field names (RFC 9110 §12.5.5)")
    if "location" in one and not is_uri_reference(one["location"]):
        found.append(f"Location {one['location']!r} is no URI-reference (RFC 9110 §10.2.2, RFC 3986 §4.1)")
    if (status == 204 or 100 <= status < 200) and "content-length" in one:
        found.append(f"a {status} with Content-Length: a server MUST NOT send one (RFC 9110 §8.6)")
    if (status == 204 or 100 <= status < 200) and "transfer-encoding" in one:
        found.append(f"a {status} with Transfer-Encoding: a server MUST NOT send one (RFC 9112 §6.1)")
    if status in (301, 302, 303, 307, 308) and "location" not in one:
        found.append(f"a {status} without Location (RFC 9110 §15.4)")
    return found


def date_problems(exchange: Exchange, now: int) -> list[str]:
    """RFC 9110 §6.6.1: "An origin server with a clock ... MUST generate a Date header field in
    all 2xx (Successful), 3xx (Redirection), and 4xx (Client Error) responses" (and MAY in 5xx:
    the lab's servers do, as uvicorn does). In process the clock is the lab's: the Date is `now`."""
    if exchange.status is None:
        return []  # nothing answered
    dates = [value for name, value in exchange.response_headers if name.lower() == "date"]
    if len(dates) != 1:
        return [f"{len(dates)} Date fields; a server with a clock MUST generate one (RFC 9110 §6.6.1)"]
    if http_date(dates[0], now) != now:
        return [f"Date {dates[0]!r} is not the server's clock, {now} (RFC 9110 §6.6.1)"]
    return []


def _content_type(value: str | None, exchange: Exchange) -> list[str]:
    if value is None:
        return ["content without a Content-Type (RFC 9110 §8.3)"] if exchange.response_body else []
    match = _MEDIA_TYPE.fullmatch(value)
    if match is None:
        return [f"Content-Type {value!r} is no media-type (RFC 9110 §8.3.1)"]
    params = {name.lower(): unquoted(v) for name, v in _PARAMETER.findall(match[3])}
    if match[1].lower() == "text" and "charset" not in params:
        return [
            f"Content-Type {value!r} names no charset for text (RFC 9110 §8.3.2; RFC 2046 §4.1.2 defaults to US-ASCII)"
        ]
    if params.get("charset", "utf-8").lower() != "utf-8":
        return [f"Content-Type {value!r}: the lab writes UTF-8"]
    return []


def _content_length(value: str | None, exchange: Exchange) -> list[str]:
    if value is None:
        return []
    if not re.fullmatch("[0-9]+", value):
        return [f"Content-Length {value!r} is not 1*DIGIT (RFC 9110 §8.6)"]
    if exchange.method == "HEAD" or "[truncated:" in exchange.response_body or "\ufffd" in exchange.response_body:
        return []  # a HEAD's is GET's (RFC 9110 §9.3.2), judged by the walk that sends both
    if int(value) != len(exchange.response_body.encode()):
        return [f"Content-Length {value} but {len(exchange.response_body.encode())} bytes of content (RFC 9110 §8.6)"]
    return []


def _www_authenticate(value: str, exchange: Exchange) -> list[str]:
    parsed = challenges(value)
    if parsed is None:
        return [f"WWW-Authenticate {value!r} is not RFC 9110 §11.6.1's #challenge"]
    found: list[str] = []
    for scheme, params in parsed:
        if isinstance(params, str):
            continue
        names = [name for name, _ in params]
        if scheme.lower() == "basic":
            found += _basic(dict(params), names)
        elif scheme.lower() == "bearer":
            found += _bearer(dict(params), names, exchange)
        else:
            found.append(f"WWW-Authenticate names scheme {scheme!r}, which no lab server takes")
    return found


def _basic(params: dict[str, str], names: list[str]) -> list[str]:
    found = [] if "realm" in params else ["a Basic challenge's realm is REQUIRED (RFC 7617 §2)"]
    if "charset" in params and params["charset"].lower() != "utf-8":
        found.append("a Basic challenge's charset is UTF-8 only (RFC 7617 §2.1)")
    return found + [f"Basic {n} appears more than once (RFC 9110 §11.2)" for n in set(names) if names.count(n) > 1]


def _bearer(params: dict[str, str], names: list[str], exchange: Exchange) -> list[str]:
    found = [f"Bearer {n} appears more than once (RFC 6750 §3)" for n in set(names) if names.count(n) > 1]
    if not names:
        found.append(
            "a bare Bearer challenge: the scheme MUST be followed by one or more auth-param values (RFC 6750 §3)"
        )
    error = params.get("error")
    if error is not None and not ERROR_CODE.fullmatch(error):
        found.append(f"Bearer error {error!r} outside RFC 6750 §3's characters")
    if error is not None and BEARER_ERRORS.get(exchange.status or 0) != error:
        found.append(f"Bearer error {error!r} with HTTP {exchange.status} (RFC 6750 §3.1 pairs them)")
    if error is None and exchange.status != 401:
        found.append(f"a Bearer challenge with no error on HTTP {exchange.status} (RFC 6750 §3.1: only a 401)")
    if "error_description" in params and not ERROR_TEXT.fullmatch(params["error_description"]):
        found.append(f"Bearer error_description {params['error_description']!r} outside RFC 6750 §3's characters")
    if "error_uri" in params and not ERROR_URI.fullmatch(params["error_uri"]):
        found.append(f"Bearer error_uri {params['error_uri']!r} outside RFC 6750 §3's characters")
    if "scope" in params and not SCOPE.fullmatch(params["scope"]):
        found.append(f"Bearer scope {params['scope']!r} is no SP-separated list of scope-tokens (RFC 6750 §3)")
    if "resource_metadata" in params and not is_absolute_uri(params["resource_metadata"]):
        found.append(f"resource_metadata {params['resource_metadata']!r} is no absolute URL (RFC 9728 §5.1)")
    return found
