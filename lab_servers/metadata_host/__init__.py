"""A client's own web host, serving its Client ID Metadata Document (e.g. app.example/client.json).

Documents can be published, changed and removed while the lab runs. The security experiments
also need hosts that misbehave, so a published response can have any status, headers, body and
(real-time) delay.

What the host itself refuses (a path with nothing published, a method other than GET or HEAD) it
answers like every server of the lab: the status RFC 9110 gives, and a JSON body whose
`error_description` names the rule.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..arguments import wrong_type
from ..error_text import request_refusal
from ..network.http1 import is_field


@dataclass
class HostedResponse:
    body: bytes
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0


def document_body(document: Any) -> bytes:
    """The bytes `MetadataHost.publish` serves for `document`: bytes as they are, a str encoded,
    anything else written as JSON."""
    if isinstance(document, bytes):
        return document
    if isinstance(document, str):
        return document.encode()
    try:
        # allow_nan=False: NaN and Infinity are no JSON numbers (RFC 8259 §6); json.dumps
        # wrote them, and the host served a document no JSON parser need accept.
        return json.dumps(document, indent=2, allow_nan=False).encode()
    except (TypeError, ValueError) as error:  # a set, bytes inside, a date, a cycle, NaN…
        raise TypeError(
            f"the document cannot be written as JSON ({error}): a client metadata document is a JSON "
            "object (CIMD §4) of dicts, lists, strings, numbers (not NaN or Infinity, RFC 8259 §6), True, False and None"
        ) from None


class MetadataHost:
    """An ASGI app serving whatever has been published at each path."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self.responses: dict[tuple[str, str], HostedResponse] = {}  # by `_target`: (path, query)

    def url(self, path: str) -> str:
        return f"https://{self.hostname}{path}"

    def publish(
        self,
        path: str,
        document: Any,
        *,
        cache_control: str | None = "max-age=300",
        content_type: str = "application/json",
    ) -> str:
        """Serve `document` (JSON-encoded unless it is bytes/str) at `path`; returns its URL. A
        `path` with a query ('/agent.json?tenant=a') is served at exactly that URL; a path alone
        answers a request with any query nothing is published at, as a file host does."""
        self._check_path(path)
        # Checked here, where the learner wrote them: a header value that is no string, or one the
        # lab network would not send (a CR, LF or NUL, RFC 9110 §5.5), failed only when the AS
        # fetched it, as the host's 500.
        _check_field_value("content_type", content_type, "application/json")
        if cache_control is not None:
            _check_field_value("cache_control", cache_control, "max-age=300")
        body = document_body(document)
        headers = {"content-type": content_type}
        if cache_control is not None:
            headers["cache-control"] = cache_control
        self.responses[_target(path)] = HostedResponse(body, 200, headers)
        return self.url(path)

    def publish_response(self, path: str, response: HostedResponse) -> str:
        """Serve an arbitrary response at `path` (a redirect, an error, a slow or huge body…)."""
        self._check_path(path)
        self.responses[_target(path)] = response
        return self.url(path)

    def _check_path(self, path: object) -> None:
        """A path the host can be asked for: published at 'client.json' (or a whole URL, or the ''
        of 'https://app.example'), a document had the URL 'https://app.exampleclient.json' and
        was never served, since every request's path starts with '/' (RFC 9110 §4.2.1)."""
        if not isinstance(path, str):
            raise wrong_type(f"{self.hostname} publishes at a path, a string such as '/client.json'", path)
        if not path.startswith("/"):
            raise ValueError(
                f"{self.hostname} publishes at a path starting with '/', such as '/client.json' (for a whole URL, "
                f"use lab.publish_client_document); got {path!r}"
            )
        if "#" in path:
            raise ValueError(
                f"{self.hostname} cannot publish at {path!r}: a fragment is never sent to a host (RFC 3986 §3.5); publish "
                f"at {path.split('#', 1)[0]!r} (a client_id with a fragment is another string, which CIMD §3 forbids)"
            )

    def remove(self, path: str) -> None:
        self.responses.pop(_target(path), None)

    def document(self, path: str) -> Any:
        return json.loads(self.responses[_target(path)].body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        path, query = scope["path"], scope["query_string"].decode("latin-1")
        key = path_key(scope.get("raw_path", b"").decode("latin-1")) if scope.get("raw_path") else path
        # The document published at this path and query; failing that, as a file host ignores a
        # query, the one at the path alone. Keyed by the path alone, a document published at
        # /agent.json?tenant=a was never found, and a second one at ?tenant=b replaced the first.
        hosted = self.responses.get((key, query))
        if hosted is None:
            hosted = self.responses.get((key, ""))
        if hosted is None:
            response = request_refusal(404, f"{self.hostname} has nothing published at {path} (RFC 9110 §15.5.5)")
        elif request.method not in ("GET", "HEAD"):
            # A document is read, never written by a visitor: RFC 9110 §15.5.6 405, with Allow.
            response = request_refusal(
                405,
                f"{request.method} is not allowed on {path}; use GET, HEAD (RFC 9110 §15.5.6)",
                {"Allow": "GET, HEAD"},
            )
        else:
            if hosted.delay_seconds:
                await asyncio.sleep(hosted.delay_seconds)
            response = Response(hosted.body, hosted.status, headers=hosted.headers)
        await response(scope, receive, send)


__all__ = ["HostedResponse", "MetadataHost"]


def _target(path: str) -> tuple[str, str]:
    """What a request for `path` (a path, and maybe a query) asks this host for: its `path_key`
    (published at '/a%20b.json', a document was looked for at '/a b.json' and never found), and
    the query as sent, '' for none (a request cannot tell an empty query's '?' from no '?')."""
    path, _, query = path.partition("?")
    return path_key(path), query


_ENCODED_SLASH_OR_PERCENT = re.compile("(%2[Ff]|%25)")


def path_key(path: str) -> str:
    """A path as the host files it: percent-decoded, except an encoded '/' or '%'. '%2F' is data
    within a segment, not the delimiter '/' (RFC 3986 §2.2, §6.2.2.2: only unreserved characters
    decode to the same URI), so /team%2Fagent.json and /team/agent.json are two documents; keyed
    by the decoded path, publishing the second replaced the first. '%25' stays so that
    /a%252Fb.json (the text "%2F") is not /a%2Fb.json either."""
    parts = _ENCODED_SLASH_OR_PERCENT.split(path)
    return "".join(part.upper() if index % 2 else unquote(part) for index, part in enumerate(parts))


def _check_field_value(name: str, value: object, example: str) -> None:
    # The lab network's own test of a field it can send (what h11 writes): one test, not a twin.
    if not isinstance(value, str) or not is_field(name.replace("_", "-"), value):
        raise wrong_type(
            f"{name} is a header field value, such as {example!r}, without CR, LF or NUL (RFC 9110 §5.5) "
            "nor whitespace at either end",
            value,
        )
