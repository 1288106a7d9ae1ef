"""The authorization server, rule by rule: its metadata (RFC 8414, CIMD §6, RFC 9207 §3) and
dynamic client registration (RFC 7591). Each bad request gets the spec's status, error code and
a description that names the rule — never a 500 — and leaves no record."""

from __future__ import annotations

import copy
import json

import httpx
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.client.discovery import authorization_server_metadata_urls
from lab_servers.story import connect_service, publish_service_client
from lab_servers.wellknown import origin

from .helpers import (
    REDIRECT_URI,
    assert_oauth_error,
    register,
    token_request,
)
from .registered_clients import PUBLIC_CLIENT, registered_client

pytestmark = pytest.mark.anyio


# Metadata (RFC 8414, CIMD §6, RFC 9207 §3) -----------------------------------------------------


async def test_metadata_is_valid_rfc8414_and_advertises_pkce_cimd_and_iss(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        rfc8414 = (await http.get(f"{ISSUER}/.well-known/oauth-authorization-server")).json()
        oidc = (await http.get(f"{ISSUER}/.well-known/openid-configuration")).json()
    AuthorizationServerMetadata(rfc8414).validate()
    # OpenID Connect Discovery §3 requires two more fields; everything else is the same document.
    assert oidc == {
        **rfc8414,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    assert rfc8414["issuer"] == ISSUER
    assert rfc8414["code_challenge_methods_supported"] == ["S256"]
    assert rfc8414["client_id_metadata_document_supported"] is True
    assert rfc8414["authorization_response_iss_parameter_supported"] is True
    assert "none" in rfc8414["token_endpoint_auth_methods_supported"]


# Registration (RFC 7591) -------------------------------------------------------------------------


async def test_registration_returns_201_with_a_minted_opaque_id_and_echoes_the_metadata(lab: Lab) -> None:
    body = await registered_client(lab)
    assert body["client_id"].startswith("tpc_") and "://" not in body["client_id"]
    assert body["redirect_uris"] == [REDIRECT_URI]
    assert body["token_endpoint_auth_method"] == "none"
    assert "client_secret" not in body
    assert lab.registrations[body["client_id"]].kind == "dcr"


async def test_registration_without_auth_method_defaults_to_client_secret_basic_and_gets_a_secret(lab: Lab) -> None:
    response = await register(lab, {k: v for k, v in PUBLIC_CLIENT.items() if k != "token_endpoint_auth_method"})
    body = response.json()
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["client_secret"] and body["client_secret_expires_at"] == 0


@pytest.mark.parametrize(
    ("body", "error", "mention"),
    [
        ({**PUBLIC_CLIENT, "redirect_uris": ["http://app.example/callback"]}, "invalid_redirect_uri", "https"),
        ({**PUBLIC_CLIENT, "redirect_uris": ["https://app.example/cb#frag"]}, "invalid_redirect_uri", "fragment"),
        # RFC 6749 §3.1.2: "MUST NOT include a fragment component", an empty one too (RFC 3986 §3.5).
        ({**PUBLIC_CLIENT, "redirect_uris": ["https://app.example/cb#"]}, "invalid_redirect_uri", "fragment"),
        ({**PUBLIC_CLIENT, "redirect_uris": ["/relative"]}, "invalid_redirect_uri", "absolute"),
        (
            {**PUBLIC_CLIENT, "redirect_uris": ["https:/callback"]},
            "invalid_redirect_uri",
            "MUST NOT have an empty host",
        ),
        (
            {**PUBLIC_CLIENT, "redirect_uris": ["https://:443/cb"]},
            "invalid_redirect_uri",
            "MUST NOT have an empty host",
        ),
        # RFC 9110 §4.2.1 says it of http too: refused for its empty host, not as http off loopback (MCP §11.3).
        (
            {**PUBLIC_CLIENT, "redirect_uris": ["http://:8080/cb"]},
            "invalid_redirect_uri",
            "an http URI MUST NOT have an empty host",
        ),
        ({**PUBLIC_CLIENT, "redirect_uris": []}, "invalid_redirect_uri", "required"),
        ({**PUBLIC_CLIENT, "redirect_uris": ["https://[/cb"]}, "invalid_redirect_uri", "is not a valid URI"),
        ({**PUBLIC_CLIENT, "redirect_uris": "https://app.example/cb"}, "invalid_client_metadata", "array of strings"),
        ({**PUBLIC_CLIENT, "client_name": 42}, "invalid_client_metadata", "client_name must be a string"),
        ({**PUBLIC_CLIENT, "scope": 'notes:read "admin"'}, "invalid_client_metadata", "RFC 6749 section 3.3"),
        (
            {**PUBLIC_CLIENT, "token_endpoint_auth_method": "tls_client_auth"},
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            {**PUBLIC_CLIENT, "jwks": {"keys": []}, "jwks_uri": "https://app.example/jwks"},
            "invalid_client_metadata",
            "MUST NOT both",
        ),
        ([1, 2, 3], "invalid_client_metadata", "JSON object"),
        ({**PUBLIC_CLIENT, "sector_identifier_uri": "https://[/sector.json"}, "invalid_client_metadata", "https URL"),
        ({**PUBLIC_CLIENT, "sector_identifier_uri": "https://h:99999/s"}, "invalid_client_metadata", "https URL"),
        ({**PUBLIC_CLIENT, "sector_identifier_uri": "http://app.example/s"}, "invalid_client_metadata", "https URL"),
        ({**PUBLIC_CLIENT, "sector_identifier_uri": "https:///s"}, "invalid_client_metadata", "https URL"),
        ({**PUBLIC_CLIENT, "sector_identifier_uri": ["https://app.example/s"]}, "invalid_client_metadata", "string"),
        # authlib refused these as "<field>: value not accepted (Invalid claim: '<field>')".
        ({**PUBLIC_CLIENT, "logo_uri": "https://app.example/logo.png#x"}, "invalid_client_metadata", "has a fragment"),
        *(
            ({**PUBLIC_CLIENT, field: "https://app.example@evil.example/x"}, "invalid_client_metadata", "has userinfo")
            for field in ("client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri", "sector_identifier_uri")
        ),
        (
            {
                **PUBLIC_CLIENT,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519"}]},
            },
            "invalid_client_metadata",
            "jwks is not a JWK Set (RFC 7517 section 5): key_parameter: 'x' is required",
        ),
        (
            # joserfc's binascii.Error says nothing: the description's reason was empty.
            {
                **PUBLIC_CLIENT,
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "!!"}]},
            },
            "invalid_client_metadata",
            "jwks is not a JWK Set (RFC 7517 section 5): key 0's 'x' is not base64url",
        ),
    ],
    ids=[
        "http-redirect",
        "fragment",
        "empty-fragment",
        "relative",
        "no-authority",
        "port-but-no-host",
        "http-port-but-no-host",
        "no-redirects",
        "unreadable-redirect",
        "string-not-array",
        "name-not-string",
        "scope-not-scope-tokens",
        "unsupported-auth-method",
        "jwks-and-jwks_uri",
        "not-an-object",
        "sector-unclosed-bracket",
        "sector-bad-port",
        "sector-http",
        "sector-no-host",
        "sector-not-string",
        "logo-with-fragment",
        *(
            f"{field}-with-userinfo"
            for field in ("client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri", "sector_identifier_uri")
        ),
        "unreadable-key",
        "key-member-not-base64url",
    ],
)
async def test_bad_registration_metadata_is_refused_and_leaves_no_record(
    lab: Lab, body: object, error: str, mention: str
) -> None:
    response = await register(lab, body)
    assert_oauth_error(response, 400, error, mention)
    assert "Invalid claim" not in response.json()["error_description"]
    assert lab.registrations == {}


