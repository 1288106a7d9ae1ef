"""`python -m lab_servers`: `demo` (the "same server, two identities" demo in a terminal), `serve`
(the servers on loopback sockets for outside clients, `serve.py`) and `conformance-client` (the
lab client as the MCP conformance suite runs it, `conformance.py`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from .revisions import DEFAULT_REVISION, REVISIONS

# keys.AccessTokenAlgorithm's values, spelt here so that --help does not import the AS (a test holds them equal).
ACCESS_TOKEN_ALGORITHMS = ("Ed25519", "RS256")

# Served mode has no co-located AS, so no 2025-03-26 (no PRM): see `serve.serving`.
SERVED_REVISIONS = [version for version, rev in REVISIONS.items() if rev.protected_resource_metadata]


async def run_demo(seed: int) -> dict[str, Any]:
    from .lab import Lab  # here, not at the top: `conformance-client` needs only the client

    async with Lab(seed=seed) as lab:
        dcr = await lab.connect("dcr")
        cimd = await lab.connect("cimd")
        return {
            "mcp_server": lab.mcp_url,
            "connections": {"dcr": dcr.whoami, "cimd": cimd.whoami},
            "authorization_server_state": lab.as_state(),
            "exchanges": len(lab.trace),
        }


def render_demo(result: dict[str, Any]) -> str:
    lines = [f"Same server, two identities — both connections call whoami on {result['mcp_server']}", ""]
    for label, who in result["connections"].items():
        lines += [
            f"  {label.upper():5} client_id  {who['client_id']}",
            f"        identified {who['identified_by']['method']}",
            f"        sub={who['sub']}  scope={who['scope']}  aud={who['aud']}",
            "",
        ]
    state = result["authorization_server_state"]
    lines.append("What the authorization server holds afterwards:")
    lines.append(f"  registration records: {len(state['registrations'])}")
    for client_id, record in state["registrations"].items():
        lines.append(f"    {client_id}  ({record['kind']}, name {record['client_name']!r}, self-declared)")
    lines.append(f"  cached CIMD documents: {len(state['cimd_cache'])} (a cache, not a record: it expires)")
    for url, entry in state["cimd_cache"].items():
        lines.append(f"    {url}  (expires after {entry['expires_at'] - entry['fetched_at']} s)")
    lines.append(f"\n{result['exchanges']} HTTP exchanges on the lab network, none of them over a socket.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    _print_what_the_console_cannot_show_as_escapes()
    parser = argparse.ArgumentParser(prog="python -m lab_servers", description="The MCP auth lab.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help='run the "same server, two identities" demo')
    demo.add_argument("--json", action="store_true", help="print machine-readable JSON")
    demo.add_argument("--seed", type=int, default=0, help="seed for ids, keys and tokens (default 0)")
    serve = commands.add_parser(
        "serve", help="serve the MCP server, the AS and client documents on loopback (HTTPS) for outside clients"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on, which the URLs name (default 127.0.0.1; ::1 serves https://[::1]:…; localhost binds and names 127.0.0.1; others need --allow-non-loopback, 0.0.0.0 and :: name loopback)",
    )
    serve.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow another --host, such as 0.0.0.0 (WARNING: off loopback, others on the network can reach the lab)",
    )
    serve.add_argument("--mcp-port", type=int, default=8000, help="the MCP server's port (default 8000)")
    serve.add_argument("--as-port", type=int, default=8001, help="the authorization server's port (default 8001)")
    serve.add_argument(
        "--documents-port", type=int, default=8002, help="the client-metadata host's port (default 8002)"
    )
    serve.add_argument(
        "--http",
        action="store_true",
        help="PLAIN HTTP instead of HTTPS (loopback experiments only; MCP requires HTTPS for the AS)",
    )
    serve.add_argument(
        "--tls-dir",
        type=Path,
        default=None,
        help="where the local CA and certificates live (default ~/.mcp-auth-lab/tls)",
    )
    serve.add_argument(
        "--client-document",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="publish your own CIMD document (JSON) at https://127.0.0.1:8002/<file name>; repeatable",
    )
    serve.add_argument(
        "--trace-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="also save every exchange to FILE (JSON Lines; lab_servers.load_trace reads it; at most 100 MiB)",
    )
    serve.add_argument(
        "--policy", choices=["hardened", "naive"], default="hardened", help="the AS policy (default hardened)"
    )
    serve.add_argument(
        "--revision",
        choices=SERVED_REVISIONS,
        default=DEFAULT_REVISION,
        help=f"the MCP revision the MCP server and the AS follow (default {DEFAULT_REVISION}; 2025-03-26 runs only in-process)",
    )
    serve.add_argument(
        "--no-cimd",
        action="store_true",
        help="the AS neither advertises nor accepts Client ID Metadata Documents (ASCapabilities.cimd=False)",
    )
    serve.add_argument(
        "--dcr",
        choices=["open", "closed", "removed"],
        default=None,
        help="RFC 7591 registration: open, closed (refused) or removed (404) (ASCapabilities.dcr; default open)",
    )
    serve.add_argument(
        "--access-token-algorithm",
        choices=ACCESS_TOKEN_ALGORITHMS,
        default="Ed25519",
        help="how the AS signs access tokens (default Ed25519; RS256 is the one every RFC 9068 resource server supports)",
    )
    serve.add_argument(
        "--seed",
        default=None,
        help="seed ids and the signing key (WARNING: anyone with the seed can mint tokens; default: fresh randomness)",
    )
    conformance = commands.add_parser("conformance-client", help="run the lab client for the MCP conformance suite")
    conformance.add_argument("server_url", help="the MCP server URL (appended by the suite)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .authorization_server import HARDENED, NAIVE
        from .loopback import is_loopback_host
        from .serve import listen_host
        from .serve_console import serve_until_interrupted

        policy = HARDENED if args.policy == "hardened" else NAIVE
        capabilities = None  # the revision's defaults, as Lab(revision=…) has them
        if args.no_cimd or args.dcr:
            from .authorization_server import ASCapabilities

            capabilities = ASCapabilities.for_revision(args.revision).but(
                **({"cimd": False} if args.no_cimd else {}), **({"dcr": args.dcr} if args.dcr else {})
            )
        # Only a host outside loopback is one that others can reach (127.0.0.2 is loopback too).
        if not is_loopback_host(listen_host(args.host)) and args.allow_non_loopback:
            print(
                f"WARNING: listening on {args.host}: anyone who can reach this machine can reach the lab.",
                file=sys.stderr,
            )
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(serve_until_interrupted(
                    host=args.host, allow_non_loopback=args.allow_non_loopback, mcp_port=args.mcp_port, as_port=args.as_port,
                    documents_port=args.documents_port, tls=not args.http, tls_directory=args.tls_dir, seed=args.seed,
                    policy=policy, client_documents=tuple(args.client_document), trace_file=args.trace_file,
                    revision=args.revision, capabilities=capabilities, access_token_algorithm=args.access_token_algorithm,
                ))  # fmt: skip
        except (ValueError, OSError) as exc:
            print(f"serve: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "conformance-client":
        from .conformance import run

        return asyncio.run(run(args.server_url))
    result = asyncio.run(run_demo(args.seed))
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else render_demo(result))
    return 0


def _print_what_the_console_cannot_show_as_escapes() -> None:
    """What the lab prints ("→", "…", the names clients chose for themselves) must not stop it
    where the console cannot show a character: Windows' legacy code pages once output is
    redirected, an ASCII `PYTHONIOENCODING`. There, `serve` stopped at its banner, and the line
    each exchange prints would have raised in every request. Such characters become escapes."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    sys.exit(main())
