"""Steps 5-6: the authorization request through the user's browser and consent (OAuth 2.1
§4.1, PKCE, RFC 8707 `resource`, RFC 9207 `iss`), then the code → token exchange."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey

from ..arguments import wrong_type
from ..error_text import reason, told
from .base import ClientBase, Decision, StepRun, check_decision
from .browser import ConsentPage, Redirect
from .client_id_url import redirect_uri_problem
from .records import StepRecord, TokenRequestFailed
from .server_data import ServerDataRefused, member, receive, server_json, server_url, shown
from .state import Credentials, decode_jwt_payload

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _page_error(page: ConsentPage) -> str:
    if "error" in page.fields:
        said = f"{told(page.fields['error'])}: {told(page.fields.get('error_description', ''))}"
        if page.way_back:
            # RFC 9700 §4.11.2: the AS redirects at once only to a redirect URI it trusts; it
            # offered this client's to the user instead, who may follow it or not.
            said += " (shown on the AS's page, with a link back to the client for the user to follow)"
        return said
    return f"HTTP {page.status} without an OAuth error ({page.html[:80]!r})"


def _authorization_request_url(endpoint: str, params: dict[str, str], step: StepRun) -> str:
    """The endpoint with the request's parameters added to its query. RFC 6749 §3.1: the endpoint
    URI "MAY include a query component, which MUST be retained when adding additional query
    parameters", and a parameter "MUST NOT be included more than once"."""
    parts = urlsplit(endpoint)
    clashing = sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True)} & set(params))
    if clashing:
        raise step.fail(
            f"authorization_endpoint's own query already has {', '.join(clashing)}: the request would repeat it "
            "(RFC 6749 §3.1: parameters MUST NOT be included more than once)"
        )
    query = urlencode(params, quote_via=quote)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def _missing_credential(credentials: Credentials) -> str | None:
    """What a confidential client lacks to authenticate by its method, said before any request:
    sent without it, the token endpoint could only answer invalid_client, naming nothing."""
    method = credentials.token_endpoint_auth_method
    if method == "private_key_jwt" and credentials.private_key is None:
        return (
            f"client {shown(credentials.client_id)} authenticates with private_key_jwt but holds no private key to sign "
            "its client assertion (RFC 7523 §2.2: the client authenticates with a JWT it signs); give its "
            "Credentials a private_key"
        )
    if method in ("client_secret_basic", "client_secret_post") and not credentials.client_secret:
        return (
            f"client {shown(credentials.client_id)} authenticates with {method} but holds no client_secret (RFC 6749 "
            "§2.3.1: a client given a password sends its client_secret); give its Credentials a client_secret, or "
            "make it a public client (token_endpoint_auth_method 'none')"
        )
    return None


