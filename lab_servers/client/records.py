"""What each handshake step returns, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..trace import Exchange, plural, printable


class StepError(Exception):
    """A handshake step could not finish. `str()` names the step and the reason."""

    def __init__(self, number: int, name: str, reason: str) -> None:
        # A reason often quotes a server (its error_description, a URL it gave), and it is printed:
        # a hostile server's ESC codes, carriage returns or bidi overrides are shown as escapes,
        # never acted on (RFC 6749 §5.2 allows error_description only %x20-21 / %x23-5B / %x5D-7E).
        reason = printable(reason)
        super().__init__(f"step {number} ({name}): {reason}")
        self.number = number
        self.name = name
        self.reason = reason


class TokenRequestFailed(StepError):
    """A token request the AS answered with an error (`status`, and `error`, its RFC 6749 §5.2
    code when it sent one) or that no answer came back to (`status` None: the AS's name does not
    resolve, nothing listens there)."""

    def __init__(self, number: int, name: str, reason: str, status: int | None, error: object = None) -> None:
        super().__init__(number, name, reason)
        self.status = status
        self.error = error if isinstance(error, str) else None

    @property
    def grant_lost(self) -> bool:
        """The AS cannot or will not honour this grant any more, which only a new authorization
        mends: no answer (the AS is gone), or a 4xx (RFC 6749 §5.2: invalid_grant, a grant revoked
        or expired; invalid_client, a registration the AS dropped). A 5xx or a 429 is an AS that is
        there but failing or busy now: asking the user to consent again would mend nothing."""
        return self.status is None or (400 <= self.status < 500 and self.status != 429)


@dataclass
class StepRecord:
    number: int
    name: str
    title: str
    exchanges: list[Exchange]
    learned: dict[str, Any]
    explanation: str
    spec: str
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        learned = ", ".join(f"{k}={_short(v)}" for k, v in self.learned.items())
        return f"<step {self.number} {self.name}: {plural(len(self.exchanges), 'exchange')}; {learned}>"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


# (number, name, title, spec) for the handshake, in the spec's order.
STEPS: list[tuple[int, str, str, str]] = [
    (1, "challenge", "Request without a token → 401", "MCP §4.2; RFC 6750 §3; RFC 9728 §5.1"),
    (2, "resource-metadata", "Discover Protected Resource Metadata", "MCP §4.2; RFC 9728 §3"),
    (3, "as-metadata", "Discover Authorization Server Metadata", "MCP §4.3; RFC 8414 §3"),
    (4, "client-id", "Get a client_id", "MCP §5; CIMD draft; RFC 7591"),
    (5, "authorize", "Authorization request, consent, redirect", "OAuth 2.1 §4.1; RFC 7636; RFC 8707; RFC 9207"),
    (6, "token", "Exchange the code for a token", "OAuth 2.1 §4.1.3; RFC 7636 §4.5; RFC 8707 §2.2"),
    (7, "mcp", "Call the MCP server with the token", "MCP §9; MCP basic/transports"),
]

# Steps after the handshake: named so that every exchange they cause is filed under a step in
# the trace, the diagram and the step views. Their numbers continue the handshake's.
AFTER_HANDSHAKE: list[tuple[int, str, str, str]] = [
    (8, "call", "Call a tool with the token", "MCP §9.1; MCP basic/transports"),
    (9, "refresh", "Refresh the access token (rotation)", "OAuth 2.1 §4.3; RFC 8707 §2.2; MCP 2026-07-28 §10"),
    (10, "step-up", "403 insufficient_scope → ask for the union", "MCP 2026-07-28 §11.1.2 (SEP-2350); RFC 6750 §3.1"),
    (
        11,
        "id-jag",
        "Exchange the ID token for an ID-JAG at the enterprise IdP",
        "ext-auth EMA §4; ID-JAG draft §4.3; RFC 8693 §2.1",
    ),
    (
        12,
        "jwt-bearer",
        "Present the ID-JAG to the AS (JWT bearer grant)",
        "ext-auth EMA §5; ID-JAG draft §4.4; RFC 7523 §2.1",
    ),
    (
        13,
        "client-credentials",
        "Get a token as the client itself (no user)",
        "OAuth 2.1 §4.2; ext-auth client credentials (SEP-1046); RFC 7523 §2.2",
    ),
]
ALL_STEPS = STEPS + AFTER_HANDSHAKE
