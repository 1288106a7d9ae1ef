"""The complete story's extra hosts (notebook 07): a second MCP server, a downstream API behind the
first one, and the trust the AS is configured with for them.

Each function adds to an existing `Lab`, so the handshake notebooks keep their exact network:
- `add_second_mcp_server`: another resource on the same AS; a token minted for one MCP server
  is refused by the other (audience, RFC 8707 / MCP §9.2);
- `add_downstream_api`: `api.example.com`, and the MCP server registered at the AS as a
  confidential client (private_key_jwt with an Ed25519 key) allowed to exchange tokens for it
  (RFC 8693), plus a `list_contacts` tool that calls it;
- `use_introspection`: the MCP server asks the AS about every token (RFC 7662) instead of
  checking the JWT locally, so revocation takes effect at once, at every AS it accepts tokens
  from, through `lab.use_authorization_server` too; `use_local_jwt_check` goes back;
- `add_enterprise_idp` / `connect_enterprise`: enterprise-managed authorization (ID-JAG);
- `publish_service_client` / `connect_service`: client credentials (SEP-1046, OAuth 2.1 §4.2), a
  confidential CIMD client acting for itself, authenticated by its key.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

from .arguments import expect, flag
from .authorization_server import AuthorizationServer
from .authorization_server.grants import ExchangeRule
from .client import Credentials, LabClient
from .downstream_api import DownstreamApi
from .identity_provider import EnterpriseClient, IdentityProvider
from .lab import Lab, default_client_metadata
from .resource_server import DownstreamCaller, IntrospectingValidator, ResourceServer
from .resource_server.rfc7662 import Introspection

OTHER_MCP_HOST = "other-mcp.example.com"
OTHER_MCP_URL = f"https://{OTHER_MCP_HOST}/mcp"
OTHER_SCOPES = ("notes:read", "notes:write")
API_HOST = "api.example.com"
API_URL = f"https://{API_HOST}/"  # RFC 8707's examples keep the slash; compared exactly
MCP_SERVER_CLIENT_ID = "notes-mcp-server"  # the MCP server's own identity at the AS (the `act.sub`)
INTROSPECTION_CLIENT_ID = "introspection"
# The nightly job's private key, one per lab (publish_service_client).
_SERVICE_KEYS: WeakKeyDictionary[Lab, OKPKey] = WeakKeyDictionary()
IDP_HOST = "idp.example.com"
IDP_ISSUER = f"https://{IDP_HOST}"
ENTERPRISE_CLIENT_ID = "enterprise-agent"  # the agent's id at the enterprise IdP
ENTERPRISE_CLIENT_AT_AS = "enterprise-agent-at-notes"  # its id at the MCP server's AS (an admin registered it)
ADDRESSES = {OTHER_MCP_HOST: "93.184.215.40", API_HOST: "93.184.215.50", IDP_HOST: "93.184.215.60"}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SERVICE_CLIENT_ID = "https://app.example/service.json"  # a job's own CIMD document, beside the agent's


def add_second_mcp_server(lab: Lab) -> ResourceServer:
    _lab("add_second_mcp_server", lab)
    # Copied, as the AS copies the scopes it is built with (state.py): stored as it is, a change to
    # one lab's scopes for this server reached every lab's second MCP server after it.
    lab.auth_server.resource_scopes[OTHER_MCP_URL] = list(OTHER_SCOPES)
    server = ResourceServer(
        OTHER_MCP_URL, issuer=lab.issuer, http=lab.network.httpx_client(OTHER_MCP_HOST), clock=lab.clock
    )
    lab.network.add_host(OTHER_MCP_HOST, ADDRESSES[OTHER_MCP_HOST], server, lifespan=True)
    return server


def add_downstream_api(lab: Lab, *, allowed_scope: str = "contacts:read") -> DownstreamApi:
    """The API, the MCP server's confidential registration, and the AS's exchange rule."""
    _lab("add_downstream_api", lab)
    expect(
        str, allowed_scope, "add_downstream_api(allowed_scope=…) takes scopes in one string, such as 'contacts:read'"
    )
    api = DownstreamApi(
        API_URL,
        issuer=lab.issuer,
        trusted_actors={MCP_SERVER_CLIENT_ID},
        http=lab.network.httpx_client(API_HOST),
        clock=lab.clock,
    )
    lab.network.add_host(API_HOST, ADDRESSES[API_HOST], api)
    caller = DownstreamCaller(
        MCP_SERVER_CLIENT_ID,
        token_endpoint=lab.auth_server.token_endpoint,
        issuer=lab.issuer,
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
    lab.auth_server.exchange_rules[MCP_SERVER_CLIENT_ID] = ExchangeRule(
        serves=lab.mcp_url, targets={API_URL: frozenset(allowed_scope.split())}
    )
    lab.resource_server.connect_downstream(caller)
    return api


def use_introspection(lab: Lab, server: ResourceServer | None = None) -> IntrospectingValidator:
    """Switch an MCP server to RFC 7662 introspection, registering it as an authorised caller at
    each AS whose tokens it accepts, and at each one `lab.use_authorization_server` moves it to,
    until `use_local_jwt_check`: each AS is asked about its own tokens, so a token revoked at the
    old AS stays refused in a grace window. Returns the validator at the server's current AS.
    Already switched, it stays as it is: a second registration would change the secret under
    the validator a notebook may have kept (a learner re-running the cell)."""
    server = _server("use_introspection", lab, server)
    if server.introspection is None:
        # Every AS first, then the registrations: one that cannot be asked refused the switch after
        # the server had been registered (a secret-bearing client) at those before it, and a secret
        # drawn, so what a refused switch left behind changed what the next one drew.
        for issuer in server.local_validators:
            _introspected_at(lab, server, issuer)
        server.use_introspection(_introspection(lab, server))
    assert isinstance(server.validator, IntrospectingValidator), "use_introspection gave every issuer one"
    return server.validator


def _introspection(lab: Lab, server: ResourceServer) -> Introspection:
    """How `server` introspects at each of the lab's ASes: registered there on first use, once."""
    host = server.resource.split("/")[2]
    client_id = f"{INTROSPECTION_CLIENT_ID}.{host}"
    validators: dict[str, IntrospectingValidator] = {}

    def at(issuer: str) -> IntrospectingValidator:
        if issuer in validators:
            return validators[issuer]
        auth_server, method = _introspected_at(lab, server, issuer)
        # The lab's own AS keeps the secret it always had; another AS's is drawn for that AS.
        where = server.resource if issuer == lab.issuer else f"{server.resource} at {issuer}"
        secret = lab.ids.token(f"introspection-secret:{where}", 24)
        auth_server.preregister(
            client_id,
            {"client_name": "MCP server (introspection)", "grant_types": [], "token_endpoint_auth_method": method},
            secret,
        )
        auth_server.introspectors[client_id] = server.resource
        validators[issuer] = IntrospectingValidator(
            endpoint=auth_server.metadata()["introspection_endpoint"],
            client_id=client_id,
            client_secret=secret,
            audience=server.resource,
            http=lab.network.httpx_client(host),
            method=method,
        )
        return validators[issuer]

    return at


