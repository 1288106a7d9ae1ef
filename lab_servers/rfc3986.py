"""What a URI is made of (RFC 3986), and the spellings a browser reads as another URL.

The authorization server reads a redirect URI with Python's `urlsplit`; the user's browser
follows the same string with the WHATWG URL Standard's parser. The two agree on a URI written
with RFC 3986's characters, without userinfo, with its host spelled as a browser spells it back;
they part on the rest (each example is what Node's `URL`, a WHATWG parser, makes of it):

- `\\` is no URI character (RFC 3986 §2), and WHATWG reads it as `/` in an http(s) URL:
  `https://app.example/cb\\..\\admin` is https://app.example/admin to a browser, whose path
  urlsplit keeps as written; `http://evil.example\\@127.0.0.1/cb` is a loopback URI to urlsplit
  (its host comes after the `@`) and http://evil.example/@127.0.0.1/cb, plain http to another
  machine, to a browser.
- userinfo puts a trusted-looking name before the real host, `https://app.example@evil.example/`
  (RFC 3986 §7.6).
- WHATWG percent-decodes a host and reads a numeric one as IPv4 however it is written:
  `https://app%2Eexample/cb` goes to app.example and `https://2130706433/cb` to 127.0.0.1,
  while urlsplit's host is the text as written, which the consent page would show.

- WHATWG reads a host whose last label is a number as IPv4, and refuses it when it is none:
  `https://1e1.1.1.1/cb` goes nowhere, where a resolver looks the name up.

The CIMD client_id check refuses the same ambiguous numeric hosts (`authorization_server/cimd.py`);
the lab client refuses a server's URL that httpx and a browser read as different hosts
(`reading_difference`, in `client/server_data.server_url`), its browser's Locations included.
"""

from __future__ import annotations

import re
import string
from urllib.parse import quote, urlsplit

__all__ = [
    "NUMERIC_HOST",
    "browser_reading_problem",
    "grammar_problem",
    "has_query",
    "host_reading_problem",
    "is_dotted_quad",
    "is_uri_text",
    "reading_difference",
    "shown",
    "userinfo_problem",
]

# RFC 3986 §2: unreserved (§2.3), reserved (§2.2: gen-delims and sub-delims), and "%" of a
# pct-encoded triplet (§2.1). Nothing else appears in a URI: no space, no control character,
# none of \ " < > ^ ` { | }.
URI_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-._~" + ":/?#[]@" + "!$&'()*+,;=" + "%")

# A host of digits, 0x-hex and dots: an IPv4 address to a WHATWG or inet_aton parser, in
# whichever of its many spellings (127.1, 2130706433, 0x7f.1, 017700000001, 1.2.3.4.).
NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)
_DOTTED_QUAD = re.compile(
    r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
)


def is_uri_text(value: str) -> bool:
    """Every character of `value` is one a URI may contain (RFC 3986 §2)."""
    return URI_CHARACTERS.issuperset(value)  # the same test, in C: a loop in Python cost 40 µs for an authorization URL


_NOT_PCT_ENCODED = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME_AND_SLASHES = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # §3.1 scheme, then §3.2's "//"
_HOST_BRACKETS = re.compile(r"[^\[\]]*|\[[^\[\]]*\](?::[^\[\]]*)?")  # host[:port], brackets only around an IP literal


def grammar_problem(uri: str) -> str | None:
    """Where a URI written in RFC 3986's characters (`is_uri_text`) still breaks its grammar, or
    None: a "%" that begins no pct-encoded octet ("%" HEXDIG HEXDIG, §2.1), or a "[" or "]"
    outside the host, where only an IP literal has them (§3.2.2). Said as the end of a sentence
    that starts with the URI. A URI built on such a one (a redirect's Location) is no URI either."""
    if _NOT_PCT_ENCODED.search(uri):
        return 'has a "%" that is not followed by two hexadecimal digits (RFC 3986 §2.1: pct-encoded)'
    # §3: the authority is the "//" part right after the scheme's ":", not a "://" further on
    # (`com.example.app:/c[b]?next=https://app.example/` has none, and its path has brackets).
    after_scheme = _SCHEME_AND_SLASHES.match(uri)
    rest = uri[after_scheme.end() :] if after_scheme else ""
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, elsewhere = (rest[:authority_end], rest[authority_end:]) if after_scheme else ("", uri)
    userinfo, _, host_and_port = authority.rpartition("@")  # §3.2.1: userinfo has no brackets either
    if any(c in elsewhere + userinfo for c in "[]") or not _HOST_BRACKETS.fullmatch(host_and_port):
        return 'has a "[" or "]" outside an IP-literal host (RFC 3986 §3.2.2: gen-delims reserved for it)'
    return None


def shown(value: object) -> str:
    """`value`, a URI someone sent, quoted for an `error_description`: each character no URI
    contains percent-encoded as UTF-8 (RFC 3986 §2.1), and the quote `'` too. Python's repr,
    which descriptions used, wrote a backslash as `\\\\`, and the description's own rule (no
    `\\`, RFC 6749 §5.2) then made that `//`: the refusal of `http://evil.example\\@127.0.0.1/cb`
    for its backslash showed no backslash. Here it is `%5C`. A value longer than a description
    keeps is shown by its two ends, `[...]` between them."""
    if not isinstance(value, str):  # a document's client_id may be a number or a list
        return repr(value)
    if len(value) > _MOST_SHOWN:
        # Cut before encoding: a 64 KB body of emoji (12 characters each, encoded) was up to 20 times
        # repr's work, for a description the AS then cuts to 600 characters (MAX_DESCRIPTION_CHARS).
        half = _MOST_SHOWN // 2
        return f"'{_encoded(value[:half])} [...] {_encoded(value[-half:])}'"
    return f"'{_encoded(value)}'"


