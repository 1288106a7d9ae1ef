"""RFC 8707 resource indicators: which MCP servers this AS issues tokens for."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .errors import OAuthError


def canonical_resource(value: str, known: list[str]) -> str:
    """The known canonical URI that `value` names, or `invalid_target`.

    RFC 8707 §2: an absolute URI with no fragment. MCP §8.1: the AS SHOULD accept an uppercase
    scheme or host, so those two parts are compared case-insensitively; nothing else is normalised.
    """
    try:
        parts = urlsplit(value)
    except ValueError:
        raise OAuthError("invalid_target", f"resource {value!r} is not a valid URI (RFC 8707 §2)") from None
    if not parts.scheme or not parts.netloc:
        raise OAuthError("invalid_target", f"resource {value!r} must be an absolute URI (RFC 8707 §2)")
    if parts.fragment or "#" in value:
        raise OAuthError("invalid_target", f"resource {value!r} must not contain a fragment (RFC 8707 §2)")
    lowered = urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, ""))
    if lowered in known:
        return lowered
    raise OAuthError(
        "invalid_target",
        f"resource {value!r} is not a protected resource this authorization server issues tokens for (RFC 8707 §2)",
    )
