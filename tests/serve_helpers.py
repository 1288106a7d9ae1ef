"""What the tests of `python -m lab_servers serve` share: the session's TLS directory (its CA
signs the served lab's certificates), a context that trusts it, and the served lab on ports 0."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from lab_servers.serve import serving


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


def trusting(tls_dir: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))


def served(tls_dir: Path, **options: Any) -> Any:
    return serving(mcp_port=0, as_port=0, documents_port=0, tls_directory=tls_dir, **options)
