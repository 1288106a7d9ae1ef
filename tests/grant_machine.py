"""The state machine of `test_stateful_grants.py`: what the model holds (the clients, codes, tokens
and grants the authorization server must still know), how it talks to the servers, what the specs
say must be revoked, and what must hold after every step. Its rules are the mixins
`grant_rules_authorization.py`, `grant_rules_tokens.py` and `grant_rules_revocation.py`; the
model of each record is `grant_model.py`."""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis.stateful import invariant

from lab_servers import CLIENT_METADATA_URL, ISSUER, MCP_URL
from lab_servers.authorization_server.grants import ExchangeRule
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.rfc8693 import GRANT_TYPE as TOKEN_EXCHANGE
from lab_servers.authorization_server.token_records import REFRESH_TOKEN_IDLE_TIMEOUT, REFRESH_TOKEN_LIFETIME
from lab_servers.story import add_second_mcp_server, use_introspection

from .grant_model import (
    AC,
    APP,
    DOWNSTREAM,
    EXCHANGER,
    OTHER_CIMD_URL,
    RESOURCES,
    RT,
    SCOPES,
    MAccess,
    MClient,
    MCode,
    MPending,
    MRefresh,
)  # fmt: skip
from .lab_machine import LabMachine

Refusal = tuple[int, str] | None  # (status, error) the model expects, or None for success


