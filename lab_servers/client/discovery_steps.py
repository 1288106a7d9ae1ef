"""Steps 1-3: the unauthenticated request and its challenge, Protected Resource Metadata (RFC
9728), and authorization server metadata (RFC 8414), in MCP §4's discovery orders."""

from __future__ import annotations

from typing import Any

import httpx

from ..arguments import is_string_list
from ..error_text import told
from ..revisions import UNSUPPORTED_PROTOCOL_VERSION
from ..rfc3986 import browser_reading_problem
from ..wellknown import AUTHORIZATION_SERVER, origin
from .base import ClientBase, StepRun
from .discovery import authorization_server_metadata_urls, protected_resource_metadata_urls
from .records import StepError, StepRecord
from .revisions import initialize_fallback, modern_error
from .server_data import receive, server_json, server_url, shown
from .streamable_http import json_rpc_response
from .www_authenticate import bearer_challenge


class DiscoverySteps(ClientBase):
    # Step 1 ----------------------------------------------------------------------------------

    async def request_without_token(self) -> StepRecord:
        with self._step(1) as step:
            if self.state.era is None:
                self.state.era = "modern" if self.revision.modern_transport else "legacy"
            response = await self._first_unauthorized(step.notes)
            # versioning §4: a 400 that is not a modern error means a legacy server, and a -32022
            # may list a version this client speaks by initialize. Fall back.
            fallback = self.state.era == "modern" and initialize_fallback(
                response, self.spoken_versions,
                "the modern request got a legacy 400: falling back to initialize (2026-07-28 versioning §4)",
            )  # fmt: skip
            if fallback:
                step.notes.append(fallback)
                self.state.era = "legacy"
                response = await self._first_unauthorized(step.notes)
            if response.status_code != 401:
                raise step.fail(f"expected 401 from an MCP request without a token, got {response.status_code}: "
                                f"{self._no_challenge(response)}")  # fmt: skip
            challenge = bearer_challenge(response.headers.get_list("www-authenticate"))
            if challenge is None:
                raise step.fail("the 401 has no Bearer challenge in WWW-Authenticate (MCP §4.2)")
            self.state.challenge = challenge
            if challenge.malformed:
                # MCP §4.2: use resource_metadata when the header gives it, else the well-known URLs.
                # A value cut short is not given: step 2 probes the well-known URLs instead.
                step.notes.append(f"the Bearer challenge is malformed: {challenge.malformed}; "
                                  "the client reads the parameters before it and ignores the rest")  # fmt: skip
            if challenge.repeated:
                # The names are the server's: quoted within bounds, as step 5's repeated parameters are.
                repeated = told(", ".join(sorted(set(challenge.repeated))))
                step.notes.append(f"the Bearer challenge repeats {repeated}, which RFC 6750 §3 forbids; the client "
                                  "reads the first value of each")  # fmt: skip
            step.learned.update(resource_metadata=challenge.get("resource_metadata"), scope=challenge.get("scope"),
                                revision=self.revision.version, era=self.state.era)  # fmt: skip
            step.explanation = (
                "The server refuses a request that carries no token, and its WWW-Authenticate challenge says "
                "where its Protected Resource Metadata lives (resource_metadata) and which scope this request needs. "
                "No error code: the client had not sent credentials yet (RFC 6750 §3.1)."
            )
        return self.records[-1]

    def _no_challenge(self, response: httpx.Response) -> str:
        """What an answer other than 401 says about the server. Only a 2xx, the request served
        without a token, says it requires no authorization; a 404 or a 5xx says nothing about it."""
        status = response.status_code
        modern = modern_error(response)
        if modern is not None and (self.state.era == "legacy" or modern["code"] == UNSUPPORTED_PROTOCOL_VERSION):
            # A modern error is a newer server (2026-07-28 streamable-http, "Backward
            # Compatibility"): to an initialize, any of them; to a modern request, -32022 alone
            # says the server speaks versions this client does not (step 1 fell back to
            # initialize when it listed one this client speaks there).
            return self._modern_refusal(modern)
        if 200 <= status < 300:
            return "the server answered without one, so it requires no authorization"
        if status == 404 and _in_session(response):
            return ("the server ended the session its initialize opened, and the new one too (MCP Streamable HTTP, "
                    "Session Management), which says nothing about authorization")  # fmt: skip
        if status == 404:
            return "no MCP endpoint or method at this URL, which says nothing about authorization"
        if status >= 500:
            return "the server failed (RFC 9110 §15.6), which says nothing about authorization"
        return (
            "not the Bearer challenge that asks a client to authorize (MCP §4.2, RFC 6750 §3), "
            "so nothing says whether the server requires authorization"
        )

    async def _first_unauthorized(self, notes: list[str]) -> httpx.Response:
        """The first answer that is no way on without a token. A 404 to a request carrying the
        session the initialize opened says the server ended that session: Streamable HTTP,
        Session Management, "When a client receives HTTP 404 in response to a request containing
        an Mcp-Session-Id, it MUST start a new session". Once, as step 7 does: a server that ends
        the new one too is answered as it answered (`_no_challenge`)."""
        response = await self._unauthorized_requests()
        if response.status_code == 404 and _in_session(response):
            notes.append("the server answered 404 in the session its initialize opened: the session ended, and the "
                         "client starts a new one (MCP Streamable HTTP, Session Management)")  # fmt: skip
            response = await self._unauthorized_requests()
        return response

    async def _unauthorized_requests(self) -> httpx.Response:
        # A server may let initialize through and protect only what follows: go on without a
        # token until the first 401 (the conformance scope scenarios do exactly this). A
        # 2026-07-28 client has no initialize to send (SEP-2575).
        if self.state.era == "modern":
            messages = [self._request("tools/list", {})]
        else:
            messages = [self._initialize_message(), {"jsonrpc": "2.0", "method": "notifications/initialized"},
                        self._request("tools/list", {})]  # fmt: skip
        for message in messages:
            response = await self._post_mcp(message, token=None)
            if response.status_code in (400, 401):
                break
            if message["method"] == "initialize" and response.status_code == 200:
                # 2025-06-18 basic/transports: once initialize has negotiated a version, every later
                # request carries it in MCP-Protocol-Version, the requests without a token too; and
                # the session it opened, in Mcp-Session-Id (Session Management).
                result = _initialize_result(response, message["id"], self.handshake_version)
                self.state.protocol_version = None if result is None else self._open_session(response, result)
        return response

    # Step 2 ----------------------------------------------------------------------------------

    async def discover_resource_metadata(self) -> StepRecord:
        with self._step(2) as step:
            header_url = self.state.challenge.get("resource_metadata") if self.state.challenge else None
            if not self.revision.protected_resource_metadata:
                self._use_mcp_origin_as_authorization_server(
                    step, "this client follows MCP 2025-03-26, which has no Protected Resource Metadata"
                )
                return self.records[-1]
            if not header_url and not self.revision.prm_well_known_probe:
                # 2025-06-18 §2.3.1: the 401 names the metadata URL; probing the well-known URLs
                # when it names none came in 2025-11-25 (SEP-985). A 401 without it is a 2025-03-26 server's.
                self._use_mcp_origin_as_authorization_server(
                    step,
                    f"the 401 names no resource_metadata, and a {self.revision} client looks nowhere else for it "
                    "(probing the well-known URLs came in 2025-11-25, SEP-985)",
                )
                return self.records[-1]
            candidates = protected_resource_metadata_urls(self.mcp_url, header_url)
            try:
                found, metadata, tried = await self._first_found(
                    [c.url for c in candidates], step, "Protected Resource Metadata", "RFC 9728 §3.2: a JSON object"
                )
            except StepError:
                if header_url:
                    raise
                # No PRM anywhere and no URL in the challenge: a 2025-03-26 server. Real clients
                # (the SDK, the conformance back-compat scenarios) fall back to its discovery.
                self._use_mcp_origin_as_authorization_server(
                    step, "no Protected Resource Metadata at any well-known URL: a 2025-03-26 server"
                )
                return self.records[-1]
            expected_resource = candidates[found].expected_resource
            if metadata.get("resource") != expected_resource:
                raise step.fail(
                    f"PRM resource {shown(metadata.get('resource'))} is not identical to {shown(expected_resource)}, the identifier this metadata URL was built from (RFC 9728 §3.3)"
                )
            servers = metadata.get("authorization_servers")
            if not isinstance(servers, list) or not servers:
                raise step.fail("PRM lists no authorization_servers (MCP §4.1 requires at least one)")
            if not is_string_list(servers):
                raise step.fail(
                    "PRM authorization_servers is not a JSON array of strings (RFC 9728 §2: issuer identifiers)"
                )
            if not is_string_list(metadata.get("scopes_supported") or []):
                # Step 5 joins them into the scope it asks for; " ".join("abc") is "a b c".
                raise step.fail("PRM scopes_supported is not a JSON array of strings (RFC 9728 §2)")
            self.state.resource_metadata = metadata
            step.learned.update(tried=tried, resource=metadata["resource"], authorization_servers=servers,
                                scopes_supported=metadata.get("scopes_supported"))  # fmt: skip
            step.explanation = (
                "The header named the metadata URL, so the client fetched exactly that and probed nothing else."
                if header_url
                else "No URL in the challenge, so the client tried the well-known URIs: path-inserted first, then the root."
            ) + (
                " The metadata's resource is identical to the identifier the URL was built from (RFC 9728 §3.3),"
                " and it names the authorization server."
            )
        return self.records[-1]

    def _use_mcp_origin_as_authorization_server(self, step: StepRun, why: str) -> None:
        # MCP 2025-03-26 §2.3.2: the authorization base URL is the MCP URL with its path discarded.
        base = origin(self.mcp_url)
        self.state.resource_metadata = None
        self.state.legacy_base = base
        step.learned.update(skipped=True, authorization_base_url=base, revision="2025-03-26")
        step.explanation = (
            f"No Protected Resource Metadata: {why}. MCP 2025-03-26 §2.3.2 takes the MCP server's origin "
            f"({base}) as the authorization base URL."
        )

    # Step 3 ----------------------------------------------------------------------------------

    async def discover_authorization_server(self) -> StepRecord:
        with self._step(3) as step:
            if self.state.legacy_base is not None:
                issuer, metadata, tried = await self._legacy_authorization_server(step)
            else:
                issuer = self._require(self.state.resource_metadata, step, "PRM")["authorization_servers"][0]
                # RFC 8414 §2: the issuer is an https URL with no query or fragment; checked before a
                # metadata URL is built from it (a query would be dropped, and another issuer read).
                server_url(issuer, "the authorization server PRM names", https=True)
                if "?" in issuer or "#" in issuer:
                    raise step.fail(
                        f"the issuer {shown(issuer)} PRM names has a query or a fragment: an issuer has neither (RFC 8414 §2)"
                    )
                urls = authorization_server_metadata_urls(issuer)
                if not self.revision.oidc_discovery:
                    urls = urls[:1]  # before 2025-11-25: RFC 8414 only
                _, metadata, tried = await self._first_found(
                    urls, step, "authorization server metadata", "RFC 8414 §3.2: a JSON object"
                )
            if metadata.get("issuer") != issuer:
                raise step.fail(
                    f"AS metadata issuer mismatch: {shown(metadata.get('issuer'))} != {shown(issuer)} (RFC 8414 §3.3)"
                )
            methods = metadata.get("code_challenge_methods_supported")
            # A list, not any container: "S256" is `in` the string "S256-not-really" too.
            if self.revision.oidc_discovery and not (is_string_list(methods) and "S256" in methods):
                raise step.fail(
                    "the AS does not advertise PKCE S256 in code_challenge_methods_supported; MCP §11.4 says refuse"
                )
            for endpoint in ("authorization_endpoint", "token_endpoint"):
                if not isinstance(metadata.get(endpoint), str):
                    raise step.fail(f"AS metadata has no {endpoint} (RFC 8414 §2)")
                server_url(metadata[endpoint], f"AS metadata {endpoint}", https=True)
            if "#" in metadata["authorization_endpoint"]:
                raise step.fail("AS metadata authorization_endpoint has a fragment: it MUST NOT (RFC 6749 §3.1)")
            problem = browser_reading_problem(metadata["authorization_endpoint"])
            if problem:
                # The user's browser opens this URL, reading it as the WHATWG URL Standard does; the
                # https check above read it as httpx does: in http://evil.example\@127.0.0.1/authorize
                # httpx's host is 127.0.0.1, where http is allowed, and a browser's is evil.example.
                raise step.fail(
                    f"AS metadata authorization_endpoint {shown(metadata['authorization_endpoint'])} {problem}; "
                    "the user's browser would open another URL than the one checked (MCP §11.3: https, loopback aside)"
                )
            for listed in ("scopes_supported", "token_endpoint_auth_methods_supported"):
                if not is_string_list(metadata.get(listed) or []):
                    # Step 4 picks a method from one, step 5 looks for offline_access in the other.
                    raise step.fail(f"AS metadata {listed} is not a JSON array of strings (RFC 8414 §2)")
            self.state.issuer, self.state.as_metadata = issuer, metadata
            step.learned.update(
                tried=tried,
                issuer=issuer,
                client_id_metadata_document_supported=metadata.get("client_id_metadata_document_supported", False),
                registration_endpoint=metadata.get("registration_endpoint"),
                code_challenge_methods_supported=metadata.get("code_challenge_methods_supported"),
            )
            step.explanation = (
                (
                    "RFC 8414 inserts the well-known segment after the host, and the issuer in the document must be "
                    "identical to the one PRM named. PKCE S256 is advertised, so the flow may start."
                )
                if self.state.legacy_base is None
                else (
                    "MCP 2025-03-26 §2.3.2-§2.3.3: AS metadata at the MCP origin; without it, the default endpoints "
                    "/authorize, /token and /register at that origin."
                )
            )
        return self.records[-1]

    async def _legacy_authorization_server(self, step: StepRun) -> tuple[str, dict[str, Any], list[str]]:
        base = server_url(self.state.legacy_base or "", "the authorization base URL", https=True)
        url = base + AUTHORIZATION_SERVER
        headers = {"MCP-Protocol-Version": "2025-03-26"}  # 2025-03-26 §2.3.2: SHOULD send it here
        response = await receive(self.http, "GET", url, headers=headers)
        tried = [f"{url} → {response.status_code}"]
        if response.status_code == 200:
            metadata = server_json(response.content, f"the authorization server metadata at {url}",
                                   rule="RFC 8414 §3.2: a JSON object")  # fmt: skip
            return base, metadata, tried
        if response.status_code != 404:
            raise step.fail(f"AS metadata at {url} answered {response.status_code}")
        # 2025-03-26 §2.3.3: without metadata, clients MUST use the default paths on the base URL.
        step.notes.append("no AS metadata at the MCP origin: using the 2025-03-26 default endpoints (§2.3.3)")
        if self.state.challenge and self.state.challenge.get("resource_metadata"):
            # The lab's narration, not the client's knowledge: resource_metadata came in 2025-06-18.
            step.notes.append(
                "the lab's diagnosis: the 401 named Protected Resource Metadata (RFC 9728), so this server follows "
                f"MCP 2025-06-18 or later and is not its own AS; a {self.revision} client does not read that "
                "parameter, so it goes on to default endpoints that are not there (revision mismatch)"
            )
        defaults = {"issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                    "registration_endpoint": f"{base}/register", "code_challenge_methods_supported": ["S256"]}  # fmt: skip
        return base, defaults, tried


def _initialize_result(response: httpx.Response, request_id: int, version: str) -> dict[str, Any] | None:
    """The result of an initialize let through without a token, or None when the answer is no
    JSON-RPC response to it: an answer the client cannot read negotiated nothing. A result it can
    read negotiated a version, which `_open_session` checks."""
    try:
        result = json_rpc_response(response, request_id, version).get("result")
    except ValueError:  # ServerDataRefused too
        return None
    return result if isinstance(result, dict) else None


def _in_session(response: httpx.Response) -> bool:
    """Whether `response` answers a request that carried an Mcp-Session-Id."""
    return "Mcp-Session-Id" in response.request.headers
