"""After the handshake: step-up authorization on 403 `insufficient_scope`, as a named step.

MCP 2026-07-28 §11.1.2 (SEP-2350): the client asks for the union of the scopes it requested
before and the scopes the challenge names, so that gaining `notes:write` never loses
`notes:read` (in 2025-11-25 the client used the challenge alone, and the server re-included
granted scopes). This step only decides the new scope; the consent (step 5), the token (step 6)
and the retried request follow as their own steps, so each exchange is filed under its step (or,
with no user to ask, client credentials, step 13, or a new ID-JAG and its grant, steps 11-12).
"""

from __future__ import annotations

from ..error_text import told
from .authorization_steps import AuthorizationSteps
from .records import StepRecord
from .www_authenticate import Challenge

# Whom the client asks for the new scope: the user at a consent page, unless its token came by a
# grant with no user to ask (MCP §10.1.2; the enterprise's policy at its IdP decides for an ID-JAG).
_ASKS = {
    "client_credentials": "The client asks the AS for itself",
    "jwt-bearer": "The client asks the enterprise IdP for a new ID-JAG",
}
# What it asks for, by the revision it follows: the explanation said "the union" for a 2025-11-25
# client too, which asks for the challenge alone (its server re-includes what was granted).
_UNION = "the union of what it had and what is needed"  # MCP 2026-07-28 §11.1.2 (SEP-2350)
_CHALLENGE_ALONE = (
    "the scopes the challenge names, and those alone: before 2026-07-28 the server re-includes what was "
    "granted (2025-11-25 §10.1.1), so the client does not add them itself"
)


class StepUpStep(AuthorizationSteps):
    async def step_up(self, challenge: Challenge, method: str) -> StepRecord:
        with self._step(10) as step:
            challenged = set((challenge.get("scope") or "").split())
            requested = set((self.state.scope or "").split())
            granted = set((self.state.tokens or {}).get("scope", "").split())
            # Before 2026-07-28 the client asked for the challenge alone (the RS accumulated).
            union = " ".join(sorted(requested | granted | challenged if self.revision.scope_union else challenged))
            step.learned.update(
                request=method,
                challenged=" ".join(sorted(challenged)),
                previously=" ".join(sorted(requested | granted)),
                union=union,
            )
            # The scope is the server's words: quoted within bounds (error_text.told); a 400 kB
            # challenged scope made a 400 kB explanation, and a 1.5 MB step card.
            step.explanation = (
                f"{method} was refused with 403 insufficient_scope naming {told(' '.join(sorted(challenged))) or 'no scope'}. "
                f"{_ASKS.get(self.state.grant or '', 'The client asks the user again')} for "
                f"{_UNION if self.revision.scope_union else _CHALLENGE_ALONE}, then retries."
            )
        return self.records[-1]
