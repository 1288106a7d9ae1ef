"""Every lab server that reads a JWT, against RFC 8725 and the RFC of the JWT it reads: the MCP
server an access token (RFC 9068), the AS a client assertion (RFC 7523 §2.2), an ID-JAG (RFC 7523
§2.1) and a subject token (RFC 8693), the IdP an ID token (its RFC 8693 subject token).

Each reader gets a JWT its trusted key really signed, so only what a test changes decides; each
refusal is that reader's own error, with a description naming the rule."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc.jwk import OKPKey

from lab_servers import ISSUER, MCP_URL, Lab
from lab_servers.identity_provider import IdentityProvider
from lab_servers.story import (
    ENTERPRISE_CLIENT_AT_AS,
    ENTERPRISE_CLIENT_ID,
    IDP_ISSUER,
    MCP_SERVER_CLIENT_ID,
    add_downstream_api,
    add_enterprise_idp,
    use_introspection,
)

from .enterprise_requests import basic, idp_exchange, present
from .helpers import signed_jwt
from .test_resource_server import TOOLS_LIST, mint, post_mcp
from .test_token_exchange import exchange

pytestmark = pytest.mark.anyio
Sign = Callable[[dict[str, Any], dict[str, Any], Any], str]  # (header, claims, the reader's key) → JWT
ATTACKER_KEY = OKPKey.import_key(Ed25519PrivateKey.from_private_bytes(b"\x09" * 32))


def signed_by_the_attacker(header: dict[str, Any], claims: dict[str, Any], _: Any) -> str:
    return signed_jwt(header, claims, ATTACKER_KEY)


@pytest.fixture
async def idp(lab: Lab) -> IdentityProvider:
    """The whole cast: the MCP server as a private_key_jwt client exchanging tokens for its
    downstream API, and the enterprise IdP the AS trusts."""
    add_downstream_api(lab)
    return add_enterprise_idp(lab)


@dataclass(frozen=True)
class Reader:
    name: str
    mint: Callable[[Lab, IdentityProvider, dict[str, Any], Sign], str]  # its JWT, with these header parameters
    send: Callable[[Lab, IdentityProvider, str], Awaitable[httpx.Response]]
    status: int
    error: str

    async def answer(
        self, lab: Lab, idp: IdentityProvider, header: dict[str, Any], sign: Sign = signed_jwt
    ) -> tuple[int, dict[str, Any]]:
        response = await self.send(lab, idp, self.mint(lab, idp, header, sign))
        return response.status_code, (response.json() if response.content else {})


def access_token(lab: Lab, idp: IdentityProvider, header: dict[str, Any], sign: Sign) -> str:
    keys = lab.auth_server.keys
    now = lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "aud": MCP_URL, "client_id": "tpc_x", "scope": "notes:read",
              "iat": now, "exp": now + 900, "jti": "j"}  # fmt: skip
    return sign({"alg": keys.algorithm, "typ": "at+jwt", "kid": keys.kid, **header}, claims, keys._key)


def client_assertion(lab: Lab, idp: IdentityProvider, header: dict[str, Any], sign: Sign) -> str:
    caller = lab.resource_server.downstream
    assert caller is not None
    now = lab.clock.now()
    claims = {"iss": MCP_SERVER_CLIENT_ID, "sub": MCP_SERVER_CLIENT_ID, "aud": ISSUER,
              "iat": now, "exp": now + 60, "jti": "a1"}  # fmt: skip
    return sign({"alg": "Ed25519", "typ": "JWT", "kid": caller.kid, **header}, claims, caller._key)


def id_jag(lab: Lab, idp: IdentityProvider, header: dict[str, Any], sign: Sign) -> str:
    now = lab.clock.now()
    claims = {"iss": IDP_ISSUER, "sub": "alice", "aud": ISSUER, "client_id": ENTERPRISE_CLIENT_AT_AS,
              "resource": MCP_URL, "jti": "jti-1", "iat": now, "exp": now + 300}  # fmt: skip
    return sign({"alg": "Ed25519", "typ": "oauth-id-jag+jwt", "kid": idp.kid, **header}, claims, idp.key)


def id_token(lab: Lab, idp: IdentityProvider, header: dict[str, Any], sign: Sign, **changes: Any) -> str:
    now = lab.clock.now()
    claims = {"iss": IDP_ISSUER, "sub": "alice", "aud": ENTERPRISE_CLIENT_ID, "iat": now, "exp": now + 3600, **changes}
    return sign({"alg": "Ed25519", "typ": "JWT", "kid": idp.kid, **header}, claims, idp.key)


async def to_the_mcp_server(lab: Lab, idp: IdentityProvider, token: str) -> httpx.Response:
    return await post_mcp(lab, TOOLS_LIST, token)


async def as_client_assertion(lab: Lab, idp: IdentityProvider, token: str) -> httpx.Response:
    return await exchange(lab, mint(lab), client_assertion=token)


async def as_id_jag(lab: Lab, idp: IdentityProvider, token: str) -> httpx.Response:
    return await present(lab, token)


async def to_the_idp(lab: Lab, idp: IdentityProvider, token: str) -> httpx.Response:
    secret = idp.clients[ENTERPRISE_CLIENT_ID].secret
    return await idp_exchange(lab, token, basic(ENTERPRISE_CLIENT_ID, secret)["Authorization"])


async def as_subject_token(lab: Lab, idp: IdentityProvider, token: str) -> httpx.Response:
    return await exchange(lab, token)


MCP_SERVER = Reader("mcp-server-access-token", access_token, to_the_mcp_server, 401, "invalid_token")
CLIENT_ASSERTION = Reader("as-client-assertion", client_assertion, as_client_assertion, 401, "invalid_client")
ID_JAG = Reader("as-id-jag", id_jag, as_id_jag, 400, "invalid_grant")
ID_TOKEN = Reader("idp-id-token", id_token, to_the_idp, 400, "invalid_request")
# It answers every unusable subject token alike (RFC 8693 §2.2.2), so only acceptance is compared.
SUBJECT_TOKEN = Reader("as-subject-token", access_token, as_subject_token, 400, "invalid_request")
NAMING_READERS = [pytest.param(reader, id=reader.name) for reader in (MCP_SERVER, CLIENT_ASSERTION, ID_JAG, ID_TOKEN)]
ALL_READERS = [*NAMING_READERS, pytest.param(SUBJECT_TOKEN, id=SUBJECT_TOKEN.name)]


@pytest.mark.parametrize("reader", ALL_READERS)
async def test_each_reader_accepts_the_jwt_its_issuer_signed(lab: Lab, idp: IdentityProvider, reader: Reader) -> None:
    # The baseline: what the tests below refuse, they refuse for what they change.
    status, body = await reader.answer(lab, idp, {})
    assert status == 200, body


# The JOSE header (RFC 7515 §4) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"crit": ["urn:example:trace"], "urn:example:trace": "t-1"}, id="unknown-extension"),
        pytest.param({"crit": ["urn:example:trace"]}, id="listed-but-absent"),
        pytest.param({"crit": ["b64"], "b64": True}, id="rfc7797-b64"),
        pytest.param({"crit": ["kid"]}, id="registered-name"),
        pytest.param({"crit": []}, id="empty-list"),
    ],
)
@pytest.mark.parametrize("reader", NAMING_READERS)
async def test_a_jws_whose_crit_lists_what_the_reader_does_not_support_is_invalid(
    lab: Lab, idp: IdentityProvider, reader: Reader, header: dict[str, Any]
) -> None:
    # RFC 7515 §4.1.11: "If any of the listed extension Header Parameters are not understood and
    # supported by the recipient, then the JWS is invalid"; a crit naming registered parameters, or
    # an empty one, a recipient "MAY consider" invalid. No lab server supports an extension.
    status, body = await reader.answer(lab, idp, header)
    assert (status, body.get("error")) == (reader.status, reader.error), body
    assert "RFC 7515 section 4.1.11" in body["error_description"], body


@pytest.mark.parametrize("cty", ["JWT", "jwt", "application/jwt"])
@pytest.mark.parametrize("reader", NAMING_READERS)
async def test_a_nested_jwt_is_refused_never_read_as_a_claims_set(
    lab: Lab, idp: IdentityProvider, reader: Reader, cty: str
) -> None:
    # RFC 7519 §7.2 step 8: with a cty of "JWT" the payload "is a JWT that was the subject of nested
    # signing or encryption operations", to be validated in turn (RFC 8725 §3.3). No lab server
    # takes one, so the payload, a claims set here, must not be read as if the header said nothing.
    status, body = await reader.answer(lab, idp, {"cty": cty})
    assert (status, body.get("error")) == (reader.status, reader.error), body
    assert "nested JWT" in body["error_description"], body
    assert "RFC 7519 section 5.2, section 7.2 step 8" in body["error_description"], body


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"urn:example:trace": "t-1"}, id="private-name"),
        pytest.param({"nonce": "n-0S6_WzA2Mj"}, id="nonce"),
        pytest.param({"x5t#S256": "dGhpcyBpcyBub3QgYSBjZXJ0aWZpY2F0ZQ"}, id="registered-and-unused"),
    ],
)
@pytest.mark.parametrize("reader", ALL_READERS)
async def test_a_header_parameter_the_reader_does_not_understand_is_ignored(
    lab: Lab, idp: IdentityProvider, reader: Reader, header: dict[str, Any]
) -> None:
    # RFC 7515 §4: "Unless listed as Critical Header Parameters, per Section 4.1.11, all Header
    # Parameters not defined by this specification MUST be ignored when not understood."
    status, body = await reader.answer(lab, idp, header)
    assert status == 200, body


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"alg": "none"}, id="alg-none"),
        pytest.param({"alg": "None"}, id="alg-None"),
        pytest.param({"alg": "NONE"}, id="alg-NONE"),
        pytest.param({"alg": "HS256"}, id="hs256-keyed-with-the-public-key"),
    ],
)
@pytest.mark.parametrize("reader", ALL_READERS)
async def test_the_header_never_chooses_an_algorithm_the_reader_does_not_expect(
    lab: Lab, idp: IdentityProvider, reader: Reader, header: dict[str, Any]
) -> None:
    # RFC 8725 §3.1: a reader allows only the algorithms it expects for its key: never none, in any
    # case, and never an HMAC whose secret is the public key everyone can fetch (§2.1).
    status, body = await reader.answer(lab, idp, header)
    assert (status, body.get("error")) == (reader.status, reader.error), body


@pytest.mark.parametrize(
    "header",
    [
        pytest.param({"jwk": ATTACKER_KEY.as_dict(private=False)}, id="jwk"),
        pytest.param({"jku": "https://evil.example/jwks.json", "kid": "evil"}, id="jku"),
        pytest.param({"x5u": "https://evil.example/cert.pem", "kid": "evil"}, id="x5u"),
    ],
)
@pytest.mark.parametrize("reader", ALL_READERS)
async def test_the_header_never_supplies_the_key_that_verifies_it(
    lab: Lab, idp: IdentityProvider, reader: Reader, header: dict[str, Any]
) -> None:
    # RFC 8725 §3.10, "Do Not Trust Received Claims": a jwk is the signer's own say-so, and a jku or
    # x5u a URL a stranger chose, never fetched (a fetch would show in the trace, whatever
    # evil.example answered). Each JWT here is signed by the key its header offers.
    status, body = await reader.answer(lab, idp, header, signed_by_the_attacker)
    assert (status, body.get("error")) == (reader.status, reader.error), body
    assert not [e for e in lab.trace.exchanges if "evil.example" in e.host]


# Cross-JWT confusion (RFC 8725 §2.8, §3.11, §3.12) ---------------------------------------------------

KINDS = [MCP_SERVER, CLIENT_ASSERTION, ID_JAG, ID_TOKEN]


@pytest.mark.parametrize(
    ("kind", "reader"),
    [pytest.param(kind, reader, id=f"{kind.mint.__name__}-to-{reader.name}")
     for kind in KINDS for reader in [*KINDS, SUBJECT_TOKEN] if kind.mint is not reader.mint],
)  # fmt: skip
async def test_each_kind_of_jwt_the_lab_signs_is_refused_where_another_kind_is_read(
    lab: Lab, idp: IdentityProvider, kind: Reader, reader: Reader
) -> None:
    # RFC 8725 §3.12: the validation rules of different kinds of JWTs must be mutually exclusive,
    # so that a JWT of one kind is refused where another kind is read. Each JWT here is valid where
    # it belongs (the baseline above); each reader tells it apart by its typ, its key or its claims.
    response = await reader.send(lab, idp, kind.mint(lab, idp, {}, signed_jwt))
    assert (response.status_code, response.json().get("error")) == (reader.status, reader.error), response.text


@pytest.mark.parametrize(
    ("header", "claims", "mention"),
    [
        pytest.param({"typ": "oauth-id-jag+jwt"}, {}, "RFC 8725 section 3.11", id="typed-as-an-id-jag"),
        pytest.param({"typ": "at+jwt"}, {}, "RFC 8725 section 3.11", id="typed-as-an-access-token"),
        pytest.param({}, {"iss": "https://other-idp.example"}, "OIDC Core section 3.1.3.7", id="another-iss"),
        pytest.param({}, {"iss": [IDP_ISSUER]}, "OIDC Core section 3.1.3.7", id="iss-not-a-string"),
    ],
)
async def test_the_idp_takes_as_an_id_token_only_a_jwt_typed_as_one_and_issued_by_itself(
    lab: Lab, idp: IdentityProvider, header: dict[str, Any], claims: dict[str, Any], mention: str
) -> None:
    # Its key signs ID tokens and ID-JAGs alike, so explicit typing (RFC 8725 §3.11) is what keeps
    # them apart, and only if every reader checks it: these carry an ID token's claims (aud is the
    # client), so only the typ tells. And the key being this IdP's, the iss must be its issuer
    # (RFC 8725 §3.8; OIDC Core §3.1.3.7 step 2: "MUST exactly match").
    response = await to_the_idp(lab, idp, id_token(lab, idp, header, signed_jwt, **claims))
    assert (response.status_code, response.json().get("error")) == (400, "invalid_request"), response.text
    assert mention in response.json()["error_description"], response.text


@pytest.mark.parametrize("header", [{"typ": "JWT"}, {"typ": "application/jwt"}, {"typ": None}], ids=str)
async def test_the_idp_takes_an_id_token_typed_jwt_or_not_typed(
    lab: Lab, idp: IdentityProvider, header: dict[str, Any]
) -> None:
    # OIDC Core gives an ID token no typ; "JWT" is RFC 7519 §5.1's, the IdP's own (`sign_in`).
    def sign(base: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
        return signed_jwt({k: v for k, v in {**base, **header}.items() if v is not None}, claims, key)

    response = await to_the_idp(lab, idp, id_token(lab, idp, {}, sign))
    assert response.status_code == 200, response.text


# An access token's time window, read alike by each of its readers (RFC 7519 §4.1.4, §4.1.5) --------


async def by_introspection(lab: Lab, idp: IdentityProvider, token: str) -> httpx.Response:
    validator = use_introspection(lab)  # registers the MCP server as an authorised caller (RFC 7662 §2.1)
    async with lab.httpx_client("mcp.example.com") as http:
        return await http.post(
            validator.endpoint, data={"token": token}, headers={"Authorization": validator._authorization}
        )


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        pytest.param(lambda now: {"exp": now}, False, id="exp-now"),
        pytest.param(lambda now: {"exp": now + 1}, True, id="exp-in-a-second"),
        pytest.param(lambda now: {"nbf": now + 1}, False, id="nbf-in-a-second"),
        pytest.param(lambda now: {"nbf": now}, True, id="nbf-now"),
    ],
)
@pytest.mark.parametrize(
    "send", [to_the_mcp_server, as_subject_token, by_introspection], ids=["mcp-server", "exchange", "introspection"]
)
async def test_an_access_token_is_good_from_its_nbf_until_before_its_exp_wherever_it_is_read(
    lab: Lab, idp: IdentityProvider, send: Any, changes: Callable[[int], dict[str, int]], accepted: bool
) -> None:
    # RFC 7519 §4.1.4: the current time "MUST be before" exp; §4.1.5: "after or equal to" nbf. No
    # skew either way: every lab server reads one clock (lab_servers.rfc7519). Introspection's
    # active (RFC 7662 §2.2) is that same window, or an introspecting server accepts what the AS's
    # own checks refuse.
    keys, now = lab.auth_server.keys, lab.clock.now()
    claims = {"iss": ISSUER, "sub": "alice", "aud": MCP_URL, "client_id": "tpc_x", "scope": "notes:read",
              "iat": now, "exp": now + 900, "jti": "j", **changes(now)}  # fmt: skip
    response = await send(
        lab, idp, signed_jwt({"alg": keys.algorithm, "typ": "at+jwt", "kid": keys.kid}, claims, keys._key)
    )
    if send is by_introspection:
        assert response.status_code == 200 and response.json()["active"] is accepted, response.text
    else:
        assert (response.status_code == 200) is accepted, response.text
