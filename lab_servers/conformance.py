"""The lab client as a command the MCP conformance suite can run against its mock servers:

    npx @modelcontextprotocol/conformance client --suite auth \\
        --command ".venv/bin/python -m lab_servers conformance-client"

The suite appends the server URL, and passes pre-registered credentials, when a scenario has
them, in MCP_CONFORMANCE_CONTEXT. Here the client runs on a real socket (the suite's mock
servers listen on http://localhost), so nothing of the lab network is used.
"""

from __future__ import annotations

import json
import os
import sys

import httpx

from .client import Browser, Credentials, LabClient, StepError
from .client.registration_step import token_endpoint_auth_method
from .determinism import SystemIds
from .revisions import REVISIONS, revision
from .trace import Trace, printable

# The suite's CIMD scenario expects exactly this client_id (its mock AS does not fetch it).
CONFORMANCE_CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"
REDIRECT_URI = "http://localhost:3000/callback"
# What each kind of scenario reads from MCP_CONFORMANCE_CONTEXT (a JSON object of strings).
ENTERPRISE_FIELDS = ("client_id", "idp_token_endpoint", "idp_id_token", "idp_client_id")
CLIENT_CREDENTIALS_FIELDS = ("client_id",)


class ContextError(ValueError):
    """MCP_CONFORMANCE_CONTEXT is not what the suite documents: said in one line, not a traceback."""


def read_context(text: str | None, scenario: str) -> dict[str, str]:
    """The suite's MCP_CONFORMANCE_CONTEXT (absent: {}), with the fields `scenario` needs."""
    try:
        context = json.loads(text or "{}")
    except ValueError as exc:
        raise ContextError(f"MCP_CONFORMANCE_CONTEXT is not JSON: {exc}") from None
    if not isinstance(context, dict):
        raise ContextError(f"MCP_CONFORMANCE_CONTEXT is not a JSON object: {printable(text or '')[:200]}")
    needed = (
        CLIENT_CREDENTIALS_FIELDS if scenario.startswith("auth/client-credentials")
        else ENTERPRISE_FIELDS if "idp_id_token" in context
        else ()
    )  # fmt: skip
    for name in needed:
        if not isinstance(context.get(name), str):
            raise ContextError(
                f"MCP_CONFORMANCE_CONTEXT has no {name} string, which {scenario or 'the scenario'} needs"
            )
    return context


async def run(server_url: str) -> int:
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    try:
        context = read_context(os.environ.get("MCP_CONFORMANCE_CONTEXT"), scenario)
    except ContextError as error:
        print(f"lab client: {error}", file=sys.stderr)
        return 2
    # The suite says which spec version the scenario runs at; the client follows that revision
    # (and the lab's default when the version is one the lab does not model).
    requested = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION")
    client_revision = revision(requested if requested in REVISIONS else None)
    metadata = {
        "client_id": CONFORMANCE_CLIENT_METADATA_URL,  # its CIMD document (CIMD §4.1); not sent in DCR
        "client_name": "MCP auth lab client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "native",  # MCP 2026-07-28: localhost redirects mean a native client
    }
    # The suite's servers listen on this machine's loopback: no proxy from the environment.
    async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
        client = LabClient(
            server_url,
            http=http,
            browser=Browser(http),
            trace=Trace(),
            ids=SystemIds(),  # real sockets, a real suite: a PKCE verifier nobody can guess
            client_metadata=metadata,
            client_metadata_url=CONFORMANCE_CLIENT_METADATA_URL,
            tool=None,
            revision=client_revision,
        )
        try:
            for _ in range(3):  # discovery first: pre-registered credentials belong to one issuer
                await client.next_step()
            if scenario.startswith("auth/client-credentials"):
                await _client_credentials(client, context)
                return _report(client)
            if "idp_id_token" in context:
                await _enterprise_managed(client, context)
                return _report(client)
            if "client_id" in context:
                credentials = Credentials(context["client_id"], context.get("client_secret"))
                client.preregistered = {client.state.issuer or "": credentials}
            await client.run_all()
        except StepError as error:
            print(f"lab client: {error}", file=sys.stderr)
            return 1
    return _report(client)


async def _enterprise_managed(client: LabClient, context: dict[str, str]) -> None:
    """auth/enterprise-managed-authorization: the client's credentials at the AS are given; the
    token comes from the IdP's ID-JAG through the JWT bearer grant, instead of steps 4-6."""
    metadata = client.state.as_metadata or {}
    method = token_endpoint_auth_method(metadata, public=False)
    client.state.credentials = Credentials(context["client_id"], context.get("client_secret"), method)
    await client.request_id_jag(
        context["idp_token_endpoint"],
        context["idp_id_token"],
        context["idp_client_id"],
        context.get("idp_client_secret"),
    )
    await client.redeem_id_jag()
    await client.call_mcp()


async def _client_credentials(client: LabClient, context: dict[str, str]) -> None:
    """auth/client-credentials-*: a confidential client with a key (or a secret) and no user."""
    metadata = client.state.as_metadata or {}
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "private_key_pem" in context and "private_key_jwt" in methods:
        client.state.credentials = Credentials(context["client_id"], None, "private_key_jwt", context["private_key_pem"],
                                               context.get("signing_algorithm", "ES256"))  # fmt: skip
    else:
        client.state.credentials = Credentials(
            context["client_id"], context.get("client_secret"), token_endpoint_auth_method(metadata, public=False)
        )
    await client.client_credentials()
    await client.call_mcp()


def _report(client: LabClient) -> int:
    for record in client.records:
        print(f"step {record.number} {record.name}: ok")
    return 0
