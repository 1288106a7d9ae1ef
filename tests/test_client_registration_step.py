"""Step 4 as the client explains it: the application_type it registers (2026-07-28
client-registration §3.1), and the notes on a registration response's secret and on DCR's
deprecation (RFC 7591 §3.2.1; MCP 2026-07-28)."""

from __future__ import annotations

import pytest

from lab_servers import Credentials, Lab, StepError
from lab_servers.client.registration_step import application_type, token_endpoint_auth_method

from .hostile_server import BASE, HOST, HostileServer, _json, _metadata, _run

pytestmark = pytest.mark.anyio


def test_a_client_with_no_redirect_uri_is_no_web_application() -> None:
    # client-registration §3.1: web is for https redirect URIs off loopback; with none, native.
    assert application_type([]) == "native"
    assert application_type(["https://app.example/callback"]) == "web"
    assert application_type(["com.example.app:/callback"]) == "native"  # a custom scheme (RFC 8252 §7.1)
    assert application_type(["https://app.example/callback", "http://127.0.0.1:3000/callback"]) == "native"


async def test_preregistered_credentials_with_a_secret_and_no_method_use_the_secret_method_the_as_offers(
    lab: Lab,
) -> None:
    # MCP §5.2: credentials an administrator hands out; a secret means a confidential client
    # (RFC 6749 §2.3.1), sent the way the AS supports (RFC 8414 §2: absent, client_secret_basic).
    lab.auth_server.preregister("desk-client", {"redirect_uris": ["https://app.example/callback"],
                                                "token_endpoint_auth_method": "client_secret_basic"}, "s3cret")  # fmt: skip
    connection = await lab.connect("auto", preregistered={lab.issuer: Credentials("desk-client", "s3cret")})
    assert connection.client_id == "desk-client"
    redeemed = [e for e in lab.trace if e.path == "/token"][-1]
    assert (redeemed.request_header("authorization") or "").startswith("Basic ")
    reasons = connection.records[3].learned["reasons"]
    assert reasons["preregistered"] == f"chosen: pre-registered credentials for {lab.issuer}"


@pytest.mark.parametrize(
    ("credentials", "method"),
    [
        (Credentials("desk-client"), "none"),
        (Credentials("desk-client", "s3cret", "client_secret_post"), "client_secret_post"),
    ],
    ids=["public", "secret-post"],
)
async def test_preregistered_credentials_keep_the_method_they_name(
    lab: Lab, credentials: Credentials, method: str
) -> None:
    # Only a secret without a method gets one chosen: a public client stays public, and a named
    # method is the one registered (RFC 7591 §2).
    lab.auth_server.preregister("desk-client", {"redirect_uris": ["https://app.example/callback"],
                                                "token_endpoint_auth_method": method}, credentials.client_secret)  # fmt: skip
    connection = await lab.connect("auto", preregistered={lab.issuer: credentials})
    assert connection.client.state.credentials is not None
    assert connection.client.state.credentials.token_endpoint_auth_method == method


@pytest.mark.parametrize(("revision", "deprecated"), [("2026-07-28", True), ("2025-11-25", False)])
async def test_step_4_says_dcr_is_deprecated_from_2026_07_28_on(lab: Lab, revision: str, deprecated: bool) -> None:
    client = await _run(lab, HostileServer(), 4, revision=revision)
    reason = client.records[-1].learned["reasons"]["dcr"]
    assert reason.startswith("chosen") and ("DCR is deprecated in 2026-07-28" in reason) == deprecated


