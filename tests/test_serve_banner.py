"""`serve`'s banner promises only what the served AS accepts: for every combination of
`--revision`, `--no-cimd` and `--dcr`, each way it lists under "Client ids you can use" works
against the running AS, and each way the AS refuses is named as refused (ASCapabilities are
advertised and enforced, so the banner must say the same)."""

from __future__ import annotations

import itertools
from pathlib import Path

import httpx
import pytest

from lab_servers.authorization_server import NAIVE, ASCapabilities
from lab_servers.serve import ServedLab, serving
from lab_servers.serve_console import banner

from .serve_helpers import authorization_page, served, tls_dir, trusting

pytestmark = pytest.mark.anyio
__all__ = ["tls_dir"]  # the session fixture, shared from serve_helpers.py
COMBINATIONS = list(
    itertools.product(["2025-06-18", "2025-11-25", "2026-07-28"], [False, True], ["open", "closed", "removed"])
)


def usable_section(text: str) -> list[str]:
    lines = text.splitlines()
    if "Client ids you can use:" not in lines:
        return []
    start = lines.index("Client ids you can use:") + 1
    return lines[start : lines.index("", start)]


async def cimd_works(served_lab: ServedLab, http: httpx.AsyncClient, client_id: str, redirect_uri: str) -> bool:
    response = await authorization_page(served_lab, http, client_id, redirect_uri)
    return response.status_code == 200 and 'name="txn"' in response.text  # the consent page, not an error page


