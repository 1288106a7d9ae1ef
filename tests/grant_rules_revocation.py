"""The rules of `test_stateful_grants.py`'s model for tokens once issued: revoked (RFC 7009), also
while being refreshed, introspected (RFC 7662), presented to both MCP servers (RFC 6750 §3.1),
and outlived, up to the exact second something expires (RFC 7519 §4.1.4)."""

from __future__ import annotations

import asyncio

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from lab_servers import ISSUER, MCP_URL
from lab_servers.authorization_server.authorize import CODE_LIFETIME
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.token_records import REFRESH_TOKEN_IDLE_TIMEOUT
from lab_servers.story import OTHER_MCP_URL

from .grant_machine import GrantMachine, Refusal
from .grant_model import (
    INITIALIZE,
    MANGLE,
    RESOURCES,
    RT,
    MClient,
    mangled,
)  # fmt: skip
from .oauth_checks import assert_well_formed


class RevocationRules(GrantMachine):
    # Revocation and introspection -----------------------------------------------------------------

    def owner_of(self, token: str) -> MClient:
        if token in self.refresh:
            return self.refresh[token].client
        return next(c for c in [*self.clients, self.exchanger] if c.client_id == self.access[token].client_id)

    @precondition(lambda self: self.access or self.refresh)
    @rule(which=st.integers(0, 999), by_owner=st.sampled_from([True, True, False]), other=st.integers(0, 99),
          hint=st.sampled_from(["", "access_token", "refresh_token", "urn:example:unknown"]), mangle=st.sampled_from(MANGLE))  # fmt: skip
    def revoke(self, which: int, by_owner: bool, other: int, hint: str, mangle: str) -> None:
        token = self.pick_token(which)
        owner = self.owner_of(token)
        caller = owner if by_owner else self.pick([c for c in [*self.clients, self.exchanger] if c is not owner], other)
        response = self.post_as(caller, "/revoke", {k: v for k, v in {"token": mangled(token, mangle), "token_type_hint": hint}.items() if v})  # fmt: skip
        known = mangle == "as_is" and (token in self.access or token in self.server.refresh_tokens)
        refusal: Refusal = (
            (401, "invalid_client") if caller.gone
            else (400, "invalid_request") if known and caller is not owner  # RFC 7009 §2.1: only its own
            else None  # §2.2: 200, an unknown token included
        )  # fmt: skip
        if not self.check(response, refusal) or not known:
            return
        assert response.text == ""
        if token in self.refresh:
            self.revoke_family(self.refresh[token].family)
        elif self.access[token].exp > self.now or self.still_remembered(token):
            self.revoke_access(token)
        # An expired token needs no revoking (RFC 7009 §2.2: the purpose "is already achieved"),
        # and once the AS forgot its record (token_records.py) what was exchanged for it stays:
        # it ends with its grant, if it has one (issuance.py), or at its own exp.

    def still_remembered(self, token: str) -> bool:
        claims = self.server.keys.verify(token)
        return claims is not None and any(c["jti"] == claims["jti"] for c in self.server.issued)

    @precondition(lambda self: any(map(self.usable_refresh, self.refresh.values())))
    @rule(which=st.integers(0, 999))
    def revoke_while_refreshing(self, which: int) -> None:
        """Both at once, in either order: the grant ends whichever the AS runs first. Revoked
        first, the refresh is refused; refreshed first, the token it replaced is revoked and with
        it the family, the new token included (RFC 7009 §2.1)."""
        value = self.pick([t for t, m in self.refresh.items() if self.usable_refresh(m)], which)
        model = self.refresh[value]
        extra, headers = model.client.credentials()

        async def both() -> list[httpx.Response]:
            return await asyncio.gather(
                self.http.post(f"{ISSUER}/token", data={**extra, "grant_type": RT, "refresh_token": value}, headers=headers),
                self.http.post(f"{ISSUER}/revoke", data={**extra, "token": value}, headers=headers),
            )  # fmt: skip

        refresh, revoke = self.run(both())
        assert_well_formed(refresh)
        assert_well_formed(revoke)
        assert revoke.status_code == 200, revoke.text
        if refresh.status_code == 200:
            model.rotated = True  # the grant's own scope, so a replacement comes with it
            self.record_tokens(refresh.json(), model.client, "alice", model.resource, model.scope, model)
        else:
            self.check(refresh, (400, "invalid_grant"))
        self.revoke_family(model.family)

    @precondition(lambda self: self.access or self.refresh)
    @rule(which=st.integers(0, 999), caller=st.sampled_from(["introspector", "introspector", "public", "confidential"]),
          own_resource=st.sampled_from([True, True, False]), mangle=st.sampled_from(MANGLE))  # fmt: skip
    def introspect(self, which: int, caller: str, own_resource: bool, mangle: str) -> None:
        token = self.pick_token(which)
        aud = self.refresh[token].resource if token in self.refresh else self.access[token].aud
        resource = aud if aud in RESOURCES and own_resource else OTHER_MCP_URL if aud == MCP_URL else MCP_URL
        client = {"introspector": self.introspectors[resource], "public": self.clients[0]}.get(caller, self.exchanger)
        response = self.post_as(client, "/introspect", {"token": mangled(token, mangle)})
        refusal: Refusal = (
            (401, "invalid_client") if caller == "public"  # RFC 7662 §2.1: an authenticated caller
            else (403, "unauthorized_client") if caller == "confidential"  # and an authorised one
            else None
        )  # fmt: skip
        if not self.check(response, refusal):
            return
        # §4: every caller is a resource server, and a refresh token is used at none: inactive.
        access = self.access.get(token)
        active = access is not None and access.live(self.now) and access.aud == resource
        body = response.json()
        if access is not None and active and mangle == "as_is":
            expected = {"active": True, "token_type": "Bearer", "client_id": access.client_id, "sub": access.sub,
                        "aud": access.aud, "scope": access.scope, "exp": access.exp, "iss": ISSUER}  # fmt: skip
            assert {k: body.get(k) for k in expected} == expected, body
        else:
            assert body == {"active": False}, (body, token)  # §2.2: and nothing more

    # The MCP servers ------------------------------------------------------------------------------

    @precondition(lambda self: self.access)
    @rule(which=st.integers(0, 999), resource=st.sampled_from(RESOURCES))
    def call_an_mcp_server(self, which: int, resource: str) -> None:
        token = self.pick_token(which, refresh=which % 5 == 1)
        response = self.send(
            "POST", resource, json=INITIALIZE,
            headers={"authorization": f"Bearer {token}", "accept": "application/json, text/event-stream"},
        )  # fmt: skip
        model = self.access.get(token)
        # MCP_URL checks the JWT itself, so it cannot see a revocation before exp (rfc7009.py);
        # OTHER_MCP_URL introspects, so it sees one at once. A refresh token is no access token
        # (OAuth 2.1 §1.3.2): no JWT here, inactive at introspection (RFC 7662 §4), so refused.
        usable = model is not None and model.exp > self.now and (resource == MCP_URL or not model.revoked)
        if model is None or not usable or model.aud != resource:
            assert response.status_code == 401, response.text  # RFC 6750 §3.1, MCP §9.2
        elif "notes:read" not in model.scope.split():
            assert response.status_code == 403, response.text
        else:
            assert response.status_code == 200, response.text

    # Time -----------------------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([1, 59, CODE_LIFETIME, ACCESS_TOKEN_LIFETIME, 3600, REFRESH_TOKEN_IDLE_TIMEOUT]))
    def time_passes(self, seconds: int) -> None:
        self.lab.clock.advance(seconds)

    def deadlines(self) -> list[int]:
        moments = [a.exp for a in self.access.values()] + [c.expires_at for c in self.codes.values()]
        moments += [p.expires_at for p in self.pending.values()]
        moments += [m for r in self.refresh.values() for m in (r.idle_ends, r.family_ends)]
        return sorted(m for m in set(moments) if m > self.now)

    @precondition(lambda self: self.deadlines())
    @rule(which=st.integers(0, 3), to=st.sampled_from(["it", "it", "the second before", "half way"]))
    def time_reaches_a_deadline(self, which: int, to: str) -> None:
        """To the exact second something expires, or the one before: RFC 7519 §4.1.4's "on or
        after" is where off-by-one errors live. Or half way there, so that what happens next
        happens part way through a lifetime."""
        deadline = self.deadlines()[min(which, len(self.deadlines()) - 1)]
        target = {"it": deadline, "the second before": deadline - 1, "half way": (self.now + deadline) // 2}[to]
        self.lab.clock.advance(max(target - self.now, 0))
