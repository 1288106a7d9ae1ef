"""The rules of `test_stateful_grants.py`'s model that make clients and grants: registration (RFC
7591) and a CIMD document that changes and disappears, the authorization request (OAuth 2.1
§4.1.1, §4.1.2.1) and the user's consent, and the common path from start to end."""

from __future__ import annotations

import html

import httpx
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from lab_servers import ISSUER
from lab_servers.authorization_server.authorize import CODE_LIFETIME, CONSENT_LIFETIME

from .grant_machine import GrantMachine
from .grant_model import (
    AC,
    APP,
    OTHER_CIMD_URL,
    REGISTRATIONS,
    RESOURCES,
    SENT_RESOURCES,
    SENT_SCOPES,
    MClient,
    MCode,
    MPending,
    canonical,
    granted_scope,
)  # fmt: skip
from .helpers import CHALLENGE

MAX_REGISTRATIONS = 12  # under the hardened policy's 20 a minute, so no step meets the rate limit


class AuthorizationRules(GrantMachine):
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
            # Back to the client, with its state and the issuer (OAuth 2.1 §4.1.2.1, RFC 9207 §2):
            # offered on the AS's page, as no client here was registered by an administrator (RFC
            # 9700 §4.11.2: the AS redirects at once only to a redirect URI it trusts).
            assert response.status_code == 400, response.text
            location = html.unescape(response.text.split('data-field="way_back" href="', 1)[1].split('"', 1)[0])
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