@pytest.mark.parametrize(
    ("revision", "no_cimd", "dcr"), COMBINATIONS, ids=["-".join(map(str, c)) for c in COMBINATIONS]
)
async def test_the_banner_lists_as_usable_exactly_the_client_ids_the_served_as_accepts(
    tls_dir: Path, revision: str, no_cimd: bool, dcr: str
) -> None:
    # What `python -m lab_servers serve --revision … [--no-cimd] --dcr …` builds (__main__.py).
    capabilities = ASCapabilities.for_revision(revision).but(**({"cimd": False} if no_cimd else {}), dcr=dcr)
    async with served(tls_dir, revision=revision, capabilities=capabilities) as lab:
        text = banner(lab, seed=None, trace_file=None)
        usable = "\n".join(usable_section(text))
        async with httpx.AsyncClient(verify=trusting(tls_dir)) as http:
            registered = await http.post(f"{lab.issuer}/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]})
            document = lab.client_ids[0][0]
            redirect_uri = "http://127.0.0.1:6274/oauth/callback"  # inspector-web.json's
            assert document.endswith("/inspector-web.json")
            cimd_accepted = await cimd_works(lab, http, document, redirect_uri)
            metadata = (await http.get(f"{lab.issuer}/.well-known/oauth-authorization-server")).json()
            refusal = await http.get(
                f"{lab.issuer}/authorize?client_id={document}", headers={"Accept": "application/json"}
            )
    dcr_accepted = registered.status_code == 201
    assert dcr_accepted == (dcr == "open") and cimd_accepted == (revision != "2025-06-18" and not no_cimd)
    # Listed as usable if and only if the AS accepts it.
    assert ("/register" in usable) == dcr_accepted, text
    assert all((client_id in usable) == cimd_accepted for client_id, _ in lab.client_ids), text
    if not dcr_accepted:
        assert f"DCR is {dcr}" in text and str(registered.status_code) in text  # 403 closed, 404 removed
    if dcr == "closed":
        # What a client meets: no registration_endpoint to try (RFC 8414 §2), and a 403 if it tries.
        assert "registration_endpoint" not in metadata and "no registration_endpoint in the metadata" in text
    if not cimd_accepted:
        assert "CIMD is off" in text and ("predates CIMD" if revision == "2025-06-18" else "--no-cimd") in text
        # The banner names the refusal the AS gives a document URL.
        assert refusal.json()["error"] == "invalid_client" and "invalid_client naming CIMD" in text
        assert "Client ID Metadata Documents" in refusal.json()["error_description"]
    if not dcr_accepted and not cimd_accepted:
        assert "NO OUTSIDE CLIENT CAN GET A CLIENT ID FROM THIS AS" in text and not usable
        # The way out it names is the one that works for this revision.
        assert ("serve --revision 2025-11-25 or later" if revision == "2025-06-18" else "drop --no-cimd.") in text


async def test_an_as_whose_methods_no_document_may_name_lists_cimd_as_refused_and_refuses_it(tls_dir: Path) -> None:
    # CIMD on, but only client_secret_post offered: a document may name no shared secret (CIMD -02
    # §4.1), so the AS can take no CIMD client, neither advertises nor accepts one, and says so.
    capabilities = ASCapabilities.for_revision("2025-11-25").but(token_endpoint_auth_methods=("client_secret_post",))
    async with served(tls_dir, revision="2025-11-25", capabilities=capabilities) as lab:
        text = banner(lab, seed=None, trace_file=None)
        async with httpx.AsyncClient(verify=trusting(tls_dir)) as http:
            document = lab.client_ids[0][0]
            assert not await cimd_works(lab, http, document, "http://127.0.0.1:6274/oauth/callback")
    assert all(client_id not in "\n".join(usable_section(text)) for client_id, _ in lab.client_ids), text
    assert "CIMD is off" in text and "none or private_key_jwt: CIMD -02 §4.1" in text
    assert "(served, but this AS refuses them as client ids)" in text


async def test_the_banner_says_how_the_lab_is_served_seeded_and_saved(tls_dir: Path, tmp_path: Path) -> None:
    # MCP §11.3: the AS needs HTTPS, so plain HTTP is announced; a seed lets anyone mint tokens.
    async with served(tls_dir) as lab:
        async with httpx.AsyncClient(
            verify=trusting(tls_dir)
        ) as http:  # a stranger's DCR client is no pre-registered one
            body = {"redirect_uris": ["http://127.0.0.1:6274/cb"], "token_endpoint_auth_method": "none"}
            minted = (await http.post(f"{lab.issuer}/register", json=body)).json()["client_id"]
        seeded = banner(lab, seed=7, trace_file=tmp_path / "t.jsonl")
        fresh = banner(lab, seed=None, trace_file=None)
        assert lab.ca is not None and lab.ca.trust_instructions() in fresh and minted not in fresh
        # RFC 8707 §2.1: an AS MAY process a request without `resource` "by using a predefined
        # default resource value"; the served AS does (serve.served_policy), and the banner says
        # so, naming that rule, not as a choice against it.
        assert lab.lab.policy.default_to_single_resource
        assert "default_to_single_resource=True" in fresh and "RFC 8707 §2.1's predefined default" in fresh
    assert fresh.endswith("every exchange is printed below. Ctrl-C stops.\n")
    assert "PLAIN HTTP" not in fresh and "(served, but this AS refuses" not in fresh
    assert "SEEDED with 7 (anyone with the seed can mint tokens)" in seeded and "fresh system randomness" in fresh
    assert f"saved to {tmp_path / 't.jsonl'} (load it with lab_servers.load_trace)" in seeded
    assert "load_trace" not in fresh and "listening on every interface" not in fresh  # served on loopback
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls=False) as plain:
        assert "PLAIN HTTP (--http)" in banner(plain, seed=None, trace_file=None)


async def test_over_plain_http_the_as_neither_advertises_nor_lists_cimd_whose_urls_must_be_https() -> None:
    # CIMD -02 §3: a client_id URL MUST use https; the hardened AS refuses an http one before any
    # fetch, so its documents host's http URLs are no client ids, and the metadata must not say
    # CIMD works (a client prefers it when advertised, MCP §5). The naive policy takes them.
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls=False) as plain:
        text = banner(plain, seed=None, trace_file=None)
        usable = text.split("Client ids you can use:")[1].split("Refused by this AS:")[0]
        assert "CIMD" not in usable and "/sdk-client.json" not in usable
        assert "CIMD is off" in text and "--http: a client_id URL MUST be https" in text
        assert "(served, but this AS refuses them as client ids)" in text
        assert "client_id_metadata_document_supported" not in plain.lab.auth_server.metadata()
    async with serving(mcp_port=0, as_port=0, documents_port=0, tls=False, policy=NAIVE) as naive:
        assert naive.lab.auth_server.metadata()["client_id_metadata_document_supported"] is True
        assert "/sdk-client.json" in banner(naive, seed=None, trace_file=None).split("Refused")[0]
