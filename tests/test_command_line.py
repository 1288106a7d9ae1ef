"""`python -m lab_servers demo` (what `make demo` runs), and what the command line prints on a
console that cannot show every character."""

from __future__ import annotations

import io
import json
import ssl
import sys
from pathlib import Path

import httpx
import pytest

from lab_servers.__main__ import main
from lab_servers.serve_process import served_process


def test_the_demo_shows_one_server_and_two_identities_a_registered_one_and_a_linked_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    dcr, cimd = result["connections"]["dcr"], result["connections"]["cimd"]
    assert dcr["client_id"].startswith("tpc_") and cimd["client_id"].startswith("https://")
    assert dcr["aud"] == cimd["aud"] == result["mcp_server"]


def test_the_demo_on_a_console_that_cannot_show_a_dash_prints_it_as_an_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows' legacy code pages once output is redirected, or an ASCII PYTHONIOENCODING: the
    # demo's first line has an em dash, and the demo used to stop there with UnicodeEncodeError.
    console = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", console)
    assert main(["demo"]) == 0
    console.flush()
    printed = console.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]
    assert printed.startswith("Same server, two identities \\u2014 both connections call whoami")


@pytest.mark.slow  # a served process
def test_serve_on_such_a_console_prints_its_banner_and_each_exchange_as_escapes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONIOENCODING", "ascii")
    with served_process("--tls-dir", str(tmp_path)) as server:
        trusted = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with httpx.Client(verify=trusted) as http:
            assert http.get(f"{server.issuer}/.well-known/oauth-authorization-server").status_code == 200
    assert "the AS mints tpc_\\u2026 at POST" in server.log
    assert "GET /.well-known/oauth-authorization-server \\u2192 200" in server.log
    assert "Traceback" not in server.log and "UnicodeEncodeError" not in server.log
