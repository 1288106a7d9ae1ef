"""What a stranger's requests may leave on the authorization server, rule by rule: the cases that
need more than one request (the single-request cases are the table in test_adversarial_as.py)."""

from __future__ import annotations

import asyncio
import re

import pytest

from lab_servers import CLIENT_METADATA_URL, HARDENED, ISSUER, NAIVE, ASPolicy, Lab, OAuthError, default_client_metadata
from lab_servers.authorization_server import registration_limits
from lab_servers.authorization_server.authorize import CODE_LIFETIME, CONSENT_LIFETIME
from lab_servers.authorization_server.registration_limits import MAX_REMEMBERED_SOURCES, RegistrationLimits
from lab_servers.client import Browser, ConsentPage, Redirect
from lab_servers.determinism import LabClock
from lab_servers.metadata_host import HostedResponse

from .helpers import (
    assert_oauth_error,
    authorization_url,
    code_form,
    get_code,
    jwt_with_header,
    lines_executed,
    open_authorization,
    refresh_form,
    register,
    sent_back,
    token_request,
)
from .registered_clients import PUBLIC_CLIENT as DCR

pytestmark = pytest.mark.anyio

REDIRECT = DCR["redirect_uris"][0]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 20
XSS = b"<html><script>alert(document.domain)</script></html>"


# RFC 7591 §3.2.1: the AS issues the credentials; §2: it ignores what it does not understand ----------


async def test_credentials_a_client_sends_at_registration_never_replace_the_issued_ones(lab: Lab) -> None:
    chosen = {
        "client_id": "mine",
        "client_secret": "chosen-secret",
        "client_id_issued_at": 1,
        "client_secret_expires_at": 99,
    }
    body = (await register(lab, {**DCR, "token_endpoint_auth_method": "client_secret_post", **chosen})).json()
    stored = lab.registrations[body["client_id"]]
    assert body["client_id"] == stored.client_id != "mine"
    assert body["client_secret"] == stored.client_secret != "chosen-secret"
    assert body["client_id_issued_at"] == stored.client_id_issued_at == lab.clock.now()
    assert body["client_secret_expires_at"] == 0


async def test_metadata_the_as_does_not_understand_is_neither_stored_nor_echoed(lab: Lab) -> None:
    body = (
        await register(lab, {**DCR, "x_admin": True, "software_statement": "eyJ.e30.", "padding": "x" * 5000})
    ).json()
    assert not {"x_admin", "software_statement", "padding"} & set(body)
    assert not {"x_admin", "software_statement", "padding"} & set(lab.registrations[body["client_id"]].metadata)


# RFC 7591 §2 grant_types, enforced (RFC 6749 §5.2 unauthorized_client) ------------------------------


async def test_a_client_registered_only_for_client_credentials_cannot_start_or_redeem_a_code(lab: Lab) -> None:
    client_id = (await register(lab, {**DCR, "grant_types": ["client_credentials"]})).json()["client_id"]
    redirect = sent_back(await open_authorization(lab, client_id, redirect_uri=REDIRECT))
    assert redirect.params["error"] == "unauthorized_client"
    assert lab.auth_server.pending == {}
    response = await token_request(lab, code_form(client_id, "some-code", redirect_uri=REDIRECT))
    assert_oauth_error(response, 400, "unauthorized_client", "do not include 'authorization_code'")


async def test_a_client_registered_without_refresh_token_cannot_refresh(lab: Lab) -> None:
    client_id = (await register(lab, {**DCR, "grant_types": ["authorization_code"]})).json()["client_id"]
    response = await token_request(lab, refresh_form(client_id, "x"))
    assert_oauth_error(response, 400, "unauthorized_client", "do not include 'refresh_token'")


# RFC 7591 §2 / RFC 7523: private_key_jwt needs keys ---------------------------------------------------


