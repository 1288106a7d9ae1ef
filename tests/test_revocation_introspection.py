"""RFC 7009 revocation and RFC 7662 introspection at the AS, and what revocation can and cannot
do to a self-contained JWT at a resource server."""

from __future__ import annotations

import base64

import httpx
import pytest

from lab_servers import ISSUER, ASCapabilities, Lab
from lab_servers.client import StepError
from lab_servers.story import use_introspection

from .helpers import assert_oauth_error

pytestmark = pytest.mark.anyio


async def post(lab: Lab, path: str, form: dict[str, str], **kwargs: object) -> httpx.Response:
    async with lab.httpx_client("client") as http:
        return await http.post(f"{ISSUER}{path}", data=form, **kwargs)  # type: ignore[arg-type]


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def test_the_as_advertises_both_endpoints_in_its_metadata(lab: Lab) -> None:
    metadata = lab.auth_server.metadata()
    assert metadata["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert metadata["introspection_endpoint"] == f"{ISSUER}/introspect"
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]


async def test_revoking_a_refresh_token_answers_200_and_ends_the_grant(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    refresh = connection.client.state.tokens["refresh_token"]
    response = await post(
        lab, "/revoke", {"token": refresh, "token_type_hint": "refresh_token", "client_id": connection.client_id}
    )
    assert response.status_code == 200 and response.text == ""
    with pytest.raises(StepError, match="invalid_grant"):
        await connection.client.refresh()
    assert lab.auth_server.issued[-1]["jti"] in lab.auth_server.revoked_jtis  # SHOULD: its access tokens too


async def test_an_unknown_token_is_answered_200_as_well(lab: Lab) -> None:
    response = await post(lab, "/revoke", {"token": "never-issued", "client_id": lab.client_metadata_url})
    assert response.status_code == 200  # RFC 7009 §2.2


@pytest.mark.parametrize(
    ("form", "error", "mention"),
    [
        ({}, "invalid_request", "token is required"),
    ],
)
async def test_malformed_revocation_requests_are_refused_with_the_rule(
    lab: Lab, form: dict, error: str, mention: str
) -> None:
    assert_oauth_error(await post(lab, "/revoke", {**form, "client_id": lab.client_metadata_url}), 400, error, mention)


@pytest.mark.parametrize("hint", ["access_token", "id_token", "urn:example:opaque"])
async def test_a_hint_that_does_not_find_the_token_widens_the_search_it_is_never_refused(lab: Lab, hint: str) -> None:
    # RFC 7009 §2.1: the AS "MUST extend its search across all of its supported token types",
    # and MAY ignore the hint; an unknown hint is no reason to leave the token alive.
    connection = await lab.connect("cimd")
    form = {"token": connection.client.state.tokens["refresh_token"], "token_type_hint": hint}
    assert (await post(lab, "/revoke", {**form, "client_id": connection.client_id})).status_code == 200
    with pytest.raises(StepError, match="invalid_grant"):
        await connection.client.refresh()


async def test_revocation_and_introspection_advertise_the_methods_the_as_still_honours() -> None:
    # RFC 8414 §2: each list names the methods its endpoint supports; the endpoints honour only
    # what the token endpoint offers (ASCapabilities), so the lists narrow with it.
    capabilities = ASCapabilities(token_endpoint_auth_methods=("none", "private_key_jwt"))
    async with Lab(capabilities=capabilities) as lab:
        metadata = lab.auth_server.metadata()
    assert metadata["revocation_endpoint_auth_methods_supported"] == ["none", "private_key_jwt"]
    assert metadata["introspection_endpoint_auth_methods_supported"] == ["private_key_jwt"]


async def test_a_client_cannot_revoke_another_clients_token(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    dcr = await lab.connect("dcr")
    form = {"token": connection.client.state.tokens["refresh_token"], "client_id": dcr.client_id}
    assert_oauth_error(await post(lab, "/revoke", form), 400, "invalid_request", "not issued to the client")


async def test_a_local_jwt_check_still_accepts_a_revoked_token_but_an_introspecting_server_refuses_it(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    client = connection.client
    await post(
        lab,
        "/revoke",
        {"token": connection.access_token, "token_type_hint": "access_token", "client_id": connection.client_id},
    )
    # Honest: the JWT is still signed, unexpired and for this audience, and nobody asked the AS.
    assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"
    use_introspection(lab)
    before = len(client.records)
    assert (await client.call_tool("whoami"))["structuredContent"]["sub"] == "alice"  # refreshed after the 401
    refused = [e for e in lab.trace.exchanges if e.url.endswith("/introspect")]
    assert refused[0].response_body == '{"active":false}'
    assert [r.name for r in client.records[before:]] == ["refresh", "call"]


async def test_introspection_answers_an_authorised_resource_server_with_the_tokens_claims(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    validator = use_introspection(lab)
    response = await post(
        lab, "/introspect", {"token": connection.access_token}, headers={"Authorization": validator._authorization}
    )
    body = response.json()
    assert response.status_code == 200 and body["active"] is True
    assert body["aud"] == lab.mcp_url and body["client_id"] == connection.client_id and body["scope"] == "notes:read"


async def test_introspection_of_a_refresh_token_names_no_token_type_as_it_has_no_rfc_6749_type(lab: Lab) -> None:
    # RFC 7662 §2.2: token_type is a type "as defined in Section 5.1 of OAuth 2.0", which names
    # access token types; "refresh_token" is none of them.
    connection = await lab.connect("cimd")
    validator = use_introspection(lab)
    refresh = connection.client.state.tokens["refresh_token"]
    body = (
        await post(lab, "/introspect", {"token": refresh}, headers={"Authorization": validator._authorization})
    ).json()
    assert body == {"active": True, "client_id": connection.client_id, "sub": "alice", "scope": "notes:read"}


async def test_introspection_refuses_a_public_client_and_an_unlisted_confidential_one(lab: Lab) -> None:
    connection = await lab.connect("cimd")
    public = await post(lab, "/introspect", {"token": connection.access_token, "client_id": connection.client_id})
    assert_oauth_error(public, 401, "invalid_client", "RFC 7662 section 2.1")
    lab.auth_server.preregister(
        "someone", {"grant_types": [], "token_endpoint_auth_method": "client_secret_basic"}, "s3cret"
    )
    unlisted = await post(lab, "/introspect", {"token": connection.access_token}, headers=basic("someone", "s3cret"))
    assert_oauth_error(unlisted, 403, "unauthorized_client", "not authorised to introspect")
    use_introspection(lab)
    wrong = await post(
        lab, "/introspect", {"token": connection.access_token}, headers=basic("introspection.mcp.example.com", "bad")
    )
    assert_oauth_error(wrong, 401, "invalid_client", "wrong client_secret")
