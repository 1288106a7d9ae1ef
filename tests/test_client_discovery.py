"""The lab client follows the spec's discovery orders and names the step that fails."""

from __future__ import annotations

import base64

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lab_servers import Lab, StepError
from lab_servers.client import Browser, Redirect, decode_jwt_payload
from lab_servers.client.discovery import authorization_server_metadata_urls, protected_resource_metadata_urls

pytestmark = pytest.mark.anyio


def test_prm_urls_use_the_header_url_alone_when_present() -> None:
    assert protected_resource_metadata_urls("https://h/public/mcp", "https://h/custom") == [
        ("https://h/custom", "https://h/public/mcp"),
    ]


def test_prm_urls_insert_the_well_known_segment_then_fall_back_to_the_root() -> None:
    # Each URL comes with the resource its metadata must name (RFC 9728 §3.3): the root URL is
    # built from the origin, so metadata found there describes the origin.
    assert protected_resource_metadata_urls("https://h/public/mcp", None) == [
        ("https://h/.well-known/oauth-protected-resource/public/mcp", "https://h/public/mcp"),
        ("https://h/.well-known/oauth-protected-resource", "https://h"),
    ]
    assert protected_resource_metadata_urls("https://h", None) == [
        ("https://h/.well-known/oauth-protected-resource", "https://h")
    ]
    # RFC 9728 §3.1 removes the terminating slash only to build the URL; §3.3's identifier is the
    # one the suffix was inserted into: the MCP URL, slash and all (pydantic's AnyUrl writes one).
    assert protected_resource_metadata_urls("https://h/", None) == [
        ("https://h/.well-known/oauth-protected-resource", "https://h/")
    ]


@pytest.mark.parametrize(
    ("mcp_url", "inserted"),
    [
        ("https://h/mcp/", "https://h/.well-known/oauth-protected-resource/mcp/"),
        ("https://h/mcp?tenant=a", "https://h/.well-known/oauth-protected-resource/mcp?tenant=a"),
        ("https://h/?tenant=a", "https://h/.well-known/oauth-protected-resource?tenant=a"),
        # RFC 3986 §6.2.3: an empty query keeps its '?' (urlsplit reads it as no query at all).
        ("https://h/mcp?", "https://h/.well-known/oauth-protected-resource/mcp?"),
    ],
)
def test_prm_urls_keep_the_paths_own_trailing_slash_and_the_query(mcp_url: str, inserted: str) -> None:
    # RFC 9728 §3.1: the string goes "between the host component and the path and/or query
    # components"; only a terminating '/' directly following the host is removed.
    assert protected_resource_metadata_urls(mcp_url, None)[0] == (inserted, mcp_url)


def test_as_metadata_urls_for_an_issuer_with_a_path() -> None:
    assert authorization_server_metadata_urls("https://a/tenant1/") == [
        "https://a/.well-known/oauth-authorization-server/tenant1",
        "https://a/.well-known/openid-configuration/tenant1",
        "https://a/tenant1/.well-known/openid-configuration",
    ]


def test_as_metadata_urls_for_an_issuer_without_a_path() -> None:
    assert authorization_server_metadata_urls("https://a") == [
        "https://a/.well-known/oauth-authorization-server",
        "https://a/.well-known/openid-configuration",
    ]


def variant_server(
    prm_at_root: bool, issuer: str, as_path: str, as_metadata: dict, resource: str | None = None
) -> Starlette:
    """An MCP server whose 401 names no metadata URL, plus an AS answering at one URL only; its
    PRM names `resource`, or the identifier its URL was built from."""

    async def mcp(_: Request) -> Response:
        return JSONResponse({}, 401, headers={"WWW-Authenticate": 'Bearer scope="notes:read"'})

    async def prm(_: Request) -> Response:
        built_from = "https://variant.example" if prm_at_root else "https://variant.example/mcp"
        return JSONResponse({"resource": resource or built_from, "authorization_servers": [issuer]})

    async def metadata(_: Request) -> Response:
        return JSONResponse(as_metadata)

    prm_path = "/.well-known/oauth-protected-resource" + ("" if prm_at_root else "/mcp")
    return Starlette(routes=[Route("/mcp", mcp, methods=["POST"]), Route(prm_path, prm), Route(as_path, metadata)])


