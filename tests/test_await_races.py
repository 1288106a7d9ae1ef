"""Check-then-act across an `await`: the races one event loop allows, played in a chosen order.

In process and served alike, every request shares one event loop: a handler that checks some
state, awaits (a CIMD document, a client's keys, a form body), then acts on what it checked, acts
on what may no longer be true. The AS's endpoints are written so that every await comes first
(reading the form, resolving and authenticating the client) and every check of a code, refresh
token, consent, jti or limit comes after it, with no await between the check and the write. Each
test holds one request at its await (`gated_host`), lets a rival request run to its end, then
releases the first: the outcome must be the one the specs give for the rival having come first.

`test_single_use_redemption.py` covers two redemptions of one code, refresh or consent at once,
and `test_as_hardening.py` the registration cap; these widen the window to a whole rival request.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from joserfc import jwt

from lab_servers import HARDENED, ISSUER, MCP_URL, NAIVE, Lab, default_client_metadata
from lab_servers.authorization_server.grants import ExchangeRule
from lab_servers.authorization_server.rfc7523 import GRANT_TYPE as JWT_BEARER
from lab_servers.authorization_server.rfc8693 import ACCESS_TOKEN_TYPE
from lab_servers.authorization_server.rfc8693 import GRANT_TYPE as TOKEN_EXCHANGE
from lab_servers.client import ConsentPage
from lab_servers.lab import AS_HOST, PUBLIC_ADDRESSES
from lab_servers.story import ENTERPRISE_CLIENT_AT_AS, add_enterprise_idp

from .enterprise_requests import good
from .gated_host import KEYS_ADDRESS, KEYS_HOST, SLOW_HOST, GatedHost, add_gated_host, settle
from .helpers import assert_oauth_error, code_form, get_code, open_authorization, register, token_request
from .registered_clients import PUBLIC_CLIENT, registered_client
from .test_as_hardening import PNG
from .test_private_key_jwt import ASSERTION_TYPE, key
from .test_resource_server import TOOLS_LIST, mint, post_mcp

pytestmark = pytest.mark.anyio
KEYED = "https://app.example/keyed.json"  # a private_key_jwt client whose keys live behind a gate
KEYS_URL = f"https://{KEYS_HOST}/jwks.json"


def signed_by_client(lab: Lab, jti: str, client_id: str = KEYED) -> dict[str, str]:
    """Client authentication by private_key_jwt (RFC 7523 §2.2), its assertion's jti chosen."""
    now = lab.clock.now()
    claims = {"iss": client_id, "sub": client_id, "aud": ISSUER, "exp": now + 60, "jti": jti}
    signed = jwt.encode({"alg": "Ed25519"}, claims, key(1), algorithms=["Ed25519"])
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed}


def keys_behind_a_gate(lab: Lab) -> GatedHost:
    keys, gated = add_gated_host(lab, KEYS_HOST, KEYS_ADDRESS)
    keys.publish("/jwks.json", {"keys": [key(1).as_dict(private=False)]})
    return gated


def publish_keyed_client(lab: Lab) -> GatedHost:
    gated = keys_behind_a_gate(lab)
    document = {**default_client_metadata(KEYED), "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": KEYS_URL}
    lab.publish_client_document(KEYED, document)
    return gated


async def post(lab: Lab, path: str, form: dict[str, str], **kwargs: Any) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        return await http.post(f"{ISSUER}{path}", data=form, **kwargs)


async def keyed_refresh_token(lab: Lab) -> str:
    code = await get_code(lab, KEYED)
    redeemed = await token_request(lab, code_form(KEYED, code, client_id=None) | signed_by_client(lab, "redeem"))
    assert redeemed.status_code == 200, redeemed.text
    return str(redeemed.json()["refresh_token"])


# A policy switched while a document is fetched (fixed) -----------------------------------------------


