"""What the security experiments do with an argument they cannot run: a count of nothing, a
policy named as a string or with a typo, one string where a tuple was meant, runs no time apart.
Each says what it takes, with an example, instead of an IndexError or a verdict about something
else."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest

from lab_servers import HARDENED, NAIVE, security
from lab_servers.security import (
    RULE_CASES,
    run_cimd_rule,
    run_client_id_sprawl,
    run_one_agent,
    run_per_server_secrets,
    run_trust_policy,
)
from lab_servers.security.exercises import which_refused_observed
from lab_servers.security.mixup import mixup_table, run_mixup

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (
            lambda: run_client_id_sprawl(HARDENED, clients=0),
            "clients is a whole number of at least 1, such as 600; got int 0",
        ),
        (lambda: run_client_id_sprawl(HARDENED, clients=3, samples=0), "samples is a whole number of at least 1"),
        (lambda: run_one_agent(HARDENED, -1), "runs is a whole number of at least 1, such as 100; got int -1"),
        (lambda: run_one_agent(HARDENED, "5"), "runs is a whole number of at least 1, such as 100; got str '5'"),
        (lambda: run_per_server_secrets(HARDENED, servers=0), "servers is a whole number of at least 1, such as 3"),
        (
            lambda: run_per_server_secrets(HARDENED, servers=-2),
            "servers is a whole number of at least 1, such as 3; got int -2",
        ),
        (lambda: run_per_server_secrets(HARDENED, servers="3"), "such as 3; got str '3'"),
    ],
    ids=[
        "no-clients",
        "no-samples",
        "negative-runs",
        "runs-as-text",
        "no-servers",
        "negative-servers",
        "servers-as-text",
    ],
)
async def test_a_count_the_experiments_cannot_draw_is_refused_with_a_message(run: Any, message: str) -> None:
    # Zero clients left no point to show (IndexError); zero samples divided by zero.
    with pytest.raises(TypeError, match=re.escape(message)):
        await run()


@pytest.mark.parametrize(
    ("minutes_apart", "error", "message"),
    [
        ("1", TypeError, "minutes_apart is a number of minutes, such as 1 or 0.5 (30 s); got str '1'"),
        (
            0.001,
            ValueError,
            "minutes_apart is at least one second (1/60 min), such as 1 or 0.5 (30 s); got float 0.001",
        ),
        (0, ValueError, "minutes_apart is at least one second"),
        (float("nan"), ValueError, "minutes_apart is at least one second"),
        (1.01, ValueError, "the lab clock counts whole seconds; minutes_apart=1.01 is 60.6 s, not a whole number"),
        (float("inf"), ValueError, "runs × minutes_apart spans at most the 1,000 years the lab clock runs here"),
    ],
    ids=["text", "under-a-second", "zero", "nan", "part-of-a-second", "infinite"],
)
async def test_one_agent_runs_a_whole_number_of_seconds_apart_at_least_one(
    minutes_apart: object, error: type[Exception], message: str
) -> None:
    # 0.001 min advanced int(0.06) = 0 s: every run at one instant, reported "0.001 min apart";
    # "1" * 60 was a 60-digit date, refused by the clock in words about the year 9999.
    with pytest.raises(error, match=re.escape(message)):
        await run_one_agent(HARDENED, 3, minutes_apart=minutes_apart)  # type: ignore[arg-type]


async def test_one_agent_runs_a_fraction_of_a_minute_apart_in_whole_seconds() -> None:
    # Half a minute is 30 s: 30 runs span 870 s, so a copy cached for max-age=300 is fetched 3 times.
    result = await run_one_agent(HARDENED, 30, minutes_apart=0.5)
    assert result.details["fetches"] == 3
    assert "30 sessions of one agent, 0.5 min apart" in result.summary


@pytest.mark.parametrize(
    "run",
    [
        lambda: run_trust_policy("hardened"),
        lambda: run_cimd_rule("slow", "hardened"),
        lambda: run_cimd_rule("valid", "hardened"),
    ],
    ids=["trust-policy", "slow-rule", "valid-rule"],
)
async def test_a_policy_named_as_a_string_is_refused_with_the_lab_s_message(run: Any) -> None:
    # run_trust_policy and a case that changes the policy called policy.but(...) before any check:
    # "'str' object has no attribute 'but'".
    with pytest.raises(TypeError, match=re.escape("the AS policy is an ASPolicy, such as HARDENED or NAIVE")):
        await run()


def test_a_rule_case_applies_its_changes_only_to_a_policy() -> None:
    slow = next(case for case in RULE_CASES if case.id == "slow")  # its timeout on its own time scale
    with pytest.raises(TypeError, match=r"the AS policy is an ASPolicy, such as HARDENED .*; got str 'hardened'"):
        slow.policy_for("hardened")  # type: ignore[arg-type]


async def test_the_mixup_experiment_refuses_a_policy_it_does_not_know() -> None:
    # A mistyped "Hardened" used to run the naive AS (no iss, RFC 9207) under the name "Hardened".
    with pytest.raises(ValueError, match="unknown mix-up policy 'Hardened' \\(did you mean 'hardened'\\?\\)"):
        await run_mixup(policy="Hardened")


async def test_the_trust_policy_takes_a_tuple_of_domains_not_one_string() -> None:
    # ("app.example") is a string: read as a tuple, each letter became a domain and both clients were refused.
    with pytest.raises(
        TypeError, match=r"allowed_client_domains is a tuple of host patterns, such as .*; got str .app\.example."
    ):
        await run_trust_policy(HARDENED, allowed="app.example")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (lambda policy: run_client_id_sprawl(policy, clients=3), "CIMD login 1 was refused: "),
        (lambda policy: run_one_agent(policy, 3), "CIMD run 1 was refused: "),
    ],
    ids=["sprawl", "one-agent"],
)
async def test_an_experiment_whose_cimd_logins_are_refused_stops_and_says_why(run: Any, message: str) -> None:
    # An allow list naming no domain refuses every CIMD client (MCP §11.6.3): counting what the
    # AS holds would then compare DCR with nothing, so the experiment stops with the AS's reason.
    with pytest.raises(RuntimeError, match=re.escape(message) + ".*not on this AS's list of allowed domains"):
        await run(NAIVE.but(allowed_client_domains=()))


# Every experiment a notebook cell runs: the security package's run_* and the mix-up's. Each of
# their parameters has a row here, a value it cannot take and the start of what it says instead:
# a new experiment, or a new parameter, without a row (or without its check) fails below.
ENTRY_POINTS: list[Callable[..., Any]] = [
    *(getattr(security, name) for name in security.__all__ if name.startswith("run_")),
    run_mixup,
    mixup_table,
    which_refused_observed,
]
WRONG: dict[str, tuple[object, str]] = {
    "policy": ("hardened", "the AS policy is an ASPolicy, such as HARDENED or NAIVE"),
    "run_mixup.policy": (5, "the mix-up policy is a string, one of 'naive', 'hardened'"),
    "case": (5, "the rule case is a string, one of 'valid'"),
    "runs": (0, "runs is a whole number of at least 1"),
    "clients": (0, "clients is a whole number of at least 1"),
    "samples": (0, "samples is a whole number of at least 1"),
    "servers": ("3", "servers is a whole number of at least 1"),
    "burst": (-1, "burst is a whole number of at least 1"),
    "store_capacity": (0, "store_capacity is a whole number of at least 1"),
    "minutes_apart": (0.001, "minutes_apart is at least one second"),
    "what": (5, "what names the runs in the summary and the chart, a string such as 'installs'"),
    "allowed": ("app.example", "allowed_client_domains is a tuple of host patterns"),
    "document_extras": ([("client_secret", "x")], "document_extras is a dict of document fields"),
    "client_revision": (5, "an MCP revision is a string"),
    "seed": ([1], "Lab(seed=…) takes an int or a str"),
}
VALID: dict[str, object] = {"policy": HARDENED, "case": "slow"}  # what a required parameter is given


def _arguments() -> list[tuple[Callable[..., Any], str]]:
    return [(run, name) for run in ENTRY_POINTS for name in inspect.signature(run).parameters]


@pytest.mark.parametrize(("run", "name"), _arguments(), ids=[f"{r.__name__}.{n}" for r, n in _arguments()])
async def test_every_experiment_refuses_each_argument_it_cannot_run_before_it_runs(
    run: Callable[..., Any], name: str
) -> None:
    row = WRONG.get(f"{run.__name__}.{name}") or WRONG.get(name)
    assert row, f"{run.__name__}({name}=…) has no wrong value in WRONG: say what it refuses, and check it"
    wrong, message = row
    parameters = inspect.signature(run).parameters.values()
    arguments = {p.name: VALID[p.name] for p in parameters if p.default is inspect.Parameter.empty}
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        await run(**{**arguments, name: wrong})
