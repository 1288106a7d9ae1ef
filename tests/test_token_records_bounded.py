"""What a successful grant leaves at the AS ends and is bounded (issue 7, token_records.py).

The lab has no login, so a stranger can approve their own consent forever: refresh tokens end
24 h after consent (and after 8 h unused), access-token records are forgotten at `exp`, and each store refuses new
grants with `temporarily_unavailable` rather than silently forget live state when full."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest

from lab_servers import CLIENT_METADATA_URL, Lab
from lab_servers.authorization_server import state, token_records
from lab_servers.authorization_server.grants import RefreshToken
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.token_records import (
    REFRESH_TOKEN_IDLE_TIMEOUT,
    REFRESH_TOKEN_LIFETIME,
    IssuedAccessTokens,
    RefreshTokens,
)
from lab_servers.client import StepError

from .helpers import assert_oauth_error, code_form, get_code, lines_executed, refresh_form, token_request

pytestmark = pytest.mark.anyio


async def test_many_successful_grants_across_clock_jumps_leave_bounded_state(lab: Lab) -> None:
    server = lab.auth_server
    for _ in range(3):
        connection = await lab.connect("cimd")
        for _ in range(4):
            await connection.client.refresh()
            lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)  # every access token so far has expired
        lab.clock.advance(REFRESH_TOKEN_LIFETIME)  # and so has the grant
    connection = await lab.connect("cimd")  # one more grant sweeps what can no longer be used
    assert len(server.issued) == 1 and len(server.refresh_tokens) == 1
    assert len(server.grant_of_jti) <= 1 and server.revoked_jtis == {}


async def test_an_expired_refresh_token_is_refused_naming_its_lifetime(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    await connection.client.refresh()  # rotation does not extend the grant's end
    lab.clock.advance(REFRESH_TOKEN_LIFETIME)
    token = connection.client.state.tokens["refresh_token"]
    response = await token_request(lab, refresh_form(connection.client_id, token))
    assert_oauth_error(response, 400, "invalid_grant", "24 h")
    with pytest.raises(StepError, match="invalid_grant"):
        await connection.client.refresh()


async def test_a_refresh_token_unused_for_8_h_is_refused_naming_the_idle_timeout(lab: Lab) -> None:
    assert REFRESH_TOKEN_IDLE_TIMEOUT == 8 * 3600  # the number the README documents
    connection = await lab.connect("cimd")
    lab.clock.advance(REFRESH_TOKEN_IDLE_TIMEOUT - 1)
    await connection.client.refresh()  # within the window: rotated, and a new window opens
    token = connection.client.state.tokens["refresh_token"]
    lab.clock.advance(REFRESH_TOKEN_IDLE_TIMEOUT)
    response = await token_request(lab, refresh_form(connection.client_id, token))
    assert_oauth_error(response, 400, "invalid_grant", "unused for 8 h", "idle timeout", "RFC 9700 section 4.14.2")
    assert not lab.auth_server.refresh_tokens[token].usable(lab.clock.now())


async def test_rotation_resets_the_idle_window_but_never_passes_the_grants_end(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    for _ in range(REFRESH_TOKEN_LIFETIME // REFRESH_TOKEN_IDLE_TIMEOUT):
        lab.clock.advance(REFRESH_TOKEN_IDLE_TIMEOUT - 1)  # each refresh comes just in time
        await connection.client.refresh()
    token = lab.auth_server.refresh_tokens[connection.client.state.tokens["refresh_token"]]
    assert token.idle_expires_at == token.expires_at  # the last window is cut at the absolute end
    lab.clock.advance(token.expires_at - lab.clock.now())
    response = await token_request(lab, refresh_form(connection.client_id, token.token))
    assert_oauth_error(response, 400, "invalid_grant", "24 h")


async def test_a_refresh_that_brings_no_replacement_still_resets_the_idle_window_of_the_token_it_used(lab: Lab) -> None:
    # RFC 9700 §4.14.2: refresh tokens expire once "not used to obtain new access tokens for some
    # time"; a token kept because the refresh narrowed away offline_access (RFC 6749 §6) was used.
    # Found by tests/test_stateful_grants.py: a client narrowing its token every hour was told at
    # the eighth hour that its refresh token "went unused for 8 h".
    lab.auth_server.offline_access = True
    code = await get_code(lab, CLIENT_METADATA_URL, scope="notes:read offline_access")
    token = (await token_request(lab, code_form(CLIENT_METADATA_URL, code))).json()["refresh_token"]
    form = refresh_form(CLIENT_METADATA_URL, token, scope="notes:read")
    for _ in range(REFRESH_TOKEN_IDLE_TIMEOUT // 3600):
        lab.clock.advance(3600)
        narrowed = await token_request(lab, form)
        assert narrowed.status_code == 200 and "refresh_token" not in narrowed.json(), narrowed.text
    held = lab.auth_server.refresh_tokens[token]
    assert held.usable(lab.clock.now()) and held.idle_expires_at == lab.clock.now() + REFRESH_TOKEN_IDLE_TIMEOUT


async def test_a_rotated_out_refresh_token_replayed_after_the_idle_timeout_is_still_reuse(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    stolen = connection.client.state.tokens["refresh_token"]
    await connection.client.refresh()
    lab.clock.advance(REFRESH_TOKEN_IDLE_TIMEOUT)
    response = await token_request(lab, refresh_form(connection.client_id, stolen))
    assert_oauth_error(response, 400, "invalid_grant", "reuse detected")
    assert lab.auth_server.refresh_tokens[connection.client.state.tokens["refresh_token"]].revoked


async def test_revocation_and_introspection_still_hold_after_sweeps(lab: Lab) -> None:
    server = lab.auth_server
    first = await lab.connect("cimd")
    old = first.client.state.tokens["refresh_token"]
    await first.client.refresh()
    jti = server.issued[-1]["jti"]
    server.revoke_family(server.grant_of_jti[jti])
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    await lab.connect("cimd")  # sweeps the expired access tokens, denylist entries included
    assert jti not in server.revoked_jtis and jti not in server.grant_of_jti
    # The family is within its lifetime: its tokens are still remembered as revoked.
    assert server.refresh_tokens[old].revoked
    response = await token_request(lab, refresh_form(first.client_id, old))
    assert_oauth_error(response, 400, "invalid_grant", "reuse detected")


async def test_reuse_detection_still_kills_the_family_after_a_sweep(lab: Lab) -> None:
    server = lab.auth_server
    connection = await lab.connect("cimd")
    stolen = connection.client.state.tokens["refresh_token"]
    await connection.client.refresh()
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    await lab.connect("cimd")  # a sweep between rotation and reuse
    response = await token_request(lab, refresh_form(connection.client_id, stolen))
    assert_oauth_error(response, 400, "invalid_grant", "reuse detected")
    current = connection.client.state.tokens["refresh_token"]
    assert server.refresh_tokens[current].revoked
    with pytest.raises(StepError, match="invalid_grant"):
        await connection.client.refresh()


async def test_a_full_store_refuses_new_grants_and_keeps_live_state(lab: Lab) -> None:
    server = lab.auth_server
    connection = await lab.connect("cimd")
    server.refresh_tokens.max_entries = 1
    before = dict(server.refresh_tokens)
    with pytest.raises(StepError, match="temporarily_unavailable"):
        await connection.client.refresh()
    assert dict(server.refresh_tokens) == before and not next(iter(before.values())).revoked
    lab.clock.advance(60)
    response = await token_request(lab, refresh_form(connection.client_id, next(iter(before))))
    # RFC 9110 §10.2.3: Retry-After says when there will be room, at the grant's end, not sooner.
    wait = str(REFRESH_TOKEN_LIFETIME - 60)
    assert_oauth_error(response, 503, "temporarily_unavailable", "limit", f"none expires for {wait} s")
    assert response.headers["Retry-After"] == wait
    lab.clock.advance(REFRESH_TOKEN_LIFETIME - 60)  # once the grant has ended, room is made again
    await lab.connect("cimd")
    assert len(server.refresh_tokens) == 1


async def test_a_full_access_token_store_refuses_until_one_expires(lab: Lab) -> None:
    server = lab.auth_server
    await lab.connect("cimd")
    server.issued.max_entries = 1
    lab.clock.advance(100)
    with pytest.raises(StepError, match=f"temporarily_unavailable.*none expires for {ACCESS_TOKEN_LIFETIME - 100} s"):
        await lab.connect("cimd")
    lab.clock.advance(ACCESS_TOKEN_LIFETIME - 100)
    await lab.connect("cimd")
    assert len(server.issued) == 1


async def test_notes_added_by_successful_calls_are_bounded(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab_servers.resource_server import tools

    monkeypatch.setattr(tools, "MAX_NOTES", 2)
    connection = await lab.connect("cimd")
    for text in ("one", "two"):  # the limit is "at most": the second note is still added
        added = await connection.client.call_tool("add_note", {"text": text})
        assert not added.get("isError"), added
    refused = await connection.client.call_tool("add_note", {"text": "three"})
    assert refused.get("isError") and "2 notes, its limit" in str(refused["content"])
    too_long = await connection.client.call_tool("add_note", {"text": "x" * (tools.MAX_NOTE_CHARS + 1)})
    assert too_long.get("isError") and "at most" in str(too_long["content"])
    listed = await connection.client.call_tool("list_notes", {})
    assert "one" in str(listed) and "two" in str(listed) and "three" not in str(listed)


def test_forgetting_an_expired_access_token_forgets_its_links_in_the_stores_the_as_reads() -> None:
    # The maps are the AS's own (state.py hands them over): forgetting a token at its exp must
    # clear its grant link, denylist entry and exchange links there, or they grow without end.
    grants, revoked, exchanged = {"j": "family"}, {"j": 10}, {"j": ["k"]}
    issued = IssuedAccessTokens(grants, revoked, exchanged)
    issued.append({"jti": "j", "exp": 10})
    issued.forget_expired(10)  # RFC 7519 §4.1.4: expired on the second of exp
    assert (grants, revoked, exchanged, list(issued)) == ({}, {}, {}, [])


def test_an_exchange_link_lives_as_long_as_the_token_exchanged_and_no_longer() -> None:
    # The subject token's link to what was exchanged for it outlives the subject while the
    # exchanged token lives (revoking the subject still reaches it), and goes with it.
    issued = IssuedAccessTokens({}, {}, {})
    issued.append({"jti": "subject", "exp": 10})
    issued.link_exchange("subject", "exchanged")
    issued.append({"jti": "exchanged", "exp": 15})
    issued.forget_expired(10)
    assert issued.exchanged_from == {"subject": ["exchanged"]}
    issued.forget_expired(15)
    assert (issued.exchanged_from, issued.subject_of, list(issued)) == ({}, {}, [])


def test_a_chain_of_exchanges_keeps_its_links_while_its_last_token_lives_whatever_sweeps_come_between() -> None:
    # S → E1 → E2 → E3, each exchanged a second before the one before it expires, the store swept
    # every second (any grant sweeps it): the link from S down to E3 is kept while E3 lives, so
    # revoking S reaches it (RFC 7009 §2.1), and nothing of the chain is left once E3 has expired.
    issued = IssuedAccessTokens({}, {}, {})
    issued.append({"jti": "S", "exp": 10})
    for now, (subject, jti) in enumerate(itertools.pairwise(["S", "E1", "E2", "E3"]), start=1):
        issued.forget_expired(9 * now)
        issued.link_exchange(subject, jti)
        issued.append({"jti": jti, "exp": 9 * now + 10})
        issued.forget_expired(9 * now + 1)
    assert list(issued.exp_of_jti) == ["E3"]
    assert issued.exchanged_from == {"S": ["E1"], "E1": ["E2"], "E2": ["E3"]}
    issued.forget_expired(37)
    assert (issued.exchanged_from, issued.subject_of, list(issued)) == ({}, {}, [])


def test_under_a_flood_of_exchange_chains_the_links_kept_are_those_of_live_tokens_and_their_ancestors() -> None:
    # 200 chains of 5 tokens and 200 branches, most expired at the end: a link is kept for a token
    # only while it or something exchanged from it lives, so the store holds the live tokens and
    # their ancestors (at most MAX_DELEGATION_DEPTH each), and nothing once they have all expired.
    issued = IssuedAccessTokens({}, {}, {})
    parent: dict[str, str] = {}
    for chain in range(200):
        issued.append({"jti": f"{chain}.0", "exp": 10})
    for depth in range(1, 5):
        issued.forget_expired(9 * depth)
        for chain in range(200):
            subject, jti = f"{chain}.{depth - 1}", f"{chain}.{depth}"
            if depth == 4 and chain % 2:
                continue  # half the chains end a step earlier, so their links go at the last sweep
            issued.link_exchange(subject, jti)
            issued.append({"jti": jti, "exp": 9 * depth + 10})
            parent[jti] = subject
            if depth == 2:  # a branch that expires on its own, the chain it left still live
                issued.link_exchange(subject, f"{jti}b")
                issued.append({"jti": f"{jti}b", "exp": 9 * depth + 10})
                parent[f"{jti}b"] = subject
    issued.forget_expired(9 * 4 + 1)
    kept: set[str] = set()
    for live in issued.exp_of_jti:
        ancestor = live
        while ancestor in parent:
            ancestor = parent[ancestor]
            kept.add(ancestor)
    assert set(issued.exchanged_from) == kept and len(kept) == 100 * 4
    assert set(issued.subject_of) == set(issued.exp_of_jti) | kept - {f"{chain}.0" for chain in range(200)}
    issued.forget_expired(9 * 4 + 10)
    assert (issued.exchanged_from, issued.subject_of, list(issued)) == ({}, {}, [])


def test_a_full_refresh_store_scans_for_a_token_expired_out_of_order_before_refusing() -> None:
    # Rotation inserts an old family's token after newer ones, so an expired token can sit behind
    # a live one, out of reach of the prefix sweep; a full store looks for it before refusing with
    # temporarily_unavailable. A token is expired on the second of its end (RFC 7519 §4.1.4).
    def token(value: str, end: int) -> RefreshToken:
        return RefreshToken(value, "c", "alice", "r", "s", "f", expires_at=end, idle_expires_at=end)

    store = RefreshTokens(max_entries=2)
    store["live"], store["ended"] = token("live", 100), token("ended", 10)
    store.make_room(10)
    assert list(store) == ["live"]


async def test_serve_mode_keeps_only_the_latest_exchanges_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    from lab_servers import serve_trace
    from lab_servers.serve import serving

    monkeypatch.setattr(serve_trace, "MAX_SERVED_EXCHANGES", 3)
    async with serving(mcp_port=0, as_port=0, tls=False) as served:
        async with httpx.AsyncClient() as http:
            for _ in range(6):
                await http.get(f"{served.issuer}/.well-known/oauth-authorization-server")
        trace = served.lab.trace
    assert len(trace) == 3 and [e.seq for e in trace] == sorted(e.seq for e in trace)


async def test_serve_mode_keeps_the_first_headers_and_characters_of_each_body_in_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lab_servers import serve_trace
    from lab_servers.serve import serving

    monkeypatch.setattr(serve_trace, "MAX_SERVED_BODY_CHARS", 10)
    monkeypatch.setattr(serve_trace, "MAX_SERVED_HEADERS", 3)
    printed = []
    async with serving(mcp_port=0, as_port=0, tls=False, on_exchange=printed.append) as served:
        async with httpx.AsyncClient() as http:
            extra = {"content-type": "application/x-www-form-urlencoded"} | {f"x-extra-{i}": "v" for i in range(20)}
            await http.post(f"{served.issuer}/token", content=b"\xff" * 1000, headers=extra)
        kept = served.lab.trace.exchanges[-1]
    assert kept.request_body == "\ufffd" * 10 + (
        "\n… [truncated: a served lab keeps the first 10 of 1000 characters in memory]"
    )
    assert len(kept.request_headers) == 4 and kept.request_headers[-1][0] == "…"
    assert "keeps the first 3 of" in kept.request_headers[-1][1]
    assert len(kept.response_body) < 100 and "[truncated: a served lab keeps the first 10 of" in kept.response_body
    # What is printed and saved with --trace-file is the exchange as the trace records it.
    assert printed[-1].request_body == "\ufffd" * 1000 and len(printed[-1].request_headers) > 20


async def test_serve_mode_records_each_exchange_as_it_came_over_the_socket() -> None:
    # The served trace is the record of what strangers sent: the target URI with its query (RFC
    # 9112 §3.2.1: origin-form is absolute-path [ "?" query ]), the product that called (its
    # User-Agent's first product, RFC 9110 §10.1.5) or else its address, and the answer's fields.
    from lab_servers.serve import serving

    async with serving(mcp_port=0, as_port=0, tls=False) as served:
        url = f"{served.issuer}/.well-known/oauth-authorization-server?probe=1"
        async with httpx.AsyncClient() as http:
            await http.get(url, headers={"User-Agent": "probe/1.0 (lab test)"})
            await http.get(url, headers={"User-Agent": ""})
        named, anonymous = served.lab.trace.exchanges[-2:]
    assert named.url == anonymous.url == url and named.host == url.split("/")[2]
    assert (named.caller, named.address) == ("probe/1.0", "127.0.0.1") and anonymous.caller == "127.0.0.1"
    assert dict(named.response_headers)["content-type"] == "application/json"


async def test_serve_mode_keeps_an_exchange_at_its_limits_whole_and_cuts_one_past_them() -> None:
    # The cut is for what is past MAX_SERVED_HEADERS and MAX_SERVED_BODY_CHARS, not what meets them.
    from lab_servers import serve_trace

    headers = tuple((f"x-{i}", "v") for i in range(serve_trace.MAX_SERVED_HEADERS))
    assert serve_trace._cut_headers(headers) is headers
    body = "b" * serve_trace.MAX_SERVED_BODY_CHARS
    assert serve_trace._cut(body) is body
    one_more = serve_trace._cut_headers((*headers, ("x-last", "v")))
    assert one_more[:-1] == headers and one_more[-1][0] == "…"
    assert serve_trace._cut(body + "b") == body + (
        f"\n… [truncated: a served lab keeps the first {len(body)} of {len(body) + 1} characters in memory]"
    )


async def test_serve_mode_passes_a_lifespan_through_to_the_app_unrecorded() -> None:
    # Only HTTP exchanges are traced (ASGI's `lifespan` scope is the server starting and stopping).
    from lab_servers.serve_trace import TraceRecorder
    from lab_servers.trace import Trace

    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    trace = Trace()
    await TraceRecorder(app, trace, lambda: 0)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"] and trace.exchanges == []


async def refreshed_grant(lab: Lab, refreshes: int) -> str:
    """A grant refreshed `refreshes` times, each refresh minting an access token of the same
    family (OAuth 2.1 §4.3.1 rotation); its first refresh token, rotated out, is returned."""
    first = rotated = (
        await token_request(lab, code_form(CLIENT_METADATA_URL, await get_code(lab, CLIENT_METADATA_URL)))
    ).json()["refresh_token"]
    for _ in range(refreshes):
        rotated = (await token_request(lab, refresh_form(CLIENT_METADATA_URL, rotated))).json()["refresh_token"]
    return first


async def test_revoking_a_grant_costs_in_proportion_to_its_tokens_not_their_square() -> None:
    # A refresh token used twice revokes its family and every access token based on it (OAuth 2.1
    # §4.3.1); each one was looked up by walking every live token's claims, so a stranger who
    # refreshed 10,000 times and then replayed the first token blocked the AS for seconds.
    work = []
    for refreshes in (50, 500):
        async with Lab(seed=0) as lab:
            reused = await refreshed_grant(lab, refreshes)
            with lines_executed(lambda file: file in (state.__file__, token_records.__file__)) as executed:
                replay = await token_request(lab, refresh_form(CLIENT_METADATA_URL, reused))
            assert_oauth_error(replay, 400, "invalid_grant")
            assert len(lab.auth_server.revoked_jtis) == refreshes + 1  # each access token of the family, denied
        work.append(executed.count)
    assert work[1] < 15 * work[0]  # ten times the tokens: about ten times the work (it was seventy)
