"""What a test does when the machine lacks what it needs (Chromium, a free fixed port): on a
developer's machine it is skipped, and in CI (`CI=true`) it fails, since there every judge must
run and a green run that skipped one would say nothing about it."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """In a test, a fixture, or at a helper module's import (which then skips its test modules)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (in CI every judge must run: .ci/run installs what they need)")
    pytest.skip(reason, allow_module_level=True)
