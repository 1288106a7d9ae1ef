"""The AS's configuration as a learner writes it: `ASPolicy.but(...)` flips a rule for an
experiment, and `ASCapabilities(...)` says what the AS offers, advertised and enforced. A value
the AS would misread (a string for a list, "no" for False, an unknown mode, an item of the wrong
kind) is refused where it is written, naming the field and what it takes; a list where a tuple
belongs is taken as the tuple it means. Each of these was a 500, or another experiment than the
one the learner wrote."""

from __future__ import annotations

import pytest

from lab_servers import ASCapabilities, Lab
from lab_servers.authorization_server.policy import HARDENED, NAIVE
from lab_servers.client import Redirect

from .helpers import open_authorization

pytestmark = pytest.mark.anyio

# A policy's host lists are tuples: what a learner writes instead is taken or named --------------

LIST_FIELDS = ["trusted_local_origins", "allowed_client_domains", "denied_client_domains", "fetched_metadata_urls"]


async def test_an_allow_list_written_as_a_list_is_taken_as_the_tuple_it_means() -> None:
    # A list made the policy unhashable, and the AS shares a fetch per URL and policy: a 500.
    lab = Lab(policy=HARDENED.but(allowed_client_domains=["app.example"]))
    consent = await open_authorization(lab, "https://app.example/client.json")
    assert consent.status == 200, consent.fields  # type: ignore[union-attr]
    assert lab.auth_server.policy.allowed_client_domains == ("app.example",)


@pytest.mark.parametrize("field", LIST_FIELDS)
def test_a_lone_string_for_a_list_of_a_policy_is_refused_not_read_letter_by_letter(field: str) -> None:
    with pytest.raises(TypeError, match=rf"ASPolicy\.{field} is a tuple of .*, such as \(.*\); got str .app\.example."):
        HARDENED.but(**{field: "app.example"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"follow_redirects": "no"}, r"ASPolicy.follow_redirects is True or False; got str 'no'"),
        ({"max_document_bytes": -1}, r"max_document_bytes is a whole number of at least 0; got int -1"),
        ({"max_cached_documents": True}, r"a whole number of at least 0, or None for no bound; got bool True"),
        ({"fetch_timeout_seconds": "2"}, r"fetch_timeout_seconds is a number of seconds, at least 0; got str '2'"),
    ],
    ids=["truthy-string", "negative-bound", "bool-for-a-count", "string-timeout"],
)
def test_a_rule_flipped_to_a_value_the_as_would_misread_is_refused(changes: dict[str, object], message: str) -> None:
    # "no" is truthy: the AS followed redirects while the learner thought it had turned them off.
    with pytest.raises(TypeError, match=message):
        HARDENED.but(**changes)
    assert HARDENED.but(max_registrations=None, fetch_timeout_seconds=0.2).fetch_timeout_seconds == 0.2


def test_a_rate_limit_is_a_pair_and_a_number_alone_is_refused() -> None:
    assert HARDENED.but(registration_rate_limit=[5, 60]).registration_rate_limit == (5, 60)
    assert NAIVE.registration_rate_limit is None and NAIVE.allowed_client_domains is None
    pair = r"registration_rate_limit is a pair \(registrations, seconds\) of at least 1 each, such as \(20, 60\); got "
    for wrong, got in [
        (20, "int 20"),
        (("a", "b"), "a tuple of 2"),
        ((20,), "a tuple of 1"),
        ((20, 0), "a tuple of 2"),
        ((0, 60), "a tuple of 2"),  # no registration ever: the limiter looked up the oldest of none
    ]:
        with pytest.raises(TypeError, match=pair + got):  # each was a 500 at the first registration
            HARDENED.but(registration_rate_limit=wrong)
    with pytest.raises(TypeError, match=r"allowed_client_domains is a tuple of host patterns, .*; got a tuple of 1"):
        HARDENED.but(allowed_client_domains=(1,))  # a 500 at the first CIMD client


