"""Real MCP clients' published metadata, as quoted in public threads in 2026, at the lab's AS.

Each CIMD document is served at its own URL, and its client signs in at the redirect URI it
really uses, through code and token, under both policies. Where the AS refuses one, the refusal
is one a spec the lab follows requires, and it names that rule.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from lab_servers import HARDENED, NAIVE, ASPolicy, Lab
from lab_servers.authorization_server.authorize import is_loopback_port_variant

from .helpers import assert_oauth_error, code_form, get_code, open_authorization, register, token_request

pytestmark = pytest.mark.anyio

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"

# Claude (claude.ai, Desktop), quoted whole in django-oauth-toolkit#1855 (2026): jwt-bearer beside
# the code flow, and an https callback.
CLAUDE = {
    "client_id": "https://claude.ai/oauth/mcp-oauth-client-metadata",
    "client_name": "Claude",
    "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
    "grant_types": ["authorization_code", "refresh_token", JWT_BEARER],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
}
# Claude Code: its redirect_uris quoted in anthropics/claude-code#41011 (2026-03-30) and #37767
# (2026-03-23), whose reporters saw it ask for http://localhost:58135/callback and
# http://127.0.0.1:52163/callback (#64705, 2026-06-02): port-less loopback URIs, an ephemeral
# port at run time, and no application_type. The other members as copies of it fetched in 2026 show.
CLAUDE_CODE = {
    "client_id": "https://claude.ai/oauth/claude-code-client-metadata",
    "client_name": "Claude Code",
    "client_uri": "https://claude.ai",
    "redirect_uris": ["http://localhost/callback", "http://127.0.0.1/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
}
# VS Code, quoted in stacklok/toolhive#6290 (2026-08-12), whose AS refused it over device_code; its
# redirect URIs as VS Code itself lists them (microsoft/vscode#282472, 2025-12-10): a fixed port.
VS_CODE = {
    "application_type": "native",
    "client_id": "https://vscode.dev/oauth/client-metadata.json",
    "client_name": "Visual Studio Code",
    "client_uri": "https://vscode.dev/product",
    "grant_types": ["authorization_code", "refresh_token", DEVICE_CODE],
    "response_types": ["code"],
    "redirect_uris": ["https://vscode.dev/redirect", "http://127.0.0.1:33418/"],
    "token_endpoint_auth_method": "none",
}
# opencode's published document, quoted whole in anomalyco/opencode#47737 (2026-09-07; its client
# sends it since #47743, which the 1.18.33 release tests/test_opencode.py runs does not have yet):
# port-less loopback URIs, a logo, application_type, and token_endpoint_auth_methods_supported,
# which is AS metadata (RFC 8414 §2), not client metadata: unknown here, so ignored (RFC 7591 §2).
OPENCODE = {
    "client_id": "https://opencode.ai/oauth/opencode/client.json",
    "client_name": "opencode",
    "client_uri": "https://opencode.ai",
    "logo_uri": "https://opencode.ai/web-app-manifest-512x512.png",
    "application_type": "native",
    "redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
    "token_endpoint_auth_methods_supported": ["none"],
}
# Goose, aaif-goose/goose documentation/static/oauth/client-metadata.json (CIMD since goose#8550,
# 2026-04-15): a port-less localhost URI, OpenID scopes only, and code_challenge_methods_supported,
# again AS metadata.
GOOSE = {
    "client_id": "https://goose-docs.ai/oauth/client-metadata.json",
    "client_name": "Goose",
    "redirect_uris": ["http://localhost/oauth_callback"],
    "grant_types": ["authorization_code"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
    "scope": "openid profile email",
    "code_challenge_methods_supported": ["S256"],
}

# (document, the redirect URI its client sends)
SIGN_INS = [
    (CLAUDE, "https://claude.ai/api/mcp/auth_callback"),
    (CLAUDE_CODE, "http://127.0.0.1:52163/callback"),
    (CLAUDE_CODE, "http://localhost:58135/callback"),
    (VS_CODE, "http://127.0.0.1:33418/"),
    (VS_CODE, "https://vscode.dev/redirect"),
    (OPENCODE, "http://127.0.0.1:49152/callback"),
    (GOOSE, "http://localhost:49152/oauth_callback"),
]
IDS = ["claude", "claude-code-127", "claude-code-localhost", "vscode-loopback", "vscode-web", "opencode", "goose"]
POLICIES = pytest.mark.parametrize("policy", [HARDENED, NAIVE], ids=["hardened", "naive"])


def serve(lab: Lab, document: dict[str, Any]) -> str:
    """Publish `document` at its own URL, on a host with a public address (CIMD -02 §6.4)."""
    lab.add_metadata_host(urlsplit(document["client_id"]).hostname or "", "93.184.216.34")
    lab.publish_client_document(document["client_id"], document)
    return str(document["client_id"])


@POLICIES
@pytest.mark.parametrize(("document", "redirect_uri"), SIGN_INS, ids=IDS)
async def test_a_real_clients_document_signs_it_in_at_the_redirect_uri_it_uses(
    document: dict[str, Any], redirect_uri: str, policy: ASPolicy
) -> None:
    async with Lab(seed=0, policy=policy) as lab:
        client_id = serve(lab, document)
        code = await get_code(lab, client_id, redirect_uri=redirect_uri)
        answer = await token_request(lab, code_form(client_id, code, redirect_uri=redirect_uri))
    assert answer.status_code == 200, answer.text


# The one exception to exact matching: the port of a loopback redirect URI ----------------------


@pytest.mark.parametrize(
    "requested",
    [
        "http://127.0.0.1:52163/elsewhere",  # another path
        "http://127.0.0.1:52163/callback?x=1",  # a query added
        "http://127.0.0.1:52163/callback?",  # an empty one (urlsplit's geturl() dropped it)
        "http://127.0.0.2:52163/callback",  # another loopback address is another URI
        "http://[::1]:52163/callback",
        "http://localhost.:52163/callback",
        "http://evil.example:52163/callback",
        "https://127.0.0.1:52163/callback",  # another scheme
        "http://127.0.0.1:65536/callback",  # a port over 65535 is no TCP port (WHATWG URL Standard)
        "http://user@127.0.0.1:52163/callback",
    ],
)
async def test_only_the_port_of_a_registered_loopback_redirect_uri_may_differ(lab: Lab, requested: str) -> None:
    # OAuth 2.1 §8.4.2 (RFC 8252 §7.3): "any port" for loopback IP redirect URIs, and RFC 9700
    # §2.1: "exact string matching except for port numbers in localhost redirection URIs".
    outcome = await open_authorization(lab, serve(lab, CLAUDE_CODE), redirect_uri=requested)
    assert outcome.fields.get("error") == "invalid_request", outcome


async def test_an_https_redirect_uri_on_another_port_is_another_redirect_uri(lab: Lab) -> None:
    outcome = await open_authorization(
        lab, serve(lab, CLAUDE), redirect_uri="https://claude.ai:8443/api/mcp/auth_callback"
    )
    assert "must match exactly" in outcome.fields["error_description"]


@pytest.mark.parametrize("registered", ["https://127.0.0.1/callback", "https://localhost/callback"])
def test_only_an_http_loopback_redirect_uri_takes_any_port(registered: str) -> None:
    # OAuth 2.1 §8.4.2 names "loopback IP redirect URIs" of native apps, which RFC 8252 §7.3
    # defines as http: an https URI on a loopback host is matched exactly, as any other is.
    assert is_loopback_port_variant("http://127.0.0.1:52163/callback", "http://127.0.0.1/callback")
    assert not is_loopback_port_variant(registered.replace("/callback", ":52163/callback"), registered)


async def test_the_code_is_redeemed_with_the_port_the_client_asked_for(lab: Lab) -> None:
    # OAuth 2.1 §10.2: a redirect_uri at the token endpoint is the authorization request's own.
    client_id = serve(lab, CLAUDE_CODE)
    code = await get_code(lab, client_id, redirect_uri="http://127.0.0.1:52163/callback")
    answer = await token_request(lab, code_form(client_id, code, redirect_uri="http://127.0.0.1/callback"))
    assert_oauth_error(answer, 400, "invalid_grant", "differs")


async def test_a_localhost_only_document_on_another_port_still_carries_the_warning(lab: Lab) -> None:
    # MCP §11.6.2: any program on the machine can claim this client_id; the port changes nothing.
    outcome = await open_authorization(lab, serve(lab, CLAUDE_CODE), redirect_uri="http://127.0.0.1:52163/callback")
    assert "localhost" in outcome.fields["warning"]


async def test_a_document_whose_scopes_this_as_lacks_signs_in_with_the_resources_scope(lab: Lab) -> None:
    # RFC 7591 §2: scope lists what the client "can use", and omitted lets the AS pick a default;
    # the client asks for the resource's scope at the authorization endpoint (MCP §10).
    client_id = serve(lab, GOOSE)
    await get_code(lab, client_id, redirect_uri="http://localhost:49152/oauth_callback", scope="notes:read")
    assert "scope" not in lab.cimd_cache[client_id].document


# Registration bodies (DCR): addressed to this AS alone, refused naming the rule -----------------

# Claude's (claude.ai, Desktop) registration body, quoted whole in PostHog/posthog#48397
# (2026-02-19): a confidential client, client_secret_post, where its CIMD document is public.
CLAUDE_REGISTRATION = {
    "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
    "token_endpoint_auth_method": "client_secret_post",
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "client_name": "Claude",
}
# VS Code's registration body, quoted whole in PrefectHQ/fastmcp#1868 (2025-09-19).
VS_CODE_REGISTRATION = {
    "client_name": "Visual Studio Code",
    "client_uri": "https://code.visualstudio.com",
    "grant_types": ["authorization_code", "refresh_token", DEVICE_CODE],
    "response_types": ["code"],
    "redirect_uris": ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect", "http://localhost/",
                      "http://127.0.0.1/", "http://localhost:33418/", "http://127.0.0.1:33418/"],
    "scope": "read:data",
    "token_endpoint_auth_method": "none",
    "application_type": "native",
}  # fmt: skip
# Cursor's three redirect URIs in one registration, as soflyy/agent-connector-for-wp#111
# (2026-09-11) and erp-mafia/accounted#2225 (2026-09-03) quote them; the rest of its body as those
# threads describe it (a public client).
CURSOR_REGISTRATION = {
    "client_name": "Cursor",
    "redirect_uris": ["cursor://anysphere.cursor-mcp/oauth/callback", "https://www.cursor.com/agents/mcp/oauth/callback",
                      "http://localhost:8787/callback"],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "none",
}  # fmt: skip


@POLICIES
async def test_claudes_registration_gets_a_secret_it_redeems_its_code_with(policy: ASPolicy) -> None:
    # RFC 7591 §3.2.1: client_secret_post gets a secret; RFC 6749 §2.3.1: sent in the form.
    callback = {"redirect_uri": "https://claude.ai/api/mcp/auth_callback"}
    async with Lab(seed=0, policy=policy) as lab:
        registered = (await register(lab, CLAUDE_REGISTRATION)).json()
        code = await get_code(lab, registered["client_id"], **callback)
        form = {**code_form(registered["client_id"], code, **callback), "client_secret": registered["client_secret"]}
        answer = await token_request(lab, form)
    assert answer.status_code == 200, answer.text


@POLICIES
async def test_vs_codes_registration_is_narrowed_to_what_this_as_offers_and_signs_in(policy: ASPolicy) -> None:
    # RFC 7591 §2: the AS MAY "replace" a requested value; §3.2.1: the response returns what was
    # registered. VS Code sends device_code to every AS and never reads a refusal's description:
    # refused, it asks its user for a client ID (microsoft/vscode#257415).
    async with Lab(seed=0, policy=policy) as lab:
        answer = await register(lab, {**VS_CODE_REGISTRATION, "scope": "notes:read"})
        assert answer.status_code == 201, answer.text
        registered = answer.json()
        code = await get_code(lab, registered["client_id"], redirect_uri="http://127.0.0.1:61000/")
        token = await token_request(
            lab, code_form(registered["client_id"], code, redirect_uri="http://127.0.0.1:61000/")
        )
    assert registered["grant_types"] == ["authorization_code", "refresh_token"]
    assert registered["scope"] == "notes:read"
    assert token.status_code == 200, token.text


async def test_a_registration_asking_only_for_scopes_this_as_lacks_registers_without_a_scope(lab: Lab) -> None:
    # RFC 7591 §2: omitted, the AS "MAY register a client with a default set of scopes". The client
    # asks for the resource's scope at the authorization endpoint (MCP §10), checked there.
    answer = await register(lab, VS_CODE_REGISTRATION)
    assert answer.status_code == 201, answer.text
    assert "scope" not in answer.json()


async def test_a_registration_left_with_no_grant_type_this_as_offers_is_refused_naming_those_it_offers(
    lab: Lab,
) -> None:
    answer = await register(lab, {**VS_CODE_REGISTRATION, "grant_types": [DEVICE_CODE]})
    assert_oauth_error(
        answer,
        400,
        "invalid_client_metadata",
        DEVICE_CODE,
        "'authorization_code', 'refresh_token'",
        "RFC 7591 section 2",
    )


async def test_a_registrations_scope_keeps_the_values_this_as_offers_separated_by_spaces(lab: Lab) -> None:
    # RFC 7591 §2: scope is "a string containing a space-separated list of scope values" (RFC 6749
    # §3.3); what this AS lacks is set aside and the rest registered in that same form (§3.2.1).
    answer = await register(lab, {**VS_CODE_REGISTRATION, "scope": "openid notes:read profile notes:write"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["scope"] == "notes:read notes:write"


async def test_a_registration_narrowed_to_the_refresh_token_grant_alone_is_refused(lab: Lab) -> None:
    # RFC 6749 §1.5: a refresh token comes from the AS beside a token another grant obtained. Left
    # with refresh_token alone, a device_code client could never sign in; RFC 7591 §2.1: the AS
    # "SHOULD take steps to ensure that a client cannot register itself into an inconsistent state".
    answer = await register(lab, {**VS_CODE_REGISTRATION, "grant_types": [DEVICE_CODE, "refresh_token"]})
    assert_oauth_error(
        answer, 400, "invalid_client_metadata", DEVICE_CODE, "only refresh_token", "RFC 7591 section 2.1"
    )
    assert lab.registrations == {}


async def test_a_registration_asking_for_the_refresh_token_grant_alone_is_refused(lab: Lab) -> None:
    # RFC 6749 §1.5, RFC 7591 §2.1: asked for alone it is no less inconsistent than left alone.
    answer = await register(lab, {**VS_CODE_REGISTRATION, "grant_types": ["refresh_token"]})
    assert_oauth_error(answer, 400, "invalid_client_metadata", "only refresh_token", "RFC 6749 section 1.5")
    assert lab.registrations == {}


@POLICIES
async def test_cursors_registration_is_refused_for_its_private_use_scheme_naming_mcp_11_3(policy: ASPolicy) -> None:
    # MCP §11.3: redirect URIs MUST be "either localhost or use HTTPS"; RFC 8252 §7.1's private-use
    # schemes are not among them, and Cursor also lists an https and a loopback one.
    async with Lab(seed=0, policy=policy) as lab:
        answer = await register(lab, CURSOR_REGISTRATION)
    assert_oauth_error(
        answer, 400, "invalid_redirect_uri", "cursor://anysphere.cursor-mcp/oauth/callback", "MCP section 11.3"
    )
