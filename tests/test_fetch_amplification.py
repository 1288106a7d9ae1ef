"""How many requests the AS sends for the requests it receives (CIMD -02 §8.6 SSRF, §8.7 "denial
of service attacks against the authorization server by consuming excessive resources").

Every CIMD request names a URL the AS fetches, so an AS without bounds is an amplifier: one
inbound request, several outbound ones, aimed where the sender chose. The hardened AS:

- fetches at most one client_id document and one jwks_uri per inbound request, follows no
  redirect (CIMD §5), and never fetches a document's logo_uri (only DCR prefetches, rate-limited);
- shares one fetch among concurrent requests naming the same uncached client_id (no stampede),
  and shares it only while it runs: a failure is never reused (CIMD §5: MUST NOT cache errors);
- gives up on a fetch that hangs after `fetch_timeout_seconds`, and forgets it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from joserfc import jwt

from lab_servers import HARDENED, ISSUER, Lab, default_client_metadata
from lab_servers.client import ConsentPage
from lab_servers.metadata_host import HostedResponse

from .gated_host import KEYS_ADDRESS, KEYS_HOST, SLOW_HOST, add_gated_host, settle
from .helpers import jwt_with_header, open_authorization, register
from .registered_clients import PUBLIC_CLIENT
from .test_private_key_jwt import ASSERTION_TYPE, key

pytestmark = pytest.mark.anyio
CLIENT_ID = f"https://{SLOW_HOST}/client.json"


def consent_shown(page: object) -> bool:
    return isinstance(page, ConsentPage) and page.is_consent


async def revoke_as(lab: Lab, form: dict[str, str]) -> int:
    async with lab.httpx_client("client") as http:
        return (await http.post(f"{ISSUER}/revoke", data={"token": "unknown", **form})).status_code


# One client_id, many requests at once: one fetch -------------------------------------------------


async def test_concurrent_authorization_requests_for_one_uncached_client_id_share_one_fetch(lab: Lab) -> None:
    host, gated = add_gated_host(lab)
    host.publish("/client.json", default_client_metadata(CLIENT_ID))
    gated.hold()
    pages = [asyncio.ensure_future(open_authorization(lab, CLIENT_ID)) for _ in range(10)]
    await gated.until_waiting(1)
    await settle()  # every other request is past its own awaits by now, and did not fetch
    assert gated.arrived == 1  # was 10: one fetch each, a stampede at the client's host
    gated.release()
    assert all(consent_shown(page) for page in await asyncio.gather(*pages))
    assert gated.arrived == 1 and lab.auth_server.cimd.fetches.in_flight == {}


async def test_a_document_that_may_not_be_cached_is_still_fetched_once_for_requests_at_once(lab: Lab) -> None:
    # `no-store` (RFC 9111 §5.2.2.5) forbids keeping it, so every later request fetches again;
    # requests that arrive while it is being fetched share that fetch, which is not keeping it.
    host, gated = add_gated_host(lab)
    host.publish("/client.json", default_client_metadata(CLIENT_ID), cache_control="no-store")
    gated.hold()
    revocations = [asyncio.ensure_future(revoke_as(lab, {"client_id": CLIENT_ID})) for _ in range(5)]
    await gated.until_waiting(1)
    await settle()
    gated.release()
    assert await asyncio.gather(*revocations) == [200] * 5  # RFC 7009 §2.2: 200 for an unknown token
    assert gated.arrived == 1 and lab.cimd_cache == {}
    assert await revoke_as(lab, {"client_id": CLIENT_ID}) == 200
    assert gated.arrived == 2  # a later request fetches again: nothing was cached


async def test_a_shared_fetch_that_failed_is_not_reused_by_the_next_request(lab: Lab) -> None:
    # CIMD §5: the AS MUST NOT cache error responses. Those who waited for the failed fetch share
    # its answer; the next request asks the host again.
    host, gated = add_gated_host(lab)
    gated.hold()
    pages = [asyncio.ensure_future(open_authorization(lab, CLIENT_ID)) for _ in range(3)]
    await gated.until_waiting(1)
    await settle()
    gated.release()
    for page in await asyncio.gather(*pages):
        assert isinstance(page, ConsentPage) and "HTTP 404" in page.fields["error_description"]
    host.publish("/client.json", default_client_metadata(CLIENT_ID))
    assert consent_shown(await open_authorization(lab, CLIENT_ID))
    assert gated.arrived == 2


async def test_a_request_that_gives_up_does_not_take_the_shared_fetch_with_it(lab: Lab) -> None:
    host, gated = add_gated_host(lab)
    host.publish("/client.json", default_client_metadata(CLIENT_ID))
    gated.hold()
    first = asyncio.ensure_future(open_authorization(lab, CLIENT_ID))
    await gated.until_waiting(1)
    second = asyncio.ensure_future(open_authorization(lab, CLIENT_ID))
    await settle()
    first.cancel()  # the browser that caused the fetch went away
    await settle()
    gated.release()
    assert consent_shown(await second)
    assert first.cancelled() and gated.arrived == 1
    assert CLIENT_ID in lab.cimd_cache  # the fetch ran to its end, and its valid document is kept


# What one request can cause -------------------------------------------------------------------------


async def test_one_authorization_request_causes_one_fetch_whatever_its_document_points_at(lab: Lab) -> None:
    # The document names a logo, keys and a sector identifier, and its URL first redirects: the
    # AS fetches the client_id URL once, follows nothing (CIMD §5), and fetches none of the URLs
    # inside (a CIMD logo is not prefetched here; only DCR does, under its rate limit).
    host, _ = add_gated_host(lab)
    inside = {f: f"https://{KEYS_HOST}/{f}" for f in ("logo_uri", "jwks_uri", "sector_identifier_uri")}
    lab.network.add_host(KEYS_HOST, KEYS_ADDRESS, host)  # counted by the trace, not the gate
    document = {**default_client_metadata(CLIENT_ID), **inside, "token_endpoint_auth_method": "private_key_jwt"}
    host.publish("/client.json", document)
    host.publish_response("/moved.json", HostedResponse(b"", 302, {"location": CLIENT_ID}))
    sent = len(lab.trace)
    assert consent_shown(await open_authorization(lab, CLIENT_ID))
    moved = await open_authorization(lab, f"https://{SLOW_HOST}/moved.json")
    assert isinstance(moved, ConsentPage) and "redirects MUST NOT be followed" in moved.fields["error_description"]
    fetched = [e.url for e in list(lab.trace)[sent:] if e.caller == "auth.example.com"]
    assert fetched == [CLIENT_ID, f"https://{SLOW_HOST}/moved.json"]


async def test_one_token_request_causes_at_most_a_document_fetch_and_a_keys_fetch(lab: Lab) -> None:
    # private_key_jwt with jwks_uri (RFC 7523 §2.2, CIMD §8.2): the document (not cached here)
    # and the keys, two fetches for one request, and nothing more.
    host, _ = add_gated_host(lab)
    keys, _ = add_gated_host(lab, KEYS_HOST, KEYS_ADDRESS)
    keys.publish("/jwks.json", {"keys": [key(1).as_dict(private=False)]})
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": f"https://{KEYS_HOST}/jwks.json"}  # fmt: skip
    host.publish("/client.json", document, cache_control="no-store")
    sent = len(lab.trace)
    assertion = _assertion(lab, "one")
    assert await revoke_as(lab, {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}) == 200
    fetched = [e.url for e in list(lab.trace)[sent:] if e.caller == "auth.example.com"]
    assert fetched == [CLIENT_ID, f"https://{KEYS_HOST}/jwks.json"]


@pytest.mark.parametrize(
    ("changes", "mention"),
    [
        ({"exp": 0}, "expired"),
        ({"aud": "https://victim.example/token"}, "aud must be this authorization server's issuer"),
        ({"sub": "https://victim.example/client.json"}, "iss and sub must both be the client_id"),
        ({"jti": "spent"}, "already used"),
    ],
    ids=["expired", "other-audience", "other-subject", "replayed"],
)
async def test_an_assertion_that_could_never_pass_costs_no_fetch_of_the_clients_keys(
    lab: Lab, changes: dict[str, Any], mention: str
) -> None:
    # The keys live at a URL the client chose (jwks_uri): fetched for every assertion, a stranger
    # replaying one (or sending junk) aims one AS request at that URL per request it sends.
    keys, gated = add_gated_host(lab, KEYS_HOST, KEYS_ADDRESS)
    keys.publish("/jwks.json", {"keys": [key(1).as_dict(private=False)]})
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": f"https://{KEYS_HOST}/jwks.json"}  # fmt: skip
    add_gated_host(lab)[0].publish("/client.json", document)
    spent = {"client_assertion_type": ASSERTION_TYPE, "client_assertion": _assertion(lab, "spent")}
    async with lab.httpx_client("client") as http:
        assert (await http.post(f"{ISSUER}/revoke", data={"token": "x", **spent})).status_code == 200
        fetched = gated.arrived
        sent = {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(lab, **{"jti": "new", **changes}),
        }
        response = await http.post(f"{ISSUER}/revoke", data={"token": "x", **sent})
    assert response.status_code == 401 and mention in response.json()["error_description"], response.text
    assert gated.arrived == fetched == 1


@pytest.mark.parametrize(
    ("changes", "header", "mention"),
    [
        ({"exp": 0}, {}, "expired"),
        ({"aud": f"{ISSUER}/token"}, {}, "aud must be this authorization server's issuer"),
        ({}, {"alg": "HS256"}, "alg 'HS256' is not one this AS takes"),
    ],
    ids=["expired", "token-endpoint-audience", "alg-not-offered"],
)
async def test_an_assertion_that_could_never_pass_costs_no_fetch_of_the_clients_document_either(
    lab: Lab, changes: dict[str, Any], header: dict[str, str], mention: str
) -> None:
    # A CIMD client's id is a URL too: resolving it is a fetch (CIMD -02 §8.6, §8.7), so what the
    # request alone refuses is refused before the client is looked up.
    keys, keys_gate = add_gated_host(lab, KEYS_HOST, KEYS_ADDRESS)
    keys.publish("/jwks.json", {"keys": [key(1).as_dict(private=False)]})
    host, document_gate = add_gated_host(lab)
    host.publish("/client.json", {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                                  "jwks_uri": f"https://{KEYS_HOST}/jwks.json"})  # fmt: skip
    assertion = _assertion(lab, "never", **changes)
    if header:
        assertion = jwt_with_header(json.dumps(header), _claims(lab, "never"))
    async with lab.httpx_client("client") as http:
        sent = {"token": "x", "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion}
        response = await http.post(f"{ISSUER}/revoke", data=sent)
    assert response.status_code == 401 and mention in response.json()["error_description"], response.text
    assert document_gate.arrived == keys_gate.arrived == 0


async def test_a_method_the_as_no_longer_offers_costs_no_fetch_and_spends_no_jti(lab: Lab) -> None:
    # ASCapabilities switched after the client published its document: its assertion could never
    # pass, whatever it says, so neither the document nor the keys are fetched, and its jti stays
    # unspent (the _check_client_assertion docstring's promise; CIMD -02 §8.6, §8.7).
    keys, keys_gate = add_gated_host(lab, KEYS_HOST, KEYS_ADDRESS)
    keys.publish("/jwks.json", {"keys": [key(1).as_dict(private=False)]})
    host, document_gate = add_gated_host(lab)
    host.publish("/client.json", {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                                  "jwks_uri": f"https://{KEYS_HOST}/jwks.json"})  # fmt: skip
    lab.auth_server.capabilities = lab.auth_server.capabilities.but(token_endpoint_auth_methods=("none",))
    async with lab.httpx_client("client") as http:
        sent = {"token": "x", "client_assertion_type": ASSERTION_TYPE, "client_assertion": _assertion(lab, "unspent")}
        response = await http.post(f"{ISSUER}/revoke", data=sent)
    assert response.status_code == 400 and "no longer offers 'private_key_jwt'" in response.json()["error_description"]
    assert document_gate.arrived == keys_gate.arrived == 0
    assert (CLIENT_ID, "unspent") not in lab.auth_server.seen_assertions


async def test_concurrent_requests_of_one_private_key_jwt_client_share_one_fetch_of_its_keys(lab: Lab) -> None:
    # Each assertion is fresh and well-formed, so each needs the keys; requests waiting for them
    # at the same time wait for one fetch, and each is then judged on its own (RFC 7523 §3).
    keys, gated = add_gated_host(lab, KEYS_HOST, KEYS_ADDRESS)
    keys.publish("/jwks.json", {"keys": [key(1).as_dict(private=False)]})
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": f"https://{KEYS_HOST}/jwks.json"}  # fmt: skip
    add_gated_host(lab)[0].publish("/client.json", document)
    gated.hold()
    forms = [
        {"client_assertion_type": ASSERTION_TYPE, "client_assertion": _assertion(lab, f"at-once-{n}")} for n in range(5)
    ]
    revocations = [asyncio.ensure_future(revoke_as(lab, form)) for form in forms]
    await gated.until_waiting(1)
    await settle()
    assert gated.arrived == 1  # was 5
    gated.release()
    assert await asyncio.gather(*revocations) == [200] * 5
    assert lab.auth_server.key_fetches.in_flight == {}
    assert (
        await revoke_as(lab, {"client_assertion_type": ASSERTION_TYPE, "client_assertion": _assertion(lab, "later")})
        == 200
    )
    assert gated.arrived == 2  # keys are not cached: a later request fetches them again


def _claims(lab: Lab, jti: str, **changes: Any) -> dict[str, Any]:
    return {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": ISSUER, "exp": lab.clock.now() + 60, "jti": jti, **changes}


def _assertion(lab: Lab, jti: str, **changes: Any) -> str:
    return jwt.encode({"alg": "Ed25519"}, _claims(lab, jti, **changes), key(1), algorithms=["Ed25519"])


async def test_one_registration_causes_at_most_one_fetch_per_fetched_metadata_url(lab: Lab) -> None:
    # RFC 7591 registration, hardened: the logo, the keys and the sector identifier are each
    # fetched once (CIMD -02 §8.8 prefetch), through the defensive fetch, which follows no
    # redirect; the per-address rate limit bounds how often anyone can ask.
    host, _ = add_gated_host(lab)
    for field in ("logo_uri", "jwks_uri", "sector_identifier_uri"):
        host.publish_response(f"/{field}", HostedResponse(b"", 302, {"location": f"https://{SLOW_HOST}/{field}"}))
    body = {
        **PUBLIC_CLIENT,
        **{f: f"https://{SLOW_HOST}/{f}" for f in ("logo_uri", "jwks_uri", "sector_identifier_uri")},
    }
    sent = len(lab.trace)
    assert (await register(lab, body)).status_code == 201
    fetched = [e.url for e in list(lab.trace)[sent:] if e.caller == "auth.example.com"]
    assert fetched == [f"https://{SLOW_HOST}/{f}" for f in HARDENED.fetched_metadata_urls]


# A fetch that hangs ---------------------------------------------------------------------------------


async def test_a_hanging_fetch_holds_its_requests_for_the_timeout_then_all_are_refused_and_it_is_forgotten() -> None:
    # CIMD §8.7's resources: what a hanging host holds is one fetch per client_id (not one per
    # request), for fetch_timeout_seconds, and then nothing.
    async with Lab(seed=0, policy=HARDENED.but(fetch_timeout_seconds=0.05)) as lab:
        host, gated = add_gated_host(lab)
        host.publish("/client.json", default_client_metadata(CLIENT_ID))
        gated.hold()  # never released: the host never answers
        pages: list[Any] = await asyncio.gather(*(open_authorization(lab, CLIENT_ID) for _ in range(5)))
        for page in pages:
            assert (
                isinstance(page, ConsentPage)
                and "took longer than the 50 ms timeout" in page.fields["error_description"]
            )
        assert gated.arrived == 1
        assert lab.auth_server.cimd.fetches.in_flight == {} and lab.cimd_cache == {}
        gated.release()


@pytest.mark.parametrize(
    ("grant_type", "error"),
    [
        (None, "invalid_request"),
        ("password", "unsupported_grant_type"),
        ("urn:ietf:params:oauth:grant-type:jwt-bearer", "unsupported_grant_type"),  # no IdP trusted
        ("urn:ietf:params:oauth:grant-type:token-exchange", "unsupported_grant_type"),  # no exchange rule
        ("authorization_code", "invalid_request"),  # no code
        ("refresh_token", "invalid_request"),  # no refresh_token
    ],
    ids=["no-grant-type", "unknown", "jwt-bearer-no-idp", "token-exchange-no-rule", "no-code", "no-refresh-token"],
)
async def test_a_grant_this_as_never_gives_costs_no_fetch_of_the_clients_document(
    lab: Lab, grant_type: str | None, error: str
) -> None:
    # Judged from the request alone: it was refused only after the client was resolved (for a CIMD
    # URL, its document fetched) and authenticated, where CIMD -02 §8.7 has the AS fetch nothing for
    # a request that can never pass. RFC 6749 §5.2 sets no order among its errors.
    host, document_gate = add_gated_host(lab)
    host.publish("/client.json", default_client_metadata(CLIENT_ID))
    form = {"client_id": CLIENT_ID, **({"grant_type": grant_type} if grant_type else {})}
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{ISSUER}/token", data=form)
    assert response.status_code == 400 and response.json()["error"] == error
    assert document_gate.arrived == 0


@pytest.mark.parametrize("endpoint", ["revoke", "introspect"])
async def test_a_revocation_or_introspection_naming_no_token_costs_no_fetch(lab: Lab, endpoint: str) -> None:
    # RFC 7009 §2.1, RFC 7662 §2.1: token is REQUIRED; without it the request can never pass, and
    # it was refused only after the client's document was fetched (CIMD -02 §8.7).
    host, document_gate = add_gated_host(lab)
    host.publish("/client.json", default_client_metadata(CLIENT_ID))
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{ISSUER}/{endpoint}", data={"client_id": CLIENT_ID, "client_secret": "s"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert document_gate.arrived == 0
