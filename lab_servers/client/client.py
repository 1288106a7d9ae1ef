"""The lab client: an MCP client and the OAuth client inside it, as seven explicit steps.

Each step is one method, named after what it does, in the order of the MCP authorization spec.
Each returns a `StepRecord` (the exchanges it made, what it learned, why, and where the spec
says so) and raises `StepError` naming the step when it cannot go on.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ..determinism import SeededIds
from ..trace import Trace, in_step
from .browser import Browser, ConsentPage, Redirect
from .discovery import authorization_server_metadata_urls, protected_resource_metadata_urls
from .records import STEPS, StepError, StepRecord
from .streamable_http import MCP_HEADERS, PROTOCOL_VERSION, json_rpc_response
from .www_authenticate import Challenge, bearer_challenge

RegistrationMethod = Literal["auto", "preregistered", "cimd", "dcr"]
# The user's answer at consent: "approve" or "deny", or a coroutine function that is shown the
# consent page and returns one of the two (how the stepper widget lets a person decide).
Decision = str | Callable[[ConsentPage], Awaitable[str]]
# MCP §10.1.2: cap step-up retries. Two step-ups make three authorizations with the first one,
# the most the conformance suite's auth/scope-retry-limit accepts.
MAX_STEP_UPS = 2


@dataclass
class Credentials:
    client_id: str
    client_secret: str | None = None
    token_endpoint_auth_method: str = "none"


@dataclass
class HandshakeState:
    """Everything the client has learned so far; each step adds to it."""

    challenge: Challenge | None = None
    resource_metadata: dict[str, Any] | None = None
    issuer: str | None = None
    as_metadata: dict[str, Any] | None = None
    credentials: Credentials | None = None
    registration_method: str | None = None
    code_verifier: str | None = None
    oauth_state: str | None = None
    scope: str | None = None
    authorization_url: str | None = None
    consent_page: ConsentPage | None = None
    code: str | None = None
    tokens: dict[str, Any] | None = None
    protocol_version: str | None = None
    whoami: dict[str, Any] | None = None

    @property
    def resource(self) -> str | None:
        return self.resource_metadata["resource"] if self.resource_metadata else None

    @property
    def access_token(self) -> str | None:
        return self.tokens.get("access_token") if self.tokens else None


def token_endpoint_auth_method(as_metadata: dict[str, Any], *, public: bool) -> str:
    """The method to use at the token endpoint, among those the AS supports. RFC 8414 §2: an
    absent list means client_secret_basic only. A public client prefers none when offered."""
    supported = as_metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    preferences = ["none", "client_secret_basic", "client_secret_post"] if public else ["client_secret_basic", "client_secret_post"]
    return next((m for m in preferences if m in supported), supported[0])


def _page_error(page: ConsentPage) -> str:
    if "error" in page.fields:
        return f"{page.fields['error']}: {page.fields.get('error_description', '')}"
    return f"HTTP {page.status} without an OAuth error ({page.html[:80]!r})"


def decode_jwt_payload(token: str) -> dict[str, Any] | None:
    """The claims, unverified, for display only; None for an opaque token. To an OAuth client an
    access token is opaque (RFC 6749 §1.4): only the resource server validates it."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


class _StepRun:
    def __init__(self, number: int) -> None:
        self.number, self.name, self.title, self.spec = STEPS[number - 1]
        self.learned: dict[str, Any] = {}
        self.explanation = ""
        self.notes: list[str] = []

    def fail(self, reason: str) -> StepError:
        return StepError(self.number, self.name, reason)


