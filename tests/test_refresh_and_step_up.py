"""After the handshake: refresh as a step (OAuth 2.1 §4.3, rotation and reuse detection), the
offline_access rule (MCP 2026-07-28 §10), and step-up as named steps (MCP 2026-07-28 §11.1)."""

from __future__ import annotations

import pytest

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.token_records import REFRESH_TOKEN_IDLE_TIMEOUT, REFRESH_TOKEN_LIFETIME
from lab_servers.client import StepError

from .helpers import assert_oauth_error, code_form, get_code, refresh_form, token_request
from .registered_clients import registered_client

pytestmark = pytest.mark.anyio


def names(records: list) -> list[str]:
    return [r.name for r in records]


async def test_an_expired_token_is_answered_401_invalid_token_and_the_client_refreshes_once_and_retries(
    lab: Lab,
) -> None:
    connection = await lab.connect("cimd")
    client = connection.client
    old_refresh = client.state.tokens["refresh_token"]
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    result = await client.call_tool("whoami")
    assert result["structuredContent"]["sub"] == "alice"
    assert names(client.records)[-2:] == ["refresh", "call"]
    refresh = client.records[-2]
    assert refresh.learned["rotated"] is True and "401 invalid_token" in refresh.learned["reason"]
    # The token request, and the AS re-fetching the client's CIMD document (its cache expired meanwhile).
    assert [e.url for e in refresh.exchanges if e.caller == "client"] == [f"{ISSUER}/token"]
    call = client.records[-1]
    assert [e.status for e in call.exchanges] == [401, 200]  # the refusal and the retry, both in the named step
    assert client.state.tokens["refresh_token"] != old_refresh  # OAuth 2.1 §4.3.2: the old one is discarded


