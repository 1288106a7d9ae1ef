"""An adversarial suite: hostile or malformed client_id URLs, documents, fetch responses and
registrations. The hardened AS refuses each one with the error its endpoint uses and a
description naming the rule, and nothing from a refused input is cached, stored or half-written.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab_servers import HARDENED, Lab
from lab_servers.authorization_server import ASPolicy
from lab_servers.authorization_server.cimd import host_matches
from lab_servers.metadata_host import HostedResponse
from lab_servers.security import RuleCase, run_cimd_rule, valid_document
from lab_servers.security.cimd_rules import DOCUMENT_URL, json_response
from lab_servers.security.network_fixtures import InternalNetwork, add_internal_network
from lab_servers.security.requests import register

pytestmark = pytest.mark.anyio

SERVED = {"/client.json": json_response(valid_document())}

# (id, client_id, phrase the error description contains)
HOSTILE_URLS = [
    ("empty", "", "client_id is required"),
    ("scheme-only", "https://", "must have a host"),
    ("no-host", "https:///client.json", "must have a host"),
    ("ftp", "ftp://evil.example/client.json", "https scheme"),
    ("javascript", "javascript://evil.example/%0aalert(1)", "https scheme"),
    ("uppercase-http", "HTTP://evil.example/client.json", "https scheme"),
    ("empty-fragment", "https://evil.example/client.json#", "fragment"),
    # RFC 3986 §3.4: the query begins at '?', so an empty one is a query too. Let past the rule as
    # no query (urlsplit's reading), a document naming `…/client.json?` was accepted and cached.
    ("empty-query", "https://evil.example/client.json?", "SHOULD NOT contain a query"),
    ("empty-userinfo", "https://@evil.example/client.json", "username or password"),
    ("userinfo-host-confusion", "https://evil.example@app.example/client.json", "username or password"),
    ("single-dot", "https://evil.example/./client.json", "path segments"),
    (
        "uppercase-encoded-dots",
        "https://evil.example/a/%2E%2E/client.json",
        "path segments, encoded or not (section 3)",
    ),
    ("encoded-single-dot", "https://evil.example/a/%2e/client.json", "path segments, encoded or not (section 3)"),
    (
        "double-encoded-dots",
        "https://evil.example/a/%252e%252e/client.json",
        "lab policy, stricter than CIMD section 3",
    ),
    ("half-encoded-dots", "https://evil.example/a/.%2e/client.json", "path segments, encoded or not (section 3)"),
    ("trailing-dot-dot", "https://evil.example/client.json/..", "path segments"),
    ("backslash", "https://evil.example\\@app.example/client.json", "plain ASCII"),
    # httpx sends a%3Cb.example where urlsplit (and so the vetted address's pin) reads a<b.example.
    ("angle-bracket-in-host", "https://evil<.example/client.json", "no URI contains"),
    ("space", "https://evil.example/client json", "plain ASCII"),
    ("tab", "https://evil.example/client.json\t", "plain ASCII"),
    ("newline", "https://evil.example/cli\nent.json", "plain ASCII"),
    ("homograph", "https://\u0435vil.example/client.json", "plain ASCII"),
    ("port-out-of-range", "https://evil.example:99999/client.json", "not a valid URL"),
    ("port-not-numeric", "https://evil.example:abc/client.json", "not a valid URL"),
    ("broken-ipv6", "https://[::1/client.json", "not a valid URL"),
    ("decimal-ip", "https://2130706433/client.json", "ambiguous numeric"),
    ("hex-ip", "https://0x7f.1/client.json", "ambiguous numeric IPv4 form (lab policy, stricter than CIMD section 8.6"),
    ("octal-ip", "https://017700000001/client.json", "ambiguous numeric"),
    ("short-ip", "https://127.1/client.json", "ambiguous numeric"),
    ("zero-padded-ip", "https://010.0.0.1/client.json", "ambiguous numeric"),
    ("ipv6-loopback-literal", "https://[::1]/client.json", "special-use address"),
    ("ipv4-mapped-literal", "https://[::ffff:a00:5]/client.json", "special-use address"),
    ("loopback-literal", "https://127.0.0.1/client.json", "special-use address"),
    ("unspecified-literal", "https://0.0.0.0/client.json", "special-use address"),
    ("ipv6-unspecified-literal", "https://[::]/client.json", "special-use address"),
    ("ipv6-zone-id", "https://[fe80::1%25eth0]/client.json", "special-use address"),
    ("zero-host", "https://0/client.json", "ambiguous numeric"),
    ("unspecified-name", "https://unspecified.evil.example/client.json", "special-use address"),
    ("default-port", "https://evil.example:443/client.json", "not exactly the URL"),
    ("trailing-dot-host", "https://evil.example./client.json", "not exactly the URL"),
    ("mixed-case-path", "https://evil.example/Client.json", "HTTP 404"),
    ("unknown-host", "https://nonexistent.example/client.json", "does not resolve"),
    ("query", "https://evil.example/client.json?x=1", "query"),
    ("no-path", "https://evil.example", "path component"),
    ("root", "https://evil.example/", "root path"),
    ("double-slash", "https://evil.example//client.json", "HTTP 404"),
]


def _document(**changes: Any) -> dict[str, HostedResponse]:
    return {"/client.json": json_response(valid_document(**changes))}


def _raw(body: bytes, content_type: str = "application/json") -> dict[str, HostedResponse]:
    return {"/client.json": HostedResponse(body, 200, {"content-type": content_type})}


RSA_PRIVATE = {"kty": "RSA", "n": "AQAB", "e": "AQAB", "p": "AQ", "q": "AQ"}
HOSTILE_DOCUMENTS = [
    ("null", _raw(b"null"), "JSON object"),
    ("string", _raw(b'"https://evil.example/client.json"'), "JSON object"),
    ("empty-object", _raw(b"{}"), "no client_id"),
    ("numeric-client-id", _document(client_id=42), "not exactly the URL"),
    ("client-id-null", _raw(b'{"client_id": null}'), "no client_id"),
    ("secret-expiry", _document(client_secret_expires_at=0), "client_secret_expires_at"),
    ("client-secret-post", _document(token_endpoint_auth_method="client_secret_post"), "shared-secret method"),
    ("client-secret-jwt", _document(token_endpoint_auth_method="client_secret_jwt"), "shared-secret method"),
    (
        "symmetric-key",
        _document(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
        "private key material",
    ),
    (
        "rsa-private-key",
        _document(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [RSA_PRIVATE]}),
        "private key material",
    ),
    (
        "private-key-jwt-without-keys",
        _document(token_endpoint_auth_method="private_key_jwt"),
        "private_key_jwt needs the client's public keys in jwks or jwks_uri (section 8.2)",
    ),
    ("empty-redirect-uris", _document(redirect_uris=[]), "no redirect_uris"),
    ("redirect-uris-string", _document(redirect_uris="https://evil.example/callback"), "array of strings"),
    ("redirect-uris-numbers", _document(redirect_uris=[1]), "array of strings"),
    ("http-redirect", _document(redirect_uris=["http://evil.example/callback"]), "must use https"),
    ("fragment-redirect", _document(redirect_uris=["https://evil.example/callback#x"]), "fragment"),
    ("relative-redirect", _document(redirect_uris=["/callback"]), "absolute URI"),
    # RFC 3986 §4.3: absolute, though it has no authority; MCP §11.3 is what refuses it.
    (
        "private-use-scheme-redirect",
        _document(redirect_uris=["com.example.app:/oauth2redirect/example-provider"]),
        "must use https, or http on a loopback host (MCP section 11.3)",
    ),
    ("empty-client-name", _document(client_name=""), "no client_name"),
    ("client-name-list", _document(client_name=["Example"]), "must be a string"),
    ("jwks-and-jwks-uri", _document(jwks={"keys": []}, jwks_uri="https://evil.example/jwks.json"), "MUST NOT both"),
    ("jwks-string", _document(jwks="keys"), "JSON Web Key Set"),
    ("grant-types-string", _document(grant_types="authorization_code"), "array of strings"),
    ("auth-method-number", _document(token_endpoint_auth_method=5), "must be a string"),
    ("logo-on-private-address", _document(logo_uri="https://private.evil.example/logo.png"), "special-use address"),
    # CIMD §8.6: only known schemes in the document's URLs, a host or not; and "#" begins a fragment,
    # an empty one too (RFC 3986 §3.5): refused as at registration, fetched or not.
    ("ftp-client-uri", _document(client_uri="ftp://evil.example/"), "client_uri 'ftp://evil.example/' is not an http"),
    ("ws-tos-uri", _document(tos_uri="ws://evil.example/tos"), "tos_uri 'ws://evil.example/tos' is not an http"),
    ("empty-fragment-policy-uri", _document(policy_uri="https://evil.example/policy#"), "has a fragment"),
    ("empty-fragment-client-uri", _document(client_uri="https://evil.example/#"), "has a fragment"),
    (
        "jwks-uri-on-cloud-metadata",
        _document(token_endpoint_auth_method="private_key_jwt", jwks_uri="https://169.254.169.254/keys"),
        "special-use address",
    ),
    # RFC 7591 §2.1: keys this AS would never fetch (http: CIMD §8.6, MCP §11.3) leave the client
    # unable to authenticate; the document was cached and its consent shown all the same.
    (
        "http-jwks-uri",
        _document(token_endpoint_auth_method="private_key_jwt", jwks_uri="http://app.example/jwks.json"),
        "jwks_uri must be an https URL to be fetched",
    ),
    ("not-utf8", _raw(b"\xff\xfe{"), "not valid UTF-8"),
    ("empty-body", _raw(b""), "not valid JSON"),
    ("html-as-json", _raw(b"<html>hi</html>"), "not valid JSON"),
    # RFC 8259 §9 limits, by the lab's one bounded parser: 2.5 KB, under the size cap, 1,250 levels deep.
    ("nested-1250-levels", _raw(b"[" * 1250 + b"]" * 1250), "nested deeper than 8 levels"),
    (
        "nested-in-a-member",
        _raw(b'{"client_id": "' + DOCUMENT_URL.encode() + b'", "x": ' + b"[" * 1200 + b"]" * 1200 + b"}"),
        "nested deeper",
    ),
    ("lone-surrogate-name", _raw(json.dumps(valid_document(client_name="\ud800")).encode()), "lone surrogate"),
    (
        "duplicate-client-id",
        _raw(b'{"client_id": "https://app.example/client.json", "client_id": "' + DOCUMENT_URL.encode() + b'"}'),
        "appears twice",
    ),
    ("nan", _raw(json.dumps(valid_document(x=float("nan"))).encode()), "NaN"),
]

HOSTILE_RESPONSES = [
    (
        "moved-301",
        {"/client.json": HostedResponse(b"", 301, {"location": "/real.json"})},
        "redirects MUST NOT be followed",
    ),
    (
        "see-other-303",
        {"/client.json": HostedResponse(b"", 303, {"location": "https://app.example/client.json"})},
        "redirects MUST NOT be followed",
    ),
    (
        "permanent-308",
        {"/client.json": HostedResponse(b"", 308, {"location": "http://10.0.0.5/api/secrets"})},
        "redirects MUST NOT be followed",
    ),
    ("302-without-location", {"/client.json": HostedResponse(b"", 302, {})}, "answered 302"),
    ("no-content-204", {"/client.json": HostedResponse(b"", 204, {})}, "HTTP 204"),
    ("server-error-500", {"/client.json": json_response(valid_document(), status=500)}, "HTTP 500"),
    ("unauthorized-401", {"/client.json": json_response(valid_document(), status=401)}, "HTTP 401"),
    (
        "javascript-content-type",
        {"/client.json": json_response(valid_document(), content_type="application/javascript")},
        "not a JSON media type",
    ),
    (
        "no-content-type",
        {"/client.json": HostedResponse(json_response(valid_document()).body, 200, {})},
        "no content type",
    ),
    ("text-json", {"/client.json": json_response(valid_document(), content_type="text/json")}, "not a JSON media type"),
    (
        "one-megabyte",
        {"/client.json": json_response(valid_document(padding="x" * 1_000_000))},
        # CIMD §8.7 bounds the document (the response), not the client_id string.
        "the response from the client_id URL is larger than 5120 bytes",
    ),
    (
        "one-byte-over",
        {"/client.json": HostedResponse(b" " * 5121, 200, {"content-type": "application/json"})},
        "larger than 5120 bytes",
    ),
]


def _cases() -> list[Any]:
    cases = [
        pytest.param(RuleCase(i, "hostile URL", url, SERVED, hardened_error=phrase), id=f"url-{i}")
        for i, url, phrase in HOSTILE_URLS
    ]
    cases += [
        pytest.param(RuleCase(i, "hostile document", DOCUMENT_URL, served, hardened_error=phrase), id=f"doc-{i}")
        for i, served, phrase in HOSTILE_DOCUMENTS
    ]
    cases += [
        pytest.param(RuleCase(i, "hostile response", DOCUMENT_URL, served, hardened_error=phrase), id=f"response-{i}")
        for i, served, phrase in HOSTILE_RESPONSES
    ]
    slow = HostedResponse(
        json_response(valid_document()).body, 200, {"content-type": "application/json"}, delay_seconds=0.2
    )
    cases.append(pytest.param(RuleCase("slow", "slow", DOCUMENT_URL, {"/client.json": slow}, hardened_error="timeout",
                                       policy_changes={"fetch_timeout_seconds": 0.02}), id="response-slow"))  # fmt: skip
    cases += [
        pytest.param(RuleCase("denied", "trust policy", DOCUMENT_URL, SERVED, hardened_error="denied domains",
                              policy_changes={"denied_client_domains": ("*.example",)}), id="trust-denied-wildcard"),
        pytest.param(RuleCase("not-allowed", "trust policy", DOCUMENT_URL, SERVED, hardened_error="allowed domains",
                              policy_changes={"allowed_client_domains": ("app.example",)}), id="trust-not-allowed"),
    ]  # fmt: skip
    return cases


CASES = _cases()


def test_the_suite_has_at_least_sixty_hostile_inputs() -> None:
    assert len(CASES) + len(HOSTILE_REGISTRATIONS) >= 60


@pytest.mark.parametrize("case", CASES)
async def test_a_hostile_cimd_input_is_refused_naming_the_rule_and_leaves_nothing_behind(case: RuleCase) -> None:
    result = await run_cimd_rule(case, HARDENED)
    assert result.outcome == "refused", result.summary
    assert result.details["error"] in ("invalid_client", "invalid_request")
    assert case.hardened_error in result.details["error_description"], result.details["error_description"]
    assert result.details["cached"] == []  # §5: errors and invalid documents are never cached
    assert result.details["records"] == 0  # CIMD never writes a client record
    assert result.details["internal_requests"] == []
    assert all(e.status is not None and e.status < 500 for e in result.exchanges if e.host == "auth.example.com")


async def test_urls_inside_a_document_are_refused_by_the_special_use_rule_and_by_nothing_else() -> None:
    # CIMD -02 §8.6: the AS MUST NOT fetch a URL in the document (logo_uri, jwks_uri…) that resolves
    # to a special-use address; the hardened AS refuses the document. With that one rule switched
    # off (block_special_use_addresses, as the experiments switch it) the same document is accepted.
    served = _document(logo_uri="https://private.evil.example/logo.png")
    case = RuleCase("logo-private", "hostile document", DOCUMENT_URL, served, hardened_error="special-use address")
    assert (await run_cimd_rule(case, HARDENED)).outcome == "refused"
    unvetted = await run_cimd_rule(case, HARDENED.but(block_special_use_addresses=False))
    assert unvetted.outcome == "accepted", unvetted.summary


HOSTILE_REGISTRATIONS = [
    ("logo-cloud-metadata", {"logo_uri": "http://169.254.169.254/latest/meta-data/"}, "link-local"),
    ("logo-ipv6-loopback", {"logo_uri": "https://[::1]/logo.png"}, "loopback"),
    ("jwks-private-literal", {"jwks_uri": "https://10.0.0.5/api/secrets"}, "private"),
    ("jwks-cgnat", {"jwks_uri": "https://cgnat.evil.example/jwks.json"}, "carrier-grade NAT"),
    ("sector-loopback", {"sector_identifier_uri": "https://loopback.evil.example/sector.json"}, "loopback"),
    ("logo-nat64", {"logo_uri": "https://nat64.evil.example/logo.png"}, "carried inside the IPv6 address"),
    ("logo-unspecified", {"logo_uri": "https://0.0.0.0/logo.png"}, "unspecified"),
    ("jwks-mapped-metadata", {"jwks_uri": "https://[::ffff:169.254.169.254]/keys"}, "link-local"),
    ("sector-mapped-private", {"sector_identifier_uri": "https://mapped.evil.example/sector.json"}, "private"),
]


@pytest.mark.parametrize(("changes", "kind"), [pytest.param(c, k, id=i) for i, c, k in HOSTILE_REGISTRATIONS])
async def test_a_registration_aimed_at_an_internal_address_is_refused_and_writes_no_record(
    changes: dict, kind: str
) -> None:
    async with Lab(policy=HARDENED) as lab:
        internal = add_internal_network(lab)
        body = {
            "client_name": "x",
            "redirect_uris": ["https://evil.example/cb"],
            "token_endpoint_auth_method": "none",
            **changes,
        }
        response = await register(lab, body, caller="evil.example")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert (
        "special-use address" in response.json()["error_description"] and kind in response.json()["error_description"]
    )
    assert lab.registrations == {} and internal.reached == []


async def _register_logo_redirecting_to_cloud_metadata(policy: ASPolicy) -> tuple[int, Lab, InternalNetwork]:
    async with Lab(policy=policy) as lab:
        internal = add_internal_network(lab)
        internal.attacker.publish_response(
            "/logo.png", HostedResponse(b"", 302, {"location": "http://169.254.169.254/latest/meta-data/"})
        )
        body = {"client_name": "x", "redirect_uris": ["https://evil.example/cb"], "token_endpoint_auth_method": "none",
                "logo_uri": "https://evil.example/logo.png"}  # fmt: skip
        response = await register(lab, body, caller="evil.example")
    return response.status_code, lab, internal


async def test_a_registration_keeps_what_it_prefetched_the_logo_as_the_image_it_is_the_keys_as_served() -> None:
    # CIMD -02 §8.8 (which the lab applies to DCR): the AS fetches the client's logo itself, through
    # the defensive fetch, and keeps it; the raster-image rule (lab policy against stored XSS)
    # judges the logo alone, so a jwks_uri's JSON beside it is kept too, not refused as no image.
    async with Lab(policy=HARDENED) as lab:
        internal = add_internal_network(lab)
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
        internal.attacker.publish_response("/logo.png", HostedResponse(png, 200, {"content-type": "image/png"}))
        internal.attacker.publish_response("/jwks.json", json_response({"keys": []}))
        body = {"client_name": "x", "redirect_uris": ["https://evil.example/cb"], "token_endpoint_auth_method": "private_key_jwt",
                "logo_uri": "https://evil.example/logo.png", "jwks_uri": "https://evil.example/jwks.json"}  # fmt: skip
        response = await register(lab, body, caller="evil.example")
    assert response.status_code == 201, response.text
    (client,) = lab.registrations.values()
    assert client.prefetched["logo_uri"].content_type == "image/png" and client.prefetched["logo_uri"].body == png
    assert json.loads(client.prefetched["jwks_uri"].body) == {"keys": []}
    # RFC 9110 §12.5.1: each request's Accept names the kind of answer the AS can use.
    accepted = {
        e.url.rsplit("/", 1)[1]: e.request_header("accept") for e in lab.trace.exchanges if e.host == "evil.example"
    }
    assert accepted == {"logo.png": "image/*", "jwks.json": "application/json"}


async def test_a_logo_that_redirects_inside_the_network_is_not_followed_and_not_kept() -> None:
    status, lab, internal = await _register_logo_redirecting_to_cloud_metadata(HARDENED)
    assert status == 201
    assert internal.reached == []
    assert all(client.prefetched == {} for client in lab.registrations.values())


async def test_it_is_the_no_redirect_rule_that_keeps_the_logo_fetch_out_of_the_cloud_metadata_service() -> None:
    # CIMD -02 §5: redirects MUST NOT be followed. Vetting evil.example's address does not cover
    # 169.254.169.254: once the redirect is followed, the request goes where that host is.
    _, lab, internal = await _register_logo_redirecting_to_cloud_metadata(HARDENED.but(follow_redirects=True))
    assert internal.reached == ["cloud-metadata /latest/meta-data/"]
    assert [e.address for e in lab.trace if e.host == "169.254.169.254"] == ["169.254.169.254"]


@pytest.mark.parametrize(
    ("host", "matches"),
    [("api.example.com", True), ("a.b.example.com", True), ("example.com", False), ("evilexample.com", False)],
)
def test_a_wildcard_domain_names_its_subdomains_not_the_domain_itself(host: str, matches: bool) -> None:
    # MCP §11.6.3 / CIMD §8.9 trust policy, in this AS's pattern syntax: "*.example.com" stands for
    # any subdomain of example.com; neither the apex nor a name merely ending in "example.com".
    assert host_matches(host, "*.example.com") is matches