class GrantMachine(LabMachine):
    """The model's state and bookkeeping; `__init__` publishes the second CIMD document with the
    rule that changes it (`grant_rules_authorization.py`)."""

    # MCP 2026-07-28 §10 (SEP-2207): with offline_access listed, a refresh token comes only with a
    # grant whose scope includes it (OfflineAccessGrantModel in test_stateful_grants.py).
    offline_access = False

    def __init__(self) -> None:
        super().__init__()
        self.server = self.lab.auth_server
        self.server.offline_access = self.offline_access
        self.scopes = SCOPES | ({"offline_access"} if self.offline_access else set())
        # A second MCP server that introspects (sees revocation at once); the first checks JWTs.
        use_introspection(self.lab, add_second_mcp_server(self.lab))
        self.clients = [
            MClient(CLIENT_METADATA_URL, [AC, RT], [f"{APP}/callback"], "none"),
            MClient(OTHER_CIMD_URL, [AC], [], "none"),
        ]
        self.the_second_cimd_document_changes(0)
        # The administrator's clients: an introspector per resource (RFC 7662 §2.1), and an MCP
        # server that may exchange the tokens sent to it for a downstream API's (RFC 8693).
        self.introspectors: dict[str, MClient] = {}
        for number, resource in enumerate(RESOURCES):
            self.introspectors[resource] = self.preregister(MClient(f"introspector-{number}", [], [], "client_secret_basic", "s3cret"))  # fmt: skip
            self.server.introspectors[f"introspector-{number}"] = resource
        self.exchanger = self.preregister(MClient(EXCHANGER, [TOKEN_EXCHANGE], [], "client_secret_post", "x-secret"))
        self.server.exchange_rules[EXCHANGER] = ExchangeRule(MCP_URL, {DOWNSTREAM: frozenset({"contacts:read"})})
        self.registered = 0
        self.pending: dict[str, MPending] = {}  # what the AS must still hold
        self.codes: dict[str, MCode] = {}  # what the AS must still hold
        self.all_codes: dict[str, MCode] = {}
        self.access: dict[str, MAccess] = {}
        self.refresh: dict[str, MRefresh] = {}
        self.revoked_families: set[str] = set()

    def preregister(self, client: MClient) -> MClient:
        metadata = {"grant_types": client.grant_types, "token_endpoint_auth_method": client.auth}
        self.server.preregister(client.client_id, metadata, client.secret)
        return client

    # Talking to the servers -----------------------------------------------------------------------

    def post_as(self, client: MClient, path: str, form: dict[str, str], how: str = "ok") -> httpx.Response:
        extra, headers = client.credentials(how)
        return self.send("POST", f"{ISSUER}{path}", data={**extra, **form}, headers=headers)

    @staticmethod
    def check(response: httpx.Response, refusal: Refusal) -> bool:
        """Assert the refusal the model expects, if any; True when the request succeeded."""
        if refusal is None:
            assert response.status_code == 200, response.text
            return True
        assert (response.status_code, response.json().get("error")) == refusal, (refusal, response.text)
        if refusal[0] == 401:
            assert response.headers["www-authenticate"].startswith("Basic"), response.headers  # RFC 6749 §5.2
        return False

    @staticmethod
    def pick(items: list[Any], n: int) -> Any:
        return items[n % len(items)]

    def pick_token(self, n: int, access: bool = True, refresh: bool = True) -> str:
        """Any token the model knows; most often (n even) one it says is usable, as dead tokens
        pile up and a step on a live one says more."""
        tokens = (sorted(self.access) if access else []) + (sorted(self.refresh) if refresh else [])
        live = [t for t in tokens if t in self.access and self.access[t].live(self.now)]
        live += [t for t in tokens if t in self.refresh and self.usable_refresh(self.refresh[t])]
        return self.pick(live if live and n % 2 == 0 else tokens, n // 2)

    # What the specs say must be revoked ---------------------------------------------------------

    def revoke_access(self, token: str) -> None:
        """The token, and what was exchanged for it (RFC 7009 §2.1: based on the same grant)."""
        model = self.access[token]
        model.revoked = True
        for child in model.children:
            self.revoke_access(child)

    def revoke_family(self, family: str) -> None:
        """A grant ends: its refresh tokens and every access token based on it (RFC 7009 §2.1;
        OAuth 2.1 §4.1.3, §4.3.1)."""
        self.revoked_families.add(family)
        for token, model in self.access.items():
            if model.family == family:
                self.revoke_access(token)

    def usable_refresh(self, model: MRefresh) -> bool:
        revoked = model.rotated or model.family in self.revoked_families
        return not revoked and model.family_ends > self.now and model.idle_ends > self.now

    def record_tokens(
        self, body: dict[str, Any], client: MClient, sub: str, aud: str, scope: str, family: MRefresh | None
    ) -> MAccess:
        """Check an issued token against what was consented, and remember it."""
        claims = self.server.keys.verify(body["access_token"])
        assert claims is not None
        # RFC 8707 §2: the audience is the resource asked for; the scope is what was consented (or
        # the subset a refresh asked for, OAuth 2.1 §4.3.1), never more.
        assert (claims["aud"], claims["scope"], claims["sub"], claims["client_id"]) == (
            aud,
            scope,
            sub,
            client.client_id,
        )
        assert (body["scope"], body["token_type"], body["expires_in"]) == (scope, "Bearer", ACCESS_TOKEN_LIFETIME)
        assert claims["exp"] == self.now + ACCESS_TOKEN_LIFETIME
        family_id = family.family if family else None
        # A refresh token for a client that registered the grant, never for client credentials (RFC 6749 §4.4.3),
        # and with offline_access listed, only for a scope that includes it (MCP 2026-07-28 §10).
        offline = not self.offline_access or "offline_access" in scope.split()
        assert ("refresh_token" in body) == (RT in client.grant_types and sub != client.client_id and offline), body
        if "refresh_token" in body:
            family_id = self.server.refresh_tokens[body["refresh_token"]].family
            assert family is None or family_id == family.family
            ends = family.family_ends if family else self.now + REFRESH_TOKEN_LIFETIME
            self.refresh[body["refresh_token"]] = MRefresh(
                client, family_id, aud, family.scope if family else scope, ends,
                min(self.now + REFRESH_TOKEN_IDLE_TIMEOUT, ends),
            )  # fmt: skip
        self.access[body["access_token"]] = model = MAccess(client.client_id, sub, aud, scope, claims["exp"], family_id)
        return model

    # What must hold after every step --------------------------------------------------------------

    @invariant()
    def the_as_and_the_model_agree_on_what_is_usable(self) -> None:
        now = self.now
        assert set(self.server.pending) == set(self.pending)
        assert set(self.server.codes) == set(self.codes)
        for token, model in self.access.items():
            if model.exp > now - 1:
                assert (self.server.active_access_token(token) is not None) == model.live(now), (model, now)
        live_grants = set()
        for token, refresh in self.refresh.items():
            held = self.server.refresh_tokens.get(token)
            assert (held is not None and held.usable(now)) == self.usable_refresh(refresh), (refresh, held, now)
            live_grants |= {refresh.family} if self.usable_refresh(refresh) else set()
        assert {t.family for t in self.server.refresh_tokens.values() if t.usable(now)} == live_grants