# RFC 7591 §2's URL-valued fields hold web URLs (CIMD §8.6: only known schemes). The refusals above
# had no host (javascript:, data:), so a check of the host alone passed them all: these have one.
@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("client_uri", "ftp://app.example/"),
        ("logo_uri", "gopher://app.example/logo.png"),
        ("tos_uri", "ws://app.example/tos"),
        ("policy_uri", "file://app.example/etc/passwd"),
        ("jwks_uri", "wss://app.example/jwks.json"),
    ],
)
async def test_a_url_field_of_a_scheme_other_than_http_or_https_is_refused_though_it_names_a_host(
    lab: Lab, field: str, url: str
) -> None:
    response = await register(lab, {**PUBLIC_CLIENT, field: url})
    assert_oauth_error(response, 400, "invalid_client_metadata", f"{field} {url!r} is not an http or https URL")
    assert lab.registrations == {}


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("client_uri", "https:///"),
        ("logo_uri", "https:/logo.png"),
        ("tos_uri", "http://:80/tos"),
        ("policy_uri", "https://user@/policy"),
        ("jwks_uri", "https://?jwks"),
    ],
)
async def test_a_url_field_of_http_or_https_that_names_no_host_is_refused(lab: Lab, field: str, url: str) -> None:
    response = await register(lab, {**PUBLIC_CLIENT, field: url})
    assert_oauth_error(response, 400, "invalid_client_metadata", f"{field} {url!r} is not an http or https URL")
    assert lab.registrations == {}