# ASCapabilities: each field is advertised and enforced, so a value no AS can act on is named --------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dcr": "Open"}, r"unknown dcr mode 'Open' \(did you mean 'open'\?\)"),
        ({"revision": "2099-01-01"}, r"unknown MCP revision '2099-01-01'; the lab knows 2025-03-26"),
        ({"cimd": "no"}, r"ASCapabilities.cimd is True or False; got str 'no'"),
        ({"iss_parameter": None}, r"ASCapabilities.iss_parameter is True or False; got None"),
        ({"advertise_registration_endpoint": "yes"}, r"is None, True or False; got str 'yes'"),
        ({"token_endpoint_auth_methods": "none"}, r"is a tuple, such as \('none',\); got str 'none'"),
        ({"token_endpoint_auth_methods": ("none", "basic")}, r"unknown token endpoint auth method 'basic'"),
        ({"initial_access_token": 5}, r"initial_access_token is a string, such as 'iat-123'; got int 5"),
        ({"dcr": "initial_access_token"}, r"needs initial_access_token='…'.*without one no client could ever register"),
    ],
    ids=[
        "dcr-case",
        "revision",
        "cimd-string",
        "iss-none",
        "advertise-string",
        "methods-string",
        "methods-unknown",
        "token-not-a-string",
        "token-mode-without-a-token",
    ],
)
def test_capabilities_no_as_could_act_on_are_refused_where_they_are_written(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        ASCapabilities(**changes)  # type: ignore[arg-type]


def test_capabilities_take_a_list_of_methods_as_the_tuple_it_means() -> None:
    capabilities = ASCapabilities(token_endpoint_auth_methods=["none", "private_key_jwt"])
    assert capabilities.token_endpoint_auth_methods == ("none", "private_key_jwt") and capabilities.cimd_usable
    assert hash(capabilities) == hash(ASCapabilities(token_endpoint_auth_methods=("none", "private_key_jwt")))


# A refusal names a way in that this AS offers ---------------------------------------------------


@pytest.mark.parametrize(
    ("dcr", "way_out"),
    [
        ("open", "register (RFC 7591) or use a pre-registered client_id"),
        # A registration endpoint is there, for a client holding the initial access token (RFC 7591 §3).
        ("initial_access_token", "register (RFC 7591) or use a pre-registered client_id"),
        ("closed", "it takes no registrations either (DCR is closed), so only a pre-registered client_id works"),
        ("removed", "it takes no registrations either (DCR is removed), so only a pre-registered client_id works"),
    ],
)
async def test_a_cimd_url_refused_by_an_as_without_cimd_is_told_only_of_ways_in_this_as_offers(
    dcr: str, way_out: str
) -> None:
    # `serve --no-cimd --dcr removed` (or closed): Codex given `--oauth-client-id <document URL>`
    # lands on this error page, which told the user to "register" at an AS that answers
    # /register with 404 (removed) or 403 (closed, RFC 7591 §3) and advertises no
    # registration_endpoint (RFC 8414 §2): a way in no client can take.
    token = {"initial_access_token": "lab-initial-access-token"} if dcr == "initial_access_token" else {}
    async with Lab(capabilities=ASCapabilities(cimd=False, dcr=dcr, **token)) as lab:  # type: ignore[arg-type]
        page = await open_authorization(lab, lab.client_metadata_url)
        assert (
            not isinstance(page, Redirect) and page.status == 400
        )  # an invalid client_id: no redirect (OAuth 2.1 §4.1.2.1)
        assert page.fields["error"] == "invalid_client"
        assert "does not support Client ID Metadata Documents" in page.fields["error_description"]
        assert way_out in page.fields["error_description"], page.fields
        # The token endpoint names the same ways in (RFC 6749 §5.2 invalid_client).
        async with lab.httpx_client("client") as http:
            token = await http.post(
                "https://auth.example.com/token",
                data={"grant_type": "authorization_code", "code": "c", "client_id": lab.client_metadata_url},
            )
        assert token.json()["error"] == "invalid_client" and way_out in token.json()["error_description"], token.text
