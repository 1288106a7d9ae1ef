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

import asyncio
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from lab_servers import CLIENT_METADATA_URL, ISSUER, MCP_URL
from lab_servers.authorization_server.authorize import CODE_LIFETIME, CONSENT_LIFETIME
from lab_servers.authorization_server.grants import ExchangeRule
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.rfc8693 import ACCESS_TOKEN_TYPE
from lab_servers.authorization_server.rfc8693 import GRANT_TYPE as TOKEN_EXCHANGE
from lab_servers.authorization_server.token_records import REFRESH_TOKEN_IDLE_TIMEOUT, REFRESH_TOKEN_LIFETIME
from lab_servers.story import OTHER_MCP_URL, add_second_mcp_server, use_introspection

from .grant_model import (
    AC,
    APP,
    CC,
    DOWNSTREAM,
    EXCHANGER,
    INITIALIZE,
    MANGLE,
    OTHER_CIMD_URL,
    REDEEM,
    REFRESH,
    REGISTRATIONS,
    RESOURCES,
    RT,
    SCOPES,
    SENT_RESOURCES,
    SENT_SCOPES,
    MAccess,
    MClient,
    MCode,
    MPending,
    MRefresh,
    canonical,
    granted_scope,
    mangled,
)  # fmt: skip
from .helpers import CHALLENGE, VERIFIER
from .lab_machine import LabMachine
from .oauth_checks import assert_well_formed

MAX_REGISTRATIONS = 12  # under the hardened policy's 20 a minute, so no step meets the rate limit
Refusal = tuple[int, str] | None  # (status, error) the model expects, or None for success


