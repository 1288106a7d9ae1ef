"""What real MCP clients send at the lab AS's authorization and token endpoints, as public threads
quote it (2025-2026).

Each test is one client's request, as quoted, run against the AS in-process. The client's own
values (its redirect URI, state, scope, the way it authenticates) are kept; its server's are
replaced by the lab's (client_id, resource, and a resource's own scope become notes:read). Where
the AS refuses one, a spec it follows requires or permits the refusal, and the refusal names that
rule. Registration bodies quoted here are the ones test_real_client_metadata (CIMD documents,
Claude's, VS Code's and Cursor's bodies) does not hold. Where a thread leaves a value out, the
comment says what was made up in its place.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lab_servers import HARDENED, ISSUER, MCP_URL, NAIVE, ASCapabilities, ASPolicy, Lab
from lab_servers.client import ConsentPage, Redirect

from .helpers import (
    assert_oauth_error,
    code_form,
    get_code,
    open_authorization,
    refresh_form,
    register,
    token_request,
)

pytestmark = pytest.mark.anyio
POLICIES = pytest.mark.parametrize("policy", [HARDENED, NAIVE], ids=["hardened", "naive"])

CHATGPT_CALLBACK = "https://chatgpt.com/connector_platform_oauth_redirect"
CLAUDE_CALLBACK = "https://claude.ai/api/mcp/auth_callback"

# ChatGPT (connectors), community.openai.com/t/oauth-missing-scopes-after-reconnect/1366784 (the
# stored copy is undated; its state values are 2025-11): "response_type=code&client_id=…&redirect_uri=
# https%3A%2F%2Fchatgpt.com%2Fconnector_platform_oauth_redirect&state=oauth_s_691b55f5b11481919ddp59n
# ge4998443f&scope=worker%3Aread+…&code_challenge=…&code_challenge_method=S256&resource=https%3A%2F%2F
# my-domain%2Fmcp"; on reconnecting, the same "but without the scope parameter".
CHATGPT = {"redirect_uri": CHATGPT_CALLBACK, "state": "oauth_s_691b55f5b11481919ddp59nge4998443f"}
# claude.ai, anthropics/claude-ai-mcp#514 (2026-08-21): "?response_type=code&client_id=…
# &redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&code_challenge=…
# &code_challenge_method=S256&state=…&scope=mcp.read&resource=https%3A%2F%2F…%2Fapi%2Fmcp".
CLAUDE_AI = {"redirect_uri": CLAUDE_CALLBACK, "state": "j08hvv37C0OUSi3kiOtpyvBMdTOIdoP37Qp0WbZwg2k"}
# Claude Desktop's custom connector, modelcontextprotocol/mcpb#188 (2026-02-11): "…&state=xxx-xxx
# &scope=+offline_access&resource=https%3A%2F%2Fmymcp.mydomain.com%2F&prompt=consent": the scope
# " offline_access", with a leading space, and prompt=consent (claude-ai-mcp#453, 2026-06-16, alike).
CLAUDE_DESKTOP = {"redirect_uri": CLAUDE_CALLBACK, "scope": " offline_access", "prompt": "consent"}
# Claude Code, anthropics/claude-code#10439 (2025-10-27): "authorize?response_type=code&client_id=…
# &code_challenge=…&code_challenge_method=…&redirect_uri=http%3A%2F%2Flocalhost%3A56648%2Fcallback
# &state=…&scope=…&resou…"; and #41610 (2026-03-31): it "requests `offline_access` scope during the
# authorization flow regardless of whether the [AS] advertises it in `scopes_supported`".
CLAUDE_CODE_CALLBACK = "http://localhost:56648/callback"
CLAUDE_CODE = {"redirect_uri": CLAUDE_CODE_CALLBACK, "scope": "notes:read offline_access"}
# VS Code, microsoft/vscode#278512 (2025-11-20): it registers "http://127.0.0.1/" and
# "http://127.0.0.1:33418/", then with 33418 taken asks "…&scope=openid+profile+email&resource=…
# &redirect_uri=http%3A%2F%2F127.0.0.1%3A59656%2F&state=ey%2FlnTwSm9FUcQN%2FQds%…" (the quote ends there).
VS_CODE = {"redirect_uri": "http://127.0.0.1:59656/", "scope": "openid profile email", "state": "ey/lnTwSm9FUcQN/Qds"}
# MCP Inspector, better-auth/better-auth#3411 (2025-07-16): "?response_type=code&client_id=***
# &code_challenge=***&code_challenge_method=S256&redirect_uri=http%3A%2F%2Flocalhost%3A6274%2Foauth
# %2Fcallback%2Fdebug&scope=openid+profile+email+offline_access&resource=…": no state.
INSPECTOR = {"redirect_uri": "http://localhost:6274/oauth/callback/debug",
             "scope": "openid profile email offline_access", "state": None}  # fmt: skip
# mcpc 0.2.6, apify/mcpc#214 (2026-05-08): "?response_type=code&client_id=…&code_challenge=…
# &code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%3A...%2Fcallback&scope=…&resource=…",
# "No `state=...` query parameter"; Cursor sent none either (cursor/cursor#3576, 2025-09-11).
MCPC = {"redirect_uri": "http://127.0.0.1:49321/callback", "state": None}
# n8n's MCP Client node, n8n-io/n8n#22851 (2025-12-05): "The auth url that is generated includes a
# query param of `scope=openid`"; Cline 3.57.1 asks for openid too (cline/cline#9218, 2026-02-10).
N8N = {"redirect_uri": "https://n8n.example/rest/oauth2-credential/callback", "scope": "openid"}
# mcp-remote, cloudflare/mcp-server-cloudflare#457 (2026-08-20): it "requests the default OIDC
# scopes (`openid email profile`)".
MCP_REMOTE = {"redirect_uri": "http://localhost:3334/oauth/callback", "scope": "openid email profile"}


async def registered(lab: Lab, redirect_uri: str, **metadata: Any) -> str:
    """A public client registered (RFC 7591) with the redirect URI its request names."""
    grants = ["authorization_code", "refresh_token"]
    body = {"redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none", "grant_types": grants, **metadata}
    answer = await register(lab, body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def refusal(outcome: ConsentPage | Redirect) -> dict[str, str]:
    """The error: on the redirect back to the client, or on the page shown to the user when the
    redirect URI itself is refused (OAuth 2.1 §4.1.2.1)."""
    return outcome.params if isinstance(outcome, Redirect) else outcome.fields


async def signed_in(lab: Lab, request: dict[str, str | None], registered_uri: str | None = None) -> dict[str, Any]:
    """The token response after `request` at /authorize, the user's approval and the code's redemption."""
    client_id = await registered(lab, registered_uri or str(request["redirect_uri"]))
    code = await get_code(lab, client_id, **request)
    answer = await token_request(lab, code_form(client_id, code, redirect_uri=request["redirect_uri"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# The authorization request ---------------------------------------------------------------------


@POLICIES
@pytest.mark.parametrize(
    "request_",
    [CHATGPT, {**CHATGPT, "scope": None}, CLAUDE_AI, MCPC],
    ids=["chatgpt", "chatgpt-reconnect", "claude", "mcpc"],
)
async def test_a_real_clients_authorization_request_gets_a_token_for_the_mcp_server(
    request_: dict[str, str | None], policy: ASPolicy
) -> None:
    # OAuth 2.1 §4.1.1: state is RECOMMENDED, not required (MCP §11.5: a client SHOULD send it);
    # with no scope the AS uses its default (RFC 6749 §3.3) and says which (§5.1).
    async with Lab(seed=0, policy=policy) as lab:
        answer = await signed_in(lab, request_)
    assert answer["scope"] == "notes:read"


@POLICIES
@pytest.mark.parametrize(
    ("request_", "registered_uri"),
    [(CLAUDE_DESKTOP, None), (CLAUDE_CODE, None), (VS_CODE, "http://127.0.0.1/"), (INSPECTOR, None),
     (N8N, None), (MCP_REMOTE, None)],
    ids=["claude-desktop", "claude-code", "vscode", "inspector", "n8n", "mcp-remote"],
)  # fmt: skip
async def test_openid_connect_scopes_this_as_does_not_offer_are_ignored_and_the_token_names_its_scope(
    request_: dict[str, str | None], registered_uri: str | None, policy: ASPolicy
) -> None:
    # OAuth 2.1 §1.4.1: the AS "MAY fully or partially ignore the scope requested by the client",
    # and names the scope granted in the token response. Was invalid_scope ("unknown scope(s)
    # offline_access"): these clients could never sign in here.
    async with Lab(seed=0, policy=policy) as lab:
        answer = await signed_in(lab, request_, registered_uri)
    assert answer["scope"] == "notes:read"


async def test_offline_access_is_kept_where_the_as_lists_it(lab: Lab) -> None:
    # MCP 2026-07-28 (SEP-2207): with offline_access listed, the grant that asked for it has it.
    lab.auth_server.offline_access = True
    answer = await signed_in(lab, CLAUDE_CODE)
    assert answer["scope"] == "notes:read offline_access" and "refresh_token" in answer


async def test_a_resource_scope_this_as_does_not_know_is_still_invalid_scope(lab: Lab) -> None:
    # Only OpenID Connect's are ignored: a resource's scope the AS lacks is refused, naming those it has.
    client_id = await registered(lab, CLAUDE_CALLBACK)
    outcome = await open_authorization(lab, client_id, **{**CLAUDE_AI, "scope": "mcp.read offline_access"})
    assert refusal(outcome)["error"] == "invalid_scope", outcome
    assert "mcp.read" in refusal(outcome)["error_description"]
    assert "offline_access" not in refusal(outcome)["error_description"]


@POLICIES
async def test_claude_without_resource_is_refused_by_the_hardened_as_naming_rfc_8707(policy: ASPolicy) -> None:
    # claude.ai, anthropics/claude-ai-mcp#984 (2026-09-04): "?response_type=code&client_id=…
    # &redirect_uri=https%3A%2F%2Fclaude.ai%2Fapi%2Fmcp%2Fauth_callback&code_challenge=…
    # &code_challenge_method=S256&state=…&scope=…": no resource, as Gemini's connector sends none
    # (kentcdodds/kody#948, 2026-07-25). RFC 8707 §2.1: the AS "MAY fail requests that omit the
    # parameter" or use "a predefined default resource value"; the hardened AS, for MCP §8's
    # clients' MUST, fails it; the naive one, and the served lab (default_to_single_resource), don't.
    async with Lab(seed=0, policy=policy) as lab:
        client_id = await registered(lab, CLAUDE_CALLBACK)
        outcome = await open_authorization(lab, client_id, **CLAUDE_AI, resource=None)
    if policy is NAIVE:
        assert isinstance(outcome, ConsentPage) and outcome.is_consent, outcome
    else:
        assert refusal(outcome)["error"] == "invalid_target", outcome
        assert "RFC 8707 section 2.1" in refusal(outcome)["error_description"]


async def test_a_codex_callback_with_its_callback_id_is_matched_exactly(lab: Lab) -> None:
    # Codex CLI, openai/codex#30460 (2026-09-03): "`codex mcp login` generates
    # `redirect_uri=http://127.0.0.1:33418/callback/<callback_id>`", the id
    # "base64url(SHA256(<exact MCP server URL string>)[:9])", twelve characters (made up here); it
    # registers that URI as it sends it.
    await signed_in(lab, {"redirect_uri": "http://127.0.0.1:33418/callback/4kVm1N6lQyCw"})


async def test_a_redirect_uri_on_another_loopback_host_than_registered_is_refused_naming_the_rule(
    lab: Lab,
) -> None:
    # Codex CLI 0.142.5, openai/codex#31038 (2026-07-03): "redirect_uri changes from 127.0.0.1
    # during DCR to localhost during authorization". OAuth 2.1 §4.1.1, §8.4.2: an exact match but
    # for a loopback IP's port; "localhost" and "127.0.0.1" are two URIs (MCP §11.5: exactly).
    client_id = await registered(lab, "http://127.0.0.1:1455/callback")
    outcome = await open_authorization(lab, client_id, redirect_uri="http://localhost:1455/callback")
    assert "must match exactly" in refusal(outcome)["error_description"]
    assert "OAuth 2.1 section 4.1.1" in refusal(outcome)["error_description"]


@pytest.mark.parametrize("method", [None, "plain"], ids=["absent", "plain"])
async def test_a_request_without_s256_is_refused_naming_the_rule(lab: Lab, method: str | None) -> None:
    # OAuth 2.1 §4.1.1 / RFC 7636 §4.3: an absent method means plain, and MCP §11.4 wants S256.
    client_id = await registered(lab, CLAUDE_CALLBACK)
    outcome = await open_authorization(lab, client_id, **CLAUDE_AI, code_challenge_method=method)
    assert refusal(outcome)["error"] == "invalid_request", outcome
    assert "MCP section 11.4" in refusal(outcome)["error_description"]


# The token request --------------------------------------------------------------------------


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def confidential(lab: Lab, method: str) -> tuple[str, str, str]:
    """A client registered for `method` with a secret, and a code issued to it."""
    answer = await register(lab, {"redirect_uris": [CLAUDE_CALLBACK], "token_endpoint_auth_method": method,
                                  "grant_types": ["authorization_code", "refresh_token"]})  # fmt: skip
    client_id, secret = answer.json()["client_id"], answer.json()["client_secret"]
    return client_id, secret, await get_code(lab, client_id, **CLAUDE_AI)


async def test_basic_with_the_client_id_in_the_form_too_is_one_method(lab: Lab) -> None:
    # The MCP Python SDK "sends the client credentials in the HTTP `Authorization: Basic` header
    # **and** also leaves `client_id` in the token-exchange POST body" (modelcontextprotocol/
    # python-sdk#3138, 2026-07-21). OAuth 2.1 §3.2.2 lets client_id travel beside any method.
    client_id, secret, code = await confidential(lab, "client_secret_basic")
    answer = await token_request(
        lab, code_form(client_id, code, redirect_uri=CLAUDE_CALLBACK), headers=basic(client_id, secret)
    )
    assert answer.status_code == 200, answer.text


async def test_basic_with_no_client_id_in_the_form_authenticates_the_client(lab: Lab) -> None:
    # Snowflake's MCP client "authenticates strictly with `Authorization: Basic` (no `client_id`
    # in the body)" (modelcontextprotocol/python-sdk#1315, 2026-05-13): RFC 6749 §2.3.1.
    client_id, secret, code = await confidential(lab, "client_secret_basic")
    form = code_form(client_id, code, redirect_uri=CLAUDE_CALLBACK, client_id=None)
    assert (await token_request(lab, form, headers=basic(client_id, secret))).status_code == 200


@POLICIES
async def test_a_client_secret_basic_client_may_send_its_secret_in_the_form(policy: ASPolicy) -> None:
    # claude.ai's connector with a configured secret "authenticates to the OAuth token endpoint
    # using client_secret_post … and it does not fall back to client_secret_basic"
    # (anthropics/claude-ai-mcp#667, 2026-07-22). OAuth 2.1 §2.4.1: the AS "MUST support the
    # client including the client credentials in the request body content". Was invalid_client.
    async with Lab(seed=0, policy=policy) as lab:
        client_id, secret, code = await confidential(lab, "client_secret_basic")
        form = {**code_form(client_id, code, redirect_uri=CLAUDE_CALLBACK), "client_secret": secret}
        answer = await token_request(lab, form)
    assert answer.status_code == 200, answer.text


async def test_an_as_that_does_not_offer_the_form_method_takes_the_secret_only_by_basic() -> None:
    # A learner's AS without client_secret_post (ASCapabilities) honours what its metadata lists.
    capabilities = ASCapabilities(token_endpoint_auth_methods=("none", "client_secret_basic"))
    async with Lab(seed=0, capabilities=capabilities) as lab:
        client_id, secret, code = await confidential(lab, "client_secret_basic")
        form = {**code_form(client_id, code, redirect_uri=CLAUDE_CALLBACK), "client_secret": secret}
        answer = await token_request(lab, form)
    assert_oauth_error(answer, 401, "invalid_client", "'client_secret_post'")


async def test_a_refresh_naming_the_scope_and_resource_first_asked_for_gets_that_scope(lab: Lab) -> None:
    # mcp-remote "send[s] the requested scope on refresh_token grants" (punkpeye/mcp-remote#357,
    # 2026-09-10), Claude Code's login "sends `scope=<api>/<scope> offline_access`"
    # (anthropics/claude-code#89862, 2026-08-26), and the TypeScript SDK writes the resource into
    # the refresh form (anomalyco/opencode#34592, 2026-07-10). OAuth 2.1 §4.3.1, RFC 8707 §2.2:
    # neither widens the grant, offline_access ignored here as at /authorize.
    client_id = await registered(lab, CLAUDE_CODE_CALLBACK)
    code = await get_code(lab, client_id, **CLAUDE_CODE)
    first = await token_request(lab, code_form(client_id, code, redirect_uri=CLAUDE_CODE_CALLBACK))
    form = refresh_form(client_id, first.json()["refresh_token"], scope="notes:read offline_access", resource=MCP_URL)
    answer = await token_request(lab, form)
    assert answer.status_code == 200 and answer.json()["scope"] == "notes:read", answer.text


@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
async def test_the_inspector_revokes_on_disconnect_as_a_public_client(lab: Lab, which: str) -> None:
    # MCP Inspector "On Disconnect, send[s] an RFC 7009 token revocation request … Prefers the
    # refresh token … falls back to the access token" (modelcontextprotocol/inspector#1308,
    # 2026-05-15). RFC 7009 §2.1: token and token_type_hint; a public client names itself.
    client_id = await registered(lab, CLAUDE_CALLBACK)
    code = await get_code(lab, client_id, **CLAUDE_AI)
    tokens = (await token_request(lab, code_form(client_id, code, redirect_uri=CLAUDE_CALLBACK))).json()
    async with lab.httpx_client("client") as http:
        data = {"token": tokens[which], "token_type_hint": which, "client_id": client_id}
        answer = await http.post(f"{ISSUER}/revoke", data=data)
    assert answer.status_code == 200, answer.text
    refreshed = await token_request(lab, refresh_form(client_id, tokens["refresh_token"]))
    assert refreshed.status_code == (400 if which == "refresh_token" else 200), refreshed.text


# Registration bodies (RFC 7591), then the client's first authorization request -------------------

# Gemini Spark, es617/obsidian-sync-mcp#12 (2026-08-06), its registration as quoted (the redirect's
# <id> made up here): client_secret_post, and the scope its server named, "mcp".
GEMINI_SPARK_CALLBACK = "https://oauth-redirect.googleusercontent.com/r/user_bound_custom-mcp-4021"
GEMINI_SPARK_REGISTRATION = {
    "client_name": "Gemini Spark",
    "redirect_uris": [GEMINI_SPARK_CALLBACK],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_post",
    "scope": "mcp",
}
# Claude Code 2.1 and Codex 0.147, as elmohq/elmo#684 (2026-09-01) logged their registrations:
# "`application_type: "native"`, `http://localhost:3118/callback`" and "`application_type:
# "native"`, ephemeral `http://127.0.0.1:37819/callback/…`" (the elided callback id made up here).
CLAUDE_CODE_REGISTRATION = {"application_type": "native", "redirect_uris": ["http://localhost:3118/callback"]}
CODEX_REGISTRATION = {"application_type": "native", "redirect_uris": ["http://127.0.0.1:37819/callback/Yl3kQ0PZq8Ws"]}


@POLICIES
async def test_gemini_sparks_registration_signs_in_where_the_as_takes_a_request_without_resource(
    policy: ASPolicy,
) -> None:
    # RFC 7591 §2: the scope "mcp" this AS lacks is set aside (§3.2.1: the response says so).
    # Gemini's authorization request omits resource (kentcdodds/kody#948, 2026-07-25): the
    # hardened AS refuses it (RFC 8707 §2.1, MCP §8); one that defaults to its one resource signs
    # Gemini in, and its secret goes in the form (OAuth 2.1 §2.4.1).
    async with Lab(seed=0, policy=policy.but(default_to_single_resource=True)) as lab:
        answer = await register(lab, GEMINI_SPARK_REGISTRATION)
        assert answer.status_code == 201 and "scope" not in answer.json(), answer.text
        client_id, secret = answer.json()["client_id"], answer.json()["client_secret"]
        request = {"redirect_uri": GEMINI_SPARK_CALLBACK, "state": "manualtest", "resource": None}
        code = await get_code(lab, client_id, **request)
        form = {
            **code_form(client_id, code, redirect_uri=GEMINI_SPARK_CALLBACK, resource=None),
            "client_secret": secret,
        }
        token = await token_request(lab, form)
    assert token.status_code == 200, token.text


@POLICIES
@pytest.mark.parametrize(("body", "redirect_uri"), [(CLAUDE_CODE_REGISTRATION, "http://localhost:3118/callback"),
                                                    (CODEX_REGISTRATION, CODEX_REGISTRATION["redirect_uris"][0])],
                         ids=["claude-code", "codex"])  # fmt: skip
async def test_a_native_clients_registration_signs_it_in_at_its_loopback_redirect(
    body: dict[str, Any], redirect_uri: str, policy: ASPolicy
) -> None:
    # The thread quotes these two members only; registered with just them, the rest are RFC 7591
    # §2's defaults (client_secret_basic: the client gets a secret, sent here in the form, OAuth
    # 2.1 §2.4.1). application_type "native" is OIDC Registration's, for loopback redirects.
    async with Lab(seed=0, policy=policy) as lab:
        answer = (await register(lab, body)).json()
        code = await get_code(lab, answer["client_id"], redirect_uri=redirect_uri)
        form = {
            **code_form(answer["client_id"], code, redirect_uri=redirect_uri),
            "client_secret": answer["client_secret"],
        }
        token = await token_request(lab, form)
    assert token.status_code == 200, token.text


async def test_zeds_registration_without_refresh_token_gets_no_refresh_token(lab: Lab) -> None:
    # Zed's DCR "includes `grant_types: ["authorization_code"]` but omits `refresh_token`"
    # (zed-industries/zed#53784, 2026-04-13; the redirect URI made up here). RFC 7591 §2: the
    # grants it may use; SEP-2207: an AS "SHOULD NOT issue a refresh token" to a client without it.
    client_id = await registered(lab, "http://127.0.0.1:27523/callback", grant_types=["authorization_code"])
    code = await get_code(lab, client_id, redirect_uri="http://127.0.0.1:27523/callback")
    token = await token_request(lab, code_form(client_id, code, redirect_uri="http://127.0.0.1:27523/callback"))
    assert token.status_code == 200 and "refresh_token" not in token.json(), token.text


async def test_gooses_request_with_no_scope_at_its_oauth_callback_gets_the_default_scope(lab: Lab) -> None:
    # Goose (aaif-goose/goose#5669, 2025-11-12): `redirect_uri = format!("http://localhost:{}/oauth_callback",
    # used_addr.port())` and `start_authorization(&[], redirect_uri.as_str(), Some("goose"))`: no scope.
    answer = await signed_in(lab, {"redirect_uri": "http://localhost:52811/oauth_callback", "scope": None})
    assert answer["scope"] == "notes:read"


async def test_a_loopback_redirect_on_another_path_than_its_cimd_document_lists_is_refused(lab: Lab) -> None:
    # opencode, anomalyco/opencode#50510 (2026-09-22): its document lists "http://127.0.0.1/callback"
    # "but OpenCode sends `redirect_uri=http://127.0.0.1:19876/mcp/oauth/callback`". OAuth 2.1
    # §8.4.2 lets the port vary, nothing else (CIMD -02 §5: exact match against the document).
    document = {"client_id": "https://opencode.ai/oauth/opencode/client.json", "client_name": "opencode",
                "redirect_uris": ["http://127.0.0.1/callback", "http://localhost/callback"],
                "token_endpoint_auth_method": "none"}  # fmt: skip
    lab.add_metadata_host("opencode.ai", "93.184.216.34")
    lab.publish_client_document(document["client_id"], document)
    outcome = await open_authorization(
        lab, str(document["client_id"]), redirect_uri="http://127.0.0.1:19876/mcp/oauth/callback"
    )
    assert "must match exactly" in refusal(outcome)["error_description"]
