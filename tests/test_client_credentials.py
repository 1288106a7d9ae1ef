"""The client-credentials extension (SEP-1046): a confidential CIMD client with private_key_jwt gets
a token for itself (OAuth 2.1 §4.2), with no user, no consent and no refresh token."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwt
from joserfc.jwk import OKPKey

from lab_servers import Lab, default_client_metadata
from lab_servers.client import Credentials, LabClient, StepError

from .helpers import assert_oauth_error, token_request

pytestmark = pytest.mark.anyio
CLIENT_ID = "https://app.example/service.json"
KEY = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(b"\x05" * 32))


def publish_service(lab: Lab, grant_types: list[str] | None = None) -> None:
    document = {**default_client_metadata(CLIENT_ID), "client_name": "Nightly report job",
                "grant_types": grant_types or ["client_credentials"], "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [KEY.as_dict(private=False)]}}  # fmt: skip
    lab.publish_client_document(CLIENT_ID, document)


async def service_client(lab: Lab, key: OKPKey = KEY) -> LabClient:
    client = lab.client("cimd")
    client.now = lab.clock.now  # type: ignore[method-assign]
    for _ in range(3):
        await client.next_step()
    client.state.credentials = Credentials(CLIENT_ID, None, "private_key_jwt", key, "Ed25519")
    return client


async def test_a_confidential_cimd_client_gets_a_token_for_itself_and_calls_the_server(lab: Lab) -> None:
    publish_service(lab)
    client = await service_client(lab)
    await client.client_credentials()
    await client.call_mcp()
    assert client.state.whoami["sub"] == CLIENT_ID and client.state.whoami["client_id"] == CLIENT_ID
    assert "refresh_token" not in client.state.tokens
    assert not [e for e in lab.trace.exchanges if e.caller == "browser"]  # no user, no consent page
    assert "client_credentials" in lab.auth_server.metadata()["grant_types_supported"]


async def test_a_wrong_key_is_invalid_client(lab: Lab) -> None:
    publish_service(lab)
    client = await service_client(lab, OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(b"\x06" * 32)))
    with pytest.raises(StepError, match=r"step 13 \(client-credentials\).*401 invalid_client"):
        await client.client_credentials()


async def test_without_client_authentication_it_is_invalid_client(lab: Lab) -> None:
    publish_service(lab)
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "resource": lab.mcp_url}
    assert_oauth_error(await token_request(lab, form), 401, "invalid_client", "private_key_jwt")


async def test_a_client_that_did_not_register_the_grant_is_unauthorized_client(lab: Lab) -> None:
    publish_service(lab, grant_types=["authorization_code"])
    client = await service_client(lab)
    with pytest.raises(StepError, match="unauthorized_client"):
        await client.client_credentials()


async def test_a_public_client_may_not_use_it(lab: Lab) -> None:
    lab.publish_client_document(
        lab.client_metadata_url, {**default_client_metadata(), "grant_types": ["client_credentials"]}
    )
    form = {"grant_type": "client_credentials", "client_id": lab.client_metadata_url, "resource": lab.mcp_url}
    assert_oauth_error(await token_request(lab, form), 400, "unauthorized_client", "confidential clients only")


async def test_the_story_s_nightly_job_gets_a_token_with_no_user_and_its_assertion_uses_the_lab_clock() -> None:
    # notebook 07's walk-through: the same seed gives the same bytes (the assertion's iat/exp come
    # from the lab's clock, not the wall clock), and no exchange is the browser's.
    from lab_servers.story import SERVICE_CLIENT_ID, connect_service, publish_service_client

    bodies = []
    for _ in range(2):
        async with Lab(seed=0) as lab:
            client = await connect_service(lab, publish_service_client(lab))
            assert [r.name for r in client.records] == [
                "challenge", "resource-metadata", "as-metadata", "client-credentials", "mcp",
            ]  # fmt: skip
            assert client.state.whoami["sub"] == SERVICE_CLIENT_ID and "refresh_token" not in client.state.tokens
            assert "browser" not in {e.caller for e in lab.trace.exchanges}
            bodies.append([e.request_body for e in lab.trace.exchanges])
    assert bodies[0] == bodies[1]


async def test_the_same_job_with_a_public_document_is_refused(lab: Lab) -> None:
    from lab_servers.story import connect_service, publish_service_client

    with pytest.raises(StepError, match="invalid_client"):
        await connect_service(lab, publish_service_client(lab, with_keys=False))


async def test_the_job_published_again_keeps_its_key_so_the_document_the_as_cached_still_holds(lab: Lab) -> None:
    # A learner re-running notebook 07's cell: a new key would not verify against the copy of
    # the document the AS cached (CIMD §5), and the job would fail with bad_signature.
    from lab_servers.story import connect_service, publish_service_client

    first = publish_service_client(lab)
    await connect_service(lab, first)
    again = publish_service_client(lab)
    assert again.as_dict(private=True) == first.as_dict(private=True)
    assert (await connect_service(lab, again)).state.whoami is not None


def assertion_form(lab: Lab, jti: str, **extra: str) -> dict[str, str]:
    now = lab.clock.now()
    claims = {"iss": CLIENT_ID, "sub": CLIENT_ID, "aud": lab.auth_server.issuer, "iat": now, "exp": now + 60,
              "jti": jti}  # fmt: skip
    signed = jwt.encode({"alg": "Ed25519"}, claims, KEY, algorithms=["Ed25519"])
    return {"grant_type": "client_credentials", "resource": lab.mcp_url, "client_assertion": signed,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", **extra}  # fmt: skip


@pytest.mark.parametrize("scope", [None, " "])
async def test_with_no_scope_requested_and_none_to_grant_by_default_it_is_invalid_scope(
    lab: Lab, scope: str | None
) -> None:
    # RFC 6749 §3.3: with no scope requested the AS applies a default "or fail[s] the request
    # indicating an invalid scope"; it never issues a token with an empty scope.
    publish_service(lab)
    lab.auth_server.resource_scopes[lab.mcp_url] = []
    form = assertion_form(lab, "j1", **({"scope": scope} if scope is not None else {}))
    assert_oauth_error(await token_request(lab, form), 400, "invalid_scope", "none to grant by default")


async def test_a_scope_only_another_resource_of_this_as_defines_is_invalid_scope(lab: Lab) -> None:
    # The token is for the resource named; a scope of another server of this AS is not its to
    # grant there (RFC 8707 §2, RFC 6749 §3.3).
    publish_service(lab)
    lab.auth_server.resource_scopes["https://admin.example.com/mcp"] = ["admin:all"]
    form = assertion_form(lab, "j1", scope="admin:all")
    assert_oauth_error(
        await token_request(lab, form), 400, "invalid_scope", "admin:all for https://mcp.example.com/mcp"
    )


async def test_the_default_scope_is_one_the_resource_defines(lab: Lab) -> None:
    # RFC 6749 §3.3's default, taken from the resource's scopes: "admin:all" sorts first among all
    # of this AS's scopes, but means nothing at the notes server.
    publish_service(lab)
    lab.auth_server.resource_scopes["https://admin.example.com/mcp"] = ["admin:all"]
    response = await token_request(lab, assertion_form(lab, "j1"))
    assert response.status_code == 200 and response.json()["scope"] == "notes:read", response.text


async def test_a_token_asked_for_again_after_expiry_keeps_the_scope_a_step_up_added(lab: Lab) -> None:
    # MCP §10.1.2: a client_credentials client MAY step up, asking for the union itself; asking
    # again after expiry keeps the scope it had, as a refresh would (RFC 6749 §6). Before, it asked
    # for MCP §6's choice (notes:read), and every expiry cost another 403 and step-up.
    from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
    from lab_servers.client import decode_jwt_payload

    publish_service(lab)
    client = await service_client(lab)
    await client.client_credentials()
    await client.call_mcp()
    await client.call_tool("add_note", {"text": "a"})  # 403, then the union: notes:read notes:write
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    await client.call_tool("whoami")  # 401: asked for again
    assert client.records[-2].learned["scope"] == "notes:read notes:write"
    assert decode_jwt_payload(client.state.access_token or "")["scope"] == "notes:read notes:write"
    start = len(client.records)
    await client.call_tool("add_note", {"text": "b"})
    assert [r.name for r in client.records[start:]] == ["call"]  # no step-up again


async def test_a_client_with_no_user_to_ask_renews_and_steps_up_by_one_choice_of_grant(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MCP §10.1.2: with no user to ask, a step-up and a renewal after expiry both ask again by the
    # client's own grant (here client credentials), never the authorization code flow; the choice
    # between client credentials and a new ID-JAG is made in one place for both.
    from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME

    publish_service(lab)
    client = await service_client(lab)
    await client.client_credentials()
    await client.call_mcp()
    asked: list[str | None] = []
    renew = client.renew_without_a_user

    async def recorded(scope: str | None) -> bool:
        asked.append(scope)
        return await renew(scope)

    monkeypatch.setattr(client, "renew_without_a_user", recorded)
    await client.call_tool("add_note", {"text": "a"})  # 403: a step-up to the union
    lab.clock.advance(ACCESS_TOKEN_LIFETIME + 1)
    await client.call_tool("whoami")  # 401: asked for again, for the scope it had
    assert asked == ["notes:read notes:write", "notes:read notes:write"]
    assert [r.name for r in client.records].count("client-credentials") == 3


async def test_after_its_resource_moves_the_job_asks_the_new_as_for_the_new_challenge_s_scope(lab: Lab) -> None:
    # MCP §6's choice from the new AS's challenge, not the old AS's grant: a renewal keeps the
    # stepped-up scope at the same AS (as a refresh would), and kept it across the move too,
    # asking the new AS for notes:write it does not give at this resource (invalid_scope).
    publish_service(lab)
    client = await service_client(lab)
    client.client_metadata_url = CLIENT_ID  # a CIMD URL and its key are the client's own, at any AS
    await client.client_credentials()
    await client.call_mcp()
    await client.call_tool("add_note", {"text": "a"})  # 403, a step-up to notes:read notes:write
    lab.add_authorization_server("auth2.example.com", "93.184.215.21")
    lab.authorization_servers["https://auth2.example.com"].resource_scopes[lab.mcp_url] = ["notes:read"]
    lab.use_authorization_server("https://auth2.example.com")
    await client.call_tool("whoami")
    assert client.records[-2].name == "client-credentials" and client.records[-2].learned["scope"] == "notes:read"
