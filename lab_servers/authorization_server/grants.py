"""What the AS remembers between requests: pending consents, codes, refresh tokens."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PendingAuthorization:
    """A validated authorization request waiting for the user's decision at the consent page."""

    txn: str
    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    resource: str
    scope: str
    expires_at: int


@dataclass
class AuthorizationCode:
    """A code bound to everything the token request must repeat or prove (OAuth 2.1 §4.1.3)."""

    code: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    resource: str
    scope: str
    subject: str
    expires_at: int
    used: bool = False
    refresh_tokens: list[str] = field(default_factory=list)


@dataclass
class RefreshToken:
    token: str
    client_id: str
    subject: str
    resource: str
    scope: str
    family: str
    revoked: bool = False
