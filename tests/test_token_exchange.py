"""Resource identifiers and on-behalf-of: a token is good for one audience only (RFC 8707, MCP
§9.2), a forwarded token is refused downstream (MCP security best practices, token passthrough),
and RFC 8693 token exchange gives the MCP server a separate, narrowed token naming it as actor."""

from __future__ import annotations

import httpx
import pytest

from lab_servers import ISSUER, Lab
from lab_servers.authorization_server.grants import ExchangeRule
from lab_servers.authorization_server.rfc8693 import MAX_DELEGATION_DEPTH
from lab_servers.client import LabClient, decode_jwt_payload
from lab_servers.metadata_host import HostedResponse
from lab_servers.story import API_URL, MCP_SERVER_CLIENT_ID, OTHER_MCP_URL, add_downstream_api, add_second_mcp_server

from .helpers import HOSTILE_JWT_HEADERS, assert_oauth_error, jwt_with_header

pytestmark = pytest.mark.anyio
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


async def exchange(lab: Lab, token: str, /, *, authenticate: bool = True, **changes: str | None) -> httpx.Response:
    caller = lab.resource_server.downstream
    assert caller is not None
    form: dict[str, str | None] = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "resource": API_URL,
        "scope": "contacts:read",
    }
    if authenticate:
        form |= {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": caller.client_assertion(),
        }
    else:
        form["client_id"] = MCP_SERVER_CLIENT_ID
    form.update(changes)
    async with lab.httpx_client("mcp.example.com") as http:
        return await http.post(f"{ISSUER}/token", data={k: v for k, v in form.items() if v is not None})


async def tool_failure(client: LabClient) -> str:
    """What list_contacts says went wrong. MCP server/tools, "Error Handling": an API failure is a
    tool execution error, "reported in tool results with isError: true"; it was a successful
    result whose structured content held an "error" member, which a model reads as the contacts."""
    result = await client.call_tool("list_contacts")
    assert result["isError"] is True, result
    failure = result["structuredContent"]
    assert result["content"] == [{"type": "text", "text": failure["error"]}] and failure["caller"] == "alice"
    return failure["error"]


async def test_a_token_minted_for_one_mcp_server_is_refused_by_the_other(lab: Lab) -> None:
    add_second_mcp_server(lab)
    connection = await lab.connect("cimd")
    async with lab.httpx_client("client") as http:
        response = await http.post(OTHER_MCP_URL, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                   headers={"Authorization": f"Bearer {connection.access_token}", "Accept": "application/json, text/event-stream"})  # fmt: skip
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "audience 'https://mcp.example.com/mcp' is not this server" in response.json()["error_description"]


async def test_the_same_client_gets_a_separate_token_for_the_second_server(lab: Lab) -> None:
    add_second_mcp_server(lab)
    client = lab.client("cimd")
    client.mcp_url = OTHER_MCP_URL
    await client.run_all()
    assert client.state.whoami["aud"] == OTHER_MCP_URL


async def test_passthrough_a_forwarded_user_token_is_refused_by_the_downstream_api(lab: Lab) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    lab.resource_server.downstream.mode = "passthrough"
    failure = await tool_failure(connection.client)
    assert "401" in failure and "token passthrough is forbidden" in failure
    api_calls = [e for e in lab.trace.exchanges if e.host == "api.example.com"]
    assert [e.status for e in api_calls] == [401]


