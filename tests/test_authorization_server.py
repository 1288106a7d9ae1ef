"""The authorization server, rule by rule: each bad request gets the spec's status, error code
and a description that names the rule — never a 500."""

from __future__ import annotations

import base64
import json

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from lab_servers import CLIENT_METADATA_URL, HARDENED, ISSUER, MCP_URL, Lab, default_client_metadata
from lab_servers.authorization_server.authorize import CONSENT_LIFETIME
from lab_servers.authorization_server.cimd import cache_lifetime
from lab_servers.client import Browser, ConsentPage, Redirect

from .helpers import (
    REDIRECT_URI,
    assert_oauth_error,
    authorization_url,
    code_form,
    get_code,
    open_authorization,
    register,
    token_request,
)

pytestmark = pytest.mark.anyio
PUBLIC_CLIENT = {k: v for k, v in default_client_metadata().items() if k != "client_id"}


async def registered_client(lab: Lab, **changes: object) -> dict:
    response = await register(lab, {**PUBLIC_CLIENT, **changes})
    assert response.status_code == 201, response.text
    return response.json()


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
        ({**PUBLIC_CLIENT, "redirect_uris": ["/relative"]}, "invalid_redirect_uri", "absolute"),
        ({**PUBLIC_CLIENT, "redirect_uris": ["https:/callback"]}, "invalid_redirect_uri", "absolute"),
        ({**PUBLIC_CLIENT, "redirect_uris": []}, "invalid_redirect_uri", "required"),
        ({**PUBLIC_CLIENT, "redirect_uris": ["https://[/cb"]}, "invalid_redirect_uri", "is not a valid URI"),
        ({**PUBLIC_CLIENT, "redirect_uris": "https://app.example/cb"}, "invalid_client_metadata", "array of strings"),
        ({**PUBLIC_CLIENT, "client_name": 42}, "invalid_client_metadata", "client_name must be a string"),
        ({**PUBLIC_CLIENT, "scope": "admin"}, "invalid_client_metadata", "scope"),
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
        ({**PUBLIC_CLIENT, "sector_identifier_uri": ["https://app.example/s"]}, "invalid_client_metadata", "string"),
    ],
    ids=[
        "http-redirect",
        "fragment",
        "relative",
        "no-authority",
        "no-redirects",
        "unreadable-redirect",
        "string-not-array",
        "name-not-string",
        "unknown-scope",
        "unsupported-auth-method",
        "jwks-and-jwks_uri",
        "not-an-object",
        "sector-unclosed-bracket",
        "sector-bad-port",
        "sector-http",
        "sector-not-string",
    ],
)
async def test_bad_registration_metadata_is_refused_and_leaves_no_record(
    lab: Lab, body: object, error: str, mention: str
) -> None:
    assert_oauth_error(await register(lab, body), 400, error, mention)
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


@pytest.mark.parametrize(
    "body",
    [{"grant_types": ["client_credentials"]}, {"grant_types": ["client_credentials", "authorization_code"]}],
    ids=["response-types-default-code", "code-grant"],
)
async def test_a_client_that_may_use_the_authorization_endpoint_still_needs_redirect_uris(
    lab: Lab, body: dict[str, object]
) -> None:
    """Omitted response_types means ["code"] (RFC 7591 §2), a redirect-based flow; so does the
    authorization code grant. The description says how a client with no such flow registers."""
    assert_oauth_error(await register(lab, body), 400, "invalid_redirect_uri", "registers response_types []")
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


# The authorization endpoint (OAuth 2.1 §4.1) ----------------------------------------------------


async def test_consent_for_a_dcr_client_marks_the_name_unverified(lab: Lab) -> None:
    client = await registered_client(lab, client_name="Claude Desktop")
    page = await open_authorization(lab, client["client_id"])
    assert isinstance(page, ConsentPage) and page.is_consent
    assert "unverified" in page.html and "Claude Desktop" in page.html


async def test_consent_for_a_cimd_client_shows_both_hostnames(lab: Lab) -> None:
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage)
    assert page.fields["client_id"] == CLIENT_METADATA_URL
    assert page.fields["redirect_host"].startswith("app.example")
    assert '<span class="host">app.example</span>' in page.html


