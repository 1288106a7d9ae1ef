"""What the AS remembers between requests (pending consents, codes, refresh tokens), and the
trust it is configured with (who may introspect, who may exchange what)."""

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
    # What its redemption issued, to revoke if the code comes back (OAuth 2.1 §4.1.3).
    refresh_tokens: list[str] = field(default_factory=list)

    @property
    def grant(self) -> str:
        """The grant its tokens are linked to (`grant_of_jti`) when no refresh token came with
        them: the code's redemption is then the whole grant."""
        return f"code:{self.code}"


@dataclass(frozen=True)
class RedeemedCode:
    """What a second use of a redeemed code revokes (OAuth 2.1 §4.1.3): the grants its redemption
    began, by the client that redeemed it. Kept for as long as those grants can live, where the
    code itself is forgotten once it expires (60 s), long before the tokens it issued."""

    client_id: str
    grants: tuple[str, ...]  # the refresh family, and the code's own grant (`AuthorizationCode.grant`)
    expires_at: int


@dataclass
class RefreshToken:
    token: str
    client_id: str
    subject: str
    resource: str
    scope: str
    family: str
    expires_at: int  # the family's absolute end (token_records.REFRESH_TOKEN_LIFETIME); rotation keeps it
    idle_expires_at: int  # unused past this, it is refused (token_records.REFRESH_TOKEN_IDLE_TIMEOUT)
    revoked: bool = False
    rotated: bool = False  # revoked because a refresh replaced it: its return is reuse (OAuth 2.1 §4.3.1)

    def usable(self, now: int) -> bool:
        """Not revoked, and neither at its family's end nor idle too long."""
        return not self.revoked and self.expires_at > now and self.idle_expires_at > now


@dataclass(frozen=True)
class ExchangeRule:
    """RFC 8693 policy for one confidential client (an MCP server): the subject tokens it may
    exchange are those whose `aud` is `serves` (its own resource), and it may ask for tokens for
    `targets` (downstream resource → the most scope it may get there)."""

    serves: str
    targets: dict[str, frozenset[str]]
