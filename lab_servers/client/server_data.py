"""What a server sent, read the one way the lab client reads it: every answer read to a limit
(`receive`), JSON bodies through the lab's bounded parser and of the type the step expects, URLs
parsed and (for an authorization server's endpoints) HTTPS before the client uses them.

The lab's rule for its client: against a hostile or broken server it names the step that fails,
never crashes. `json.loads` raises `RecursionError` on 2,000 nested `[` (not a `ValueError`), and a
token response that is a JSON array made `body.get(...)` an `AttributeError`; an endpoint like
`http://[::1` made httpx raise `InvalidURL`, which is no `httpx.HTTPError`. Each of these is now a
`ServerDataRefused`, which the running step reports under its own name (`ClientBase._step`).
So is an answer that will not end: the client stops reading at 1 MB, and the step fails.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..bounded_json import DEFAULT_LIMITS, JsonRejected, parse_json
from ..bounded_read import ACCEPTED_ENCODINGS, BodyRefused, read_at_most, unbind
from ..loopback import is_loopback_host
from ..rfc3986 import reading_difference

# RFC 8259 §9 lets a parser limit size, depth, strings and numbers. Generous for real answers: the
# largest the lab's servers send (a tool result, AS metadata, the conformance suite's event
# streams) are a few KB and 6 levels deep; a string may be as long as the body (a tool's text).
SERVER_JSON_LIMITS = DEFAULT_LIMITS.but(max_bytes=1024 * 1024, max_string_chars=1024 * 1024, max_members=100_000)

_KINDS = {dict: "a JSON object", list: "a JSON array", str: "a JSON string", bool: "a JSON boolean",
          int: "a JSON number", float: "a JSON number", type(None): "JSON null"}  # fmt: skip


class ServerDataRefused(ValueError):
    """Something a server sent that the client will not use; `reason` names the rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def receive(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    enough_for: Callable[[httpx.Response], Callable[[bytearray], bool] | None] | None = None,
    **request: Any,
) -> httpx.Response:
    """The request sent (`request`: what `httpx.AsyncClient.build_request` takes; no redirect is
    followed), and its answer read whole, but never more than `SERVER_JSON_LIMITS.max_bytes`
    on the wire or decoded (`ServerDataRefused` past it). httpx's own read (`client.get`) takes a
    body of any size into memory before a step could judge it: a server that streams without end
    would have grown the client until it died, not failed a step. `enough_for`, given the answer's
    head, may say when less than the whole body will do (`bounded_read.read_at_most`'s `enough`)."""
    # The URL read once (`_request_url`): httpx's `build_request` parses a str URL character by
    # character on every request, and a client sends most requests to a few URLs.
    target = _request_url(url) if len(url) <= _REMEMBERED_URL_CHARS else url
    sent = http.build_request(method, target, **request)
    sent.headers["Accept-Encoding"] = ACCEPTED_ENCODINGS  # only what the bounded reader inflates
    what = f"the answer to {method} {shown(url)}"
    response = await http.send(sent, stream=True, follow_redirects=False)
    try:
        enough = enough_for(response) if enough_for else None
        body = await read_at_most(
            response, SERVER_JSON_LIMITS.max_bytes, what, rule="the lab client's limit", enough=enough
        )
    except BodyRefused as exc:
        raise ServerDataRefused(exc.rule) from None
    finally:
        await response.aclose()
    # What httpx's own `Response.aread` stores (httpx 0.28, pinned): `.content`, `.text` and
    # `.json()` read the body from here. A new Response around the bytes would cost 5 % more
    # instructions per handshake, all of it headers parsed again (issue 12).
    response._content = body
    unbind(response, body)
    return response