async def test_a_private_key_jwt_client_with_no_keys_gets_invalid_client_at_token_not_a_crash(lab: Lab) -> None:
    # Registration refuses this (see the table); an administrator's record may still lack keys.
    lab.auth_server.preregister("keyless", {**DCR, "token_endpoint_auth_method": "private_key_jwt"})
    # Its claims pass the checks made before the client is looked up; its signature verifies nothing.
    claims = {"iss": "keyless", "sub": "keyless", "aud": ISSUER, "exp": lab.clock.now() + 60, "jti": "j"}
    form = {"grant_type": "authorization_code", "code": "x", "client_id": "keyless",
            "client_assertion": jwt_with_header('{"alg":"ES256"}', claims),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}  # fmt: skip
    assert_oauth_error(await token_request(lab, form), 401, "invalid_client", "no jwks or jwks_uri")


# The logo the AS serves from its own origin (stored XSS) ---------------------------------------------


async def test_a_raster_logo_is_served_with_the_sniffed_type_nosniff_and_a_sandbox_csp(lab: Lab) -> None:
    lab.metadata_hosts["app.example"].publish_response("/logo", HostedResponse(PNG, 200, {"content-type": "text/html"}))
    client_id = (await register(lab, {**DCR, "logo_uri": "https://app.example/logo"})).json()["client_id"]
    async with lab.httpx_client("browser") as http:
        logo = await http.get(f"{ISSUER}/clients/{client_id}/logo")
    assert logo.status_code == 200 and logo.content == PNG
    assert logo.headers["content-type"] == "image/png"  # the AS's finding, not the host's label
    assert logo.headers["x-content-type-options"] == "nosniff"
    assert logo.headers["content-security-policy"] == "default-src 'none'; sandbox"


async def test_the_naive_as_keeps_an_html_logo_but_serves_it_where_no_script_can_run() -> None:
    async with Lab(seed=0, policy=NAIVE) as lab:
        lab.metadata_hosts["app.example"].publish_response(
            "/logo", HostedResponse(XSS, 200, {"content-type": "text/html"})
        )
        client_id = (await register(lab, {**DCR, "logo_uri": "https://app.example/logo"})).json()["client_id"]
        async with lab.httpx_client("browser") as http:
            logo = await http.get(f"{ISSUER}/clients/{client_id}/logo")
            lab.policy = HARDENED
            refused = await http.get(f"{ISSUER}/clients/{client_id}/logo")
    assert logo.status_code == 200 and logo.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert logo.headers["x-content-type-options"] == "nosniff"
    assert_oauth_error(refused, 404, "invalid_request", "not a PNG, JPEG, GIF or WebP")


# The consent page: what the user reads must be what the client is ------------------------------------


@pytest.mark.parametrize("kind", ["dcr", "cimd"])
async def test_bidi_and_invisible_characters_in_a_client_name_never_reach_the_consent_page(kind: str) -> None:
    name = "Good\u202eeman li\u2066am\u200b\u061c App"
    async with Lab(seed=0) as lab:
        if kind == "dcr":
            client_id = (await register(lab, {**DCR, "client_name": name})).json()["client_id"]
        else:
            client_id = CLIENT_METADATA_URL
            lab.publish_client_document(CLIENT_METADATA_URL, {**default_client_metadata(), "client_name": name})
        async with lab.httpx_client("browser") as http:
            page = (await http.get(authorization_url(client_id, redirect_uri=REDIRECT))).text
    assert not re.search("[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u061c]", page)
    assert "<bdi>Goodeman liam App</bdi>" in page
    if kind == "dcr":
        assert "<bdi>Goodeman liam App</bdi>” (unverified name)" in page


# Pending consents and used codes expire, and their number is bounded ---------------------------------


async def test_anonymous_authorization_requests_leave_no_pending_consent_once_expired(lab: Lab) -> None:
    for _ in range(50):
        await open_authorization(lab, CLIENT_METADATA_URL, redirect_uri=REDIRECT)
    assert len(lab.auth_server.pending) == 50
    lab.clock.advance(CONSENT_LIFETIME)
    await open_authorization(lab, CLIENT_METADATA_URL, redirect_uri=REDIRECT)
    assert len(lab.auth_server.pending) == 1


async def open_consent(lab: Lab, caller: str) -> tuple[Browser, ConsentPage]:
    browser = Browser(lab.httpx_client(caller))
    page = await browser.open(authorization_url(CLIENT_METADATA_URL, redirect_uri=REDIRECT))
    assert isinstance(page, ConsentPage) and page.is_consent, page
    return browser, page


