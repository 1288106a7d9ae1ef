"""A published key set holds public keys only. RFC 7591 §2: `jwks` "contains the client's public
keys", and so does the document at `jwks_uri`; CIMD -02 §4.1 says it again for documents. A JWK
with a private member (RFC 7518 §6: `d`, RSA's `p` `q` `dp` `dq` `qi` `oth`, and `k`, which is a
symmetric key and nothing else) is a leaked key: anyone who read it can sign as its owner. Every
lab server refuses one wherever a stranger published it, under every policy, and names the member.
So too an RSA key shorter than 2048 bits (RFC 7518 §3.3, §3.5: "A key of size 2048 bits or larger
MUST be used with these algorithms"), a key anyone with the means to factor it can sign with."""

from __future__ import annotations

import base64
import warnings
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OKPKey, RSAKey

from lab_servers import HARDENED, ISSUER, NAIVE, Lab, default_client_metadata
from lab_servers.authorization_server import ASPolicy
from lab_servers.client.browser import ConsentPage
from lab_servers.determinism import LabClock
from lab_servers.resource_server.tokens import InvalidToken, TokenValidator
from lab_servers.rfc7517 import PRIVATE_MEMBERS, import_jwk_set, private_key_member
from lab_servers.story import IDP_ISSUER, add_enterprise_idp

from .enterprise_requests import good, present
from .helpers import assert_oauth_error, code_form, get_code, open_authorization, register, token_request
from .registered_clients import PUBLIC_CLIENT

pytestmark = pytest.mark.anyio

KEY = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32))
PUBLIC_JWK = KEY.as_dict(private=False)
CLIENT_ID = "https://app.example/keys-client.json"


def leaked(member: str) -> dict[str, object]:
    """The public key with one private member added, as a careless client would publish it."""
    return {"keys": [PUBLIC_JWK, {**PUBLIC_JWK, "kid": "second", member: "AQAB"}]}


@pytest.mark.parametrize("policy", [HARDENED, NAIVE], ids=["hardened", "naive"])
@pytest.mark.parametrize("member", PRIVATE_MEMBERS)
async def test_registration_refuses_jwks_holding_a_private_member_and_keeps_no_record(
    policy: ASPolicy, member: str
) -> None:
    lab = Lab(policy=policy)
    body = {**PUBLIC_CLIENT, "token_endpoint_auth_method": "private_key_jwt", "jwks": leaked(member)}
    response = await register(lab, body)
    assert_oauth_error(
        response, 400, "invalid_client_metadata", f"key 1 holds the private member {member!r}", "RFC 7591 section 2"
    )
    assert lab.registrations == {}


async def test_registration_takes_a_jwks_of_public_keys() -> None:
    body = {**PUBLIC_CLIENT, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [PUBLIC_JWK]}}
    response = await register(Lab(), body)
    assert response.status_code == 201, response.text
    assert response.json()["jwks"] == {"keys": [PUBLIC_JWK]}


async def test_even_the_naive_as_refuses_a_document_publishing_a_private_key() -> None:
    # NAIVE skips CIMD's own rules, but RFC 7591 §2 holds for any client's metadata: the naive
    # AS refuses by it, and the hardened one by CIMD -02 §4.1 (tests/test_adversarial_cimd.py).
    lab = Lab(policy=NAIVE)
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks": leaked("d")}  # fmt: skip
    lab.publish_client_document(CLIENT_ID, document)
    refused = await open_authorization(lab, CLIENT_ID)
    assert isinstance(refused, ConsentPage) and refused.status == 400
    assert refused.fields["error"] == "invalid_client"
    assert "key 1 holds the private member 'd' (RFC 7591 section 2" in refused.fields["error_description"]


async def test_keys_fetched_from_jwks_uri_with_a_private_member_authenticate_no_one(lab: Lab) -> None:
    # The document at jwks_uri is checked when the AS reads it, to verify an assertion; the
    # assertion is signed with the very key it published, and is still refused.
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://app.example/keys.json"}  # fmt: skip
    lab.publish_client_document(CLIENT_ID, document)
    lab.publish_client_document("https://app.example/keys.json", {"keys": [KEY.as_dict(private=True)]})
    claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": ISSUER, "exp": lab.clock.now() + 60, "jti": "j"}
    form = code_form(CLIENT_ID, await get_code(lab, CLIENT_ID), client_id=None) | {
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt.encode({"alg": "Ed25519"}, claims, KEY, algorithms=["Ed25519"]),
    }
    response = await token_request(lab, form)
    assert_oauth_error(response, 401, "invalid_client", "not public keys: key 0 holds the private member 'd'")