async def test_a_document_fetched_under_the_naive_policy_does_not_enter_the_hardened_cache() -> None:
    # state.py: "documents accepted under another policy must be re-judged". A fetch the naive
    # policy started (an http client_id the hardened one refuses at step 1, CIMD §3) ended after
    # the switch, and its document was judged by the new policy's document rules, cached, and
    # then served to hardened requests, which never ran step 1: a consent page for http://.
    async with Lab(seed=0, policy=NAIVE) as lab:
        host, gated = add_gated_host(lab)
        client_id = f"http://{SLOW_HOST}/client.json"
        host.publish("/client.json", default_client_metadata(client_id))
        gated.hold()
        started = asyncio.ensure_future(open_authorization(lab, client_id))
        await gated.until_waiting(1)
        lab.policy = HARDENED
        gated.release()
        page = await started
        assert isinstance(page, ConsentPage) and page.is_consent  # judged whole by the policy it began under
        assert lab.cimd_cache == {}
        refused = await open_authorization(lab, client_id)
        assert isinstance(refused, ConsentPage) and "must use the https scheme" in refused.fields["error_description"]


async def test_a_request_under_the_new_policy_does_not_join_a_fetch_the_old_policy_started() -> None:
    async with Lab(seed=0, policy=NAIVE) as lab:
        host, gated = add_gated_host(lab)
        client_id = f"https://{SLOW_HOST}/client.json"
        host.publish("/client.json", default_client_metadata(client_id), content_type="text/html")
        gated.hold(1)
        naive = asyncio.ensure_future(open_authorization(lab, client_id))
        await gated.until_waiting(1)
        lab.policy = HARDENED
        hardened = await open_authorization(lab, client_id)  # fetches for itself, judged by its own rules
        assert isinstance(hardened, ConsentPage) and "not a JSON media type" in hardened.fields["error_description"]
        gated.release()
        assert (await naive).is_consent  # type: ignore[union-attr]
        assert gated.arrived == 2


# Refresh and revocation, both waiting for the client's keys --------------------------------------------
#
# Requests of one client at the same time wait for one fetch of its keys (shared_fetch.py), then
# resume in the order they came: the first one's act is done before the second one's check.


async def both_waiting_for_the_keys(
    lab: Lab, keys: GatedHost, first: dict[str, Any], second: dict[str, Any]
) -> list[httpx.Response]:
    """Send `first` then `second` (each a path and a form), hold both at the client's keys, release."""
    keys.hold()
    sent = [asyncio.ensure_future(post(lab, request["path"], request["form"])) for request in (first, second)]
    await keys.until_waiting(1)
    await settle()  # the second is past its own awaits too, waiting for the same fetch
    assert keys.arrived == 2  # the redemption's fetch, and this one shared fetch
    keys.release()
    return await asyncio.gather(*sent)


async def test_a_refresh_waiting_for_the_clients_keys_is_refused_once_a_revocation_ended_its_grant(lab: Lab) -> None:
    # RFC 7009 §2.1: revoking a refresh token ends its grant. A refresh already under way
    # (authenticating its client) when the revocation ran must not issue from that grant.
    keys = publish_keyed_client(lab)
    refresh_token = await keyed_refresh_token(lab)
    revoke = {"path": "/revoke", "form": {"token": refresh_token} | signed_by_client(lab, "revoke")}
    refresh = {"path": "/token", "form": {"grant_type": "refresh_token", "refresh_token": refresh_token}
               | signed_by_client(lab, "refresh")}  # fmt: skip
    revoked, refused = await both_waiting_for_the_keys(lab, keys, revoke, refresh)
    assert revoked.status_code == 200, revoked.text
    assert_oauth_error(refused, 400, "invalid_grant", "revoked")
    assert len(lab.auth_server.issued) == 1  # the redemption's token only: nothing issued after the revocation


async def test_a_revocation_waiting_for_the_clients_keys_still_ends_the_grant_a_refresh_rotated_meanwhile(
    lab: Lab,
) -> None:
    # The rival order: the refresh rotates first; the revocation, of the token it replaced, still
    # ends the whole grant, the new refresh token and access token included (RFC 7009 §2.1).
    keys = publish_keyed_client(lab)
    refresh_token = await keyed_refresh_token(lab)
    revoke = {"path": "/revoke", "form": {"token": refresh_token} | signed_by_client(lab, "revoke")}
    refresh = {"path": "/token", "form": {"grant_type": "refresh_token", "refresh_token": refresh_token}
               | signed_by_client(lab, "refresh")}  # fmt: skip
    refreshed, revoked = await both_waiting_for_the_keys(lab, keys, refresh, revoke)
    assert refreshed.status_code == 200 and revoked.status_code == 200
    rotated = refreshed.json()
    assert lab.auth_server.refresh_tokens[rotated["refresh_token"]].revoked
    assert lab.auth_server.active_access_token(rotated["access_token"]) is None