async def test_a_flood_of_authorization_requests_is_held_to_the_store_bound(lab: Lab) -> None:
    lab.auth_server.pending.max_entries = 20
    txns = [(await open_consent(lab, "browser"))[1].hidden["txn"] for _ in range(60)]
    # Behind one address (a served lab on loopback, a proxy), the oldest go.
    assert list(lab.auth_server.pending) == txns[-20:]


async def test_a_flood_of_authorization_requests_from_one_address_never_pushes_out_another_users_consent(
    lab: Lab,
) -> None:
    lab.auth_server.pending.max_entries = 20
    user, waiting = await open_consent(lab, "browser")
    for _ in range(60):
        await open_consent(lab, "stranger")
    assert len(lab.auth_server.pending) == 20
    approved = await user.decide(waiting, "approve")
    assert isinstance(approved, Redirect) and "code" in approved.params, approved


async def test_a_full_consent_store_takes_room_from_the_address_holding_the_most(lab: Lab) -> None:
    lab.auth_server.pending.max_entries = 6
    opened: list[tuple[str, str]] = []  # (address, consent transaction), oldest first

    async def open_from(caller: str) -> None:
        _, page = await open_consent(lab, caller)
        opened.append((caller, page.hidden["txn"]))

    def kept() -> list[str]:
        return [caller for caller, txn in opened if txn in lab.auth_server.pending]

    for caller in ("a", "b", "b", "c", "c", "c"):
        await open_from(caller)
    await open_from("d")  # c holds the most (3): its oldest goes
    assert kept() == ["a", "b", "b", "c", "c", "d"]
    await open_from("d")  # b and c hold 2 each; b came to hold 2 first
    assert kept() == ["a", "b", "c", "c", "d", "d"]
    # Each request from a takes room from whoever then holds the most: c (2, first to hold 2),
    # d (2), then a itself (3).
    for _ in range(3):
        await open_from("a")
    assert kept() == ["b", "c", "d", "a", "a", "a"]


async def test_a_flood_of_approved_codes_from_one_address_never_pushes_out_another_users_code(lab: Lab) -> None:
    lab.auth_server.codes.max_entries = 5
    code = await get_code(lab, CLIENT_METADATA_URL, redirect_uri=REDIRECT)
    for _ in range(12):
        stranger, page = await open_consent(lab, "stranger")
        assert isinstance(await stranger.decide(page, "approve"), Redirect)
    assert len(lab.auth_server.codes) == 5
    assert (await token_request(lab, code_form(CLIENT_METADATA_URL, code, redirect_uri=REDIRECT))).status_code == 200


async def test_used_codes_are_forgotten_once_expired(lab: Lab) -> None:
    code = await get_code(lab, CLIENT_METADATA_URL, redirect_uri=REDIRECT)
    assert (await token_request(lab, code_form(CLIENT_METADATA_URL, code, redirect_uri=REDIRECT))).status_code == 200
    assert lab.auth_server.codes[code].used
    lab.clock.advance(CODE_LIFETIME)
    await get_code(lab, CLIENT_METADATA_URL, redirect_uri=REDIRECT)
    assert code not in lab.auth_server.codes and len(lab.auth_server.codes) == 1


# Registration limits: the 429's code is the lab's choice, and it says so -----------------------------


async def test_the_registration_rate_limit_names_its_code_choice(lab: Lab) -> None:
    lab.policy = HARDENED.but(registration_rate_limit=(1, 60))
    assert (await register(lab, DCR)).status_code == 201
    response = await register(lab, DCR)
    assert_oauth_error(
        response, 429, "temporarily_unavailable", "RFC 7591 has no code for this", "RFC 6749 section 4.1.2.1"
    )
    assert response.headers["retry-after"] == "60"


