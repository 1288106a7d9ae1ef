"""RFC 7009 revocation and RFC 7662 introspection at the AS, and what revocation can and cannot
do to a self-contained JWT at a resource server."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import nbformat
import pytest

from lab_servers import ISSUER, ASCapabilities, Lab
from lab_servers.authorization_server.grants import ExchangeRule
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.params import MAX_PARAMETER_CHARS
from lab_servers.authorization_server.rfc7662 import introspection_request
from lab_servers.client import StepError
from lab_servers.resource_server.tokens import MAX_TOKEN_CHARS
from lab_servers.story import (
    API_URL,
    OTHER_MCP_URL,
    add_downstream_api,
    add_second_mcp_server,
    use_introspection,
    use_local_jwt_check,
)

from .helpers import assert_oauth_error, code_form, get_code, refresh_form, register, token_request
from .registered_clients import PUBLIC_CLIENT

pytestmark = pytest.mark.anyio

AS2_HOST, AS2_ADDRESS = "auth2.example.com", "93.184.215.21"  # the AS an MCP server moves to
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


async def post(lab: Lab, path: str, form: dict[str, str], **kwargs: object) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        return await http.post(f"{ISSUER}{path}", data=form, **kwargs)  # type: ignore[arg-type]


async def whoami(lab: Lab, token: str) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        return await http.post(
            lab.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        )


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def test_the_as_advertises_both_endpoints_in_its_metadata(lab: Lab) -> None:
    metadata = lab.auth_server.metadata()
    assert metadata["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert metadata["introspection_endpoint"] == f"{ISSUER}/introspect"
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]


async def test_revoking_a_refresh_token_answers_200_and_ends_the_grant(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    refresh = connection.client.state.tokens["refresh_token"]
    response = await post(
        lab, "/revoke", {"token": refresh, "token_type_hint": "refresh_token", "client_id": connection.client_id}
    )
    assert response.status_code == 200 and response.text == ""
    with pytest.raises(StepError, match="invalid_grant"):
        await connection.client.refresh()
    assert lab.auth_server.issued[-1]["jti"] in lab.auth_server.revoked_jtis  # SHOULD: its access tokens too


async def test_an_unknown_token_is_answered_200_as_well(lab: Lab) -> None:
    response = await post(lab, "/revoke", {"token": "never-issued", "client_id": lab.client_metadata_url})
    assert response.status_code == 200  # RFC 7009 §2.2


@pytest.mark.parametrize(
    "hint", [None, "access_token", "h" * (MAX_PARAMETER_CHARS + 1)], ids=["no-hint", "hint", "long-hint"]
)
async def test_a_token_longer_than_any_parameter_limit_is_an_invalid_token_answered_as_one(
    lab: Lab, hint: str | None
) -> None:
    # RFC 7009 §2.2: "invalid tokens do not cause an error response" (200); RFC 7662 §2.2: a token
    # that does not exist is {"active": false}. Both endpoints answered 400 invalid_request for a
    # token over the AS's parameter limit, which is for values it stores or echoes; these it only
    # looks up (the body's cap bounds them). The introspecting MCP server refuses it unread, as
    # longer than any token the AS issues (the local check's words), and asks the AS nothing.
    connection = await lab.connect("cimd")
    validator = use_introspection(lab)
    token = "A" * (MAX_PARAMETER_CHARS + 1)
    form = {"token": token} | ({"token_type_hint": hint} if hint else {})
    revoked = await post(lab, "/revoke", {**form, "client_id": connection.client_id})
    assert revoked.status_code == 200 and revoked.text == ""
    asked = await post(lab, "/introspect", form, headers={"Authorization": validator._authorization})
    assert asked.status_code == 200 and asked.json() == {"active": False}
    assert_oauth_error(await whoami(lab, token), 401, "invalid_token", "which no token from this server's AS is")


@pytest.mark.parametrize(
    ("form", "error", "mention"),
    [
        ({}, "invalid_request", "token is required"),
    ],
)
async def test_malformed_revocation_requests_are_refused_with_the_rule(
    lab: Lab, form: dict, error: str, mention: str
) -> None:
    assert_oauth_error(await post(lab, "/revoke", {**form, "client_id": lab.client_metadata_url}), 400, error, mention)


@pytest.mark.parametrize("hint", ["access_token", "id_token", "urn:example:opaque"])
async def test_a_hint_that_does_not_find_the_token_widens_the_search_it_is_never_refused(lab: Lab, hint: str) -> None:
    # RFC 7009 §2.1: the AS "MUST extend its search across all of its supported token types",
    # and MAY ignore the hint; an unknown hint is no reason to leave the token alive.
    connection = await lab.connect("cimd")
    form = {"token": connection.client.state.tokens["refresh_token"], "token_type_hint": hint}
    assert (await post(lab, "/revoke", {**form, "client_id": connection.client_id})).status_code == 200
    with pytest.raises(StepError, match="invalid_grant"):
        await connection.client.refresh()


async def test_revocation_and_introspection_advertise_the_methods_the_as_still_honours() -> None:
    # RFC 8414 §2: each list names the methods its endpoint supports; the endpoints honour only
    # what the token endpoint offers (ASCapabilities), so the lists narrow with it.
    capabilities = ASCapabilities(token_endpoint_auth_methods=("none", "private_key_jwt"))
    async with Lab(capabilities=capabilities) as lab:
        metadata = lab.auth_server.metadata()
    assert metadata["revocation_endpoint_auth_methods_supported"] == ["none", "private_key_jwt"]
    assert metadata["introspection_endpoint_auth_methods_supported"] == ["private_key_jwt"]


@pytest.mark.parametrize(
    ("methods", "sent"),
    [(("none", "client_secret_post", "private_key_jwt"), "form"), (("none", "client_secret_basic"), "basic")],
    ids=["post-only", "basic"],
)  # fmt: skip
async def test_the_mcp_server_introspects_with_a_method_the_as_lists_for_introspection(
    methods: tuple[str, ...], sent: str
) -> None:
    # RFC 8414 §2, RFC 7662 §2.1: the MCP server authenticates as the AS's metadata allows. It
    # always sent Basic: with an AS that had dropped Basic, every valid token was refused.
    async with Lab(capabilities=ASCapabilities(token_endpoint_auth_methods=methods)) as lab:
        connection = await lab.connect("cimd")
        use_introspection(lab)
        assert (await connection.client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"
        (asked,) = [e for e in lab.trace.exchanges if e.url.endswith("/introspect")]
    assert ("client_secret=" in asked.request_body) == (sent == "form")
    assert (asked.request_header("authorization") or "").startswith("Basic ") == (sent == "basic")


async def test_an_as_that_takes_no_secret_at_introspection_is_named_when_the_switch_is_asked_for() -> None:
    async with Lab(capabilities=ASCapabilities(token_endpoint_auth_methods=("none", "private_key_jwt"))) as lab:
        with pytest.raises(ValueError, match="takes no client secret at its introspection endpoint"):
            use_introspection(lab)


async def test_a_refused_switch_to_introspection_registers_the_mcp_server_at_no_as_and_draws_nothing() -> None:
    # RFC 7662 §2.1: the MCP server registers as a caller (with a secret) at each AS whose tokens
    # it accepts. One it cannot ask refuses the switch, which must leave every AS as it was: it had
    # registered at those before it, and drawn their secret, so a later switch drew another one.
    async def switched_after(refused_first: bool) -> str:
        async with Lab(seed=0) as lab:
            keys_only = ASCapabilities(token_endpoint_auth_methods=("none", "private_key_jwt"))
            second = lab.add_authorization_server(AS2_HOST, AS2_ADDRESS, capabilities=keys_only)
            if refused_first:
                lab.use_authorization_server(second.issuer, keep_previous=True)  # checked locally: allowed
                before = (list(lab.auth_server.registry.records), dict(lab.auth_server.introspectors))
                with pytest.raises(ValueError, match=f"the AS {second.issuer} takes no client secret"):
                    use_introspection(lab)
                assert (list(lab.auth_server.registry.records), dict(lab.auth_server.introspectors)) == before
                assert lab.resource_server.introspection is None
                lab.use_authorization_server(lab.issuer)  # the grace window over, one AS again
            return str(use_introspection(lab)._authorization)  # Basic: the client id and secret

    assert await switched_after(refused_first=True) == await switched_after(refused_first=False)


async def test_a_client_cannot_revoke_another_clients_token(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    dcr = await lab.connect("dcr")
    form = {"token": connection.client.state.tokens["refresh_token"], "client_id": dcr.client_id}
    assert_oauth_error(await post(lab, "/revoke", form), 400, "invalid_request", "not issued to the client")


async def test_notebook_07_says_revocation_answers_200_but_refuses_another_clients_token(lab: Lab) -> None:
    # RFC 7009 §2.2: 200 for a token revoked and for an invalid one; §2.1: a token issued to another
    # client is refused. The notebook said the AS "answers 200 whatever the token was".
    connection = await lab.connect("cimd")
    dcr = await lab.connect("dcr")
    unknown = await post(lab, "/revoke", {"token": "no-such-token", "client_id": dcr.client_id})
    theirs = await post(lab, "/revoke", {"token": connection.client.state.access_token, "client_id": dcr.client_id})
    assert (unknown.status_code, theirs.status_code, theirs.json()["error"]) == (200, 400, "invalid_request")
    notebook = nbformat.read(Path(__file__).parents[1] / "notebooks" / "07_complete_story.ipynb", as_version=4)
    prose = next(cell.source for cell in notebook.cells if cell.id == "n07-23")
    assert "whatever the token was" not in prose
    assert "another client is refused, `400 invalid_request` (§2.1)" in prose


async def test_a_local_jwt_check_still_accepts_a_revoked_token_but_an_introspecting_server_refuses_it(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    client = connection.client
    await post(
        lab,
        "/revoke",
        {"token": connection.access_token, "token_type_hint": "access_token", "client_id": connection.client_id},
    )
    # Honest: the JWT is still signed, unexpired and for this audience, and nobody asked the AS.
    assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"
    use_introspection(lab)
    before = len(client.records)
    assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"  # refreshed after the 401
    refused = [e for e in lab.trace.exchanges if e.url.endswith("/introspect")]
    assert refused[0].response_body == '{"active":false}'
    assert [r.name for r in client.records[before:]] == ["refresh", "call"]


async def test_switching_to_introspection_twice_keeps_one_registration_and_switching_back_checks_jwts_locally(
    lab: Lab,
) -> None:
    # Notebook 07's cells run again: the second switch must not give the MCP server a new secret
    # behind the validator the first one returned, and going back is the local JWT check.
    connection = await lab.connect("cimd")
    validator = use_introspection(lab)
    assert use_introspection(lab) is validator and lab.resource_server.validator is validator
    assert (await connection.client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"
    use_local_jwt_check(lab)
    introspections = sum(e.url.endswith("/introspect") for e in lab.trace.exchanges)
    assert (await connection.client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"
    assert sum(e.url.endswith("/introspect") for e in lab.trace.exchanges) == introspections
    assert lab.resource_server.validator is lab.resource_server.validators[lab.issuer]


# An introspecting MCP server moved to another AS (SEP-2352) ------------------------------------


async def test_an_introspecting_server_keeps_asking_the_as_that_issued_each_token_across_a_move(lab: Lab) -> None:
    # Notebook 07: introspection "sees revocation at once". Moved to another AS with a grace
    # window for the old one's tokens, and back, the server went back to local JWT checks, and a
    # token revoked at the old AS was accepted again; each AS's tokens are asked about at that AS.
    second = lab.add_authorization_server(AS2_HOST, AS2_ADDRESS)
    connection = await lab.connect("cimd")
    use_introspection(lab)
    revoked = connection.access_token
    await post(lab, "/revoke", {"token": revoked, "client_id": connection.client_id})
    assert (await whoami(lab, revoked)).status_code == 401
    lab.use_authorization_server(second.issuer, keep_previous=True)
    assert_oauth_error(await whoami(lab, revoked), 401, "invalid_token", "not active")
    assert lab.trace.exchanges[-1].url == f"{lab.issuer}/introspect"  # asked the AS that issued it
    at_second = await lab.connect("cimd")  # a token from the AS the metadata names now
    assert (await whoami(lab, at_second.access_token)).status_code == 200
    assert lab.trace.exchanges[-1].url == f"{second.issuer}/introspect"
    lab.use_authorization_server(lab.issuer)  # and back to the first AS
    assert_oauth_error(await whoami(lab, revoked), 401, "invalid_token", "not active")


async def test_switching_to_introspection_after_a_move_asks_the_as_the_server_uses_now(lab: Lab) -> None:
    # use_introspection registered the MCP server at the lab's first AS whatever its metadata
    # named, and asked that AS about the new AS's tokens: every one was inactive there.
    second = lab.add_authorization_server(AS2_HOST, AS2_ADDRESS)
    lab.use_authorization_server(second.issuer)
    connection = await lab.connect("cimd")
    assert use_introspection(lab).endpoint == f"{second.issuer}/introspect"
    assert (await whoami(lab, connection.access_token)).status_code == 200


async def test_a_move_to_an_as_the_introspecting_server_cannot_ask_is_refused_and_changes_nothing(lab: Lab) -> None:
    # RFC 7662 §2.1: the MCP server authenticates at introspection with a secret; an AS that takes
    # none there cannot be asked, so the move is refused with the reason, not made with local checks.
    connection = await lab.connect("cimd")
    validator = use_introspection(lab)
    keys_only = ASCapabilities(token_endpoint_auth_methods=("none", "private_key_jwt"))
    second = lab.add_authorization_server(AS2_HOST, AS2_ADDRESS, capabilities=keys_only)
    with pytest.raises(ValueError, match=f"the AS {second.issuer} takes no client secret at its introspection"):
        lab.use_authorization_server(second.issuer, keep_previous=True)
    assert lab.resource_server.issuer == lab.issuer and lab.resource_server.validator is validator
    assert lab.resource_server.metadata()["authorization_servers"] == [lab.issuer]
    assert (await whoami(lab, connection.access_token)).status_code == 200
    use_local_jwt_check(lab)
    lab.use_authorization_server(second.issuer)  # checking JWTs locally, the server can move there


@pytest.mark.parametrize("length", [MAX_TOKEN_CHARS + 1, 70_000])
async def test_an_introspecting_server_refuses_a_token_longer_than_any_its_as_issues_as_the_local_check_does(
    lab: Lab, length: int
) -> None:
    # RFC 6750 §3.1: invalid_token. The local check refuses it unread; an introspecting server sent it
    # to the AS, and past the AS's 64 KiB body limit said "the authorization server refused to
    # introspect (413)", having asked about a token no AS here issues.
    use_introspection(lab)
    refused = await whoami(lab, "a" * length)
    assert not any(exchange.url.endswith("/introspect") for exchange in lab.trace.exchanges)
    assert_oauth_error(refused, 401, "invalid_token", f"the token is longer than {MAX_TOKEN_CHARS} characters")
    use_local_jwt_check(lab)
    checked_here = await whoami(lab, "a" * length)
    assert refused.headers["www-authenticate"] == checked_here.headers["www-authenticate"]


async def test_introspection_answers_an_authorised_resource_server_with_the_tokens_claims(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    validator = use_introspection(lab)
    response = await post(
        lab, "/introspect", {"token": connection.access_token}, headers={"Authorization": validator._authorization}
    )
    body = response.json()
    assert response.status_code == 200 and body["active"] is True
    assert body["aud"] == lab.mcp_url and body["client_id"] == connection.client_id and body["scope"] == "notes:read"


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
async def test_a_refresh_token_is_inactive_to_a_resource_server_whatever_the_hint(lab: Lab, hint: str | None) -> None:
    # RFC 7662 §4: "If the token can be used only at certain resource servers, the authorization
    # server MUST determine whether or not the token can be used at the resource server making the
    # introspection call"; a refresh token is used at the AS alone. It was answered active, and
    # the MCP server refused one sent as a bearer token only for lack of an audience, calling it
    # token passthrough; now the AS says inactive, and the MCP server says so.
    connection = await lab.connect("cimd")
    validator = use_introspection(lab)
    refresh = connection.client.state.tokens["refresh_token"]
    form = {"token": refresh} | ({"token_type_hint": hint} if hint else {})
    body = (await post(lab, "/introspect", form, headers={"Authorization": validator._authorization})).json()
    assert body == {"active": False}
    refused = await whoami(lab, refresh)
    assert_oauth_error(refused, 401, "invalid_token", "not for this server (RFC 7662 section 2.2, section 4)")
    assert "passthrough" not in refused.json()["error_description"]


async def test_introspection_refuses_a_public_client_and_an_unlisted_confidential_one(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    public = await post(lab, "/introspect", {"token": connection.access_token, "client_id": connection.client_id})
    assert_oauth_error(public, 401, "invalid_client", "RFC 7662 section 2.1")
    lab.auth_server.preregister(
        "someone", {"grant_types": [], "token_endpoint_auth_method": "client_secret_basic"}, "s3cret"
    )
    unlisted = await post(lab, "/introspect", {"token": connection.access_token}, headers=basic("someone", "s3cret"))
    assert_oauth_error(unlisted, 403, "unauthorized_client", "not authorised to introspect")
    use_introspection(lab)
    wrong = await post(
        lab, "/introspect", {"token": connection.access_token}, headers=basic("introspection.mcp.example.com", "bad")
    )
    assert_oauth_error(wrong, 401, "invalid_client", "wrong client_secret")


async def test_an_introspection_request_without_a_token_is_invalid_request(lab: Lab) -> None:
    # RFC 7662 §2.1: the token parameter is REQUIRED; its absence is a malformed request
    # (RFC 6749 §5.2: invalid_request), never an answer about some token (§2.2's active false).
    lab.auth_server.preregister(
        "api-introspector", {"grant_types": [], "token_endpoint_auth_method": "client_secret_basic"}, "s3cret"
    )
    lab.auth_server.introspectors["api-introspector"] = API_URL
    response = await post(
        lab, "/introspect", {"token_type_hint": "access_token"}, headers=basic("api-introspector", "s3cret")
    )
    assert_oauth_error(response, 400, "invalid_request", "token is required", "RFC 7662 section 2.1")


# A token exchanged for a grant's access token is based on that grant (RFC 7009 §2.1) ------------


async def exchanged_for(lab: Lab, subject_token: str) -> str:
    """The downstream API's token that the MCP server gets by exchanging `subject_token` (RFC 8693)."""
    caller = lab.resource_server.downstream
    assert caller is not None
    async with lab.httpx_client("mcp.example.com") as http:
        response = await http.post(f"{ISSUER}/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": subject_token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:access_token", "resource": API_URL,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": caller.client_assertion(),
        })  # fmt: skip
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def introspected_by_the_api(lab: Lab, token: str) -> dict:
    if "api-introspector" not in lab.auth_server.introspectors:
        lab.auth_server.preregister(
            "api-introspector", {"grant_types": [], "token_endpoint_auth_method": "client_secret_basic"}, "s3cret"
        )
        lab.auth_server.introspectors["api-introspector"] = API_URL
    response = await post(lab, "/introspect", {"token": token}, headers=basic("api-introspector", "s3cret"))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_revoking_the_grant_revokes_the_token_exchanged_for_its_access_token(lab: Lab) -> None:
    # RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate "all access tokens based on
    # the same authorization grant"; the exchanged token stands in for one of them.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    downstream = await exchanged_for(lab, connection.access_token)
    assert (await introspected_by_the_api(lab, downstream))["active"] is True
    refresh = connection.client.state.tokens["refresh_token"]
    await post(lab, "/revoke", {"token": refresh, "client_id": connection.client_id})
    assert await introspected_by_the_api(lab, downstream) == {"active": False}