def variant_lab(lab: Lab, **as_metadata_changes: object) -> Lab:
    issuer = "https://variant.example/tenant1"
    metadata = {"issuer": issuer, "authorization_endpoint": f"{issuer}/authorize", "token_endpoint": f"{issuer}/token",
                "code_challenge_methods_supported": ["S256"], **as_metadata_changes}  # fmt: skip
    app = variant_server(True, issuer, "/tenant1/.well-known/openid-configuration", metadata)
    lab.network.add_host("variant.example", "93.184.215.99", app)
    return lab


async def run_discovery(lab: Lab):
    client = lab.client("dcr")
    client.mcp_url = "https://variant.example/mcp"
    for _ in range(3):
        await client.next_step()
    return client


async def test_without_a_header_url_the_client_probes_path_inserted_then_root_then_every_as_url(lab: Lab) -> None:
    client = await run_discovery(variant_lab(lab))
    assert client.records[1].learned["tried"] == [
        "https://variant.example/.well-known/oauth-protected-resource/mcp → 404",
        "https://variant.example/.well-known/oauth-protected-resource → 200",
    ]
    assert client.records[2].learned["tried"] == [
        "https://variant.example/.well-known/oauth-authorization-server/tenant1 → 404",
        "https://variant.example/.well-known/openid-configuration/tenant1 → 404",
        "https://variant.example/tenant1/.well-known/openid-configuration → 200",
    ]


async def test_an_issuer_mismatch_fails_step_3_by_name(lab: Lab) -> None:
    with pytest.raises(StepError, match=r"^step 3 \(as-metadata\): AS metadata issuer mismatch"):
        await run_discovery(variant_lab(lab, issuer="https://variant.example/other"))


@pytest.mark.parametrize(
    "issuer",
    ["https://variant.example/tenant1/", "https://VARIANT.example/tenant1", "https://variant.example:443/tenant1"],
    ids=["a-trailing-slash", "another-case", "the-default-port"],
)
async def test_an_issuer_a_normaliser_would_call_the_same_is_a_mismatch_that_fails_step_3(
    lab: Lab, issuer: str
) -> None:
    # RFC 8414 §3.3: the issuer in the metadata MUST be identical to the issuer the metadata URL
    # was built from, https://variant.example/tenant1 here, or the metadata MUST NOT be used; a
    # terminating slash (pydantic's AnyUrl adds one), a letter's case or the default port written
    # out make another string (MCP 2026-07-28: issuers are compared without normalisation).
    with pytest.raises(StepError, match=r"^step 3 \(as-metadata\): AS metadata issuer mismatch"):
        await run_discovery(variant_lab(lab, issuer=issuer))


async def test_a_prm_resource_that_differs_by_a_trailing_slash_alone_fails_step_2(lab: Lab) -> None:
    # RFC 9728 §3.3: the resource MUST be identical to the identifier the metadata URL was built
    # from, compared as strings: https://variant.example/mcp/ is not https://variant.example/mcp.
    issuer = "https://variant.example/tenant1"
    app = variant_server(False, issuer, "/unused", {}, resource="https://variant.example/mcp/")
    lab.network.add_host("variant.example", "93.184.215.99", app)
    with pytest.raises(
        StepError,
        match=r"^step 2 \(resource-metadata\): PRM resource 'https://variant.example/mcp/' is not identical to "
        r"'https://variant.example/mcp'",
    ):
        await run_discovery(lab)


async def test_missing_pkce_support_fails_step_3(lab: Lab) -> None:
    with pytest.raises(StepError, match="PKCE S256"):
        await run_discovery(variant_lab(lab, code_challenge_methods_supported=None))


async def test_a_prm_resource_that_is_not_the_server_url_fails_step_2(lab: Lab) -> None:
    client = lab.client("dcr")
    client.mcp_url = "https://MCP.example.com/mcp"
    await client.next_step()
    with pytest.raises(
        StepError,
        match=r"^step 2 \(resource-metadata\): PRM resource .* is not identical to 'https://MCP.example.com/mcp'",
    ):
        await client.next_step()


