"""`python -m lab_servers serve --revision`: the served lab follows the MCP revision it is given (its
AS too, with the revision's capabilities or those the options name), and the lab client of that
revision completes the handshake; 2025-03-26, whose AS lives at the MCP origin, is not served."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from lab_servers.client import Browser
from lab_servers.serve_console import banner

from .serve_helpers import served, tls_dir, trusting

__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py
pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25", "2026-07-28"])
async def test_a_served_lab_follows_its_revision_and_the_lab_client_of_that_revision_completes_the_handshake(
    tls_dir: Path, version: str
) -> None:
    from lab_servers.client import LabClient
    from lab_servers.determinism import SeededIds
    from lab_servers.lab import default_client_metadata

    async with served(tls_dir, revision=version) as lab:
        assert lab.lab.revision.version == version
        assert lab.lab.auth_server.capabilities.revision == version  # the AS follows it too
        assert f"MCP revision          {version}" in banner(lab, seed=None, trace_file=None)
        verify = trusting(tls_dir)
        async with httpx.AsyncClient(verify=verify) as http, httpx.AsyncClient(verify=verify) as browser_http:
            client = LabClient(
                lab.mcp_url, http=http, browser=Browser(browser_http), trace=lab.lab.trace,
                ids=SeededIds(f"serve-rev:{version}"), method="dcr", client_metadata=default_client_metadata(),
                client_metadata_url=None, revision=version,
            )  # fmt: skip
            await client.run_all()
        trace = lab.lab.trace
    assert client.state.whoami is not None and client.state.whoami["aud"] == lab.mcp_url
    assert client.state.whoami["client_id"].startswith("tpc_")
    to_mcp = [e for e in trace if urlsplit(e.url).path == "/mcp" and e.method == "POST"]
    methods = [json.loads(e.request_body).get("method") for e in to_mcp if e.request_body]
    if version == "2026-07-28":
        # 2026-07-28 Streamable HTTP: no initialize; every POST names its protocol version.
        assert "initialize" not in methods
        assert {e.request_header("MCP-Protocol-Version") for e in to_mcp} == {"2026-07-28"}
    else:
        assert methods[0] == "initialize"


async def test_2025_03_26_is_refused_in_served_mode_because_its_as_lives_at_the_mcp_origin(tls_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"2025-03-26 is not served: .*MCP server.s origin"):
        async with served(tls_dir, revision="2025-03-26"):
            pass
    with pytest.raises(ValueError, match="unknown MCP revision"):
        async with served(tls_dir, revision="2024-11-05"):
            pass


def test_the_command_line_passes_revision_through_and_defaults_to_the_labs_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lab_servers.serve_console as serve_module
    from lab_servers.__main__ import main
    from lab_servers.revisions import DEFAULT_REVISION

    received: list[dict[str, Any]] = []

    async def record(**options: Any) -> None:
        received.append(options)

    monkeypatch.setattr(serve_module, "serve_until_interrupted", record)
    assert main(["serve"]) == 0
    assert main(["serve", "--revision", "2025-11-25"]) == 0
    assert [options["revision"] for options in received] == [DEFAULT_REVISION, "2025-11-25"]
    with pytest.raises(SystemExit) as refused:
        main(["serve", "--revision", "2025-03-26"])
    assert refused.value.code == 2
    assert "invalid choice: '2025-03-26'" in capsys.readouterr().err


async def test_a_served_as_without_cimd_and_with_dcr_closed_advertises_and_enforces_both(tls_dir: Path) -> None:
    from lab_servers.authorization_server import ASCapabilities

    capabilities = ASCapabilities.for_revision("2025-11-25").but(cimd=False, dcr="closed")
    async with served(tls_dir, revision="2025-11-25", capabilities=capabilities) as lab:
        assert "AS capabilities: cimd=False, dcr='closed'" in banner(lab, seed=None, trace_file=None)
        async with httpx.AsyncClient(verify=trusting(tls_dir)) as http:
            metadata = (await http.get(f"{lab.issuer}/.well-known/oauth-authorization-server")).json()
            registered = await http.post(f"{lab.issuer}/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]})
    assert "client_id_metadata_document_supported" not in metadata
    assert "registration_endpoint" not in metadata
    assert registered.status_code == 403 and registered.json()["error"] == "access_denied"


def test_the_command_line_maps_no_cimd_and_dcr_onto_the_revisions_capabilities(monkeypatch: pytest.MonkeyPatch) -> None:
    import lab_servers.serve_console as serve_module
    from lab_servers.__main__ import main
    from lab_servers.authorization_server import ASCapabilities

    received: list[dict[str, Any]] = []

    async def record(**options: Any) -> None:
        received.append(options)

    monkeypatch.setattr(serve_module, "serve_until_interrupted", record)
    assert main(["serve"]) == 0
    assert main(["serve", "--revision", "2025-11-25", "--no-cimd", "--dcr", "removed"]) == 0
    assert received[0]["capabilities"] is None  # the revision's own defaults, as in Lab(revision=…)
    assert received[1]["capabilities"] == ASCapabilities.for_revision("2025-11-25").but(cimd=False, dcr="removed")
