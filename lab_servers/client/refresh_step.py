"""After the handshake: refresh the access token (OAuth 2.1 §4.3), as a named step.

Run when the MCP server answers 401 `invalid_token` (an expired token looks exactly like that)
while the client holds a refresh token; there is no MCP rule for this, but refreshing once with
the same `resource` (RFC 8707 §2.2) and retrying is the sensible client (SDK 2.3.0 instead
refreshes only ahead of `expires_in`). The AS rotates refresh tokens (MCP 2026-07-28 security
considerations §2: MUST for public clients): the answer carries a new one, and the client MUST
discard the old one (OAuth 2.1 §4.3.2). Presenting the old one again is reuse, and kills the grant.
"""

from __future__ import annotations

from .authorization_steps import AuthorizationSteps
from .records import StepRecord, TokenRequestFailed
from .server_data import shown
from .www_authenticate import Challenge


class RefreshStep(AuthorizationSteps):
    async def refresh(self, reason: str = "asked to") -> StepRecord:
        with self._step(9) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            old = self._require((self.state.tokens or {}).get("refresh_token"), step, "a refresh token")
            if self.state.tokens_issuer != self.state.issuer:
                raise step.fail(
                    f"the refresh token came from {shown(self.state.tokens_issuer)}, but the client now talks to "
                    f"{shown(self.state.issuer)}: a refresh token goes back only to the AS that issued it (RFC 6749 §10.4)"
                )
            form = {"grant_type": "refresh_token", "refresh_token": old, **self._resource_parameter()}
            tokens = await self._token_request(metadata["token_endpoint"], form, step)
            new = tokens.get("refresh_token")
            if new is None:
                # OAuth 2.1 §4.3.2: no new refresh token means the old one stays valid.
                self.state.tokens = {**tokens, "refresh_token": old}
            step.learned.update(
                reason=reason,
                rotated=new is not None and new != old,
                old_refresh_token=old,
                new_refresh_token=new,
                scope=tokens.get("scope"),
            )
            step.explanation = (
                f"The client refreshed because {reason}. It sent its refresh token and the same resource; the AS "
                "answered with a new access token and (rotation) a new refresh token. The old refresh token is now "
                "dead: the client discards it, and anyone replaying it makes the AS revoke the whole grant."
            )
        return self.records[-1]

    async def _refresh_for(self, said: str, challenge: Challenge, *, may_rediscover: bool) -> bool:
        """Refresh for a call that `said` why (its 401 `challenge`); if the AS can no longer make
        it, and `may_rediscover`, discover again (`_rediscover_after`). Whether it discovered again."""
        try:
            await self.refresh(reason=said)
        except TokenRequestFailed as failure:
            if not may_rediscover or not failure.grant_lost:
                raise
            await self._rediscover_after(failure, challenge)
            return True
        return False

    async def _rediscover_after(self, failure: TokenRequestFailed, challenge: Challenge) -> None:
        """Steps 2-3 again after a 401 whose refresh the AS could not make: the refresh token and
        the registration may have died with a move to another AS, which only the resource's
        metadata can tell (SEP-2352; MCP 2026-07-28: a client MUST register again when it names a
        new AS), and then steps 4-6 there. Still the same AS, the refresh's failure is the call's:
        a grant revoked or a registration dropped there is mended by the person, not by a consent
        page this call opens on its own, and opens again on every call after it."""
        refused = "could not be reached" if failure.status is None else f"answered {failure.status}"
        note = self.records[-1].notes  # the failed refresh's record: nothing ran since it was filed
        note.append(
            f"the AS {refused}: the client discovers again, since the resource may have moved to another AS (SEP-2352)"
        )
        if not await self._rediscover(challenge, only_if_moved=True):
            note.append("the resource still names the same AS: the refresh's failure stands")
            raise failure