async def test_an_unknown_host_fails_like_a_connection_error_naming_the_step(lab: Lab) -> None:
    client = lab.client("dcr")
    client.mcp_url = "https://nowhere.example/mcp"
    with pytest.raises(
        StepError, match=r"^step 1 \(challenge\): HTTP request to .* failed: nowhere.example: name does not resolve"
    ):
        await client.next_step()
    assert lab.trace.exchanges[-1].error == "nowhere.example: name does not resolve"


class TamperingBrowser(Browser):
    """A browser whose redirect is rewritten in transit (what a mix-up or CSRF attacker achieves)."""

    def __init__(self, http, old: str, new: str) -> None:
        super().__init__(http)
        self.old, self.new = old, new

    async def decide(self, page, decision):
        redirect = await super().decide(page, decision)
        return Redirect(redirect.location.replace(self.old, self.new))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "iss=https%3A%2F%2Fauth.example.com",
            "iss=https%3A%2F%2Fevil.example",
            r"iss .* possible mix-up attack \(RFC 9207\)",
        ),
        # RFC 9207 §2.4: "simple string comparison": a slash or a letter's case is another issuer.
        (
            "iss=https%3A%2F%2Fauth.example.com",
            "iss=https%3A%2F%2Fauth.example.com%2F",
            r"iss .* possible mix-up attack \(RFC 9207\)",
        ),
        (
            "iss=https%3A%2F%2Fauth.example.com",
            "iss=https%3A%2F%2FAuth.example.com",
            r"iss .* possible mix-up attack \(RFC 9207\)",
        ),
        ("&iss=https%3A%2F%2Fauth.example.com", "", r"the AS advertises iss .* has none"),
        ("state=", "state=X", r"state in the redirect does not match"),
    ],
    ids=["wrong-iss", "iss-with-a-slash", "iss-in-another-case", "missing-iss", "wrong-state"],
)
async def test_a_tampered_redirect_fails_step_5(lab: Lab, old: str, new: str, message: str) -> None:
    client = lab.client("cimd")
    client.browser = TamperingBrowser(client.browser.http, old, new)
    for _ in range(4):
        await client.next_step()
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): " + message):
        await client.next_step()


async def test_denying_consent_fails_step_5_with_access_denied(lab: Lab) -> None:
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the AS answered access_denied"):
        await lab.connect("cimd", decision="deny")


async def test_a_forced_method_the_as_does_not_offer_fails_step_4(lab: Lab) -> None:
    with pytest.raises(StepError, match=r"^step 4 \(client-id\): registration method 'preregistered' is not available"):
        await lab.connect("preregistered")


async def test_auto_prefers_preregistered_then_cimd(lab: Lab) -> None:
    from lab_servers import Credentials

    lab.auth_server.preregister("admin-made-id", {"client_name": "Pre", "redirect_uris": ["https://app.example/callback"],
                                                  "token_endpoint_auth_method": "none"})  # fmt: skip
    pre = await lab.connect("auto", preregistered={lab.issuer: Credentials("admin-made-id")})
    auto = await lab.connect("auto")
    assert pre.client_id == "admin-made-id"
    assert auto.client_id == lab.client_metadata_url


def _jwt_with_payload(payload: bytes) -> str:
    encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"eyJhbGciOiJFZERTQSJ9.{encoded}.c2ln"


@pytest.mark.parametrize(
    "payload",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000, b"\xff\xfe", b"[1, 2]", b"{" * 3],
    ids=["deep-array", "deep-object", "not-utf-8", "an-array", "truncated"],
)
def test_a_hostile_tokens_claims_are_not_shown_and_never_crash_the_client(payload: bytes) -> None:
    # To a client an access token is opaque (RFC 6749 §1.4); it reads the claims only to show
    # them, so whatever an AS it met put there is shown as nothing, never a RecursionError.
    assert decode_jwt_payload(_jwt_with_payload(payload)) is None


def test_a_tokens_claims_are_shown_when_they_are_a_json_object() -> None:
    assert decode_jwt_payload(_jwt_with_payload(b'{"sub": "alice"}')) == {"sub": "alice"}
