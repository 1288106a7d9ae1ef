"""FastMCP's client, a widely used Python MCP framework's, judges `python -m lab_servers serve` over
TLS — the README's "Point a FastMCP client at the lab", run as a test.

FastMCP (`fastmcp-slim[client]`, pinned with all it pulls in: `tests/judges/fastmcp-requirements.txt`)
lives in a venv of its own, `.cache/fastmcp` (`tests/pip_judge.py`): it wants its own `mcp`,
`httpx2` and `starlette`, and the lab's venv must stay what `requirements.txt` says. It runs as a
child process (`tests/judges/fastmcp_whoami.py`) that trusts the lab's CA by `SSL_CERT_FILE`, the
README's trust step for Python clients. Its `OAuth` helper opens the user's browser on the
authorize URL; the script prints the URL instead, and the lab's `Browser` plays the user: it opens
the URL, approves on the consent page and follows the redirect to FastMCP's loopback callback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from lab_servers import load_trace
from lab_servers.serve import serving
from lab_servers.trace import Exchange
from lab_servers.trace_file import TraceWriter, access_tokens
from lab_servers.views import sequence_diagram, show_token

from .consenting_user import approve, port_free
from .pip_judge import pip_venv
from .processes import reap

JUDGES = Path(__file__).resolve().parent / "judges"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "fastmcp"
CIMD_CALLBACK_PORT = 8765  # what the served /fastmcp-client.json lists (lab_servers/client_documents.py)

pytestmark = [pytest.mark.conformance, pytest.mark.anyio]


@pytest.fixture(scope="module")
def fastmcp_python() -> Path:
    return pip_venv(CACHE, JUDGES / "fastmcp-requirements.txt")


async def fastmcp_whoami(
    python: Path, served: Any, home: Path, *extra: str, consent: bool | None = True
) -> tuple[dict[str, Any], str]:
    """FastMCP's `Client(mcp_url, auth=OAuth(…)).call_tool("whoami")` in its own venv, the lab's
    browser approving the consent page (`consent=False`: a run that must not ask for one; None:
    either). Returns what the script printed as whoami's answer and everything it printed."""
    assert served.ca is not None
    home.mkdir(parents=True, exist_ok=True)
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}  # the lab stays out of it
    env |= {
        "HOME": str(home),  # whatever FastMCP keeps under ~ (settings, caches): a fresh one per run
        "SSL_CERT_FILE": str(served.ca.ca_certificate),  # the README's trust step for Python clients
        "NO_PROXY": "127.0.0.1,localhost",  # a proxy in the environment cannot reach loopback
    }
    process = await asyncio.create_subprocess_exec(
        str(python), str(JUDGES / "fastmcp_whoami.py"), served.mcp_url, *extra,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    printed = b""
    try:
        while (match := re.search(rb"Please navigate to: (\S+)", printed)) is None:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            if not line:
                break
            printed += line
        if match is not None:
            assert consent is not False, f"FastMCP asked the user for consent again:\n{printed.decode()}"
            redirect, landed = await approve(served, match.group(1).decode(), listener_may_lag=True)
            assert landed.status_code == 200, (redirect.location, landed.status_code, landed.text[:500])
        rest, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        await reap(process)
    output = (printed + rest).decode()
    assert process.returncode == 0, output[-4000:]
    assert consent is not True or match is not None, f"FastMCP asked the user to open no authorize URL:\n{output}"
    answer = json.loads(output[output.rindex("WHOAMI ") + len("WHOAMI ") :].splitlines()[0])
    return answer, output


def mcp_methods(exchanges: list[Exchange], served: Any) -> list[str]:
    """The JSON-RPC methods FastMCP sent to the MCP server, in order, each with its status. A
    served trace holds the body the app read, and a 401 is sent unread: there the method is the
    `Mcp-Method` field a 2026-07-28 request carries (SEP-2243)."""
    methods = []
    for exchange in exchanges:
        if exchange.url == served.mcp_url:
            body = json.loads(exchange.request_body) if exchange.request_body else {}
            method = body.get("method") or exchange.request_header("mcp-method") or exchange.method
            methods.append(f"{method} → {exchange.status}")
    return methods


async def test_fastmcp_registers_by_dcr_reuses_its_tokens_then_links_by_cimd_over_tls(
    fastmcp_python: Path, tmp_path: Path
) -> None:
    if not port_free(CIMD_CALLBACK_PORT):
        pytest.fail(f"port {CIMD_CALLBACK_PORT} (the FastMCP document's callback) is in use")
    writer = TraceWriter(tmp_path / "fastmcp.jsonl")  # what `serve --trace-file` does
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", on_exchange=writer.write
    ) as served:
        tokens = str(tmp_path / "tokens")
        dcr, dcr_output = await fastmcp_whoami(fastmcp_python, served, tmp_path / "home", "--token-dir", tokens)
        after_dcr = len(served.lab.trace)
        again, again_output = await fastmcp_whoami(
            fastmcp_python, served, tmp_path / "home", "--token-dir", tokens, consent=False
        )
        after_again = len(served.lab.trace)
        document = f"{served.documents_origin}/fastmcp-client.json"
        cimd, cimd_output = await fastmcp_whoami(
            fastmcp_python, served, tmp_path / "cimd-home",
            "--client-metadata-url", document, "--callback-port", str(CIMD_CALLBACK_PORT),
        )  # fmt: skip
        trace = list(served.lab.trace)
    print("DCR run printed:\n" + dcr_output + "\nsecond run:\n" + again_output + "\nCIMD run:\n" + cimd_output)
    # DCR (RFC 7591): a server-minted id; the token is for the MCP server alone (RFC 8707, MCP §10).
    assert dcr["claims"]["client_id"].startswith("tpc_") and dcr["claims"]["aud"] == served.mcp_url, dcr
    # FastMCP's default `mode="auto"` probes `server/discover` at 2026-07-28, which `serve` speaks.
    assert dcr["protocol_version"] == "2026-07-28" == again["protocol_version"] == cimd["protocol_version"]
    # Its first request is refused for want of a token (MCP §4: the 401 starts discovery); with
    # the token, every request is answered.
    first = mcp_methods(trace[:after_dcr], served)
    assert first[:2] == ["server/discover → 401", "server/discover → 200"], first
    assert all(m.endswith("→ 200") for m in first[1:]), first
    # The second connection, a new process, reads the stored registration and token: no new
    # registration, no authorization request, no token request; the same client calls whoami.
    second = [e.path for e in trace[after_dcr:after_again]]
    assert not {"/register", "/authorize", "/token"} & set(second), second
    assert again["claims"]["client_id"] == dcr["claims"]["client_id"]
    reused = mcp_methods(trace[after_dcr:after_again], served)
    assert reused[0] == "server/discover → 200" and all(m.endswith("→ 200") for m in reused), reused
    # CIMD: the document's URL is the client_id (CIMD §3), fetched by the AS, never registered.
    assert cimd["claims"]["client_id"] == document and cimd["claims"]["aud"] == served.mcp_url, cimd
    third = [e.path for e in trace[after_again:]]
    assert "/fastmcp-client.json" in third and "/register" not in third, third
    assert [e.path for e in trace].count("/register") == 1
    writer.close()
    saved = load_trace(tmp_path / "fastmcp.jsonl")  # FastMCP's handshakes, drawn like the lab client's
    assert [e.path for e in saved] == [e.path for e in trace] and "sequenceDiagram" in sequence_diagram(saved).mermaid
    # Two tokens were issued, not three: the second run sent the first run's.
    issued = [show_token(token).claims["client_id"] for token in access_tokens(saved)]
    assert issued == [dcr["claims"]["client_id"], document], issued


