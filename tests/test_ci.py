"""A judge that cannot run on this machine (no Chromium, its fixed port taken) is skipped on a
developer's machine and fails in CI, where a green run must mean every judge ran (`tests/ci.py`)."""

from __future__ import annotations

import pytest

from .ci import unavailable


def test_a_judge_that_cannot_run_is_skipped_on_a_developers_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^no chromium$"):
        unavailable("no chromium")


def test_a_judge_that_cannot_run_fails_in_ci_naming_what_it_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^port 19876 is taken \(in CI every judge must run"):
        unavailable("port 19876 is taken")
