"""`lab_servers.rfc7519`: what every lab server checks of a JWT before and around its signature
(RFC 7519 §7.2), and its time claims (§2, §4.1.5)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OKPKey

from lab_servers.rfc7519 import JwtRejected, check_not_before, numeric_date, unverified_parts, verified_claims

from .helpers import HOSTILE_JWT_HEADERS, jwt_with_header, signed_jwt

KEY = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))


def signed(claims: dict[str, object]) -> str:
    return jwt.encode({"alg": "Ed25519"}, claims, KEY, algorithms=["Ed25519"])


def test_a_signed_jwt_gives_its_header_and_claims() -> None:
    token = signed({"iss": "https://auth.example.com"})
    assert unverified_parts(token, what="the token") == (
        {"alg": "Ed25519", "typ": "JWT"},
        {"iss": "https://auth.example.com"},
    )
    assert verified_claims(token, KEY, ["Ed25519"], what="the token") == {"iss": "https://auth.example.com"}


@pytest.mark.parametrize("header", HOSTILE_JWT_HEADERS)
@pytest.mark.parametrize(
    "check",
    [unverified_parts, lambda token, what: verified_claims(token, KEY, ["Ed25519"], what=what)],
    ids=["unverified", "verified"],
)
def test_a_header_that_is_not_a_json_object_is_refused_by_both_readers(header: str, check) -> None:
    # RFC 7515 §4; RFC 7519 §7.2 step 4: "a completely valid JSON object".
    with pytest.raises(JwtRejected, match=r"the token header is a JSON \w+, not a JSON object \(RFC 7515 §4"):
        check(jwt_with_header(header, {"iss": "x"}), what="the token")


@pytest.mark.parametrize(
    ("token", "rule"),
    [
        ("a.b", r"2 parts, not 3 \(RFC 7515 §7.1\)"),
        ("a.b.c.d.e", r"5 parts, not 3"),  # a JWE: no lab server takes one
        (jwt_with_header('{"typ": "JWT"}', {}), r"no alg string \(RFC 7515 §4.1.1\)"),
        (jwt_with_header('{"alg": ["Ed25519"]}', {}), r"no alg string"),
        (jwt_with_header('{"alg": "Ed25519"}', ["iss"]), r"claims is a JSON array, not a JSON object"),
        ("e30=.e30.c2ln", r"header is not base64url"),  # padding: RFC 7515 §2 omits it
        (jwt_with_header("[" * 50 + "]" * 50, {}), r"nested deeper than 8 levels .*not a JWT \(RFC 7519 §7.2\)"),
    ],
    ids=["two-parts", "jwe", "no-alg", "alg-not-a-string", "claims-array", "padded-base64", "deep-header"],
)
def test_what_is_not_a_compact_jws_is_refused_naming_the_rule(token: str, rule: str) -> None:
    with pytest.raises(JwtRejected, match=rule):
        unverified_parts(token, what="the token")


def test_a_bad_signature_is_refused_after_the_structure_passes() -> None:
    other = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(b"\x02" * 32))
    with pytest.raises(JwtRejected, match=r"the token signature not verified: bad_signature \(RFC 7515 §5.2\)"):
        verified_claims(signed({"iss": "x"}), other, ["Ed25519"], what="the token")


@pytest.mark.parametrize("value", [1767225600, 1767225600.5])
def test_a_numeric_date_is_a_number(value: float) -> None:
    assert numeric_date({"exp": value}, "exp", what="the token") == value
    assert numeric_date({}, "exp", what="the token") is None


@pytest.mark.parametrize("value", ["1767225600", True, [1], {"t": 1}])
def test_anything_else_is_not_a_numeric_date(value: object) -> None:
    with pytest.raises(JwtRejected, match=r"the token's exp is not a NumericDate \(RFC 7519 §2"):
        numeric_date({"exp": value}, "exp", what="the token")


def test_a_jwt_is_accepted_from_its_nbf_on_and_not_a_second_before() -> None:
    check_not_before({"nbf": 100}, 100, what="the token")
    check_not_before({}, 100, what="the token")  # nbf is OPTIONAL (RFC 7519 §4.1.5)
    with pytest.raises(JwtRejected, match=r"not valid before 100 \(nbf\); it is now 99 \(RFC 7519 §4.1.5\)"):
        check_not_before({"nbf": 100}, 99, what="the token")


@pytest.mark.parametrize("b64", [False, "false", None])
@pytest.mark.parametrize(
    "check",
    [unverified_parts, lambda token, what: verified_claims(token, KEY, ["Ed25519"], what=what)],
    ids=["unverified", "verified"],
)
def test_a_jwt_whose_payload_is_said_to_be_unencoded_is_refused_naming_the_rule(b64: object, check) -> None:
    # RFC 7797 §3: b64 false signs the payload unencoded, while a JWT's payload is the base64url of
    # its claims (RFC 7519 §7.2 step 6). The segment below decodes to a claims set, and read as
    # unencoded it is those characters: refused before either reading is taken.
    token = signed_jwt({"alg": "Ed25519", "b64": b64}, {"iss": "x"}, KEY)
    with pytest.raises(JwtRejected, match=r"unencoded payload \(b64 .*\).* \(RFC 7797 §3, RFC 7519 §7.2 step 6\)"):
        check(token, what="the token")


@pytest.mark.parametrize(
    ("published", "rule"),
    [
        pytest.param({"use": "enc"}, "designed to be used for 'enc'", id="use-enc"),
        pytest.param({"key_ops": ["encrypt"]}, "Unsupported key_op 'verify'", id="key-ops-encrypt"),
        pytest.param({"alg": "ES256"}, "designed for algorithm 'ES256'", id="another-alg"),
    ],
)
def test_a_published_key_verifies_only_as_its_jwk_allows(published: dict[str, object], rule: str) -> None:
    # RFC 7517 §4.2-§4.4: use, key_ops and alg say what a key is for; RFC 8725 §3.1: "each key MUST
    # be used with exactly one algorithm, and this MUST be checked when the cryptographic operation
    # is performed". A client's or an IdP's JWKS is read as a KeySet; with one key and no kid,
    # joserfc picks it without filtering, so the check happens when it verifies.
    from joserfc.jwk import KeySet

    keys = KeySet.import_key_set({"keys": [{**KEY.as_dict(private=False), **published}]})
    with pytest.raises(JwtRejected, match=rule):
        verified_claims(signed({"iss": "x"}), keys, ["Ed25519", "ES256"], what="the token")