async def test_revoking_the_subject_access_token_revokes_what_was_exchanged_for_it(lab: Lab) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    downstream = await exchanged_for(lab, connection.access_token)
    await post(lab, "/revoke", {"token": connection.access_token, "client_id": connection.client_id})
    assert await introspected_by_the_api(lab, downstream) == {"active": False}


async def test_a_refresh_token_revoked_by_rfc_7009_is_refused_as_revoked_not_as_reuse(lab: Lab) -> None:
    # Only a rotated-out token coming back is reuse (OAuth 2.1 §4.3.1); a revoked one is just revoked.
    connection = await lab.connect("cimd")
    refresh = connection.client.state.tokens["refresh_token"]
    revoked = await post(lab, "/revoke", {"token": refresh, "client_id": connection.client_id})
    assert revoked.status_code == 200
    again = refresh_form(connection.client_id, refresh)
    response = await post(lab, "/token", again)
    assert_oauth_error(response, 400, "invalid_grant", "was revoked", "RFC 7009")
    assert "reuse" not in response.json()["error_description"]


async def test_refresh_reuse_revokes_the_exchanged_token_too(lab: Lab) -> None:
    # OAuth 2.1 §4.3.1: reuse of a rotated-out refresh token revokes the grant, all of it.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    old_refresh = connection.client.state.tokens["refresh_token"]
    await connection.client.refresh()
    downstream = await exchanged_for(lab, connection.client.state.tokens["access_token"])
    replay = refresh_form(connection.client_id, old_refresh)
    assert_oauth_error(await post(lab, "/token", replay), 400, "invalid_grant", "reuse detected")
    assert await introspected_by_the_api(lab, downstream) == {"active": False}


