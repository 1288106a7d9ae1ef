"""The endpoint × rule matrix: rules the specs state once for every endpoint of a kind, checked at
every endpoint of that kind (`tests/rule_matrix.py` lists the endpoints), so that a rule a server
follows at one endpoint and forgets at another shows up as one failing cell.

A cell applies when its endpoint is of the rule's kind; one that does not says why, in data
(`tests/rule_matrix.py`): `KINDS` for what an endpoint is not, `EXEMPT` for a cell of the rule's
kind that deliberately does not apply, with the spec sentence that lets it go.
`test_every_cell_is_decided` keeps both honest. The labs are shared, one per group of endpoints:
no cell depends on what another left behind (each request is refused, or answered alike however
often it is sent; a registration or a pending consent more changes no other answer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from lab_servers import ASCapabilities, Lab
from lab_servers.identity_provider import EnterpriseClient
from lab_servers.story import add_downstream_api, add_enterprise_idp, connect_enterprise, use_introspection
from lab_servers.trace import Exchange

from .emitted_http import IMF_FIXDATE, challenges
from .oauth_checks import assert_well_formed
from .rule_matrix import (
    BY_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    ENDPOINTS,
    EXEMPT,
    INITIAL_ACCESS_TOKEN,
    KINDS,
    Endpoint,
    error_of,
    send,
    valid_token,
)
from .rule_matrix_fields import (
    accept_is_a_list,
    authorization_once_bearer,
    authorization_once_client_auth,
    content_encoding_is_a_list,
    content_length_once,
    content_type_once,
    host_once,
    origin_once,
    protocol_version_once,
    repeated_but_kept,
)

pytestmark = pytest.mark.anyio

Check = Callable[[Lab, Endpoint], Awaitable[None]]


@dataclass(frozen=True)
class Rule:
    id: str
    spec: str  # the rule, in the spec's words, with its section
    kind: str  # the endpoints it applies to (KINDS)
    check: Check


# RFC 9110 ---------------------------------------------------------------------------------------

OTHER_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


def _allowed(endpoint: Endpoint) -> set[str]:
    return set(endpoint.methods) | ({"HEAD"} if "GET" in endpoint.methods else set())


async def method_not_allowed(lab: Lab, endpoint: Endpoint) -> None:
    for method in OTHER_METHODS:
        if method in endpoint.methods:
            continue
        response = await send(lab, endpoint, method=method)
        assert response.status_code == 405, (method, response.status_code, response.text[:300])
        allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
        assert allow == _allowed(endpoint), (method, response.headers.get("allow"))


async def head_as_get(lab: Lab, endpoint: Endpoint) -> None:
    get = await send(lab, endpoint, method="GET")
    head = await send(lab, endpoint, method="HEAD")
    assert head.status_code == get.status_code, (head.status_code, get.status_code)
    for name in ("content-type", "content-length", "allow", "www-authenticate", "cache-control"):
        assert head.headers.get(name) == get.headers.get(name), name
    assert head.content == b""


async def options_names_the_methods(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, method="OPTIONS")
    assert response.status_code in (200, 204, 405), response.status_code
    allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}
    assert allow == _allowed(endpoint) or (response.status_code < 300 and "OPTIONS" in allow), response.headers


async def date_on_every_answer(lab: Lab, endpoint: Endpoint) -> None:
    for response in (await send(lab, endpoint), await send(lab, endpoint, method="PUT")):
        assert IMF_FIXDATE.fullmatch(response.headers.get("date", "")), response.headers


async def body_too_large(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, content=b"a" * 300_000, headers=[("Content-Type", _content_type(endpoint))])
    assert response.status_code == 413, (response.status_code, response.text[:300])


async def content_coding_refused(lab: Lab, endpoint: Endpoint) -> None:
    headers = [("Content-Type", _content_type(endpoint)), ("Content-Encoding", "gzip")]
    response = await send(lab, endpoint, content=b"\x1f\x8b not really gzip", headers=headers)
    assert response.status_code == 415, (response.status_code, response.text[:300])
    assert response.headers.get("accept-encoding") is not None, response.headers


async def trailing_slash_is_no_endpoint(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, url=endpoint.url + "/")
    assert (response.status_code, response.headers.get("location")) == (404, None), response.status_code
    assert urlsplit(endpoint.url).path + "/" in response.text, response.text[:300]  # the description names it


def _content_type(endpoint: Endpoint) -> str:
    return "application/json" if endpoint.json_body is not None else "application/x-www-form-urlencoded"


# RFC 6749 §3 / OAuth 2.1 §3: request parameters ------------------------------------------------


def _outcome(response: httpx.Response) -> tuple[int, str | None]:
    return response.status_code, error_of(response)


async def form_only(lab: Lab, endpoint: Endpoint) -> None:
    content = urlencode(endpoint.params).encode()
    response = await send(lab, endpoint, content=content, headers=[("Content-Type", "application/json")])
    assert _outcome(response) == (400, "invalid_request"), (response.status_code, response.text[:300])


async def parameters_once(lab: Lab, endpoint: Endpoint) -> None:
    for name, value in endpoint.params.items():
        if name in ("resource", "audience"):
            continue  # RFC 8707 §2, RFC 8693 §2.1 let these repeat (refused here with invalid_target)
        pairs = [*endpoint.params.items(), (name, value)]
        response = await send(lab, endpoint, params=pairs)
        assert response.status_code in (302, 303, 400), (name, response.status_code)
        assert error_of(response) == "invalid_request", (name, response.status_code, response.text[:300])


async def empty_is_omitted(lab: Lab, endpoint: Endpoint) -> None:
    for name in endpoint.params:
        without = {k: v for k, v in endpoint.params.items() if k != name}
        empty = {**without, name: ""}
        omitted, sent_empty = await send(lab, endpoint, params=without), await send(lab, endpoint, params=empty)
        assert _outcome(sent_empty) == _outcome(omitted), (name, _outcome(sent_empty), _outcome(omitted))


async def unknown_ignored(lab: Lab, endpoint: Endpoint) -> None:
    plain = await send(lab, endpoint)
    extended = await send(lab, endpoint, params={**endpoint.params, "lab_matrix_unknown": "1"})
    assert _outcome(extended) == _outcome(plain), (_outcome(extended), _outcome(plain))


async def media_type_parameters_and_case(lab: Lab, endpoint: Endpoint) -> None:
    plain = await send(lab, endpoint)
    for content_type in (f"{_content_type(endpoint)}; charset=UTF-8", _content_type(endpoint).title()):
        other = await send(lab, endpoint, headers=[("Content-Type", content_type)])
        assert _outcome(other) == _outcome(plain), (content_type, _outcome(other), _outcome(plain))


async def form_is_utf8(lab: Lab, endpoint: Endpoint) -> None:
    for content in (b"%FF=1", urlencode(endpoint.params).encode() + b"&x=%C3%28"):
        response = await send(lab, endpoint, content=content)
        assert _outcome(response) == (400, "invalid_request"), (content, response.status_code, response.text[:300])


# RFC 6749 §5.1, §5.2 ---------------------------------------------------------------------------


async def json_error_with_a_registered_code(lab: Lab, endpoint: Endpoint) -> None:
    responses = [await send(lab, endpoint, method="PUT")]
    if endpoint.method == "POST":
        bad = b"[]" if endpoint.json_body is not None else b"grant_type=&token=&txn="
        responses.append(await send(lab, endpoint, content=bad, headers=[("Content-Type", _content_type(endpoint))]))
    else:
        responses.append(await send(lab, endpoint))
    for response in responses:
        if response.status_code < 400:
            continue
        assert_well_formed(response)
        assert response.headers.get("content-type", "").startswith("application/json"), response.headers
        assert response.json()["error"] in endpoint.error_codes, (response.status_code, response.json())


async def no_store(lab: Lab, endpoint: Endpoint) -> None:
    answers: list[httpx.Response | Exchange] = [await send(lab, endpoint)]
    answers += [e for e in lab.trace.exchanges if e.url.split("?")[0] == endpoint.url and (e.status or 0) < 300]
    assert any(a.status_code < 300 if isinstance(a, httpx.Response) else True for a in answers), "no success to judge"
    for answer in answers:
        headers = answer.headers if isinstance(answer, httpx.Response) else dict(answer.response_headers)
        assert headers.get("cache-control") == "no-store" and headers.get("pragma") == "no-cache", headers


async def client_authentication_failed(lab: Lab, endpoint: Endpoint) -> None:
    assert endpoint.basic is not None
    response = await send(lab, endpoint, basic=(endpoint.basic[0], "not-the-secret"))
    assert _outcome(response) == (401, "invalid_client"), (response.status_code, response.text[:300])
    found = challenges(response.headers.get("www-authenticate", "")) or []
    assert [scheme.lower() for scheme, _ in found] == ["basic"], response.headers


async def one_authentication_method(lab: Lab, endpoint: Endpoint) -> None:
    assert endpoint.basic is not None
    with_secret_too = {**endpoint.params, "client_id": endpoint.basic[0], "client_secret": endpoint.basic[1]}
    response = await send(lab, endpoint, params=with_secret_too)
    assert _outcome(response) == (400, "invalid_request"), (response.status_code, response.text[:300])


async def client_credentials_not_in_the_uri(lab: Lab, endpoint: Endpoint) -> None:
    assert endpoint.basic is not None
    in_uri = httpx.URL(endpoint.url).copy_merge_params(
        {"client_id": endpoint.basic[0], "client_secret": endpoint.basic[1]}
    )
    response = await send(lab, replace(endpoint, url=str(in_uri), basic=None))
    assert response.status_code in (400, 401) and error_of(response) in ("invalid_client", "invalid_request"), (
        response.status_code, response.text[:300])  # fmt: skip


async def basic_scheme_any_case(lab: Lab, endpoint: Endpoint) -> None:
    assert endpoint.basic is not None
    plain = await send(lab, endpoint)
    header = httpx.BasicAuth(*endpoint.basic)._auth_header.replace("Basic", "bASIC")
    assert _outcome(await send(lab, endpoint, headers=[("Authorization", header)])) == _outcome(plain)


# RFC 6750 §3 at every protected resource -------------------------------------------------------


def _challenge(response: httpx.Response) -> dict[str, str]:
    found = challenges(response.headers.get("www-authenticate", "")) or []
    bearer = [params for scheme, params in found if scheme.lower() == "bearer" and not isinstance(params, str)]
    assert len(bearer) == 1, response.headers
    return dict(bearer[0])


async def no_token(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, token=None)
    assert response.status_code == 401, response.status_code
    params = _challenge(response)
    assert params and "error" not in params, params


async def invalid_token(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, token="not-a-token")
    assert response.status_code == 401, response.status_code
    assert _challenge(response).get("error") == "invalid_token", response.headers


async def malformed_credentials(lab: Lab, endpoint: Endpoint) -> None:
    for headers in ([("Authorization", "Bearer a"), ("Authorization", "Bearer b")], [("Authorization", "Bearer a b")]):
        response = await send(lab, endpoint, headers=headers, token=None)
        assert _outcome(response) == (400, "invalid_request"), (headers, response.status_code, response.text[:300])


async def insufficient_scope(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, token=valid_token(lab, endpoint, scope="notes:write"))
    assert response.status_code == 403, (response.status_code, response.text[:300])
    params = _challenge(response)
    assert params.get("error") == "insufficient_scope" and params.get("scope"), params


async def no_token_in_the_query(lab: Lab, endpoint: Endpoint) -> None:
    accepted = await send(lab, endpoint, token=valid_token(lab, endpoint))
    assert accepted.status_code < 300, (accepted.status_code, accepted.text[:300])  # the token is good
    in_query = httpx.URL(endpoint.url).copy_merge_params({"access_token": valid_token(lab, endpoint)})
    response = await send(lab, replace(endpoint, url=str(in_query)), token=None)
    assert response.status_code == 401 and "error" not in _challenge(response), response.headers  # no credentials
    beside = await send(lab, replace(endpoint, url=str(in_query)), token=valid_token(lab, endpoint))
    assert beside.status_code < 300, (beside.status_code, beside.text[:300])  # judged by the header's token alone


async def challenge_names_the_metadata(lab: Lab, endpoint: Endpoint) -> None:
    for token in (None, "not-a-token"):
        response = await send(lab, endpoint, token=token)
        assert _challenge(response).get("resource_metadata", "").startswith("https://"), response.headers


async def bearer_scheme_any_case(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, headers=[("Authorization", f"bEARER {valid_token(lab, endpoint)}")])
    assert response.status_code < 300, (response.status_code, response.text[:300])


# JSON-RPC 2.0 at the MCP endpoint, every revision -----------------------------------------------


async def unknown_method(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, json_body={"jsonrpc": "2.0", "id": 7, "method": "lab/no-such-method"})
    body = response.json()
    assert body.get("id") == 7 and body.get("error", {}).get("code") == -32601, body
    # 2026-07-28 (basic/index "Error Codes"): an unknown method is answered with HTTP 404.
    assert response.status_code == (404 if endpoint.lab == "2026-07-28" else 200), response.status_code


async def every_method_echoes_the_id(lab: Lab, endpoint: Endpoint) -> None:
    # 2026-07-28 removed ping (SEP-2575) and added server/discover, which servers MUST implement.
    first = ("server/discover", {}) if endpoint.lab == "2026-07-28" else ("ping", {})
    for method, params in (first, ("tools/list", {}), ("tools/call", {"name": "whoami", "arguments": {}})):
        request = {"jsonrpc": "2.0", "id": f"matrix-{method}", "method": method, "params": params}
        body = (await send(lab, endpoint, json_body=request)).json()
        assert body.get("jsonrpc") == "2.0" and body.get("id") == request["id"] and "result" in body, (method, body)


async def notification_gets_202(lab: Lab, endpoint: Endpoint) -> None:
    response = await send(lab, endpoint, json_body={"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert response.status_code == 202 and response.content == b"", (response.status_code, response.text[:300])


RULES = [
    Rule("405-with-allow", "RFC 9110 §15.5.6: a method the target does not take gets 405 and Allow listing those it does", "any", method_not_allowed),
    Rule("head-as-get", "RFC 9110 §9.3.2: HEAD gets GET's status and header fields, without content", "any", head_as_get),
    Rule("options", "RFC 9110 §9.3.7: OPTIONS tells the methods (Allow), or is itself refused with 405 and Allow", "any", options_names_the_methods),
    Rule("exact-path", "RFC 8414 §2, RFC 9728 §3, RFC 3986 §6.2.1: an endpoint is its URL, one exact string; the path with a trailing slash is none: 404, not a redirect", "any", trailing_slash_is_no_endpoint),
    Rule("date", "RFC 9110 §6.6.1: an origin server with a clock MUST send Date, an IMF-fixdate (§5.6.7)", "any", date_on_every_answer),
    Rule("413-too-large", "RFC 9110 §15.5.14: content larger than the server will process gets 413", "body", body_too_large),
    Rule("415-content-coding", "RFC 9110 §15.5.16: a content coding not accepted gets 415, with Accept-Encoding", "body", content_coding_refused),
    Rule("form-only", "OAuth 2.1 §3.2.2 (RFC 6749 §3.2): parameters are sent as application/x-www-form-urlencoded", "form", form_only),
    Rule("parameters-once", "OAuth 2.1 §3.1, §3.2 (RFC 6749 §3.1, §3.2): parameters MUST NOT be included more than once: invalid_request", "params", parameters_once),
    Rule("empty-is-omitted", "OAuth 2.1 §3.1, §3.2 (RFC 6749 §3.1, §3.2): parameters sent without a value MUST be treated as omitted", "params", empty_is_omitted),
    Rule("unknown-ignored", "OAuth 2.1 §3.1, §3.2 (RFC 6749 §3.1, §3.2): the server MUST ignore unrecognized request parameters", "params", unknown_ignored),
    Rule("media-type-case-and-parameters", "RFC 9110 §8.3.1: type and subtype are case-insensitive, and a charset parameter is no other type", "body", media_type_parameters_and_case),
    Rule("form-utf8", "RFC 6749 Appendix B: names and values are UTF-8 once percent-decoded; others are refused, never replaced", "form", form_is_utf8),
    Rule("json-error", "RFC 6749 §5.2: an error is a JSON object whose error is one of the endpoint's registered codes", "oauth-json", json_error_with_a_registered_code),
    Rule("no-store", "RFC 6749 §5.1: a response with tokens or credentials carries Cache-Control: no-store and Pragma: no-cache", "credentials", no_store),
    Rule("client-auth-401", "RFC 6749 §5.2 invalid_client: a client that authenticated with the Authorization header gets 401 and a challenge of its scheme", "client-auth", client_authentication_failed),
    Rule("one-auth-method", "RFC 6749 §2.3: the client MUST NOT use more than one authentication method in each request: invalid_request", "client-auth", one_authentication_method),
    Rule("client-credentials-not-in-uri", "RFC 6749 §2.3.1: the client password parameters MUST NOT be included in the request URI", "client-auth", client_credentials_not_in_the_uri),
    Rule("basic-scheme-any-case", "RFC 9110 §11.1: the authentication scheme is case-insensitive (Basic)", "client-auth", basic_scheme_any_case),
    Rule("bearer-no-token", "RFC 6750 §3, §3.1: no credentials get 401, a Bearer challenge with an auth-param and no error code", "bearer", no_token),
    Rule("bearer-invalid-token", "RFC 6750 §3.1: an invalid token gets 401 with error=\"invalid_token\"", "bearer", invalid_token),
    Rule("bearer-malformed", "RFC 6750 §2.1, §3.1: credentials that are not one Bearer b64token get 400 invalid_request", "bearer", malformed_credentials),
    Rule("bearer-insufficient-scope", "RFC 6750 §3.1: a token short of scope gets 403 insufficient_scope naming the scope", "scoped", insufficient_scope),
    Rule("bearer-not-in-query", "OAuth 2.1 §5.1: resource servers MUST ignore access tokens in a URI query parameter (MCP §9.1: clients MUST NOT send them there)", "bearer", no_token_in_the_query),
    Rule("bearer-scheme-any-case", "RFC 9110 §11.1: the authentication scheme is case-insensitive (Bearer)", "bearer", bearer_scheme_any_case),
    Rule("bearer-resource-metadata", "RFC 9728 §5.1, MCP §4.2: the 401 challenge names the protected resource metadata", "prm", challenge_names_the_metadata),
    Rule("jsonrpc-unknown-method", "JSON-RPC 2.0 §5.1: a method that does not exist gets -32601, with the request's id (2026-07-28: in a 404)", "jsonrpc", unknown_method),
    Rule("jsonrpc-id-echoed", "JSON-RPC 2.0 §5: the response has the same id as the request, for every method the server has", "jsonrpc", every_method_echoes_the_id),
    Rule("jsonrpc-notification-202", "MCP Streamable HTTP: a notification is accepted with 202 and no body", "jsonrpc", notification_gets_202),
    Rule("authorization-once-client-auth", "RFC 9110 §5.3, §11.6.2: Authorization holds one credentials and is sent once; two fields, whichever first, get 400 invalid_request (RFC 6749 §2.3)", "client-auth", authorization_once_client_auth),
    Rule("authorization-once-bearer", "RFC 9110 §5.3, §11.6.2, RFC 6750 §3.1: a bearer token beside a second Authorization field (another token, other credentials) is invalid_request, 400", "bearer", authorization_once_bearer),
    Rule("content-type-once", "RFC 9110 §5.3, §8.3: Content-Type is one media type; two fields, whichever first, get 400, neither read", "body", content_type_once),
    Rule("content-length-once", "RFC 9110 §8.6, RFC 9112 §6.3: differing Content-Length values leave no length: 400", "body", content_length_once),
    Rule("content-encoding-list", "RFC 9110 §5.3, §8.4: Content-Encoding is a list; identity then gzip is gzip, and gets 415", "body", content_encoding_is_a_list),
    Rule("host-once", "RFC 9110 §7.2, RFC 9112 §3.2: a request with more than one Host field line gets 400 (the MCP endpoint's Host gate, in process; h11 served)", "jsonrpc", host_once),
    Rule("origin-once", "RFC 9110 §5.3, RFC 6454 §7.3: one Origin field; two are an Origin present and invalid: 403 (MCP Streamable HTTP, Security)", "jsonrpc", origin_once),
    Rule("protocol-version-once", "RFC 9110 §5.3, MCP Streamable HTTP: MCP-Protocol-Version names one version; two fields get 400 with the request's id", "jsonrpc", protocol_version_once),
    Rule("repeated-kept", "RFC 9110 §5.3 binds the sender: a field the server never reads, sent twice, is served (REPEATS_KEPT)", "jsonrpc", repeated_but_kept),
    Rule("accept-list", "RFC 9110 §5.3, §12.5.1: Accept is a list; sent as two lines it reads as their combination", "jsonrpc", accept_is_a_list),
]  # fmt: skip
RULE_BY_ID = {rule.id: rule for rule in RULES}


def _reason(rule: Rule, endpoint: Endpoint) -> str | None:
    """None when the cell applies; else why not."""
    if (rule.id, endpoint.id) in EXEMPT:
        return EXEMPT[rule.id, endpoint.id]
    return None if rule.kind in endpoint.kinds else f"{endpoint.id} {KINDS[rule.kind]}"


CELLS = [(rule, endpoint) for rule in RULES for endpoint in ENDPOINTS if _reason(rule, endpoint) is None]


def test_every_cell_is_decided() -> None:
    """Every rule × endpoint cell applies or says why not; every exemption names a cell that would apply."""
    for rule in RULES:
        assert rule.kind in KINDS, rule
        for endpoint in ENDPOINTS:
            reason = _reason(rule, endpoint)
            assert reason is None or reason.strip(), (rule.id, endpoint.id)
    for rule_id, endpoint_id in EXEMPT:
        assert RULE_BY_ID[rule_id].kind in BY_ID[endpoint_id].kinds, (rule_id, endpoint_id)


# One lab per group of endpoints, shared by the module's cells.


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def labs() -> AsyncIterator[dict[str, Lab]]:
    built = {
        "full": Lab(seed=0),
        "initial-access-token": Lab(
            seed=0, capabilities=ASCapabilities(dcr="initial_access_token", initial_access_token=INITIAL_ACCESS_TOKEN)
        ),
        **{
            revision: Lab(seed=0, revision=revision)
            for revision in ("2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
        },
    }
    for lab in built.values():
        await lab.__aenter__()
        metadata = {"client_name": "Matrix", "redirect_uris": ["https://app.example/callback"],
                    "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "client_secret_basic"}  # fmt: skip
        lab.auth_server.preregister(CLIENT_ID, metadata, CLIENT_SECRET)
        lab.auth_server.introspectors[CLIENT_ID] = lab.mcp_url
    full = built["full"]
    idp = add_enterprise_idp(full)
    idp.clients[CLIENT_ID] = EnterpriseClient(CLIENT_SECRET, {full.issuer: CLIENT_ID}, {full.mcp_url})
    add_downstream_api(full)
    use_introspection(full)
    # A registration, token, introspection and token exchange answered, for the no-store cells.
    await full.connect("dcr")
    await connect_enterprise(full, idp)
    await built["2025-03-26"].connect("dcr")
    try:
        yield built
    finally:
        for lab in built.values():
            await lab.aclose()


@pytest.mark.parametrize(("rule", "endpoint"), [pytest.param(r, e, id=f"{r.id}:{e.id}") for r, e in CELLS])
async def test_the_rule_holds_at_the_endpoint(rule: Rule, endpoint: Endpoint, labs: dict[str, Lab]) -> None:
    await rule.check(labs[endpoint.lab], endpoint)
