"""The rules of `test_stateful_grants.py`'s model at the token endpoint: codes redeemed right or
wrong (OAuth 2.1 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2), refresh tokens refreshed, narrowed,
replayed or misused (OAuth 2.1 §4.3.1), client credentials (§4.2) and token exchange (RFC 8693)."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from lab_servers import MCP_URL
from lab_servers.authorization_server.rfc8693 import ACCESS_TOKEN_TYPE
from lab_servers.authorization_server.rfc8693 import GRANT_TYPE as TOKEN_EXCHANGE
from lab_servers.authorization_server.token_records import REFRESH_TOKEN_IDLE_TIMEOUT, REFRESH_TOKEN_LIFETIME
from lab_servers.story import OTHER_MCP_URL

from .grant_machine import GrantMachine, Refusal
from .grant_model import (
    AC,
    APP,
    CC,
    DOWNSTREAM,
    EXCHANGER,
    MANGLE,
    REDEEM,
    REFRESH,
    RESOURCES,
    RT,
    SENT_RESOURCES,
    SENT_SCOPES,
    MAccess,
    MClient,
    MCode,
    canonical,
    granted_scope,
    mangled,
)  # fmt: skip
from .helpers import VERIFIER


class TokenRules(GrantMachine):
    # The token endpoint ---------------------------------------------------------------------------

    @precondition(lambda self: self.all_codes)
    @rule(which=st.integers(0, 99), how=st.sampled_from(REDEEM), other=st.integers(0, 99))
    def redeem(self, which: int, how: str, other: int) -> None:
        # Often a used code the AS still holds: its replay is what revokes (OAuth 2.1 §4.1.3).
        replayable = sorted(c for c, m in self.codes.items() if m.used)
        self._redeem(
            self.pick(replayable if replayable and which % 3 == 0 else sorted(self.all_codes), which), how, other
        )

    def _redeem(self, value: str, how: str, other: int) -> None:
        model = self.all_codes[value]
        client = model.client
        if how == "other_client":
            client = self.pick([c for c in self.clients if c is not model.client], other)
        form = {"grant_type": AC, "code": value, "redirect_uri": model.redirect_uri, "code_verifier": VERIFIER,
                "resource": model.resource}  # fmt: skip
        if how == "no_redirect_uri":
            del form["redirect_uri"]  # OAuth 2.1 no longer sends it (§10.2: accepted from 2.0 clients)
        elif how == "other_redirect_uri":
            form["redirect_uri"] = f"{APP}/other" if model.redirect_uri != f"{APP}/other" else f"{APP}/callback"
        elif how == "no_resource":
            del form["resource"]
        elif how in ("other_resource", "uppercase_resource"):
            other_resource = OTHER_MCP_URL if model.resource == MCP_URL else MCP_URL
            form["resource"] = other_resource if how == "other_resource" else model.resource.replace("https", "HTTPS")
        elif how == "wrong_verifier":
            form["code_verifier"] = "w" * 43
        elif how == "no_verifier":
            del form["code_verifier"]
        response = self.post_as(client, "/token", form, how)
        held = value in self.codes and client is model.client
        refusal: Refusal = (
            (401, "invalid_client") if client.refused_as(how)  # RFC 6749 §5.2
            else (400, "unauthorized_client") if AC not in client.grant_types
            else (400, "invalid_grant") if not held or model.used or model.expires_at <= self.now
            else (400, "invalid_grant") if how in ("other_redirect_uri", "wrong_verifier")  # §4.1.3, RFC 7636 §4.6
            else (400, "invalid_request") if how == "no_verifier"
            else (400, "invalid_target") if how == "other_resource"  # RFC 8707 §2.2
            else None
        )  # fmt: skip
        if refusal == (400, "invalid_grant") and self.replays_revoke(model, client):
            # OAuth 2.1 §4.1.3: a second redemption is denied, and what the first issued revoked.
            for family in model.families:
                self.revoke_family(family)
            for token in model.access:
                self.revoke_access(token)
        if self.check(response, refusal):
            model.used, model.redeemed_at = True, self.now
            issued = self.record_tokens(response.json(), client, "alice", model.resource, model.scope, None)
            model.access.append(response.json()["access_token"])
            model.families += [issued.family] if issued.family else []

    def replays_revoke(self, code: MCode, client: MClient) -> bool:
        """A second redemption by the client that redeemed the code revokes for as long as the
        AS remembers the redemption: a refresh family's lifetime, where the code is kept 60 s."""
        return code.used and client is code.client and self.now < code.redeemed_at + REFRESH_TOKEN_LIFETIME

    @precondition(lambda self: self.refresh)
    @rule(which=st.integers(0, 999), how=st.sampled_from(REFRESH), other=st.integers(0, 99))
    def refresh_grant(self, which: int, how: str, other: int) -> None:
        self._refresh(self.pick_token(which, access=False), how, other)

    @precondition(lambda self: any(map(self.usable_refresh, self.refresh.values())))
    @rule(which=st.integers(0, 999), hours=st.integers(1, 10))
    def a_client_refreshes_narrowly_every_hour(self, which: int, hours: int) -> None:
        """Least privilege through a working day: each hour, an access token for one of the
        granted scopes only (OAuth 2.1 §4.3.1: a narrower scope may be asked for)."""
        family = self.refresh[self.pick([t for t, m in self.refresh.items() if self.usable_refresh(m)], which)].family
        for _ in range(hours):
            self.lab.clock.advance(3600)
            usable = [t for t, m in self.refresh.items() if m.family == family and self.usable_refresh(m)]
            if usable:
                self._refresh(usable[0], "narrow", 0)
                self.the_as_and_the_model_agree_on_what_is_usable()

    def _refresh(self, value: str, how: str, other: int) -> None:
        model = self.refresh[value]
        client = self.pick([c for c in self.clients if c is not model.client], other) if how == "other_client" else model.client  # fmt: skip
        form = {"grant_type": RT, "refresh_token": value}
        if how == "an_access_token" and self.access:
            form["refresh_token"] = self.pick(sorted(self.access), other)  # not a refresh token (OAuth 2.1 §4.3)
        granted = model.scope.split()
        form["scope"] = {"narrow": granted[other % len(granted)], "wider": "notes:read notes:write", "blank_scope": "  ",
                         "unknown_scope": f"{model.scope} notes:admin"}.get(how, "")  # fmt: skip
        if how in ("other_resource", "same_resource"):
            form["resource"] = (
                model.resource if how == "same_resource" else RESOURCES[1 - RESOURCES.index(model.resource)]
            )
        response = self.post_as(client, "/token", {k: v for k, v in form.items() if v}, how)
        now = self.now
        requested = list(dict.fromkeys(form["scope"].split()))
        held = form["refresh_token"] == value and value in self.server.refresh_tokens and client is model.client
        assert held or client is not model.client or form["refresh_token"] != value or model.family_ends <= now
        refusal: Refusal = (
            (401, "invalid_client") if client.refused_as(how)
            else (400, "unauthorized_client") if RT not in client.grant_types
            else (400, "invalid_grant") if not held or model.family_ends <= now
            else (400, "invalid_grant") if model.rotated or model.family in self.revoked_families
            else (400, "invalid_grant") if model.idle_ends <= now
            else (400, "invalid_scope") if not set(requested) <= set(granted)  # OAuth 2.1 §4.3.1: never wider
            else (400, "invalid_target") if how == "other_resource"  # RFC 8707 §2.2
            else None
        )  # fmt: skip
        if refusal == (400, "invalid_grant") and held and model.rotated and model.family_ends > now:
            self.revoke_family(model.family)  # OAuth 2.1 §4.3.1: reuse revokes the grant
        if self.check(response, refusal):
            scope = " ".join(requested) or model.scope
            self.record_tokens(response.json(), client, "alice", model.resource, scope, model)
            if "refresh_token" in response.json():
                model.rotated = True  # MCP §11.2: rotated
            else:
                # No replacement (narrowed to drop offline_access): the token stays (RFC 6749 §6),
                # and was just used, so its idle window starts again (OAuth 2.1 §4.3.3).
                model.idle_ends = min(self.now + REFRESH_TOKEN_IDLE_TIMEOUT, model.family_ends)

    @rule(who=st.integers(0, 99), resource=st.sampled_from(SENT_RESOURCES), scope=st.sampled_from(SENT_SCOPES))
    def client_credentials(self, who: int, resource: str | None, scope: str | None) -> None:
        # Mostly clients that registered the grant: the others are refused at the first check.
        able = [c for c in self.clients if CC in c.grant_types]
        client = self.pick(able if able and who % 4 else self.clients, who)
        form = {"grant_type": CC, "resource": resource or "", "scope": scope or ""}
        response = self.post_as(client, "/token", {k: v for k, v in form.items() if v})
        refusal: Refusal = (
            (401, "invalid_client") if client.gone
            else (400, "unauthorized_client") if CC not in client.grant_types or not client.confidential  # §4.2
            else (400, "invalid_target") if canonical(resource) is None
            else (400, "invalid_scope") if granted_scope(scope, self.scopes) is None
            else None
        )  # fmt: skip
        if self.check(response, refusal):
            self.record_tokens(response.json(), client, client.client_id, str(canonical(resource)), str(granted_scope(scope, self.scopes)), None)  # fmt: skip

    @precondition(lambda self: self.access)
    @rule(which=st.integers(0, 999), scope=st.sampled_from(["", "contacts:read", "notes:read"]), mangle=st.sampled_from(MANGLE))  # fmt: skip
    def exchange(self, which: int, scope: str, mangle: str) -> None:
        subject_token = self.pick_token(which, refresh=False)
        subject = self.access[subject_token]
        form = {"grant_type": TOKEN_EXCHANGE, "subject_token": mangled(subject_token, mangle),
                "subject_token_type": ACCESS_TOKEN_TYPE, "resource": DOWNSTREAM, "scope": scope}  # fmt: skip
        response = self.post_as(self.exchanger, "/token", {k: v for k, v in form.items() if v})
        refusal: Refusal = (
            (400, "invalid_request") if mangle != "as_is" or not subject.live(self.now) or subject.aud != MCP_URL  # §2.2.2
            else (400, "invalid_scope") if scope == "notes:read"  # RFC 8693 §5: narrowed, never widened
            else None
        )  # fmt: skip
        if self.check(response, refusal):
            body = response.json()
            assert body["issued_token_type"] == ACCESS_TOKEN_TYPE and "refresh_token" not in body  # §2.2.1
            claims = self.server.keys.verify(body["access_token"])
            assert claims is not None and claims["act"] == {"sub": EXCHANGER}  # §4.1
            assert (claims["aud"], claims["scope"], claims["sub"]) == (DOWNSTREAM, "contacts:read", subject.sub)
            self.access[body["access_token"]] = MAccess(EXCHANGER, subject.sub, DOWNSTREAM, "contacts:read", claims["exp"], subject.family)  # fmt: skip
            subject.children.append(body["access_token"])
