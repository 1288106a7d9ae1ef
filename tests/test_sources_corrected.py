"""The talk's and the article's claims, run: where the article is wrong, and the talk's point about
short-lived agents (lab_servers.security.article_server, lab_servers.security.one_agent)."""

from __future__ import annotations

import pytest

from lab_servers import HARDENED, NAIVE, Lab
from lab_servers.client import StepError
from lab_servers.security import run_one_agent
from lab_servers.security.article_server import ARTICLE_MCP_URL, add_article_server, client_for, strict_reading

pytestmark = pytest.mark.anyio
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}


async def test_a_request_without_credentials_gets_no_error_code_from_the_lab_but_unauthorized_from_the_article() -> (
    None
):
    lab = Lab(seed=0)
    add_article_server(lab)
    http = lab.httpx_client("you")
    ours = (await http.post(lab.mcp_url, json=INITIALIZE)).headers["WWW-Authenticate"]
    theirs = (await http.post(ARTICLE_MCP_URL, json=INITIALIZE)).headers["WWW-Authenticate"]
    assert "error=" not in ours and strict_reading(ours).startswith("no error code")
    assert 'error="unauthorized"' in theirs and "not an RFC 6750 error code" in strict_reading(theirs)


# Each reading by its start: "refused" alone also appears in the unknown code's reading ("a missing
# token from a refused one"), so invalid_token read as an unknown code passed.
@pytest.mark.parametrize(("error", "reading"), [("invalid_token", "the token was refused"), ("insufficient_scope", "step-up:"),
                                                ("invalid_request", "the request was malformed"),
                                                ("unauthorized_client", "error='unauthorized_client' is not an RFC 6750")])  # fmt: skip
def test_a_strict_client_knows_exactly_the_three_rfc6750_codes(error: str, reading: str) -> None:
    assert strict_reading(f'Bearer error="{error}", resource_metadata="https://x.example/prm"').startswith(reading)


async def test_the_articles_server_refuses_a_token_its_own_check_rejects() -> None:
    # Its issuer-only check still verifies a signature: a forged token gets 401 invalid_token
    # (RFC 6750 §3.1); only the audience goes unchecked.
    lab = Lab(seed=0)
    add_article_server(lab)
    response = await lab.httpx_client("you").post(
        ARTICLE_MCP_URL, json=INITIALIZE, headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert (response.status_code, response.json()) == (401, {"error": "invalid_token"})
    assert strict_reading(response.headers["WWW-Authenticate"]).startswith("the token was refused")


def test_a_challenge_without_bearer_is_not_an_oauth_challenge() -> None:
    assert "not an OAuth-protected" in strict_reading('Basic realm="x"')


async def test_prm_naming_the_origin_for_a_server_at_a_path_fails_rfc9728_section_3_3() -> None:
    lab = Lab(seed=0)
    add_article_server(lab)
    with pytest.raises(StepError) as failure:
        await client_for(lab, ARTICLE_MCP_URL).run_all()
    assert failure.value.number == 2 and "RFC 9728 §3.3" in failure.value.reason


async def test_an_issuer_only_check_accepts_a_token_minted_for_another_resource() -> None:
    lab = Lab(seed=0)
    add_article_server(lab)
    token = (await lab.connect("cimd")).access_token
    response = await lab.httpx_client("you").post(
        ARTICLE_MCP_URL, json=INITIALIZE, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.json()["result"]["accepted_token_for"]["aud"] == lab.mcp_url


async def test_the_lab_server_refuses_a_token_whose_audience_is_another_server() -> None:
    lab = Lab(seed=0)
    add_article_server(lab, prm_resource=ARTICLE_MCP_URL)
    client = client_for(lab, ARTICLE_MCP_URL)
    for step in (client.request_without_token, client.discover_resource_metadata, client.discover_authorization_server,
                 client.get_client_id, client.authorize, client.exchange_code):  # fmt: skip
        await step()
    response = await lab.httpx_client("you").post(
        lab.mcp_url, json=INITIALIZE, headers={"Authorization": f"Bearer {client.state.access_token}"}
    )
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "audience 'https://article.example/mcp'" in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("policy", [NAIVE, HARDENED], ids=["naive", "hardened"])
async def test_short_lived_runs_of_one_agent_are_a_record_each_with_dcr_and_one_cache_entry_with_cimd(
    policy: object,
) -> None:
    result = await run_one_agent(policy, 30, minutes_apart=1)  # type: ignore[arg-type]
    last = result.details["points"][-1]
    assert (last.dcr_records, result.details["dcr_client_ids"]) == (30, 30)
    assert (last.cimd_records, last.cimd_cached) == (0, 1)
    assert result.details["fetches"] == 6, "the document is fetched again only when max-age=300 has run out"


async def test_a_registration_cap_refuses_installs_of_an_agent_it_already_knows() -> None:
    result = await run_one_agent(HARDENED.but(max_registrations=10), 15, what="installs")
    last = result.details["points"][-1]
    assert (last.dcr_records, last.dcr_refused, last.cimd_cached) == (10, 5, 1)


def test_a_response_without_a_challenge_reads_as_none_and_a_wrong_value_is_named() -> None:
    # response.headers.get("WWW-Authenticate") of an answer without the header is None: a client
    # then has no Bearer challenge to follow (MCP §4.2), which is what the reading says; no TypeError.
    assert strict_reading(None).startswith("no Bearer challenge")
    with pytest.raises(TypeError, match="strict_reading takes the WWW-Authenticate header"):
        strict_reading(b"Bearer")  # type: ignore[arg-type]
