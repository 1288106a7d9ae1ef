"""The complete story's extra hosts (notebook 07): a second MCP server, a downstream API behind the
first one, and the trust the AS is configured with for them.

Each function adds to an existing `Lab`, so the handshake notebooks keep their exact network:
- `add_second_mcp_server`: another resource on the same AS; a token minted for one MCP server
  is refused by the other (audience, RFC 8707 / MCP §9.2);
- `add_downstream_api`: `api.example.com`, and the MCP server registered at the AS as a
  confidential client (private_key_jwt with an Ed25519 key) allowed to exchange tokens for it
  (RFC 8693), plus a `list_contacts` tool that calls it;
- `use_introspection`: the MCP server asks the AS about every token (RFC 7662) instead of
  checking the JWT locally, so revocation takes effect at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .authorization_server.grants import ExchangeRule
from .downstream_api import DownstreamApi
from .resource_server import DownstreamCaller, IntrospectingValidator, ResourceServer

if TYPE_CHECKING:
    from .lab import Lab

OTHER_MCP_HOST = "other-mcp.example.com"
OTHER_MCP_URL = f"https://{OTHER_MCP_HOST}/mcp"
OTHER_SCOPES = ["notes:read", "notes:write"]
API_HOST = "api.example.com"
API_URL = f"https://{API_HOST}/"  # RFC 8707's examples keep the slash; compared exactly
MCP_SERVER_CLIENT_ID = "notes-mcp-server"  # the MCP server's own identity at the AS (the `act.sub`)
INTROSPECTION_CLIENT_ID = "introspection"
ADDRESSES = {OTHER_MCP_HOST: "93.184.215.40", API_HOST: "93.184.215.50"}
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def add_second_mcp_server(lab: Lab) -> ResourceServer:
    lab.auth_server.resource_scopes[OTHER_MCP_URL] = OTHER_SCOPES
    server = ResourceServer(OTHER_MCP_URL, issuer=lab.issuer, http=lab.network.httpx_client(OTHER_MCP_HOST), clock=lab.clock)
    lab.network.add_host(OTHER_MCP_HOST, ADDRESSES[OTHER_MCP_HOST], server, lifespan=True)
    return server


def add_downstream_api(lab: Lab, *, allowed_scope: str = "contacts:read") -> DownstreamApi:
    """The API, the MCP server's confidential registration, and the AS's exchange rule."""
    api = DownstreamApi(
        API_URL, issuer=lab.issuer, trusted_actors={MCP_SERVER_CLIENT_ID}, http=lab.network.httpx_client(API_HOST), clock=lab.clock
    )
    lab.network.add_host(API_HOST, ADDRESSES[API_HOST], api)
    caller = DownstreamCaller(
        MCP_SERVER_CLIENT_ID,
        token_endpoint=lab.auth_server.token_endpoint,
        api_url=API_URL,
        http=lab.network.httpx_client("mcp.example.com"),
        clock=lab.clock,
        ids=lab.ids,
    )
    # The administrator's registration: a key, not a secret ("confidential clients still need a key").
    lab.auth_server.preregister(
        MCP_SERVER_CLIENT_ID,
        {"client_name": "Notes MCP server", "grant_types": [TOKEN_EXCHANGE], "token_endpoint_auth_method": "private_key_jwt",
         "jwks": caller.jwks()},
    )  # fmt: skip
    lab.auth_server.exchange_rules[MCP_SERVER_CLIENT_ID] = ExchangeRule(serves=lab.mcp_url, targets={API_URL: frozenset(allowed_scope.split())})
    lab.resource_server.connect_downstream(caller)
    return api


def use_introspection(lab: Lab, server: ResourceServer | None = None) -> IntrospectingValidator:
    """Switch an MCP server to RFC 7662 introspection, registering it as an authorised caller."""
    server = server or lab.resource_server
    host = server.resource.split("/")[2]
    client_id = f"{INTROSPECTION_CLIENT_ID}.{host}"
    secret = lab.ids.token(f"introspection-secret:{server.resource}", 24)
    lab.auth_server.preregister(
        client_id, {"client_name": "MCP server (introspection)", "grant_types": [], "token_endpoint_auth_method": "client_secret_basic"}, secret
    )
    lab.auth_server.introspectors[client_id] = server.resource
    validator = IntrospectingValidator(
        endpoint=f"{lab.issuer}/introspect", client_id=client_id, client_secret=secret, audience=server.resource, http=lab.network.httpx_client(host)
    )
    server.validator = validator
    return validator