async def test_a_second_redemption_of_the_code_revokes_the_exchanged_token_too(lab: Lab) -> None:
    # OAuth 2.1 §4.1.3: the tokens issued from a code that comes back are revoked, and the one
    # exchanged for its access token is one of them, even with no refresh token in the grant.
    add_downstream_api(lab)
    response = await register(lab, {**PUBLIC_CLIENT, "grant_types": ["authorization_code"]})
    client_id = str(response.json()["client_id"])
    code = await get_code(lab, client_id)
    first = (await token_request(lab, code_form(client_id, code))).json()
    assert "refresh_token" not in first
    downstream = await exchanged_for(lab, first["access_token"])
    assert_oauth_error(await token_request(lab, code_form(client_id, code)), 400, "invalid_grant", "revoked")
    assert await introspected_by_the_api(lab, downstream) == {"active": False}


async def test_the_exchanged_token_stays_tied_to_the_grant_after_its_subject_token_expired(lab: Lab) -> None:
    # The exchanged token outlives its subject token (issued later, same lifetime); once the AS
    # forgets the expired subject, revoking the grant still reaches it through the grant's family.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    lab.clock.advance(ACCESS_TOKEN_LIFETIME - 60)
    downstream = await exchanged_for(lab, connection.access_token)
    lab.clock.advance(120)  # the subject token expired; the exchanged one has 780 s left
    lab.auth_server.issued.forget_expired(lab.clock.now())
    assert (await introspected_by_the_api(lab, downstream))["active"] is True
    await post(
        lab, "/revoke", {"token": connection.client.state.tokens["refresh_token"], "client_id": connection.client_id}
    )
    assert await introspected_by_the_api(lab, downstream) == {"active": False}