def server_json(data: bytes | str, what: str, *, rule: str, expect: type | None = dict) -> Any:
    """`data` parsed within `SERVER_JSON_LIMITS`, and of type `expect` (None: any JSON value);
    else `ServerDataRefused` naming `what` and the `rule` that says which type it must be."""
    try:
        value = parse_json(data, SERVER_JSON_LIMITS, what=what)
    except JsonRejected as exc:
        raise ServerDataRefused(exc.rule) from None
    if expect is not None and not isinstance(value, expect):
        raise ServerDataRefused(f"{what} is {_KINDS[type(value)]}, not {_KINDS[expect]} ({rule})")
    return value


def member(obj: dict[str, Any], name: str, expect: type, what: str, *, rule: str) -> Any:
    """`obj[name]` when present (None when absent or null), refused when of another type."""
    value = obj.get(name)
    # A JSON boolean is no JSON number, though Python's bool is an int: true would read as 1.
    if value is not None and (not isinstance(value, expect) or (type(value) is bool and expect is not bool)):
        raise ServerDataRefused(
            f"{what} {name} is {_KINDS.get(type(value), 'not JSON')}, not {_KINDS[expect]} ({rule})"
        )
    return value


def server_url(value: Any, what: str, *, https: bool = False) -> str:
    """`value` when it is an absolute http(s) URL httpx can request. With `https`, an authorization
    server's endpoint: MCP authorization "Communication Security" and OAuth 2.1 §1.5 require HTTPS
    for every one of them; loopback hosts are exempt, as the conformance suite's mock servers (and a
    developer's own AS) listen on http://localhost, where nothing travels over a network."""
    if not isinstance(value, str):
        raise ServerDataRefused(f"{what} is {_KINDS.get(type(value), 'not JSON')}, not a URL string")
    try:
        read = _remembered_reading if len(value) <= _REMEMBERED_URL_CHARS else _reading
        scheme, host, problem = read(value)
    except (httpx.InvalidURL, ValueError) as exc:
        raise ServerDataRefused(f"{what} {shown(value)} is not a valid URL ({exc})") from None
    if scheme not in ("http", "https") or not host:
        raise ServerDataRefused(f"{what} {shown(value)} is not an absolute http or https URL")
    # httpx reads a URL by RFC 3986; a browser, and a client built on Node's fetch, by the WHATWG
    # URL Standard: `https://as.example\@evil.example/` is evil.example to httpx and as.example to
    # them, `https://127.1/` 127.0.0.1 to them only. A URL the two read as different hosts is
    # refused, not taken by httpx's reading (the browser here stands in for a real one), and so is
    # one with a character no URI has (RFC 3986 §2), beyond ASCII too: httpx reads `https://a.Σ/` as
    # a.xn--3xa (final sigma), a browser (UTS #46) as a.xn--4xa (sigma).
    if problem:
        raise ServerDataRefused(f"{what} {shown(value)} {problem}")
    if https and scheme != "https" and not is_loopback_host(host):
        raise ServerDataRefused(
            f"{what} {shown(value)} does not use https: every authorization server endpoint MUST "
            "(MCP authorization, Communication Security; OAuth 2.1 §1.5)"
        )
    return value


def _reading(value: str) -> tuple[str, str, str | None]:
    """The scheme and host httpx reads in `value` (or its InvalidURL), and why a browser would read
    another host (`rfc3986.reading_difference`), or None."""
    url = httpx.URL(value)
    urlsplit(value).port  # noqa: B018  # httpx takes port 99999; the lab network's urlsplit does not
    return url.scheme, url.host, reading_difference(value)


# Remembered (a URL httpx cannot read is not): a client meets the same few endpoints on every request, and
# httpx's parser walks a URL character by character, 3 % of a handshake's instructions when each
# was parsed anew. Only URLs of ordinary length, so that the memory stays small (256 × 2 KB).
_REMEMBERED_URL_CHARS = 2048
_remembered_reading = functools.lru_cache(maxsize=256)(_reading)
# The same for the URL a request is sent to: httpx.URL is immutable, and `build_request` copies it.
_request_url = functools.lru_cache(maxsize=256)(httpx.URL)


def shown(value: object, limit: int = 80) -> str:
    """A server's string as a reason quotes it: repr'd (so no control character prints) and short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