async def test_the_mcp_server_reads_a_downstream_answer_through_the_bounded_parser(lab: Lab) -> None:
    # README: every JSON body the lab parses goes through one bounded parser (RFC 8259 §9). The
    # downstream caller used response.json(): 5,000 nested brackets were a RecursionError inside
    # the tool ("Error executing tool list_contacts"), not an answer naming the limit.
    add_downstream_api(lab)
    deep = lab.add_metadata_host("deep.example", "93.184.216.55")
    deep.publish_response(
        "/contacts", HostedResponse(b"[" * 5000 + b"]" * 5000, headers={"content-type": "application/json"})
    )
    connection = await lab.connect("cimd")
    lab.resource_server.downstream.mode = "passthrough"
    lab.resource_server.downstream.api_url = "https://deep.example/"
    assert "the API's answer is nested deeper than 32 levels (RFC 8259 §9" in await tool_failure(connection.client)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (200, b'{"token_type": "Bearer"}', "has no access_token string (RFC 8693 §2.2.1: access_token is REQUIRED)"),
        (200, b'{"access_token": 5}', "has no access_token string (RFC 8693 §2.2.1: access_token is REQUIRED)"),
        (
            502,
            b"<html>Bad Gateway</html>",
            "token exchange refused: 502: the AS's token-exchange answer is not valid JSON",
        ),
    ],
    ids=["no access_token", "a number for a token", "a gateway's page"],
)
async def test_an_exchange_answer_without_a_token_is_an_error_the_tool_names(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, status: int, body: bytes, said: str
) -> None:
    # A 200 without an access_token was a KeyError inside the tool ("Error executing tool
    # list_contacts", a traceback in the log), and a number was sent on as the token its digits
    # spell; a refusal that is not JSON did not say its status.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    answer = httpx.MockTransport(lambda _: httpx.Response(status, content=body))
    async with httpx.AsyncClient(transport=answer) as as_behind_a_gateway:
        monkeypatch.setattr(lab.resource_server.downstream, "http", as_behind_a_gateway)
        failure = await tool_failure(connection.client)
    assert said in failure


async def test_exchange_the_api_gets_a_token_for_itself_naming_the_mcp_server_as_actor(lab: Lab) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    result = (await connection.client.call_tool("list_contacts"))["structuredContent"]
    assert result["user"] == "alice" and result["actor"] == MCP_SERVER_CLIENT_ID and result["contacts"]
    issued = lab.resource_server.downstream.last_exchange
    assert issued["issued_token_type"] == ACCESS_TOKEN_TYPE and issued["token_type"] == "Bearer"
    assert "refresh_token" not in issued
    claims = decode_jwt_payload(issued["access_token"])
    assert claims["aud"] == API_URL and claims["act"] == {"sub": MCP_SERVER_CLIENT_ID}
    assert claims["sub"] == "alice" and claims["scope"] == "contacts:read"  # narrowed: no notes:* downstream
    form = next(
        e for e in lab.trace.exchanges if e.host == "auth.example.com" and "token-exchange" in e.request_body
    ).request_body
    assert "client_assertion=" in form and "client_secret" not in form  # a key, not a shared secret


async def test_wrong_actor_a_token_meant_for_another_server_cannot_be_exchanged(lab: Lab) -> None:
    add_downstream_api(lab)
    add_second_mcp_server(lab)
    client = lab.client("cimd")
    client.mcp_url = OTHER_MCP_URL
    await client.run_all()
    response = await exchange(lab, client.state.access_token)
    assert_oauth_error(response, 400, "invalid_request", "may exchange only tokens that were sent to it")


async def test_wrong_audience_a_target_outside_the_rule_is_invalid_target(lab: Lab) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    response = await exchange(lab, connection.access_token, resource="https://evil.example/")
    assert_oauth_error(response, 400, "invalid_target", "may not obtain tokens for 'https://evil.example/'")


async def test_scope_escalation_is_invalid_scope(lab: Lab) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    response = await exchange(lab, connection.access_token, scope="contacts:read contacts:write")
    assert_oauth_error(response, 400, "invalid_scope", "narrows, never widens")


async def test_missing_client_authentication_is_invalid_client(lab: Lab) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    response = await exchange(lab, connection.access_token, authenticate=False)
    assert_oauth_error(response, 401, "invalid_client", "private_key_jwt")


async def test_a_public_client_may_not_exchange(lab: Lab) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{ISSUER}/token", data={
            "grant_type": TOKEN_EXCHANGE, "client_id": connection.client_id, "subject_token": connection.access_token,
            "subject_token_type": ACCESS_TOKEN_TYPE, "resource": API_URL,
        })  # fmt: skip
    assert_oauth_error(response, 400, "unauthorized_client")