async def test_revoking_an_expired_subject_token_revokes_its_exchanged_token_whatever_other_clients_did(
    lab: Lab,
) -> None:
    # RFC 7009 §2.1: revoking the subject token denies "every token a token exchange issued for it"
    # (state.revoke_access_token). Once it had expired, any client's grant swept the AS's records
    # and dropped the link, so another client's sign-in decided what this client's revocation did.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    lab.clock.advance(ACCESS_TOKEN_LIFETIME - 1)
    downstream = await exchanged_for(lab, connection.access_token)
    lab.clock.advance(2)  # the subject token has expired; the exchanged one has 898 s left
    await lab.connect("dcr")  # an unrelated client's grant, which sweeps what has expired
    subject = {"token": connection.access_token, "token_type_hint": "access_token"}
    assert (await post(lab, "/revoke", {**subject, "client_id": connection.client_id})).status_code == 200
    assert await introspected_by_the_api(lab, downstream) == {"active": False}


async def test_revoking_the_first_token_of_a_chain_of_exchanges_revokes_the_last_whatever_other_clients_did(
    lab: Lab,
) -> None:
    # S → E1 → E2: the MCP server exchanged S for E1, the API exchanged E1 for E2 (RFC 8693 §4.1).
    # RFC 7009 §2.1 reaches E2 through E1 when S is revoked; once S and E1 had expired, any client's
    # grant swept the AS's records and cut E1 from S, so E2 stayed active.
    add_downstream_api(lab)
    third = "https://third.example.com/api"
    lab.auth_server.preregister(
        "api-svc", {"grant_types": [TOKEN_EXCHANGE], "token_endpoint_auth_method": "client_secret_basic"}, "s3cret"
    )
    lab.auth_server.exchange_rules["api-svc"] = ExchangeRule(serves=API_URL, targets={third: frozenset({"x"})})
    connection = await lab.connect("cimd")
    lab.clock.advance(ACCESS_TOKEN_LIFETIME - 2)
    middle = await exchanged_for(lab, connection.access_token)
    lab.clock.advance(1)
    last = await post(lab, "/token", {
        "grant_type": TOKEN_EXCHANGE, "subject_token": middle, "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": third,
    }, headers=basic("api-svc", "s3cret"))  # fmt: skip
    assert last.status_code == 200, last.text
    lab.clock.advance(ACCESS_TOKEN_LIFETIME - 1)  # S and E1 have expired; E2 has 1 s left
    await lab.connect("dcr")  # an unrelated client's grant, which sweeps what has expired
    await post(lab, "/revoke", {"token": connection.access_token, "client_id": connection.client_id})
    lab.auth_server.preregister(
        "third-introspector", {"grant_types": [], "token_endpoint_auth_method": "client_secret_basic"}, "s3cret"
    )
    lab.auth_server.introspectors["third-introspector"] = third
    introspected = await post(
        lab, "/introspect", {"token": last.json()["access_token"]}, headers=basic("third-introspector", "s3cret")
    )
    assert introspected.json() == {"active": False}


