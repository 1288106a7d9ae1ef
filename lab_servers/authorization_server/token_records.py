"""How long the AS remembers the tokens it issued, and how many it will hold at once.

Every successful grant leaves records: the access token's claims (to revoke it by `jti`), the
grant family of that `jti` (to revoke a grant whole, RFC 7009 §2.1), the denylist entry once
revoked, and refresh tokens, rotated-out ones included (reuse detection, OAuth 2.1 §4.3.1). The
lab has no login, so a stranger can approve their own consent as often as they like: without an
end and a bound these records grow forever. So:

- a record is forgotten once the token it describes can no longer be used: an access token's
  claims, family link and denylist entry at its `exp` (an expired JWT is refused anyway, RFC 7519
  §4.1.4), its exchange links at the latest of its `exp` and those of the tokens exchanged for it,
  or for those, down the chain (revoking it still reaches them all), and a refresh family at the
  end of its lifetime;
- each store holds at most `MAX_LIVE_ACCESS_TOKENS` / `MAX_REFRESH_TOKENS` records; when full,
  what has expired goes first, and if the store is still full the grant is refused with
  `temporarily_unavailable` naming the limit. Live records are never evicted silently: dropping
  a rotated-out refresh token would turn reuse detection off, and dropping a denylist entry
  would bring a revoked token back.

Expiry follows the lab clock, so the in-process lab stays deterministic.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .errors import OAuthError
from .expiring_store import drop_expired_prefix
from .grants import RefreshToken

# The lab's refresh-token lifetime: 24 h ABSOLUTE, counted from the consent that started the
# grant; rotation hands the same end to every token of the family and never extends it. OAuth 2.1
# §4.3 and RFC 9700 §4.14.2 leave the lifetime to the AS but expect refresh tokens to end; an
# absolute end (rather than a sliding one) bounds how long a stolen family can be kept alive by
# refreshing it, and lets the AS forget a whole family at one instant. After it the client goes
# back through /authorize (MCP §11.2: short-lived tokens, rotation for public clients).
REFRESH_TOKEN_LIFETIME = 24 * 3600
# And an IDLE timeout of 8 h (RFC 9700 §4.14.2 and OAuth 2.1 §4.3.3: refresh tokens SHOULD expire
# "if the client has been inactive for some time"): a refresh token unused for 8 h is refused, so a
# grant its client abandoned, or a copy stolen from one, dies within a working day rather than at
# the family's end. Each rotation hands out a token with a fresh 8 h window; none reaches past the
# absolute end. Tokens that went idle are kept until their family ends, as rotated-out ones are.
REFRESH_TOKEN_IDLE_TIMEOUT = 8 * 3600
MAX_LIVE_ACCESS_TOKENS = 10_000  # access tokens not yet expired (each lives ACCESS_TOKEN_LIFETIME)
MAX_REFRESH_TOKENS = 10_000  # refresh tokens, rotated-out ones included, until their family ends


def _full(what: str, limit: int, retry_after: int) -> OAuthError:
    # RFC 6749 §5.2 has no code for "try later" at the token endpoint; the lab borrows
    # temporarily_unavailable from §4.1.2.1 (as /register's 429 does) and says why. Retry-After
    # (RFC 9110 §10.2.3) is when the soonest record expires: nothing frees room earlier.
    return OAuthError(
        "temporarily_unavailable",
        f"this authorization server already holds {limit} {what}, its limit; none expires for {retry_after} s, "
        "and no new grant is issued until one does (lab limit; temporarily_unavailable borrowed from RFC 6749 §4.1.2.1)",
        503,
        {"Retry-After": str(retry_after)},
    )


class IssuedAccessTokens(deque[dict[str, Any]]):
    """The claims of access tokens still alive, oldest first, with the maps keyed by their `jti`:
    `exp_of_jti` (→ its exp, to deny it by jti), `grant_of_jti` (→ its grant), `revoked_jtis`
    (→ exp, the denylist) and `exchanged_from` (→ the jtis a token exchange issued for it, RFC
    8693, while they or a token exchanged for them live; `subject_of` is the way back)."""

    def __init__(
        self,
        grant_of_jti: dict[str, str],
        revoked_jtis: dict[str, int],
        exchanged_from: dict[str, list[str]] | None = None,
        max_entries: int = MAX_LIVE_ACCESS_TOKENS,
    ) -> None:
        super().__init__()
        self.grant_of_jti = grant_of_jti
        self.revoked_jtis = revoked_jtis
        self.exchanged_from = {} if exchanged_from is None else exchanged_from
        self.max_entries = max_entries
        # Revoking a grant denies each of its access tokens by jti: looked up here, not by a walk
        # through every live token's claims, which made revoking a family of 10,000 refreshed
        # tokens (OAuth 2.1 §4.3.1 reuse) 50 million steps, seconds with the AS's loop blocked.
        self.exp_of_jti: dict[str, int] = {}
        self.subject_of: dict[str, str] = {}  # jti of a token exchanged → its subject token's jti
        # How many access tokens the AS has issued, those it has since forgotten included: what
        # the AS state view counts. The records above drop at expiry (at the next issuance), so
        # their count went down, 2 tokens issued and then 1 after a third was issued.
        self.ever_issued = 0

    def append(self, claims: dict[str, Any]) -> None:
        super().append(claims)
        self.exp_of_jti[claims["jti"]] = claims["exp"]
        self.ever_issued += 1

    def link_exchange(self, subject_jti: str, jti: str) -> None:
        """Token exchange issued `jti` for the subject token `subject_jti` (RFC 8693)."""
        self.exchanged_from.setdefault(subject_jti, []).append(jti)
        self.subject_of[jti] = subject_jti

    def forget_expired(self, now: int) -> None:
        # Every access token has the same lifetime and the lab clock only moves forward, so
        # issue order is expiry order: only the expired prefix is visited.
        while self and self[0]["exp"] <= now:
            jti = self.popleft()["jti"]
            self.exp_of_jti.pop(jti, None)
            self.grant_of_jti.pop(jti, None)
            self.revoked_jtis.pop(jti, None)
            self._unlink(jti)

    def _unlink(self, jti: str) -> None:
        # A token exchanged for this one was issued after it, so outlives it, and one exchanged for
        # that one outlives both: a link stays while any token further down the chain lives, or
        # revoking the expired first token of S → E1 → E2 (RFC 7009 §2.1, `revoke_access_token`)
        # left E2 active once E1 had expired, depending on whether another client's grant had swept
        # this store since (any issuance does). So a token leaves its subject's list only once it
        # has expired with nothing left below it, and then its subject, expired with an empty list,
        # goes too, up the chain. What stays are the live tokens and their ancestors, at most
        # `MAX_DELEGATION_DEPTH` each (rfc8693.py), so the links are as bounded as the tokens are.
        below = [exchanged for exchanged in self.exchanged_from.pop(jti, []) if self._linked(exchanged)]
        if below:
            self.exchanged_from[jti] = below
            return
        while (subject := self.subject_of.pop(jti, None)) is not None:
            siblings = self.exchanged_from.get(subject, [])
            if jti in siblings:
                siblings.remove(jti)
            if not siblings:
                self.exchanged_from.pop(subject, None)
            if siblings or subject in self.exp_of_jti:
                return
            jti = subject

    def _linked(self, jti: str) -> bool:
        """Whether `jti` still lives, or something exchanged for it (at any depth) does."""
        return jti in self.exp_of_jti or bool(self.exchanged_from.get(jti))

    def make_room(self, now: int) -> None:
        self.forget_expired(now)
        if len(self) >= self.max_entries:
            raise _full("unexpired access tokens", self.max_entries, self[0]["exp"] - now)


class RefreshTokens(dict[str, RefreshToken]):
    """Refresh tokens by value, kept until their family's absolute end (rotated-out ones too:
    their return is how reuse is detected)."""

    def __init__(self, max_entries: int = MAX_REFRESH_TOKENS) -> None:
        super().__init__()
        self.max_entries = max_entries

    def forget_expired(self, now: int) -> None:
        # Rotation inserts tokens of old families after those of newer ones, so insertion order
        # is only roughly expiry order: drop the expired prefix on every insert (constant cost),
        # and scan the whole store only when it is full.
        drop_expired_prefix(self, now)

    def make_room(self, now: int) -> None:
        self.forget_expired(now)
        if len(self) >= self.max_entries:
            for key in [k for k, token in self.items() if token.expires_at <= now]:
                del self[key]
        if len(self) >= self.max_entries:
            soonest = min(token.expires_at for token in self.values())
            raise _full("refresh tokens of unexpired grants", self.max_entries, soonest - now)
