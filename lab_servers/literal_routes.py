"""Routes at a configured path, matched as the literal text it is.

Starlette reads `{name}` and `{name:convertor}` in a route's path as parameters. An issuer or an
MCP URL is the learner's to choose, and its path is percent-decoded before it is routed, so
https://auth.example.com/%7Bt%7D became the pattern /{t}: that AS answered its metadata and its
endpoints under every path segment, `%7Bt:foo%7D` failed Lab() with Starlette's "Unknown path
convertor" and `%7Bt%7D/%7Bt%7D` with "Duplicated param name". A URL's path is one string
(RFC 3986 §3.3; RFC 8414 §3.3 and MCP §8.1 compare them exactly): here it is escaped as a regular
expression, and only the lab's own pattern after it may hold parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

from starlette.routing import Route, compile_path


def literal_route(literal: str, pattern: str, endpoint: Callable[..., Any], *, methods: Collection[str]) -> Route:
    """A route at `literal` (a configured path, matched character for character) followed by
    `pattern` (the lab's own, such as "/clients/{client_id}/logo"; "" for none)."""
    route = Route("/", endpoint, methods=list(methods))
    regex, path_format, convertors = compile_path(pattern) if pattern else (re.compile("^$"), "", {})
    route.path = literal + pattern
    route.path_regex = re.compile("^" + re.escape(literal) + regex.pattern.removeprefix("^"))
    route.path_format = literal + path_format
    route.param_convertors = convertors
    return route
