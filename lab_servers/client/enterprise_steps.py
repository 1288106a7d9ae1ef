"""Enterprise-managed authorization (MCP extension `io.modelcontextprotocol/enterprise-managed-
authorization`, profiling the IETF draft "Identity Assertion JWT Authorization Grant"), as two
named steps that replace steps 4-6 of the handshake:

11 `id-jag`: at the enterprise IdP, RFC 8693 token exchange of the user's ID token for an ID-JAG
   whose audience is the MCP server's AS and whose resource is the MCP server (ext-auth §4);
12 `jwt-bearer`: at the AS, the RFC 7523 JWT bearer grant with the ID-JAG as `assertion`, with the
   client's own credentials there (ext-auth §5). No browser, no consent screen: the enterprise
   decided already; and no refresh token (draft §4.4.3: SHOULD NOT).
Both are drafts/extensions: MCP itself does not require them.

When the token expires, or a tool needs more scope (MCP §10.1.2), the client runs both steps again
with the sign-in it kept (`renew_through_idp`): the enterprise's policy at the IdP decides again,
still with no browser. The client is registered at the AS for the JWT bearer grant alone (RFC 7591
§2 grant_types): it has no authorization code flow, and no redirect URI, to fall back on.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from ..error_text import told
from .authorization_steps import AuthorizationSteps
from .records import StepError, StepRecord
from .server_data import receive, server_json, shown
from .state import IdpSignIn, decode_jwt_payload

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"


class EnterpriseSteps(AuthorizationSteps):
    async def request_id_jag(
        self,
        idp_token_endpoint: str,
        id_token: str,
        idp_client_id: str,
        idp_client_secret: str | None = None,
        scope: str | None = None,
    ) -> StepRecord:
        """An ID-JAG for `scope` (when stepping up; else MCP §6's choice) from the IdP at
        `idp_token_endpoint`, for the user's `id_token`, the client authenticating there."""
        self.state.idp_sign_in = IdpSignIn(idp_token_endpoint, id_token, idp_client_id, idp_client_secret)
        with self._step(11) as step:
            issuer = self._require(self.state.issuer, step, "the AS's issuer (step 3)")
            form = {
                "grant_type": TOKEN_EXCHANGE,
                "requested_token_type": ID_JAG,
                "audience": issuer,  # ext-auth §4: MUST be the issuer of the MCP server's AS
                **self._resource_parameter(),  # the MCP server (RFC 9728 resource)
                "subject_token": id_token,
                "subject_token_type": ID_TOKEN,
            }
            scope = scope or self._choose_scope()
            if scope:
                form["scope"] = scope
            self.state.scope = scope  # what a step-up adds to (MCP 2026-07-28 §11.1.2)
            headers = {}
            if idp_client_secret:  # ext-auth §7.7: the client authenticates at the IdP too
                pair = f"{quote(idp_client_id, safe='')}:{quote(idp_client_secret, safe='')}"
                headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            else:
                form["client_id"] = idp_client_id
            response = await receive(self.http, "POST", idp_token_endpoint, data=form, headers=headers)
            body = server_json(response.content, "the IdP's token exchange response", rule="RFC 8693 §2.2.1, §2.2.2")
            if response.status_code != 200:
                raise step.fail(
                    f"the IdP answered {response.status_code} {told(body.get('error'))}: {told(body.get('error_description'))}"
                )
            if body.get("issued_token_type") != ID_JAG or not isinstance(body.get("access_token"), str):
                raise step.fail(
                    f"the IdP issued {shown(body.get('issued_token_type'))}, not an ID-JAG (RFC 8693 §2.2.1)"
                )
            self.state.id_jag = body["access_token"]
            step.learned.update(issued_token_type=body["issued_token_type"], token_type=body.get("token_type"),
                                id_jag=decode_jwt_payload(self.state.id_jag))  # fmt: skip
            step.explanation = (
                "The user is already signed in at the enterprise IdP, so the client holds an ID token. It exchanges it "
                "there for an identity assertion grant (ID-JAG) naming the MCP server's AS as audience and the MCP server "
                "as resource. The IdP applies the enterprise's policy: which clients may reach which resources."
            )
        return self.records[-1]

    async def redeem_id_jag(self) -> StepRecord:
        with self._step(12) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            assertion = self._require(self.state.id_jag, step, "an ID-JAG (step id-jag)")
            form = {"grant_type": JWT_BEARER, "assertion": assertion, **self._resource_parameter()}
            self.state.grant = "jwt-bearer"  # a new token comes the same way (renew_through_idp)
            tokens = await self._token_request(metadata["token_endpoint"], form, step)
            step.learned.update(token_type=tokens.get("token_type"), claims=decode_jwt_payload(tokens["access_token"]),
                                refresh_token=bool(tokens.get("refresh_token")))  # fmt: skip
            step.explanation = (
                "The client presents the ID-JAG with the JWT bearer grant, authenticating as itself. The AS trusts the "
                "IdP by configuration, checks the assertion, and issues an access token for the MCP server: no consent "
                "screen, and no refresh token."
            )
        return self.records[-1]

    async def renew_through_idp(self, scope: str | None = None) -> None:
        """Steps 11-12 again, with the sign-in step 11 kept: a new ID-JAG (single-use, short-lived,
        so never the old one, ext-auth §7.6) for `scope`, the IdP's policy deciding again, and a new
        token for it. What the enterprise client does where another renews with a refresh token or
        steps up at a consent page: its registration at the AS has neither (RFC 7591 §2)."""
        sign_in = self.state.idp_sign_in
        if sign_in is None:
            raise StepError(11, "id-jag", "no sign-in at the enterprise IdP to ask a new ID-JAG with: run id-jag first")
        await self.request_id_jag(
            sign_in.token_endpoint, sign_in.id_token, sign_in.client_id, sign_in.client_secret, scope=scope
        )
        await self.redeem_id_jag()
