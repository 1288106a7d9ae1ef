"""Notebook 06's experiments: the same client against servers of every revision, clients and
servers of different revisions, and the migrations an operator lives through. Each function runs
real handshakes on fresh labs and returns a `Table` that prints as plain, deterministic text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .arguments import one_of, wrong_type
from .authorization_server import ASCapabilities
from .client import LabClient, StepError
from .lab import CLIENT_METADATA_URL, Lab, default_client_metadata
from .metadata_host import HostedResponse
from .revisions import REVISIONS


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]

    def __str__(self) -> str:
        widths = [max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))]

        def line(row: list[str]) -> str:
            return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

        return "\n".join([line(self.header), line(["-" * w for w in widths]), *map(line, self.rows)])

    def __repr__(self) -> str:
        return str(self)

    def column(self, name: str) -> list[str]:
        index = self.header.index(one_of("column", name, self.header))
        return [row[index] for row in self.rows]


def _outcome(client: LabClient, error: StepError | None) -> str:
    if error is not None:
        return f"fails at step {error.number}"
    return f"ok ({client.state.registration_method})"


async def _run(client: LabClient) -> StepError | None:
    try:
        await client.run_all()
    except StepError as error:
        return error
    return None


async def revision_timeline(seed: int = 0) -> Table:
    """One lab per revision, each with a client of the same revision: what the handshake did."""
    rows = []
    for version in REVISIONS:
        async with Lab(seed=seed, revision=version) as lab:
            client = lab.client()
            await client.run_all()
            r = client.records
            rows.append([
                version,
                "no (MCP origin)" if r[1].learned.get("skipped") else "yes",
                r[2].learned["issuer"],
                client.state.registration_method or "",
                "yes" if "resource=" in r[4].learned["authorization_url"] else "no",
                "yes" if client.revision.iss_check else "no",
                "initialize" if client.state.era == "legacy" else "none (headers + _meta)",
            ])  # fmt: skip
    return Table(["revision", "PRM", "issuer", "client_id via", "resource", "iss checked", "handshake"], rows)


async def cross_revision_matrix(seed: int = 0) -> Table:
    """Clients (rows) of each revision against MCP servers (columns) of each revision; the
    2026-07-28 server twice: dual-era (the SDK's default) and modern-only."""
    servers: list[tuple[str, str, bool]] = [(v, v, True) for v in REVISIONS] + [
        ("2026-07-28 only", "2026-07-28", False)
    ]
    rows = []
    for client_version in REVISIONS:
        row = [client_version]
        for _, version, accept_legacy in servers:
            async with Lab(seed=seed, revision=version, accept_legacy=accept_legacy) as lab:
                client = lab.client(revision=client_version)
                error = await _run(client)
                row.append(_outcome(client, error) if error else f"ok {client.state.protocol_version}")
        rows.append(row)
    return Table(["client \\ server", *[name for name, _, _ in servers]], rows)


@dataclass
class Scenario:
    name: str
    outcome: str
    why: str


async def _scenario(name: str, setup: Callable[[Lab], Awaitable[LabClient]], seed: int, **lab_options: Any) -> Scenario:
    async with Lab(seed=seed, **lab_options) as lab:
        client = await setup(lab)
        error = await _run(client)
        if error is not None:
            return Scenario(name, f"fails at step {error.number}", error.reason)
        chosen = (client.state.registration_reasons or {}).get(client.state.registration_method or "", "")
        return Scenario(
            name,
            f"ok: {client.state.registration_method} ({client.state.credentials.client_id if client.state.credentials else ''})",
            chosen,
        )


async def operator_scenarios(seed: int = 0) -> list[Scenario]:
    """The migrations of the talk's "tomorrow morning", each run once."""

    async def default(lab: Lab) -> LabClient:
        return lab.client()

    async def old_dcr_client(lab: Lab) -> LabClient:
        return lab.client(revision="2025-06-18")  # knows no CIMD

    async def no_document(lab: Lab) -> LabClient:
        return lab.client(client_metadata_url=None)

    return [
        await _scenario("one AS offering both", default, seed),
        await _scenario("DCR-only AS, modern client", default, seed, capabilities=ASCapabilities(cimd=False)),
        await _scenario(
            "CIMD-only AS, old DCR-only client", old_dcr_client, seed, capabilities=ASCapabilities(dcr="removed")
        ),
        await _scenario(
            "DCR closed, registration_endpoint still advertised",
            default,
            seed,
            capabilities=ASCapabilities(cimd=False, dcr="closed", advertise_registration_endpoint=True),
        ),
        await _scenario(
            "/register removed, client without a document",
            no_document,
            seed,
            capabilities=ASCapabilities(dcr="removed"),
        ),
    ]


async def resource_moves(revision: str, seed: int = 0) -> tuple[list[str], str]:
    """PRM switches from auth.example.com to auth2.example.com after a first call (both ASes
    without CIMD, so the client registers by DCR): the client ids each AS saw, and the outcome."""
    async with Lab(seed=seed, capabilities=ASCapabilities(cimd=False)) as lab:
        second = lab.add_authorization_server(
            "auth2.example.com", "93.184.215.21", capabilities=ASCapabilities(cimd=False)
        )
        client = lab.client(revision=revision)
        error = await _run(client)
        if error is not None:
            # A client that cannot finish the first handshake (a 2025-03-26 one looks for its AS at
            # the MCP server's origin) never reaches the move: its outcome, as the other tables say it.
            outcome = f"fails at step {error.number}, before the move: {error.reason}"
        else:
            lab.use_authorization_server(second.issuer)
            try:
                result = await client.call_tool("whoami")
                outcome = f"ok: whoami says client_id {result['structuredContent']['client_id']}"
            except StepError as refused:
                outcome = f"fails: {refused.reason}"
        ids = [
            f"{issuer}: {', '.join(server.registry.records) or '-'}"
            for issuer, server in lab.authorization_servers.items()
        ]
        return ids, outcome


async def stable_url_rule(seed: int = 0) -> list[Scenario]:
    """A CIMD client_id is its URL: move the document and it is another client; redirect the old
    URL to the new one and the AS refuses it (CIMD -02 §5: redirects are not followed)."""
    new_url = "https://app.example/v2/client.json"

    def moved(lab: Lab) -> LabClient:
        lab.publish_client_document(new_url, default_client_metadata(new_url))
        return lab.client("cimd", client_metadata_url=new_url)

    async def moved_client(lab: Lab) -> LabClient:
        return moved(lab)

    async def redirected(lab: Lab) -> LabClient:
        moved(lab)
        lab.metadata_hosts["app.example"].publish_response(
            "/client.json", HostedResponse(b"", 301, {"location": new_url})
        )
        return lab.client("cimd", client_metadata_url=CLIENT_METADATA_URL)

    async def original(lab: Lab) -> LabClient:
        return lab.client("cimd")

    return [
        await _scenario("document at its URL", original, seed),
        await _scenario("document moved to a new URL", moved_client, seed),
        await _scenario("old URL redirects to the new one", redirected, seed),
    ]


def scenarios_table(scenarios: list[Scenario]) -> Table:
    # Called as scenarios_table(await operator_scenarios()): without the await, a coroutine.
    if not isinstance(scenarios, list | tuple) or not all(isinstance(s, Scenario) for s in scenarios):
        raise wrong_type(
            "scenarios_table takes a list of scenarios, such as scenarios_table(await operator_scenarios())", scenarios
        )
    return Table(["scenario", "outcome", "why"], [[s.name, s.outcome, s.why] for s in scenarios])
