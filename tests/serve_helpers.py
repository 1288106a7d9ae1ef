"""What the tests of `python -m lab_servers serve` share: the session's TLS directory (its CA
signs the served lab's certificates), a context that trusts it, the served lab on ports 0, and an
authorization request a client could send it."""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from lab_servers.serve import ServedLab, serving
from lab_servers.trace import Exchange

from .consenting_user import free_port
from .helpers import CHALLENGE


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


def trusting(tls_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))


def served(tls_dir: Path, **options: Any) -> Any:
    return serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir, **options)


async def tls_connection(url: str, tls_dir: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw TLS connection to the served server at `url`, trusting the lab's CA: for the bytes a
    client library would never send."""
    return await asyncio.open_connection(
        "127.0.0.1", urlsplit(url).port, ssl=trusting(tls_dir), server_hostname="127.0.0.1"
    )


class Recorded:
    """An `on_exchange` for `served`: keeps every exchange the lab traces, and sets `came` once
    `count` have been traced (a test waits on it rather than on a sleep)."""

    def __init__(self, count: int) -> None:
        self.exchanges: list[Exchange] = []
        self.came = asyncio.Event()
        self._count = count

    def __call__(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        if len(self.exchanges) == self._count:
            self.came.set()


def restartable(tls_dir: Path, **options: Any) -> Callable[..., Any]:
    """`serving` on three ports picked once: each start is the same lab to a client (the same URLs,
    under which clients keep what they stored) with a new signing key and no clients, as `serve`
    stopped and started again. `options` (such as `capabilities`) hold for every start; a start
    may replace them, as `serve --no-cimd` started where `serve` ran: `lab(capabilities=…)`."""
    mcp, authorization, documents = (free_port() for _ in range(3))
    return functools.partial(
        serving, mcp_port=mcp, as_port=authorization, documents_port=documents, tls_directory=tls_dir, **options
    )


async def authorization_page(
    served_lab: ServedLab, http: httpx.AsyncClient, client_id: str, redirect_uri: str = "http://127.0.0.1:1455/callback"
) -> httpx.Response:
    """`GET /authorize` as a client with PKCE (S256) and `resource` sends it, for `client_id` and
    `redirect_uri`: the consent page, or the page that refuses them (OAuth 2.1 §4.1.2.1)."""
    return await http.get(f"{served_lab.issuer}/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": "s",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256", "resource": served_lab.mcp_url,
    })  # fmt: skip
