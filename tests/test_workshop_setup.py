"""Setting up a room: the Binder link from the git remote, learners' copies with quiet settings, and
the minutes each notebook is said to take (scripts/binder_link.py, scripts/lab_setup.py,
scripts/reading_minutes.py, binder/postBuild)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


binder_link = _script("binder_link")
lab_setup = _script("lab_setup")
reading_minutes = _script("reading_minutes")
MODEL = {r.notebook[:2]: round(r.minutes) for r in reading_minutes.readings()}


@pytest.mark.parametrize("remote", ["https://github.com/acme/mcp-auth-lab.git", "https://github.com/acme/mcp-auth-lab",
                                    "git@github.com:acme/mcp-auth-lab.git", "ssh://git@github.com/acme/mcp-auth-lab.git",
                                    "https://token@github.com/acme/mcp-auth-lab/"])  # fmt: skip
def test_the_github_owner_and_repository_come_from_any_form_of_remote(remote: str) -> None:
    assert binder_link.github_repo(remote) == ("acme", "mcp-auth-lab")


@pytest.mark.parametrize("remote", ["https://gitlab.com/acme/lab.git", "/srv/git/lab.git", "https://github.com/acme"])
def test_a_remote_that_is_not_github_is_refused(remote: str) -> None:
    with pytest.raises(ValueError, match="not a GitHub remote"):
        binder_link.github_repo(remote)


def test_the_binder_link_opens_the_learners_copy_of_notebook_00_at_the_given_ref() -> None:
    links = binder_link.links("git@github.com:acme/mcp-auth-lab.git", "workshop-2026")
    assert (
        links["launch"]
        == "https://mybinder.org/v2/gh/acme/mcp-auth-lab/workshop-2026?urlpath=lab/tree/my-notebooks/00_start_here.ipynb"
    )
    assert links["badge"] == f"[![Binder](https://mybinder.org/badge_logo.svg)]({links['launch']})"
    assert links["build"] == "https://mybinder.org/build/gh/acme/mcp-auth-lab/workshop-2026"


def test_postbuild_makes_the_copies_the_binder_link_opens() -> None:
    assert "python scripts/lab_setup.py" in (ROOT / "binder" / "postBuild").read_text().splitlines()
    assert f"{lab_setup.COPIES.name}/00_start_here.ipynb" == binder_link.FIRST_NOTEBOOK


def test_learners_get_copies_and_their_work_is_never_overwritten(tmp_path: Path) -> None:
    source, target = tmp_path / "notebooks", tmp_path / "my-notebooks"
    source.mkdir()
    (source / "00_a.ipynb").write_text("original")
    (source / "01_b.ipynb").write_text("original")
    (source / "notes.txt").write_text("not a notebook")
    assert lab_setup.copy_notebooks(source, target) == [
        "copied 00_a.ipynb to my-notebooks/",
        "copied 01_b.ipynb to my-notebooks/",
    ]
    (target / "00_a.ipynb").write_text("the learner's answers")
    assert lab_setup.copy_notebooks(source, target) == []
    assert (target / "00_a.ipynb").read_text() == "the learner's answers" and not (target / "notes.txt").exists()


def test_a_copy_older_than_the_lab_is_reported_not_replaced(tmp_path: Path) -> None:
    import os

    source, target = tmp_path / "notebooks", tmp_path / "my-notebooks"
    source.mkdir()
    target.mkdir()
    (target / "00_a.ipynb").write_text("old")
    os.utime(target / "00_a.ipynb", (1, 1))
    (source / "00_a.ipynb").write_text("new")
    assert lab_setup.copy_notebooks(source, target) == [
        "my-notebooks/00_a.ipynb is older than the lab's: delete it to get the new version"
    ]
    assert (target / "00_a.ipynb").read_text() == "old"


def test_the_settings_override_turns_off_the_news_pop_up_and_keeps_other_settings(tmp_path: Path) -> None:
    (tmp_path / "overrides.json").write_text(
        json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}})
    )
    written = json.loads(lab_setup.write_overrides(tmp_path).read_text())
    assert written["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    assert written["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}


def test_make_lab_serves_only_the_copies_and_opens_notebook_00() -> None:
    command = lab_setup.lab_command(Path("/x/my-notebooks"), "--allow-root")
    assert (
        "--ServerApp.root_dir=/x/my-notebooks" in command
        and "--LabApp.default_url=/lab/tree/00_start_here.ipynb" in command
    )
    assert command[-1] == "--allow-root"
    assert "scripts/lab_setup.py --run" in (ROOT / "Makefile").read_text()


def _stated_minutes(table_row: re.Pattern[str], text: str) -> dict[str, int]:
    return {m["nn"]: int(m["minutes"]) for m in table_row.finditer(text)}


def test_the_readme_states_each_notebooks_minutes_as_the_reading_model_counts_them() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = re.compile(r"^\| \[(?P<nn>\d\d) [^]]+\]\(notebooks/.*\| (?P<minutes>\d+)(?: \+ \d+)? \|$", re.MULTILINE)
    assert _stated_minutes(row, readme) == MODEL


def test_the_facilitator_guide_states_each_notebooks_minutes_as_the_reading_model_counts_them() -> None:
    guide = (ROOT / "docs" / "facilitator-guide.md").read_text(encoding="utf-8")
    row = re.compile(r"^\| (?P<nn>\d\d) [^|]+\|[^|]+\|[^|]+\| \*\*(?P<minutes>\d+)(?: \+ \d+)?\*\* \|$", re.MULTILINE)
    assert _stated_minutes(row, guide) == MODEL


def test_the_facilitator_guide_counts_each_notebooks_words_outputs_and_exercises_as_the_model_does() -> None:
    """The guide shows the model's inputs beside its minutes, and they are kept by hand: a
    notebook's prose grows (06 by Claude Code's rows) and its minutes are held by the test above,
    its words by this one."""
    guide = (ROOT / "docs" / "facilitator-guide.md").read_text(encoding="utf-8")
    row = re.compile(
        r"^\| (?P<nn>\d\d) [^|]+\|[^|]+\| (?P<words>[\d,]+) words, (?P<outputs>\d+) outputs?, "
        r"(?P<exercises>no|\d+) exercises?\b",
        re.MULTILINE,
    )
    stated = {
        m["nn"]: (
            int(m["words"].replace(",", "")),
            int(m["outputs"]),
            0 if m["exercises"] == "no" else int(m["exercises"]),
        )
        for m in row.finditer(guide)
    }
    assert stated == {r.notebook[:2]: (r.words, r.outputs, r.exercises) for r in reading_minutes.readings()}


@pytest.mark.parametrize("nn", sorted(MODEL))
def test_a_notebooks_own_time_line_is_within_three_minutes_or_a_tenth_of_the_model(nn: str) -> None:
    """Each notebook opens with "**Time:** about N minutes": a round number, near the model's."""
    (path,) = (ROOT / "notebooks").glob(f"{nn}_*.ipynb")
    first_cell = "".join(json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"])
    stated = int(re.search(r"\*\*Time:\*\* about (\d+) minutes", first_cell)[1])  # type: ignore[index]
    assert abs(stated - MODEL[nn]) <= max(3, MODEL[nn] / 10), (stated, MODEL[nn])


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--bogus", "--settings-dir", "."], "unrecognized arguments: --bogus (options for JupyterLab need --run)"),
        (["--settings-dir", "FILE"], "--settings-dir FILE: a file, not a directory"),
        (["--settings-dir", "BROKEN"], "--settings-dir BROKEN: overrides.json is not JSON"),
    ],
)
def test_lab_setup_refuses_what_it_cannot_use_in_one_line_naming_the_option(
    arguments: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An option only JupyterLab takes is not dropped without --run; a settings directory that is a
    file, or holds an overrides.json that is not JSON, is a usage error, not a traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("")
    (tmp_path / "BROKEN").mkdir()
    (tmp_path / "BROKEN" / "overrides.json").write_text("{")
    monkeypatch.setattr(lab_setup, "copy_notebooks", list)  # not the repository's my-notebooks/
    with pytest.raises(SystemExit) as exited:
        lab_setup.main(arguments)
    assert exited.value.code == 2 and said in capsys.readouterr().err


def test_lab_setup_in_a_checkout_it_cannot_write_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lab shared read-only (a classroom machine) gave a PermissionError traceback from mkdir.
    (Tests run as root here, which every directory lets write: a path under a file stands in.)"""
    (tmp_path / "a-file").write_text("")
    copies = tmp_path / "a-file" / "my-notebooks"
    original = lab_setup.copy_notebooks
    monkeypatch.setattr(lab_setup, "copy_notebooks", lambda: original(target=copies))
    with pytest.raises(SystemExit) as exited:
        lab_setup.main(["--settings-dir", str(tmp_path)])
    said = capsys.readouterr().err
    assert (
        exited.value.code == 2 and f"cannot copy the notebooks into my-notebooks/ ({copies}: Not a directory)" in said
    )
    assert "run the lab from a clone of your own" in said


@pytest.mark.parametrize("ref", ["", " "])
def test_the_binder_link_refuses_an_empty_ref(ref: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty ref made a launch URL that ends in `/v2/gh/OWNER/REPO/?…`, which names no commit."""
    with pytest.raises(SystemExit) as exited:
        binder_link.main(["--remote", "https://github.com/acme/mcp-auth-lab", "--ref", ref])
    assert exited.value.code == 2 and "--ref: a branch, tag or commit" in capsys.readouterr().err


def test_reading_minutes_refuses_an_option_it_does_not_have(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        reading_minutes.main(["--notebook", "03"])
    assert exited.value.code == 2 and "unrecognized arguments: --notebook 03" in capsys.readouterr().err
