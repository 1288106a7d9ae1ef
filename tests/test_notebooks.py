"""The notebooks: their shape, and that re-running them gives the same outputs.

nbval (`pytest --nbval --nbval-current-env notebooks/`) checks each cell's output against the
stored one. These tests add what nbval cannot see:

- the notebooks keep the promised shape (objectives, the handshake map, exercises with a
  self-check, hidden sanity checks, a recap with spec links, committed outputs);
- "Restart and Run All" twice gives the same outputs, byte for byte, and so does running every
  cell a second time in the same kernel (learners re-run cells);
- every cell run twice in a row breaks nothing: no error, unless the protocol forbids the repeat;
- the stored outputs are exactly what `scripts/regenerate_notebooks.py` writes.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("regenerate_notebooks", ROOT / "scripts" / "regenerate_notebooks.py")
regen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regen)  # type: ignore[union-attr]

EXPECTED = [
    "00_start_here",
    "01_discovery",
    "02_dcr",
    "03_cimd",
    "04_two_identities",
    "05_security",
    "06_tomorrow_morning",
    "07_complete_story",
]
NOTEBOOKS = [ROOT / "notebooks" / f"{name}.ipynb" for name in EXPECTED]
IDS = [p.stem for p in NOTEBOOKS]
# What must never reach a stored output: it would differ between machines or runs.
UNSTABLE = [
    (re.compile(r" at 0x[0-9a-fA-F]+"), "a memory address"),
    (re.compile(r"(/work/|/tmp/|/root/|/home/|site-packages)"), "a file system path"),
    (re.compile(r"\b\d+\.\d+ ?(s|ms|seconds)\b"), "a timing"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "a random UUID"),
]


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.metadata.get("tags", []))


# Shape ------------------------------------------------------------------------------------


def test_every_notebook_exists() -> None:
    assert [p.exists() for p in NOTEBOOKS] == [True] * len(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_shape(path: Path) -> None:
    nb = load(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3", (
        "nbval --nbval-current-env needs the kernelspec named python3"
    )
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    first = nb.cells[0]
    assert (
        first.cell_type == "markdown"
        and first.source.startswith("# ")
        and "By the end of this notebook you can" in first.source
    )
    assert "**Where we are in the handshake**" in markdown and markdown.count("| ▶ |") + markdown.count("| |") >= 4
    assert (
        "## Recap" in markdown
        and "https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization" in markdown
    )
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))
    if path.stem != "00_start_here":
        exercises = [c for c in code_cells(nb) if "check_answer(" in c.source and "sanity-check" not in tags(c)]
        assert exercises, "notebooks 01–04 have at least one exercise with a self-check"
        assert "<summary>Solution</summary>" in markdown
        for cell in exercises:
            assert "None" in cell.source, "an exercise starts unanswered"
            assert any("✏️" in o.get("text", "") for o in cell.outputs), "the stored output invites an answer"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_sanity_checks_live_beside_the_notebook_not_in_it(path: Path) -> None:
    """The assertions that keep the prose true run after the cells they name (notebooks/checks/),
    and none is in the notebook, where GitHub and nbconvert would show them, answers included."""
    nb = load(path)
    checks = regen.load_checks(path.stem)
    assert checks, "each notebook keeps its prose true with sanity checks in notebooks/checks/"
    code_ids = {c.id for c in code_cells(nb)}
    assert set(checks) <= code_ids, f"checks name cells that do not exist: {set(checks) - code_ids}"
    for cell in code_cells(nb):
        assert "sanity-check" not in tags(cell) and "is_correct(" not in cell.source, (
            f"cell {cell.id} holds a sanity check"
        )
    assert all("assert " in block for blocks in checks.values() for block in blocks)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_with_stable_outputs(path: Path) -> None:
    nb = load(path)
    counts = [c.execution_count for c in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), (
        "committed executed, in order (run scripts/regenerate_notebooks.py)"
    )
    assert any(c.outputs for c in code_cells(nb))
    for cell in code_cells(nb):
        if "nbval-ignore-output" in tags(cell):
            assert cell.source.startswith("# nbval-ignore-output:"), "say why a cell's output is not compared"
            continue
        for output in cell.outputs:
            assert output.output_type != "error", f"cell {cell.id} stored an error"
            assert output.get("name") != "stderr", f"cell {cell.id} wrote to stderr: nbval would compare it"
            text = json.dumps(output.get("data", output.get("text", "")), ensure_ascii=False)
            for pattern, what in UNSTABLE:
                match = pattern.search(text)
                assert match is None, f"cell {cell.id} output holds {what}: {match.group(0) if match else ''!r}"
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, "no widget state or run metadata stored"


# Determinism ---------------------------------------------------------------------------------


def _outputs(nb: nbformat.NotebookNode) -> list[list[dict]]:
    """Outputs per code cell, without what legitimately changes (execution counts, ignored cells)."""
    result = []
    for cell in code_cells(nb):
        if "nbval-ignore-output" in tags(cell):
            result.append([])
            continue
        outputs = []
        for raw in cell.outputs:
            output = {k: v for k, v in raw.items() if k != "execution_count"}
            if "data" in output:
                output["data"] = {k: v for k, v in output["data"].items() if k != regen.WIDGET_VIEW}
            outputs.append(output)
        result.append(outputs)
    return result


def _run_all_twice_in_one_kernel(nb: nbformat.NotebookNode, name: str) -> tuple[nbformat.NotebookNode, list]:
    """The notebook after "Restart and Run All" (normalised as the regeneration script writes it),
    and the outputs of running every cell again in that same kernel."""
    nb = copy.deepcopy(nb)
    client = regen.new_client(nb)
    checks = regen.load_checks(name)
    with client.setup_kernel():
        regen.run_cells(client, nb, checks)
        fresh = regen.normalise(copy.deepcopy(nb))
        regen.run_cells(client, nb, checks)  # the checks hold on a re-run too
    return fresh, _outputs(nb)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_rerunning_gives_identical_outputs(path: Path) -> None:
    # "Restart and Run All": a fresh kernel writes exactly the stored file, byte for byte. The
    # stored file came from another fresh run (the regeneration script's), so two fresh runs agree.
    fresh, pass_two = _run_all_twice_in_one_kernel(load(path), path.stem)
    assert regen.dumps(fresh) == path.read_text(encoding="utf-8"), (
        "stored outputs are stale: run scripts/regenerate_notebooks.py"
    )
    # ... then every cell run a second time without a restart ("Run All" again, as learners do).
    for index, (a, b) in enumerate(zip(_outputs(fresh), pass_two, strict=True)):
        assert a == b, f"code cell {index} prints something else when run a second time in the same kernel"


# Cells whose second run the protocol itself forbids: each redeems the authorization code, which
# the client MUST NOT use more than once (RFC 6749 §4.1.2). The client refuses, says why and what
# to do instead, and sends nothing, so the token the first run brought keeps working.
ONE_TIME_CELLS = {"02_dcr": {"n02-23", "n02-stolen-3"}, "03_cimd": {"n03-16"}}
ONE_TIME_REFUSAL = "MUST NOT use a code more than once (RFC 6749 §4.1.2"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_cell_can_be_run_twice_in_a_row(path: Path) -> None:
    """A learner runs a cell again before going on (Shift+Enter twice, or back one cell). The
    second run raises nothing, except where the protocol forbids a repeat, and then every later
    cell still runs: a re-run must not leave the lab in a state the notebook's next cells trip on
    (a second registration's new secret, a new key the AS's cached document does not hold)."""
    from nbclient.exceptions import CellExecutionError

    nb = load(path)
    client = regen.new_client(nb)
    one_time = ONE_TIME_CELLS.get(path.stem, set())
    refused = set()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            client.execute_cell(cell, index)  # raises CellExecutionError on an error: a later cell tripped
            try:
                client.execute_cell(copy.deepcopy(cell), index)
            except CellExecutionError as error:
                assert cell.id in one_time and ONE_TIME_REFUSAL in str(error), f"cell {cell.id} run again:\n{error}"
                refused.add(cell.id)
    assert refused == one_time


# The exercises' self-checks ----------------------------------------------------------------


def test_a_prefix_that_names_no_notebook_is_a_usage_error_not_a_check_that_passed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--check 3` or `--check notebooks/03_x.ipynb` once checked nothing and exited 0."""
    with pytest.raises(SystemExit) as exited:
        regen.main(["--check", "01", "3", "notebooks/03_oauth_flow.ipynb"])
    said = capsys.readouterr()
    assert exited.value.code == 2 and said.out == ""
    assert "no notebooks/NN_*.ipynb starts with '3', 'notebooks/03_oauth_flow.ipynb'" in said.err


