"""The lab client: an MCP client and the OAuth client inside it, as seven explicit steps.

Each step is one method, named after what it does, in the order of the MCP authorization spec,
and lives in the module for its part of the handshake (`discovery_steps.py`: 1-3,
`registration_step.py`: 4, `authorization_steps.py`: 5-6, `mcp_step.py`: 7), and the steps after
it (`refresh_step.py`: refresh, `step_up.py`: step-up; `mcp_step.py`: a later tool call). Each returns a
`StepRecord` (the exchanges it made, what it learned, why, and where the spec says so) and raises
`StepError` naming the step when it cannot go on.
"""

from __future__ import annotations

from .base import Decision, RegistrationMethod
from .discovery_steps import DiscoverySteps
from .mcp_step import MAX_STEP_UPS, McpStep
from .no_user_steps import WITHOUT_A_USER
from .records import StepError, StepRecord
from .registration_step import RegistrationStep, token_endpoint_auth_method
from .server_data import shown
from .state import Credentials, HandshakeState, decode_jwt_payload
from .www_authenticate import Challenge

__all__ = [
    "MAX_STEP_UPS", "Credentials", "Decision", "HandshakeState", "LabClient", "RegistrationMethod", "decode_jwt_payload",
    "token_endpoint_auth_method",
]  # fmt: skip


class LabClient(McpStep, RegistrationStep, DiscoverySteps):
    # Running the handshake ---------------------------------------------------------------

    @property
    def next_step_number(self) -> int:
        return max((r.number for r in self.records if r.number <= 7 and r.learned.get("error") is None), default=0) + 1

    async def next_step(self) -> StepRecord:
        steps = [
            self.request_without_token, self.discover_resource_metadata, self.discover_authorization_server,
            self.get_client_id, self.authorize, self.exchange_code, self.call_mcp,
        ]  # fmt: skip
        if self.next_step_number > len(steps):
            raise StepError(7, "mcp", "the handshake is already complete")
        return await steps[self.next_step_number - 1]()

    async def run_all(self) -> list[StepRecord]:
        while self.next_step_number <= 7:
            await self.next_step()
        return self.records

    async def _rediscover(self, challenge: Challenge, *, only_if_moved: bool = False) -> bool:
        """Steps 2-6 again, from a fresh challenge: the PRM may now name another AS. With
        `only_if_moved`, steps 2-3 alone when it still names the same one (returns False)."""
        self.state.challenge = challenge
        previous = self.state.issuer
        self.state.legacy_base = None
        await self.discover_resource_metadata()
        await self.discover_authorization_server()
        if only_if_moved and self.state.issuer == previous:
            return False
        moved = self.state.issuer != previous and self.revision.credentials_per_issuer
        if self.state.grant in WITHOUT_A_USER:
            # A renewal or a move runs its step again, never the authorization code flow the client
            # did not register.
            number = WITHOUT_A_USER[self.state.grant]
            credentials = self.state.credentials
            if moved and credentials and credentials.client_id != self.client_metadata_url:
                # SEP-2352: credentials the old AS issued (a secret above all) are never sent to
                # another; a CIMD URL and its key are the client's own, portable to any AS. Failed as
                # the step it names, so that its record says so too: raised bare, it was filed under
                # the call's step 8 alone while it read "step 13 (client-credentials)".
                with self._step(number) as step:
                    raise step.fail(
                        f"the resource moved from {shown(previous)} to {shown(self.state.issuer)}, and client "
                        f"{shown(credentials.client_id)} was registered at the first: credentials MUST NOT be reused "
                        "with another authorization server (MCP 2026-07-28, SEP-2352). Register this client there"
                    )
            # No user, no browser: the client asks again for itself, or the enterprise IdP for a
            # new ID-JAG (its registration has no authorization code flow to fall back on). At the
            # same AS, for the scope it had, as a refresh keeps it (RFC 6749 §6): asked for MCP §6's
            # choice again, a renewal dropped what a step-up had added. At another AS, MCP §6's
            # choice from the new challenge: the old AS's scopes may be none of the new one's.
            return await self.renew_without_a_user(self.state.scope if self.state.issuer == previous else None)
        if moved:
            self.state.credentials = None  # SEP-2352: never carry credentials to another AS
        if self.state.issuer != previous:
            # RFC 6749 §10.4: a refresh token is shared only between the AS that issued it and the
            # client; kept, the next 401 refreshed at the new AS with the old AS's refresh token.
            self.state.tokens = None
        await self.get_client_id()
        await self.authorize()
        await self.exchange_code()
        return True
