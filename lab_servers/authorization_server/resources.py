"""RFC 8707 resource indicators: which MCP servers this AS issues tokens for."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..rfc3986 import shown
from .errors import OAuthError


def canonical_resource(value: str, known: list[str]) -> str:
    """The known canonical URI that `value` names, or `invalid_target`.

    RFC 8707 §2: an absolute URI with no fragment. MCP §8.1: the AS SHOULD accept an uppercase
    scheme or host, so those two parts are compared case-insensitively; nothing else is normalised.
    """
    if not _is_plain_uri_text(value):
        # RFC 3986 §2: a URI is printable ASCII. urlsplit would silently drop tabs and newlines
        # and strip leading spaces, so " https://mcp.example.com/m\tcp" would pass for the canonical URI.
        raise OAuthError(
            "invalid_target",
            f"resource {shown(value)} must be printable ASCII with no spaces (RFC 3986 §2, RFC 8707 §2)",
        )
    try:
        parts = urlsplit(value)
    except ValueError:
        raise OAuthError("invalid_target", f"resource {shown(value)} is not a valid URI (RFC 8707 §2)") from None
    if not parts.scheme:  # RFC 3986 §4.3: an absolute URI begins with its scheme
        raise OAuthError("invalid_target", f"resource {shown(value)} must be an absolute URI (RFC 8707 §2)")
    if parts.fragment or "#" in value:
        raise OAuthError("invalid_target", f"resource {shown(value)} must not contain a fragment (RFC 8707 §2)")
    # urn:example:notes is an absolute URI too (it was refused as none), and no resource here:
    # each this AS knows has a host. Only a URI with one has a "//" authority to compare.
    if parts.netloc:
        # Compared as written after the authority: urlunsplit would drop a bare "?" (an empty query),
        # and ".../mcp?" is a different URI from ".../mcp" (RFC 3986 §6.2.3 leaves it to the scheme).
        rest = value[len(parts.scheme) + 3 + len(parts.netloc) :]
        lowered = f"{parts.scheme.lower()}://{parts.netloc.lower()}{rest}"
        if lowered in known:
            return lowered
    raise OAuthError(
        "invalid_target",
        f"resource {shown(value)} is not a protected resource this authorization server issues tokens for (RFC 8707 §2)",
    )


def same_resource(sent: str | None, granted: str, known: list[str], where: str) -> str:
    """`granted`, when the token request names no resource or names the same one (compared as
    `canonical_resource` compares); otherwise `invalid_target`. RFC 8707 §2.2: a token request
    may only name resources from the original grant, and §2 names the error."""
    if sent is not None and canonical_resource(sent, known) != granted:
        raise OAuthError(
            "invalid_target",
            f"resource {shown(sent)} differs from the one in {where}, {shown(granted)} (RFC 8707 §2.2)",
        )
    return granted


def _is_plain_uri_text(value: str) -> bool:
    return value.isascii() and value.isprintable() and " " not in value  # %x21-7E only, tested in C
