"""Enterprise-managed authorization (MCP extension; ID-JAG draft): the resource and scope of the
token an ID-JAG buys. The request's resource is compared as every grant compares it (RFC 8707
§2.2), the ID-JAG's may be an array (ID-JAG draft §3.1); scopes are RFC 6749 §3.3's scope tokens,
narrowed to the resource's."""

from __future__ import annotations

import pytest

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.client import decode_jwt_payload
from lab_servers.story import (
    ENTERPRISE_CLIENT_ID,
    IDP_ISSUER,
    OTHER_MCP_URL,
    add_enterprise_idp,
    add_second_mcp_server,
)

from .enterprise_requests import basic, good, present
from .helpers import assert_oauth_error

pytestmark = pytest.mark.anyio


# The request's resource, compared as every grant compares it (RFC 8707 §2.2, MCP §8.1) ----------


async def test_the_request_may_name_the_id_jags_resource_with_an_uppercase_host(lab: Lab) -> None:
    # MCP §8.1: the AS SHOULD accept an uppercase scheme or host, as the code and refresh grants do.
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp), resource="HTTPS://MCP.EXAMPLE.COM/mcp")
    assert response.status_code == 200, response.text
    assert decode_jwt_payload(response.json()["access_token"])["aud"] == MCP_URL


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param(OTHER_MCP_URL, id="another-resource-of-this-as"),
        pytest.param("https://x.example/mcp", id="unknown"),
    ],
)
async def test_a_request_resource_other_than_the_id_jags_is_invalid_target(lab: Lab, resource: str) -> None:
    # RFC 8707 §2: a resource the AS will not issue this token for is invalid_target; the
    # assertion itself is fine, so it is not invalid_grant.
    add_second_mcp_server(lab)
    idp = add_enterprise_idp(lab)
    assert_oauth_error(await present(lab, good(idp), resource=resource), 400, "invalid_target", repr(resource))


# ID-JAG draft §3.1: resource is "either a single URI or an array of URIs" --------------------------


@pytest.mark.parametrize(
    ("claim", "requested", "audience"),
    [
        pytest.param([MCP_URL], None, MCP_URL, id="one-element-array"),
        pytest.param(["https://elsewhere.example/mcp", MCP_URL], None, MCP_URL, id="one-of-ours-among-others"),
        pytest.param([OTHER_MCP_URL, MCP_URL], "HTTPS://MCP.EXAMPLE.COM/mcp", MCP_URL, id="request-picks-one"),
        pytest.param([OTHER_MCP_URL, MCP_URL], OTHER_MCP_URL, OTHER_MCP_URL, id="request-picks-the-other"),
    ],
)
async def test_an_id_jag_resource_may_be_an_array_and_the_token_is_for_one_of_its_uris(
    lab: Lab, claim: list[str], requested: str | None, audience: str
) -> None:
    add_second_mcp_server(lab)
    idp = add_enterprise_idp(lab)
    extra = {"resource": requested} if requested else {}
    response = await present(lab, good(idp, resource=claim), **extra)
    assert response.status_code == 200, response.text
    assert decode_jwt_payload(response.json()["access_token"])["aud"] == audience


async def test_an_array_naming_two_resources_of_this_as_needs_the_request_to_pick_one(lab: Lab) -> None:
    # One token, one audience (MCP §9.2): without a request resource the AS cannot choose.
    add_second_mcp_server(lab)
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, resource=[MCP_URL, OTHER_MCP_URL]))
    assert_oauth_error(response, 400, "invalid_target", "grants 2 resources", "name the one")


async def test_a_request_resource_missing_from_the_array_is_invalid_target(lab: Lab) -> None:
    add_second_mcp_server(lab)
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, resource=[MCP_URL]), resource=OTHER_MCP_URL)
    assert_oauth_error(response, 400, "invalid_target", "is not one the ID-JAG grants", "RFC 8707")


@pytest.mark.parametrize(
    ("claim", "mention"),
    [
        pytest.param([], "neither a URI nor a non-empty array", id="empty-array"),
        pytest.param([MCP_URL, 42], "neither a URI nor a non-empty array", id="array-with-a-number"),
        pytest.param({"uri": MCP_URL}, "neither a URI nor a non-empty array", id="object"),
        pytest.param(["https://elsewhere.example/mcp"], "nor an array naming one", id="array-of-foreign-uris"),
    ],
)
async def test_a_resource_claim_that_names_no_resource_of_this_as_is_invalid_grant(
    lab: Lab, claim: object, mention: str
) -> None:
    idp = add_enterprise_idp(lab)
    assert_oauth_error(await present(lab, good(idp, resource=claim)), 400, "invalid_grant", mention)


async def test_an_id_jag_without_a_resource_is_invalid_grant_naming_the_rule(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, resource=None), resource=MCP_URL)
    assert_oauth_error(response, 400, "invalid_grant", "no resource claim")


# A token's scope is one or more scope tokens (RFC 6749 §3.3) -------------------------------------


async def test_a_requested_scope_disjoint_from_the_id_jags_is_invalid_scope(lab: Lab) -> None:
    # ext-auth §7.2.1: the scope granted is the request's intersected with the ID-JAG's; when
    # that is nothing, there is nothing to grant.
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, scope="notes:read"), scope="notes:write")
    assert_oauth_error(response, 400, "invalid_scope", "no scope in common")


async def test_a_blank_requested_scope_is_read_as_omitted(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, scope="notes:read"), scope="  ")
    assert response.status_code == 200 and response.json()["scope"] == "notes:read", response.text


async def test_an_id_jag_scope_is_narrowed_to_the_scopes_of_the_resource_the_token_is_for(lab: Lab) -> None:
    # A scope another resource of this AS defines (or none does) is not granted at this one; the
    # response's scope says what was (RFC 6749 §3.3, §5.1).
    lab.auth_server.resource_scopes["https://admin.example.com/mcp"] = ["admin:all"]
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, scope="notes:read admin:all"))
    assert response.status_code == 200 and response.json()["scope"] == "notes:read", response.text
    response = await present(lab, good(idp, scope="admin:all"))
    assert_oauth_error(response, 400, "invalid_scope", "it defines notes:read notes:write")


# Scopes by RFC 6749 §3.3's grammar, at the IdP and in the ID-JAG (RFC 8693 §2.1, §4.2) ---------------


async def test_the_idp_refuses_a_scope_split_by_a_tab_instead_of_passing_it_on(lab: Lab) -> None:
    # str.split() at the AS read the ID-JAG's "notes:read<TAB>notes:write" as two scopes.
    idp = add_enterprise_idp(lab)
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{IDP_ISSUER}/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": idp.sign_in("alice", ENTERPRISE_CLIENT_ID), "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "requested_token_type": "urn:ietf:params:oauth:token-type:id-jag", "audience": ISSUER, "resource": MCP_URL,
            "scope": "notes:read\tnotes:write",
        }, headers=basic(ENTERPRISE_CLIENT_ID, idp.clients[ENTERPRISE_CLIENT_ID].secret))  # fmt: skip
    assert_oauth_error(response, 400, "invalid_scope", "RFC 6749 section 3.3")


async def test_an_id_jag_whose_scope_is_split_by_a_tab_is_invalid_grant(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    response = await present(lab, good(idp, scope="notes:read\tnotes:write"))
    assert_oauth_error(response, 400, "invalid_grant", "space-delimited scopes")
