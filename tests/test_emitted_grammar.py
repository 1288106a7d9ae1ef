"""Everything the lab's servers send is written as the specs write it, whatever they were sent.

The readers are strict about what reaches the lab; these tests turn the same strictness round.
Each test runs exchanges (the handshakes of every revision, notebook 07's story, and a long list
of refusals with hostile values to reflect), then holds every traced response to the grammar
(`emitted_http`, `emitted_bodies`): RFC 9110's fields (challenges, Allow on a 405, Accept on a
415, Location a URI-reference, one Date from the lab clock on every answer), RFC 6750 §3's challenge attributes, RFC 6749's errors, token
responses and redirects, RFC 7591's registration, RFC 7662's introspection, RFC 8414 and RFC
9728 metadata, and JSON-RPC 2.0 at the MCP endpoint.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable
from urllib.parse import quote

import httpx
import pytest

from lab_servers import ISSUER, MCP_URL, ASCapabilities, Lab
from lab_servers.client import ConsentPage
from lab_servers.lab import default_client_metadata
from lab_servers.revisions import REVISIONS
from lab_servers.story import (
    API_URL,
    IDP_ISSUER,
    OTHER_MCP_URL,
    add_downstream_api,
    add_enterprise_idp,
    add_second_mcp_server,
    connect_enterprise,
    connect_service,
    publish_service_client,
    use_introspection,
    use_local_jwt_check,
)
from lab_servers.trace import Exchange

from .emitted_bodies import problems
from .emitted_http import date_problems
from .helpers import assert_oauth_error, authorization_url, get_code, jwt_with_header, open_authorization, register

pytestmark = pytest.mark.anyio

# Values a server might reflect: both characters quoted-string escapes, a space, a CTL, non-ASCII,
# and the delimiters of a query string and a header list.
HOSTILE = 'a"b\\c d\te\u00e9\u2028&x=1#f,g;h'
# The same within RFC 6749 Appendix A.5's state (1*VSCHAR, printable ASCII): the AS sends a state
# back as it came, so it refuses, on its page, one that no redirect could carry in the grammar.
HOSTILE_STATE = 'a"b\\c d&x=1#f,g;h'
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


def assert_as_the_specs_write_it(lab: Lab, exchanges: Iterable[Exchange]) -> None:
    issuer = lab.issuer if lab.auth_server.capabilities.iss_parameter else None
    # In process, each answer's Date is the lab clock's time when it was sent (RFC 9110 §6.6.1).
    found = sorted(
        {
            f"{e.method} {e.url[:150]} -> {e.status}: {p}"
            for e in exchanges
            for p in [*problems(e, issuer=issuer), *date_problems(e, e.at)]
        }
    )
    assert not found, "\n".join(found)


# Every revision's DCR handshake, and its CIMD one where it has CIMD (2025-11-25 on).
HANDSHAKES = [
    (name, method) for name, rev in REVISIONS.items() for method in ("dcr", "cimd") if method == "dcr" or rev.cimd
]


@pytest.mark.parametrize(("revision", "method"), HANDSHAKES)
async def test_every_answer_in_a_handshake_is_as_the_specs_write_it(revision: str, method: str) -> None:
    async with Lab(seed=0, revision=revision) as lab:
        await lab.connect(method)  # type: ignore[arg-type]
        assert_as_the_specs_write_it(lab, lab.trace.exchanges)


async def test_every_answer_in_the_complete_story_is_as_the_specs_write_it(lab: Lab) -> None:
    # Notebook 07: refresh on expiry, step-up, revocation, introspection, token exchange to the
    # downstream API, the enterprise IdP's ID-JAG, client credentials.
    add_downstream_api(lab)
    add_second_mcp_server(lab)
    client = (await lab.connect("cimd")).client
    lab.clock.advance(901)
    await client.call_tool("whoami")
    connection = await lab.connect("cimd")
    client = connection.client
    await client.call_tool("add_note", {"text": "buy milk"})
    async with lab.httpx_client("client") as http:
        await http.post(
            f"{ISSUER}/revoke", data={"token": client.state.access_token, "client_id": connection.client_id}
        )
    use_introspection(lab)
    await client.call_tool("whoami")
    use_local_jwt_check(lab)
    await client.call_tool("list_contacts")
    await connect_enterprise(lab, add_enterprise_idp(lab))
    await connect_service(lab, publish_service_client(lab))
    assert_as_the_specs_write_it(lab, lab.trace.exchanges)


async def send(lab: Lab, method: str, url: str, caller: str = "client", **kwargs: object) -> httpx.Response:
    async with lab.httpx_client(caller) as http:
        return await http.request(method, url, **kwargs)  # type: ignore[arg-type]


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


async def test_every_refusal_of_the_mcp_server_and_the_downstream_api_is_as_the_specs_write_it(lab: Lab) -> None:
    add_downstream_api(lab)
    add_second_mcp_server(lab)
    token = (await lab.connect("cimd")).access_token
    bearer = {"Authorization": f"Bearer {token}", **MCP_ACCEPT}
    hostile_kid = jwt_with_header(json.dumps({"alg": "Ed25519", "typ": "at+jwt", "kid": HOSTILE}), {"iss": ISSUER})
    hostile_iss = jwt_with_header(json.dumps({"alg": "Ed25519", "typ": "at+jwt"}), {"iss": HOSTILE})
    start = len(lab.trace.exchanges)
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer abc"}, {"Authorization": 'Bearer a"b'}, {"Authorization": "Bearer"},
                    {"Authorization": f"Bearer {hostile_kid}"}, {"Authorization": f"Bearer {hostile_iss}"}):  # fmt: skip
        await send(lab, "POST", MCP_URL, json=call, headers={**MCP_ACCEPT, **headers})
    await send(lab, "POST", f"{MCP_URL}?access_token=x", json=call, headers=MCP_ACCEPT)
    await send(lab, "POST", OTHER_MCP_URL, json=call, headers=bearer)  # another server's audience
    for method in ("GET", "HEAD", "DELETE", "PUT", "OPTIONS"):
        await send(lab, method, MCP_URL, headers=bearer)
    await send(lab, "POST", MCP_URL, content=b"{}", headers={**bearer, "Content-Type": "text/plain"})
    await send(lab, "POST", MCP_URL, content=gzip.compress(b"{}"), headers={**bearer, "Content-Type": "application/json", "Content-Encoding": "gzip"})  # fmt: skip
    await send(lab, "POST", MCP_URL, json=call, headers={**bearer, "Accept": "text/html"})
    for body in (b"{", b"[]", b"42", b'{"jsonrpc":"2.0","id":{},"method":"x"}', b'{"jsonrpc":"2.0","method":"notifications/x"}',
                 b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', b"{" * 5000, b" " * (300 * 1024)):  # fmt: skip
        await send(lab, "POST", MCP_URL, content=body, headers={**bearer, "Content-Type": "application/json"})
    for message in ({"jsonrpc": "2.0", "id": "s", "method": "tools/call", "params": {"name": "add_note", "arguments": {"text": "x"}}},
                    {"jsonrpc": "2.0", "id": 8, "method": HOSTILE}, {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": HOSTILE}}):  # fmt: skip
        await send(lab, "POST", MCP_URL, json=message, headers=bearer)
    await send(lab, "POST", MCP_URL, json=call, headers={**bearer, "Host": "evil.example"})
    await send(lab, "POST", MCP_URL, json=call, headers={**bearer, "Origin": "https://evil.example"})
    prm = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    for method, url in (
        ("GET", prm),
        ("HEAD", prm),
        ("POST", prm),
        ("GET", f"https://mcp.example.com/{quote(HOSTILE)}"),
    ):
        await send(lab, method, url)
    api = f"{API_URL}contacts"
    for headers in (
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": f"Bearer {token}"},
        {"Authorization": "Bearer a b"},
    ):
        await send(lab, "GET", api, headers=headers)
    for method, url in (("HEAD", api), ("POST", api), ("GET", f"{API_URL}{quote(HOSTILE)}")):
        await send(lab, method, url)
    assert_as_the_specs_write_it(lab, lab.trace.exchanges[start:])


async def test_every_refusal_of_the_authorization_server_is_as_the_specs_write_it(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    client_id = connection.client_id
    start = len(lab.trace.exchanges)
    for overrides in ({"state": HOSTILE}, {"state": HOSTILE, "scope": HOSTILE}, {"state": HOSTILE_STATE, "scope": HOSTILE},
                      {"scope": "notes:admin"}, {"resource": HOSTILE}, {"response_type": None}, {"response_type": HOSTILE},
                      {"code_challenge": HOSTILE}, {"code_challenge_method": "plain"}, {"state": None, "scope": "x"},
                      {"client_id": HOSTILE}, {"redirect_uri": f"https://app.example/callback?{HOSTILE}"}):  # fmt: skip
        await send(lab, "GET", authorization_url(client_id, **overrides), caller="browser")
    await send(
        lab, "POST", f"{ISSUER}/authorize/decision", caller="browser", data={"txn": HOSTILE, "decision": "approve"}
    )
    token = f"{ISSUER}/token"
    for form in ({}, {"grant_type": HOSTILE}, {"grant_type": "authorization_code", "code": HOSTILE, "client_id": client_id},
                 {"grant_type": "authorization_code", "code": "x", "client_id": HOSTILE},
                 {"grant_type": "refresh_token", "refresh_token": HOSTILE, "client_id": client_id},
                 {"grant_type": "refresh_token", "refresh_token": "x", "client_id": client_id, "scope": HOSTILE},
                 {"grant_type": "client_credentials", "scope": HOSTILE}):  # fmt: skip
        await send(lab, "POST", token, data=form)
    for authorization in ("Basic " + HOSTILE.encode().hex(), "Basic !!", basic(HOSTILE, HOSTILE)["Authorization"]):
        await send(
            lab, "POST", token, data={"grant_type": "client_credentials"}, headers={"Authorization": authorization}
        )
    await send(lab, "POST", token, content=gzip.compress(b"grant_type=x"), headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"})  # fmt: skip
    await send(lab, "POST", token, json={"grant_type": "client_credentials"})
    await send(
        lab,
        "POST",
        token,
        content=b"a=" + b"x" * (2 << 20),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    register = f"{ISSUER}/register"
    for body in ({"redirect_uris": [HOSTILE]}, {"redirect_uris": ["https://app.example/cb"], "grant_types": [HOSTILE]},
                 {"redirect_uris": ["https://app.example/cb"], "logo_uri": HOSTILE}, [HOSTILE],
                 {"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}):  # fmt: skip
        await send(lab, "POST", register, json=body)
    await send(lab, "POST", register, content=b"{", headers={"Content-Type": "application/json"})
    await send(lab, "POST", register, content=b"{}", headers={"Content-Type": "text/plain"})
    for form, headers in (({"token": "x"}, {}), ({"token": HOSTILE}, basic("introspection.mcp.example.com", "wrong")),
                          ({"token": HOSTILE, "token_type_hint": HOSTILE}, {})):  # fmt: skip
        await send(lab, "POST", f"{ISSUER}/introspect", data=form, headers=headers)
        await send(lab, "POST", f"{ISSUER}/revoke", data={**form, "client_id": client_id}, headers=headers)
    for method, path in (("GET", "/token"), ("HEAD", "/token"), ("PUT", "/register"), ("DELETE", "/authorize"),
                         ("GET", "/" + quote(HOSTILE)), ("HEAD", "/.well-known/oauth-authorization-server"),
                         ("POST", "/.well-known/oauth-authorization-server"), ("GET", "/.well-known/openid-configuration")):  # fmt: skip
        await send(lab, method, ISSUER + path)
    assert_as_the_specs_write_it(lab, lab.trace.exchanges[start:])


async def test_every_refusal_of_the_identity_provider_and_the_metadata_host_is_as_the_specs_write_it(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    start = len(lab.trace.exchanges)
    token = f"{IDP_ISSUER}/token"
    secret = next(iter(idp.clients.values())).secret
    good = basic("enterprise-agent", secret)
    exchange = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag",
                "subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}  # fmt: skip
    for form, headers in (({}, {}), ({"client_id": HOSTILE}, {}), ({"grant_type": HOSTILE}, good),
                          ({**exchange, "subject_token": HOSTILE, "audience": HOSTILE}, good),
                          ({**exchange, "subject_token": idp.sign_in("alice", "enterprise-agent"), "audience": HOSTILE, "resource": HOSTILE}, good),
                          ({**exchange, "subject_token": idp.sign_in("alice", "enterprise-agent"), "audience": ISSUER, "resource": MCP_URL, "scope": HOSTILE}, good),
                          ({}, {"Authorization": "Basic !!"})):  # fmt: skip
        await send(lab, "POST", token, data=form, headers=headers)
    await send(lab, "POST", token, content=gzip.compress(b"a=b"), headers={"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"})  # fmt: skip
    for method, url in (("GET", token), ("HEAD", token), ("GET", f"{IDP_ISSUER}/jwks.json"), ("HEAD", f"{IDP_ISSUER}/jwks.json"),
                        ("GET", f"{IDP_ISSUER}/{quote(HOSTILE)}"), ("GET", lab.client_metadata_url), ("HEAD", lab.client_metadata_url),
                        ("POST", lab.client_metadata_url), ("GET", f"https://app.example/{quote(HOSTILE)}")):  # fmt: skip
        await send(lab, method, url)
    assert_as_the_specs_write_it(lab, lab.trace.exchanges[start:])


async def test_a_redirect_uri_with_a_query_keeps_it_and_every_redirect_to_it_is_a_uri(lab: Lab) -> None:
    # RFC 6749 §3.1.2: the redirection endpoint URI "MAY include an application/x-www-form-urlencoded
    # formatted ... query component, which MUST be retained when adding additional query parameters".
    uri = "https://app.example/callback?tenant=a%20b&x="
    # Pre-registered: the AS redirects an error at once only to a URI it trusts (RFC 9700 §4.11.2).
    client_id = lab.auth_server.preregister(
        "admin-app", {"redirect_uris": [uri], "token_endpoint_auth_method": "none"}
    ).client_id
    start = len(lab.trace.exchanges)
    refused = await send(
        lab, "GET", authorization_url(client_id, redirect_uri=uri, scope="x", state=HOSTILE_STATE), caller="browser"
    )
    assert refused.headers["location"].startswith(uri + "&error=invalid_scope&")
    assert await get_code(lab, client_id, redirect_uri=uri)
    assert_as_the_specs_write_it(lab, lab.trace.exchanges[start:])


@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        ("https://app.example/cb%zz", "RFC 3986 section 2.1"),
        ("https://app.example/cb%4", "RFC 3986 section 2.1"),
        ("https://app.example/c[b]", "RFC 3986 section 3.2.2"),
        ("https://app.example/cb?x=[1]", "RFC 3986 section 3.2.2"),
        ("https://app.example/cb?state=theirs", "RFC 6749 section 3.1"),
        ("https://app.example/cb?iss=https%3A%2F%2Fevil.example", "RFC 6749 section 3.1"),
        ("https://app.example/cb?co%64e=x", "RFC 6749 section 3.1"),
        ("https://app.example/cb?error=x&error_description=y", "RFC 6749 section 3.1"),
    ],
)
async def test_a_redirect_uri_no_authorization_response_could_be_built_on_is_refused(
    lab: Lab, uri: str, rule: str
) -> None:
    # Every redirect to the client is this URI with code or error, state and iss added. On a URI
    # that breaks RFC 3986's grammar, the Location is no URI-reference (RFC 9110 §10.2.2); on one
    # whose query already names a response parameter, the response carries it twice (RFC 6749
    # §3.1: "MUST NOT be included more than once"), two states or two issuers (RFC 9207 §2).
    response = await register(lab, {"redirect_uris": [uri], "token_endpoint_auth_method": "none"})
    assert_oauth_error(response, 400, "invalid_redirect_uri", rule)
    assert not lab.registrations


async def test_a_client_document_whose_redirect_uri_already_names_state_is_refused(lab: Lab) -> None:
    # The same rule for CIMD (CIMD -02 §4: the document's metadata is RFC 7591's), on the error
    # page: the redirect URI is the thing not to be trusted (RFC 6749 §4.1.2.1).
    url, uri = "https://app.example/query.json", "https://app.example/callback?state=theirs"
    lab.publish_client_document(url, {**default_client_metadata(url), "redirect_uris": [uri]})
    page = await open_authorization(lab, url, redirect_uri=uri)
    assert isinstance(page, ConsentPage) and page.status == 400 and "RFC 6749 section 3.1" in page.html


@pytest.mark.parametrize(
    "uri", ["http://[::1]:8080/cb", "https://app.example/cb?a=%E9&b=%2F", "https://app.example/c%5Bb%5D"]
)
async def test_a_redirect_uri_in_rfc_3986s_grammar_is_registered(lab: Lab, uri: str) -> None:
    assert (await register(lab, {"redirect_uris": [uri], "token_endpoint_auth_method": "none"})).status_code == 201


async def test_a_head_is_answered_with_the_content_length_a_get_would_have(lab: Lab) -> None:
    # RFC 9110 §9.3.2: the server SHOULD send in a HEAD the header fields of a GET, Content-Length
    # among them (§8.6: if sent, what the GET's would be).
    idp = add_enterprise_idp(lab)
    add_downstream_api(lab)
    await lab.connect("cimd")
    urls = [f"{ISSUER}/.well-known/oauth-authorization-server", f"{ISSUER}/jwks.json", lab.client_metadata_url,
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp", f"{idp.issuer}/jwks.json",
            f"{ISSUER}/token", MCP_URL, f"{API_URL}contacts", f"{ISSUER}/nowhere"]  # fmt: skip
    for url in urls:
        get, head = await send(lab, "GET", url), await send(lab, "HEAD", url)
        assert (head.status_code, head.headers.get("content-length")) == (
            get.status_code,
            get.headers.get("content-length"),
        ), url
        assert head.content == b"", url


async def test_the_identity_providers_token_response_is_kept_by_no_cache(lab: Lab) -> None:
    # RFC 8693 §2.2.1 answers as RFC 6749 §5.1 does: Cache-Control: no-store "as well as the
    # Pragma response header field with a value of no-cache", as the AS's token responses do.
    await connect_enterprise(lab, add_enterprise_idp(lab))
    (answer,) = [e for e in lab.trace.exchanges if e.url == f"{IDP_ISSUER}/token"]
    headers = dict(answer.response_headers)
    assert (answer.status, headers["cache-control"], headers.get("pragma")) == (200, "no-store", "no-cache")


async def test_every_refusal_after_the_handshake_is_as_the_specs_write_it(lab: Lab) -> None:
    # Notebook 07's grants refused: token exchange (RFC 8693 §2.2.2), the JWT bearer grant with
    # an ID-JAG (RFC 7523 §3.1), introspection and revocation by their authorised callers, and
    # /register's rate limit (429 with Retry-After, RFC 9110 §10.2.3).
    from .enterprise_requests import good, present
    from .test_token_exchange import exchange

    add_downstream_api(lab)
    idp = add_enterprise_idp(lab)
    validator = use_introspection(lab)
    token = (await lab.connect("cimd")).access_token
    assert token is not None
    start = len(lab.trace.exchanges)
    for changes in ({"scope": HOSTILE}, {"resource": HOSTILE}, {"subject_token": HOSTILE}, {"subject_token_type": HOSTILE},
                    {"requested_token_type": HOSTILE}, {"actor_token": HOSTILE}, {"scope": "contacts:write"}):  # fmt: skip
        await exchange(lab, token, **changes)
    await exchange(lab, token, authenticate=False)
    for assertion, extra in ((HOSTILE, {}), (good(idp, scope=HOSTILE), {}), (good(idp), {"scope": HOSTILE}),
                             (good(idp, resource=HOSTILE), {}), (good(idp), {"resource": HOSTILE})):  # fmt: skip
        await present(lab, assertion, **extra)
    introspector = {"Authorization": validator._authorization}
    for form in ({"token": token}, {"token": HOSTILE, "token_type_hint": HOSTILE}, {}):
        await send(lab, "POST", f"{ISSUER}/introspect", data=form, headers=introspector)
        await send(lab, "POST", f"{ISSUER}/revoke", data=form, headers=introspector)
    for _ in range(21):
        await send(lab, "POST", f"{ISSUER}/register", json={"redirect_uris": ["https://app.example/cb"]})
    assert lab.trace.exchanges[-1].status == 429
    assert_as_the_specs_write_it(lab, lab.trace.exchanges[start:])


@pytest.mark.parametrize("dcr", ["initial_access_token", "closed", "removed"])
async def test_every_refusal_of_a_registration_endpoint_that_is_not_open_is_as_the_specs_write_it(dcr: str) -> None:
    # RFC 7591 §3: an initial access token is an RFC 6750 bearer token, refused as §3.1 says.
    capabilities = ASCapabilities(dcr=dcr, initial_access_token="iat-secret")  # type: ignore[arg-type]
    async with Lab(seed=0, capabilities=capabilities) as lab:
        body = {"redirect_uris": ["https://app.example/cb"]}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {HOSTILE.encode().hex()}"},
                        {"Authorization": "Bearer iat-secret"}):  # fmt: skip
            await send(lab, "POST", f"{ISSUER}/register", json=body, headers=headers)
        assert_as_the_specs_write_it(lab, lab.trace.exchanges)


async def test_a_long_value_reflected_into_a_refusal_is_cut_keeping_the_rule_in_the_challenge_and_the_body(
    lab: Lab,
) -> None:
    # The AS cut every description to 600 characters, the rule it cites kept at the end; the MCP
    # server, the downstream API and the metadata host quoted a 6 KB key id from a token's header,
    # or a path, whole, in WWW-Authenticate and in the body (RFC 6750 §3 sets no length; the
    # challenge is a header every client reads).
    add_downstream_api(lab)
    token = jwt_with_header(json.dumps({"alg": "Ed25519", "typ": "at+jwt", "kid": "k" * 5_900}), {"iss": ISSUER})
    long_path = "/" + "p" * 5_000
    refusals = [
        await send(lab, "POST", MCP_URL, json={}, headers={"Authorization": f"Bearer {token}", **MCP_ACCEPT}),
        await send(lab, "GET", f"{API_URL}contacts", headers={"Authorization": f"Bearer {token}"}),
        await send(lab, "GET", f"https://mcp.example.com{long_path}"),
        await send(lab, "GET", f"https://app.example{long_path}"),
    ]
    for refusal in refusals:
        description = refusal.json()["error_description"]
        assert len(description) <= 600 and "[...]" in description, description
        assert description.endswith(("once every 60 s)", "MCP is served at /mcp", "(RFC 9110 section 15.5.5)")), (
            description
        )
        challenge = refusal.headers.get("www-authenticate")
        assert challenge is None or f'error_description="{description}"' in challenge


def test_no_lab_server_can_write_a_bare_bearer_challenge() -> None:
    # RFC 6750 §3: "This scheme MUST be followed by one or more auth-param values".
    from lab_servers.resource_server.rfc6750 import bearer_challenge

    with pytest.raises(ValueError, match=r"RFC 6750 §3"):
        bearer_challenge(None)
    assert bearer_challenge(None, scope="contacts:read") == 'Bearer scope="contacts:read"'