_MOST_SHOWN = 600
_NOT_SHOWN_AS_IS = re.compile("[^" + re.escape("".join(sorted(URI_CHARACTERS - {"'"}))) + "]")


def _encoded(text: str) -> str:
    return _NOT_SHOWN_AS_IS.sub(lambda found: quote(found[0], safe="", errors="surrogatepass"), text)


def has_query(uri: str) -> bool:
    """Whether `uri` has a query component, empty or not. §3.4: the query begins at the first '?'
    and ends at a '#'; §6.2.3: an empty query's '?' is no mere spelling, normalization keeps it.
    urlsplit reports the empty query as "", as if there were none, and urlunsplit drops its '?'."""
    return "?" in uri.split("#", 1)[0]


def is_dotted_quad(host: str) -> bool:
    """Four decimal octets with no leading zero: the one IPv4 spelling every parser reads alike."""
    return bool(_DOTTED_QUAD.fullmatch(host))


def readable_hostname(uri: str) -> str | None:
    """The host `uri` names, as `urlsplit` reads it (lower-cased), or None when it names none that
    can be read: `urlsplit` raises ValueError for an authority with an unclosed "[" (§3.2.2: an
    IP-literal is closed by "]"), which a lax policy's prefix match can let through."""
    try:
        return urlsplit(uri).hostname
    except ValueError:
        return None


def browser_reading_problem(uri: str) -> str | None:
    """Why a browser would follow `uri` somewhere other than where `urlsplit` (or httpx) reads it
    going, or None. Said as the end of a sentence that starts with the URI."""
    return _reading_problem(uri, userinfo=True)


def reading_difference(uri: str) -> str | None:
    """Why a WHATWG parser (a browser, Node's `URL`) could read another host in `uri` than
    `urlsplit` and httpx do (RFC 3986), or None: a host it reads otherwise, or a character no URI
    has (a backslash, one beyond ASCII) anywhere. `browser_reading_problem` without the userinfo
    rule, since all three read the host after an '@' alike. Said as the end of a sentence that
    starts with the URI."""
    return _reading_problem(uri, userinfo=False)


def _reading_problem(uri: str, *, userinfo: bool) -> str | None:
    if not is_uri_text(uri):
        return (
            "has a character no URI contains (RFC 3986 §2): one beyond ASCII, a space, a control character, a backslash, "
            "a double quote or one of < > ^ ` { | }; a browser reads a backslash as a slash and maps a host beyond ASCII "
            "by UTS #46, not as httpx does (WHATWG URL), so it would follow another URL than the one written"
        )
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        return None  # not a URL at all: the caller's own parse says so
    problem = userinfo_problem(parts.scheme, parts.netloc) if userinfo else None
    return problem or host_reading_problem(host)


def userinfo_problem(scheme: str, netloc: str) -> str | None:
    """Why a URI whose authority is `netloc` must not be written, shown or fetched, or None: it has
    userinfo, an '@' (an empty one too, `https://@evil.example/`). Said as the end of a sentence
    that starts with the URI. An http(s) URI with userinfo is one no sender may generate, and a
    fetch of it sends it on: httpx turns `user:pw@` into an Authorization: Basic header for the host."""
    if "@" not in netloc:
        return None
    web = (
        "; RFC 9110 §4.2.4: a sender MUST NOT generate userinfo in an http(s) URI"
        if scheme in ("http", "https")
        else ""
    )
    return f"has userinfo: the name before '@' looks like the host and is not (RFC 3986 §7.6{web})"


def host_reading_problem(host: str) -> str | None:
    """Why a WHATWG parser would read `host` (as `urlsplit(...).hostname` gives it) as another
    host than it is written, or None."""
    if "%" in host:
        return (
            f"has a '%' in its host {host!r}, which a browser percent-decodes into another host, or refuses to "
            "follow when it is an IPv6 zone id (WHATWG URL; lab policy)"
        )
    if NUMERIC_HOST.fullmatch(host) and not is_dotted_quad(host):
        return (
            f"has the numeric host {host!r}, which a browser reads as an IPv4 address written another way "
            "(WHATWG URL; lab policy)"
        )
    if ":" not in host and _LAST_LABEL_A_NUMBER.search(host) and not is_dotted_quad(host):  # IPv6 aside
        # WHATWG URL's host parser: a host whose last label is a number ("ends in a number") is
        # parsed as IPv4 and, being none (1e1.1.1.1, 4294967296, 1.2.3.4.5), refused.
        return (
            f"has the host {host!r}, whose last label is a number: a browser parses it as an IPv4 address and "
            "refuses it, where a resolver looks the name up (WHATWG URL, ends in a number; lab policy)"
        )
    return None


_LAST_LABEL_A_NUMBER = re.compile(r"(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)\.?$", re.IGNORECASE)
