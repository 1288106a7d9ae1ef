"""An outside judge of what the lab SENDS: each value parsed with the rule its RFC gives it, by the
`abnf` package (parsers built from the RFCs' own ABNF; `abnf_rules` adds the rule text of the RFCs
the package lacks). `refusals(exchange, requests=...)` names every value of one traced exchange
that its rule refuses:

- every response header field with the rule of its RFC (`FIELDS`), any other with RFC 9110 §5.5's
  field-value, and every field name with §5.1's field-name;
- the Bearer challenge's attributes (RFC 6750 §3: RFC 6749 Appendix A.4, A.7-A.9; RFC 9728 §5.1);
- the authorization response's parameters in a redirect (RFC 6749 §4.1.2, §4.1.2.1, RFC 9207 §2);
- every OAuth member of a JSON answer (`MEMBERS`: RFC 6749 Appendix A, RFC 7591, RFC 8414,
  RFC 9728, RFC 8693, the CIMD draft);
- with `requests`, what the lab's own clients send: the same fields, Authorization (RFC 6750
  §2.1, RFC 7617 §2), the authorization request's query and the form and JSON bodies (`PARAMS`).

Each distinct (rule, value) is parsed once per process (`_refused` is cached): the traces repeat
their dates, lengths and URLs hundreds of times.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from abnf import Node, ParseError
from abnf.grammars import cors, rfc3986, rfc7234, rfc8288, rfc9110, rfc9111
from abnf.parser import Rule

from lab_servers.trace import Exchange

from .abnf_rules import CSP3, RFC6749, RFC6750, RFC7034, RFC7636, MCPSessionId

_RFC9110 = [
    ("WWW-Authenticate", "§11.6.1"), ("Location", "§10.2.2"), ("Content-Type", "§8.3"), ("Content-Length", "§8.6"),
    ("Vary", "§12.5.5"), ("Allow", "§10.2.1"), ("Retry-After", "§10.2.3"), ("Accept", "§12.5.1"),
    ("Accept-Encoding", "§12.5.3"), ("Content-Encoding", "§8.4"), ("ETag", "§8.8.3"), ("Server", "§10.2.4"),
    ("Connection", "§7.6.1"), ("Host", "§7.2"), ("User-Agent", "§10.1.5"), ("credentials", "§11.4"),
    ("field-name", "§5.1"), ("field-value", "§5.5"), ("https-URI", "§4.2.2"),
]  # fmt: skip
_CORS = [
    "Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers", "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
    "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
]  # fmt: skip
_RFC6749 = [
    ("client-id", "A.1"), ("client-secret", "A.2"), ("response-type", "A.3"), ("scope", "A.4"),
    ("scope-token", "A.4"), ("state", "A.5"), ("redirect-uri", "A.6"), ("error", "A.7"), ("error-description", "A.8"),
    ("error-uri", "A.9"), ("grant-type", "A.10"), ("code", "A.11"), ("access-token", "A.12"), ("token-type", "A.13"),
    ("expires-in", "A.14"), ("refresh-token", "A.17"),
]  # fmt: skip
# rule key -> (the parser, the rule as its RFC names it)
RULES: dict[str, tuple[Rule, str]] = {
    **{name: (rfc9110.Rule(name), f"RFC 9110 {section} {name}") for name, section in _RFC9110},
    # §5.6.7: "A sender MUST NOT generate additional whitespace in an HTTP-date beyond that
    # specifically included as SP in the grammar", and a sender generates the IMF-fixdate form.
    "IMF-fixdate": (rfc9110.Rule("IMF-fixdate"), "RFC 9110 §5.6.7 IMF-fixdate"),
    "Cache-Control": (rfc9111.Rule("Cache-Control"), "RFC 9111 §5.2 Cache-Control"),
    "Age": (rfc9111.Rule("Age"), "RFC 9111 §5.1 Age"),
    # RFC 9111 §5.4 deprecates Pragma and drops its grammar; RFC 7234 §5.4 is where it was written.
    "Pragma": (rfc7234.Rule("Pragma"), "RFC 7234 §5.4 Pragma"),
    "Link": (rfc8288.Rule("Link"), "RFC 8288 §3 Link"),
    "X-Frame-Options": (RFC7034("X-Frame-Options"), "RFC 7034 §2.1 X-Frame-Options"),
    "Content-Security-Policy": (CSP3("Content-Security-Policy"), "CSP Level 3 §3.1 Content-Security-Policy"),
    "Mcp-Session-Id": (MCPSessionId("Mcp-Session-Id"), "MCP Streamable HTTP Mcp-Session-Id (visible ASCII, 0x21-0x7E)"),
    "URI": (rfc3986.Rule("URI"), "RFC 3986 §3 URI"),
    "absolute-URI": (rfc3986.Rule("absolute-URI"), "RFC 3986 §4.3 absolute-URI"),
    "query": (rfc3986.Rule("query"), "RFC 3986 §3.4 query"),
    "b64token credentials": (RFC6750("credentials"), "RFC 6750 §2.1 credentials"),
    "code-verifier": (RFC7636("code-verifier"), "RFC 7636 §4.1 code-verifier"),
    "code-challenge": (RFC7636("code-challenge"), "RFC 7636 §4.2 code-challenge"),
    **{f"cors {name}": (cors.Rule(name), f"Fetch (CORS) {name}") for name in _CORS},
    **{name: (RFC6749(name), f"RFC 6749 Appendix {appendix} {name}") for name, appendix in _RFC6749},
}

# Header field (lowercase) -> rule key. Any other field is judged as RFC 9110 §5.5's field-value.
FIELDS = {
    "www-authenticate": "WWW-Authenticate", "cache-control": "Cache-Control", "date": "IMF-fixdate",
    "last-modified": "IMF-fixdate", "expires": "IMF-fixdate", "location": "Location", "content-type": "Content-Type",
    "content-length": "Content-Length", "vary": "Vary", "allow": "Allow", "retry-after": "Retry-After",
    "accept": "Accept", "accept-encoding": "Accept-Encoding", "content-encoding": "Content-Encoding",
    "pragma": "Pragma", "link": "Link", "etag": "ETag", "age": "Age", "server": "Server", "connection": "Connection",
    "host": "Host", "user-agent": "User-Agent", "x-frame-options": "X-Frame-Options",
    "content-security-policy": "Content-Security-Policy",
    "mcp-session-id": "Mcp-Session-Id",
    **{name.lower(): f"cors {name}" for name in _CORS},
}  # fmt: skip

# A JSON member, a query or form parameter (the same names mean the same values in both) -> the
# rules its value is held to. A list value is judged element by element.
_ISSUER = ("https-URI",)  # RFC 8414 §2: issuer "is a URL that uses the "https" scheme"
MEMBERS: dict[str, tuple[str, ...]] = {
    "error": ("error",), "error_description": ("error-description",), "error_uri": ("error-uri",),
    "state": ("state",), "code": ("code",), "access_token": ("access-token",), "token_type": ("token-type",),
    "expires_in": ("expires-in",), "refresh_token": ("refresh-token",), "scope": ("scope",),
    "client_id": ("client-id",), "client_secret": ("client-secret",),
    "iss": _ISSUER,  # RFC 9207 §2: the issuer identifier of RFC 8414
    # RFC 6749 §3.1.2: "The redirection endpoint URI MUST be an absolute URI" (RFC 3986 §4.3).
    "redirect_uris": ("redirect-uri", "absolute-URI"), "redirect_uri": ("redirect-uri", "absolute-URI"),
    "grant_types": ("grant-type",), "grant_type": ("grant-type",), "response_types": ("response-type",),
    "response_type": ("response-type",),
    # RFC 8693 §3: token type identifiers are URIs; RFC 8707 §2: a resource is an absolute URI.
    "issued_token_type": ("absolute-URI",), "subject_token_type": ("absolute-URI",),
    "requested_token_type": ("absolute-URI",), "actor_token_type": ("absolute-URI",),
    "client_assertion_type": ("absolute-URI",), "resource": ("absolute-URI",),
    "code_verifier": ("code-verifier",), "code_challenge": ("code-challenge",),
    # RFC 8414 §2 and RFC 9728 §2: URLs, the scopes' tokens, the response and grant types.
    "issuer": _ISSUER, "authorization_servers": _ISSUER, "scopes_supported": ("scope-token",),
    "response_types_supported": ("response-type",), "grant_types_supported": ("grant-type",),
    "jwks_uri": ("URI",), "client_uri": ("URI",), "logo_uri": ("URI",), "tos_uri": ("URI",), "policy_uri": ("URI",),
    "resource_documentation": ("URI",), "service_documentation": ("URI",), "op_policy_uri": ("URI",),
    "op_tos_uri": ("URI",),
}  # fmt: skip
# A member named *_endpoint is an endpoint's URL (RFC 8414 §2, RFC 7591 §3): "https" scheme.
# A client_id that is a URL is a CIMD one (CIMD §3: "MUST be a URL using the https scheme").


@functools.cache
def _refused(rule: str, value: str) -> bool:
    try:
        RULES[rule][0].parse_all(value)
    except ParseError:
        return True
    return False


@functools.cache
def _challenges(value: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """The challenges of a WWW-Authenticate the package parses: (scheme, its auth-params unquoted)."""
    found = []
    for challenge in _nodes(RULES["WWW-Authenticate"][0].parse_all(value), "challenge"):
        scheme = next(_nodes(challenge, "auth-scheme")).value
        params = tuple(
            (param.children[0].value.lower(), _unquoted(param.children[-1]))
            for param in _nodes(challenge, "auth-param")
        )
        found.append((scheme, params))
    return tuple(found)


def _nodes(node: Node, name: str) -> Iterator[Node]:
    if node.name == name:
        yield node
        return
    for child in getattr(node, "children", []):
        yield from _nodes(child, name)


def _unquoted(node: Node) -> str:
    if node.name != "quoted-string":
        return str(node.value)
    # quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE; quoted-pair = "\" ( ... )
    return "".join(c.value[1:] if c.name == "quoted-pair" else c.value for c in node.children[1:-1])


class Verdicts:
    """The values of one exchange that break their rules, each a sentence naming it."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange, self.found = exchange, list[str]()
        self.judged = dict[str, set[str]]()  # what was read: a judge that reads nothing finds nothing

    def hold(self, where: str, value: object, *rules: str) -> None:
        if isinstance(value, list):
            for element in value:
                self.hold(where, element, *rules)
            return
        text = str(value) if type(value) is int else value
        if not isinstance(text, str):
            self.found.append(f"{where} {value!r:.120} is no string")
            return
        self.judged.setdefault(where, set()).add(text)
        self.found += [f"{where} {text!r:.160} is refused by {RULES[r][1]}" for r in rules if _refused(r, text)]

    def fields(self, kind: str, headers: Iterable[tuple[str, str]]) -> None:
        for name, value in headers:
            self.hold(f"{kind} field name", name, "field-name")
            self.hold(f"{kind} {name.lower()}", value, FIELDS.get(name.lower(), "field-value"))

    def challenges(self, value: str) -> None:
        if _refused("WWW-Authenticate", value):
            return  # named once already, as the field
        for scheme, params in _challenges(value):
            for name, text in params:
                if scheme.lower() == "bearer" and name in ("error", "error_description", "error_uri", "scope"):
                    # RFC 6750 §3: the attributes "specified in Appendix A.4" (A.7, A.8, A.9) of RFC 6749.
                    self.hold(f"Bearer {name}", text, *MEMBERS[name])
                elif scheme.lower() == "bearer" and name == "resource_metadata":
                    self.hold("Bearer resource_metadata", text, "URI")  # RFC 9728 §5.1: a URL

    def members(self, where: str, body: Any) -> None:
        if not isinstance(body, dict):
            return
        for name, value in body.items():
            rules = MEMBERS.get(name, ("https-URI",) if name.endswith("_endpoint") else ())
            if rules:
                self.hold(f"{where} {name}", value, *rules)
            if name == "client_id" and isinstance(value, str) and value.startswith("http"):
                self.hold(f"{where} client_id (a URL: CIMD)", value, "https-URI")

    def authorization(self, value: str) -> None:
        scheme, _, rest = value.partition(" ")
        if scheme.lower() == "bearer":
            self.hold("request Authorization Bearer", value, "b64token credentials")
        elif scheme.lower() == "basic":
            self.hold("request Authorization Basic", value, "credentials")
            self._basic(rest.strip())
        else:
            self.hold("request Authorization", value, "credentials")

    def _basic(self, token68: str) -> None:
        # RFC 7617 §2: the user-pass "using Base64 ([RFC4648], Section 4)"; "a user-id containing a
        # colon character is invalid", neither may hold a CTL; RFC 6749 §2.3.1: each is
        # form-urlencoded first, then held to client-id and client-secret (Appendix A.1, A.2).
        try:
            user_pass = base64.b64decode(token68, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            self.found.append(f"Basic {token68!r:.80} is no Base64 of a UTF-8 user-pass (RFC 7617 §2)")
            return
        user, colon, secret = user_pass.partition(":")
        if not colon or any(ord(c) < 0x20 or ord(c) == 0x7F for c in user_pass):
            self.found.append(f"Basic user-pass {user_pass!r:.80}: user-id ':' password, no CTL (RFC 7617 §2)")
        self.hold("Basic user-id", unquote_plus(user), "client-id")
        self.hold("Basic password", unquote_plus(secret), "client-secret")


def verdicts(exchange: Exchange, *, requests: bool) -> Verdicts:
    judged = Verdicts(exchange)
    if exchange.status is None:
        return judged
    headers = [(name.lower(), value) for name, value in exchange.response_headers]
    judged.fields("response", exchange.response_headers)
    for name, value in headers:
        if name == "www-authenticate":
            judged.challenges(value)
    location = dict(headers).get("location")
    path = urlsplit(exchange.url).path
    if location is not None and exchange.status in (302, 303) and path.startswith("/authorize"):
        # RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 §2: what the redirect adds to the client's URI.
        params = parse_qsl(urlsplit(location).query, keep_blank_values=True)
        for name, value in params:
            if name in ("code", "state", "error", "error_description", "error_uri", "iss"):
                judged.hold(f"redirect {name}", value, *MEMBERS[name])
    body = (
        _json(exchange.response_body) if dict(headers).get("content-type", "").startswith("application/json") else None
    )
    if not (path == "/mcp" and (isinstance(body, list) or (isinstance(body, dict) and "jsonrpc" in body))):
        judged.members("response", body)  # at /mcp, the bearer gate's OAuth errors; JSON-RPC's are not OAuth's
    if requests:
        _request(judged, exchange)
    return judged


def _request(judged: Verdicts, exchange: Exchange) -> None:
    judged.fields("request", [(n, v) for n, v in exchange.request_headers if n.lower() != "authorization"])
    for name, value in exchange.request_headers:
        if name.lower() == "authorization":
            judged.authorization(value)
    parts = urlsplit(exchange.url)
    judged.hold("request target", exchange.url, "URI")
    if parts.query:
        judged.members("request query", dict(parse_qsl(parts.query, keep_blank_values=True)))
    content_type = {n.lower(): v for n, v in exchange.request_headers}.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded") and exchange.request_body:
        # RFC 6749 Appendix B: the body is application/x-www-form-urlencoded, whose bytes are
        # all RFC 3986 query characters (unreserved, "+", "=", "&", pct-encoded).
        judged.hold("request form", exchange.request_body, "query")
        judged.members("request form", dict(parse_qsl(exchange.request_body, keep_blank_values=True)))
    elif content_type.startswith("application/json") and parts.path != "/mcp":
        judged.members("request JSON", _json(exchange.request_body))


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
