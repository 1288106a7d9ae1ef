"""A client that names no token_endpoint_auth_method has the default one: RFC 7591 §2 makes a
registration's client_secret_basic, and a CIMD document, which may hold no shared secret (CIMD
§4.1), describes a public client ('none'). Where the AS does not offer that default, the client
is refused as one naming a method the AS does not offer is (RFC 8414 §2: the methods supported
are those listed). Accepted, it was registered with a secret, or its document cached and its
consent shown, and /token then refused it every time."""

from __future__ import annotations

from typing import Any

import pytest

from lab_servers import CLIENT_METADATA_URL, ASCapabilities, Lab, default_client_metadata
from lab_servers.client import ConsentPage

from .helpers import assert_oauth_error, open_authorization, register

pytestmark = pytest.mark.anyio

REGISTRATION = {"redirect_uris": ["https://app.example/callback"], "client_name": "no method named"}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (REGISTRATION, "token_endpoint_auth_method was left out, which RFC 7591 section 2 makes 'client_secret_basic'"),
        ({**REGISTRATION, "token_endpoint_auth_method": "client_secret_basic"}, "'client_secret_basic' is not offered"),
    ],
    ids=["left-out", "named"],
)
async def test_a_registration_is_refused_where_its_method_or_the_default_is_not_offered(
    lab: Lab, body: dict[str, Any], said: str
) -> None:
    lab.auth_server.capabilities = lab.auth_server.capabilities.but(
        token_endpoint_auth_methods=("none", "private_key_jwt")
    )
    response = await register(lab, body)
    assert_oauth_error(
        response,
        400,
        "invalid_client_metadata",
        said,
        "token_endpoint_auth_methods_supported lists none, private_key_jwt",
    )
    assert [c for c in lab.auth_server.registry.records.values() if c.kind == "dcr"] == []


async def test_where_the_default_is_offered_a_registration_naming_no_method_gets_it(lab: Lab) -> None:
    response = await register(lab, REGISTRATION)
    assert response.status_code == 201, response.text
    assert response.json()["token_endpoint_auth_method"] == "client_secret_basic" and response.json()["client_secret"]


async def test_a_document_naming_no_method_is_refused_where_none_is_not_offered(lab: Lab) -> None:
    lab.auth_server.capabilities = lab.auth_server.capabilities.but(token_endpoint_auth_methods=("private_key_jwt",))
    document = {k: v for k, v in default_client_metadata().items() if k != "token_endpoint_auth_method"}
    lab.publish_client_document(CLIENT_METADATA_URL, document)
    outcome = await open_authorization(lab, CLIENT_METADATA_URL)
    assert isinstance(outcome, ConsentPage) and outcome.status == 400
    assert outcome.fields["error"] == "invalid_client"
    assert "names no token_endpoint_auth_method, which makes it a public client" in outcome.fields["error_description"]
    assert lab.cimd_cache == {}


OFFERED = ("private_key_jwt", "client_secret_basic")
NOT_OFFERED = (
    "token_endpoint_auth_method 'none' is not offered here; token_endpoint_auth_methods_supported lists "
    "private_key_jwt, client_secret_basic (RFC 7591 section 2, RFC 8414 section 2)"
)


async def test_a_document_naming_a_method_this_as_does_not_offer_is_refused_as_a_registration_naming_it_is() -> None:
    # RFC 8414 §2: the methods supported are those listed. A document's named method fell through
    # to authlib, whose "token_endpoint_auth_method: value not accepted (Invalid claim:
    # 'token_endpoint_auth_method')" named neither the rule nor what this AS offers.
    async with Lab(seed=0, capabilities=ASCapabilities(token_endpoint_auth_methods=OFFERED)) as lab:
        lab.publish_client_document(
            CLIENT_METADATA_URL, {**default_client_metadata(), "token_endpoint_auth_method": "none"}
        )
        outcome = await open_authorization(lab, CLIENT_METADATA_URL)
        assert isinstance(outcome, ConsentPage) and outcome.status == 400
        assert outcome.fields["error"] == "invalid_client"
        assert outcome.fields["error_description"] == f"client metadata document rejected: {NOT_OFFERED}"
        assert lab.cimd_cache == {}
        registration = await register(lab, {**REGISTRATION, "token_endpoint_auth_method": "none"})
        assert_oauth_error(registration, 400, "invalid_client_metadata")
        assert registration.json()["error_description"] == NOT_OFFERED