class AuthorizationSteps(ClientBase):
    # Step 5 ----------------------------------------------------------------------------------

    async def authorize(self, decision: Decision | None = None, scope: str | None = None) -> StepRecord:
        # Checked before the step: inside it, a TypeError would read as the server's fault.
        check_decision("decision", self.decision if decision is None else decision)
        if scope is not None and not isinstance(scope, str):
            raise wrong_type(
                "authorize(scope=…) takes the scopes as one string, such as 'notes:read notes:write'", scope
            )
        with self._step(5) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            credentials = self._require(self.state.credentials, step, "a client_id")
            problem = redirect_uri_problem(self.redirect_uri)
            if problem:
                raise step.fail(f"this client's redirect URI {self.redirect_uri!r} cannot be used: {problem}")
            self.state.code_verifier = self.ids.token("pkce-verifier", 32)  # RFC 7636 §4.1: 43 characters
            self.state.oauth_state = self.ids.token("oauth-state", 16)
            self.state.request_issuer, self.state.grant = self.state.issuer, None
            self.state.scope = self._with_offline_access(scope or self._choose_scope(), metadata)
            params = {
                "response_type": "code",
                "client_id": credentials.client_id,
                "redirect_uri": self.redirect_uri,
                "code_challenge": create_s256_code_challenge(self.state.code_verifier),
                "code_challenge_method": "S256",
                "state": self.state.oauth_state,
            }
            params.update(self._resource_parameter())  # RFC 8707, MCP 2025-06-18 on
            if self.state.scope:
                params["scope"] = self.state.scope
            url = _authorization_request_url(metadata["authorization_endpoint"], params, step)
            self.state.authorization_url = url
            step.learned.update(authorization_url=url, scope=self.state.scope)
            outcome = await self.browser.open(url, stop_at=self.redirect_uri)
            if isinstance(outcome, ConsentPage):
                self.state.consent_page = outcome
                if not outcome.is_consent:
                    raise step.fail(f"the AS refused the request: {_page_error(outcome)}")
                step.learned.update(consent_shows=dict(outcome.fields))
                # The form posts the user's decision (and the AS's session) to the AS: its endpoint too.
                server_url(outcome.action, "the consent form's action", https=True)
                choice = decision or self.decision
                if callable(choice):
                    choice = await choice(outcome)
                outcome = await self.browser.decide(outcome, choice)
                if isinstance(outcome, ConsentPage):
                    raise step.fail(f"the consent form failed: {_page_error(outcome)}")
            self._accept_redirect(outcome, step)
            step.explanation = (
                "The browser opens the authorization URL: PKCE S256 challenge, state, resource (the MCP server's "
                "canonical URI) and scope. The user sees the consent page and decides; the AS redirects back with "
                "code, state and iss, and the client checks state and iss before going on."
            )
        return self.records[-1]

    def _with_offline_access(self, scope: str | None, metadata: dict[str, Any]) -> str | None:
        # MCP 2026-07-28 §10 (SEP-2207): a client that wants refresh tokens MAY add offline_access,
        # but only when the AS lists it in scopes_supported; the AS decides either way.
        wants = "refresh_token" in self.client_metadata.get("grant_types", [])
        if not self.revision.offline_access:
            return scope  # offline_access guidance arrived in 2026-07-28
        if scope is None or not wants or "offline_access" not in (metadata.get("scopes_supported") or []):
            return scope
        return scope if "offline_access" in scope.split() else f"{scope} offline_access"

    def _choose_scope(self) -> str | None:
        # MCP §6: the challenge's scope; else all of PRM's scopes_supported; else omit scope.
        if self.state.challenge and self.state.challenge.get("scope"):
            scope = self.state.challenge.get("scope")
        else:
            supported = (self.state.resource_metadata or {}).get("scopes_supported")
            scope = " ".join(supported) if supported else None
        return scope

    def _accept_redirect(self, redirect: Redirect, step: StepRun) -> None:
        # The redirect URI exactly, then only the response's query (RFC 6749 §3.1.2: the AS adds
        # its parameters to it): a prefix match would take https://app.example/callback.evil too.
        joiner = "&" if "?" in self.redirect_uri else "?"
        if redirect.location != self.redirect_uri and not redirect.location.startswith(self.redirect_uri + joiner):
            raise step.fail(f"the AS redirected to {shown(redirect.location)}, not to this client's redirect_uri")
        if redirect.repeated:
            raise step.fail(
                f"the redirect repeats {told(', '.join(redirect.repeated))}: parameters MUST NOT be included more than "
                "once (RFC 6749 §3.1, OAuth 2.1 §3.1); which one the AS meant is unknowable, so the response is refused"
            )
        params = redirect.params
        step.learned.update(redirect=redirect.location)
        if params.get("state") != self.state.oauth_state:
            raise step.fail("state in the redirect does not match the request: discard the response (MCP §11.5)")
        self._check_iss(params.get("iss"), step)
        if "error" in params:
            raise step.fail(f"the AS answered {told(params['error'])}: {told(params.get('error_description', ''))}")
        if not params.get("code"):
            raise step.fail("the redirect carries no code")
        self.state.code, self.state.code_sent = params["code"], False
        step.learned.update(code=params["code"], iss=params.get("iss"))

    def _check_iss(self, iss: str | None, step: StepRun) -> None:
        # RFC 9207 §2.4, as MCP 2026-07-28 tabulates it: exact comparison, no normalisation.
        # Before 2026-07-28 MCP asked no iss check of clients; such a client does not look.
        if not self.revision.iss_check:
            if iss is not None and iss != self.state.issuer:
                step.notes.append(
                    f"iss {shown(iss)} is not {shown(self.state.issuer)}, but a {self.revision} client does not check it"
                )
            return
        advertised = (self.state.as_metadata or {}).get("authorization_response_iss_parameter_supported") is True
        if iss is None and advertised:
            raise step.fail(
                "the AS advertises iss in authorization responses but the redirect has none (RFC 9207 §2.4)"
            )
        if iss is not None and iss != self.state.issuer:
            raise step.fail(
                f"iss {shown(iss)} in the redirect is not the issuer {shown(self.state.issuer)}: possible mix-up attack (RFC 9207)"
            )

    # Step 6 ----------------------------------------------------------------------------------

    async def exchange_code(self) -> StepRecord:
        with self._step(6) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            code = self._require(self.state.code, step, "an authorization code")
            if self.state.request_issuer != self.state.issuer:
                # The code and its verifier belong to the AS that issued the code. Discovery has
                # since moved to another AS (steps 2-3 again): redeeming there is the mix-up
                # RFC 9207 defends against (MCP 2026-07-28 §7.1, security considerations §5).
                raise step.fail(
                    f"the code came from {shown(self.state.request_issuer)}, but the client now talks to "
                    f"{shown(self.state.issuer)}: it sends a code only to the AS it asked for it (RFC 9207 §2.4; MCP "
                    "2026-07-28 §7.1). Run step 5 again with this AS"
                )
            if self.state.code_sent:
                raise step.fail(
                    "this client already sent its authorization code to the token endpoint, and the client MUST NOT "
                    "use a code more than once (RFC 6749 §4.1.2; OAuth 2.1 §4.1.3: the AS would refuse it and revoke "
                    "the tokens issued from it). Run step 5 again for a new code"
                )
            self._authenticating_credentials(step)  # a code is not spent on a request that cannot authenticate
            self.state.code_sent = True
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": self.state.code_verifier or "",
            }
            form.update(self._resource_parameter())  # RFC 8707 §2.2: the same value as in step 5
            tokens = await self._token_request(metadata["token_endpoint"], form, step)
            claims = decode_jwt_payload(tokens["access_token"])
            step.learned.update(token_type=tokens.get("token_type"), expires_in=tokens.get("expires_in"), claims=claims,
                                refresh_token=bool(tokens.get("refresh_token")))  # fmt: skip
            step.explanation = (
                "The client proves it started this flow (the PKCE code_verifier) and names the same resource. "
                "The AS answers with a JWT access token whose aud is the MCP server and whose client_id is the "
                "id from step 4."
            )
        return self.records[-1]

    def _client_assertion(self, credentials: Credentials) -> str:
        """RFC 7523 §3: iss = sub = client_id, aud = the AS's issuer alone (never its token endpoint:
        draft-ietf-oauth-rfc7523bis §4), short-lived, single-use jti."""
        now = self.now()
        claims = {"iss": credentials.client_id, "sub": credentials.client_id, "aud": self.state.issuer or "",
                  "iat": now, "exp": now + 60, "jti": self.ids.token("client-assertion-jti", 12)}  # fmt: skip
        key = credentials.private_key
        if isinstance(key, str):
            key = ECKey.import_key(key) if credentials.signing_algorithm.startswith("ES") else OKPKey.import_key(key)
        algorithm = credentials.signing_algorithm
        return jwt.encode({"alg": algorithm, "typ": "JWT"}, claims, key, algorithms=[algorithm])

    def _authenticating_credentials(self, step: StepRun) -> Credentials:
        """The credentials the token request authenticates with; the step fails, before anything is
        sent, when they lack what their method needs."""
        credentials = self.state.credentials or Credentials("")
        missing = _missing_credential(credentials)
        if missing:
            raise step.fail(missing)
        return credentials

    async def _token_request(self, endpoint: str, form: dict[str, str], step: StepRun) -> dict[str, Any]:
        credentials = self._authenticating_credentials(step)
        headers = {}
        if credentials.token_endpoint_auth_method == "private_key_jwt":
            form = {
                **form,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": self._client_assertion(credentials),
            }
        elif credentials.token_endpoint_auth_method == "client_secret_basic" and credentials.client_secret:
            # RFC 6749 §2.3.1: form-urlencode each part before joining with ':'.
            pair = f"{quote(credentials.client_id, safe='')}:{quote(credentials.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form = {**form, "client_id": credentials.client_id}
            if credentials.token_endpoint_auth_method == "client_secret_post" and credentials.client_secret:
                form["client_secret"] = credentials.client_secret
        # A failure says whether an answer came and which (TokenRequestFailed), in the words
        # ClientBase._step gives any failed request or refused body: after a 401, a refresh the AS
        # can no longer make sends the client to discover again (McpStep._rpc).
        url = server_url(endpoint, "the token endpoint", https=True)
        try:
            response = await receive(self.http, "POST", url, data=form, headers=headers)
        except httpx.TransportError as exc:
            raise TokenRequestFailed(
                step.number,
                step.name,
                f"HTTP request to {told(str(exc.request.url))} failed: {told(reason(exc))}",
                None,
            ) from None
        if response.status_code != 200:
            try:
                body = server_json(response.content, f"the token endpoint's {response.status_code} answer",
                                   rule="RFC 6749 §5.2: a JSON object")  # fmt: skip
            except ServerDataRefused as refused:  # a removed endpoint's HTML 404, say
                raise TokenRequestFailed(step.number, step.name, refused.reason, response.status_code) from None
            raise TokenRequestFailed(
                step.number,
                step.name,
                f"the token endpoint answered {response.status_code} {told(body.get('error'))}: "
                f"{told(body.get('error_description'))}",
                response.status_code,
                body.get("error"),
            )
        body = server_json(response.content, "the token response", rule="RFC 6749 §5.1: a JSON object")
        if str(body.get("token_type", "")).lower() != "bearer" or not body.get("access_token"):
            raise step.fail("the token response has no bearer access_token")
        # RFC 6749 §5.1: each of these is a string. The client sends the refresh token back in a
        # form, splits the scope (step-up) and reads the access token's claims for display.
        for name in ("access_token", "refresh_token", "scope"):
            if member(body, name, str, "the token response's", rule="RFC 6749 §5.1") is None:
                # A null is no string: read as left out, and kept out, so that no later step finds
                # a None where a string or nothing is. `"scope": null` crashed step-up's split().
                body.pop(name, None)
        self.state.tokens, self.state.tokens_issuer = body, self.state.issuer
        return body
