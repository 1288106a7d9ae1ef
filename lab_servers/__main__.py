"""`python -m lab_servers demo`: the "same server, two identities" demo in a terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

from .lab import Lab


async def run_demo(seed: int) -> dict[str, Any]:
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
    parser = argparse.ArgumentParser(prog="python -m lab_servers", description="The MCP auth lab.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help='run the "same server, two identities" demo')
    demo.add_argument("--json", action="store_true", help="print machine-readable JSON")
    demo.add_argument("--seed", type=int, default=0, help="seed for ids, keys and tokens (default 0)")
    serve = commands.add_parser("serve", help="serve the MCP server and the AS on loopback for outside clients")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    serve.add_argument("--mcp-port", type=int, default=8000, help="the MCP server's port (default 8000)")
    serve.add_argument("--as-port", type=int, default=8001, help="the authorization server's port (default 8001)")
    serve.add_argument("--policy", choices=["hardened", "naive"], default="hardened", help="the AS policy (default hardened)")
    serve.add_argument("--seed", type=int, default=0, help="seed for ids, keys and tokens (default 0)")
    conformance = commands.add_parser("conformance-client", help="run the lab client for the MCP conformance suite")
    conformance.add_argument("server_url", help="the MCP server URL (appended by the suite)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .authorization_server import HARDENED, NAIVE
        from .serve import serve_until_interrupted

        policy = HARDENED if args.policy == "hardened" else NAIVE
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_until_interrupted(host=args.host, mcp_port=args.mcp_port, as_port=args.as_port,
                                                seed=args.seed, policy=policy))  # fmt: skip
        return 0
    if args.command == "conformance-client":
        from .conformance import run

        return asyncio.run(run(args.server_url))
    result = asyncio.run(run_demo(args.seed))
    print(json.dumps(result, indent=2, sort_keys=True) if args.json else render_demo(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