@pytest.mark.parametrize(
    ("registered", "note"),
    [
        ({"client_secret": "s"}, "issued a client_secret without client_secret_expires_at"),
        ({"client_secret": "s", "client_secret_expires_at": 2_000_000_000}, "the client secret expires at 2000000000"),
        ({"token_endpoint_auth_method": "none"}, None),
        ({"client_secret": "s", "client_secret_expires_at": 0}, None),  # 0: it never expires
        ({"token_endpoint_auth_method": "none", "client_secret_expires_at": 5}, None),  # no secret to expire
    ],
    ids=["no-expiry", "expiry", "public", "never-expiring", "expiry-without-secret"],
)
async def test_step_4_notes_what_the_registration_response_says_of_its_secret(
    lab: Lab, registered: dict[str, object], note: str | None
) -> None:
    # RFC 7591 §3.2.1: client_secret_expires_at is REQUIRED with a secret.
    server = HostileServer(
        register=_json({"client_id": "c", "token_endpoint_auth_method": "client_secret_basic", **registered}, 201)
    )
    client = await _run(lab, server, 4)
    about_the_secret = [n for n in client.records[-1].notes if "secret" in n]
    assert about_the_secret == [] if note is None else len(about_the_secret) == 1 and note in about_the_secret[0]


async def test_a_registration_answered_200_not_201_fails_step_4(lab: Lab) -> None:
    # RFC 7591 §3.2.1: the server responds to a registration it made "with an HTTP 201 Created
    # status code"; any other answer is no registration, whatever its body holds.
    server = HostileServer(register=_json({"client_id": "c"}, 200))
    with pytest.raises(StepError, match=r"^step 4 \(client-id\): registration refused \(200 "):
        await _run(lab, server, 4)


async def test_step_4_quotes_the_registration_endpoint_and_client_id_a_server_gave_within_bounds(lab: Lab) -> None:
    # The AS's words (error_text.told): a 20 kB registration_endpoint and a 20 kB client_id went whole
    # into step 4's notes, and a second client's, which named what was stored.
    endpoint = f"{BASE}/register?" + "e" * 20_000
    server = HostileServer(as_metadata=_json(_metadata(registration_endpoint=endpoint)),
                           register=_json({"client_id": "c" * 20_000}, 201))  # fmt: skip
    store: dict[str, Credentials] = {}
    lab.network.add_host(HOST, "93.184.215.90", server.app())
    for _ in range(2):
        client = lab.client("auto", credential_store=store, client_metadata_url=None)
        client.mcp_url = f"{BASE}/mcp"
        for _ in range(4):
            await client.next_step()
        notes = client.records[3].notes
        assert any("registration_endpoint https://hostile.example/register?eee" in n for n in notes)
        assert all(len(n) < 1000 for n in notes) and len(client.records[3].explanation) < 1000
    assert any("(client_id ccc" in n and " [...] " in n for n in notes)  # the second found it stored


async def test_dcr_is_named_deprecated_only_when_the_client_registers_with_it() -> None:
    # A 2026-07-28 client that used CIMD says why DCR was not needed, and no more.
    async with Lab(revision="2026-07-28") as lab:
        connection = await lab.connect()
    reasons = connection.records[3].learned["reasons"]
    assert reasons["cimd"].startswith("chosen") and "deprecated" not in reasons["dcr"]


def test_the_client_registers_with_a_method_the_as_supports_a_public_one_preferring_none() -> None:
    # RFC 8414 §2: token_endpoint_auth_methods_supported, absent meaning client_secret_basic.
    offered = {"token_endpoint_auth_methods_supported": ["client_secret_post", "none"]}
    assert token_endpoint_auth_method(offered, public=True) == "none"
    assert token_endpoint_auth_method(offered, public=False) == "client_secret_post"
    assert token_endpoint_auth_method({}, public=True) == "client_secret_basic"