class LabClient:
    def __init__(
        self,
        mcp_url: str,
        *,
        http: httpx.AsyncClient,
        browser: Browser,
        trace: Trace,
        ids: SeededIds,
        method: RegistrationMethod = "auto",
        client_metadata: dict[str, Any] | None = None,
        client_metadata_url: str | None = None,
        preregistered: dict[str, Credentials] | None = None,
        decision: Decision = "approve",
        tool: str | None = "whoami",
    ) -> None:
        self.mcp_url = mcp_url
        self.http = http
        self.browser = browser
        self.trace = trace
        self.ids = ids
        self.method = method
        self.client_metadata = client_metadata or {}
        self.client_metadata_url = client_metadata_url
        self.preregistered = preregistered or {}  # keyed by AS issuer (MCP 2026-07-28: never reuse across ASes)
        self.decision = decision
        self.tool = tool  # the tool step 7 calls; None means the first one tools/list returns
        self.state = HandshakeState()
        self.records: list[StepRecord] = []
        self._rpc_id = 0

    # Running the handshake ---------------------------------------------------------------

    @property
    def next_step_number(self) -> int:
        return max((r.number for r in self.records if r.learned.get("error") is None), default=0) + 1

    async def next_step(self) -> StepRecord:
        steps = [
            self.request_without_token, self.discover_resource_metadata, self.discover_authorization_server,
            self.get_client_id, self.authorize, self.exchange_code, self.call_mcp,
        ]  # fmt: skip
        if self.next_step_number > len(steps):
            raise StepError(7, "mcp", "the handshake is already complete")
        return await steps[self.next_step_number - 1]()

    async def run_all(self) -> list[StepRecord]:
        while self.next_step_number <= 7:
            await self.next_step()
        return self.records

    @contextlib.contextmanager
    def _step(self, number: int) -> Iterator[_StepRun]:
        run = _StepRun(number)
        mark = self.trace.mark()
        error: StepError | None = None
        try:
            with in_step(run.name):
                yield run
        except StepError as exc:
            error = exc
        except httpx.HTTPError as exc:
            error = run.fail(f"HTTP request to {exc.request.url} failed: {exc}")
        except (ValueError, KeyError, TypeError) as exc:
            error = run.fail(f"unexpected response: {exc}")
        if error is not None:
            run.learned["error"] = error.reason
        exchanges = [e for e in self.trace.since(mark) if e.step == run.name]
        record = StepRecord(run.number, run.name, run.title, exchanges, run.learned, run.explanation, run.spec, run.notes)
        self.records.append(record)
        if error is not None:
            raise error from None

    # Step 1 ----------------------------------------------------------------------------------

    async def request_without_token(self) -> StepRecord:
        with self._step(1) as step:
            # A server may let initialize through and protect only what follows: go on without a
            # token until the first 401 (the conformance scope scenarios do exactly this).
            messages = [self._initialize_message(), {"jsonrpc": "2.0", "method": "notifications/initialized"},
                        self._request("tools/list", {})]  # fmt: skip
            for message in messages:
                response = await self._post_mcp(message, token=None)
                if response.status_code == 401:
                    break
            else:
                raise step.fail(f"expected 401 from an MCP request without a token, got {response.status_code}: this server requires no authorization")
            challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
            if challenge is None:
                raise step.fail("the 401 has no Bearer challenge in WWW-Authenticate (MCP §4.2)")
            self.state.challenge = challenge
            step.learned.update(resource_metadata=challenge.get("resource_metadata"), scope=challenge.get("scope"))
            step.explanation = (
                "The server refuses a request that carries no token, and its WWW-Authenticate challenge says "
                "where its Protected Resource Metadata lives (resource_metadata) and which scope this request needs. "
                "No error code: the client had not sent credentials yet (RFC 6750 §3.1)."
            )
        return self.records[-1]

    # Step 2 ----------------------------------------------------------------------------------

    async def discover_resource_metadata(self) -> StepRecord:
        with self._step(2) as step:
            header_url = self.state.challenge.get("resource_metadata") if self.state.challenge else None
            candidates = protected_resource_metadata_urls(self.mcp_url, header_url)
            found, metadata, tried = await self._first_found([c.url for c in candidates], step, "Protected Resource Metadata")
            expected_resource = candidates[found].expected_resource
            if not isinstance(metadata, dict) or metadata.get("resource") != expected_resource:
                got = metadata.get("resource") if isinstance(metadata, dict) else metadata
                raise step.fail(f"PRM resource {got!r} is not identical to {expected_resource!r}, the identifier this metadata URL was built from (RFC 9728 §3.3)")
            servers = metadata.get("authorization_servers")
            if not isinstance(servers, list) or not servers or not all(isinstance(s, str) for s in servers):
                raise step.fail("PRM lists no authorization_servers (MCP §4.1 requires at least one)")
            self.state.resource_metadata = metadata
            step.learned.update(tried=tried, resource=metadata["resource"], authorization_servers=servers,
                                scopes_supported=metadata.get("scopes_supported"))  # fmt: skip
            step.explanation = (
                "The header named the metadata URL, so the client fetched exactly that and probed nothing else."
                if header_url
                else "No URL in the challenge, so the client tried the well-known URIs: path-inserted first, then the root."
            ) + (" The metadata's resource is identical to the identifier the URL was built from (RFC 9728 §3.3),"
                 " and it names the authorization server.")
        return self.records[-1]

    # Step 3 ----------------------------------------------------------------------------------

    async def discover_authorization_server(self) -> StepRecord:
        with self._step(3) as step:
            issuer = self._require(self.state.resource_metadata, step, "PRM")["authorization_servers"][0]
            _, metadata, tried = await self._first_found(authorization_server_metadata_urls(issuer), step, "authorization server metadata")
            if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
                raise step.fail(f"AS metadata issuer mismatch: {metadata.get('issuer')!r} != {issuer!r} (RFC 8414 §3.3)")
            if "S256" not in (metadata.get("code_challenge_methods_supported") or []):
                raise step.fail("the AS does not advertise PKCE S256 in code_challenge_methods_supported; MCP §11.4 says refuse")
            for endpoint in ("authorization_endpoint", "token_endpoint"):
                if not isinstance(metadata.get(endpoint), str):
                    raise step.fail(f"AS metadata has no {endpoint} (RFC 8414 §2)")
            self.state.issuer, self.state.as_metadata = issuer, metadata
            step.learned.update(
                tried=tried,
                issuer=issuer,
                client_id_metadata_document_supported=metadata.get("client_id_metadata_document_supported", False),
                registration_endpoint=metadata.get("registration_endpoint"),
                code_challenge_methods_supported=metadata.get("code_challenge_methods_supported"),
            )
            step.explanation = (
                "RFC 8414 inserts the well-known segment after the host, and the issuer in the document must be "
                "identical to the one PRM named. PKCE S256 is advertised, so the flow may start."
            )
        return self.records[-1]

    # Step 4 ----------------------------------------------------------------------------------

    async def get_client_id(self) -> StepRecord:
        with self._step(4) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            method = self._choose_registration(metadata, step)
            if method == "preregistered":
                credentials = self.preregistered[self.state.issuer or ""]
                if credentials.client_secret and credentials.token_endpoint_auth_method == "none":
                    credentials.token_endpoint_auth_method = token_endpoint_auth_method(metadata, public=False)
                self.state.credentials = credentials
                step.explanation = "This client was registered with this AS out of band; it uses those credentials (MCP §5.2)."
            elif method == "cimd":
                self.state.credentials = Credentials(self.client_metadata_url or "")
                step.explanation = (
                    "The AS supports Client ID Metadata Documents, so the client_id is simply the URL of the "
                    "client's own JSON document. No request is made now: the AS will fetch the document when the "
                    "authorization request arrives."
                )
            else:
                self.state.credentials = await self._register(metadata, step)
                step.explanation = (
                    "The client registers itself with POST /register (RFC 7591) and the AS mints an opaque "
                    "client_id. The AS keeps a record; the client must store the id for this AS."
                )
            self.state.registration_method = method
            step.learned.update(method=method, client_id=self.state.credentials.client_id)
        return self.records[-1]

    def _choose_registration(self, metadata: dict[str, Any], step: _StepRun) -> str:
        has = {
            "preregistered": self.state.issuer in self.preregistered,
            "cimd": metadata.get("client_id_metadata_document_supported") is True and bool(self.client_metadata_url),
            "dcr": isinstance(metadata.get("registration_endpoint"), str),
        }
        if self.method != "auto":
            if not has[self.method]:
                raise step.fail(f"registration method {self.method!r} is not available with this AS")
            return self.method
        for method in ("preregistered", "cimd", "dcr"):  # MCP §5's priority order
            if has[method]:
                step.notes.append(f"chose {method} by the MCP §5 priority: pre-registered → CIMD → DCR")
                return method
        raise step.fail("no way to get a client_id: not pre-registered, no CIMD support, no registration_endpoint")

    async def _register(self, metadata: dict[str, Any], step: _StepRun) -> Credentials:
        body = {k: v for k, v in self.client_metadata.items() if k != "client_id"}
        body["token_endpoint_auth_method"] = token_endpoint_auth_method(metadata, public=True)
        response = await self.http.post(metadata["registration_endpoint"], json=body)
        if response.status_code != 201:
            error = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            raise step.fail(f"registration refused ({response.status_code} {error.get('error')}: {error.get('error_description')})")
        registered = response.json()
        step.learned.update(registration=registered)
        return Credentials(
            registered["client_id"], registered.get("client_secret"), registered.get("token_endpoint_auth_method", "client_secret_basic")
        )

    # Step 5 ----------------------------------------------------------------------------------

    async def authorize(self, decision: Decision | None = None, scope: str | None = None) -> StepRecord:
        with self._step(5) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            credentials = self._require(self.state.credentials, step, "a client_id")
            self.state.code_verifier = self.ids.token("pkce-verifier", 32)  # RFC 7636 §4.1: 43 characters
            self.state.oauth_state = self.ids.token("oauth-state", 16)
            self.state.scope = scope or self._choose_scope()
            params = {
                "response_type": "code",
                "client_id": credentials.client_id,
                "redirect_uri": self.redirect_uri,
                "code_challenge": create_s256_code_challenge(self.state.code_verifier),
                "code_challenge_method": "S256",
                "state": self.state.oauth_state,
                "resource": self.state.resource,
            }
            if self.state.scope:
                params["scope"] = self.state.scope
            url = metadata["authorization_endpoint"] + "?" + urlencode(params, quote_via=quote)
            self.state.authorization_url = url
            step.learned.update(authorization_url=url, scope=self.state.scope)
            outcome = await self.browser.open(url)
            if isinstance(outcome, ConsentPage):
                self.state.consent_page = outcome
                if not outcome.is_consent:
                    raise step.fail(f"the AS refused the request: {_page_error(outcome)}")
                step.learned.update(consent_shows=dict(outcome.fields))
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

    @property
    def redirect_uri(self) -> str:
        return self.client_metadata["redirect_uris"][0]

    def _choose_scope(self) -> str | None:
        # MCP §6: the challenge's scope; else all of PRM's scopes_supported; else omit scope.
        if self.state.challenge and self.state.challenge.get("scope"):
            return self.state.challenge.get("scope")
        supported = (self.state.resource_metadata or {}).get("scopes_supported")
        return " ".join(supported) if supported else None

    def _accept_redirect(self, redirect: Redirect, step: _StepRun) -> None:
        if not redirect.location.startswith(self.redirect_uri):
            raise step.fail(f"the AS redirected to {redirect.location!r}, not to this client's redirect_uri")
        params = redirect.params
        step.learned.update(redirect=redirect.location)
        if params.get("state") != self.state.oauth_state:
            raise step.fail("state in the redirect does not match the request: discard the response (MCP §11.5)")
        self._check_iss(params.get("iss"), step)
        if "error" in params:
            raise step.fail(f"the AS answered {params['error']}: {params.get('error_description', '')}")
        if not params.get("code"):
            raise step.fail("the redirect carries no code")
        self.state.code = params["code"]
        step.learned.update(code=params["code"], iss=params.get("iss"))

    def _check_iss(self, iss: str | None, step: _StepRun) -> None:
        # RFC 9207 §2.4, as MCP 2026-07-28 tabulates it: exact comparison, no normalisation.
        advertised = (self.state.as_metadata or {}).get("authorization_response_iss_parameter_supported") is True
        if iss is None and advertised:
            raise step.fail("the AS advertises iss in authorization responses but the redirect has none (RFC 9207 §2.4)")
        if iss is not None and iss != self.state.issuer:
            raise step.fail(f"iss {iss!r} in the redirect is not the issuer {self.state.issuer!r}: possible mix-up attack (RFC 9207)")

    # Step 6 ----------------------------------------------------------------------------------

    async def exchange_code(self) -> StepRecord:
        with self._step(6) as step:
            metadata = self._require(self.state.as_metadata, step, "AS metadata")
            code = self._require(self.state.code, step, "an authorization code")
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": self.state.code_verifier or "",
                "resource": self.state.resource or "",  # RFC 8707 §2.2: the same value as in step 5
            }
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

    async def _token_request(self, endpoint: str, form: dict[str, str], step: _StepRun) -> dict[str, Any]:
        credentials = self.state.credentials or Credentials("")
        headers = {}
        if credentials.token_endpoint_auth_method == "client_secret_basic" and credentials.client_secret:
            # RFC 6749 §2.3.1: form-urlencode each part before joining with ':'.
            pair = f"{quote(credentials.client_id, safe='')}:{quote(credentials.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form = {**form, "client_id": credentials.client_id}
            if credentials.token_endpoint_auth_method == "client_secret_post" and credentials.client_secret:
                form["client_secret"] = credentials.client_secret
        response = await self.http.post(endpoint, data=form, headers=headers)
        body = response.json()
        if response.status_code != 200:
            raise step.fail(f"the token endpoint answered {response.status_code} {body.get('error')}: {body.get('error_description')}")
        if str(body.get("token_type", "")).lower() != "bearer" or not body.get("access_token"):
            raise step.fail("the token response has no bearer access_token")
        self.state.tokens = body
        return body

    # Step 7 ----------------------------------------------------------------------------------

    async def call_mcp(self) -> StepRecord:
        with self._step(7) as step:
            token = self._require(self.state.access_token, step, "an access token")
            initialized = await self._rpc(self._initialize_message())
            self.state.protocol_version = initialized["protocolVersion"]
            notified = await self._post_mcp({"jsonrpc": "2.0", "method": "notifications/initialized"}, token)
            if notified.status_code != 202:
                raise step.fail(f"notifications/initialized answered {notified.status_code}, expected 202")
            tools = [t["name"] for t in (await self._rpc(self._request("tools/list", {})))["tools"]]
            name = self.tool or (tools[0] if tools else None)
            if name is None:
                raise step.fail("the server lists no tools to call")
            result = await self.call_tool(name)
            content = result.get("structuredContent")
            if content is None and result.get("content"):
                text = result["content"][0].get("text", "")
                content = json.loads(text) if text.startswith("{") else {"text": text}
            self.state.whoami = content
            step.learned.update(server=initialized.get("serverInfo", {}).get("name"), protocol_version=self.state.protocol_version,
                                tools=tools, whoami=content)  # fmt: skip
            step.explanation = (
                "Every MCP request carries Authorization: Bearer (MCP §9.1). The server validates the token's "
                "signature, issuer, audience and expiry, and whoami reports the caller as the token says."
            )
        return self.records[-1]

    async def call_tool(self, name: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a tool (with step-up, like every request after step 6) and return its result."""
        return await self._rpc(self._request("tools/call", {"name": name, "arguments": arguments or {}}))

    async def _rpc(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a JSON-RPC request with the token. On 403 insufficient_scope, re-authorize for the
        union of the granted and the challenged scopes and retry (MCP §10.1.2; the union is MCP
        2026-07-28's rule), at most `MAX_STEP_UPS` times."""
        step_ups = 0
        while True:
            response = await self._post_mcp(message, self.state.access_token)
            challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
            if response.status_code == 403 and challenge and challenge.get("error") == "insufficient_scope":
                if step_ups == MAX_STEP_UPS:
                    raise StepError(7, "mcp", f"{message['method']} still needs scope {challenge.get('scope')!r} "
                                              f"after {MAX_STEP_UPS} step-up authorizations; giving up (MCP §10.1.2)")  # fmt: skip
                step_ups += 1
                granted = set((self.state.tokens or {}).get("scope", "").split()) | set((self.state.scope or "").split())
                await self.authorize(scope=" ".join(sorted(granted | set((challenge.get("scope") or "").split()))))
                await self.exchange_code()
                continue
            if response.status_code != 200:
                raise StepError(7, "mcp", f"{message['method']} answered {response.status_code}: "
                                          f"{response.headers.get('www-authenticate') or response.text}")  # fmt: skip
            body = json_rpc_response(response, message["id"])
            if "error" in body:
                raise StepError(7, "mcp", f"{message['method']} failed: {body['error'].get('message')}")
            return body["result"]

    # Helpers ---------------------------------------------------------------------------------

    async def _first_found(self, urls: list[str], step: _StepRun, what: str) -> tuple[int, Any, list[str]]:
        """GET each URL in turn until one answers 200 (the discovery orders of MCP §4.2, §4.3).
        Returns its position in `urls`, its JSON body, and every URL tried with its status."""
        tried = []
        for position, url in enumerate(urls):
            response = await self.http.get(url)
            tried.append(f"{url} → {response.status_code}")
            if response.status_code == 200:
                return position, response.json(), tried
        raise step.fail(f"no {what} found; tried " + "; ".join(tried))

    def _require(self, value: Any, step: _StepRun, what: str) -> Any:
        if value is None:
            raise step.fail(f"needs {what} from an earlier step; run the steps in order")
        return value

    def _request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._rpc_id += 1
        return {"jsonrpc": "2.0", "id": self._rpc_id, "method": method, "params": params}

    def _initialize_message(self) -> dict[str, Any]:
        return self._request("initialize", {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": self.client_metadata.get("client_name", "lab-client"), "version": "1.0"},
        })  # fmt: skip

    async def _post_mcp(self, message: dict[str, Any], token: str | None) -> httpx.Response:
        headers = dict(MCP_HEADERS)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.state.protocol_version:
            headers["MCP-Protocol-Version"] = self.state.protocol_version
        return await self.http.post(self.mcp_url, content=json.dumps(message), headers=headers)

