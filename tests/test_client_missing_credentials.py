"""A confidential client that lacks what its token_endpoint_auth_method needs (a private key for
private_key_jwt, a client_secret for client_secret_basic or client_secret_post) cannot
authenticate: the client says so in the failed step and sends nothing, rather than sending its
bare client_id and reporting the AS's invalid_client, which names nothing."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

from lab_servers import Lab, default_client_metadata
from lab_servers.client import Credentials, StepError

from .hostile_server import HostileServer, _json, _run

pytestmark = pytest.mark.anyio
SERVICE_ID = "https://app.example/service.json"
PUBLISHED_KEY = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)).as_dict(private=False)


def _token_requests(lab: Lab) -> list[object]:
    return [e for e in lab.trace if e.path == "/token"]


async def test_a_private_key_jwt_client_without_a_private_key_fails_before_the_token_request(lab: Lab) -> None:
    # RFC 7523 §2.2: a private_key_jwt client authenticates with a JWT it signs; without its key
    # there is no client_assertion to send.
    lab.publish_client_document(SERVICE_ID, {**default_client_metadata(SERVICE_ID),
                                             "grant_types": ["client_credentials"],
                                             "token_endpoint_auth_method": "private_key_jwt",
                                             "jwks": {"keys": [PUBLISHED_KEY]}})  # fmt: skip
    client = lab.client("cimd")
    for _ in range(3):
        await client.next_step()
    client.state.credentials = Credentials(SERVICE_ID, None, "private_key_jwt")
    with pytest.raises(
        StepError,
        match=r"^step 13 \(client-credentials\): client 'https://app.example/service.json' authenticates with "
        r"private_key_jwt but holds no private key .*\(RFC 7523 §2\.2",
    ):
        await client.client_credentials()
    assert _token_requests(lab) == []


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
async def test_a_client_secret_client_without_a_secret_fails_step_6_before_sending_its_code(
    lab: Lab, method: str
) -> None:
    # RFC 6749 §2.3.1: a client given a password authenticates with its client_secret (in the
    # Basic header or the body); its client_id alone authenticates nothing.
    lab.auth_server.preregister("desk-client", {"redirect_uris": ["https://app.example/callback"],
                                                "token_endpoint_auth_method": method}, "s3cret")  # fmt: skip
    client = lab.client("auto", preregistered={lab.issuer: Credentials("desk-client", None, method)})
    for _ in range(5):
        await client.next_step()
    with pytest.raises(
        StepError,
        match=rf"^step 6 \(token\): client 'desk-client' authenticates with {method} but holds no client_secret "
        r"\(RFC 6749 §2\.3\.1",
    ):
        await client.next_step()
    assert _token_requests(lab) == []
    assert not client.state.code_sent  # the code was not spent: with a secret, step 6 can run again


async def test_a_registration_response_without_a_method_or_a_secret_leaves_a_public_client(lab: Lab) -> None:
    # RFC 7591 §2: an omitted token_endpoint_auth_method means client_secret_basic, which takes the
    # client_secret an AS issues only to a confidential client (§3.2.1); an AS that omits both
    # (against §3.2.1: it returns all registered metadata) gave the client nothing but its id.
    client = await _run(lab, HostileServer(), 7)
    assert client.state.credentials is not None
    assert client.state.credentials.token_endpoint_auth_method == "none"
    assert any("no token_endpoint_auth_method" in note for note in client.records[3].notes)


async def test_a_client_registered_for_client_secret_basic_without_a_secret_fails_step_6(lab: Lab) -> None:
    server = HostileServer(register=_json({"client_id": "c", "token_endpoint_auth_method": "client_secret_basic"}, 201))
    with pytest.raises(StepError, match=r"^step 6 \(token\): client 'c' authenticates with client_secret_basic but "):
        await _run(lab, server, 6)
