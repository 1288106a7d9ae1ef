"""The client-credentials extension (MCP `io.modelcontextprotocol/oauth-client-credentials`,
SEP-1046): a confidential client gets a token for itself, with no user and no browser, by the
OAuth 2.1 §4.2 client credentials grant, authenticating with `private_key_jwt` (RFC 7523 §2.2)
or a secret. It replaces steps 4-6; the token's subject is the client.
"""

from __future__ import annotations

from .authorization_steps import AuthorizationSteps
from .records import StepRecord
from .state import decode_jwt_payload


class ClientCredentialsStep(AuthorizationSteps):
    async def client_credentials(self, scope: str | None = None) -> StepRecord:
        """A token for the client itself; `scope` when stepping up, else MCP §6's choice."""
        with self._step(13) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            credentials = self._require(self.state.credentials, step, "the client's credentials")
            form = {"grant_type": "client_credentials", **self._resource_parameter()}
            scope = scope or self._choose_scope()
            if scope:
                form["scope"] = scope
            self.state.scope, self.state.grant = scope, "client_credentials"
            tokens = await self._token_request(metadata["token_endpoint"], form, step)
            step.learned.update(method=credentials.token_endpoint_auth_method, scope=tokens.get("scope"),
                                claims=decode_jwt_payload(tokens["access_token"]))  # fmt: skip
            step.explanation = (
                f"The client authenticates as itself ({credentials.token_endpoint_auth_method}) and asks for a token "
                "for the MCP server. No user, no consent page, no refresh token: it can simply ask again."
            )
        return self.records[-1]
