"""Binder: the build files follow repo2docker's rules, and an environment built only from them.

repo2docker reads only binder/ when it exists (the top-level requirements.txt and pyproject.toml
are ignored), installs binder/requirements.txt on the Python that runtime.txt names, then runs
binder/postBuild from the repository's root. `build_binder_environment` does the same on a copy of
the repository, in a fresh virtual environment, and checks what postBuild promises. The browser
walk-through (tests/test_browser_walkthrough.py) builds it and runs every notebook there, in
JupyterLab, as a learner on Binder would: one full install and one run of every notebook, not two.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"

# Only what a clone holds: the repository's files, without local environments and caches.
# What a clone of the repository does not hold: the developer's environments, caches and builds
# (`.cache` holds the outside judges, which other tests may be installing during the copy).
IGNORE = shutil.ignore_patterns(".git", ".venv", ".venv-*", "my-notebooks", "*.egg-info", "__pycache__", ".pytest_cache",
                                ".hypothesis", ".mypy_cache", ".ruff_cache", ".cache", ".ipynb_checkpoints", "build",
                                "node_modules")  # fmt: skip


def test_binder_files_follow_repo2docker_rules() -> None:
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    post_build = (BINDER / "postBuild").read_text().splitlines()
    commands = [line for line in post_build if line.strip() and not line.startswith("#")]
    assert commands[0] == "set -euo pipefail", "postBuild must fail the build on any error"
    assert "pip install --no-deps -e ." in commands
    assert os.access(BINDER / "postBuild", os.X_OK)
    requirements = [r.split("#")[0].strip() for r in (BINDER / "requirements.txt").read_text().splitlines()]
    requirements = [r for r in requirements if r]
    assert "notebook==7.6.*" in requirements and "jupyterlab==4.6.*" in requirements
    unpinned = [r for r in requirements if "==" not in r]
    assert unpinned == [], f"binder/requirements.txt pins everything: {unpinned}"


def _python311() -> str:
    for candidate in ("python3.11", sys.executable):
        path = shutil.which(candidate) if os.sep not in candidate else candidate
        if path:
            version = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=False
            )
            if version.stdout.strip() == "(3, 11)":
                return path
    pytest.fail("runtime.txt asks for Python 3.11, and no python3.11 is on this machine")


@dataclass(frozen=True)
class BinderEnvironment:
    repo: Path  # the copy repo2docker would have cloned
    python: Path  # the environment's interpreter
    env: dict[str, str]  # the environment variables a process in it gets

    def run(self, *args: str) -> str:
        done = subprocess.run(args, cwd=self.repo, env=self.env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout


def build_binder_environment(tmp_path: Path) -> BinderEnvironment:
    """A clean virtual environment built from binder/ alone, the way repo2docker builds it
    (slow: a full install; pip's cache keeps it to about half a minute when warm)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORE)
    venv = tmp_path / "binder-venv"
    subprocess.run([_python311(), "-m", "venv", str(venv)], check=True)
    bin_dir = venv / "bin"
    # Nothing from the developer's environment may leak in: a clean PATH and no PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        VIRTUAL_ENV=str(venv),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    binder = BinderEnvironment(repo, bin_dir / "python", env)
    binder.run("pip", "install", "--quiet", "-r", "binder/requirements.txt")
    binder.run("bash", "binder/postBuild")
    versions = binder.run(
        "python",
        "-c",
        "import jupyterlab, notebook, sys; print(jupyterlab.__version__, notebook.__version__, sys.version_info[:2])",
    )
    assert re.match(r"4\.6\.\d+ 7\.6\.\d+ \(3, 11\)$", versions.strip()), versions
    # The package comes from the copy (postBuild's editable install), not from the developer's tree.
    where = binder.run(
        "python", "-c", "import lab_servers, pathlib; print(pathlib.Path(lab_servers.__file__).resolve())"
    )
    assert where.strip().startswith(str(repo.resolve())), where
    # postBuild made the learner's copies the Binder link opens, and switched off the news pop-up.
    assert sorted(p.name for p in (repo / "my-notebooks").glob("*.ipynb")) == sorted(
        p.name for p in (repo / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )
    overrides = binder.run(
        "python",
        "-c",
        "import json, sys, pathlib; print(json.loads((pathlib.Path(sys.prefix) / 'share/jupyter/lab/settings/overrides.json').read_text()))",
    )
    assert "'fetchNews': 'false'" in overrides, overrides
    return binder