@pytest.mark.parametrize(
    ("changes", "mention"),
    [
        ({"subject_token": "not-a-token"}, "not an active access token"),
        # RFC 8693 §2.2.2: an invalid subject_token "MUST" be invalid_request, one over the AS's
        # parameter limit too (revocation and introspection answer such a token 200: RFC 7009 §2.2).
        ({"subject_token": "A" * 8193}, "'subject_token' is 8193 characters long; the limit is 8192"),
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "send an access token"),
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "access tokens only"),
        ({"actor_token_type": ACCESS_TOKEN_TYPE}, "actor_token_type is required with actor_token"),
        # RFC 8693 §2.2.2: an actor_token this AS will not verify is refused, never ignored.
        ({"actor_token": "garbage", "actor_token_type": ACCESS_TOKEN_TYPE}, "does not accept an actor_token"),
        ({"resource": None}, "name the downstream API"),
        # RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED.
        ({"subject_token": None}, "subject_token and subject_token_type are required"),
        ({"subject_token_type": None}, "subject_token and subject_token_type are required"),
        # §2.2.2: an audience the rule does not list is invalid_target, as a resource is.
        ({"resource": None, "audience": "billing-api"}, "may not obtain tokens for 'billing-api'"),
    ],
)
async def test_malformed_exchanges_are_refused_with_the_rule(lab: Lab, changes: dict, mention: str) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    response = await exchange(lab, connection.access_token, **changes)
    assert response.status_code == 400, response.text
    assert mention in response.json()["error_description"]


async def test_a_revoked_subject_token_cannot_be_exchanged(lab: Lab) -> None:
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    lab.auth_server.revoke_access_token(lab.auth_server.issued[-1]["jti"])
    assert_oauth_error(
        await exchange(lab, connection.access_token), 400, "invalid_request", "not an active access token"
    )


async def test_the_api_refuses_an_actor_it_does_not_trust(lab: Lab) -> None:
    api = add_downstream_api(lab)
    connection = await lab.connect("cimd")
    api.trusted_actors.clear()
    assert "is not an MCP server this API trusts" in await tool_failure(connection.client)


@pytest.mark.parametrize("act", [None, {}, {"sub": {"id": MCP_SERVER_CLIENT_ID}}, {"sub": [MCP_SERVER_CLIENT_ID]}],
                         ids=["no-act", "no-sub", "object-sub", "list-sub"])  # fmt: skip
async def test_the_api_refuses_a_token_for_itself_that_names_no_actor(lab: Lab, act: object) -> None:
    # RFC 8693 §4.1: act names the party acting for the subject, its sub a string (RFC 7519
    # §4.1.2); this API serves only delegated calls, so a token that is for it, signed by its AS,
    # but names no actor is refused. An object or a list as act.sub was a 500 (unhashable).
    add_downstream_api(lab)
    now = lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "aud": API_URL, "client_id": MCP_SERVER_CLIENT_ID, "scope": "contacts:read",
              "iat": now, "exp": now + 60, "jti": "no-act"}  # fmt: skip
    token = lab.auth_server.keys.sign_access_token(claims if act is None else {**claims, "act": act})
    async with lab.httpx_client("mcp.example.com") as http:
        response = await http.get(f"{API_URL}contacts", headers={"Authorization": f"Bearer {token}"})
    assert_oauth_error(response, 401, "invalid_token", "the token names no actor (act, with a string sub)")


async def test_the_as_advertises_token_exchange_once_it_has_an_exchange_rule(lab: Lab) -> None:
    assert TOKEN_EXCHANGE not in lab.auth_server.metadata()["grant_types_supported"]
    add_downstream_api(lab)
    assert TOKEN_EXCHANGE in lab.auth_server.metadata()["grant_types_supported"]


# The downstream API refuses as the MCP server does (RFC 6750 §3.1; RFC 9110 §15.5.5, §15.5.6) -------


async def test_the_api_answers_a_request_without_credentials_with_a_challenge_naming_its_scope_and_no_error_code(
    lab: Lab,
) -> None:
    # RFC 6750 §3.1: a request lacking any authentication information SHOULD NOT include an error
    # code; §3: the scheme "MUST be followed by one or more auth-param values" (a bare Bearer was sent).
    add_downstream_api(lab)
    async with lab.httpx_client("mcp.example.com") as http:
        response = await http.get(f"{API_URL}contacts")
    assert response.status_code == 401 and response.content == b""
    assert response.headers["www-authenticate"] == 'Bearer scope="contacts:read"'