# Single use while the keys are fetched ---------------------------------------------------------------


async def test_one_client_assertion_sent_twice_while_the_keys_are_fetched_authenticates_one_request(lab: Lab) -> None:
    # RFC 7523 §3: the AS may refuse a replayed jti; this one does. Both requests pass the first
    # look at the claims, before the keys; the jti is checked again after the keys arrive and spent
    # with no await after that check, so only one of them authenticates.
    keys = publish_keyed_client(lab)
    same = signed_by_client(lab, "once")
    keys.hold()
    both = [asyncio.ensure_future(post(lab, "/revoke", {"token": "unknown"} | same)) for _ in range(2)]
    await keys.until_waiting(1)
    await settle()
    keys.release()
    responses = await asyncio.gather(*both)
    assert sorted(r.status_code for r in responses) == [200, 401]
    assert_oauth_error(next(r for r in responses if r.status_code == 401), 401, "invalid_client", "already used")


async def test_one_id_jag_presented_twice_while_the_clients_keys_are_fetched_gives_one_token(lab: Lab) -> None:
    # ext-auth §7.6 (the ID-JAG's jti is single use); each presentation authenticates the client
    # with its own assertion, and both wait for the client's keys before the ID-JAG is read.
    idp = add_enterprise_idp(lab)
    keys = keys_behind_a_gate(lab)
    lab.auth_server.preregister(
        ENTERPRISE_CLIENT_AT_AS,
        {"grant_types": [JWT_BEARER], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": KEYS_URL},
    )
    id_jag = good(idp)
    keys.hold()
    presented = [
        asyncio.ensure_future(post(lab, "/token", {"grant_type": JWT_BEARER, "assertion": id_jag}
                                   | signed_by_client(lab, f"present-{n}", ENTERPRISE_CLIENT_AT_AS)))
        for n in range(2)
    ]  # fmt: skip
    await keys.until_waiting(1)
    await settle()
    keys.release()
    responses = await asyncio.gather(*presented)
    assert sorted(r.status_code for r in responses) == [200, 400]
    assert_oauth_error(next(r for r in responses if r.status_code == 400), 400, "invalid_grant", "replay")


async def test_a_token_exchange_waiting_for_its_keys_is_refused_once_its_subject_token_was_revoked(lab: Lab) -> None:
    # RFC 8693 §2.2.2: the subject token must be valid; revoked while the exchange authenticated
    # its client, it no longer is, and nothing is issued for it.
    keys = keys_behind_a_gate(lab)
    exchanger = "mcp-exchanger"
    lab.auth_server.preregister(
        exchanger,
        {"grant_types": [TOKEN_EXCHANGE], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": KEYS_URL},
    )
    lab.auth_server.exchange_rules[exchanger] = ExchangeRule(
        MCP_URL, {"https://api.example/": frozenset({"contacts:read"})}
    )
    registered = (await registered_client(lab))["client_id"]
    subject = (await token_request(lab, code_form(registered, await get_code(lab, registered)))).json()["access_token"]
    keys.hold(1)
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject, "subject_token_type": ACCESS_TOKEN_TYPE,
            "resource": "https://api.example/"} | signed_by_client(lab, "exchange", exchanger)  # fmt: skip
    exchange = asyncio.ensure_future(post(lab, "/token", form))
    await keys.until_waiting(1)
    assert (await post(lab, "/revoke", {"token": subject, "client_id": registered})).status_code == 200
    keys.release()
    assert_oauth_error(await exchange, 400, "invalid_request", "not an active access token")
    assert exchanger not in [claims["client_id"] for claims in lab.auth_server.issued]


# Registration limits under a burst -------------------------------------------------------------------


async def test_a_burst_of_registrations_waiting_for_their_logos_stays_within_the_rate_limit() -> None:
    # Ten at once from one address, each waiting for its logo (CIMD §8.8 prefetch) between the
    # limits and the write: the rate limit counts attempts before that await, so three pass.
    async with Lab(seed=0, policy=HARDENED.but(registration_rate_limit=(3, 60))) as lab:
        host, gated = add_gated_host(lab)
        host.publish("/logo.png", PNG, content_type="image/png")
        gated.hold()
        burst = [asyncio.ensure_future(register(lab, {**PUBLIC_CLIENT, "logo_uri": f"https://{SLOW_HOST}/logo.png"}))
                 for _ in range(10)]  # fmt: skip
        await gated.until_waiting(3)
        await settle()
        assert gated.waiting == 3  # the seven others were refused before any fetch
        gated.release()
        responses = await asyncio.gather(*burst)
        assert sorted(r.status_code for r in responses) == [201] * 3 + [429] * 7
        assert len(lab.registrations) == 3


# A client document that changes between the authorization and the token request --------------------


async def test_the_token_endpoint_judges_a_cimd_client_by_its_document_as_fetched_then(lab: Lab) -> None:
    # CIMD -02 §8.3 ("Changes in Client Metadata"): a document can change at any time, and the AS
    # "may choose" what to do. This AS reads it again when its cache allows (here: no-store) and
    # authenticates the client as the document says now: a client that became confidential
    # after the consent cannot redeem its code as a public one.
    host, _ = add_gated_host(lab)
    client_id = f"https://{SLOW_HOST}/client.json"
    host.publish("/client.json", default_client_metadata(client_id), cache_control="no-store")
    code = await get_code(lab, client_id)
    changed = {
        **default_client_metadata(client_id),
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": KEYS_URL,
    }
    host.publish("/client.json", changed, cache_control="no-store")
    response = await token_request(lab, code_form(client_id, code))
    assert_oauth_error(response, 401, "invalid_client", "token_endpoint_auth_method is 'private_key_jwt'")


# The MCP server's keys ------------------------------------------------------------------------------


async def test_concurrent_first_requests_to_the_mcp_server_share_one_fetch_of_the_as_keys(lab: Lab) -> None:
    # tokens.py: "Concurrent first requests share one fetch": the lock is held across the await.
    gated = GatedHost(lab.auth_server.app)
    lab.network.add_host(AS_HOST, PUBLIC_ADDRESSES[AS_HOST], gated)
    gated.hold(1)
    calls = [asyncio.ensure_future(post_mcp(lab, TOOLS_LIST, mint(lab, jti=f"j{n}"))) for n in range(5)]
    await gated.until_waiting(1)
    await settle()
    assert gated.arrived == 1
    gated.release()
    assert [r.status_code for r in await asyncio.gather(*calls)] == [200] * 5
    assert lab.resource_server.validator.jwks_fetches == 1  # type: ignore[union-attr]


# One lab, two event loops in turn ----------------------------------------------------------------


def test_a_fetch_left_on_a_closed_event_loop_does_not_fail_the_next_loops_requests() -> None:
    # A notebook's loop, or a script's first `asyncio.run`, ends with a CIMD fetch under way; the
    # same Lab is then used from a new loop. The old fetch can never be awaited from the new loop
    # (its future belongs to the closed one): the new loop's request fetches for itself, instead
    # of failing with "got Future attached to a different loop" for as long as the AS lives.
    lab = Lab(seed=0)
    host, gated = add_gated_host(lab)
    client_id = f"https://{SLOW_HOST}/client.json"
    host.publish("/client.json", default_client_metadata(client_id))
    left: list[asyncio.Future[Any]] = []

    async def left_waiting_at_the_gate() -> None:
        gated.hold(1)
        left.append(asyncio.ensure_future(open_authorization(lab, client_id)))
        await gated.until_waiting(1)

    first_loop = asyncio.new_event_loop()
    first_loop.run_until_complete(left_waiting_at_the_gate())
    first_loop.close()  # its tasks are never finished; the lab lives on

    page = asyncio.run(open_authorization(lab, client_id))
    assert isinstance(page, ConsentPage) and page.is_consent
    assert gated.arrived == 2
