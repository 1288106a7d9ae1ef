"""Reading what a real client sent out of the served lab's trace, for the tests that run one
(Codex, opencode, Gemini CLI, Claude Code, mcp-remote): its POSTs to a path, a form body, a URL's
query, the AS metadata it was sent, and the JSON-RPC methods it called."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from lab_servers.trace import Exchange


def posts_to(trace: list[Exchange], path: str) -> list[Exchange]:
    return [e for e in trace if e.method == "POST" and e.path == path]


def form_of(exchange: Exchange) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body, first value of each name (RFC 6749 Appendix B)."""
    return {name: values[0] for name, values in parse_qs(exchange.request_body).items()}


def query_of(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def mcp_methods(trace: list[Exchange]) -> list[str]:
    """The methods of the JSON-RPC requests the MCP server accepted, in order."""
    return [json.loads(e.request_body).get("method", "") for e in posts_to(trace, "/mcp") if e.status in (200, 202)]


def as_metadata(trace: list[Exchange]) -> dict[str, Any]:
    """The AS metadata (RFC 8414 §3) the client was first sent."""
    found = next(e for e in trace if e.path == "/.well-known/oauth-authorization-server")
    metadata: dict[str, Any] = json.loads(found.response_body)
    return metadata
