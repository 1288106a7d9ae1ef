"""The Python-based outside judges' one way of installing what they run, as `tests/npm.py` is the
Node-based ones': a venv of the judge's own in a cache directory of the repository
(`.cache/<judge>`), made with the interpreter running the tests and filled by pip from the package
index with every package pinned, so that nothing the judge needs changes what the lab's venv holds
(FastMCP wants `mcp`, `httpx2`, `starlette`, `authlib` at versions of its own choosing)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path


def pip_venv(cache: Path, requirements: Path) -> Path:
    """The python of a venv in `cache` holding exactly `requirements`; made (again) when the file
    has changed since the venv was filled. A failure fails the test with pip's own output."""
    python = cache / "bin" / "python"
    stamp = cache / ".installed"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    # No pip of its own (--without-pip): the running interpreter's pip fills it (`pip --python`),
    # which skips bootstrapping one, a third of the time an empty cache cost; and no bytecode
    # compiled up front (--no-compile): Python compiles what the judge imports, once, as it does.
    subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(cache)], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-input", "--no-compile",
         "--disable-pip-version-check", "-r", str(requirements)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"pip install -r {requirements} failed:\n{done.stdout}\n{done.stderr}"
    stamp.write_text(wanted)
    return python