async def test_introspection_reads_typ_as_a_media_type(lab: Lab) -> None:
    # RFC 7515 §4.1.9 / RFC 9068 §4: "application/at+jwt" and "AT+JWT" are the type this AS writes as "at+jwt".
    from joserfc import jwt

    validator = use_introspection(lab)
    keys = lab.auth_server.keys
    now = lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "aud": lab.mcp_url, "client_id": "c", "scope": "notes:read",
              "iat": now, "exp": now + 900, "jti": "j"}  # fmt: skip
    for typ in ("application/at+jwt", "AT+JWT"):
        token = jwt.encode({"alg": "Ed25519", "typ": typ, "kid": keys.kid}, claims, keys._key, algorithms=["Ed25519"])
        response = await post(lab, "/introspect", {"token": token}, headers={"Authorization": validator._authorization})
        assert response.json()["active"] is True, typ


# Rules the mutation audit found untested (RFC 7009 §2.1, RFC 7662 §2.2, §4) ---------------------


async def test_a_client_cannot_revoke_another_clients_access_token(lab: Lab) -> None:
    # RFC 7009 §2.1: the AS verifies "whether the token was issued to the client making the
    # revocation request"; if not, the request is refused, and the token stays valid.
    connection = await lab.connect("cimd")
    dcr = await lab.connect("dcr")
    form = {"token": connection.access_token, "token_type_hint": "access_token", "client_id": dcr.client_id}
    assert_oauth_error(await post(lab, "/revoke", form), 400, "invalid_request", "not issued to the client")
    assert lab.auth_server.active_access_token(connection.access_token) is not None


