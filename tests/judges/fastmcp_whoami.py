"""Run in the FastMCP judge's own venv (`tests/pip_judge.py`), never in the lab's: FastMCP's client
calls `whoami` on an MCP server behind OAuth and prints the tool's structured result as JSON.

    python fastmcp_whoami.py MCP_URL [--client-metadata-url URL] [--callback-port N]
                                     [--token-dir DIR [--stored-token-expired]]

Trust comes from the environment (`SSL_CERT_FILE`, which httpx2 reads), as the README tells a
user to set it. The only thing replaced is the user's browser: FastMCP's `OAuth` calls
`webbrowser.open(authorize URL)`; here that prints the URL ("Please navigate to: …"), the test's
lab `Browser` opens it, approves on the consent page and follows the redirect to the loopback
callback server FastMCP runs, exactly as a person's browser would. Everything else (discovery,
DCR or CIMD, PKCE, the token request, a refresh, `server/discover` or `initialize`) is FastMCP's
own code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import webbrowser
from pathlib import Path
from typing import Any


def print_instead_of_opening(url: str, *_: Any, **__: Any) -> bool:
    print(f"Please navigate to: {url}", flush=True)
    return True


webbrowser.open = print_instead_of_opening  # the user's browser is the test's


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mcp_url")
    parser.add_argument("--client-metadata-url")
    parser.add_argument("--callback-port", type=int)
    parser.add_argument("--token-dir", help="keep tokens and the client's registration on disk, for a second run")
    parser.add_argument(
        "--stored-token-expired", action="store_true", help="as if the stored access token's lifetime had passed"
    )
    arguments = parser.parse_args()

    from fastmcp import Client
    from fastmcp.client.auth import OAuth

    storage = None
    if arguments.token_dir:
        from key_value.aio.stores.filetree import (
            FileTreeStore,
            FileTreeV1CollectionSanitizationStrategy,
            FileTreeV1KeySanitizationStrategy,
        )

        directory = Path(arguments.token_dir)
        directory.mkdir(parents=True, exist_ok=True)
        storage = FileTreeStore(  # as FastMCP's docs keep tokens across runs (the keys are URLs)
            data_directory=directory,
            key_sanitization_strategy=FileTreeV1KeySanitizationStrategy(directory),
            collection_sanitization_strategy=FileTreeV1CollectionSanitizationStrategy(directory),
        )
        if arguments.stored_token_expired:
            # Where FastMCP's TokenStorageAdapter keeps the stored token's absolute expiry: the
            # lab's tokens live 15 minutes, and a test does not wait for them.
            await storage.put(
                key=f"{arguments.mcp_url.rstrip('/')}/token_expiry",
                value={"expires_at": time.time() - 1},
                collection="mcp-oauth-token-expiry",
            )
    auth = OAuth(
        client_name="FastMCP judge",
        client_metadata_url=arguments.client_metadata_url,
        callback_port=arguments.callback_port,
        callback_timeout=60,
        token_storage=storage,
    )
    async with Client(arguments.mcp_url, auth=auth) as client:  # mode="auto": 2026-07-28 first
        result = await client.call_tool("whoami", {})
        print(
            "WHOAMI " + json.dumps({"protocol_version": client.protocol_version, "claims": result.structured_content})
        )


if __name__ == "__main__":
    asyncio.run(main())
    sys.stdout.flush()