API_REFUSALS = [
    pytest.param("GET", "contacts", [("Authorization", "Bearer a"), ("Authorization", "Bearer b")], 400,
                 "more than one bearer token", id="two-bearer-tokens"),
    # Two words are no b64token (RFC 6750 §2.1). `Bearer ` is no example: its trailing space is no part
    # of the field's value (RFC 9110 §5.5), which is a bare Bearer, no credentials: 401, no error code.
    pytest.param("GET", "contacts", [("Authorization", "Bearer a b")], 400, "RFC 6750 section 2.1", id="not-a-b64token"),
    pytest.param("GET", "admin", [], 404, "no endpoint at /admin", id="unknown-path"),
    pytest.param("POST", "contacts", [], 405, "use GET, HEAD", id="post-contacts"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "headers", "status", "mention"), API_REFUSALS)
async def test_the_api_answers_a_malformed_request_with_invalid_request_naming_the_rule(
    lab: Lab, method: str, path: str, headers: list[tuple[str, str]], status: int, mention: str
) -> None:
    add_downstream_api(lab)
    async with lab.httpx_client("mcp.example.com") as http:
        response = await http.request(method, f"{API_URL}{path}", headers=headers)
    assert_oauth_error(response, status, "invalid_request", mention)
    if status == 405:
        assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("header", HOSTILE_JWT_HEADERS)
async def test_the_api_refuses_a_token_whose_header_is_not_a_json_object(lab: Lab, header: str) -> None:
    # RFC 7515 §4: the JOSE header is a JSON object; RFC 6750 §3.1: a bad token is 401 invalid_token.
    add_downstream_api(lab)
    token = jwt_with_header(header, {"iss": ISSUER, "aud": API_URL, "exp": lab.clock.now() + 60})
    async with lab.httpx_client("mcp.example.com") as http:
        response = await http.get(f"{API_URL.rstrip('/')}/contacts", headers={"Authorization": f"Bearer {token}"})
    assert_oauth_error(response, 401, "invalid_token", "token header is a JSON", "not a JSON object")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize("header", HOSTILE_JWT_HEADERS)
async def test_a_subject_token_whose_header_is_not_a_json_object_is_invalid_request(lab: Lab, header: str) -> None:
    # RFC 8693 §2.2.2: an invalid subject_token is invalid_request.
    add_downstream_api(lab)
    subject = jwt_with_header(header, {"iss": ISSUER, "aud": lab.mcp_url, "exp": lab.clock.now() + 60})
    assert_oauth_error(await exchange(lab, subject), 400, "invalid_request", "not an active access token")


async def test_a_subject_token_without_a_sub_string_is_invalid_request(lab: Lab) -> None:
    # RFC 9068 §2.2: sub is REQUIRED in a JWT access token; one this AS signed without it (no
    # grant mints such a token) is refused, never exchanged for a token whose sub is str(None).
    add_downstream_api(lab)
    now = lab.clock.now()
    forged = lab.auth_server.keys.sign_access_token({
        "iss": ISSUER, "aud": lab.mcp_url, "client_id": "x", "scope": "notes:read", "iat": now, "exp": now + 60,
        "jti": "no-sub",
    })  # fmt: skip
    assert_oauth_error(await exchange(lab, forged), 400, "invalid_request", "no sub or no jti string")


async def test_a_blank_scope_is_read_as_omitted_and_gets_what_the_rule_allows(lab: Lab) -> None:
    # RFC 6749 §3.3: a blank scope names no scope token; never a token with an empty scope.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    response = await exchange(lab, connection.access_token, scope=" ")
    assert response.status_code == 200 and response.json()["scope"] == "contacts:read", response.text


async def test_a_rule_that_allows_no_scope_at_the_target_is_invalid_scope(lab: Lab) -> None:
    add_downstream_api(lab, allowed_scope="")
    connection = await lab.connect("cimd")
    assert_oauth_error(await exchange(lab, connection.access_token, scope=None), 400, "invalid_scope", "no scope")


async def test_without_any_exchange_rule_the_grant_is_unsupported(lab: Lab) -> None:
    # RFC 6749 §5.2: unsupported_grant_type, as for jwt-bearer without a trusted IdP; the AS's
    # grant_types_supported does not list token exchange either.
    lab.auth_server.preregister(
        "tx", {"grant_types": [TOKEN_EXCHANGE], "token_endpoint_auth_method": "client_secret_basic"}, "pw"
    )
    assert TOKEN_EXCHANGE not in lab.auth_server.metadata()["grant_types_supported"]
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{ISSUER}/token", data={"grant_type": TOKEN_EXCHANGE}, auth=("tx", "pw"))
    assert_oauth_error(response, 400, "unsupported_grant_type", "no token exchange rules")