async def test_a_resource_server_refuses_every_token_while_its_as_publishes_a_private_key() -> None:
    def leaking_as(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"keys": [{**KEY.as_dict(private=True), "kid": "as-key"}]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(leaking_as))
    validator = TokenValidator(
        issuer=ISSUER, jwks_uri=f"{ISSUER}/jwks.json", audience="https://mcp.example/mcp", http=http, clock=LabClock()
    )
    forged = jwt.encode(
        {"alg": "Ed25519", "typ": "at+jwt", "kid": "as-key"}, {"iss": ISSUER}, KEY, algorithms=["Ed25519"]
    )
    with pytest.raises(
        InvalidToken, match=r"JWKS could not be loaded: not public keys: key 0 holds the private member 'd'"
    ):
        await validator.validate(forged)
    await http.aclose()


async def test_an_idp_configured_with_a_private_key_is_named_not_taken_for_a_bad_signature(lab: Lab) -> None:
    # The AS's trusted IdPs are configuration (RFC 7523 §3: the issuer's keys); a key set holding
    # a private member was reported as "the signature does not verify", blaming the assertion.
    idp = add_enterprise_idp(lab)
    keys = idp.jwks()
    lab.auth_server.trusted_idps[IDP_ISSUER] = {"keys": [{**keys["keys"][0], "d": "AQAB"}]}
    response = await present(lab, good(idp))
    assert_oauth_error(response, 400, "invalid_grant", f"the keys configured for issuer {IDP_ISSUER!r} cannot be used")
    assert "key 0 holds the private member 'd'" in response.json()["error_description"]


@pytest.mark.parametrize("member", PRIVATE_MEMBERS)
def test_a_jwk_set_with_a_private_member_is_no_published_key_set(member: str) -> None:
    with pytest.raises(ValueError, match=rf"key 1 holds the private member '{member}'.*RFC 7591 §2, RFC 7518 §6"):
        import_jwk_set(leaked(member))
    assert len(import_jwk_set({"keys": [PUBLIC_JWK]}).keys) == 1


@pytest.mark.parametrize(
    ("published", "where"),
    [
        ({**PUBLIC_JWK, "d": "AQAB"}, "the top-level object"),
        ([PUBLIC_JWK, {**PUBLIC_JWK, "d": "AQAB"}], "the object at /1"),
        ({"keys": {"first": {**PUBLIC_JWK, "d": "AQAB"}}}, "the object at /keys/first"),
        ({"keys": [{**PUBLIC_JWK, "x5/backup": {**PUBLIC_JWK, "p": "AQAB"}}]}, "the object at /keys/0/x5~1backup"),
        # A key written without its kty, in an extension member: still key material.
        ({"keys": [PUBLIC_JWK], "x-backup": {"crv": "Ed25519", "x": "AQAB", "d": "AQAB"}}, "the object at /x-backup"),
    ],
    ids=["a-bare-jwk", "a-list-of-jwks", "keys-an-object", "nested-in-a-key", "a-kty-less-key-in-an-extension"],
)
def test_a_private_member_is_found_wherever_a_published_value_holds_it(published: object, where: str) -> None:
    # Only a JWK Set's "keys" array was looked in: serve published a `jwks` that was a bare JWK or
    # a list of JWKs, each holding "d", whatever the AS's policy (CIMD §4.1).
    assert private_key_member(published) == f"{where} holds the private member {'p' if 'x5' in where else 'd'!r}"
    assert private_key_member({"keys": [PUBLIC_JWK, {"kty": "OKP", "kid": "k2"}]}) is None


@pytest.mark.parametrize(
    "published",
    [
        {"keys": [PUBLIC_JWK], "x-meta": {"k": 2}},
        {"keys": [{**PUBLIC_JWK, "x-policy": {"d": "2026-12-07"}}]},
    ],
    ids=["set-extension", "key-extension"],
)
def test_an_extension_member_that_is_no_key_is_ignored_as_rfc_7517_asks(published: dict[str, Any]) -> None:
    # RFC 7517 §4, §5: members not understood MUST be ignored. Every object at any depth was
    # searched, so a "d" or "k" in an extension member's value was taken for a private key, and a
    # set any reader must accept (an AS's JWKS too) was refused.
    assert private_key_member(published) is None
    assert len(import_jwk_set(published).keys) == 1


