"""Redirect URIs as the AS takes them, registered (DCR, CIMD) and asked for at /authorize: absolute
with no fragment (RFC 6749 §3.1.2), an http(s) URI with a host (RFC 9110 §4.2), HTTPS or http on
loopback (MCP §11.3), no authorization-response parameter already in the query (RFC 6749 §3.1),
and read alike by the AS and the user's browser (`rfc3986.browser_reading_problem`).
"""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qsl, urlsplit

from ..loopback import is_loopback_host
from ..rfc3986 import browser_reading_problem, grammar_problem, shown
from .errors import MetadataError

# What the AS adds to a redirect URI's query (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 §2).
AUTHORIZATION_RESPONSE_PARAMETERS = frozenset({"code", "state", "error", "error_description", "error_uri", "iss"})


def split_url(uri: str) -> SplitResult | None:
    """`uri`'s parts, or None when `urlsplit` cannot read them: a bracket left open
    ("https://[") or a port that is not a number, which `urlsplit` reports only when asked."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    return parts


def check_redirect_uri(uri: str) -> None:
    """RFC 6749 §3.1.2 (absolute, no fragment), RFC 9110 §4.2 (an http(s) URI has a host) and MCP §11.3
    (HTTPS, or http on loopback)."""
    if not (uri.isascii() and uri.isprintable() and " " not in uri):  # %x21-7E only, tested in C
        # RFC 3986 §2: a URI is printable ASCII. urlsplit drops tabs and newlines and strips a
        # leading space, so the check would judge a different string than the one stored.
        raise MetadataError(
            "invalid_redirect_uri", f"redirect_uri {shown(uri)} must be printable ASCII with no spaces (RFC 3986 §2)"
        )
    parts = split_url(uri)
    if parts is None:
        raise MetadataError(
            "invalid_redirect_uri",
            f"redirect_uri {shown(uri)} is not a valid URI (RFC 3986 §3.2.2: an IP literal is an IPv6 address closed "
            'by "]"; §3.2.3: a port is digits, and a TCP port at most 65535, as the WHATWG URL Standard has it)',
        )
    # The AS's every redirect to the client is this URI with parameters added: on a URI that is
    # not one, it is no URI-reference either (RFC 9110 §10.2.2's Location).
    problem = grammar_problem(uri)
    if problem:
        raise MetadataError("invalid_redirect_uri", f"redirect_uri {shown(uri)} {problem}")
    # RFC 6749 §3.1.2: the query "MUST be retained when adding additional query parameters", and
    # §3.1: "Request and response parameters MUST NOT be included more than once": a query that
    # already names one would send the client two `state`s or two `iss`es (RFC 9207 §2), which
    # of them it reads its own choice.
    taken = sorted(
        {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)} & AUTHORIZATION_RESPONSE_PARAMETERS
    )
    if taken:
        raise MetadataError(
            "invalid_redirect_uri",
            f"redirect_uri {shown(uri)} has {', '.join(taken)} in its query, which the authorization response adds; "
            "a response parameter MUST NOT be included more than once (RFC 6749 §3.1, §3.1.2)",
        )
    # The AS judges and shows the URI as urlsplit reads it; the user's browser follows it as the
    # WHATWG URL Standard reads it. Where the two could part, the URI is refused (rfc3986.py).
    problem = browser_reading_problem(uri)
    if problem:
        raise MetadataError(
            "invalid_redirect_uri",
            f"redirect_uri {shown(uri)} {problem}; the consent page must show the host the browser takes the code to (MCP §11.6.2)",
        )
    if not parts.scheme:  # RFC 3986 §4.3: an absolute URI begins with its scheme
        raise MetadataError(
            "invalid_redirect_uri", f"redirect_uri {shown(uri)} must be an absolute URI (RFC 6749 §3.1.2)"
        )
    if parts.fragment or "#" in uri:
        raise MetadataError(
            "invalid_redirect_uri", f"redirect_uri {shown(uri)} must not contain a fragment (RFC 6749 §3.1.2)"
        )
    # A URI with no authority is still absolute: com.example.app:/oauth2redirect (RFC 8252 §7.1) and
    # urn:ietf:wg:oauth:2.0:oob were refused as "must be an absolute URI". MCP's rule refuses them.
    if parts.scheme in ("https", "http") and not parts.hostname:
        raise MetadataError(
            "invalid_redirect_uri",
            f"redirect_uri {shown(uri)} names no host, and an {parts.scheme} URI MUST NOT have an empty host"
            " (RFC 9110 §4.2.1, §4.2.2)",
        )
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname or ""):
        return
    raise MetadataError(
        "invalid_redirect_uri",
        f"redirect_uri {shown(uri)} must use https, or http on a loopback host (MCP §11.3)",
    )