async def test_consent_page_cannot_be_framed(lab: Lab) -> None:
    async with lab.httpx_client("browser") as http:
        from .helpers import authorization_url

        response = await http.get(authorization_url(CLIENT_METADATA_URL))
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("overrides", "error", "mention"),
    [
        ({"redirect_uri": "https://evil.example/callback"}, "invalid_request", "not registered for this client"),
        ({"redirect_uri": "https://app.example/callback/extra"}, "invalid_request", "must match exactly"),
        ({"client_id": "tpc_unknown"}, "invalid_client", "unknown client_id"),
        ({"client_id": None}, "invalid_request", "client_id is required"),
        ({"state": "a\tb"}, "invalid_request", "state must be printable ASCII"),
    ],
    ids=["foreign-redirect", "prefix-redirect", "unknown-client", "no-client", "state-with-a-tab"],
)
async def test_bad_client_or_redirect_uri_is_shown_to_the_user_never_redirected(
    lab: Lab, overrides: dict, error: str, mention: str
) -> None:
    client = await registered_client(lab)
    outcome = await open_authorization(lab, client["client_id"], **overrides)
    assert isinstance(outcome, ConsentPage) and not outcome.is_consent
    assert outcome.status == 400
    assert outcome.fields["error"] == error
    assert mention in outcome.fields["error_description"]


async def test_redirect_uri_not_in_the_cimd_document_is_refused(lab: Lab) -> None:
    outcome = await open_authorization(lab, CLIENT_METADATA_URL, redirect_uri="https://app.example/other")
    assert isinstance(outcome, ConsentPage) and outcome.status == 400
    assert "not in the client's metadata document" in outcome.fields["error_description"]


@pytest.mark.parametrize(
    ("overrides", "error", "mention"),
    [
        ({"code_challenge": None}, "invalid_request", "PKCE is mandatory"),
        ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"code_challenge_method": None}, "invalid_request", "plain"),
        ({"code_challenge": "short"}, "invalid_request", "43-128"),
        ({"response_type": "token"}, "unsupported_response_type", "code"),
        ({"response_type": None}, "invalid_request", "response_type is required"),
        ({"resource": None}, "invalid_target", "resource is required"),
        ({"resource": "https://other.example/mcp"}, "invalid_target", "not a protected resource"),
        ({"resource": "https://mcp.example.com/mcp#frag"}, "invalid_target", "fragment"),
        ({"scope": "admin"}, "invalid_scope", "admin"),
    ],
    ids=[
        "no-pkce",
        "plain",
        "method-omitted",
        "short-challenge",
        "implicit",
        "no-response-type",
        "no-resource",
        "foreign-resource",
        "resource-fragment",
        "unknown-scope",
    ],
)
async def test_bad_authorization_parameters_are_redirected_back_with_state_and_iss(
    lab: Lab, overrides: dict, error: str, mention: str
) -> None:
    client = await registered_client(lab)
    outcome = await open_authorization(lab, client["client_id"], **overrides)
    assert isinstance(outcome, Redirect), outcome
    assert outcome.location.startswith(REDIRECT_URI + "?")
    assert outcome.params["error"] == error
    assert mention in outcome.params["error_description"]
    assert outcome.params["state"] == "st" and outcome.params["iss"] == ISSUER


async def test_uppercase_scheme_and_host_in_resource_are_accepted_as_the_canonical_uri(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"], resource="HTTPS://MCP.EXAMPLE.COM/mcp")
    response = await token_request(lab, code_form(client["client_id"], code))
    assert response.status_code == 200


async def test_a_repeated_parameter_is_refused(lab: Lab) -> None:
    from .helpers import authorization_url

    async with lab.httpx_client("browser") as http:
        response = await http.get(authorization_url(CLIENT_METADATA_URL) + "&client_id=tpc_other")
    assert response.status_code == 400 and "repeated" in response.text


async def test_deny_redirects_with_access_denied(lab: Lab) -> None:
    from lab_servers.client import Browser

    browser = Browser(lab.httpx_client("browser"))
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage)
    redirect = await browser.decide(page, "deny")
    assert isinstance(redirect, Redirect)
    assert redirect.params["error"] == "access_denied" and redirect.params["iss"] == ISSUER