def test_check_answer_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    from lab_servers.notebook_support import EXERCISES, check_answer, is_correct

    check_answer("02-register-status", None)
    check_answer("02-register-status", "201")
    check_answer("02-register-status", 200)
    check_answer("04-best-fit", {"a": None, "b": None, "c": None})
    check_answer("04-best-fit", {"a": "CIMD", "b": "dcr", "c": "pre-registered"})
    check_answer("04-best-fit", {"a": "dcr", "b": "dcr", "c": "preregistered"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✏️  02-register-status") and lines[1] == "✅ Right: 201"
    assert lines[2].startswith("❌ Not quite. Hint: ") and lines[3].startswith("✏️  04-best-fit")
    assert lines[4:8] == ["✅ (a) cimd", "✅ (b) dcr", "✅ (c) preregistered", "✅ All right!"]
    assert lines[8] == "❌ (a) dcr" and lines[-1].startswith("❌ Not quite.")
    assert is_correct("04-differing-claims", "jti, client_id") and is_correct(
        "04-differing-claims", {"client_id", "jti"}
    )
    assert not is_correct("04-differing-claims", ["client_id"]) and is_correct("03-mismatch-error", "invalid_request")
    assert is_correct("01-tenant-as-urls", " ".join(EXERCISES["01-tenant-as-urls"].expected(None)))
    assert capsys.readouterr().out == "", "is_correct prints nothing"


def test_a_notebook_kernel_that_dies_at_its_start_is_started_again_with_new_ports() -> None:
    # jupyter/jupyter_client#487: two xdist workers' kernels can draw one port; nbval's start
    # raised, and every cell of the notebook was an error (the root conftest.py starts it again).
    import nbval.kernel

    from conftest import KERNEL_STARTS, starting_again

    assert hasattr(nbval.kernel.start_new_kernel, "__wrapped__")
    tries: list[int] = []

    def dies_twice() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return "kernel"

    assert starting_again(dies_twice)() == "kernel" and len(tries) == 3
    tries.clear()

    def never_starts() -> str:
        tries.append(1)
        raise RuntimeError("Kernel died before replying to kernel_info")

    with pytest.raises(RuntimeError):
        starting_again(never_starts)()
    assert len(tries) == KERNEL_STARTS