@pytest.mark.parametrize("field", ["client_uri", "logo_uri", "tos_uri", "policy_uri", "jwks_uri"])
async def test_a_url_field_with_an_empty_fragment_is_refused_as_one_with_a_fragment(lab: Lab, field: str) -> None:
    # RFC 3986 §3.5: the fragment begins at "#", so "…/x#" has one, empty; urlsplit reads it as none.
    url = "https://app.example/x#"
    response = await register(lab, {**PUBLIC_CLIENT, field: url})
    assert_oauth_error(response, 400, "invalid_client_metadata", f"{field} {url!r} has a fragment")
    assert lab.registrations == {}


async def test_a_sector_identifier_uri_with_userinfo_is_refused_before_the_prefetch_sends_it_as_credentials(
    lab: Lab,
) -> None:
    # RFC 9110 §4.2.4: a sender MUST NOT generate userinfo in an https URI; the AS prefetches
    # sector_identifier_uri, and httpx sent user:secret to app.example as Authorization: Basic.
    response = await register(lab, {**PUBLIC_CLIENT, "sector_identifier_uri": "https://user:secret@app.example/s"})
    assert_oauth_error(response, 400, "invalid_client_metadata", "RFC 9110 section 4.2.4")
    assert [e.url for e in lab.trace.exchanges if e.host == "app.example"] == []


@pytest.mark.parametrize("uri", ["com.example.app:/oauth2redirect/example-provider", "urn:ietf:wg:oauth:2.0:oob"])
async def test_an_absolute_redirect_uri_with_no_authority_is_refused_by_mcps_rule_not_called_relative(
    lab: Lab, uri: str
) -> None:
    # RFC 3986 §4.3: an absolute URI is a scheme, ':' and the rest; RFC 8252 §7.1's private-use
    # scheme URI and the old out-of-band value are both, and RFC 6749 §3.1.2 takes them. MCP §11.3
    # does not: "All redirect URIs MUST be either localhost or use HTTPS".
    answer = await register(lab, {**PUBLIC_CLIENT, "redirect_uris": [uri]})
    assert_oauth_error(
        answer, 400, "invalid_redirect_uri", "must use https, or http on a loopback host (MCP section 11.3)"
    )
    assert "absolute" not in answer.json()["error_description"]
    assert lab.registrations == {}


async def test_a_malformed_registration_scope_names_the_two_characters_it_may_not_hold_in_words(lab: Lab) -> None:
    # RFC 6749 §5.2: error_description holds no '"' or '\\'; written as "'" and "/", the
    # description named two characters a scope may well hold (§3.3).
    answer = await register(lab, {**PUBLIC_CLIENT, "scope": "notes:read \u202eevil"})
    assert_oauth_error(answer, 400, "invalid_client_metadata", "but for the double quote and the backslash")
    assert lab.registrations == {}


