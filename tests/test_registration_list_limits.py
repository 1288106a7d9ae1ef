"""A registration's lists past the lab's limits (metadata_limits.py) are refused with the RFC 7591
§3.2.2 code for the field: invalid_redirect_uri for redirect_uris (test_adversarial_as.py),
invalid_client_metadata for every other field, such as contacts, and for a jwks of more than ten keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

from lab_servers import Lab
from lab_servers.authorization_server.metadata_limits import MAX_JWKS_KEYS, MAX_LIST_ITEMS, MAX_NAME_CHARS

from .helpers import register

pytestmark = pytest.mark.anyio


async def test_too_many_contacts_are_invalid_client_metadata_naming_the_limit(lab: Lab) -> None:
    # RFC 7591 §3.2.2: invalid_client_metadata, "the value of one of the client metadata fields
    # is invalid and the server has rejected this request".
    contacts = [f"ops{i}@app.example" for i in range(MAX_LIST_ITEMS + 1)]
    metadata = {"redirect_uris": ["https://app.example/cb"], "client_name": "n", "contacts": contacts}
    response = await register(lab, metadata)
    assert response.status_code == 400 and response.json()["error"] == "invalid_client_metadata"
    assert f"at most {MAX_LIST_ITEMS} are accepted" in response.json()["error_description"]


async def test_a_registration_at_exactly_the_limits_is_accepted(lab: Lab) -> None:
    # The limits are "at most" (README, metadata_limits.py): ten contacts and a 200-character
    # name are registered (201, RFC 7591 §3.2.1), one more of either is refused.
    metadata = {
        "redirect_uris": ["https://app.example/cb"],
        "client_name": "n" * MAX_NAME_CHARS,
        "contacts": [f"ops{i}@app.example" for i in range(MAX_LIST_ITEMS)],
    }
    response = await register(lab, metadata)
    assert response.status_code == 201, response.text


def ten_public_keys() -> list[dict[str, object]]:
    # Ten distinct, valid Ed25519 public keys (RFC 8037 §2), each with its own kid.
    keys = [OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)) for seed in range(1, 11)]
    return [key.as_dict(private=False, kid=f"key-{i}") for i, key in enumerate(keys)]


async def test_a_private_key_jwt_registration_with_exactly_ten_keys_in_jwks_is_accepted(lab: Lab) -> None:
    # The lab's limit is "at most 10 keys in jwks" (README, metadata_limits.MAX_JWKS_KEYS): a
    # private_key_jwt client publishing ten keys (RFC 7591 §2: jwks, the client's JSON Web Key
    # Set) is registered with all ten (201, RFC 7591 §3.2.1); an eleventh is refused.
    keys = ten_public_keys()
    assert len(keys) == MAX_JWKS_KEYS
    metadata = {
        "redirect_uris": ["https://app.example/cb"],
        "client_name": "n",
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": keys},
    }
    response = await register(lab, metadata)
    assert response.status_code == 201, response.text
    assert [key["kid"] for key in response.json()["jwks"]["keys"]] == [key["kid"] for key in keys]
    eleven = {"keys": [*keys, {**keys[0], "kid": "key-10"}]}
    refused = await register(lab, {**metadata, "jwks": eleven})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata"
    assert f"at most {MAX_JWKS_KEYS} are accepted" in refused.json()["error_description"]
