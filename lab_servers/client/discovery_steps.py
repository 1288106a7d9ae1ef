"""Steps 1-3: the unauthenticated request and its challenge, Protected Resource Metadata (RFC
9728), and authorization server metadata (RFC 8414), in MCP §4's discovery orders."""

from __future__ import annotations

from .base import ClientBase
from .discovery import authorization_server_metadata_urls, protected_resource_metadata_urls
from .records import StepRecord
from .www_authenticate import bearer_challenge


class DiscoverySteps(ClientBase):
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
