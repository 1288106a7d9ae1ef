"""`python -m lab_servers conformance-client`, the command the MCP conformance suite runs, says in
one line what went wrong, with a non-zero exit, when it cannot pass: the suite judges a client
by its requests and its exit code (a client that exits non-zero fails the scenario), and a person
reads its stderr. The scenarios themselves run in test_conformance.py (Node, the suite from npm)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lab_servers import DEFAULT_REVISION, REVISIONS, Revision, conformance
from lab_servers.conformance import run

pytestmark = pytest.mark.anyio

# Nothing listens on the discard port: a client that gets as far as step 1 fails there at once.
NOWHERE = "http://127.0.0.1:9/mcp"
ENTERPRISE = {
    "client_id": "c",
    "idp_token_endpoint": "http://127.0.0.1:9/token",
    "idp_id_token": "t",
    "idp_client_id": "i",
}


async def client_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **env: str
) -> tuple[int, str]:
    for name in ("MCP_CONFORMANCE_CONTEXT", "MCP_CONFORMANCE_SCENARIO", "MCP_CONFORMANCE_PROTOCOL_VERSION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"MCP_CONFORMANCE_{name}", value)
    code = await run(NOWHERE)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out + err


@pytest.mark.parametrize(
    ("context", "scenario", "said"),
    [
        ("{not json", "auth/pre-registration", "MCP_CONFORMANCE_CONTEXT is not JSON"),
        ('["client_id"]', "auth/pre-registration", "MCP_CONFORMANCE_CONTEXT is not a JSON object"),
        ('"client_id"', "auth/pre-registration", "MCP_CONFORMANCE_CONTEXT is not a JSON object"),
        ("{}", "auth/client-credentials-basic", "no client_id string, which auth/client-credentials-basic needs"),
        (json.dumps({**ENTERPRISE, "idp_token_endpoint": None}), "auth/enterprise-managed-authorization",
         "no idp_token_endpoint string"),
        (json.dumps({k: v for k, v in ENTERPRISE.items() if k != "client_id"}), "auth/enterprise-managed-authorization",
         "no client_id string"),
    ],
)  # fmt: skip
async def test_a_context_the_suite_does_not_document_is_named_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], context: str, scenario: str, said: str
) -> None:
    code, output = await client_run(monkeypatch, capsys, CONTEXT=context, SCENARIO=scenario)
    assert code == 2 and output.startswith("lab client: MCP_CONFORMANCE_CONTEXT ") and said in output


@pytest.mark.parametrize(
    ("scenario", "context"),
    [
        ("auth/metadata-default", None),
        (
            "auth/pre-registration",
            json.dumps({"name": "auth/pre-registration", "client_id": "c", "client_secret": "s"}),
        ),
        ("auth/client-credentials-basic", json.dumps({"client_id": "c", "client_secret": "s"})),
        ("auth/enterprise-managed-authorization", json.dumps(ENTERPRISE)),
    ],
)
async def test_a_step_that_fails_exits_1_and_says_which_step_and_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scenario: str, context: str | None
) -> None:
    # Discovery comes first in every scenario, and step 1's request finds no server: no step is
    # reported as ok, and the exit code fails the scenario.
    env = {"SCENARIO": scenario} | ({"CONTEXT": context} if context else {})
    code, output = await client_run(monkeypatch, capsys, **env)
    assert code == 1 and "lab client: step 1 (challenge): HTTP request to http://127.0.0.1:9/mcp failed" in output
    assert ": ok" not in output


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28", "2099-01-01", None])
async def test_the_client_runs_at_the_revision_the_suite_names_and_the_labs_default_for_one_it_does_not_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], version: str | None
) -> None:
    # The suite passes MCP_CONFORMANCE_PROTOCOL_VERSION and judges none of its scenarios by it:
    # with the variable ignored, all 47 client scenarios still passed. The revision decides what
    # the client sends (initialize or not, CIMD or not, the MCP-Protocol-Version header).
    made: list[Revision] = []

    class RecordingClient(conformance.LabClient):
        def __init__(self, *args: Any, revision: Revision, **kwargs: Any) -> None:
            made.append(revision)
            super().__init__(*args, revision=revision, **kwargs)

    monkeypatch.setattr(conformance, "LabClient", RecordingClient)
    await client_run(
        monkeypatch, capsys, SCENARIO="auth/metadata-default", **({"PROTOCOL_VERSION": version} if version else {})
    )
    expected = version if version in REVISIONS else DEFAULT_REVISION
    assert [r.version for r in made] == [expected]
