#!/usr/bin/env python
"""The Binder badge and launch URL for wherever this repository is published.

    .venv/bin/python scripts/binder_link.py                 # from `git remote get-url origin`, ref main
    .venv/bin/python scripts/binder_link.py --ref workshop-2026-11 --remote git@github.com:me/lab.git

Prints the launch URL (it opens the learner's copy of notebook 00 in JupyterLab), the Markdown
badge for the README, and the build URL a facilitator opens the day before a session to have
mybinder.org build (and cache) the image. Only GitHub remotes are handled (Binder's `gh` provider).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = "https://mybinder.org"
FIRST_NOTEBOOK = "my-notebooks/00_start_here.ipynb"  # the learner's copy (binder/postBuild makes it)
# https://github.com/o/r(.git), git@github.com:o/r(.git), ssh://git@github.com/o/r(.git)
_GITHUB = re.compile(
    r"^(?:https?://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)([\w.-]+)/([\w.-]+?)(?:\.git)?/?$"
)


def github_repo(remote: str) -> tuple[str, str]:
    """(owner, repo) of a GitHub remote URL; ValueError for anything else."""
    match = _GITHUB.match(remote.strip())
    if not match:
        raise ValueError(f"not a GitHub remote: {remote!r} (Binder's gh provider needs github.com/OWNER/REPO)")
    return match.group(1), match.group(2)


def links(remote: str, ref: str = "main") -> dict[str, str]:
    owner, repo = github_repo(remote)
    spec = f"{owner}/{repo}/{ref}"
    launch = f"{BINDER}/v2/gh/{spec}?urlpath=lab/tree/{FIRST_NOTEBOOK}"
    return {
        "launch": launch,
        "badge": f"[![Binder]({BINDER}/badge_logo.svg)]({launch})",
        "build": f"{BINDER}/build/gh/{spec}",
    }


def origin_url() -> str:
    done = subprocess.run(["git", "remote", "get-url", "origin"], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit("no git remote named origin: pass --remote https://github.com/OWNER/REPO")
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remote", help="a GitHub URL (default: git remote get-url origin)")
    parser.add_argument(
        "--ref", default="main", help="branch, tag or commit to launch (a tag keeps a session's image fixed)"
    )
    args = parser.parse_args(argv)
    if not args.ref.strip():
        parser.error("--ref: a branch, tag or commit, not an empty string")
    try:
        found = links(args.remote or origin_url(), args.ref)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"Launch URL:  {found['launch']}")
    print(f"README badge: {found['badge']}")
    print(f"Pre-build (open once, or: curl -N {found['build']}): {found['build']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