async def test_a_consent_transaction_works_once(lab: Lab) -> None:
    from lab_servers.client import Browser

    browser = Browser(lab.httpx_client("browser"))
    page = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(page, ConsentPage)
    assert isinstance(await browser.decide(page, "approve"), Redirect)
    again = await browser.decide(page, "approve")
    assert isinstance(again, ConsentPage) and again.status == 400
    assert again.fields["error"] == "invalid_request"
    assert "already used" in again.fields["error_description"]


# CIMD at the authorization endpoint ------------------------------------------------------------


async def test_a_document_whose_client_id_differs_from_its_url_is_rejected_and_not_cached(lab: Lab) -> None:
    lab.publish_client_document(
        CLIENT_METADATA_URL, {**default_client_metadata(), "client_id": "https://app.example/other.json"}
    )
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and outcome.status == 400
    assert outcome.fields["error"] == "invalid_client"
    assert "not exactly the URL" in outcome.fields["error_description"]
    assert lab.cimd_cache == {}


async def test_a_document_with_a_client_secret_is_rejected(lab: Lab) -> None:
    lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "client_secret": "s3cret"})
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and "MUST NOT have a shared secret" in outcome.fields["error_description"]
    assert lab.cimd_cache == {}


async def test_an_http_client_id_is_rejected(lab: Lab) -> None:
    outcome = await open_authorization(lab, "http://app.example/client.json")
    assert isinstance(outcome, ConsentPage) and "https scheme" in outcome.fields["error_description"]


async def test_a_removed_document_means_the_client_no_longer_exists(lab: Lab) -> None:
    lab.remove_client_document(CLIENT_METADATA_URL)
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and "only 200 OK" in outcome.fields["error_description"]


async def test_a_cached_document_is_reused_until_max_age_and_then_refetched(lab: Lab) -> None:
    lab.publish_client_document(CLIENT_METADATA_URL, default_client_metadata(), cache_control="max-age=60")
    fetches = lambda: [e for e in lab.trace if e.host == "app.example"]  # noqa: E731
    await open_authorization(lab, CLIENT_METADATA_URL)
    await open_authorization(lab, CLIENT_METADATA_URL)
    assert len(fetches()) == 1
    lab.clock.advance(61)
    await open_authorization(lab, CLIENT_METADATA_URL)
    assert len(fetches()) == 2


DATE = "Mon, 06 Jul 2026 00:00:00 GMT"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"cache-control": "max-age=600", "age": "590"}, 10),  # RFC 9111 §4.2.3: minus its current age
        ({"cache-control": "max-age=600", "age": "1000"}, 0),
        ({"cache-control": "max-age=600", "age": "ten"}, 0),  # an invalid Age: stale
        ({"cache-control": "max-age=5, max-age=86400"}, 5),  # §4.2.1: the first occurrence
        ({"expires": "Mon, 06 Jul 2026 00:02:00 GMT", "date": DATE}, 120),  # §4.2.1: Expires − Date
        ({"expires": "Thu, 01 Jan 1970 00:00:00 GMT", "date": DATE}, 0),
        ({"expires": "0", "date": DATE}, 0),  # §5.3: an invalid Expires is in the past
        ({"cache-control": "max-age=60", "expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 60),  # max-age wins
        ({}, 300),  # no freshness information: the policy's default
        ({"cache-control": "no-cache, max-age=600"}, 0),  # §5.2.2.4: reuse needs revalidation; the AS never revalidates
        ({"cache-control": "max-age=+60"}, 0),  # §1.2.2: delta-seconds is 1*DIGIT; anything else is invalid
        ({"cache-control": "max-age=1_0"}, 0),
        ({"cache-control": "max-age=\u0661\u0662\u0660"}, 0),  # Arabic-Indic digits are not DIGIT
        ({"cache-control": "max-age=00000000000600"}, 600),  # 1*DIGIT: leading zeros are still the number
        ({"cache-control": "max-age=600", "age": "00000000000590"}, 10),
        ({"cache-control": "max-age=" + "9" * 5000}, 86400),  # §1.2.2: too large is 2^31, then the policy's cap
        ({"cache-control": "max-age=600", "age": "9" * 5000}, 0),
        # §5.2: a directive's argument is a token or a quoted-string, and a quoted-string may hold a
        # comma: split on every comma, "max-age=86400" inside the quotes was read as the first max-age.
        ({"cache-control": 'no-transform="x, max-age=86400", max-age=0'}, 0),
        ({"cache-control": 'private="a, b", max-age="60"'}, 60),  # the quoted form of max-age is accepted too
        ({"cache-control": 'max-age=600, "x'}, 0),  # no list of directives: nothing in it is trusted
        ({"cache-control": "max-age=600", "age": "\u00a0590"}, 0),  # Age's OWS is SP and HTAB, not NBSP
    ],
    ids=["age", "older-than-max-age", "invalid-age", "repeated-max-age", "expires", "expired", "expires-0",
         "max-age-over-expires", "none", "no-cache", "signed-max-age", "underscored-max-age", "non-ascii-digits",
         "leading-zeros", "leading-zeros-age", "huge-max-age", "huge-age", "comma-in-quoted-string",
         "quoted-arguments", "unbalanced-quote", "nbsp-age"],
)  # fmt: skip
def test_a_documents_cache_lifetime_follows_rfc_9111_freshness(headers: dict[str, str], seconds: int) -> None:
    # CIMD -02 §5.2: the AS SHOULD respect HTTP cache headers (RFC 9111), within its own bounds.
    lifetime = cache_lifetime(headers.get("cache-control"), HARDENED, age=headers.get("age"),
                              expires=headers.get("expires"), date=headers.get("date"), now=0)  # fmt: skip
    assert lifetime == seconds