async def test_revocation_ignores_a_token_this_as_did_not_issue_even_if_its_jti_matches_one(lab: Lab) -> None:
    # RFC 7009 §2.1 / §2.2: only tokens this AS issued are revoked; a JWT naming another issuer is
    # not one of them (answered 200, as any invalid token) and must not revoke this AS's token
    # that happens to carry the same jti (RFC 7519 §4.1.7: a jti is unique per issuer).
    connection = await lab.connect("cimd")
    claims = dict(lab.auth_server.active_access_token(connection.access_token) or {})
    foreign = lab.auth_server.keys.sign_access_token({**claims, "iss": "https://other-as.example"})
    response = await post(lab, "/revoke", {"token": foreign, "client_id": connection.client_id})
    assert response.status_code == 200
    assert claims["jti"] not in lab.auth_server.revoked_jtis
    assert lab.auth_server.active_access_token(connection.access_token) is not None


async def test_introspection_of_a_revoked_refresh_token_is_inactive(lab: Lab) -> None:
    # RFC 7662 §2.2: active is false for a token that has been revoked (or has expired).
    connection = await lab.connect("cimd")
    validator = use_introspection(lab)
    refresh = connection.client.state.tokens["refresh_token"]
    await post(lab, "/revoke", {"token": refresh, "client_id": connection.client_id})
    body = (
        await post(lab, "/introspect", {"token": refresh}, headers={"Authorization": validator._authorization})
    ).json()
    assert body == {"active": False}