async def test_fastmcp_refreshing_a_reloaded_token_sends_it_to_the_mcp_server_which_refuses_it(
    fastmcp_python: Path, tmp_path: Path
) -> None:
    """A FastMCP deviation, pinned: a token reloaded from storage after its lifetime is refreshed
    at `<MCP origin>/token`, not at the AS. FastMCP keeps the token and the client's registration
    but not the AS metadata, and the SDK's `OAuthClientProvider` (mcp 2.3.0) then takes the token
    endpoint to be `/token` at the MCP server's origin, the default endpoint MCP 2025-03-26 §2.3.3
    allowed only for a server with no AS metadata at its own origin. This server's PRM names
    another AS (RFC 9728), whose metadata gives the token endpoint (RFC 8414 §2; OAuth 2.1 §4.3:
    a refresh request goes to the token endpoint), and a client MUST keep refresh tokens
    confidential (MCP 2026-07-28, authorization, "Refresh tokens"): this one reaches the resource
    server. The lab's MCP server is right to answer 404 (it has no such endpoint and takes no
    token there); FastMCP then starts over, and the user is asked to consent again."""
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls") as served:
        tokens = str(tmp_path / "tokens")
        first, _ = await fastmcp_whoami(fastmcp_python, served, tmp_path / "home", "--token-dir", tokens)
        before = len(served.lab.trace)
        later, output = await fastmcp_whoami(
            fastmcp_python, served, tmp_path / "home", "--token-dir", tokens, "--stored-token-expired", consent=None
        )
        trace = list(served.lab.trace)[before:]
    print(output)
    mcp_origin = served.mcp_url.removesuffix("/mcp")
    stray = [e for e in trace if e.url == f"{mcp_origin}/token"]
    assert [(e.method, e.status) for e in stray] == [("POST", 404)], [e.summary() for e in trace]
    assert "no endpoint at /token" in stray[0].response_body
    # Nothing was refreshed at the AS; the stored registration was reused, through consent again.
    at_the_as = [e for e in trace if e.url.startswith(served.issuer)]
    assert not any("grant_type=refresh_token" in e.request_body for e in at_the_as)
    assert [e.path for e in at_the_as if e.method == "POST"] == ["/authorize/decision", "/token"]
    assert later["claims"]["client_id"] == first["claims"]["client_id"] and later["claims"]["aud"] == served.mcp_url


async def test_fastmcp_falls_back_to_initialize_against_a_2025_11_25_server(
    fastmcp_python: Path, tmp_path: Path
) -> None:
    """`serve --revision 2025-11-25`: FastMCP's default probe of the newest revision is refused as
    that revision says, and it connects by `initialize`, the era before."""
    async with serving(
        mcp_port=0, as_port=0, documents_port=0, tls_directory=tmp_path / "tls", revision="2025-11-25"
    ) as served:
        answer, output = await fastmcp_whoami(fastmcp_python, served, tmp_path / "home")
        methods = mcp_methods(list(served.lab.trace), served)
    print(output)
    assert answer["claims"]["client_id"].startswith("tpc_") and answer["claims"]["aud"] == served.mcp_url, answer
    # The probe at 2026-07-28 gets what a 2025-11-25 server owes "an invalid or unsupported
    # MCP-Protocol-Version" (2025-11-25 transports, "Protocol Version Header": 400 Bad Request);
    # FastMCP then falls back to the initialize handshake and speaks 2025-11-25.
    assert answer["protocol_version"] == "2025-11-25"
    authorized = methods[methods.index("server/discover → 401") + 1 :]
    assert authorized[:3] == ["server/discover → 400", "initialize → 200", "notifications/initialized → 202"], methods