def flooded_limits(addresses: int, policy: ASPolicy) -> RegistrationLimits:
    """A rate limiter that has seen one attempt from each of `addresses` addresses, one a second."""
    limits = RegistrationLimits(LabClock())
    for n in range(addresses):
        limits.check(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", 0, policy)
        limits.clock.advance(1)
    return limits


ONE_A_MINUTE = HARDENED.but(registration_rate_limit=(1, 60), max_registrations=None)
ONE_IN_A_LONG_WINDOW = HARDENED.but(registration_rate_limit=(1, 10**6))  # nobody's attempt leaves it


def test_the_rate_limiter_forgets_an_address_once_it_has_nothing_left_to_count() -> None:
    limits = flooded_limits(3, ONE_A_MINUTE)
    limits.clock.advance(57)  # the first address's attempt is now 60 s old, the others' 59 and 58
    limits.check("192.0.2.1", 0, ONE_A_MINUTE)
    assert list(limits.recent) == ["10.0.0.1", "10.0.0.2", "192.0.2.1"]


def test_the_rate_limiter_remembers_at_most_ten_thousand_addresses_the_least_recently_seen_forgotten_first() -> None:
    # A flood from more addresses than that within one window: nginx's limit_req does the same.
    limits = flooded_limits(MAX_REMEMBERED_SOURCES, ONE_IN_A_LONG_WINDOW)
    limits.check("192.0.2.1", 0, ONE_IN_A_LONG_WINDOW)
    assert len(limits.recent) == MAX_REMEMBERED_SOURCES
    assert "10.0.0.0" not in limits.recent and "10.0.0.1" in limits.recent


def test_an_address_refused_by_the_rate_limit_that_keeps_trying_is_not_forgotten_in_a_flood() -> None:
    limits = flooded_limits(1, ONE_IN_A_LONG_WINDOW)  # 10.0.0.0 has used its one registration
    for n in range(MAX_REMEMBERED_SOURCES):
        limits.check(f"192.0.{n // 256}.{n % 256}", 0, ONE_IN_A_LONG_WINDOW)
        with pytest.raises(OAuthError, match=re.escape("more than 1 registration from 10.0.0.0 within 1000000 s")):
            limits.check("10.0.0.0", 0, ONE_IN_A_LONG_WINDOW)


def test_an_attempt_costs_the_rate_limiter_the_same_however_many_addresses_it_remembers() -> None:
    # It scanned every address it remembered on each attempt once past 10,000 (a quadratic flood).
    # Past the bound it forgets one address first: one more turn of a loop, not ten thousand.
    work = []
    for addresses in (10, MAX_REMEMBERED_SOURCES + 10):
        limits = flooded_limits(addresses, ONE_IN_A_LONG_WINDOW)
        with lines_executed(lambda file: file == registration_limits.__file__) as executed:
            limits.check("192.0.2.1", 0, ONE_IN_A_LONG_WINDOW)
        work.append(executed.count)
    assert work[1] < 2 * work[0]


async def test_the_registration_cap_holds_against_a_concurrent_burst_that_awaits_its_logo() -> None:
    # Each registration awaits its logo prefetch between the cap check and the write: a burst
    # that all passed the check before any record was written used to keep every record.
    async with Lab(seed=0, policy=HARDENED.but(max_registrations=5, registration_rate_limit=None)) as lab:
        slow_logo = HostedResponse(PNG, 200, {"content-type": "image/png"}, delay_seconds=0.05)
        lab.metadata_hosts["app.example"].publish_response("/logo.png", slow_logo)
        body = {**DCR, "logo_uri": "https://app.example/logo.png"}
        responses = await asyncio.gather(*(register(lab, body) for _ in range(20)))
        assert sorted(r.status_code for r in responses) == [201] * 5 + [429] * 15
        assert len(lab.registrations) == 5
        assert all("registration cap" in r.json()["error_description"] for r in responses if r.status_code == 429)


async def test_a_registration_refused_after_the_cap_check_gives_its_place_back() -> None:
    async with Lab(seed=0, policy=HARDENED.but(max_registrations=1, registration_rate_limit=None)) as lab:
        lab.metadata_hosts["app.example"].publish_response(
            "/logo", HostedResponse(XSS, 200, {"content-type": "image/png"})
        )
        refused = await register(lab, {**DCR, "logo_uri": "https://app.example/logo"})
        assert_oauth_error(refused, 400, "invalid_client_metadata", "stored XSS")
        assert (await register(lab, DCR)).status_code == 201
        assert len(lab.registrations) == 1
