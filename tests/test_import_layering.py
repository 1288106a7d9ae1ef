"""Imports run one way (DESIGN.md principle 8): no module of `lab_servers` imports, directly or
through others, a module that imports it back. `if TYPE_CHECKING:` imports count too: a cycle
hidden from the interpreter is still a circle for the reader."""

from __future__ import annotations

import ast
import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lab_servers

PACKAGE_ROOT = Path(lab_servers.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["lab_servers", *path.relative_to(PACKAGE_ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, target] if target else base)


def import_graph() -> dict[str, set[str]]:
    """module → the lab_servers modules it imports (`from pkg import mod` counts as `pkg.mod`): a
    copy of the graph, which a test may change."""
    return {name: set(imported) for name, imported in _parsed_graph().items()}


@functools.cache
def _parsed_graph() -> dict[str, set[str]]:
    """The graph, read from the source once for every test: parsing all ~170 modules takes some
    0.3 s, and three tests each parsed them again."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(name, is_package, node.level, node.module) if node.level else (node.module or "")
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names
                ]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component larger than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_module_of_lab_servers_is_part_of_an_import_cycle() -> None:
    assert find_cycles(import_graph()) == []


def test_the_cycle_finder_sees_a_cycle_when_there_is_one() -> None:
    graph = import_graph()
    graph["lab_servers.authorization_server.state"].add("lab_servers.authorization_server.token")
    assert any("lab_servers.authorization_server.token" in cycle for cycle in find_cycles(graph))


def test_the_authorization_server_endpoints_sit_above_its_state() -> None:
    graph = import_graph()
    state = "lab_servers.authorization_server.state"
    for endpoint in ("authorize", "token"):
        assert state in graph[f"lab_servers.authorization_server.{endpoint}"]
    assert not {m for m in graph[state] if m.rsplit(".", 1)[-1] in {"authorize", "token", "server"}}


def test_every_public_name_resolves_from_the_package() -> None:
    """`lab_servers` exports its API lazily (PEP 562); each name in `__all__` still imports, and
    the imports mypy reads (under TYPE_CHECKING) are exactly the lazy table."""
    assert sorted(lab_servers.__all__) == sorted(lab_servers._MODULE_OF)
    tree = ast.parse(Path(lab_servers.__file__).read_text())
    (type_checking,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    names = [i for i in type_checking.body if isinstance(i, ast.ImportFrom) and i.module]  # not `from . import sdk`
    typed = {f".{i.module}": [a.name for a in i.names] for i in names}
    assert typed == lab_servers._EXPORTED_FROM
    for name in lab_servers.__all__:
        assert getattr(lab_servers, name) is not None
    assert set(lab_servers.__all__) <= set(dir(lab_servers))


def test_every_lab_servers_call_the_readme_writes_works_as_written_after_import_lab_servers() -> None:
    """README: `await lab_servers.sdk.sdk_whoami(lab)`, `lab_servers.serve_process.served_process(…)`:
    after `import lab_servers` alone a submodule was no attribute of the package (the lazy API
    covered names), and each was an AttributeError. Checked in a fresh interpreter, where nothing
    else has imported them."""
    readme = (PACKAGE_ROOT.parent / "README.md").read_text(encoding="utf-8")
    written = sorted(set(re.findall(r"(?<!from )(?<!import )\blab_servers((?:\.[A-Za-z_]\w*)+)", readme)))
    assert ".sdk.sdk_whoami" in written and ".sdk.whoami_over_tls" in written
    check = "import functools, lab_servers\n" + "".join(
        f"functools.reduce(getattr, {path[1:].split('.')!r}, lab_servers)\n" for path in written
    )
    run = subprocess.run([sys.executable, "-c", check], check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert not hasattr(lab_servers, "no_such_module") and "no_such_module" not in dir(lab_servers)


def test_a_name_that_is_no_plain_identifier_is_no_attribute_of_the_package() -> None:
    """PEP 562: a module's `__getattr__` raises AttributeError for a name it has not. Looking up
    `sdk.x` as a submodule imported `lab_servers.sdk` and raised ModuleNotFoundError out of
    `hasattr`; only a plain identifier that names a submodule is imported."""
    for name in ("sdk.x", "trace.x", "sdk.", ".sdk", "", "a b", "no_such_module", "__no_such"):
        with pytest.raises(AttributeError, match="has no attribute"):
            getattr(lab_servers, name)


def test_every_submodule_the_readme_calls_is_declared_for_type_checkers() -> None:
    """`lab_servers.sdk.sdk_whoami(lab)` after `import lab_servers` failed `mypy --strict` with
    '"object" has no attribute "sdk_whoami"': a type checker reads `__getattr__`'s return type, not
    what it imports. The README's submodules are imported under TYPE_CHECKING, and only there."""
    readme = (PACKAGE_ROOT.parent / "README.md").read_text(encoding="utf-8")
    called = set(re.findall(r"(?<!from )(?<!import )\blab_servers\.([a-z_]\w*)", readme)) - set(lab_servers.__all__)
    tree = ast.parse(Path(lab_servers.__file__).read_text())
    (type_checking,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    declared = {a.name for i in type_checking.body if isinstance(i, ast.ImportFrom) and not i.module for a in i.names}
    assert "sdk" in called and called <= declared
    run = subprocess.run(
        [sys.executable, "-c", "import sys, lab_servers; print(*sys.modules)"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert not {f"lab_servers.{name}" for name in declared} & set(run.stdout.split())


def test_the_conformance_client_starts_without_loading_the_servers() -> None:
    """`python -m lab_servers conformance-client` starts once per conformance scenario (about
    fifty per suite run): it loads the client, never the servers, FastAPI or the SDK's server."""
    code = "import sys, lab_servers.__main__, lab_servers.conformance; print(*sys.modules)"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert "lab_servers.client" in loaded
    servers = {
        "lab_servers.lab",
        "lab_servers.authorization_server",
        "lab_servers.resource_server",
        "fastapi",
        "mcp.server",
    }
    assert loaded & servers == set()
