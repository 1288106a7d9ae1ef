"""A stateful property test: hypothesis drives the whole flow in any order (register, authorize,
decide at consent, redeem the code, refresh, replay a code or a refresh token, call the MCP
server, jump the clock) and checks every answer against a small model of what OAuth 2.1 says
must happen. Whatever the order:

- nothing answers 5xx, and every error is a well-formed OAuth error (RFC 6749 §5.2);
- a code works once, within its lifetime, with its verifier; a second use revokes what the first
  issued (OAuth 2.1 §4.1.3); a refresh token works once, and a replay revokes its family (§4.3.1);
- an access token works at the MCP server until it expires, and not after (RFC 6750 §3.1);
- a request the AS refuses leaves no state behind (no record, consent, code or token), and spends
  nothing: only a redemption that issues tokens spends a code;
- pending consents and codes are forgotten once expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, invariant, multiple, rule

from lab_servers import CLIENT_METADATA_URL, ISSUER, MCP_URL, default_client_metadata
from lab_servers.authorization_server.authorize import CODE_LIFETIME, CONSENT_LIFETIME
from lab_servers.authorization_server.token import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.token_records import REFRESH_TOKEN_IDLE_TIMEOUT, REFRESH_TOKEN_LIFETIME

from .helpers import CHALLENGE, VERIFIER, refresh_form
from .lab_machine import LabMachine
from .registered_clients import PUBLIC_CLIENT as DCR

REDIRECT = default_client_metadata()["redirect_uris"][0]
# The last has refresh but no code grant (refresh alone is refused: RFC 6749 §1.5, RFC 7591 §2.1).
GRANT_CHOICES = [
    ["authorization_code", "refresh_token"],
    ["authorization_code"],
    ["client_credentials", "refresh_token"],
]
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "model", "version": "1"}}}  # fmt: skip
# name → (body, refused by the JSON parser before the rate limiter counts it)
HOSTILE_REGISTRATIONS = {
    "nested-3000": (b"[" * 3000 + b"]" * 3000, True),
    "lone-surrogate": (b'{"client_name": "\\ud800", "redirect_uris": ["https://app.example/callback"]}', True),
    "newline-in-redirect": (b'{"client_name": "x", "redirect_uris": ["https://app.example/callback\\n"]}', False),
    "private-key-jwt-without-keys": (
        b'{"redirect_uris": ["https://app.example/callback"], "token_endpoint_auth_method": "private_key_jwt"}',
        False,
    ),
}
HOSTILE_AUTHORIZE = [
    {"redirect_uri": "https://evil.example/callback"},
    {"code_challenge": CHALLENGE + "\n"},
    {"resource": MCP_URL + "?"},
    {"code_challenge_method": "plain"},
    {"client_id": "https://app.example/" + "a" * 2100},
]


@dataclass
class ModelClient:
    client_id: str
    grant_types: list[str]


@dataclass
class ModelCode:
    client: ModelClient
    expires_at: int
    used: bool = False
    redeemed_at: int = 0
    families: list[str] = field(default_factory=list)


@dataclass
class ModelRefresh:
    client: ModelClient
    family: str
    family_ends: int  # 24 h after consent, whatever happens
    idle_ends: int  # 8 h after this token was issued, unless the family ends first
    rotated: bool = False


class OAuthModel(LabMachine):
    clients = Bundle("clients")
    transactions = Bundle("transactions")
    codes = Bundle("codes")
    refresh_tokens = Bundle("refresh_tokens")
    access_tokens = Bundle("access_tokens")

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, int] = {}  # txn → expires_at
        self.live_codes: dict[str, ModelCode] = {}  # what the AS must still know
        self.all_codes: dict[str, ModelCode] = {}
        self.refresh: dict[str, ModelRefresh] = {}
        self.revoked_families: set[str] = set()
        self.registered = 0

    def as_state(self) -> dict[str, Any]:
        server = self.lab.auth_server
        return {"records": sorted(self.lab.registrations), "pending": sorted(server.pending),
                "codes": {k: c.used for k, c in server.codes.items()},
                "refresh": {k: t.revoked for k, t in server.refresh_tokens.items()}, "issued": len(server.issued)}  # fmt: skip

    # Clients ---------------------------------------------------------------------------------

    @initialize(target=clients)
    def the_cimd_client(self) -> ModelClient:
        return ModelClient(CLIENT_METADATA_URL, ["authorization_code", "refresh_token"])

    def rate_limited(self) -> bool:
        """The hardened policy's limit: 20 attempts per source within 60 s, refused ones included."""
        limit, window = self.lab.policy.registration_rate_limit or (10**9, 1)
        self.attempts = [t for t in getattr(self, "attempts", []) if t > self.now - window]
        if len(self.attempts) >= limit:
            return True
        self.attempts.append(self.now)
        return False

    @rule(target=clients, grant_types=st.sampled_from(GRANT_CHOICES))
    def register(self, grant_types: list[str]) -> ModelClient:
        before = self.as_state()
        response = self.send("POST", f"{ISSUER}/register", json={**DCR, "grant_types": grant_types})
        if self.rate_limited():
            assert (response.status_code, response.json()["error"]) == (429, "temporarily_unavailable")
            assert self.as_state() == before
            return multiple()
        assert response.status_code == 201, response.text
        self.registered += 1
        return ModelClient(response.json()["client_id"], grant_types)

    @rule(name=st.sampled_from(sorted(HOSTILE_REGISTRATIONS)))
    def register_hostile(self, name: str) -> None:
        body, not_json = HOSTILE_REGISTRATIONS[name]
        before = self.as_state()
        response = self.send("POST", f"{ISSUER}/register", content=body, headers={"content-type": "application/json"})
        assert response.status_code == (400 if not_json or not self.rate_limited() else 429), response.text
        assert self.as_state() == before

    # The authorization request and consent -------------------------------------------------------

    def _authorize(self, client: ModelClient, **changes: str) -> httpx.Response:
        params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT, "state": "s",
                  "code_challenge": CHALLENGE, "code_challenge_method": "S256", "resource": MCP_URL, "scope": "notes:read"}  # fmt: skip
        return self.send("GET", f"{ISSUER}/authorize", params={**params, **changes})

    @rule(target=transactions, client=clients)
    def authorize(self, client: ModelClient) -> str:
        response = self._authorize(client)
        if "authorization_code" not in client.grant_types:
            # Told on the AS's page, which offers the way back: no client here was registered by
            # an administrator, so none has a redirect URI the AS trusts (RFC 9700 §4.11.2).
            assert response.status_code == 400 and 'data-field="way_back"' in response.text, response.text
            assert 'data-field="error">unauthorized_client<' in response.text
            return multiple()
        assert response.status_code == 200, response.text
        txn = response.text.split('name="txn" value="', 1)[1].split('"', 1)[0]
        self.pending = {t: e for t, e in self.pending.items() if e > self.now}  # expired ones are forgotten
        self.pending[txn] = self.now + CONSENT_LIFETIME
        return txn

    @rule(client=clients, changes=st.sampled_from(HOSTILE_AUTHORIZE))
    def authorize_hostile(self, client: ModelClient, changes: dict[str, str]) -> None:
        before = self.as_state()
        response = self._authorize(client, **changes)
        assert response.status_code in (302, 400)
        if response.status_code == 302:
            assert "error" in httpx.URL(response.headers["location"]).params
        assert self.as_state() == before

    @rule(target=codes, txn=transactions, approve=st.booleans())
    def decide(self, txn: str, approve: bool) -> str:
        response = self.send(
            "POST", f"{ISSUER}/authorize/decision", data={"txn": txn, "decision": "approve" if approve else "deny"}
        )
        expires_at = self.pending.pop(txn, None)
        if expires_at is None or expires_at <= self.now:
            assert response.status_code == 400, response.text  # unknown, used or expired transaction
            return multiple()
        params = httpx.URL(response.headers["location"]).params
        if not approve:
            assert params["error"] == "access_denied"
            return multiple()
        code = params["code"]
        client = next(c for c in self._clients() if c.client_id == self.lab.auth_server.codes[code].client_id)
        self.live_codes = {
            k: c for k, c in self.live_codes.items() if c.expires_at > self.now
        }  # expired codes are forgotten
        self.live_codes[code] = self.all_codes[code] = ModelCode(client, self.now + CODE_LIFETIME)
        return code

    @rule(target=codes, client=clients)
    def consent_in_one_go(self, client: ModelClient) -> str:
        """authorize, then approve: the common path, so that later steps have codes to use."""
        txn = self.authorize(client)
        return self.decide(txn, approve=True) if isinstance(txn, str) else multiple()

    def _clients(self) -> list[ModelClient]:
        known = [ModelClient(CLIENT_METADATA_URL, ["authorization_code", "refresh_token"])]
        return known + [ModelClient(cid, c.metadata["grant_types"]) for cid, c in self.lab.registrations.items()]

    # The token endpoint ---------------------------------------------------------------------------

    @rule(target=refresh_tokens, code=codes, right_verifier=st.sampled_from([True, True, True, False]))
    def redeem(self, code: str, right_verifier: bool) -> str:
        model = self.live_codes.get(code)
        issued = self.all_codes[code]
        form = {"grant_type": "authorization_code", "code": code, "client_id": issued.client.client_id,
                "redirect_uri": REDIRECT, "code_verifier": VERIFIER if right_verifier else "w" * 43,
                "resource": MCP_URL}  # fmt: skip
        response = self.send("POST", f"{ISSUER}/token", data=form)
        if issued.used and self.now < issued.redeemed_at + REFRESH_TOKEN_LIFETIME:
            # OAuth 2.1 §4.1.3: revoke what the first use issued, for as long as the AS remembers
            # the redemption (a refresh family's lifetime), long after the code itself (60 s).
            assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
            self.revoked_families.update(issued.families)
            return multiple()
        if model is None:
            assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
            return multiple()
        if model.expires_at <= self.now or not right_verifier:
            assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
            return multiple()  # refused, nothing issued: the code is not spent (OAuth 2.1 §4.1.3)
        model.used, model.redeemed_at = True, self.now
        assert response.status_code == 200, response.text
        body = response.json()
        self._access_token = (body["access_token"], self.now + ACCESS_TOKEN_LIFETIME)
        if "refresh_token" not in model.client.grant_types:
            assert "refresh_token" not in body
            return multiple()
        family = self.lab.auth_server.refresh_tokens[body["refresh_token"]].family
        model.families.append(family)
        ends = self.now + REFRESH_TOKEN_LIFETIME
        self.refresh[body["refresh_token"]] = ModelRefresh(
            model.client, family, ends, min(self.now + REFRESH_TOKEN_IDLE_TIMEOUT, ends)
        )
        return str(body["refresh_token"])

    @rule(target=refresh_tokens, token=refresh_tokens)
    def refresh_grant(self, token: str) -> str:
        model = self.refresh[token]
        response = self.send(
            "POST",
            f"{ISSUER}/token",
            data=refresh_form(model.client.client_id, token),
        )
        if model.family_ends <= self.now:
            assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
            return multiple()
        if model.rotated or model.family in self.revoked_families:
            assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
            self.revoked_families.add(model.family)  # a replay revokes the whole family (OAuth 2.1 §4.3.1)
            return multiple()
        if model.idle_ends <= self.now:  # unused for 8 h: refused, and nothing else changes
            assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")
            assert "idle" in response.json()["error_description"]
            return multiple()
        assert response.status_code == 200, response.text
        model.rotated = True
        new = response.json()["refresh_token"]
        idle_ends = min(self.now + REFRESH_TOKEN_IDLE_TIMEOUT, model.family_ends)
        self.refresh[new] = ModelRefresh(model.client, model.family, model.family_ends, idle_ends)
        return str(new)

    @rule(token=refresh_tokens)
    def revoke(self, token: str) -> None:
        """RFC 7009 §2.1: revoking a refresh token ends its grant; §2.2: the answer is 200 whatever it was."""
        model = self.refresh[token]
        response = self.send("POST", f"{ISSUER}/revoke", data={"token": token, "client_id": model.client.client_id})
        assert response.status_code == 200, response.text
        self.revoked_families.add(model.family)

    @rule(token=refresh_tokens)
    def refresh_for_another_client(self, token: str) -> None:
        before = self.as_state()
        response = self.send(
            "POST",
            f"{ISSUER}/token",
            data=refresh_form("tpc_nobody", token),
        )
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
        assert self.as_state() == before

    # The MCP server -------------------------------------------------------------------------------

    @rule()
    def call_the_mcp_server(self) -> None:
        token, expires_at = getattr(self, "_access_token", (None, 0))
        if token is None:
            return
        response = self.send(
            "POST",
            MCP_URL,
            json=INITIALIZE,
            headers={"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"},
        )
        if expires_at > self.now:
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 401 and response.json()["error"] == "invalid_token"

    # Time -----------------------------------------------------------------------------------------

    @rule(
        seconds=st.sampled_from(
            [1, 30, CODE_LIFETIME - 1, CODE_LIFETIME, CONSENT_LIFETIME, ACCESS_TOKEN_LIFETIME, 3600, 4 * 3600]
        )
    )
    def time_passes(self, seconds: int) -> None:
        self.lab.clock.advance(seconds)

    # What must hold after every step ----------------------------------------------------------------

    @invariant()
    def the_as_holds_what_the_model_holds(self) -> None:
        server = self.lab.auth_server
        assert len(self.lab.registrations) == self.registered
        # Expired consents and codes are dropped whenever a new one is stored: the model does the same.
        assert set(server.pending) == set(self.pending)
        assert set(server.codes) == set(self.live_codes)
        for token, model in self.refresh.items():
            revoked = model.rotated or model.family in self.revoked_families
            assert server.refresh_tokens[token].revoked == revoked, (token, model)


OAuthModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_oauth_flow_in_any_order_matches_the_model = OAuthModel.TestCase
