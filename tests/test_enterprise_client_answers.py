"""The lab client's `id-jag` step (ext-auth §4: RFC 8693 token exchange at the enterprise IdP)
against an IdP that answers with something other than an ID-JAG: each is a step failure naming
the rule, never a token the client goes on to present at the AS."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from lab_servers import Lab
from lab_servers.client import StepError

from .hostile_server import BASE, HostileServer, _json, _run

pytestmark = pytest.mark.anyio
ID_JAG = "urn:ietf:params:oauth:token-type:id-jag"


async def request_id_jag_at(lab: Lab, idp_answer: object, secret: str | None = "s3cret") -> object:
    """Discovery at the hostile host (steps 1-3), then the id-jag step at its token endpoint."""
    client = await _run(lab, HostileServer(token=idp_answer), 3)
    return await client.request_id_jag(f"{BASE}/token", "an-id-token", "enterprise-client", secret)


@pytest.mark.parametrize(
    "answer",
    [
        {
            "access_token": "opaque",
            "token_type": "Bearer",
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        },
        {"access_token": "opaque", "token_type": "N_A"},
        {"access_token": 42, "token_type": "N_A", "issued_token_type": ID_JAG},
    ],
    ids=["an-access-token", "no-issued-token-type", "a-number-for-the-token"],
)
async def test_an_idp_that_issues_no_id_jag_fails_the_step(lab: Lab, answer: dict) -> None:
    # RFC 8693 §2.2.1: issued_token_type is REQUIRED and says what access_token is; the client asked
    # for an ID-JAG (requested_token_type) and has no use for anything else.
    with pytest.raises(StepError, match=r"not an ID-JAG \(RFC 8693 §2\.2\.1\)"):
        await request_id_jag_at(lab, _json(answer))


@pytest.mark.parametrize("status", [200, 400])
@pytest.mark.parametrize(
    ("body", "named"),
    [("<html>sign in again</html>", r"is not valid JSON .*\(RFC 8259\)"), ("[]", r"RFC 8693 §2\.2\.1, §2\.2\.2")],
    ids=["html", "an-array"],
)
async def test_an_idp_answer_that_is_no_json_object_fails_the_step_naming_the_rule(
    lab: Lab, status: int, body: str, named: str
) -> None:
    with pytest.raises(StepError, match=r"the IdP's token exchange response .*" + named):
        await request_id_jag_at(lab, _json(body, status, "text/html" if body.startswith("<") else "application/json"))


async def test_an_idp_refusal_fails_the_step_quoting_its_error(lab: Lab) -> None:
    refusal = _json({"error": "invalid_grant", "error_description": "the user left the company"}, 400)
    with pytest.raises(StepError, match="the IdP answered 400 invalid_grant: the user left the company"):
        await request_id_jag_at(lab, refusal)


async def test_a_client_without_an_idp_secret_names_itself_in_the_form_and_sends_no_basic_credentials(
    lab: Lab,
) -> None:
    # RFC 6749 §2.3.1 / RFC 8693 §2.1: a client with no secret at the IdP identifies itself by
    # client_id in the body; one with a secret uses HTTP Basic (ext-auth §7.7).
    await request_id_jag_at(
        lab, _json({"access_token": "a.b.c", "token_type": "N_A", "issued_token_type": ID_JAG}), None
    )
    exchange = next(e for e in lab.trace.exchanges if e.path == "/token")
    assert parse_qs(exchange.request_body)["client_id"] == ["enterprise-client"]
    assert exchange.request_header("authorization") is None