def _introspected_at(lab: Lab, server: ResourceServer, issuer: str) -> tuple[AuthorizationServer, str]:
    """The AS `issuer` names and the method `server` authenticates with at its /introspect;
    raises, naming why, where the server cannot introspect. Changes nothing."""
    auth_server = lab.authorization_servers.get(issuer)
    if auth_server is None:
        raise ValueError(
            f"{server.resource} introspects tokens (use_introspection), and {issuer} is no authorization "
            "server of this lab to register it at (RFC 7662 §2.1: the caller must be authorised there)"
        )
    return auth_server, _introspection_method(auth_server)


def _introspection_method(auth_server: AuthorizationServer) -> str:
    """How the MCP server authenticates at /introspect: with a secret, by a method the AS lists
    for that endpoint (RFC 8414 §2), Basic first. Registered for Basic whatever the AS offered,
    it was refused there, and every valid token with it (an AS without Basic)."""
    offered = auth_server.metadata().get("introspection_endpoint_auth_methods_supported", [])
    for method in ("client_secret_basic", "client_secret_post"):
        if method in offered:
            return method
    raise ValueError(
        f"the AS {auth_server.issuer} takes no client secret at its introspection endpoint "
        f"(introspection_endpoint_auth_methods_supported lists {', '.join(offered) or 'nothing'}), and the lab's "
        "MCP server authenticates with one (RFC 7662 §2.1): offer client_secret_basic or client_secret_post in "
        "ASCapabilities.token_endpoint_auth_methods, or check tokens locally (use_local_jwt_check)"
    )


def use_local_jwt_check(lab: Lab, server: ResourceServer | None = None) -> None:
    """Back to the default: the MCP server verifies each JWT itself, with the AS's keys."""
    _server("use_local_jwt_check", lab, server).use_local_jwt_check()