async def test_introspection_of_a_refresh_token_for_another_resource_is_inactive(lab: Lab) -> None:
    # RFC 7662 §4: the AS tells a protected resource nothing about tokens not meant for it; a
    # refresh token whose grant is for another resource is answered as inactive.
    add_second_mcp_server(lab)
    client = lab.client("cimd")
    client.mcp_url = OTHER_MCP_URL
    await client.run_all()
    validator = use_introspection(lab)  # the first MCP server's introspection credentials
    refresh = client.state.tokens["refresh_token"]
    body = (
        await post(lab, "/introspect", {"token": refresh}, headers={"Authorization": validator._authorization})
    ).json()
    assert body == {"active": False}


async def test_introspection_of_an_access_token_for_another_resource_is_inactive(lab: Lab) -> None:
    # RFC 7662 §4: an access token meant for the MCP server is not reported to the downstream API.
    connection = await lab.connect("cimd")
    assert await introspected_by_the_api(lab, connection.access_token) == {"active": False}


async def test_introspection_calls_inactive_a_token_signed_with_the_as_key_for_another_issuer_or_at_its_exp(
    lab: Lab,
) -> None:
    # RFC 7662 §2.2: active is true only for a token "issued by this authorization server" that
    # is not expired; RFC 7519 §4.1.4: a token MUST NOT be accepted "on or after" its exp.
    validator = use_introspection(lab)
    now = lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "aud": lab.mcp_url, "client_id": "c", "scope": "notes:read",
              "iat": now, "exp": now + 1, "jti": "j"}  # fmt: skip
    keys = lab.auth_server.keys

    async def active(token_claims: dict) -> bool:
        token = keys.sign_access_token(token_claims)
        response = await post(lab, "/introspect", {"token": token}, headers={"Authorization": validator._authorization})
        return response.json()["active"]

    assert await active(claims) is True
    assert await active({**claims, "iss": "https://other-as.example"}) is False
    assert await active({**claims, "exp": now}) is False


async def test_each_inactive_answer_is_a_new_one_that_no_caller_can_change_for_the_next(lab: Lab) -> None:
    # RFC 7662 §2.2: an inactive token gets {"active": false}. It was one module-level dict,
    # handed to every caller of introspection_request as it was.
    use_introspection(lab)
    caller = next(
        client
        for client in lab.auth_server.registry.records.values()
        if client.client_id in lab.auth_server.introspectors
    )
    authorization = basic(caller.client_id, caller.client_secret or "")["Authorization"]
    first = await introspection_request(lab.auth_server, [("token", "never-issued")], authorization)
    first["active"] = True
    assert await introspection_request(lab.auth_server, [("token", "never-issued")], authorization) == {"active": False}
