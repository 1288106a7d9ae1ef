"""RFC 7591 §2: "The authorization server MAY reject or replace any of the client's requested
metadata values submitted during the registration and substitute them with suitable values."

What a client asks for that this AS reads against its own metadata (RFC 8414 §2): grant types,
response types and scopes. A registration and a CIMD document alike are narrowed to what this AS
offers (`narrowed_to_this_as`), and refused only when no grant or response type is left (or
only the refresh_token grant, which no client can start with, RFC 6749 §1.5);
`rfc7591.check_client_metadata` calls it for both. RFC 7591 §3.2.1: the registration response
returns what was registered, and "the client or developer can check the values in the response".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..rfc3986 import shown
from .rfc6749 import is_scope


class ValueRefused(Exception):
    """A value this AS refuses; `rfc7591` answers it as `invalid_client_metadata` (§3.2.2)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


# The values metadata lists that this AS reads against its own metadata (RFC 8414 §2); `scope` is
# one string of values separated by spaces (RFC 7591 §2, RFC 6749 §3.3).
_NARROWED_TO_THIS_AS = (
    ("grant_types", "grant_types_supported"),
    ("response_types", "response_types_supported"),
    ("scope", "scopes_supported"),
)


def _asked_and_offered(
    metadata: dict[str, Any], as_metadata: dict[str, Any]
) -> Iterator[tuple[str, list[str], list[str]]]:
    """Each of `_NARROWED_TO_THIS_AS` the metadata names: the values asked for, and this AS's."""
    for name, supported_name in _NARROWED_TO_THIS_AS:
        value, supported = metadata.get(name), as_metadata.get(supported_name)
        if value is None or not isinstance(supported, list):
            continue  # absent: §2's default (the types were checked before)
        if name == "scope":
            if not is_scope(value):  # authlib took any token, '"' and 'é' too
                # In words: error_description carries neither character (RFC 6749 §5.2), and the
                # lab's errors wrote them as "'" and "/", naming two characters a scope may hold.
                raise ValueRefused(
                    "scope is scope-tokens separated by spaces (SP) only, each printable ASCII but for the double"
                    " quote and the backslash (RFC 7591 §2, RFC 6749 §3.3)",
                )
            value = [token for token in value.split(" ") if token]
        yield name, value, supported


def narrowed_to_this_as(metadata: dict[str, Any], as_metadata: dict[str, Any]) -> dict[str, Any]:
    """`metadata` with its grant types, response types and scope narrowed to those this AS supports.

    §2 lets an AS "reject or replace" the values a client asks for. A CIMD document is one for
    every AS its client meets: Claude's lists jwt-bearer, VS Code's device_code. A registration
    body is one too, in practice: VS Code sends the same device_code to every AS (2025-09), and no
    client reads a refusal's description to send another. Refused whole, such a client could never
    sign in here, though it never asks for that grant. So what this AS lacks is set aside; metadata
    left with no grant or response type (or with refresh_token as its only grant) is refused, and a
    scope left with nothing is dropped, as if omitted. CIMD -02 is silent (the WG's issue #71 is open); Keycloak, better-auth and ToolHive,
    which once refused these documents, narrow them the same way, and the official MCP SDK's AS
    registers VS Code's body."""
    narrowed = dict(metadata)
    for name, asked, supported in _asked_and_offered(metadata, as_metadata):
        kept = [item for item in asked if item in supported]
        if name == "scope":
            # §2: scope lists what the client "can use"; omitted, the AS "MAY register a client
            # with a default set of scopes". A client asks for a resource's scope at the
            # authorization endpoint (MCP §10: from its WWW-Authenticate or metadata), and this AS
            # checks that against the resource, never against the document. Goose's document
            # (2026) lists only "openid profile email": refused, Goose could never sign in here.
            if kept:
                narrowed[name] = " ".join(kept)
            else:
                narrowed.pop(name, None)
            continue
        if asked and not kept:
            raise ValueRefused(
                f"none of its {name} {shown(asked)} is one this AS supports: {shown(supported)} (RFC 7591 §2)",
            )
        if name == "grant_types" and set(kept) == {"refresh_token"}:
            # A refresh token is issued "to the client by the authorization server" beside an access
            # token another grant obtained (RFC 6749 §1.5): with it alone, asked for or left by
            # narrowing, the client could never start. §2.1: the AS "SHOULD take steps to ensure
            # that a client cannot register itself into an inconsistent state".
            raise ValueRefused(
                f"its {name} {shown(asked)} leave only refresh_token of those this AS supports ({shown(supported)}),"
                " and a refresh token comes only after another grant (RFC 6749 §1.5): the client could never"
                " obtain a token (RFC 7591 §2.1)",
            )
        narrowed[name] = kept
    return narrowed
