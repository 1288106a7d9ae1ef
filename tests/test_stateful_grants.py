"""A stateful property test of grants and tokens once issued: hypothesis plays clients (public and
confidential DCR clients with odd but valid metadata, two CIMD clients, one of whose document
changes and disappears, an MCP server that exchanges tokens, two introspecting callers) and the
user, in any order: authorize a subset of the scopes for one of two resources, approve or deny,
redeem a code right or wrong, refresh (narrower, wider, as another client, for another resource,
replayed), revoke (access or refresh token, by its owner or another client, while it is being
refreshed), introspect, client credentials, token exchange, call both MCP servers, and let the
clock run to the exact second something expires. Every answer is checked against the model in
`grant_model.py`:

- nothing answers 5xx; every error is a registered code with its spec's status (RFC 6749 §5.2);
- a token's `aud` is the resource the authorization named and its scope what the user consented
  to, or the subset a refresh asked for (RFC 8707 §2, OAuth 2.1 §4.3.1);
- a code redeems once; a second redemption revokes what the first issued, tokens exchanged for
  those included (OAuth 2.1 §4.1.3); a replayed refresh token revokes its grant (§4.3.1);
- revoking a refresh token ends its grant and the access tokens based on it; revoking an access
  token ends it and what was exchanged for it; a client revokes only its own (RFC 7009 §2.1);
- introspection says `active` exactly when the model says the token is usable, and answers only
  a caller authorised for the token's resource (RFC 7662 §2.1, §2.2, §4);
- a token is refused from the second it expires (RFC 7519 §4.1.4), as are codes, consents and
  refresh tokens (idle or at their grant's end); the MCP server that introspects sees a
  revocation at once, the one that checks JWTs locally does not (the lab's trade, rfc7009.py);
- after every step the AS and the model agree on which tokens are usable and which grants live.

`test_stateful_oauth.py` covers the basic flow's order, hostile input and the stores' bounds.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from .grant_rules_authorization import AuthorizationRules
from .grant_rules_revocation import RevocationRules
from .grant_rules_tokens import TokenRules


class GrantModel(AuthorizationRules, TokenRules, RevocationRules):
    """The whole model: hypothesis collects the rules of the three mixins (and the invariant of
    `grant_machine.py`) by name, as it did when they were one class."""


class OfflineAccessGrantModel(GrantModel):
    offline_access = True


FAST = settings(
    max_examples=20,
    stateful_step_count=50,
    deadline=None,
    derandomize=True,  # the same steps on every run: CI stays deterministic
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
GrantModel.TestCase.settings = FAST
OfflineAccessGrantModel.TestCase.settings = FAST
test_grants_and_tokens_after_issuance_match_the_model = GrantModel.TestCase
test_grants_and_tokens_match_the_model_when_refresh_tokens_need_offline_access = OfflineAccessGrantModel.TestCase