async def test_a_body_that_is_not_json_is_invalid_client_metadata(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        response = await http.post(
            f"{ISSUER}/register", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert_oauth_error(response, 400, "invalid_client_metadata", "JSON object")


async def test_a_client_with_no_redirect_based_flow_registers_without_redirect_uris_and_gets_a_token(lab: Lab) -> None:
    """RFC 7591 §2: "clients using flows with redirection MUST register their redirection URI
    values"; a client_credentials-only client uses none. It says so with response_types [] (§2:
    omitted means ["code"]), registers, and its secret gets it a token (OAuth 2.1 §4.2). The
    lab refused it with "redirect_uris is required for the authorization code grant"."""
    response = await register(lab, {"grant_types": ["client_credentials"], "response_types": []})
    assert response.status_code == 201, response.text
    client = response.json()
    assert "redirect_uris" not in client and client["token_endpoint_auth_method"] == "client_secret_basic"
    form = {"grant_type": "client_credentials", "client_id": client["client_id"], "resource": MCP_URL}
    token = await token_request(lab, form, auth=(client["client_id"], client["client_secret"]))
    assert token.status_code == 200, token.text
    assert "refresh_token" not in token.json()


async def test_a_client_credentials_client_that_omits_response_types_registers_without_the_code_response_type(
    lab: Lab,
) -> None:
    """RFC 7591 §2.1: the code response type goes with the authorization code grant, and the AS
    "SHOULD take steps to ensure that a client cannot register itself into an inconsistent
    state". Omitted response_types means ["code"] (§2), a code this client could never redeem:
    it is dropped, and with it the need for a redirect URI. It was refused for having none."""
    response = await register(lab, {"grant_types": ["client_credentials"]})
    assert response.status_code == 201, response.text
    assert response.json()["response_types"] == []


@pytest.mark.parametrize(
    "body",
    [{"grant_types": ["client_credentials", "authorization_code"]}, {"client_name": "no grant_types named"}],
    ids=["code-grant", "grant-types-default-code-grant"],
)
async def test_a_client_that_may_use_the_authorization_endpoint_still_needs_redirect_uris(
    lab: Lab, body: dict[str, object]
) -> None:
    """The authorization code grant is a redirect-based flow (RFC 7591 §2: such clients "MUST
    register their redirection URI values"); omitted grant_types means it. The description says
    how a client with no such flow registers."""
    assert_oauth_error(await register(lab, body), 400, "invalid_redirect_uri", "lists only the grants it uses")
    assert lab.registrations == {}


@pytest.mark.parametrize(
    ("asked", "registered"),
    [
        ({"grant_types": ["client_credentials"]}, []),  # response_types omitted: ["code"], dropped
        ({"grant_types": ["client_credentials"], "response_types": ["code"]}, []),
        ({"grant_types": ["authorization_code"], "response_types": ["code"]}, ["code"]),
    ],
    ids=["client-credentials", "client-credentials-with-code", "code-grant"],
)
async def test_the_code_response_type_is_registered_only_with_the_authorization_code_grant(
    lab: Lab, asked: dict[str, object], registered: list[str]
) -> None:
    # RFC 7591 §2.1: "a grant_types value that includes authorization_code implies a
    # response_types value that includes code"; a registration kept apart from it is inconsistent.
    response = await register(lab, {**PUBLIC_CLIENT, **asked})
    assert response.status_code == 201, response.text
    assert response.json()["response_types"] == registered


async def test_the_authorization_code_grant_without_the_code_response_type_is_refused(lab: Lab) -> None:
    # RFC 7591 §2.1: such a client could never start the grant it registered for.
    answer = await register(lab, {**PUBLIC_CLIENT, "grant_types": ["authorization_code"], "response_types": []})
    assert_oauth_error(answer, 400, "invalid_client_metadata", "implies the code response type", "RFC 7591 section 2.1")
    assert lab.registrations == {}


async def test_a_client_cannot_choose_its_own_client_id_at_registration(lab: Lab) -> None:
    body = await registered_client(lab, client_id="https://app.example/client.json")
    assert body["client_id"].startswith("tpc_")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"])
async def test_a_registration_not_sent_as_application_json_is_refused_and_leaves_no_record(
    lab: Lab, content_type: str | None
) -> None:
    # RFC 7591 §3: the endpoint takes parameters "encoded in the entity body using the
    # application/json format"; §3.1: the client sends that content type. A JSON body sent as
    # text/plain (which a web page may POST cross-origin without asking) was registered.
    headers = {"Content-Type": content_type} if content_type else {}
    async with lab.httpx_client() as http:
        body = json.dumps({"redirect_uris": [REDIRECT_URI], "client_name": "plain"}).encode()
        response = await http.post(f"{ISSUER}/register", content=body, headers=headers)
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
    assert "application/json (RFC 7591 section 3.1)" in response.json()["error_description"]
    assert lab.registrations == {}


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8"])
async def test_a_registration_sent_as_application_json_with_any_parameters_is_taken(
    lab: Lab, content_type: str
) -> None:
    # RFC 9110 §8.3.1: the type and subtype are case-insensitive; parameters follow a ';'.
    async with lab.httpx_client() as http:
        body = json.dumps({"redirect_uris": [REDIRECT_URI], "client_name": "json"}).encode()
        response = await http.post(f"{ISSUER}/register", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "mention"),
    [
        pytest.param(b"[" * 2000 + b"]" * 2000, "nested deeper than 8 levels", id="2000-nested-arrays"),
        pytest.param(
            b'{"client_name": "\\ud800", "redirect_uris": ["https://app.example/cb"]}',
            "lone surrogate",
            id="lone-surrogate",
        ),
        pytest.param(b'{"client_name": "a", "client_name": "b"}', "appears twice", id="duplicate-member"),
        pytest.param(b" " * (16 * 1024 + 1), "limit is 16384 bytes", id="over-16-KB"),
    ],
)
async def test_a_registration_body_breaking_a_json_limit_is_invalid_client_metadata_and_stores_nothing(
    lab: Lab, body: bytes, mention: str
) -> None:
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{ISSUER}/register", content=body, headers={"content-type": "application/json"})
    assert_oauth_error(response, 400, "invalid_client_metadata", mention, "RFC 8259")
    assert lab.registrations == {}


async def test_a_change_to_a_returned_metadata_document_reaches_neither_its_as_nor_a_later_lab() -> None:
    # RFC 8414 §2: what the AS lists is what it does. Notebook 07 hands learners
    # `metadata = lab.auth_server.metadata()`, whose lists were the module's own: removing Ed25519
    # from one lab's token_endpoint_auth_signing_alg_values_supported made every later Lab(seed=0)
    # advertise it no more and refuse the nightly job's Ed25519 client_assertion (RFC 7523 §3).
    lab = Lab(seed=0)
    pristine = copy.deepcopy(lab.auth_server.metadata())
    for value in lab.auth_server.metadata().values():
        if isinstance(value, list):
            value.clear()
    assert lab.auth_server.metadata() == pristine
    async with Lab(seed=0) as later:
        assert later.auth_server.metadata() == pristine
        job = await connect_service(later, publish_service_client(later))
        assert job.state.tokens["token_type"] == "Bearer"


# An issuer with a path (RFC 8414 §3.1, §3.3; MCP §4.3) ----------------------------------------

TENANT_ISSUER = "https://auth.example.com/tenant1"
# In process, and as `serve` would serve it (the MCP server then at a loopback origin too).
PATH_ISSUERS = pytest.mark.parametrize(
    ("issuer", "mcp_url"), [(TENANT_ISSUER, MCP_URL), ("http://127.0.0.1:8/tenant1", "http://127.0.0.1:9/mcp")],
    ids=["in-process", "served"],
)  # fmt: skip


def as_http(lab: Lab) -> httpx.AsyncClient:
    """A client of the lab's AS app itself, wherever the lab puts it."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=lab.auth_server.app))


@PATH_ISSUERS
async def test_an_issuer_with_a_path_serves_its_metadata_at_every_url_a_client_tries_and_not_at_the_root(
    issuer: str, mcp_url: str
) -> None:
    # RFC 8414 §3.1 inserts the well-known string between the host and the issuer's path; MCP
    # §4.3 has a client try it, then OpenID's inserted, then OpenID's appended. §3.3: the metadata
    # names the issuer its URL was built from, so the root URL, built from the issuer's origin, is
    # no URL of this AS's (it answered there, naming …/tenant1, and 404 at all three).
    async with Lab(issuer=issuer, mcp_url=mcp_url) as lab, as_http(lab) as http:
        for url in authorization_server_metadata_urls(issuer):
            response = await http.get(url)
            assert response.status_code == 200, url
            assert response.json()["issuer"] == issuer
        for well_known in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            assert (await http.get(origin(issuer) + well_known)).status_code == 404, well_known


@PATH_ISSUERS
async def test_an_issuer_with_a_path_serves_every_endpoint_its_metadata_names_under_that_path(
    issuer: str, mcp_url: str
) -> None:
    # RFC 8414 §2: the endpoints are URLs, here the issuer and a path; each was a 404, served at
    # the root instead, where this AS's metadata sends no client.
    async with Lab(issuer=issuer, mcp_url=mcp_url) as lab, as_http(lab) as http:
        metadata = (await http.get(authorization_server_metadata_urls(issuer)[0])).json()
        assert metadata["token_endpoint"] == f"{issuer}/token"
        assert (await http.get(metadata["jwks_uri"])).json()["keys"]
        token = await http.post(metadata["token_endpoint"], data={"grant_type": "client_credentials"})
        assert token.status_code != 404 and "error" in token.json()  # the endpoint's own refusal
        registration = await http.post(metadata["registration_endpoint"], json=PUBLIC_CLIENT)
        assert registration.status_code == 201
        root_token = await http.post(f"{origin(issuer)}/token", data={"grant_type": "client_credentials"})
        assert root_token.status_code == 404


@pytest.mark.parametrize("method", ["dcr", "cimd"])
async def test_a_lab_whose_issuer_has_a_path_runs_the_whole_handshake(method: str) -> None:
    # Notebook 01's exercise: the tenant1 issuer. The lab put it on no host of its network.
    async with Lab(issuer=TENANT_ISSUER) as lab:
        connection = await lab.connect(method)
        assert connection.access_token and connection.whoami["iss"] == TENANT_ISSUER
        paths = [exchange.path for exchange in lab.trace.exchanges if exchange.host == "auth.example.com"]
    assert "/.well-known/oauth-authorization-server/tenant1" in paths and "/tenant1/token" in paths


@pytest.mark.parametrize("path", ["/%7Bt%7D", "/%7Bt:foo%7D", "/%7Bt%7D/%7Bt%7D"])
async def test_an_issuer_path_is_one_literal_string_not_a_route_pattern(path: str) -> None:
    # RFC 8414 §3.3: the issuer is one exact URL. Its path, decoded to /{t}, was a Starlette route
    # parameter: that AS answered its metadata and every endpoint under any segment (a wildcard),
    # /{t:foo} failed Lab() with "Unknown path convertor", /{t}/{t} with "Duplicated param name".
    issuer = f"https://auth.example.com{path}"
    async with Lab(issuer=issuer) as lab, as_http(lab) as http:
        for url in authorization_server_metadata_urls(issuer):
            assert (await http.get(url)).json()["issuer"] == issuer, url
        assert (await http.get("https://auth.example.com/.well-known/oauth-authorization-server/t2")).status_code == 404
        token = await http.post("https://auth.example.com/t2/token", data={"grant_type": "client_credentials"})
        assert token.status_code == 404
        assert (await lab.connect("cimd")).whoami["iss"] == issuer


@pytest.mark.parametrize("issuer", ["https://AUTH.example.com/tenant1", "https://auth.example.com:443/tenant1"])
async def test_an_issuer_on_the_labs_host_in_capitals_or_with_the_default_port_is_on_the_lab_network(
    issuer: str,
) -> None:
    # RFC 3986 §6.2.2.1: the host is case-insensitive; §6.2.3: https's port 443 is no port. Compared
    # as written, such a lab put no server on its network ("mcp.example.com: name does not resolve").
    async with Lab(issuer=issuer) as lab:
        assert {"auth.example.com", "mcp.example.com"} <= set(lab.network.hosts())
        assert (await lab.connect("cimd")).whoami["iss"] == issuer