class GrantModel(LabMachine):
    # MCP 2026-07-28 §10 (SEP-2207): with offline_access listed, a refresh token comes only with a
    # grant whose scope includes it (OfflineAccessGrantModel below).
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

    # Clients --------------------------------------------------------------------------------------

    @precondition(lambda self: self.registered < MAX_REGISTRATIONS)
    @rule(profile=st.integers(0, len(REGISTRATIONS) - 1))
    def register(self, profile: int) -> None:
        request = REGISTRATIONS[profile]
        response = self.send("POST", f"{ISSUER}/register", json=request)
        assert response.status_code == 201, response.text
        body = response.json()
        self.registered += 1
        auth = request["token_endpoint_auth_method"]
        # RFC 7591 §3.2.1: a secret only for a method that uses one; unknown members are dropped.
        assert ("client_secret" in body) == (auth != "none") and "x_unknown" not in body
        assert body["grant_types"] == request.get("grant_types", [AC])
        redirect_uris = request.get("redirect_uris", [])
        self.clients.append(
            MClient(body["client_id"], body["grant_types"], redirect_uris, auth, body.get("client_secret"))
        )

    @rule(version=st.sampled_from([0, 1, 2]))
    def the_second_cimd_document_changes(self, version: int) -> None:
        """Served with no-store, so the AS reads each change at once (CIMD §5: HTTP caching): two
        redirect URIs, then one, then no document at all."""
        client = next(c for c in self.clients if c.client_id == OTHER_CIMD_URL)
        client.redirect_uris = [f"{APP}/callback", f"{APP}/other"][: 2 - version]
        client.gone = version == 2
        if client.gone:
            self.lab.remove_client_document(OTHER_CIMD_URL)
            return
        document = {"client_id": OTHER_CIMD_URL, "client_name": "Second CIMD client", "redirect_uris": client.redirect_uris,
                    "grant_types": [AC], "response_types": ["code"], "token_endpoint_auth_method": "none"}  # fmt: skip
        self.lab.publish_client_document(OTHER_CIMD_URL, document, cache_control="no-store")

    # The authorization request and consent --------------------------------------------------------

    @rule(
        who=st.integers(0, 99), resource=st.sampled_from(SENT_RESOURCES), scope=st.sampled_from(SENT_SCOPES),
        redirect=st.integers(-1, 3), state=st.text("abcXYZ09-._~ &=?", max_size=6),
    )  # fmt: skip
    def authorize(self, who: int, resource: str | None, scope: str | None, redirect: int, state: str) -> None:
        self._authorize(self.pick(self.clients, who), resource, scope, redirect, state)

    def _authorize(self, client: MClient, resource: str | None, scope: str | None, redirect: int, state: str) -> str | None:  # fmt: skip
        params = {"response_type": "code", "client_id": client.client_id, "state": state, "code_challenge": CHALLENGE,
                  "code_challenge_method": "S256", "resource": resource, "scope": scope}  # fmt: skip
        if redirect >= 0 and client.redirect_uris:
            params["redirect_uri"] = self.pick(client.redirect_uris, redirect)
        elif redirect == -1:
            params["redirect_uri"] = f"{APP}/callback/elsewhere"
        response = self.send("GET", f"{ISSUER}/authorize", params={k: v for k, v in params.items() if v is not None})
        only = client.redirect_uris[0] if len(client.redirect_uris) == 1 else None
        redirect_uri = params.get("redirect_uri") or only
        if client.gone or redirect_uri not in client.redirect_uris:
            # OAuth 2.1 §4.1.2.1: an unknown client, or a redirect URI that is not registered (or
            # none when several are), is shown to the user, never redirected to. (`state=` is no
            # state, §3.1: the redirect carries none.)
            assert response.status_code == 400 and 'data-field="error"' in response.text, response.text
            return None
        error = ("unauthorized_client" if AC not in client.grant_types else "invalid_target" if canonical(resource) is None
                 else "invalid_scope" if granted_scope(scope, self.scopes) is None else None)  # fmt: skip
        if error is not None:
            # Back to the client, with its state and the issuer (OAuth 2.1 §4.1.2.1, RFC 9207 §2).
            assert response.status_code == 302, response.text
            location = response.headers["location"]
            assert location.startswith(redirect_uri + ("&" if "?" in redirect_uri else "?")), location
            params = httpx.URL(location).params
            assert (params["error"], params.get("state", ""), params["iss"]) == (error, state, ISSUER), params
            return None
        assert response.status_code == 200, response.text
        txn = response.text.split('name="txn" value="', 1)[1].split('"', 1)[0]
        self.pending = {t: p for t, p in self.pending.items() if p.expires_at > self.now}  # expired ones go
        self.pending[txn] = MPending(client, redirect_uri, str(canonical(resource)), str(granted_scope(scope, self.scopes)), state,
                                     self.now + CONSENT_LIFETIME)  # fmt: skip
        return txn

    @precondition(lambda self: self.pending)
    @rule(which=st.integers(0, 99), approve=st.sampled_from([True, True, True, False]))
    def decide(self, which: int, approve: bool) -> None:
        self._decide(self.pick(sorted(self.pending), which), approve)

    def _decide(self, txn: str, approve: bool) -> str | None:
        pending = self.pending.pop(txn)
        response = self.send(
            "POST", f"{ISSUER}/authorize/decision", data={"txn": txn, "decision": "approve" if approve else "deny"}
        )
        if pending.expires_at <= self.now:
            assert response.status_code == 400, response.text
            return None
        assert response.status_code == 303 and response.headers["location"].startswith(pending.redirect_uri)
        params = httpx.URL(response.headers["location"]).params
        assert (params.get("state", ""), params["iss"]) == (pending.state, ISSUER)
        if not approve:
            assert params["error"] == "access_denied"
            return None
        self.codes = {c: m for c, m in self.codes.items() if m.expires_at > self.now}  # expired ones go
        code = MCode(pending.client, pending.redirect_uri, pending.resource, pending.scope, self.now + CODE_LIFETIME)
        self.codes[params["code"]] = self.all_codes[params["code"]] = code
        return str(params["code"])

    @rule(who=st.integers(0, 99), resource=st.sampled_from(RESOURCES), scope=st.sampled_from(SENT_SCOPES[:6]))
    def a_user_connects_a_client(self, who: int, resource: str, scope: str | None) -> None:
        """The common path, start to end, so that later steps have tokens to use."""
        client = self.pick([c for c in self.clients if AC in c.grant_types and c.redirect_uris and not c.gone], who)
        if self.offline_access and who % 2:
            scope = f"{scope or 'notes:read'} offline_access"  # mostly a grant that brings a refresh token
        txn = self._authorize(client, resource, scope, 0, "s")
        code = self._decide(txn, approve=True) if txn else None
        if code:
            self._redeem(code, "ok", 0)

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
        if refusal == (400, "invalid_grant") and held and model.used:
            # OAuth 2.1 §4.1.3: a second redemption is denied, and what the first issued revoked.
            for family in model.families:
                self.revoke_family(family)
            for token in model.access:
                self.revoke_access(token)
        if self.check(response, refusal):
            model.used = True
            issued = self.record_tokens(response.json(), client, "alice", model.resource, model.scope, None)
            model.access.append(response.json()["access_token"])
            model.families += [issued.family] if issued.family else []

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
        if token in self.refresh:
            model = self.refresh[token]
            active = self.usable_refresh(model) and model.resource == resource
            expected = {"active": True, "client_id": model.client.client_id, "sub": "alice", "scope": model.scope}
        else:
            access = self.access[token]
            active = access.live(self.now) and access.aud == resource
            expected = {"active": True, "token_type": "Bearer", "client_id": access.client_id, "sub": access.sub,
                        "aud": access.aud, "scope": access.scope, "exp": access.exp, "iss": ISSUER}  # fmt: skip
        body = response.json()
        if active and mangle == "as_is":
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
        # (OAuth 2.1 §1.3.2): active at introspection, it names no audience, and is refused.
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