# The token endpoint (OAuth 2.1 §4.1.3, RFC 7636, RFC 8707) ----------------------------------


async def test_a_code_with_the_right_verifier_gets_a_jwt_bound_to_the_resource(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    response = await token_request(lab, code_form(client["client_id"], code))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "notes:read" and body["refresh_token"]
    claims = lab.auth_server.issued[-1]
    assert claims["aud"] == MCP_URL and claims["client_id"] == client["client_id"] and claims["sub"] == "alice"
    assert set(claims) == {"iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti"}


@pytest.mark.parametrize(
    ("overrides", "error", "mention"),
    [
        ({"code_verifier": None}, "invalid_request", "code_verifier is required"),
        ({"code_verifier": "w" * 43}, "invalid_grant", "PKCE verification failed"),
        ({"resource": "https://mcp.example.com/other"}, "invalid_target", ""),
        ({"redirect_uri": "https://app.example/elsewhere"}, "invalid_grant", "redirect_uri differs"),
        ({"code": "not-a-code"}, "invalid_grant", "unknown"),
        ({"code": None}, "invalid_request", "code is required"),
        ({"grant_type": "password"}, "unsupported_grant_type", "password"),
        ({"grant_type": None}, "invalid_request", "grant_type is required"),
    ],
    ids=[
        "no-verifier",
        "wrong-verifier",
        "other-resource",
        "other-redirect",
        "unknown-code",
        "no-code",
        "password-grant",
        "no-grant",
    ],
)
async def test_bad_token_requests_are_refused_with_the_rule(
    lab: Lab, overrides: dict, error: str, mention: str
) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    assert_oauth_error(await token_request(lab, code_form(client["client_id"], code, **overrides)), 400, error, mention)


async def test_the_resource_must_match_the_one_authorized(lab: Lab) -> None:
    lab.auth_server.resource_scopes["https://mcp.example.com/other"] = ["notes:read"]
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    response = await token_request(lab, code_form(client["client_id"], code, resource="https://mcp.example.com/other"))
    assert_oauth_error(response, 400, "invalid_target", "differs from the one in the authorization request")


async def test_a_code_works_once_and_its_reuse_revokes_the_refresh_token(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    first = await token_request(lab, code_form(client["client_id"], code))
    assert first.status_code == 200
    assert_oauth_error(
        await token_request(lab, code_form(client["client_id"], code)), 400, "invalid_grant", "already used"
    )
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": first.json()["refresh_token"],
        "client_id": client["client_id"],
    }
    # Revoked with the code's grant, never rotated: refused as revoked, not as reuse.
    assert_oauth_error(await token_request(lab, refresh), 400, "invalid_grant", "was revoked", "4.1.3")


async def test_an_expired_code_is_refused(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    lab.clock.advance(61)
    assert_oauth_error(await token_request(lab, code_form(client["client_id"], code)), 400, "invalid_grant", "expired")


async def test_a_code_issued_to_another_client_is_refused(lab: Lab) -> None:
    first, second = await registered_client(lab), await registered_client(lab)
    code = await get_code(lab, first["client_id"])
    assert_oauth_error(
        await token_request(lab, code_form(second["client_id"], code)), 400, "invalid_grant", "another client"
    )


async def test_refresh_tokens_rotate_for_public_clients(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    first = (await token_request(lab, code_form(client["client_id"], code))).json()
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": client["client_id"],
        "resource": MCP_URL,
    }
    second = await token_request(lab, form)
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    assert_oauth_error(await token_request(lab, form), 400, "invalid_grant", "reuse detected")
    newer = {**form, "refresh_token": second.json()["refresh_token"]}
    assert_oauth_error(
        await token_request(lab, newer), 400, "invalid_grant", "was revoked"
    )  # the whole family is gone: the newest token too, which was never rotated out


async def test_a_refresh_cannot_widen_the_scope(lab: Lab) -> None:
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    first = (await token_request(lab, code_form(client["client_id"], code))).json()
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": client["client_id"],
        "scope": "notes:read notes:write",
    }
    assert_oauth_error(await token_request(lab, form), 400, "invalid_scope", "never widen")


async def test_a_confidential_client_must_authenticate_with_its_registered_method(lab: Lab) -> None:
    client = await registered_client(lab, token_endpoint_auth_method="client_secret_basic")
    code = await get_code(lab, client["client_id"])
    unauthenticated = await token_request(lab, code_form(client["client_id"], code))
    assert_oauth_error(unauthenticated, 401, "invalid_client", "client_secret_basic")
    code = await get_code(lab, client["client_id"])
    wrong = await token_request(
        lab, code_form(client["client_id"], code, client_id=None), auth=(client["client_id"], "wrong")
    )
    assert_oauth_error(wrong, 401, "invalid_client", "wrong client_secret")
    assert wrong.headers["www-authenticate"].startswith("Basic")
    code = await get_code(lab, client["client_id"])
    right = await token_request(
        lab, code_form(client["client_id"], code, client_id=None), auth=(client["client_id"], client["client_secret"])
    )
    assert right.status_code == 200


async def test_the_token_endpoint_wants_a_form_body(lab: Lab) -> None:
    async with lab.httpx_client() as http:
        response = await http.post(f"{ISSUER}/token", json={"grant_type": "authorization_code"})
    assert_oauth_error(response, 400, "invalid_request", "x-www-form-urlencoded")


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


@pytest.mark.parametrize("part", ["header", "claims"])
async def test_a_client_assertion_nested_2000_levels_is_invalid_client_not_a_crash(lab: Lab, part: str) -> None:
    deep = base64.urlsafe_b64encode(b"[" * 2000 + b"]" * 2000).rstrip(b"=").decode()
    plain = base64.urlsafe_b64encode(b'{"alg": "ES256"}').rstrip(b"=").decode()
    assertion = f"{deep}.{plain}.c2ln" if part == "header" else f"{plain}.{deep}.c2ln"
    form = {"grant_type": "authorization_code", "code": "x", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}  # fmt: skip
    assert_oauth_error(
        await token_request(lab, form), 401, "invalid_client", f"client_assertion {part} is nested deeper"
    )


@pytest.mark.parametrize("target", ["resource", "audience"])
async def test_several_targets_in_one_token_request_are_invalid_target(lab: Lab, target: str) -> None:
    # RFC 8707 §2 and RFC 8693 §2.1 let a client name several; this AS issues each token for one,
    # and says so with invalid_target rather than calling the parameter malformed.
    client = await registered_client(lab)
    code = await get_code(lab, client["client_id"])
    form = {**code_form(client["client_id"], code), target: [MCP_URL, "https://other.example/mcp"]}
    assert_oauth_error(await token_request(lab, form), 400, "invalid_target", "named more than once")  # type: ignore[arg-type]


async def test_a_scope_only_another_resource_of_this_as_defines_is_invalid_scope_at_authorize(lab: Lab) -> None:
    # The scope is for the resource the token is for (RFC 8707 §2, RFC 6749 §3.3): a scope the AS
    # knows from another server means nothing at this one, and would ride in a token it accepts.
    lab.auth_server.resource_scopes["https://admin.example.com/mcp"] = ["admin:all"]
    client = await registered_client(lab)
    outcome = await open_authorization(lab, client["client_id"], scope="notes:read admin:all")
    assert isinstance(outcome, Redirect), outcome
    assert outcome.params["error"] == "invalid_scope"
    assert "admin:all for https://mcp.example.com/mcp" in outcome.params["error_description"]


async def test_a_request_without_redirect_uri_is_refused_when_the_client_registered_several(lab: Lab) -> None:
    # OAuth 2.1 §4.1.1 / RFC 6749 §3.1.2.3: redirect_uri may be left out only when exactly one is
    # registered; with several, the AS cannot tell which one the client means.
    client = await registered_client(lab, redirect_uris=[REDIRECT_URI, "https://app.example/other"])
    outcome = await open_authorization(lab, client["client_id"], redirect_uri=None)
    assert isinstance(outcome, ConsentPage) and not outcome.is_consent and outcome.status == 400
    assert "redirect_uri is required" in outcome.fields["error_description"]
    single = await registered_client(lab)
    assert isinstance(await open_authorization(lab, single["client_id"], redirect_uri=None), ConsentPage)


async def test_the_redirect_carrying_the_code_is_not_cacheable(lab: Lab) -> None:
    # The authorization response carries a credential (the code, OAuth 2.1 §4.1.2); like every
    # response holding one (OAuth 2.1 §3.2.3: Cache-Control: no-store) no cache may keep it.
    async with lab.httpx_client("browser") as http:
        page = await Browser(http).open(authorization_url(CLIENT_METADATA_URL))
        assert isinstance(page, ConsentPage) and page.action is not None
        response = await http.post(page.action, data={**page.hidden, "decision": "approve"})
    assert response.status_code == 303 and "code=" in response.headers["location"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("decision", ["approve", "deny"])
async def test_the_answer_to_the_consent_forms_post_is_a_303_see_other(lab: Lab, decision: str) -> None:
    # RFC 9700 §4.12: the AS redirecting a form POST "MUST NOT use the HTTP 307 status code" and
    # "SHOULD use HTTP status code 303 'See Other'": only a 303 makes every user agent follow with
    # a GET, so the form is never posted on to the client.
    async with lab.httpx_client("browser") as http:
        page = await Browser(http).open(authorization_url(CLIENT_METADATA_URL))
        assert isinstance(page, ConsentPage) and page.action is not None
        response = await http.post(page.action, data={**page.hidden, "decision": decision})
    assert response.status_code == 303
    assert response.headers["location"].startswith(REDIRECT_URI + "?")


@pytest.mark.parametrize("client_id", [CLIENT_METADATA_URL, "tpc_unknown"], ids=["consent", "error"])
async def test_the_authorization_endpoints_pages_suppress_the_referer(lab: Lab, client_id: str) -> None:
    # RFC 9700 §4.2.4: the authorization endpoint's page should "suppress the Referer header by
    # applying an appropriate Referrer Policy to the document": its URL carries the request's state.
    # `same-origin` sends no Referer to any other origin, and keeps the form's POST from carrying
    # `Origin: null` (as under `no-referrer`), which the served lab's Origin check would refuse.
    async with lab.httpx_client("browser") as http:
        response = await http.get(authorization_url(client_id))
    assert response.status_code in (200, 400) and "text/html" in response.headers["content-type"]
    assert response.headers["referrer-policy"] == "same-origin"


async def test_a_consent_decision_at_the_second_the_transaction_expires_is_refused(lab: Lab) -> None:
    # A consent transaction lives CONSENT_LIFETIME seconds; at its expiry second it is over
    # (RFC 7519 §4.1.4's "on or after", the reading every expiry in this AS follows).
    browser = Browser(lab.httpx_client("browser"))
    page = await browser.open(authorization_url(CLIENT_METADATA_URL))
    assert isinstance(page, ConsentPage) and page.is_consent
    lab.clock.advance(CONSENT_LIFETIME)
    outcome = await browser.decide(page, "approve")
    assert isinstance(outcome, ConsentPage) and outcome.status == 400
    assert outcome.fields["error"] == "invalid_request"
    assert "consent transaction expired" in outcome.fields["error_description"]