def test_a_jwk_set_whose_keys_are_not_all_objects_is_refused_naming_the_key() -> None:
    # RFC 7517 §4: "A JWK is a JSON object". joserfc skipped a 5 and said "No keys to import".
    with pytest.raises(ValueError, match=r"RFC 7517 §4, §5\): key 1 is not a JSON object"):
        import_jwk_set({"keys": [PUBLIC_JWK, 5]})


# RFC 7518 §3.3, §3.5: an RSA key of 2048 bits or more ---------------------------------------------


def rsa_key(bits: int) -> RSAKey:
    """A private RSA key of `bits` bits, imported past joserfc's SecurityWarning (it warns, and reads it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def modulus_of(bits: int) -> dict[str, str]:
    """A public RSA JWK whose modulus has exactly `bits` bits (RFC 7518 §6.3.1.1: base64urlUInt)."""
    n = ((1 << (bits - 1)) | 1).to_bytes((bits + 7) // 8, "big")
    return {"kty": "RSA", "e": "AQAB", "n": base64.urlsafe_b64encode(n).rstrip(b"=").decode()}


@pytest.mark.parametrize("policy", [HARDENED, NAIVE], ids=["hardened", "naive"])
@pytest.mark.parametrize("bits", [512, 1024, 2047])
async def test_registration_refuses_an_rsa_key_shorter_than_2048_bits(policy: ASPolicy, bits: int) -> None:
    # RFC 7591 §3.2.2: a metadata value the AS refuses is invalid_client_metadata.
    lab = Lab(policy=policy)
    body = {**PUBLIC_CLIENT, "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [modulus_of(bits)]}}
    response = await register(lab, body)
    assert_oauth_error(
        response, 400, "invalid_client_metadata", f"key 0 is a {bits}-bit RSA key", "RFC 7518 section 3.3, section 3.5"
    )
    assert lab.registrations == {}


async def test_registration_takes_an_rsa_key_of_2048_bits() -> None:
    body = {**PUBLIC_CLIENT, "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [rsa_key(2048).as_dict(private=False)]}}  # fmt: skip
    assert (await register(Lab(), body)).status_code == 201


@pytest.mark.parametrize("policy", [HARDENED, NAIVE], ids=["hardened", "naive"])
async def test_a_document_publishing_a_short_rsa_key_is_refused(policy: ASPolicy) -> None:
    lab = Lab(policy=policy)
    document = {**default_client_metadata(CLIENT_ID), "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [PUBLIC_JWK, modulus_of(1024)]}}  # fmt: skip
    lab.publish_client_document(CLIENT_ID, document)
    refused = await open_authorization(lab, CLIENT_ID)
    assert isinstance(refused, ConsentPage) and refused.status == 400
    assert "key 1 is a 1024-bit RSA key" in refused.fields["error_description"]
    assert "RFC 7518 section 3.3" in refused.fields["error_description"]


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
@pytest.mark.parametrize("where", ["jwks", "jwks_uri"])
async def test_an_assertion_verified_by_a_short_rsa_key_authenticates_no_one(lab: Lab, alg: str, where: str) -> None:
    # Defence in depth: a record an administrator made by hand (registration never saw it), or the
    # keys at a jwks_uri, are read again when an assertion is verified, and refused there.
    key = rsa_key(1024)
    keys = {"keys": [key.as_dict(private=False)]}
    if where == "jwks_uri":
        lab.publish_client_document("https://app.example/keys.json", keys)
        keys_at = {"jwks_uri": "https://app.example/keys.json"}
    else:
        keys_at = {"jwks": keys}
    lab.auth_server.preregister(
        "short-key", {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt", **keys_at}
    )
    claims = {"iss": "short-key", "sub": "short-key", "aud": ISSUER, "exp": lab.clock.now() + 60, "jti": "j"}
    form = {"grant_type": "client_credentials", "resource": lab.mcp_url,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode({"alg": alg}, claims, key, algorithms=[alg])}  # fmt: skip
    response = await token_request(lab, form)
    assert_oauth_error(
        response, 401, "invalid_client", "key 0 is a 1024-bit RSA key", "RFC 7518 section 3.3, section 3.5"
    )
    assert len(lab.auth_server.issued) == 0


def test_every_reader_of_a_jwk_set_refuses_a_short_rsa_key_and_takes_2048_bits() -> None:
    # The IdP's keys and an AS's JWKS are read by the same function as a client's keys.
    with pytest.raises(ValueError, match=r"too weak: key 0 is a 2047-bit RSA key.*RFC 7518 §3\.3, §3\.5"):
        import_jwk_set({"keys": [modulus_of(2047)]})
    assert len(import_jwk_set({"keys": [modulus_of(2048)]}).keys) == 1
