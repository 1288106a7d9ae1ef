"""What client metadata the AS keeps, and how much of it: the fields it understands, each within
a size limit, and text that is safe to store, cache and show.

RFC 7591 §2: "The authorization server MUST ignore any client metadata sent by the client that it
does not understand", so unknown fields are dropped, never stored or echoed. The RFC sets no size
limits; an open registration endpoint needs them, or a stranger stores 20 MB names and 10,000
redirect URIs for free. The numbers below are the lab's policy, listed in the README and in
notebook 05; each refusal names its limit. The same checks apply to CIMD documents, which use the
same field names (CIMD §4).
"""

from __future__ import annotations

import unicodedata
from typing import Any

# RFC 7591 §2 client metadata, plus OpenID Connect Registration's `application_type` and
# `sector_identifier_uri` (which MCP clients send and a naive AS fetches). Nothing else is kept.
UNDERSTOOD_FIELDS = (
    "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types", "client_name", "client_uri",
    "logo_uri", "scope", "contacts", "tos_uri", "policy_uri", "jwks_uri", "jwks", "software_id", "software_version",
    "application_type", "sector_identifier_uri",
)  # fmt: skip
URI_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri", "sector_identifier_uri")

MAX_REGISTRATION_BODY_BYTES = 16 * 1024
MAX_REDIRECT_URIS = 10
MAX_URI_CHARS = 1000
MAX_NAME_CHARS = 200  # client_name, software_id, software_version, each contact
MAX_SCOPE_CHARS = 1000
MAX_LIST_ITEMS = 10  # grant_types, response_types, contacts
MAX_JWKS_KEYS = 10

_CHAR_LIMITS = dict.fromkeys(URI_FIELDS, MAX_URI_CHARS) | {
    "client_name": MAX_NAME_CHARS, "software_id": MAX_NAME_CHARS, "software_version": MAX_NAME_CHARS,
    "scope": MAX_SCOPE_CHARS, "token_endpoint_auth_method": 100, "application_type": 100,
}  # fmt: skip
_LIST_LIMITS = {"redirect_uris": (MAX_REDIRECT_URIS, MAX_URI_CHARS), "grant_types": (MAX_LIST_ITEMS, 200),
                "response_types": (MAX_LIST_ITEMS, 100), "contacts": (MAX_LIST_ITEMS, MAX_NAME_CHARS)}  # fmt: skip


class MetadataLimitError(ValueError):
    """A field breaks a limit; `error` is the RFC 7591 §3.2.2 code to answer with."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def understood_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Only the fields the AS understands (RFC 7591 §2: ignore the rest), in a fresh dict."""
    return {name: value for name, value in metadata.items() if name in UNDERSTOOD_FIELDS}


def check_metadata_limits(metadata: dict[str, Any]) -> None:
    """Sizes and text of the understood fields; types were checked before (RFC 7591 §2)."""
    for name, limit in _CHAR_LIMITS.items():
        value = metadata.get(name)
        if isinstance(value, str):
            _check_text(name, value, limit)
    for name, (max_items, max_chars) in _LIST_LIMITS.items():
        values = metadata.get(name)
        if not isinstance(values, list):
            continue
        if len(values) > max_items:
            error = "invalid_redirect_uri" if name == "redirect_uris" else "invalid_client_metadata"
            raise MetadataLimitError(
                error, f"{name} has {len(values)} entries; at most {max_items} are accepted (lab limit)"
            )
        for value in values:
            if isinstance(value, str):
                _check_text(name, value, max_chars)
    keys = metadata.get("jwks", {}).get("keys") if isinstance(metadata.get("jwks"), dict) else None
    if isinstance(keys, list) and len(keys) > MAX_JWKS_KEYS:
        raise MetadataLimitError(
            "invalid_client_metadata", f"jwks has {len(keys)} keys; at most {MAX_JWKS_KEYS} are accepted (lab limit)"
        )


def _check_text(name: str, value: str, limit: int) -> None:
    error = "invalid_redirect_uri" if name == "redirect_uris" else "invalid_client_metadata"
    if len(value) > limit:
        raise MetadataLimitError(error, f"{name} is {len(value)} characters long; the limit is {limit} (lab limit)")
    # str.isprintable is False for every Cc and Cs character (and more): when it holds, nothing to find.
    bad = None if value.isprintable() else next((c for c in value if _is_unstorable(c)), None)
    if bad is not None:
        # A lone surrogate cannot be encoded as UTF-8 (every page showing the name would fail),
        # and NUL or other control characters hide or fake text (RFC 7591 §2: human-readable).
        raise MetadataLimitError(
            error,
            f"{name} contains the control or surrogate character U+{ord(bad):04X}; text fields must be printable Unicode",
        )


def _is_unstorable(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cs")


# Showing a name: bidi controls and invisible formatting characters -----------------------------

# Unicode's explicit bidi formatting characters (UAX #9 §2): an RLO (U+202E) inside a name
# reverses the text after it, so "(unverified name)" could render as its mirror image.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def displayable_text(text: str) -> str:
    """`text` without control, surrogate or invisible formatting characters (categories Cc, Cs,
    Cf: bidi overrides, zero-width joiners…), for a page where a user judges who is asking.
    The page also wraps the name in `<bdi>`, so whatever direction it has stays inside it."""
    if text.isprintable():  # no Cc, Cs or Cf character (each is unprintable), so no bidi control either
        return text
    return "".join(c for c in text if c not in _BIDI_CONTROLS and unicodedata.category(c) not in ("Cc", "Cs", "Cf"))
