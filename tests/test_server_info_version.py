"""serverInfo.version (MCP lifecycle, "Implementation": the server's name and version): the
installed package's version, and pyproject.toml's when the lab runs from a checkout that was
never installed (importlib.metadata then knows no lab_servers)."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

from lab_servers.resource_server import tools

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"


def test_an_uninstalled_checkout_reports_pyprojects_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    expected = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    assert tools._lab_version.__wrapped__() == expected


def test_an_installed_lab_reports_its_package_version() -> None:
    assert tools._lab_version.__wrapped__() == importlib.metadata.version("lab_servers")
