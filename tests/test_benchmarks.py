"""The benchmark scripts still run and print what issue 12 asks for: `benchmarks/handshake.py
--json` ends with one JSON object holding the keys below. Not a timed test: no number is judged
here, only that each is measured (and that concurrent clients never saw each other's exchanges);
and that `benchmarks/instructions.py` reads valgrind's count right and its probe still runs."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lab_servers import StepError

ROOT = Path(__file__).resolve().parent.parent
REQUIRED_KEYS = (
    "median_ms",
    "loopback_tls_median_ms",
    "ratio_loopback_tls_over_inprocess",
    "concurrent_100_s",
    "concurrent_1000_s",
    "first_connect_s",
)


@pytest.mark.slow
def test_handshake_benchmark_prints_every_number_the_issue_names_as_json() -> None:
    tiny = ["--runs", "3", "--loopback-runs", "2", "--fresh-runs", "1", "--repeat", "1", "--transport-runs", "20"]
    done = subprocess.run(
        [sys.executable, "benchmarks/handshake.py", "--json", *tiny, "--concurrent", "100", "1000"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [key for key in REQUIRED_KEYS if key not in result] == []
    assert result["median_ms"][result["default_revision"]]["DCR"] > 0
    assert result["concurrent_100_cross_talk"] == result["concurrent_1000_cross_talk"] == 0
    assert result["exchanges_per_handshake"] > 0 and result["transport_round_trip"]["in_process_us"] > 0
    assert result["first_connect_from_source_s"] > 0
    assert result["reference_ms_before"] > 0 and result["reference_ms_after"] > 0
    assert result["cores"] == len(os.sched_getaffinity(0)) and result["python"].startswith(sys.version)
    assert "reference task" in done.stdout
    assert result["p90_over_median_max"] >= 1.0 and re.search(r"UNEVEN RUN|An even run", done.stdout)
    assert "Where the difference comes from" in done.stdout


@pytest.mark.slow
def test_the_load_benchmark_runs_every_part_without_a_failure() -> None:
    """`benchmarks/load.py` (issue 7): many handshakes in process and over loopback with TLS, then
    hostile bodies against a served process. It broke unnoticed when `serve` moved to HTTPS: its
    clients did not trust the lab's CA, and its raw uploader spoke plain HTTP to an HTTPS port."""
    done = subprocess.run(
        [sys.executable, "benchmarks/load.py", "--in-process", "4,8", "--loopback", "4", "--body-mb", "1"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(re.findall(r"in-process +\d+ concurrent handshakes: .*cross-talk: 0 \n", done.stdout + "\n")) == 2
    assert re.search(r"loopback +4 concurrent handshakes: .*whoami of another client: 0, failed: 0 \[\]", done.stdout)
    statuses = re.findall(r"-> (\S+), after", done.stdout)
    assert len(statuses) == 11 and set(statuses) <= {"401", "405", "413"}, done.stdout
    assert re.search(r"served process: RSS \d+ MB before, at most \d+ MB while and \d+ MB after", done.stdout)
    assert "reference task" in done.stdout  # the machine's speed beside the numbers


@pytest.fixture
def benchmark(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """A script of benchmarks/ (or one of its parts) as a module, with benchmarks/ on the path as
    when a script runs: `handshake.py` imports its parts from beside it."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module


def test_concurrent_counts_run_in_interleaved_rounds_and_the_small_count_three_times_a_round(
    benchmark: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    concurrency = benchmark("concurrency")
    order: list[int] = []

    async def run(revision: str, count: int) -> dict[str, float]:
        order.append(count)
        return {"seconds": 0.0}

    monkeypatch.setattr(concurrency, "concurrent", run)
    runs = concurrency.concurrent_rounds("2026-07-28", [100, 1000], 2)
    assert order == [100, 100, 100, 1000] * 2  # a drift in the machine's speed weighs on both counts
    assert (len(runs[100]), len(runs[1000])) == (6, 2)


def test_a_gc_threshold_holds_for_the_concurrent_runs_alone(
    benchmark: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--gc-threshold` is an experiment on the benchmark's process; the lab never tunes the GC."""
    concurrency = benchmark("concurrency")
    thresholds: list[int] = []

    async def run(revision: str, count: int) -> dict[str, Any]:
        thresholds.append(concurrency.gc.get_threshold()[0])
        return {"seconds": 1.0, "gc_seconds": 0.0, "gc_passes": [0, 0, 0], "cross_talk": 0, "exchanges": 0}

    monkeypatch.setattr(concurrency, "concurrent", run)
    before = concurrency.gc.get_threshold()
    result: dict[str, Any] = {}
    concurrency.report(result, "2026-07-28", [100, 1000], 1, lambda _: None, gc_threshold=before[0] + 6300)
    assert thresholds == [before[0] + 6300] * 5 and concurrency.gc.get_threshold() == before
    assert result["concurrent_gc_threshold"] == before[0] + 6300
    # Untuned, the header still names the threshold: 700 up to CPython 3.12, 2,000 from 3.13, which
    # makes a run of 1,000 take one full pass there where it takes five on 3.11.
    said: list[str] = []
    concurrency.report({}, "2026-07-28", [100, 1000], 1, said.append)
    assert f"the GC's generation-0 threshold {before[0]:,} (this Python's default)" in said[0]


def test_revisions_and_scenarios_are_timed_in_turn(
    benchmark: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One handshake of each revision and scenario in turn, so that the machine's drift weighs on
    all alike; a revision without CIMD is timed for DCR alone."""
    handshake = benchmark("handshake")
    order: list[tuple[str, str]] = []
    timed = handshake._timed_handshake

    async def recorded(lab: Any, scenario: str, method: str, timings: Any) -> None:
        order.append((lab.revision.version, scenario))
        await timed(lab, scenario, method, timings)

    monkeypatch.setattr(handshake, "_timed_handshake", recorded)
    measured, failed = asyncio.run(handshake.handshake_times(["2025-06-18", "2026-07-28"], 2))
    one_round = [("2025-06-18", "DCR")] + [("2026-07-28", scenario) for scenario, _ in handshake.SCENARIOS]
    assert order == one_round * 2 and failed == {}
    assert {scenario: len(samples) for scenario, samples in measured["2026-07-28"].wall.items()} == dict.fromkeys(
        [scenario for scenario, _ in handshake.SCENARIOS], 2
    )


def test_each_handshake_over_loopback_follows_one_in_process(
    benchmark: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ratio compares times taken in the same moments, not a block over sockets with the
    in-process medians taken a minute before it."""
    loopback = benchmark("loopback")
    order: list[tuple[str, str]] = []
    in_process, start_scenario = loopback.handshake_seconds, loopback.start_scenario

    async def recorded(lab: Any, scenario: str, method: str) -> float:
        order.append(("in process", scenario))
        return float(await in_process(lab, scenario, method))

    def over_sockets_next(lab: Any, scenario: str) -> None:
        order.append(("over sockets", scenario))
        start_scenario(lab, scenario)

    monkeypatch.setattr(loopback, "handshake_seconds", recorded)
    monkeypatch.setattr(loopback, "start_scenario", over_sockets_next)
    over_sockets, local = asyncio.run(loopback.loopback_times("2026-07-28", 2, tls=False))
    scenarios = list(over_sockets)
    assert scenarios and order == [(where, s) for s in scenarios for where in ("in process", "over sockets")] * 2
    assert (
        {s: len(v) for s, v in over_sockets.items()}
        == {s: len(v) for s, v in local.items()}
        == dict.fromkeys(scenarios, 2)
    )


def test_the_kinds_of_fresh_interpreter_start_in_turn(
    benchmark: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = benchmark("fresh_interpreter")
    started: list[str] = []
    monkeypatch.setattr(fresh.FreshInterpreter, "run", lambda self: started.append(self.probe) or [len(started)])
    medians = fresh.fresh_interpreter_medians({"a": fresh.FreshInterpreter("a"), "b": fresh.FreshInterpreter("b")}, 3)
    assert started == ["a", "b"] * 3 and medians == {"a": [3], "b": [4]}


def test_each_concurrent_run_starts_from_a_collected_heap(
    benchmark: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else a run pays the collector for the garbage of the run before it (a full pass after a
    run of 1,000 fell in some runs of 100 and not others)."""
    concurrency = benchmark("concurrency")
    events: list[str] = []
    collect, enter = concurrency.gc.collect, concurrency._CollectorTime.__enter__
    monkeypatch.setattr(concurrency.gc, "collect", lambda *args: events.append("collect") or collect(*args))
    monkeypatch.setattr(concurrency._CollectorTime, "__enter__", lambda self: events.append("timed") or enter(self))
    result = asyncio.run(concurrency.concurrent("2026-07-28", 2))
    assert events == ["collect", "timed"]
    assert result["cross_talk"] == 0 and result["seconds"] > result["gc_seconds"] >= 0


def test_the_concurrent_cross_talk_check_sees_a_token_or_a_whoami_of_another_cimd_client(
    benchmark: Callable[[str], Any],
) -> None:
    """Each CIMD client has its own document, so its own client_id: with one shared document a
    token passed from one CIMD client to another named the same client and went unseen."""
    concurrency = benchmark("concurrency")
    scenarios = benchmark("scenarios")

    async def checked() -> tuple[list[str], list[str], list[str]]:
        async with scenarios.make_lab("2026-07-28", seed=0, policy=scenarios.POLICY) as lab:
            clients = [concurrency._client(lab, i) for i in range(4)]
            records = [await client.run_all() for client in clients]
            clean = concurrency.cross_talk(lab, clients, records)
            first, third = clients[0], clients[2]  # both CIMD
            assert first.state.whoami["client_id"] != third.state.whoami["client_id"]
            # client-0 sends an MCP request with client-2's token
            async with lab.httpx_client("client-0") as http:
                await http.post(lab.mcp_url, headers={"Authorization": f"Bearer {third.state.access_token}"}, json={})
            passed_token = concurrency.cross_talk(lab, clients, records)
            lab.trace.clear()
            first.state.whoami = third.state.whoami
            return clean, passed_token, concurrency.cross_talk(lab, clients, records)

    clean, passed_token, swapped_whoami = asyncio.run(checked())
    assert clean == []
    assert [p for p in passed_token if p.startswith("client-0:") and "another token" in p]
    assert "client-0: whoami names 'https://app.example/clients/2.json'" in swapped_whoami


def test_the_concurrent_cross_talk_check_sees_another_clients_browser_and_as_exchanges_in_a_record(
    benchmark: Callable[[str], Any],
) -> None:
    """The browser's and the AS's exchanges carry no client's caller name: the client_id in the
    URL and the document fetched say whose they are, and each exchange belongs to one record."""
    concurrency = benchmark("concurrency")
    scenarios = benchmark("scenarios")

    async def checked() -> tuple[list[str], list[str], list[str]]:
        async with scenarios.make_lab("2026-07-28", seed=0, policy=scenarios.POLICY) as lab:
            clients = [concurrency._client(lab, i) for i in range(4)]
            records = await asyncio.gather(*(client.run_all() for client in clients))
            clean = concurrency.cross_talk(lab, clients, records)
            authorize = [next(r for r in steps if r.name == "authorize") for steps in records]
            mine = authorize[0].exchanges
            authorize[0].exchanges = authorize[2].exchanges  # client-2's, filed in client-0's record
            swapped = concurrency.cross_talk(lab, clients, records)
            authorize[0].exchanges = mine + authorize[2].exchanges[:1]  # one exchange in two records
            return clean, swapped, concurrency.cross_talk(lab, clients, records)

    clean, swapped, doubled = asyncio.run(checked())
    assert clean == []
    assert [
        p for p in swapped if p.startswith("client-0:") and "names client_id 'https://app.example/clients/2.json'" in p
    ]
    assert [p for p in swapped if p.startswith("client-0:") and "another client's document" in p]
    assert [p for p in swapped if "exchanges are in no client's records" in p]
    assert [p for p in doubled if "is in the records of client-0 and client-2" in p]


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--runs", "1"], "--runs: 1 is too few: at least 2"),  # the p90 needs two points
        (["--repeat", "0"], "--repeat: 0 is too few: at least 1"),  # a median needs one round
        (["--concurrent", "100", "0"], "--concurrent: 0 is too few: at least 1"),
        (["--transport-runs", "0"], "--transport-runs: 0 is too few: at least 1"),
        (["--fresh-runs", "-1"], "--fresh-runs: -1 is too few: at least 0"),
    ],
)
def test_the_handshake_benchmark_refuses_counts_it_cannot_take_a_median_of_before_running(
    benchmark: Callable[[str], Any], capsys: pytest.CaptureFixture[str], arguments: list[str], said: str
) -> None:
    """A usage error at once, not a StatisticsError after minutes of handshakes."""
    handshake = benchmark("handshake")
    with pytest.raises(SystemExit) as exited:
        handshake.parse_arguments(arguments)
    assert exited.value.code == 2 and said in capsys.readouterr().err
    assert handshake.parse_arguments(["--runs", "2", "--repeat", "1", "--loopback-runs", "0"]).runs == 2


@pytest.mark.parametrize(
    ("script", "arguments", "said"),
    [
        (
            "transport",
            ["--runs", "0"],
            "--runs: 0 is too few: at least 1",
        ),  # a StatisticsError after 50 TLS connections
        ("security", ["--clients", "0"], "--clients: 0 is too few: at least 1"),  # a ZeroDivisionError
        ("security", ["--fetches", "0"], "--fetches: 0 is too few: at least 1"),  # a StatisticsError
        ("load", ["--in-process", "100,x"], "--in-process: invalid"),  # a ValueError traceback
        ("load", ["--in-process", "0"], "--in-process: 0 is too few: at least 1"),  # a run of no clients
        ("load", ["--loopback", "-1"], "--loopback: -1 is too few: at least 0"),
        ("load", ["--body-mb", "-1"], "--body-mb: -1 is too few: at least 0"),
        ("instructions", ["--runs", "0"], "--runs: 0 is too few: at least 1"),  # a ZeroDivisionError
        ("instructions", ["--revision", "2099-01-01"], "--revision: invalid choice: '2099-01-01'"),  # a KeyError
        ("handshake", ["--gc-threshold", "-1"], "--gc-threshold: -1 is too few: at least 0"),
        ("notebooks", ["--repeat", "0"], "--repeat: 0 is too few: at least 1"),  # no kernel to take a median of
    ],
)
def test_every_benchmark_refuses_a_count_it_cannot_use_before_measuring(
    benchmark: Callable[[str], Any], capsys: pytest.CaptureFixture[str], script: str, arguments: list[str], said: str
) -> None:
    """The same standard as handshake.py's counts: argparse's usage error, naming the option, at once."""
    with pytest.raises(SystemExit) as exited:
        benchmark(script).parse_arguments(arguments)
    assert exited.value.code == 2 and said in capsys.readouterr().err


@pytest.mark.parametrize("script", ["handshake", "transport", "security", "load", "instructions", "notebooks", "suite"])
def test_every_benchmarks_help_says_what_it_measures_in_whole_sentences(
    benchmark: Callable[[str], Any], capsys: pytest.CaptureFixture[str], script: str
) -> None:
    """`--help` carries the script's description as written (security.py's stopped at its first
    line: "... A script that prints"), and says what each option is."""
    module = benchmark(script)
    with pytest.raises(SystemExit):
        module.parse_arguments(["--help"])
    shown = capsys.readouterr().out
    assert module.__doc__.split("\n\n")[0] in shown
    # An option with no help is a line of its own, not followed by its help's deeper indent.
    assert re.findall(r"^  (--[a-z-]+(?: [A-Z_]+)?)\n(?! {10})", shown, re.MULTILINE) == []


def test_the_load_benchmarks_client_counts_are_read_as_numbers(benchmark: Callable[[str], Any]) -> None:
    load = benchmark("load")
    assert load.parse_arguments([]).in_process == [100, 1000]
    assert load.parse_arguments(["--in-process", "4, 8,"]).in_process == [4, 8]
    assert load.parse_arguments(["--in-process", ""]).in_process == []


def test_the_json_holds_every_key_the_issue_names_null_when_a_part_was_skipped(
    benchmark: Callable[[str], Any],
) -> None:
    """`--quick` runs no 1,000 handshakes, `--loopback-runs 0 --fresh-runs 0` neither loopback nor
    fresh interpreters: the keys are there, null."""
    handshake = benchmark("handshake")
    assert set(handshake.REQUIRED_KEYS) == set(REQUIRED_KEYS)
    measured = {"median_ms": {"2026-07-28": {"DCR": 5.0}}, "concurrent_100_s": 0.5}
    result = handshake.with_required_keys(measured)
    assert result == {**measured, "loopback_tls_median_ms": None, "ratio_loopback_tls_over_inprocess": None,
                      "concurrent_1000_s": None, "first_connect_s": None}  # fmt: skip


def test_the_concurrent_gc_passes_are_those_of_the_median_run(benchmark: Callable[[str], Any]) -> None:
    concurrency = benchmark("concurrency")
    runs = [{"seconds": s, "gc_passes": [s, 0, 0]} for s in (3.0, 1.0, 2.0, 9.0)]
    assert concurrency.median_run(runs)["gc_passes"] == [2.0, 0, 0]
    assert concurrency.median_run(runs[:3])["gc_passes"] == [2.0, 0, 0]


@pytest.mark.parametrize(
    ("returncode", "summary", "passed"),
    [
        (0, "112 passed in 25.31s", True),
        (1, "1 failed, 111 passed in 25.31s", False),
        (5, "no tests ran in 0.01s", False),  # no notebook found
        (2, "1 error in 0.52s", False),  # collection failed: no "failed" in the summary
        (0, "", False),
    ],
)
def test_the_notebook_suite_meets_its_target_only_when_its_notebooks_ran_and_passed(
    benchmark: Callable[[str], Any], returncode: int, summary: str, passed: bool
) -> None:
    notebooks = benchmark("notebooks")
    assert notebooks.SuiteRun(1.0, returncode, summary).passed() is passed


def test_a_notebooks_first_cell_is_judged_and_stored_by_its_median(
    benchmark: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not the best of the runs: one lucky kernel does not meet the 2 s target for the others."""
    notebooks = benchmark("notebooks")
    times = iter([(0.5, 1.5), (0.6, 2.5), (0.7, 2.6)])
    monkeypatch.setattr(notebooks, "first_cell_times", lambda path: next(times))
    result: dict[str, object] = {}
    assert notebooks.report_first_cells([Path("00_start.ipynb")], 3, result) is False
    assert result["first_cell_median_s"] == {"00_start": 2.5} and result["kernel_start_median_s"] == {"00_start": 0.6}
    assert "1.50, 2.50, 2.60 s" in capsys.readouterr().out


def test_the_first_connect_is_timed_with_the_labs_bytecode_written(benchmark: Callable[[str], Any]) -> None:
    """As after a checkout's first run; where PYTHONDONTWRITEBYTECODE is set, nothing else writes it."""
    fresh = benchmark("fresh_interpreter")
    fresh.compile_lab()
    sources = sorted(fresh.LAB_PACKAGE.rglob("*.py"))
    assert sources and [s for s in sources if not Path(importlib.util.cache_from_source(str(s))).exists()] == []


def test_instruction_counts_are_read_from_cachegrinds_summary_and_differenced_per_handshake(
    benchmark: Callable[[str], Any],
) -> None:
    instructions = benchmark("instructions")
    summary = "==16576== \n==16576== I   refs:      4,254,717,098\n"
    assert instructions.parse_instruction_count(summary) == 4_254_717_098
    with pytest.raises(ValueError, match="I refs"):
        instructions.parse_instruction_count("valgrind: command not found")
    assert instructions.per_handshake(4_254_717_098, 5_254_383_440, 40) == 24_991_659
    with pytest.raises(ValueError, match="fewer instructions"):
        instructions.per_handshake(5_000, 4_000, 1)


def test_the_instruction_count_measures_cimd_only_in_revisions_that_have_it(benchmark: Callable[[str], Any]) -> None:
    instructions = benchmark("instructions")
    assert instructions.scenarios_of("2025-03-26") == instructions.scenarios_of("2025-06-18") == ["DCR"]
    assert instructions.scenarios_of("2026-07-28") == ["DCR", "CIMD, cold cache", "CIMD, warm cache"]


@pytest.mark.parametrize(
    ("revision", "scenario", "runs_to_the_end", "fresh"),
    [
        ("2026-07-28", "CIMD, cold cache", True, True),
        ("2025-11-25", "DCR", True, False),
        ("2025-11-25", "", True, False),  # the baseline: set-up and warm-up only
        ("2025-03-26", "CIMD, warm cache", False, False),  # no CIMD before 2025-11-25: the handshake fails
    ],
)
def test_the_instruction_probe_runs_each_scenario_natively(
    benchmark: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
    revision: str,
    scenario: str,
    runs_to_the_end: bool,
    fresh: bool,
) -> None:
    """The probe valgrind runs is plain Python: run here without valgrind (CI has none), it must
    still drive the lab's current API, and fail loudly (a StepError) where a scenario cannot run.
    One scenario runs as valgrind runs it, in a fresh interpreter; the others in this one, which
    has the lab imported already (a fresh interpreter each cost about a second of CPU)."""
    instructions = benchmark("instructions")
    arguments = [revision, scenario, "1" if scenario else "0"]
    if fresh:
        done = subprocess.run(
            [sys.executable, "-c", instructions.HANDSHAKE_PROBE, *arguments],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert (done.returncode == 0) is runs_to_the_end, done.stderr[-3000:]
        return
    monkeypatch.setattr(sys, "argv", ["-c", *arguments])
    probe = compile(instructions.HANDSHAKE_PROBE, "<probe>", "exec")
    if runs_to_the_end:
        exec(probe, {"__name__": "__main__"})
    else:
        with pytest.raises(StepError):
            exec(probe, {"__name__": "__main__"})


_BUSY = "import time\nstart = time.process_time()\nwhile time.process_time() - start < {seconds}: pass\n"


@pytest.mark.slow
def test_the_suite_benchmark_charges_each_module_its_tests_cpu_and_their_child_processes(
    benchmark: Callable[[str], Any], tmp_path: Path
) -> None:
    """`make test` is CPU-bound, so `suite.py` says where its CPU goes. A test that waits on a busy
    child process is charged the child's CPU; each xdist worker writes lines of its own, and the
    controller, which replays the workers' reports, writes none (each test would count twice)."""
    suite = benchmark("suite")
    child = _BUSY.format(seconds=0.3)
    (tmp_path / "test_child.py").write_text(
        f"import subprocess, sys\ndef test_waits_on_a_busy_child():\n    subprocess.run([sys.executable, '-c', {child!r}], check=True)\n"
        "def test_idle():\n    pass\n"
    )  # fmt: skip
    (tmp_path / "test_own.py").write_text(
        "def test_busy_itself():\n" + "".join(f"    {line}\n" for line in _BUSY.format(seconds=0.2).splitlines())
    )
    # As from a test of `make test`: an outer xdist worker's name is in the environment.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "benchmarks"), "LAB_SUITE_CPU_FILE": str(tmp_path / "cpu.jsonl"),
           "PYTEST_XDIST_WORKER": "gw7"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "cpu_by_test", "-n", "2", "test_child.py", "test_own.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    written = sorted(tmp_path.glob("cpu.jsonl*"))
    assert written and all(re.fullmatch(r"cpu\.jsonl\.gw[01]", path.name) for path in written)
    costs = {
        cost.module: cost
        for cost in suite.cost_by_module(
            [json.loads(line) for path in written for line in path.read_text().splitlines()]
        )
    }
    assert set(costs) == {"test_child.py", "test_own.py"}
    assert (costs["test_child.py"].tests, costs["test_own.py"].tests) == (2, 1)
    assert 0.3 <= costs["test_child.py"].cpu < 5 and 0.2 <= costs["test_own.py"].cpu < 5
    assert costs["test_child.py"].wall >= 0.3


def test_the_suite_benchmark_says_the_floor_its_cpu_time_sets_on_the_wall_time(benchmark: Callable[[str], Any]) -> None:
    suite = benchmark("suite")
    run = suite.Timed("test_pytest", 250.0, "4 passed", 0.5, 1.9, cpu_seconds=450.0)
    assert (
        suite.describe_cpu(run, 2)
        == "CPU 450.0 s (1.80 of 2 cores busy): on 2 cores no scheduling takes it under 225.0 s"
    )
    run.by_module = suite.cost_by_module([
        {"test": "tests/test_a.py::test_one", "wall": 2.0, "own": 0.5, "children": 10.0},
        {"test": "tests/test_b.py::test_two[x]", "wall": 1.0, "own": 1.0, "children": 0.0},
        {"test": "tests/test_a.py::test_three", "wall": 1.0, "own": 0.5, "children": 0.0},
    ])  # fmt: skip
    assert run.by_module == [
        suite.ModuleCost("tests/test_a.py", 11.0, 3.0, 2),
        suite.ModuleCost("tests/test_b.py", 1.0, 1.0, 1),
    ]
    assert "the tests account for 12.0 s, by module below" in suite.describe_cpu(run, 2)


def test_every_benchmarks_json_says_how_many_cores_and_which_python_ran_the_work(
    benchmark: Callable[[str], Any],
) -> None:
    """A line from a 4-core machine, or from another build of Python (4.4 to 5.5 ms for the same
    handshake on one machine), would otherwise read like one from the issue's 2-core machine.
    `suite.py` and `install.py` describe the Python they run (make's, the new .venv's), not their
    own."""
    machine = benchmark("machine")
    readings: dict[str, Any] = {}
    with machine.conditions(lambda line: None, readings):
        pass
    assert readings["cores"] == len(os.sched_getaffinity(0)) >= 1
    assert readings["python"] == f"{sys.version} at {sys.base_prefix}" == machine.interpreter(sys.executable)
    assert (
        machine.interpreter("/nonexistent/python3") == "/nonexistent/python3 (did not start: No such file or directory)"
    )
    pytest_command = benchmark("suite").makefile_recipe("test")[-1]
    assert pytest_command[1:3] == ["-m", "pytest"]
    assert "did not start" not in machine.setting(str(ROOT / pytest_command[0]))["python"]


@pytest.mark.parametrize("target", ["test", "test-fast", "lint"])
def test_the_suite_benchmark_runs_the_commands_make_runs_with_no_makefile_syntax_left(
    benchmark: Callable[[str], Any], target: str
) -> None:
    """`WORKERS` comes from `$(shell …)`: read off the Makefile, pytest got `-n '$(shell'`, every
    run failed in half a second, and that half second was printed against the 4-minute target."""
    commands = benchmark("suite").makefile_recipe(target)
    assert commands and not [arg for command in commands for arg in command if "$" in arg]
    if target != "lint":
        (command,) = commands
        assert command[command.index("-n") + 1].isdigit() and command[command.index("-m") + 1] == "pytest"


def test_a_failed_run_of_the_suite_has_no_time_to_hold_against_its_target(benchmark: Callable[[str], Any]) -> None:
    suite = benchmark("suite")
    fast = suite.Timed("test_fast", 0.6, "1 failed, 9 passed in 0.50s (exit 1)", 0.5, 0.5, returncode=1)
    lint, pytest_run = (suite.Timed(name, 9.0, "clean", 0.5, 0.5) for name in ("lint", "test_pytest"))
    assert suite.target_seconds([fast, lint, pytest_run]) == {
        "test_fast_s": None, "lint_s": 9.0, "test_pytest_s": 9.0, "test_s": 18.0
    }  # fmt: skip
    lint.returncode = 2
    assert suite.target_seconds([lint, pytest_run])["test_s"] is None
    assert suite.judged(None, 60.0).startswith("failed, so no time to hold against its target (≤ 60 s)")
    assert suite.judged(55.2, 60.0) == "55.2 s (target ≤ 60 s)"


def test_a_run_of_the_suite_that_skipped_tests_is_not_held_against_its_target(benchmark: Callable[[str], Any]) -> None:
    """On a machine without Chromium, `make test` skips the Binder walk-through (about 57 s of CPU)
    and the stepper's browser tests, and passes: its time is a smaller suite's."""
    suite = benchmark("suite")
    skips = [
        "SKIPPED [1] tests/test_browser_walkthrough.py:128: no chromium",
        "SKIPPED [4] tests/test_browser.py:47: no chromium",
    ]
    fast = suite.Timed("test_fast", 55.0, "9 passed in 54.00s", 0.5, 0.5)
    pytest_run = suite.Timed("test_pytest", 230.0, "9 passed, 5 skipped in 229.00s", 0.5, 0.5, skipped=skips)
    assert (fast.skipped_tests(), pytest_run.skipped_tests()) == (0, 5)
    assert suite.skipped_by_target([fast]) == {"test_fast_skipped": 0}
    assert suite.skipped_by_target([fast, pytest_run]) == {"test_fast_skipped": 0, "test_skipped": 5}
    verdict = suite.judged(238.5, 240.0, 5)
    assert "5 skipped" in verdict and "not held against its target (≤ 240 s)" in verdict


def test_the_suite_benchmark_without_its_venv_says_what_to_run_and_a_missing_program_is_a_failed_run(
    benchmark: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # It runs make's recipes itself, so make's setup-test never ran: a traceback from Popen said so.
    suite = benchmark("suite")
    monkeypatch.setattr(suite, "makefile_recipe", lambda target: [[".venv-absent/bin/python", "-m", "pytest"]])
    monkeypatch.setattr(sys, "argv", ["suite.py", "--fast-only"])
    assert suite.main() == 1
    assert "needs .venv-absent/bin/python, which `make setup-test` installs" in capsys.readouterr().err
    result, out = suite.timed("test_fast", [[".venv-absent/bin/python", "-V"]])
    assert result.returncode == 127 and "did not start" in result.summary and out == ""


@pytest.mark.parametrize("samples", [[10.0, 13.0], [10.0, 11.0, 13.0], [10.0, 10.0, 11.0, 11.0, 13.0]])
def test_a_p90_is_a_time_some_handshake_took_at_most(benchmark: Callable[[str], Any], samples: list[float]) -> None:
    # statistics.quantiles' exclusive default extrapolates past the slowest of fewer than 9 samples.
    assert min(samples) <= benchmark("handshake")._p90(samples) <= max(samples)
