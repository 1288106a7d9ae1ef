"""Client authentication's refusals. One method per request (RFC 6749 §2.3). A client that
tried HTTP Basic and failed to authenticate (RFC 6749 §5.2): "the authorization server MUST
respond with an HTTP 401 (Unauthorized) status code and include the WWW-Authenticate response
header field matching the authentication scheme used by the client", whichever check refused it,
at every endpoint that authenticates clients; and any other 401 names the scheme too (RFC 9110
§15.5.2: a 401 MUST carry a WWW-Authenticate)."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import pytest

from lab_servers import ISSUER, MCP_URL, Lab, default_client_metadata
from lab_servers.authorization_server.client_authentication import JWT_BEARER_ASSERTION as JWT_BEARER
from lab_servers.story import ENTERPRISE_CLIENT_ID, IDP_ISSUER, add_enterprise_idp

from .helpers import assert_oauth_error, code_form, get_code, token_request
from .registered_clients import registered_client

pytestmark = pytest.mark.anyio


def basic(user_id: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user_id}:{password}".encode()).decode()


async def basic_client(lab: Lab) -> tuple[str, str, str]:
    """A client registered for client_secret_basic, and a code issued to it."""
    client = await registered_client(lab, token_endpoint_auth_method="client_secret_basic")
    return client["client_id"], client["client_secret"], await get_code(lab, client["client_id"])


def assert_basic_challenge(response: httpx.Response, mention: str) -> None:
    assert_oauth_error(response, 401, "invalid_client", mention)
    assert response.headers["www-authenticate"] == 'Basic realm="token"'


async def test_a_wrong_secret_is_401_with_a_basic_challenge(lab: Lab) -> None:
    client_id, _, code = await basic_client(lab)
    response = await token_request(
        lab, code_form(client_id, code, client_id=None), headers={"Authorization": basic(client_id, "wrong")}
    )
    assert_basic_challenge(response, "wrong client_secret")


async def test_a_wrong_client_secret_in_the_body_is_invalid_client_and_gets_no_token(lab: Lab) -> None:
    # RFC 6749 §2.3.1 lets a client send its secret in the body (client_secret_post); §5.2: credentials
    # that fail to authenticate it are invalid_client, a 401 here as for Basic (RFC 9110 §15.5.2).
    client = await registered_client(lab, token_endpoint_auth_method="client_secret_post")
    code = await get_code(lab, client["client_id"])
    response = await token_request(lab, code_form(client["client_id"], code, client_secret="wrong"))
    assert_basic_challenge(response, "wrong client_secret")
    assert len(lab.auth_server.issued) == 0


async def test_a_token_request_naming_no_client_at_all_is_invalid_request(lab: Lab) -> None:
    # RFC 6749 §4.1.3: client_id is REQUIRED when the client does not authenticate; a request with
    # neither names no client that could have failed to authenticate, so it is missing a required
    # parameter (§5.2: invalid_request, 400), not invalid_client. The rule named is the token
    # endpoint's (OAuth 2.1 §3.2.2, §4.1.3), not the authorization request's §4.1.1 it once cited.
    for grant in (
        {"grant_type": "authorization_code", "code": "x"},
        {"grant_type": "refresh_token", "refresh_token": "x"},
    ):
        response = await token_request(lab, grant)
        assert_oauth_error(response, 400, "invalid_request", "client_id is required", "OAuth 2.1 section 3.2.2")
        assert "4.1.1" not in response.json()["error_description"]


async def test_a_revocation_naming_no_client_is_invalid_request_citing_rfc_7009(lab: Lab) -> None:
    # RFC 7009 §2.1: the AS checks that the token was issued to the client asking, which a request
    # naming no client does not let it do.
    async with lab.httpx_client() as http:
        response = await http.post(f"{ISSUER}/revoke", data={"token": "x"})
    assert_oauth_error(response, 400, "invalid_request", "client_id is required", "RFC 7009 section 2.1")


async def test_an_introspection_authenticating_no_client_is_401_invalid_client(lab: Lab) -> None:
    # RFC 7662 §2.1: the endpoint requires its caller's authorization; RFC 6749 §5.2 lists "no client
    # authentication included" under invalid_client, a 401 with a challenge (RFC 9110 §15.5.2). It
    # was a 400 "client_id is required", citing the authorization request (OAuth 2.1 §4.1.1).
    async with lab.httpx_client() as http:
        bare = await http.post(f"{ISSUER}/introspect", data={"token": "x"})
        secret_only = await http.post(f"{ISSUER}/introspect", data={"token": "x", "client_secret": "s"})
    assert_basic_challenge(bare, "RFC 7662 section 2.1")
    assert_oauth_error(secret_only, 400, "invalid_request", "client_id is required", "RFC 7662 section 2.1")


async def test_a_body_client_id_naming_another_client_is_401_with_a_basic_challenge(lab: Lab) -> None:
    client_id, secret, code = await basic_client(lab)
    other = (await registered_client(lab))["client_id"]
    response = await token_request(lab, code_form(other, code), headers={"Authorization": basic(client_id, secret)})
    assert_basic_challenge(response, "client_id in the body differs")


async def test_an_empty_basic_user_id_is_invalid_client_not_invalid_request(lab: Lab) -> None:
    # RFC 6749 §2.3.1: the user-id is the client_id; credentials naming no client fail to authenticate it.
    _, _, code = await basic_client(lab)
    response = await token_request(
        lab, {"grant_type": "authorization_code", "code": code}, headers={"Authorization": basic("", "x")}
    )
    assert_basic_challenge(response, "user-id is empty")


async def test_an_unknown_client_in_basic_credentials_is_401_with_a_basic_challenge(lab: Lab) -> None:
    response = await token_request(
        lab, {"grant_type": "client_credentials"}, headers={"Authorization": basic("tpc_unknown", "x")}
    )
    assert_basic_challenge(response, "unknown client_id")


async def test_malformed_basic_credentials_are_401_with_a_basic_challenge(lab: Lab) -> None:
    response = await token_request(lab, {"grant_type": "client_credentials"}, headers={"Authorization": "Basic !!!"})
    assert_basic_challenge(response, "malformed HTTP Basic credentials")


async def test_a_method_the_as_no_longer_offers_is_401_with_a_basic_challenge(lab: Lab) -> None:
    client_id, secret, code = await basic_client(lab)
    lab.auth_server.capabilities = lab.auth_server.capabilities.but(
        token_endpoint_auth_methods=("none", "private_key_jwt")
    )
    response = await token_request(
        lab, code_form(client_id, code, client_id=None), headers={"Authorization": basic(client_id, secret)}
    )
    assert_basic_challenge(response, "no longer offers 'client_secret_basic'")


async def test_a_basic_client_may_send_its_secret_in_the_form_once_basic_is_no_longer_offered(lab: Lab) -> None:
    # OAuth 2.1 §2.4.1: the AS "MUST support the client including the client credentials in the
    # request body content". Judged by the method it registered, not the one it used, the client
    # was refused for Basic, which it had not sent.
    client_id, secret, code = await basic_client(lab)
    lab.auth_server.capabilities = lab.auth_server.capabilities.but(
        token_endpoint_auth_methods=("none", "client_secret_post", "private_key_jwt")
    )
    response = await token_request(lab, {**code_form(client_id, code), "client_secret": secret})
    assert response.status_code == 200, response.text


async def test_an_as_without_basic_challenges_only_a_client_that_tried_basic(lab: Lab) -> None:
    # RFC 6749 §5.2: a 401 names the HTTP schemes the AS supports, and MUST follow a client's try
    # of one; a client that used none MAY get it. With Basic not offered, a Basic challenge named
    # a scheme this AS refuses, and a 401 must carry one (RFC 9110 §15.5.2): 400 instead.
    lab.auth_server.capabilities = lab.auth_server.capabilities.but(
        token_endpoint_auth_methods=("none", "client_secret_post", "private_key_jwt")
    )
    form = {"grant_type": "client_credentials", "client_id": "tpc_unknown", "client_secret": "x"}
    response = await token_request(lab, form)
    assert_oauth_error(response, 400, "invalid_client", "unknown client_id")
    assert "www-authenticate" not in response.headers
    tried = await token_request(
        lab, {"grant_type": "client_credentials"}, headers={"Authorization": basic("tpc_unknown", "x")}
    )
    # A method the AS does not take is refused from the request alone, before the client is looked up.
    assert_basic_challenge(tried, "no longer offers 'client_secret_basic'")


@pytest.mark.parametrize("endpoint", ["revoke", "introspect"])
async def test_an_as_without_basic_answers_a_caller_that_tried_no_basic_400_at_revocation_and_introspection(
    lab: Lab, endpoint: str
) -> None:
    # authenticate_client's rule at every endpoint that authenticates clients: introspection's own
    # refusals (no credentials at all, a public caller; RFC 7662 §2.1) answered 401 with a Basic
    # challenge from an AS that takes no Basic, where RFC 9110 §15.5.2 allows no 401 without one.
    lab.auth_server.capabilities = lab.auth_server.capabilities.but(
        token_endpoint_auth_methods=("none", "client_secret_post", "private_key_jwt")
    )
    public = (await registered_client(lab, token_endpoint_auth_method="none"))["client_id"]
    forms = [{"token": "x", "client_id": "tpc_unknown"}, {"token": "x", "client_id": public}]
    if endpoint == "introspect":
        forms.append({"token": "x"})  # RFC 7009 §2.1: revocation's client_id is required (invalid_request)
    async with lab.httpx_client("client") as http:
        for form in forms:
            response = await http.post(f"{ISSUER}/{endpoint}", data=form)
            if endpoint == "revoke" and form["client_id"] == public:
                assert response.status_code == 200, response.text  # a public client may revoke its tokens
                continue
            assert_oauth_error(response, 400, "invalid_client", "")
            assert "www-authenticate" not in response.headers, form


@pytest.mark.parametrize(
    ("headers", "extra"),
    [({}, {}), ({"Authorization": ""}, {}), ({}, {"client_secret": ""}), ({}, {"client_assertion": ""})],
    ids=["nothing", "empty-authorization", "empty-secret", "empty-assertion"],
)
async def test_an_introspection_by_a_public_cimd_client_is_refused_before_its_document_is_fetched(
    lab: Lab, headers: dict[str, str], extra: dict[str, str]
) -> None:
    # RFC 7662 §2.1: a public client is no authorised caller, whoever it is; its id was resolved
    # first, a CIMD URL's document fetched, and only then refused (CIMD -02 §8.7: no amplifier).
    # An empty field or parameter carries no credentials (RFC 6749 §3.1): it was let through, the
    # document fetched, and the caller refused 403 unauthorized_client as if it had authenticated.
    client_id = "https://app.example/client.json"
    lab.publish_client_document(client_id, default_client_metadata(client_id))
    async with lab.httpx_client("client") as http:
        response = await http.post(
            f"{ISSUER}/introspect", data={"token": "x", "client_id": client_id, **extra}, headers=headers
        )
    assert_basic_challenge(response, "a public client is neither (RFC 7662 section 2.1)")
    assert [e.url for e in lab.trace.exchanges if e.host == "app.example"] == []


@pytest.mark.parametrize("endpoint", ["revoke", "introspect"])
async def test_revocation_and_introspection_answer_basic_the_same_way(lab: Lab, endpoint: str) -> None:
    client_id, secret, _ = await basic_client(lab)
    other = (await registered_client(lab))["client_id"]
    async with lab.httpx_client("client") as http:
        response = await http.post(
            f"{ISSUER}/{endpoint}",
            data={"token": "t", "client_id": other},
            headers={"Authorization": basic(client_id, secret)},
        )
    assert_basic_challenge(response, "client_id in the body differs")


@pytest.mark.parametrize(
    "form",
    [
        {"client_id": "tpc_never_registered"},
        {"client_id": "tpc_never_registered", "client_secret": "s"},
    ],
    ids=["public-unknown", "post-unknown"],
)
async def test_a_401_invalid_client_without_basic_still_names_the_scheme(lab: Lab, form: dict[str, str]) -> None:
    # RFC 9110 §15.5.2: every 401 carries a challenge; RFC 6749 §5.2: it indicates the schemes supported.
    response = await token_request(lab, {"grant_type": "authorization_code", "code": "x", **form})
    assert_basic_challenge(response, "")


@pytest.mark.parametrize("how", ["client_secret_basic", "client_secret_post"])
async def test_a_secret_for_a_cimd_client_id_is_refused_before_its_document_is_fetched(lab: Lab, how: str) -> None:
    # CIMD -02 §4.1: a CIMD client has no shared secret, so a secret sent for one could never
    # authenticate it; it was refused only after the AS fetched the document (§8.7: no amplifier).
    client_id = "https://app.example/client.json"
    lab.publish_client_document(client_id, default_client_metadata(client_id))
    form = {"grant_type": "client_credentials"}
    headers = {}
    if how == "client_secret_basic":
        headers["Authorization"] = basic(quote(client_id, safe=""), "s")
    else:
        form |= {"client_id": client_id, "client_secret": "s"}
    response = await token_request(lab, form, headers=headers)
    assert_basic_challenge(response, f"{how!r} can never authenticate it")
    assert "CIMD -02 section 4.1" in response.json()["error_description"]
    assert [e.url for e in lab.trace.exchanges if e.host == "app.example"] == []
    # Without Basic offered, the form's refusal is 400, as every refusal of a client that tried no Basic.
    lab.auth_server.capabilities = lab.auth_server.capabilities.but(
        token_endpoint_auth_methods=("none", "client_secret_post", "private_key_jwt")
    )
    if how == "client_secret_post":
        response = await token_request(lab, form)
        assert_oauth_error(response, 400, "invalid_client", "a CIMD client has no shared secret")
        assert "www-authenticate" not in response.headers


async def test_a_secret_for_a_preregistered_client_with_a_url_id_is_checked_as_its_record_says(lab: Lab) -> None:
    # A URL id the AS holds a record for is that record, not a document: its secret authenticates it.
    client_id = "https://partner.example/client"
    lab.auth_server.preregister(
        client_id, {"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_post"}, "s3cret"
    )
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "s3cret", "resource": MCP_URL}
    response = await token_request(lab, form)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("how", ["client_secret_post", "client_secret_basic"])
async def test_a_preregistered_secret_client_whose_secret_the_as_never_got_fails_to_authenticate(
    lab: Lab, how: str
) -> None:
    # RFC 6749 §5.2: credentials that fail to authenticate the client are invalid_client, a 401. An
    # administrator's record naming a secret method but no secret holds none anyone could present:
    # compared as if it had one, every guess would be a 500 (AttributeError on None).
    lab.auth_server.preregister("backend", {"grant_types": ["client_credentials"], "token_endpoint_auth_method": how})
    form = {"grant_type": "client_credentials", "resource": MCP_URL}
    if how == "client_secret_post":
        response = await token_request(lab, {**form, "client_id": "backend", "client_secret": "guess"})
    else:
        response = await token_request(lab, form, headers={"Authorization": basic("backend", "guess")})
    assert_basic_challenge(response, "wrong client_secret")
    assert len(lab.auth_server.issued) == 0


# One method per request (RFC 6749 §2.3: "The client MUST NOT use more than one authentication
# method in each request"; §5.2 makes it invalid_request) ---------------------------------------


@pytest.mark.parametrize(
    ("extra_form", "with_basic", "named"),
    [
        ({"client_secret": "s"}, True, "HTTP Basic, client_secret"),
        ({"client_assertion": "a.b.c", "client_assertion_type": JWT_BEARER}, True, "HTTP Basic, client_assertion"),
        ({"client_secret": "s", "client_assertion": "a.b.c", "client_assertion_type": JWT_BEARER}, False,
         "client_secret, client_assertion"),
    ],
    ids=["basic-and-secret", "basic-and-assertion", "secret-and-assertion"],
)  # fmt: skip
async def test_a_request_using_two_authentication_methods_is_invalid_request(
    lab: Lab, extra_form: dict[str, str], with_basic: bool, named: str
) -> None:
    client_id, secret, code = await basic_client(lab)
    headers = {"Authorization": basic(client_id, secret)} if with_basic else {}
    response = await token_request(lab, {**code_form(client_id, code), **extra_form}, headers=headers)
    assert_oauth_error(response, 400, "invalid_request", named, "RFC 6749 section 2.3")
    assert len(lab.auth_server.issued) == 0  # the right secret beside another method still gets nothing


@pytest.mark.parametrize(("registered", "used"), [("client_secret_post", "client_secret_basic")])
async def test_a_client_must_authenticate_with_its_registered_method_even_with_the_right_secret(
    lab: Lab, registered: str, used: str
) -> None:
    # RFC 7591 §2: token_endpoint_auth_method is "the requested authentication method for the
    # token endpoint"; the AS holds the client to it (a secret sent another way is refused). HTTP
    # Basic is the method OAuth 2.1 §2.4.1 says an AS "MAY support"; the form is the one it MUST,
    # for every client holding a secret (test_real_client_requests: a client_secret_basic one).
    client = await registered_client(lab, token_endpoint_auth_method=registered)
    client_id, secret = client["client_id"], client["client_secret"]
    code = await get_code(lab, client_id)
    if used == "client_secret_basic":
        response = await token_request(
            lab, code_form(client_id, code, client_id=None), headers={"Authorization": basic(client_id, secret)}
        )
    else:
        response = await token_request(lab, code_form(client_id, code, client_secret=secret))
    assert_oauth_error(response, 401, "invalid_client", f"authenticated with {used!r}", f"is {registered!r}")


async def test_a_public_client_sending_a_client_secret_is_refused_naming_its_registered_method(lab: Lab) -> None:
    # RFC 7591 §2: a client registered with "none" is "a public client" that "does not have a
    # client secret"; OAuth 2.1 §2.4.1's form method is for clients "in possession of a client
    # secret". The refusal names the method it registered, not a secret it was never given.
    client_id = (await registered_client(lab, token_endpoint_auth_method="none"))["client_id"]
    response = await token_request(lab, code_form(client_id, await get_code(lab, client_id), client_secret="guess"))
    assert_oauth_error(response, 401, "invalid_client", "authenticated with 'client_secret_post'", "is 'none'")


async def test_basic_credentials_are_form_urlencoded_before_base64(lab: Lab) -> None:
    # RFC 6749 §2.3.1: the client identifier and password are encoded with the
    # application/x-www-form-urlencoded algorithm, then used as the Basic user-id and password.
    client_id, secret, code = await basic_client(lab)

    def encoded(text: str) -> str:
        return "".join(f"%{byte:02X}" for byte in text.encode())

    response = await token_request(
        lab,
        code_form(client_id, code, client_id=None),
        headers={"Authorization": basic(encoded(client_id), encoded(secret))},
    )
    assert response.status_code == 200, response.text


async def test_basic_credentials_are_base64_exactly_with_no_padding_where_none_is_due(lab: Lab) -> None:
    # RFC 7617 §2: the credentials are base64 (RFC 4648 §4), and "=" pads only the last group of
    # four. b64decode(validate=True) decoded "...=" past a whole group as if the "=" were not there.
    client_id, secret, code = await basic_client(lab)
    user_id = client_id
    while len(f"{user_id}:{secret}") % 3:  # %74 is "t", form-urlencoded: a length with no padding due
        user_id = user_id.replace("t", "%74", 1)
    credentials = basic(user_id, secret)
    assert not credentials.endswith("=")
    form = code_form(client_id, code, client_id=None)
    response = await token_request(lab, form, headers={"Authorization": credentials + "="})
    assert_basic_challenge(response, "malformed HTTP Basic credentials")
    response = await token_request(lab, form, headers={"Authorization": credentials})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("space", [b"\xa0", b"\x85", b"\x0b"], ids=repr)
async def test_only_sp_separates_basic_from_its_credentials(lab: Lab, space: bytes) -> None:
    # RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]. The header is
    # read as Latin-1, where str.strip() also removed NBSP (0xA0), NEL (0x85) and VT.
    client_id, secret, code = await basic_client(lab)
    credentials = basic(client_id, secret).encode().replace(b"Basic ", b"Basic " + space)
    response = await token_request(
        lab, code_form(client_id, code, client_id=None), headers={"Authorization": credentials}
    )
    assert_basic_challenge(response, "malformed HTTP Basic credentials")


async def test_a_basic_user_id_that_is_not_utf_8_once_decoded_is_malformed(lab: Lab) -> None:
    # RFC 6749 §2.3.1 and Appendix B: the parts are UTF-8, then form-urlencoded; %FF is no UTF-8.
    client_id, secret, code = await basic_client(lab)
    response = await token_request(
        lab, code_form(client_id, code, client_id=None), headers={"Authorization": basic(client_id + "%FF", secret)}
    )
    assert_basic_challenge(response, "malformed HTTP Basic credentials")


# RFC 6749 §5.2: "If the client attempted to authenticate via the "Authorization" request header
# field, the authorization server MUST respond with an HTTP 401" -------------------------------


@pytest.mark.parametrize(
    "authorization",
    ["Bearer abc", "Digest username=x", "Basic\tYTpi", "Basic", "basic:YTpi"],
    ids=["bearer", "digest", "tab-after-basic", "basic-alone", "no-space"],
)
async def test_credentials_of_another_scheme_are_an_attempt_that_fails_not_no_credentials(
    lab: Lab, authorization: str
) -> None:
    # A public client's code with a stray Authorization field: it tried an authentication method
    # this AS does not take (§5.2's invalid_client: "unsupported authentication method"). Read as
    # no credentials, the request went on as the public client's and was answered with tokens.
    code = await get_code(lab, lab.client_metadata_url)
    response = await token_request(
        lab, code_form(lab.client_metadata_url, code), headers={"Authorization": authorization}
    )
    assert_basic_challenge(
        response, "malformed HTTP Basic" if authorization.split()[0] == "Basic" else "is not HTTP Basic"
    )


async def test_the_idp_takes_credentials_of_another_scheme_as_a_failed_attempt(lab: Lab) -> None:
    # The IdP read its client's secret from the body and ignored the Authorization field beside it.
    idp = add_enterprise_idp(lab)
    form = {"grant_type": "client_credentials", "client_id": ENTERPRISE_CLIENT_ID,
            "client_secret": idp.clients[ENTERPRISE_CLIENT_ID].secret}  # fmt: skip
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{IDP_ISSUER}/token", data=form, headers={"Authorization": "Bearer abc"})
    assert_basic_challenge(response, "is not HTTP Basic")


# One Authorization field (RFC 9110 §11.6.2: it holds one credentials; §5.3: no list, not sent twice)


@pytest.mark.parametrize("endpoint", ["token", "revoke", "introspect"])
@pytest.mark.parametrize("second", ["wrong", "another client's", "bearer"])
async def test_two_authorization_fields_are_invalid_request_whichever_comes_first(
    lab: Lab, endpoint: str, second: str
) -> None:
    # Read first-only, the right secret followed by a wrong one (or another client's credentials)
    # authenticated the client by the first: tokens, where a reader of the last sees another client.
    client_id, secret, code = await basic_client(lab)
    other = await registered_client(lab, token_endpoint_auth_method="client_secret_basic")
    seconds = {"wrong": basic(client_id, "wrong"), "another client's": basic(other["client_id"], other["client_secret"]),
               "bearer": "Bearer abc"}  # fmt: skip
    form = code_form(client_id, code, client_id=None) if endpoint == "token" else {"token": "t"}
    for fields in ([basic(client_id, secret), seconds[second]], [seconds[second], basic(client_id, secret)]):
        async with lab.httpx_client("client") as http:
            response = await http.post(
                f"{ISSUER}/{endpoint}", data=form, headers=[("Authorization", f) for f in fields]
            )
        assert_oauth_error(response, 400, "invalid_request", "2 Authorization fields", "RFC 9110 section 5.3")
    assert len(lab.auth_server.issued) == 0


async def test_the_idp_takes_one_authorization_field_too(lab: Lab) -> None:
    idp = add_enterprise_idp(lab)
    right = basic(ENTERPRISE_CLIENT_ID, idp.clients[ENTERPRISE_CLIENT_ID].secret)
    async with lab.httpx_client("client") as http:
        response = await http.post(f"{IDP_ISSUER}/token", data={"grant_type": "client_credentials"},
                                   headers=[("Authorization", right), ("Authorization", "Basic eDp5")])  # fmt: skip
    assert_oauth_error(response, 400, "invalid_request", "2 Authorization fields")