def add_enterprise_idp(lab: Lab) -> IdentityProvider:
    """The enterprise IdP, the AS's trust in it, and the agent registered at both, with the
    enterprise's policy: this agent may reach the lab's MCP server, and nothing else."""
    _lab("add_enterprise_idp", lab)
    idp = IdentityProvider(IDP_ISSUER, clock=lab.clock, ids=lab.ids)
    lab.network.add_host(IDP_HOST, ADDRESSES[IDP_HOST], idp)
    lab.auth_server.trusted_idps[IDP_ISSUER] = idp.jwks()
    secret_at_as = lab.ids.token("enterprise-agent-secret-at-as", 24)
    lab.auth_server.preregister(
        ENTERPRISE_CLIENT_AT_AS,
        {
            "client_name": "Enterprise Agent",
            "grant_types": [JWT_BEARER],
            "token_endpoint_auth_method": "client_secret_basic",
        },
        secret_at_as,
    )
    idp.clients[ENTERPRISE_CLIENT_ID] = EnterpriseClient(
        secret=lab.ids.token("enterprise-agent-secret-at-idp", 24),
        client_ids={lab.issuer: ENTERPRISE_CLIENT_AT_AS},
        allowed_resources={lab.mcp_url},
    )
    return idp


async def connect_enterprise(lab: Lab, idp: IdentityProvider, user: str = "alice") -> LabClient:
    """Discovery (steps 1-3), then the two enterprise steps instead of 4-6, then MCP (step 7)."""
    _lab("connect_enterprise", lab)
    expect(IdentityProvider, idp, "connect_enterprise takes the IdP second, what add_enterprise_idp(lab) returns")
    expect(str, user, "connect_enterprise(user=…) takes the user's name, a string such as 'alice'")
    client = lab.client("preregistered")
    for _ in range(3):
        await client.next_step()
    registered = lab.auth_server.registry.get(ENTERPRISE_CLIENT_AT_AS)
    secret = registered.client_secret if registered else None
    client.state.credentials = Credentials(ENTERPRISE_CLIENT_AT_AS, secret, "client_secret_basic")
    id_token = idp.sign_in(user, ENTERPRISE_CLIENT_ID)
    await client.request_id_jag(
        f"{IDP_ISSUER}/token", id_token, ENTERPRISE_CLIENT_ID, idp.clients[ENTERPRISE_CLIENT_ID].secret
    )
    await client.redeem_id_jag()
    await client.call_mcp()
    return client


def publish_service_client(lab: Lab, *, with_keys: bool = True) -> OKPKey:
    """A nightly job's client document at `SERVICE_CLIENT_ID`: a confidential client (SEP-1046)
    that may use only `client_credentials` and authenticates with `private_key_jwt`. The document
    publishes the public key; the private key, returned here, never leaves the client. Without
    keys the document is a public client's, which the AS refuses for this grant. The job has one
    key: published again, the document keeps it (a new one would not match the copy the AS cached)."""
    _lab("publish_service_client", lab)
    flag("publish_service_client(with_keys=…)", with_keys)
    if lab not in _SERVICE_KEYS:
        _SERVICE_KEYS[lab] = OKPKey.import_key(
            Ed25519PrivateKey.from_private_bytes(lab.ids.bytes("service-client-key", 32))
        )
    key = _SERVICE_KEYS[lab]
    # The AS asks every client document for redirect_uris (MCP's CIMD rules), a job's too,
    # although client credentials never redirects: the default document's serve.
    document: dict[str, Any] = {
        **default_client_metadata(SERVICE_CLIENT_ID),
        "client_name": "Nightly report job",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "token_endpoint_auth_method": "private_key_jwt" if with_keys else "none",
    }
    if with_keys:
        document["jwks"] = {"keys": [key.as_dict(private=False)]}
    lab.publish_client_document(SERVICE_CLIENT_ID, document)
    return key


async def connect_service(lab: Lab, key: OKPKey, *, call: bool = True) -> LabClient:
    """Discovery (steps 1-3), then client credentials (step 13) instead of 4-6: no user, no
    browser, no consent; then MCP (step 7) with the token, unless `call` is False."""
    _lab("connect_service", lab)
    expect(OKPKey, key, "connect_service takes the job's key second, what publish_service_client(lab) returns")
    flag("connect_service(call=…)", call)
    client = lab.client("cimd", client_metadata_url=SERVICE_CLIENT_ID)
    for _ in range(3):
        await client.next_step()
    client.state.credentials = Credentials(SERVICE_CLIENT_ID, None, "private_key_jwt", key, "Ed25519")
    await client.client_credentials()
    if call:
        await client.call_mcp()
    return client


def _lab(function: str, lab: object) -> Lab:
    """Each of these takes the learner's lab first: given anything else, it failed inside with an
    AttributeError ('int' object has no attribute 'issuer')."""
    return expect(Lab, lab, f"{function} takes the lab first, such as {function}(lab)")


def _server(function: str, lab: object, server: object) -> ResourceServer:
    if server is not None:
        return expect(ResourceServer, server, f"{function} takes an MCP server second, such as lab.resource_server")
    return _lab(function, lab).resource_server
