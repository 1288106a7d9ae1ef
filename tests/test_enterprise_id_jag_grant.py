"""Enterprise-managed authorization (MCP extension; ID-JAG draft): the whole flow, and the AS's JWT
bearer grant (RFC 7523 §2.1) refusing every ID-JAG it may not take — its header, claims, times,
typ, alg, audience, replay, client — as `invalid_grant` (RFC 7523 §3.1)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.authorization_server.rfc7523 import MAX_ID_JAG_LIFETIME
from lab_servers.client import StepError, decode_jwt_payload
from lab_servers.identity_provider import IdentityProvider
from lab_servers.story import (
    ENTERPRISE_CLIENT_AT_AS,
    ENTERPRISE_CLIENT_ID,
    IDP_ISSUER,
    add_enterprise_idp,
    connect_enterprise,
)

from .enterprise_requests import JWT_BEARER, good, present
from .helpers import HOSTILE_JWT_HEADERS, assert_oauth_error, jwt_with_header

pytestmark = pytest.mark.anyio


async def test_the_whole_flow_gets_a_token_without_consent_and_without_a_refresh_token(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    client = await connect_enterprise(lab, idp)
    assert [r.name for r in client.records] == [
        "challenge",
        "resource-metadata",
        "as-metadata",
        "id-jag",
        "jwt-bearer",
        "mcp",
    ]
    assert client.state.whoami["sub"] == "alice" and client.state.whoami["client_id"] == ENTERPRISE_CLIENT_AT_AS
    assert "refresh_token" not in client.state.tokens  # ID-JAG draft section 4.4.3
    assert not [e for e in lab.trace.exchanges if e.caller == "browser"]  # no consent screen
    id_jag = client.records[3].learned["id_jag"]
    assert id_jag["aud"] == ISSUER and id_jag["resource"] == MCP_URL and id_jag["client_id"] == ENTERPRISE_CLIENT_AT_AS


async def test_the_enterprise_client_steps_up_with_a_new_id_jag_for_the_union_and_no_browser(lab: Lab) -> None:
    # MCP 2026-07-28 §11.1.2: on 403 insufficient_scope the client asks for the union; ext-auth:
    # an enterprise client asks the IdP (its policy decides), never a consent page. Before, it
    # went to /authorize with a redirect URI it never registered (it has the JWT bearer grant
    # alone, RFC 7591 §2), and the AS refused: step 5, invalid_request.
    client = await connect_enterprise(lab, add_enterprise_idp(lab))
    start = len(lab.trace.exchanges)
    added = await client.call_tool("add_note", {"text": "from the enterprise"})  # needs notes:write: 403
    assert added["structuredContent"]["added"] == "from the enterprise"
    assert [r.name for r in client.records][-4:] == ["step-up", "id-jag", "jwt-bearer", "call"]
    assert client.records[-3].learned["id_jag"]["scope"] == "notes:read notes:write"
    assert decode_jwt_payload(client.state.access_token)["scope"] == "notes:read notes:write"
    assert "enterprise IdP" in client.records[-4].explanation  # not "asks the user"
    assert [(e.caller, e.host, e.path) for e in lab.trace.exchanges[start:] if e.path != "/mcp"] == [
        ("client", "idp.example.com", "/token"),
        ("client", "auth.example.com", "/token"),
    ]


async def test_the_enterprise_client_renews_an_expired_token_with_a_new_id_jag_and_no_browser(lab: Lab) -> None:
    # ID-JAG draft §4.4.3: no refresh token; the client asks the IdP for a new ID-JAG (single use,
    # ext-auth §7.6) with the sign-in it kept. Before, the 401 sent it to step 4, which failed
    # with "no pre-registered credentials", though connect_enterprise had set them.
    from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME

    client = await connect_enterprise(lab, add_enterprise_idp(lab))
    first = client.state.id_jag
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    start = len(lab.trace.exchanges)
    assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"
    assert [r.name for r in client.records][-4:] == ["as-metadata", "id-jag", "jwt-bearer", "call"]
    assert client.state.id_jag != first and "refresh_token" not in client.state.tokens
    assert not [e for e in lab.trace.exchanges[start:] if e.caller == "browser" or e.path == "/register"]


async def test_the_enterprise_client_renews_a_stepped_up_token_for_the_scope_it_had(lab: Lab) -> None:
    # A renewal keeps the scope granted, as a refresh does (RFC 6749 §6: omitted, the scope is the
    # one originally granted). Before, the new ID-JAG asked for MCP §6's choice (the challenge's
    # notes:read), and every expiry cost another 403 and step-up.
    from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME

    client = await connect_enterprise(lab, add_enterprise_idp(lab))
    await client.call_tool("add_note", {"text": "a"})  # 403, then the union: notes:read notes:write
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    await client.call_tool("whoami")  # 401: a new ID-JAG and a new token
    assert client.records[-3].learned["id_jag"]["scope"] == "notes:read notes:write"
    assert decode_jwt_payload(client.state.access_token)["scope"] == "notes:read notes:write"
    start = len(client.records)
    await client.call_tool("add_note", {"text": "b"})
    assert [r.name for r in client.records[start:]] == ["call"]  # no step-up again


async def test_the_enterprise_client_s_step_up_fails_with_the_idp_s_refusal_named(lab: Lab) -> None:
    # The enterprise's policy decides at every new ID-JAG: withdrawn, the step-up fails at the
    # IdP with its error (RFC 8693 §2.2.2), and nothing is asked of a browser instead.
    idp = add_enterprise_idp(lab)
    client = await connect_enterprise(lab, idp)
    idp.clients[ENTERPRISE_CLIENT_ID].allowed_resources.clear()
    with pytest.raises(StepError, match=r"^step 11 \(id-jag\): the IdP answered 400 invalid_target: .*does not allow"):
        await client.call_tool("add_note", {"text": "x"})
    assert not [e for e in lab.trace.exchanges if e.caller == "browser"]


async def test_the_enterprise_client_does_not_carry_its_secret_to_an_authorization_server_the_resource_moved_to(
    lab: Lab,
) -> None:
    # MCP 2026-07-28 (SEP-2352): credentials an admin registered at one AS MUST NOT be reused with
    # another; the enterprise client, like a client_credentials one, says so instead of asking.
    client = await connect_enterprise(lab, add_enterprise_idp(lab))
    second = "auth2.example.com"
    lab.add_authorization_server(second, "93.184.215.21")
    lab.use_authorization_server(f"https://{second}")
    start, before = len(lab.trace.exchanges), len(client.records)
    with pytest.raises(StepError, match=r"^step 12 \(jwt-bearer\): .*MUST NOT be reused with another"):
        await client.call_tool("whoami")
    assert not [e for e in lab.trace.exchanges[start:] if e.path == "/token"]
    failed = [(r.number, r.name) for r in client.records[before:] if "error" in r.learned]
    assert failed == [(12, "jwt-bearer"), (8, "call")]  # filed under the step it names, then the call's


async def test_renewing_through_the_idp_without_a_sign_in_fails_step_11(lab: Lab) -> None:
    client = lab.client("preregistered")
    with pytest.raises(StepError, match=r"^step 11 \(id-jag\): no sign-in at the enterprise IdP"):
        await client.renew_through_idp()


async def test_the_as_advertises_the_grant_and_the_id_jag_profile(lab: Lab) -> None:
    add_enterprise_idp(lab)
    metadata = lab.auth_server.metadata()
    assert JWT_BEARER in metadata["grant_types_supported"]
    assert metadata["authorization_grant_profiles_supported"] == ["urn:ietf:params:oauth:grant-profile:id-jag"]


@pytest.mark.parametrize(
    ("make", "mention"),
    [
        (
            lambda idp: good(idp, key=OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))),
            "signature does not verify",
        ),
        (lambda idp: good(idp, audience="https://other-as.example"), "not this authorization server"),
        (
            lambda idp: IdentityProvider("https://rogue-idp.example", clock=idp.clock, ids=idp.ids).mint_id_jag(
                sub="alice", audience=ISSUER, client_id=ENTERPRISE_CLIENT_AT_AS, resource=MCP_URL
            ),
            "not an identity provider this AS trusts",
        ),
        (lambda idp: good(idp, exp=idp.clock.now() - 1), "expired"),
        (lambda idp: good(idp, client_id="someone-else"), "not the authenticated"),
        (lambda idp: good(idp, resource="https://other-mcp.example.com/mcp"), "not a resource of this AS"),
        (
            lambda idp: idp.sign({"iss": IDP_ISSUER, "sub": "alice", "aud": ISSUER, "exp": idp.clock.now() + 60}),
            "typ is 'JWT'",
        ),
        (lambda idp: "not-a-jwt", "not a compact JWS"),
    ],
    ids=[
        "bad-signature",
        "wrong-audience",
        "unknown-idp",
        "expired",
        "client-mismatch",
        "foreign-resource",
        "wrong-typ",
        "garbage",
    ],
)
async def test_a_bad_id_jag_is_invalid_grant(lab: Lab, make: object, mention: str) -> None:
    idp = add_enterprise_idp(lab)
    assert_oauth_error(await present(lab, make(idp)), 400, "invalid_grant", mention)  # type: ignore[operator]


async def test_a_replayed_id_jag_is_refused(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    assertion = good(idp)
    assert (await present(lab, assertion)).status_code == 200
    assert_oauth_error(await present(lab, assertion), 400, "invalid_grant", "replay")


async def test_a_spent_id_jag_is_remembered_until_its_exp_and_no_longer(lab: Lab) -> None:
    # RFC 7523 §3 (7): the AS may keep a used jti until the JWT expires, to refuse its replay;
    # past its exp the JWT is refused as expired anyway, so the entry is dropped, or the store
    # would grow with every grant for as long as the AS runs.
    idp = add_enterprise_idp(lab)
    first = good(idp)
    assert (await present(lab, first)).status_code == 200
    spent = dict(lab.auth_server.seen_id_jags)
    lab.clock.advance(max(spent.values()) - lab.clock.now())
    assert (await present(lab, good(idp))).status_code == 200
    assert len(lab.auth_server.seen_id_jags) == 1 and not set(spent) & set(lab.auth_server.seen_id_jags)
    assert_oauth_error(await present(lab, first), 400, "invalid_grant", "expired")


async def test_a_spent_id_jag_with_a_fractional_exp_is_remembered_until_that_instant_passes(lab: Lab) -> None:
    # RFC 7519 §2: a NumericDate "can represent non-integer values". An ID-JAG whose exp is 300.5 s
    # away is still unexpired 300 s later (§4.1.4), so its jti is still spent (ext-auth §7.6),
    # even after another grant has forgotten the jtis whose exp has passed.
    idp = add_enterprise_idp(lab)
    first = good(idp, exp=lab.clock.now() + 300.5)
    assert (await present(lab, first)).status_code == 200
    lab.clock.advance(300)
    assert (await present(lab, good(idp))).status_code == 200  # forgets the expired ones first
    assert_oauth_error(await present(lab, first), 400, "invalid_grant", "replay")


async def test_a_full_id_jag_replay_set_refuses_the_grant_before_any_token_is_issued(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    lab.auth_server.seen_id_jags.max_entries = 1
    assert (await present(lab, good(idp))).status_code == 200
    issued = len(lab.auth_server.issued)
    refused = await present(lab, good(idp))
    assert_oauth_error(refused, 503, "temporarily_unavailable", "1 unexpired ID-JAGs", "RFC 7523 section 3")
    assert len(lab.auth_server.issued) == issued  # no token issued whose answer was a refusal


async def test_a_jwt_bearer_request_without_an_assertion_is_invalid_request(lab: Lab) -> None:
    add_enterprise_idp(lab)
    assert_oauth_error(await present(lab, ""), 400, "invalid_request", "assertion is required (RFC 7523 section 2.1)")


async def test_without_a_trusted_idp_the_grant_is_unsupported(lab: Lab) -> None:
    async with lab.httpx_client("client") as http:
        response = await http.post(
            f"{ISSUER}/token", data={"grant_type": JWT_BEARER, "assertion": "x", "client_id": lab.client_metadata_url}
        )
    assert_oauth_error(response, 400, "unsupported_grant_type")


async def test_the_enterprise_decides_which_resources_a_client_may_reach(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    idp.clients[ENTERPRISE_CLIENT_ID].allowed_resources.clear()
    with pytest.raises(StepError, match=r"step 11 \(id-jag\).*invalid_target.*does not allow"):
        await connect_enterprise(lab, idp)


@pytest.mark.parametrize("header", HOSTILE_JWT_HEADERS)
async def test_an_id_jag_whose_header_is_not_a_json_object_is_invalid_grant(lab: Lab, header: str) -> None:
    # RFC 7515 §4: the JOSE header is a JSON object; RFC 7523 §3.1: a bad assertion is invalid_grant.
    add_enterprise_idp(lab)
    claims = {
        "iss": IDP_ISSUER,
        "sub": "alice",
        "aud": ISSUER,
        "client_id": ENTERPRISE_CLIENT_AT_AS,
        "resource": MCP_URL,
    }
    response = await present(lab, jwt_with_header(header, claims))
    assert_oauth_error(response, 400, "invalid_grant", "assertion header is a JSON", "not a JSON object")


async def test_an_id_jag_is_not_accepted_before_its_nbf(lab: Lab) -> None:
    # RFC 7523 §3 item 5, RFC 7519 §4.1.5: the JWT MUST NOT be accepted before nbf.
    idp = add_enterprise_idp(lab)
    early = good(idp, nbf=idp.clock.now() + 200)
    assert_oauth_error(await present(lab, early), 400, "invalid_grant", "not valid before", "RFC 7519 section 4.1.5")
    lab.clock.advance(200)
    assert (await present(lab, early)).status_code == 200  # the same ID-JAG, once its nbf has come


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
async def test_an_id_jag_time_claim_that_is_not_a_numeric_date_is_invalid_grant(lab: Lab, claim: str) -> None:
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, **{claim: "tomorrow"}))
    assert_oauth_error(response, 400, "invalid_grant", f"{claim} is not a NumericDate")


# Claims are read as the types the specs give them, never stringified (RFC 7519 §4.1) -----------


@pytest.mark.parametrize(
    ("claims", "mention"),
    [
        pytest.param({"sub": None}, "no sub claim, which it MUST contain (RFC 7523 section 3 item 2)", id="no-sub"),
        pytest.param({"sub": {"x": 1}}, "sub is not a non-empty string", id="sub-object"),
        pytest.param({"sub": 42}, "sub is not a non-empty string", id="sub-number"),
        pytest.param({"sub": ""}, "sub is not a non-empty string", id="sub-empty"),
        pytest.param({"jti": None}, "no jti claim", id="no-jti"),
        pytest.param({"jti": 7}, "jti is not a non-empty string", id="jti-number"),
        pytest.param({"scope": ["notes:read"]}, "scope is not a string", id="scope-array"),
    ],
)
async def test_an_id_jag_must_contain_sub_and_its_string_claims_must_be_strings(
    lab: Lab, claims: dict, mention: str
) -> None:
    # RFC 7523 §3 item 2: the JWT MUST contain a sub; RFC 7519 §4.1.2: a StringOrURI. An ID-JAG
    # whose sub is missing or is an object is invalid_grant (§3.1), not a 500 or a token whose
    # sub reads "{'x': 1}".
    idp = add_enterprise_idp(lab)
    now = lab.clock.now()
    fields = {"iss": IDP_ISSUER, "sub": "alice", "aud": ISSUER, "client_id": ENTERPRISE_CLIENT_AT_AS,
              "resource": MCP_URL, "jti": "jti-1", "iat": now, "exp": now + 60, **claims}  # fmt: skip
    assertion = idp.sign({k: v for k, v in fields.items() if v is not None}, typ="oauth-id-jag+jwt")
    assert_oauth_error(await present(lab, assertion), 400, "invalid_grant", mention)


async def test_an_id_jag_whose_iss_is_not_a_string_is_invalid_grant(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, iss=[IDP_ISSUER]))
    assert_oauth_error(response, 400, "invalid_grant", "iss is not a non-empty string")


async def test_an_id_jag_from_another_trusted_idp_with_the_same_jti_is_not_a_replay(lab: Lab) -> None:
    # RFC 7519 §4.1.7: a jti identifies a JWT for its issuer; two trusted IdPs' may collide, and
    # one IdP's must not spend the other's.
    idp = add_enterprise_idp(lab)
    second = IdentityProvider("https://idp2.example", clock=lab.clock, ids=lab.ids)
    lab.auth_server.trusted_idps[second.issuer] = second.jwks()
    fields = {
        "sub": "alice",
        "audience": ISSUER,
        "client_id": ENTERPRISE_CLIENT_AT_AS,
        "resource": MCP_URL,
        "jti": "same",
    }
    assert (await present(lab, second.mint_id_jag(**fields))).status_code == 200  # type: ignore[arg-type]
    assert (await present(lab, idp.mint_id_jag(**fields))).status_code == 200  # type: ignore[arg-type]
    assert_oauth_error(await present(lab, idp.mint_id_jag(**fields)), 400, "invalid_grant", "replay")  # type: ignore[arg-type]


@pytest.mark.parametrize("typ", ["application/oauth-id-jag+jwt", "OAUTH-ID-JAG+JWT", "Application/OAuth-ID-JAG+JWT"])
async def test_an_id_jag_typ_is_compared_as_a_media_type(lab: Lab, typ: str) -> None:
    # RFC 7515 §4.1.9: typ is a media type: "application/" may be omitted, and media type names
    # are case-insensitive (RFC 6838 §4.2).
    idp = add_enterprise_idp(lab)
    now = lab.clock.now()
    claims = {"iss": IDP_ISSUER, "sub": "alice", "aud": ISSUER, "client_id": ENTERPRISE_CLIENT_AT_AS,
              "resource": MCP_URL, "jti": "jti-1", "iat": now, "exp": now + 60}  # fmt: skip
    response = await present(lab, idp.sign(claims, typ=typ))
    assert response.status_code == 200, response.text


async def test_an_id_jag_typ_of_another_media_type_is_invalid_grant(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    now = lab.clock.now()
    claims = {"iss": IDP_ISSUER, "sub": "alice", "aud": ISSUER, "client_id": ENTERPRISE_CLIENT_AT_AS,
              "resource": MCP_URL, "jti": "jti-1", "iat": now, "exp": now + 60}  # fmt: skip
    response = await present(lab, idp.sign(claims, typ="text/oauth-id-jag+jwt"))
    assert_oauth_error(response, 400, "invalid_grant", "typ is 'text/oauth-id-jag+jwt'")


# Rules the mutation audit found untested (RFC 7523 §3, ID-JAG draft §3.1, §8.1) -------------------


def id_jag_claims(lab: Lab, **changes: object) -> dict:
    now = lab.clock.now()
    claims = {"iss": IDP_ISSUER, "sub": "alice", "aud": ISSUER, "client_id": ENTERPRISE_CLIENT_AT_AS,
              "resource": MCP_URL, "jti": "jti-1", "iat": now, "exp": now + 60, **changes}  # fmt: skip
    return {k: v for k, v in claims.items() if v is not None}


async def test_an_id_jag_whose_aud_also_names_another_party_is_invalid_grant(lab: Lab) -> None:
    # ID-JAG draft §3.1: aud is the issuer identifier of the authorization server it is for; an
    # assertion addressed to this AS and someone else too is not one this AS alone may redeem.
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, aud=[ISSUER, "https://other-as.example"]))
    assert_oauth_error(response, 400, "invalid_grant", "not this authorization server")


async def test_an_id_jag_is_expired_on_the_second_of_its_exp(lab: Lab) -> None:
    # RFC 7523 §3 item 4, RFC 7519 §4.1.4: the JWT MUST NOT be accepted "on or after" its exp.
    idp = add_enterprise_idp(lab)
    now = lab.clock.now()
    assert (await present(lab, good(idp, exp=now + 1))).status_code == 200  # one second before: fine
    response = await present(lab, good(idp, exp=now))
    assert_oauth_error(response, 400, "invalid_grant", "expired")


async def test_an_id_jag_whose_exp_is_unreasonably_far_in_the_future_is_invalid_grant(lab: Lab) -> None:
    # RFC 7521 §5.2: the AS MAY reject such an expiry. Its jti would be held until then.
    idp = add_enterprise_idp(lab)
    now = lab.clock.now()
    response = await present(lab, good(idp, exp=253402300799))  # 9999-12-31
    assert_oauth_error(response, 400, "invalid_grant", "unreasonably far in the future")
    assert not lab.auth_server.seen_id_jags
    assert (await present(lab, good(idp, exp=now + 3600))).status_code == 200  # authlib's hour: fine


async def test_an_id_jag_may_live_max_id_jag_lifetime_seconds_and_not_one_more(lab: Lab) -> None:
    # RFC 7521 §5.2: the AS MAY reject an expiry unreasonably far in the future; the lab's bound is
    # MAX_ID_JAG_LIFETIME (an hour and a minute of clock skew), since each jti is kept until its exp.
    idp = add_enterprise_idp(lab)
    now = lab.clock.now()
    far = await present(lab, good(idp, exp=now + MAX_ID_JAG_LIFETIME + 1))
    assert_oauth_error(far, 400, "invalid_grant", f"more than {MAX_ID_JAG_LIFETIME} s away")
    assert (await present(lab, good(idp, exp=now + MAX_ID_JAG_LIFETIME))).status_code == 200


async def test_an_id_jag_without_iat_is_invalid_grant(lab: Lab) -> None:
    # ID-JAG draft §3.1: iat is REQUIRED (RFC 7523 §3 item 6 lets the AS refuse a JWT without it).
    idp = add_enterprise_idp(lab)
    assertion = idp.sign(id_jag_claims(lab, iat=None), typ="oauth-id-jag+jwt")
    assert_oauth_error(await present(lab, assertion), 400, "invalid_grant", "lacks exp or iat")


async def test_a_requested_scope_beyond_the_id_jags_is_not_granted(lab: Lab) -> None:
    # ext-auth §7.2.1: the scope granted is the request's intersected with the ID-JAG's; the client
    # cannot widen what the enterprise decided by asking for more (RFC 6749 §3.3: the response says so).
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, scope="notes:read"), scope="notes:read notes:write")
    assert response.status_code == 200 and response.json()["scope"] == "notes:read", response.text
    assert decode_jwt_payload(response.json()["access_token"])["scope"] == "notes:read"


async def test_a_public_client_may_not_redeem_an_id_jag(lab: Lab) -> None:
    # ID-JAG draft §8.1: the grant is for confidential clients; an ID-JAG naming a public client is
    # refused even when every claim checks out.
    idp = add_enterprise_idp(lab)
    lab.auth_server.preregister(
        "public-enterprise", {"grant_types": [JWT_BEARER], "token_endpoint_auth_method": "none"}
    )
    assertion = good(idp, client_id="public-enterprise")
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{ISSUER}/token", data={
            "grant_type": JWT_BEARER, "assertion": assertion, "client_id": "public-enterprise",
        })  # fmt: skip
    assert_oauth_error(response, 400, "unauthorized_client", "confidential clients")


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256"])
async def test_an_id_jag_with_an_alg_outside_the_allowed_list_is_refused_naming_the_alg(lab: Lab, alg: str) -> None:
    # RFC 8725 §3.1: the recipient accepts only the algorithms it allows, and never "none"; the
    # refusal says which rule failed before any key is looked up (RFC 7523 §3.1: invalid_grant).
    add_enterprise_idp(lab)
    header = json.dumps({"alg": alg, "typ": "oauth-id-jag+jwt"})
    response = await present(lab, jwt_with_header(header, id_jag_claims(lab)))
    assert_oauth_error(response, 400, "invalid_grant", f"alg {alg!r} is not allowed")