async def test_a_rotated_out_refresh_token_replayed_is_reuse_and_the_whole_grant_dies(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    client = connection.client
    old_refresh = client.state.tokens["refresh_token"]
    await client.refresh()
    replay = refresh_form(connection.client_id, old_refresh)
    assert_oauth_error(await token_request(lab, replay), 400, "invalid_grant", "reuse detected")
    with pytest.raises(StepError, match=r"step 9 \(refresh\).*invalid_grant"):
        await client.refresh()  # the client's current refresh token went down with the grant


async def test_revoked_grant_access_tokens_are_denylisted_at_the_as(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    await connection.client.refresh()
    jti = lab.auth_server.issued[-1]["jti"]
    lab.auth_server.revoke_family(lab.auth_server.grant_of_jti[jti])
    assert jti in lab.auth_server.revoked_jtis


async def test_a_refresh_may_narrow_the_access_token_but_the_new_refresh_token_keeps_the_grants_scope(
    lab: Lab,
) -> None:
    # RFC 6749 §6: a new refresh token's scope "MUST be identical to that of the refresh token
    # included by the client in the request"; only the access token is narrowed.
    client_id = lab.client_metadata_url
    code = await get_code(lab, client_id, scope="notes:read notes:write")
    granted = (await token_request(lab, code_form(client_id, code))).json()
    narrowed = (await token_request(lab, refresh_form(client_id, granted["refresh_token"], scope="notes:read"))).json()
    assert narrowed["scope"] == "notes:read"
    whole = await token_request(lab, refresh_form(client_id, narrowed["refresh_token"], scope=granted["scope"]))
    assert whole.status_code == 200 and whole.json()["scope"] == "notes:read notes:write"


async def test_an_access_token_from_a_refresh_that_did_not_rotate_dies_with_its_grant(lab: Lab) -> None:
    # RFC 7009 §2.1: revoking a refresh token SHOULD revoke the grant's access tokens; that
    # includes one a refresh minted without a new refresh token (narrowed to drop offline_access).
    lab.auth_server.offline_access = True
    client_id = lab.client_metadata_url
    code = await get_code(lab, client_id, scope="notes:read offline_access")
    refresh_token = (await token_request(lab, code_form(client_id, code))).json()["refresh_token"]
    narrowed = (await token_request(lab, refresh_form(client_id, refresh_token, scope="notes:read"))).json()
    assert "refresh_token" not in narrowed
    async with lab.httpx_client("client") as http:
        revoked = await http.post(f"{ISSUER}/revoke", data={"token": refresh_token, "client_id": client_id})
    assert revoked.status_code == 200
    assert lab.auth_server.active_access_token(narrowed["access_token"]) is None


async def test_with_offline_access_the_as_lists_it_the_client_asks_for_it_and_only_then_gets_a_refresh_token(
    lab: Lab,
) -> None:
    lab.auth_server.offline_access = True
    connection = await lab.connect("cimd")
    assert "offline_access" in lab.auth_server.metadata()["scopes_supported"]
    assert "offline_access" in connection.client.state.scope.split()
    assert "refresh_token" in connection.client.state.tokens
    code = await get_code(lab, lab.client_metadata_url, scope="notes:read")
    body = (await token_request(lab, code_form(lab.client_metadata_url, code))).json()
    assert "access_token" in body and "refresh_token" not in body  # the AS decides (SEP-2207)


async def test_without_offline_access_in_scopes_supported_the_client_does_not_send_it(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    assert "offline_access" not in (connection.client.state.scope or "")
    assert "offline_access" not in connection.client.state.authorization_url


async def test_step_up_is_a_named_step_asking_for_the_union_then_consent_token_and_retry(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    client = connection.client
    start = len(client.records)
    result = await client.call_tool("add_note", {"text": "hello"})
    assert result["structuredContent"]["added"] == "hello"
    assert names(client.records[start:]) == ["step-up", "authorize", "token", "call"]
    step_up = client.records[start]
    # This RS follows 2026-07-28: its 403 names this operation's scopes (notes:read among them), and the
    # union with what was granted is the client's own rule.
    assert "notes:write" in step_up.learned["challenged"].split()
    assert step_up.learned["union"] == "notes:read notes:write"  # SEP-2350: nothing granted is lost
    assert client.state.tokens["scope"] == "notes:read notes:write"
    assert [e.status for e in client.records[-1].exchanges] == [403, 200]
    assert all(e.step is not None for e in lab.trace.exchanges)  # every exchange belongs to a named step


async def test_every_refusal_in_this_file_is_an_oauth_error_never_a_500(lab: Lab) -> None:
    form = refresh_form(lab.client_metadata_url, "nope", resource=MCP_URL)
    assert_oauth_error(await token_request(lab, form), 400, "invalid_grant", "unknown")


async def test_a_refresh_request_without_a_refresh_token_is_invalid_request(lab: Lab) -> None:
    # OAuth 2.1 §4.3.1: refresh_token is REQUIRED; RFC 6749 §5.2: a missing required parameter is
    # invalid_request, not a refresh token that failed to validate (invalid_grant).
    form = {"grant_type": "refresh_token", "client_id": lab.client_metadata_url, "resource": MCP_URL}
    assert_oauth_error(await token_request(lab, form), 400, "invalid_request", "refresh_token is required")


async def test_a_client_that_found_no_resource_identifier_refreshes_without_an_empty_resource() -> None:
    # RFC 8707 §2: resource is an absolute URI. A 2025-03-26 client has no PRM, sent no resource
    # with the code, and must not send `resource=` (empty) on refresh either.
    async with Lab(seed=0, revision="2025-03-26") as lab:
        client = lab.client("dcr")
        await client.run_all()
        await client.refresh()
        refresh = [e for e in lab.trace.exchanges if e.url.endswith("/token")][-1]
        assert refresh.status == 200 and "resource=" not in (refresh.request_body or "")


@pytest.mark.parametrize("blank", ["", "   "])
async def test_a_blank_scope_on_refresh_is_read_as_omitted_and_gets_the_granted_scope(lab: Lab, blank: str) -> None:
    # OAuth 2.1 §4.3.1: an omitted scope is "treated as equal to the scope originally granted";
    # RFC 6749 §3.3: a scope is one or more scope tokens, so a blank one names none and never
    # asks for a token with no scope.
    connection = await lab.connect("cimd")
    form = refresh_form(connection.client_id, connection.client.state.tokens["refresh_token"], scope=blank)
    response = await token_request(lab, form)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "notes:read"


async def test_a_scope_repeated_on_refresh_is_granted_once(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    form = refresh_form(
        connection.client_id, connection.client.state.tokens["refresh_token"], scope="notes:read notes:read"
    )
    assert (await token_request(lab, form)).json()["scope"] == "notes:read"


async def test_a_refresh_token_presented_by_another_client_is_invalid_grant(lab: Lab) -> None:
    # OAuth 2.1 §4.3.1: the AS MUST "validate the refresh token" and that it was issued to the
    # authenticated client; RFC 6749 §5.2: one "issued to another client" is invalid_grant.
    client_id = lab.client_metadata_url
    refresh = (await token_request(lab, code_form(client_id, await get_code(lab, client_id)))).json()["refresh_token"]
    other = (await registered_client(lab))["client_id"]
    stolen = refresh_form(other, refresh)
    assert_oauth_error(await token_request(lab, stolen), 400, "invalid_grant", "issued to another client")
    mine = refresh_form(client_id, refresh)
    assert (await token_request(lab, mine)).status_code == 200  # the refusal spent nothing


async def test_a_refresh_token_is_refused_from_the_second_its_grant_ends_however_often_it_was_rotated(
    lab: Lab,
) -> None:
    # OAuth 2.1 §4.3 and the lab's choice: a grant's refresh tokens last REFRESH_TOKEN_LIFETIME from
    # consent, rotation does not extend it; RFC 7519 §4.1.4's "on or after" reading: at its end
    # second it is already expired. Rotating within each idle window keeps the idle timeout out of it.
    client_id = lab.client_metadata_url
    refresh = (await token_request(lab, code_form(client_id, await get_code(lab, client_id)))).json()["refresh_token"]
    step = REFRESH_TOKEN_IDLE_TIMEOUT - 3600
    for _ in range(REFRESH_TOKEN_LIFETIME // step):
        lab.clock.advance(step)
        response = await token_request(lab, refresh_form(client_id, refresh))
        assert response.status_code == 200, response.text
        refresh = response.json()["refresh_token"]
    lab.clock.advance(REFRESH_TOKEN_LIFETIME - (REFRESH_TOKEN_LIFETIME // step) * step - 1)
    last_second = await token_request(lab, refresh_form(client_id, refresh))  # the grant's last second: still valid
    assert last_second.status_code == 200, last_second.text
    lab.clock.advance(1)
    response = await token_request(lab, refresh_form(client_id, last_second.json()["refresh_token"]))
    assert_oauth_error(response, 400, "invalid_grant", "the refresh token expired", "rotation does not extend it")


async def test_a_refresh_may_not_move_the_grant_to_another_resource(lab: Lab) -> None:
    # RFC 8707 §2.2: a refresh may only name resources from the original grant; §2: invalid_target.
    # Even one this AS serves: the grant was consented to for the one resource it names.
    lab.auth_server.resource_scopes["https://other.example/mcp"] = ["notes:read"]
    client_id = lab.client_metadata_url
    refresh = (await token_request(lab, code_form(client_id, await get_code(lab, client_id)))).json()["refresh_token"]
    form = refresh_form(client_id, refresh)
    response = await token_request(lab, {**form, "resource": "https://other.example/mcp"})
    assert_oauth_error(response, 400, "invalid_target", "differs from the one in the original grant")
    assert (await token_request(lab, {**form, "resource": MCP_URL})).status_code == 200  # the same one is fine


# MCP §10.1.2: calls made at once that waited behind a refused renewal are not asked again -------

DENIED = "step 5 (authorize): the AS answered access_denied: the user denied the request"
AT_ONCE = "the client does not ask again for the calls made at once with it (MCP §10.1.2); a later call may"


def consents(lab: Lab, start: int) -> int:
    return sum(e.caller == "browser" and e.method == "POST" for e in lab.trace.exchanges[start:])


async def test_calls_made_at_once_with_an_expired_token_and_no_refresh_token_ask_once_and_share_the_denial() -> None:
    # No refresh token (offline_access not asked for: a 2025-11-25 client), the token expired: each
    # of five calls made at once ran its own steps 2-5 right after the user had denied the first,
    # five consent pages for five calls. The calls that waited behind it fail with its refusal, and
    # a call made after it asks again.
    import asyncio

    async with Lab(seed=0) as lab:
        lab.auth_server.offline_access = True
        client = lab.client(revision="2025-11-25")
        await client.run_all()
        assert not (client.state.tokens or {}).get("refresh_token")
        lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
        client.decision, start = "deny", len(lab.trace.exchanges)
        results = await asyncio.gather(*(client.call_tool("whoami") for _ in range(5)), return_exceptions=True)
        waited = (
            "step 8 (call): tools/call answered 401 invalid_token, and the new authorization another call ran "
            f"meanwhile for the same token failed ({DENIED}): {AT_ONCE}"
        )
        assert [str(r) for r in results] == [DENIED] + [waited] * 4 and consents(lab, start) == 1
        client.decision = "approve"
        assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"
        assert consents(lab, start) == 2


async def test_calls_made_at_once_that_need_a_step_up_the_user_denies_are_asked_once(lab: Lab) -> None:
    # The calls that waited behind the denied step-up each stepped up again: a second consent page
    # right after the refusal, and the third call gave up after "2 step-up authorizations".
    import asyncio

    client = (await lab.connect("cimd")).client
    client.decision, start = "deny", len(lab.trace.exchanges)
    results = await asyncio.gather(
        *(client.call_tool("add_note", {"text": f"n{i}"}) for i in range(3)), return_exceptions=True
    )
    waited = (
        "step 8 (call): tools/call answered 403 insufficient_scope, and the step-up authorization another call ran "
        f"meanwhile for the same token failed ({DENIED}): {AT_ONCE}"
    )
    assert [str(r) for r in results] == [DENIED, waited, waited] and consents(lab, start) == 1
    client.decision = "approve"
    assert (await client.call_tool("add_note", {"text": "later"}))["structuredContent"]["added"] == "later"


async def test_calls_made_at_once_whose_refresh_the_as_refused_present_the_refresh_token_once(lab: Lab) -> None:
    # The calls that waited behind a refused refresh each refreshed again with the same dead refresh
    # token, and each discovered again: three token requests and three discoveries for one refusal.
    import asyncio

    client = (await lab.connect("cimd")).client
    lab.auth_server.refresh_tokens.clear()
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    start, records = len(lab.trace.exchanges), len(client.records)
    results = await asyncio.gather(*(client.call_tool("whoami") for _ in range(3)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["TokenRequestFailed", "StepError", "StepError"]
    assert all(f"and the refresh another call ran meanwhile for the same token failed ({results[0]})" in str(r)
               for r in results[1:])  # fmt: skip
    assert sum(e.path == "/token" for e in lab.trace.exchanges[start:]) == 1
    assert names(client.records[records:]) == ["refresh", "resource-metadata", "as-metadata", "call", "call", "call"]


@pytest.mark.parametrize(
    ("revision", "asks_for"),
    [("2025-11-25", "the scopes the challenge names, and those alone"), ("2026-07-28", "the union of what it had")],
)
async def test_a_step_up_explains_the_scope_the_client_asks_for_by_the_revision_it_follows(
    revision: str, asks_for: str
) -> None:
    # MCP 2026-07-28 §11.1.2 (SEP-2350): the union; 2025-11-25: the challenge alone, the server
    # re-including what was granted (§10.1.1). The record said "the union" for both.
    async with Lab(seed=0, revision=revision) as lab:
        client = (await lab.connect("cimd")).client
        await client.call_tool("add_note", {"text": "hello"})
        step_up = next(record for record in client.records if record.name == "step-up")
        assert asks_for in step_up.explanation
        other = "the union of what it had" if revision == "2025-11-25" else "and those alone"
        assert other not in step_up.explanation
