"""A new token for a client with no user to ask (MCP §10.1.2): the client-credentials extension
asks again for itself (step 13), the enterprise-managed one asks the IdP for a new ID-JAG and
redeems it (steps 11-12). Both when the token expires or the resource moves (`LabClient._rediscover`)
and when a tool needs more scope (`McpStep`): neither client registered the authorization code
flow (RFC 7591 §2 grant_types), so neither may fall back on a consent page.
"""

from __future__ import annotations

from .client_credentials_step import ClientCredentialsStep
from .enterprise_steps import EnterpriseSteps

# The grants that get a token with no user to ask, and the number of the step that asks for one
# (its name is records.ALL_STEPS').
WITHOUT_A_USER = {"client_credentials": 13, "jwt-bearer": 12}


class NoUserSteps(EnterpriseSteps, ClientCredentialsStep):
    async def renew_without_a_user(self, scope: str | None) -> bool:
        """A new token for `scope` (None: MCP §6's choice) the way the client got its last one, when
        that way asks no user (True); False for a client whose grant has a user to ask."""
        if self.state.grant == "client_credentials":
            # OAuth 2.1 §4.2: the client authenticates as itself and asks for the scopes itself.
            await self.client_credentials(scope=scope)
        elif self.state.grant == "jwt-bearer":
            # Enterprise-managed: no consent screen and no redirect URI registered (the client has
            # the JWT bearer grant alone); the IdP's policy decides on the scope.
            await self.renew_through_idp(scope=scope)
        else:
            return False
        return True