async def test_the_target_resource_is_compared_as_every_grant_compares_a_resource(lab: Lab) -> None:
    # RFC 8707 §2 / MCP §8.1: an uppercase scheme or host names the same resource; the token's
    # aud is the rule's canonical URI.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    response = await exchange(lab, connection.access_token, resource="HTTPS://API.EXAMPLE.COM/")
    assert response.status_code == 200, response.text
    assert decode_jwt_payload(response.json()["access_token"])["aud"] == API_URL


# Rules the mutation audit found untested (RFC 8693 §2.1, §4.1, §5; ID-JAG-free) -----------------


async def test_a_public_client_with_an_exchange_rule_still_may_not_exchange(lab: Lab) -> None:
    # RFC 8693 §5: the AS decides who may exchange, and a client that cannot authenticate
    # (RFC 6749 §2.1: public) cannot be held to a rule; a rule naming one does not make it able.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    lab.auth_server.preregister(
        "public-exchanger", {"grant_types": [TOKEN_EXCHANGE], "token_endpoint_auth_method": "none"}
    )
    lab.auth_server.exchange_rules["public-exchanger"] = lab.auth_server.exchange_rules[MCP_SERVER_CLIENT_ID]
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{ISSUER}/token", data={
            "grant_type": TOKEN_EXCHANGE, "client_id": "public-exchanger", "subject_token": connection.access_token,
            "subject_token_type": ACCESS_TOKEN_TYPE, "resource": API_URL, "scope": "contacts:read",
        })  # fmt: skip
    assert_oauth_error(response, 400, "unauthorized_client", "may not exchange tokens here")


async def test_exchanging_an_exchanged_token_nests_the_earlier_actor_under_the_new_one(lab: Lab) -> None:
    # RFC 8693 §4.1: a chain of delegation is expressed by nesting act claims; the outermost is
    # the current actor, and the earlier ones are kept, never dropped.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    downstream = (await exchange(lab, connection.access_token)).json()["access_token"]
    lab.auth_server.preregister(
        "api-backend", {"grant_types": [TOKEN_EXCHANGE], "token_endpoint_auth_method": "client_secret_post"}, "s3cret"
    )
    lab.auth_server.exchange_rules["api-backend"] = ExchangeRule(
        serves=API_URL, targets={"https://ledger.example/": frozenset({"contacts:read"})}
    )
    async with lab.httpx_client("api.example.com") as http:
        response = await http.post(f"{ISSUER}/token", data={
            "grant_type": TOKEN_EXCHANGE, "client_id": "api-backend", "client_secret": "s3cret",
            "subject_token": downstream, "subject_token_type": ACCESS_TOKEN_TYPE,
            "resource": "https://ledger.example/", "scope": "contacts:read",
        })  # fmt: skip
    assert response.status_code == 200, response.text
    claims = decode_jwt_payload(response.json()["access_token"])
    assert claims["sub"] == "alice" and claims["act"] == {"sub": "api-backend", "act": {"sub": MCP_SERVER_CLIENT_ID}}


async def test_a_delegation_chain_ends_at_the_as_s_limit_of_actors_even_where_two_rules_serve_each_other(
    lab: Lab,
) -> None:
    # RFC 8693 §4.1 nests act without a limit; the AS keeps each chain's links while its last
    # token lives (token_records.py), so two services exchanging each other's tokens back and forth
    # would grow a chain, and what the AS holds of it, without end. The chain stops at the limit.
    add_downstream_api(lab)
    lab.auth_server.preregister(
        "api-backend", {"grant_types": [TOKEN_EXCHANGE], "token_endpoint_auth_method": "client_secret_post"}, "s3cret"
    )
    lab.auth_server.exchange_rules["api-backend"] = ExchangeRule(
        serves=API_URL, targets={lab.mcp_url: frozenset({"notes:read"})}
    )
    token = (await lab.connect("cimd")).access_token
    for actors in range(1, MAX_DELEGATION_DEPTH + 2):
        if actors % 2:
            response = await exchange(lab, token)
        else:
            async with lab.httpx_client("api.example.com") as http:
                response = await http.post(f"{ISSUER}/token", data={
                    "grant_type": TOKEN_EXCHANGE, "client_id": "api-backend", "client_secret": "s3cret",
                    "subject_token": token, "subject_token_type": ACCESS_TOKEN_TYPE, "resource": lab.mcp_url,
                })  # fmt: skip
        if actors > MAX_DELEGATION_DEPTH:
            break
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
    assert_oauth_error(response, 400, "invalid_request", f"already names {MAX_DELEGATION_DEPTH} actors")


