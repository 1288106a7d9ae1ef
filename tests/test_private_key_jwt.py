"""A confidential CIMD client authenticates with private_key_jwt (CIMD -02 §8.2: the AS MUST
enforce RFC 7523 §2.2 with the keys the document publishes)."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OKPKey

from lab_servers import ISSUER, Lab, default_client_metadata
from lab_servers.authorization_server.client_authentication import MAX_ASSERTION_LIFETIME

from .helpers import HOSTILE_JWT_HEADERS, assert_oauth_error, code_form, get_code, jwt_with_header, token_request

pytestmark = pytest.mark.anyio
CLIENT_ID = "https://app.example/confidential.json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def key(seed: int) -> OKPKey:
    return OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


def assertion(lab: Lab, signing_key: OKPKey, **changes: object) -> str:
    now = lab.clock.now()
    claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": ISSUER, "exp": now + 60, "jti": "a1", **changes}
    return jwt.encode({"alg": "Ed25519"}, claims, signing_key, algorithms=["Ed25519"])


def publish_confidential_client(lab: Lab) -> None:
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key(1).as_dict(private=False)]}}  # fmt: skip
    lab.publish_client_document(CLIENT_ID, document)


async def redeem(lab: Lab, client_assertion: str | None) -> object:
    code = await get_code(lab, CLIENT_ID)
    if client_assertion is None:  # the client names itself but does not authenticate
        return await token_request(lab, code_form(CLIENT_ID, code))
    form = code_form(CLIENT_ID, code, client_id=None)
    form |= {"client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion}
    return await token_request(lab, form)


async def revoke_authenticated_by(lab: Lab, client_assertion: str) -> httpx.Response:
    """A revocation request (RFC 7009 §2.1: the client authenticates) of a token nobody issued."""
    async with lab.httpx_client("client") as http:
        form = {"token": "x", "client_assertion_type": ASSERTION_TYPE, "client_assertion": client_assertion}
        return await http.post(f"{ISSUER}/revoke", data=form)


async def test_an_assertion_signed_with_the_published_key_authenticates_the_client(lab: Lab) -> None:
    publish_confidential_client(lab)
    response = await redeem(lab, assertion(lab, key(1)))
    assert response.status_code == 200, response.text
    assert lab.auth_server.issued[-1]["client_id"] == CLIENT_ID


@pytest.mark.parametrize(
    ("make", "mention"),
    [
        (lambda lab: None, "token_endpoint_auth_method is 'private_key_jwt'"),
        (lambda lab: assertion(lab, key(2)), "signature not verified"),
        (
            lambda lab: assertion(lab, key(1), aud="https://other.example"),
            "aud must be this authorization server's issuer",
        ),
        (lambda lab: assertion(lab, key(1), exp=lab.clock.now() - 1), "expired"),
        (
            lambda lab: assertion(lab, key(1), sub="https://evil.example/client.json"),
            "iss and sub must both be the client_id",
        ),
    ],
    ids=["no-assertion", "wrong-key", "wrong-audience", "expired", "wrong-subject"],
)
async def test_a_missing_or_bad_assertion_is_invalid_client(lab: Lab, make, mention: str) -> None:
    publish_confidential_client(lab)
    assert_oauth_error(await redeem(lab, make(lab)), 401, "invalid_client", mention)


async def test_a_private_key_jwt_client_sending_a_client_secret_is_held_to_its_method(lab: Lab) -> None:
    # RFC 7591 §2: token_endpoint_auth_method is "the requested authentication method"; the form's
    # secret (OAuth 2.1 §2.4.1) is taken from a client_secret_basic client too, never from one
    # that authenticates with its key (RFC 7523 §2.2), which holds no secret. This client's id is a
    # CIMD URL, and a CIMD client holds none at all (CIMD -02 §4.1): refused before its document is read.
    publish_confidential_client(lab)
    form = code_form(CLIENT_ID, await get_code(lab, CLIENT_ID), client_secret="guess")
    response = await token_request(lab, form)
    assert_oauth_error(response, 401, "invalid_client", "'client_secret_post' can never authenticate it")
    preregistered = "tpc_keyholder"
    metadata = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [key(1).as_dict(private=False)]}}  # fmt: skip
    lab.auth_server.preregister(preregistered, {k: v for k, v in metadata.items() if k != "client_id"})
    form = code_form(preregistered, await get_code(lab, preregistered), client_secret="guess")
    assert_oauth_error(
        await token_request(lab, form), 401, "invalid_client", "authenticated with 'client_secret_post'",
        "is 'private_key_jwt'"
    )  # fmt: skip


async def test_an_assertion_cannot_be_replayed(lab: Lab) -> None:
    publish_confidential_client(lab)
    assert (await redeem(lab, assertion(lab, key(1)))).status_code == 200
    assert_oauth_error(
        await redeem(lab, assertion(lab, key(1))), 401, "invalid_client", "jti is missing or was already used"
    )


@pytest.mark.parametrize("header", HOSTILE_JWT_HEADERS)
async def test_an_assertion_whose_header_is_not_a_json_object_is_invalid_client(lab: Lab, header: str) -> None:
    # RFC 7515 §4: the JOSE header is a JSON object. No client_id in the body: the assertion is
    # read before anyone is authenticated, so this is a stranger's request.
    publish_confidential_client(lab)
    claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": ISSUER, "exp": lab.clock.now() + 60, "jti": "h"}
    response = await redeem(lab, jwt_with_header(header, claims))
    assert_oauth_error(response, 401, "invalid_client", "client_assertion header is a JSON", "not a JSON object")


@pytest.mark.parametrize(
    ("iss", "mention"),
    [
        pytest.param(None, "no iss claim, which it MUST contain (RFC 7523 section 3 item 1)", id="absent"),
        pytest.param("", "iss is not a non-empty string", id="empty"),
        pytest.param({"client": CLIENT_ID}, "iss is not a non-empty string", id="object"),
        pytest.param([CLIENT_ID], "iss is not a non-empty string", id="array"),
    ],
)
async def test_an_assertion_naming_no_client_in_its_iss_fails_to_authenticate(
    lab: Lab, iss: object, mention: str
) -> None:
    # RFC 7523 §3 item 1: the JWT MUST contain an iss, the client_id here (item 2.B), which names
    # whose keys verify it when the body has no client_id. The request did try to authenticate, so
    # an iss naming no client is invalid_client (RFC 6749 §5.2), not a missing client_id (400).
    publish_confidential_client(lab)
    claims = {"sub": CLIENT_ID, "aud": ISSUER, "exp": lab.clock.now() + 60, "jti": "i1"}
    token = jwt.encode(
        {"alg": "Ed25519"}, claims if iss is None else {**claims, "iss": iss}, key(1), algorithms=["Ed25519"]
    )
    assert_oauth_error(await redeem(lab, token), 401, "invalid_client", mention)


async def test_an_assertion_is_not_accepted_before_its_nbf(lab: Lab) -> None:
    # RFC 7523 §3 item 5, RFC 7519 §4.1.5: the JWT MUST NOT be accepted before nbf.
    publish_confidential_client(lab)
    early = assertion(lab, key(1), nbf=lab.clock.now() + 30)
    assert_oauth_error(await redeem(lab, early), 401, "invalid_client", "not valid before", "RFC 7519 section 4.1.5")


async def test_an_assertion_whose_nbf_is_now_is_accepted(lab: Lab) -> None:
    publish_confidential_client(lab)
    assert (await redeem(lab, assertion(lab, key(1), nbf=lab.clock.now()))).status_code == 200


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["tomorrow", True, [1]], ids=["string", "boolean", "array"])
async def test_a_time_claim_that_is_not_a_numeric_date_is_invalid_client(lab: Lab, claim: str, value: object) -> None:
    publish_confidential_client(lab)
    response = await redeem(lab, assertion(lab, key(1), **{claim: value}))
    assert_oauth_error(response, 401, "invalid_client", f"{claim} is not a NumericDate")


async def test_keys_that_cannot_be_fetched_fail_authentication_with_a_challenge(lab: Lab) -> None:
    # CIMD §8.2: the key comes from the client's metadata; an unreadable jwks_uri means the client
    # cannot be authenticated: invalid_client, and a 401 carries WWW-Authenticate (RFC 9110 §15.5.2).
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://app.example/no-such-keys.json"}  # fmt: skip
    lab.publish_client_document(CLIENT_ID, document)
    response = await redeem(lab, assertion(lab, key(1)))
    assert_oauth_error(response, 401, "invalid_client", "its assertion cannot be verified (CIMD section 8.2)", "404")
    assert response.headers["www-authenticate"] == 'Basic realm="token"'


async def test_another_client_using_the_same_jti_does_not_spend_this_clients(lab: Lab) -> None:
    # RFC 7519 §4.1.7 asks issuers to prevent collisions among their jti values, but here every
    # stranger who publishes a CIMD document is an issuer and can collide on purpose: keyed by
    # jti alone, it could burn this client's next jti (here "a1") by authenticating with it first.
    publish_confidential_client(lab)
    other = "https://app.example/other.json"
    lab.publish_client_document(other, {**default_client_metadata(other), "token_endpoint_auth_method": "private_key_jwt",
                                        "jwks": {"keys": [key(2).as_dict(private=False)]}})  # fmt: skip
    revoked = await revoke_authenticated_by(lab, assertion(lab, key(2), iss=other, sub=other))
    assert revoked.status_code == 200, revoked.text
    assert (await redeem(lab, assertion(lab, key(1)))).status_code == 200


async def test_a_spent_jti_is_remembered_until_its_assertion_expires_and_no_longer(lab: Lab) -> None:
    # RFC 7523 §3 item 7: used jti values are kept "for the length of time for which the JWT would
    # be considered valid based on the applicable exp instant"; each assertion chooses its own.
    publish_confidential_client(lab)
    now = lab.clock.now()
    for jti, lifetime in [("long", 300), ("short", 10), ("middle", 60)]:
        spent = await revoke_authenticated_by(lab, assertion(lab, key(1), jti=jti, exp=now + lifetime))
        assert spent.status_code == 200, spent.text
    lab.clock.advance(60)
    assert (await revoke_authenticated_by(lab, assertion(lab, key(1), jti="next"))).status_code == 200
    assert set(lab.auth_server.seen_assertions) == {(CLIENT_ID, "long"), (CLIENT_ID, "next")}


async def test_a_spent_jti_with_a_fractional_exp_is_remembered_until_that_instant_passes(lab: Lab) -> None:
    # RFC 7519 §2: a NumericDate "can represent non-integer values". An assertion whose exp is
    # 60.5 s away is still unexpired 60 s later (§4.1.4), so it must not authenticate a second
    # request then (RFC 7523 §3), even after another one has forgotten the jtis whose exp has passed.
    publish_confidential_client(lab)
    first = assertion(lab, key(1), jti="fractional", exp=lab.clock.now() + 60.5)
    assert (await revoke_authenticated_by(lab, first)).status_code == 200
    lab.clock.advance(60)
    assert (await revoke_authenticated_by(lab, assertion(lab, key(1), jti="next"))).status_code == 200
    assert_oauth_error(await revoke_authenticated_by(lab, first), 401, "invalid_client", "already used")


async def test_a_full_replay_set_refuses_a_new_assertion_until_the_soonest_expires_and_forgets_none(lab: Lab) -> None:
    # Unbounded, a client minting assertions as fast as it can sent grew the set for 300 s at a
    # time; forgetting a live jti instead would let its assertion be replayed.
    publish_confidential_client(lab)
    lab.auth_server.seen_assertions.max_entries = 2
    now = lab.clock.now()
    for jti, lifetime in [("long", 300), ("short", 30)]:
        assert (
            await revoke_authenticated_by(lab, assertion(lab, key(1), jti=jti, exp=now + lifetime))
        ).status_code == 200
    refused = await revoke_authenticated_by(lab, assertion(lab, key(1), jti="third"))
    assert_oauth_error(refused, 503, "temporarily_unavailable", "2 unexpired client assertions", "RFC 7523 section 3")
    assert refused.headers["retry-after"] == "30"
    replayed = await revoke_authenticated_by(lab, assertion(lab, key(1), jti="short", exp=now + 30))
    assert_oauth_error(replayed, 401, "invalid_client", "jti is missing or was already used")
    lab.clock.advance(30)
    assert (await revoke_authenticated_by(lab, assertion(lab, key(1), jti="third"))).status_code == 200


async def test_an_assertion_without_the_jwt_bearer_assertion_type_is_invalid_client(lab: Lab) -> None:
    # RFC 7523 §2.2: client_assertion_type MUST be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.
    publish_confidential_client(lab)
    code = await get_code(lab, CLIENT_ID)
    form = code_form(CLIENT_ID, code, client_id=None) | {"client_assertion": assertion(lab, key(1))}
    for assertion_type in (None, "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"):
        sent = form if assertion_type is None else form | {"client_assertion_type": assertion_type}
        assert_oauth_error(await token_request(lab, sent), 401, "invalid_client", "client_assertion_type must be")


async def test_an_assertion_whose_exp_is_now_is_expired(lab: Lab) -> None:
    # RFC 7523 §3 item 4, RFC 7519 §4.1.4: the JWT MUST NOT be accepted "on or after" its exp.
    publish_confidential_client(lab)
    response = await redeem(lab, assertion(lab, key(1), exp=lab.clock.now()))
    assert_oauth_error(response, 401, "invalid_client", "the assertion is expired")


async def test_an_assertion_may_live_max_assertion_lifetime_seconds_and_not_one_more(lab: Lab) -> None:
    # RFC 7523 §3 item 4: the AS may reject an exp unreasonably far in the future; the lab's bound
    # is MAX_ASSERTION_LIFETIME, since each jti is remembered until its exp.
    publish_confidential_client(lab)
    far = assertion(lab, key(1), exp=lab.clock.now() + MAX_ASSERTION_LIFETIME + 1)
    assert_oauth_error(await redeem(lab, far), 401, "invalid_client", f"more than {MAX_ASSERTION_LIFETIME} s away")
    longest = assertion(lab, key(1), exp=lab.clock.now() + MAX_ASSERTION_LIFETIME, jti="a2")
    assert (await redeem(lab, longest)).status_code == 200


async def test_an_assertion_from_a_client_that_declared_another_method_is_invalid_client(lab: Lab) -> None:
    # RFC 7591 §2: token_endpoint_auth_method is the method the client will use; a public client
    # (`none`) that happens to publish keys did not declare private_key_jwt, and is held to `none`.
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "none",
                "jwks": {"keys": [key(1).as_dict(private=False)]}}  # fmt: skip
    lab.publish_client_document(CLIENT_ID, document)
    response = await redeem(lab, assertion(lab, key(1)))
    assert_oauth_error(response, 401, "invalid_client", "authenticated with 'private_key_jwt'", "is 'none'")


@pytest.mark.parametrize("aud", [ISSUER, [ISSUER]], ids=["string", "one-member-array"])
async def test_an_assertion_whose_aud_is_the_issuer_as_its_sole_value_is_accepted(lab: Lab, aud: object) -> None:
    # draft-ietf-oauth-rfc7523bis §4 (updating RFC 7523 §3 item 3): for client authentication aud
    # "MUST use the issuer identifier of the authorization server as its sole value". RFC 7519
    # §4.1.3 lets one audience be a string or an array, and the draft (since -03) does not
    # restrict aud's type: an array with the issuer as its single member is that sole value.
    publish_confidential_client(lab)
    response = await redeem(lab, assertion(lab, key(1), aud=aud))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "aud",
    [
        f"{ISSUER}/token",
        [f"{ISSUER}/token"],
        [ISSUER, "https://other-as.example"],
        ["https://other-as.example/token", f"{ISSUER}/token"],
        [ISSUER, ISSUER],
        f"{ISSUER}/",
        [],
    ],
    ids=["token-endpoint", "token-endpoint-array", "issuer-and-another", "endpoints", "issuer-twice", "slash", "none"],
)
async def test_an_assertion_whose_aud_is_not_the_issuer_alone_is_invalid_client(lab: Lab, aud: object) -> None:
    # draft-ietf-oauth-rfc7523bis §4: "the token endpoint URL of the authorization server MUST NOT
    # be used as an audience value. The authorization server MUST reject any JWT that does not
    # contain its issuer identifier as its sole audience value", compared as simple strings
    # (RFC 3986 §6.2.1). An AS whose metadata lists this AS's token endpoint as its own gets an
    # assertion signed for it that this AS would take (the audience-injection attack).
    publish_confidential_client(lab)
    response = await redeem(lab, assertion(lab, key(1), aud=aud))
    assert_oauth_error(
        response, 401, "invalid_client", "issuer identifier", "sole value", "draft-ietf-oauth-rfc7523bis section 4",
        "audience injection",
    )  # fmt: skip
    assert len(lab.auth_server.issued) == 0


async def test_a_preregistered_private_key_jwt_client_without_keys_is_told_it_publishes_none(lab: Lab) -> None:
    # RFC 7591 §2: a private_key_jwt client publishes its keys in jwks or jwks_uri. Registration
    # and documents refuse one without; a record an administrator made by hand still gets a 401
    # that names what is missing, not a complaint about a JWK Set it never had.
    lab.auth_server.preregister(
        "keyless", {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt"}
    )
    form = {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(lab, key(1), iss="keyless", sub="keyless")}  # fmt: skip
    assert_oauth_error(await token_request(lab, form), 401, "invalid_client", "publishes no jwks or jwks_uri")
