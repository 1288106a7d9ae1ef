"""Against a hostile or broken server the lab client names the step that fails and the rule broken,
and never crashes: every URL a server gives it is parsed before use (as the browser would read it,
where the browser opens it), the authorization response carries every parameter once (RFC 6749
§3.1, RFC 9207), and an authorization server's endpoints use https, loopback aside (OAuth 2.1
§1.5)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from starlette.requests import Request
from starlette.responses import Response

from lab_servers import Lab, StepError
from lab_servers.client import parse_www_authenticate
from lab_servers.client.server_data import ServerDataRefused, server_url

from .hostile_server import BASE, HOST, HostileServer, _json, _metadata, _redirect, _run

pytestmark = pytest.mark.anyio


# Every URL a server gives: parsed before use, the field named ------------------------------------

BAD_URLS = [
    ("a 401 whose resource_metadata is not a URL", {"prm_url": "http://[::1"}, 2,
     r"step 2 \(resource-metadata\): the Protected Resource Metadata URL 'http://\[::1' is not a valid URL"),
    ("a 401 whose resource_metadata has no host", {"prm_url": "javascript:alert(1)"}, 2,
     r"step 2 \(resource-metadata\): the Protected Resource Metadata URL 'javascript:alert\(1\)' is not an absolute"),
    ("a port out of range", {"prm_url": f"{BASE}:99999/x"}, 2, r"step 2 \(resource-metadata\): .* is not a valid URL \(Port out of range"),
    ("PRM naming an issuer that is not a URL", {"prm": _json({"resource": f"{BASE}/mcp", "authorization_servers": ["http://[::1"]})}, 3,
     r"step 3 \(as-metadata\): the authorization server PRM names 'http://\[::1' is not a valid URL"),
    ("an authorization_endpoint that is not a URL", {"as_metadata": _json(_metadata(authorization_endpoint="http://[::1"))}, 3,
     r"step 3 \(as-metadata\): AS metadata authorization_endpoint 'http://\[::1' is not a valid URL"),
    ("a consent form whose action is not a URL",
     {"authorize": _json('<form action="http://[::1"><input type="hidden" name="t" value="1"></form>', content_type="text/html")}, 5,
     r"step 5 \(authorize\): the consent form's action 'http://\[::1' is not a valid URL"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "changes", "steps", "message"), BAD_URLS, ids=[c for c, *_ in BAD_URLS])
async def test_a_url_a_server_gives_that_httpx_cannot_request_fails_the_step_naming_the_field(
    lab: Lab, case: str, changes: dict[str, Any], steps: int, message: str
) -> None:
    prm_url = changes.pop("prm_url", None)
    server = HostileServer(**changes)
    if prm_url is not None:

        async def mcp(request: Request) -> Response:
            return Response("{}", 401, headers={"WWW-Authenticate": f'Bearer resource_metadata="{prm_url}"'})

        server.mcp = mcp  # type: ignore[method-assign]
    with pytest.raises(StepError, match="^" + message):
        await _run(lab, server, steps)


@pytest.mark.parametrize(
    ("header", "challenges"),
    [
        ('Bearer scope="a b", resource_metadata="https://h/x"', [("Bearer", {"scope": "a b", "resource_metadata": "https://h/x"}, False)]),
        ("Bearer scope=a, resource_metadata=https://h/x", [("Bearer", {"scope": "a"}, True)]),
        ('Bearer realm="a" x, Basic realm="b"', [("Bearer", {}, True)]),
        ('Bearer realm="a", Basic realm="b"', [("Bearer", {"realm": "a"}, False), ("Basic", {"realm": "b"}, False)]),
    ],
)  # fmt: skip
def test_a_value_followed_by_anything_but_a_comma_is_malformed_and_ends_the_header(
    header: str, challenges: list[tuple[str, dict[str, str], bool]]
) -> None:
    parsed = parse_www_authenticate(header)
    assert [(c.scheme, c.params, c.malformed is not None) for c in parsed] == challenges


async def test_an_unquoted_resource_metadata_url_is_not_read_cut_short_the_client_probes_the_well_known_urls(
    lab: Lab,
) -> None:
    # RFC 9110 §11.2: a value is a token or a quoted-string, and ':' and '/' are no token characters.
    # Read as a token, the value was "https", which step 2 then tried to fetch. MCP §4.2: without a
    # resource_metadata the client falls back to the well-known URLs.
    server = HostileServer()
    server.challenge = f"Bearer resource_metadata={BASE}/.well-known/oauth-protected-resource/mcp"
    client = await _run(lab, server, 7)
    assert client.state.whoami == {"sub": "alice"}
    first, second = client.records[:2]
    assert first.learned["resource_metadata"] is None
    assert first.notes == [
        "the Bearer challenge is malformed: 'resource_metadata=https://hostile.example/.' breaks RFC 9110 "
        "§11.2: an auth-param's value is a token or a quoted-string (so a URL must be quoted), and a comma comes "
        "next; the client reads the parameters before it and ignores the rest"
    ]
    assert [e.url for e in second.exchanges] == [f"{BASE}/.well-known/oauth-protected-resource/mcp"]


# The authorization response: every parameter once, an empty one is a value (RFC 6749 §3.1, RFC 9207)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("code=C&state={state}&iss=", r"iss '' in the redirect is not the issuer 'https://hostile.example': possible mix-up"),
        (f"code=C&state={{state}}&iss={BASE}&iss=https://other.example", r"the redirect repeats iss: parameters MUST NOT be included more than once \(RFC 6749 §3.1"),
        ("code=C&code=D&state={state}", r"the redirect repeats code"),
        ("code=C&state={state}&state=forged", r"the redirect repeats state"),
    ],
    ids=["empty-iss", "repeated-iss", "repeated-code", "repeated-state"],
)  # fmt: skip
async def test_an_authorization_response_with_an_empty_iss_or_a_repeated_parameter_fails_step_5(
    lab: Lab, query: str, message: str
) -> None:
    server = HostileServer(authorize=lambda request: _redirect(request, query))
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): " + message):
        await _run(lab, server, 5)


async def test_a_redirect_to_a_uri_that_only_begins_with_the_redirect_uri_fails_step_5(lab: Lab) -> None:
    # RFC 6749 §3.1.2: the AS sends the user agent to the redirect URI itself, its parameters added.
    def lookalike(request: Request) -> Response:
        location = f"{request.query_params['redirect_uri']}.evil.example?code=C&state={request.query_params['state']}"
        return Response(status_code=302, headers={"location": location})

    with pytest.raises(
        StepError, match=r"^step 5 \(authorize\): the AS redirected to .*not to this client's redirect_uri"
    ):
        await _run(lab, HostileServer(authorize=lookalike), 5)


async def test_the_authorization_endpoints_own_query_is_retained_when_the_request_adds_its_parameters(lab: Lab) -> None:
    # RFC 6749 §3.1: the endpoint URI "MAY include a query component, which MUST be retained".
    server = HostileServer(as_metadata=_json(_metadata(authorization_endpoint=f"{BASE}/authorize?tenant=acme")))
    await _run(lab, server, 5)
    query = dict(parse_qsl(urlsplit(server.seen[0]).query))
    assert query["tenant"] == "acme"
    assert query["response_type"] == "code"


async def test_an_authorization_endpoint_whose_query_has_a_request_parameter_fails_step_5(lab: Lab) -> None:
    server = HostileServer(as_metadata=_json(_metadata(authorization_endpoint=f"{BASE}/authorize?client_id=x")))
    with pytest.raises(
        StepError, match=r"^step 5 \(authorize\): authorization_endpoint's own query already has client_id"
    ):
        await _run(lab, server, 5)


# Authorization server endpoints use https (MCP authorization, Communication Security; OAuth 2.1 §1.5)


@pytest.mark.parametrize(
    ("changes", "steps", "message"),
    [
        ({"prm": _json({"resource": f"{BASE}/mcp", "authorization_servers": [f"http://{HOST}"]})}, 3,
         r"step 3 \(as-metadata\): the authorization server PRM names 'http://hostile.example' does not use https"),
        ({"as_metadata": _json(_metadata(authorization_endpoint=f"http://{HOST}/authorize"))}, 3,
         r"step 3 \(as-metadata\): AS metadata authorization_endpoint 'http://hostile.example/authorize' does not use https"),
        ({"as_metadata": _json(_metadata(token_endpoint=f"http://{HOST}/token"))}, 3,
         r"step 3 \(as-metadata\): AS metadata token_endpoint .* does not use https: every authorization server endpoint MUST"),
        ({"as_metadata": _json(_metadata(registration_endpoint=f"http://{HOST}/register"))}, 4,
         r"step 4 \(client-id\): AS metadata registration_endpoint .* does not use https"),
    ],
    ids=["issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint"],
)  # fmt: skip
async def test_an_authorization_server_endpoint_over_plain_http_is_refused(
    lab: Lab, changes: dict[str, Any], steps: int, message: str
) -> None:
    with pytest.raises(StepError, match="^" + message):
        await _run(lab, HostileServer(**changes), steps)


@pytest.mark.parametrize("url", ["http://localhost:3000/token", "http://127.0.0.1/token", "http://127.8.0.1/t",
                                 "http://[::1]:8080/token", "https://as.example/token"])  # fmt: skip
def test_an_authorization_server_endpoint_over_http_is_allowed_on_a_loopback_host_only(url: str) -> None:
    # The conformance suite's mock servers listen on http://localhost: nothing leaves the machine.
    assert server_url(url, "the token endpoint", https=True) == url


@pytest.mark.parametrize("url", ["http://as.example/token", "http://localhost.evil.example/t", "http://10.0.0.1/t"])
def test_an_authorization_server_endpoint_over_http_elsewhere_is_refused(url: str) -> None:
    with pytest.raises(
        ServerDataRefused, match=r"does not use https: .* \(MCP authorization, Communication Security; OAuth 2.1 §1.5\)"
    ):
        server_url(url, "the token endpoint", https=True)


async def test_a_whole_handshake_with_an_authorization_server_on_http_localhost_completes(lab: Lab) -> None:
    local = "http://localhost"
    server = HostileServer(
        prm=_json({"resource": f"{BASE}/mcp", "authorization_servers": [local]}),
        authorize=lambda request: _redirect(request, urlencode({"code": "C", "state": request.query_params["state"], "iss": local})),
    )  # fmt: skip
    as_app = HostileServer(as_metadata=_json(_metadata(local)), authorize=server.answers["authorize"]).app()
    lab.network.add_host("localhost", "127.0.0.1", as_app)
    client = await _run(lab, server, 7)
    assert client.state.issuer == local
    assert client.state.whoami == {"sub": "alice"}


# Rules the mutation audit found untested (RFC 6749 §3.1, OAuth 2.1 §1.5) ---------------------------


async def test_a_consent_form_posting_over_plain_http_fails_step_5_and_nothing_is_posted(lab: Lab) -> None:
    # OAuth 2.1 §1.5: every authorization server endpoint uses TLS; the consent form carries the
    # user's decision and the AS's session, so its action is held to the same rule.
    consent = Response(f'<form method="post" action="http://{HOST}/consent"><input type="hidden" name="s" value="1"></form>',
                       200, media_type="text/html")  # fmt: skip
    with pytest.raises(StepError, match=r"^step 5 \(authorize\): the consent form's action .* does not use https"):
        await _run(lab, HostileServer(authorize=consent), 5)
    assert not [e for e in lab.trace.exchanges if e.method == "POST" and e.url.startswith("http://")]


@pytest.mark.parametrize(
    ("endpoint", "rule"),
    [
        # httpx reads host 127.0.0.1 (http allowed on loopback); a browser opens http://evil.example/@127.0.0.1/authorize.
        ("http://evil.example\\@127.0.0.1/authorize", "no URI contains"),
        ("https://hostile.example@evil.example/authorize", "RFC 3986 §7.6"),
        ("https://2130706433/authorize", "numeric host"),
    ],
    ids=["backslash-userinfo", "userinfo", "decimal-ipv4"],
)
async def test_an_authorization_endpoint_a_browser_would_read_as_another_url_fails_step_3(
    lab: Lab, endpoint: str, rule: str
) -> None:
    """The user's browser, not httpx, opens the authorization endpoint: the URL checked must be the
    URL it opens (MCP §11.3: https, loopback aside; the WHATWG URL Standard reads a backslash as '/')."""
    metadata = _json(_metadata(authorization_endpoint=endpoint))
    with pytest.raises(StepError, match=r"^step 3 \(as-metadata\): AS metadata authorization_endpoint") as failed:
        await _run(lab, HostileServer(as_metadata=metadata), 3)
    assert rule in str(failed.value)


async def test_an_authorization_endpoint_with_a_fragment_fails_step_3(lab: Lab) -> None:
    # RFC 6749 §3.1: the endpoint URI MUST NOT include a fragment component.
    metadata = _json(_metadata(authorization_endpoint=f"{BASE}/authorize#here"))
    with pytest.raises(StepError, match=r"^step 3 \(as-metadata\): AS metadata authorization_endpoint has a fragment"):
        await _run(lab, HostileServer(as_metadata=metadata), 3)