async def test_a_resource_and_an_audience_naming_different_targets_is_invalid_target(lab: Lab) -> None:
    # RFC 8693 §2.1: resource and audience both indicate where the token will be used; when they
    # name two different targets the AS cannot issue one token for both (one audience, MCP §9.2).
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    rule = lab.auth_server.exchange_rules[MCP_SERVER_CLIENT_ID]
    rule.targets["billing-api"] = frozenset({"contacts:read"})
    response = await exchange(lab, connection.access_token, audience="billing-api")
    assert_oauth_error(response, 400, "invalid_target", "name different targets")
    response = await exchange(lab, connection.access_token, resource=None, audience="billing-api")
    assert response.status_code == 200 and decode_jwt_payload(response.json()["access_token"])["aud"] == "billing-api"


# may_act: the subject token names who may act for its subject (RFC 8693 §4.4) ------------------


async def test_a_token_for_an_mcp_server_with_an_exchange_rule_names_that_server_in_may_act(lab: Lab) -> None:
    # §4.4: may_act "makes a statement that one party is authorized to become the actor"; the AS's
    # rule lets this MCP server exchange the tokens sent to it, so the user's token says so.
    plain = decode_jwt_payload((await lab.connect("cimd")).access_token)
    add_downstream_api(lab)
    claims = decode_jwt_payload((await lab.connect("cimd")).access_token)
    assert "may_act" not in plain and claims["may_act"] == {"sub": MCP_SERVER_CLIENT_ID}
    downstream = decode_jwt_payload(
        (await exchange(lab, (await lab.connect("cimd")).access_token)).json()["access_token"]
    )
    assert "may_act" not in downstream and downstream["act"] == {"sub": MCP_SERVER_CLIENT_ID}


async def test_a_client_the_subject_tokens_may_act_does_not_name_cannot_exchange_it(lab: Lab) -> None:
    # §4.4: the AS checks may_act against the party asking to act. A second client given a rule
    # for the same server after the token was issued is still not the one the token names.
    add_downstream_api(lab)
    connection = await lab.connect("cimd")
    lab.auth_server.preregister(
        "other-exchanger", {"grant_types": [TOKEN_EXCHANGE], "token_endpoint_auth_method": "client_secret_post"},
        client_secret="other-secret",
    )  # fmt: skip
    lab.auth_server.exchange_rules["other-exchanger"] = ExchangeRule(
        serves=lab.mcp_url, targets={API_URL: frozenset({"contacts:read"})}
    )
    response = await exchange(
        lab, connection.access_token, authenticate=False, client_id="other-exchanger", client_secret="other-secret"
    )
    assert_oauth_error(response, 400, "invalid_request", f"may_act names {MCP_SERVER_CLIENT_ID!r}")
    # Two rules serve that server now, so a new token names neither, and each rule decides alone.
    fresh = (await lab.connect("cimd")).access_token
    assert "may_act" not in decode_jwt_payload(fresh)
    assert (await exchange(lab, fresh)).status_code == 200


async def test_a_change_to_one_labs_second_mcp_server_scopes_reaches_no_other_lab() -> None:
    # The AS copies the scopes it is built with (state.py); add_second_mcp_server stored the
    # module's OTHER_SCOPES itself, and notes:admin added in one lab was offered by every later one.
    first, later = Lab(seed=0), Lab(seed=0)
    add_second_mcp_server(first)
    first.auth_server.resource_scopes[OTHER_MCP_URL].append("notes:admin")
    add_second_mcp_server(later)
    assert later.auth_server.resource_scopes[OTHER_MCP_URL] == ["notes:read", "notes:write"]
    assert "notes:admin" not in later.auth_server.metadata()["scopes_supported"]
