"""RFC 6750 §3 bearer challenges, with RFC 9728 §5.1's `resource_metadata` parameter."""

from __future__ import annotations

from ..error_text import error_description


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bearer_challenge(resource_metadata: str | None, **params: str | None) -> str:
    """`Bearer resource_metadata="…", error="…", …` with the given parameters, in a stable order.
    No `resource_metadata` for a server without RFC 9728 metadata (MCP 2025-03-26)."""
    parts = [f"resource_metadata={_quote(resource_metadata)}"] if resource_metadata else []
    for name in ("error", "error_description", "scope"):
        value = params.get(name)
        if name == "error_description" and value is not None:
            value = error_description(value)  # RFC 6750 §3: printable ASCII, no quotes or backslashes
        if value is not None:
            parts.append(f"{name}={_quote(value)}")
    return "Bearer " + ", ".join(parts) if parts else "Bearer"