async def test_step_4_says_of_each_option_why_it_was_chosen_skipped_or_not_needed(lab: Lab) -> None:
    # MCP §5's priority: pre-registered, then stored, CIMD, DCR, and asking the user.
    store: dict[str, Credentials] = {}
    first = await lab.connect("dcr", credential_store=store)
    second = await lab.connect("auto", credential_store=store, client_metadata_url=None)
    issuer = lab.issuer
    assert first.records[3].learned["reasons"] == {
        "preregistered": f"skipped: no pre-registered credentials for {issuer}",
        "stored": f"skipped: nothing stored under {issuer}",
        "cimd": "not needed: the AS advertises CIMD and the client's document is at https://app.example/client.json",
        "dcr": f"chosen: the AS offers registration_endpoint {issuer}/register (DCR is deprecated in 2026-07-28, "
        "kept as the fallback)",
        "ask-user": "skipped: no callback to ask the user with",
    }
    assert second.records[3].learned["reasons"] == {
        "preregistered": f"skipped: no pre-registered credentials for {issuer}",
        "stored": f"chosen: credentials stored under {issuer} (client_id {first.client_id})",
        "cimd": "skipped: this client has no metadata document URL",
        "dcr": f"not needed: the AS offers registration_endpoint {issuer}/register",
        "ask-user": "skipped: no callback to ask the user with",
    }
    assert f"dcr: not needed: the AS offers registration_endpoint {issuer}/register" in second.records[3].notes


async def test_a_client_before_2025_11_25_registers_by_dcr_where_the_as_offers_cimd(lab: Lab) -> None:
    # CIMD arrived in MCP 2025-11-25: an older client does not present a URL as its client_id.
    client = lab.client("auto", revision="2025-06-18")
    await client.run_all()
    assert client.state.registration_method == "dcr"
    assert client.state.registration_reasons is not None
    assert client.state.registration_reasons["cimd"] == "skipped: MCP 2025-06-18 has no CIMD (it arrived in 2025-11-25)"


def test_credentials_without_a_secret_have_no_secret_to_expire() -> None:
    # RFC 7591 §3.2.1: client_secret_expires_at is the secret's; a public client never re-registers for it.
    assert not Credentials("c", None, "none", client_secret_expires_at=5).secret_expired(10)
    assert Credentials("c", "s", "client_secret_basic", client_secret_expires_at=5).secret_expired(5)


async def test_a_client_whose_document_names_a_method_the_as_does_not_list_registers_by_dcr() -> None:
    # MCP §5 asks only that the AS "indicates support" for CIMD, but this AS's token endpoint
    # takes neither this document's 'none' nor any method a document may name but private_key_jwt:
    # the client chose CIMD anyway, and the AS refused the document at step 5, DCR left untried.
    from lab_servers import ASCapabilities

    capabilities = ASCapabilities(token_endpoint_auth_methods=("private_key_jwt", "client_secret_basic"))
    async with Lab(seed=0, capabilities=capabilities) as lab:
        client = lab.client()
        await client.run_all()
        assert client.state.registration_method == "dcr"
        assert client.records[3].learned["reasons"]["cimd"] == (
            "skipped: the AS advertises CIMD, but the client's document authenticates with 'none', which the AS's "
            "token_endpoint_auth_methods_supported (private_key_jwt, client_secret_basic) does not list: the AS "
            "would refuse the document (RFC 8414 §2)"
        )
        assert client.state.credentials is not None
        assert client.state.credentials.token_endpoint_auth_method == "client_secret_basic"


def test_an_as_that_lists_no_auth_methods_takes_only_client_secret_basic_which_no_document_may_use() -> None:
    # RFC 8414 §2: an omitted list means client_secret_basic; CIMD §4.1: no document holds a secret.
    from lab_servers.client.registration_step import document_auth_method_problem

    problem = document_auth_method_problem({}, {"token_endpoint_auth_method": "none"})
    assert problem is not None and "means client_secret_basic alone (RFC 8414 §2)" in problem
    assert "the document's 'none' would be refused" in problem
    # The AS's list, quoted within bounds (error_text.told): 70,000 entries made a reason of 1 MB.
    many = {"token_endpoint_auth_methods_supported": ["client_secret_basic"] * 70_000}
    problem = document_auth_method_problem(many, {})
    assert problem is not None and len(problem) < 1000 and " [...] " in problem
    assert problem.endswith("does not list: the AS would refuse the document (RFC 8414 §2)")
    listed = {"token_endpoint_auth_methods_supported": ["none", "private_key_jwt"]}
    assert document_auth_method_problem(listed, {}) is None  # naming none: a public client, 'none'
    assert document_auth_method_problem(listed, {"token_endpoint_auth_method": "private_key_jwt"}) is None
