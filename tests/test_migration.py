"""Notebook 06's tables (lab_servers.migration): what a cell that passes the wrong thing is told."""

from __future__ import annotations

import warnings

import pytest

from lab_servers.migration import Scenario, Table, operator_scenarios, resource_moves, scenarios_table


def test_scenarios_table_names_a_forgotten_await() -> None:
    # The cell is scenarios_table(await operator_scenarios()); without the await it raised
    # "'coroutine' object is not iterable", and Python warned the coroutine was never awaited.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(TypeError, match=r"scenarios_table takes a list of scenarios.*did you forget `await`\?"):
            scenarios_table(operator_scenarios())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got a list of 1"):
        scenarios_table(["one AS offering both"])  # type: ignore[list-item]
    assert str(scenarios_table([Scenario("s", "ok", "why")])).splitlines()[2] == "s         ok       why"


def test_a_column_the_table_does_not_have_is_named_with_the_ones_it_has() -> None:
    table = Table(["revision", "PRM"], [["2025-06-18", "yes"]])
    assert table.column("PRM") == ["yes"]
    with pytest.raises(ValueError, match=r"unknown column 'prm'; choose one of 'revision', 'PRM'"):
        table.column("prm")


@pytest.mark.anyio
async def test_resource_moves_gives_the_outcome_of_a_client_that_cannot_finish_the_first_handshake() -> None:
    # resource_moves promises the client ids each AS saw and the outcome, as notebook 06's other
    # tables say one: a 2025-03-26 client looks for its AS at the MCP server's origin (2025-03-26
    # §2.3.2), not where this 2026-07-28 lab's PRM names it, and fails before the move. That
    # StepError escaped the function.
    ids, outcome = await resource_moves("2025-03-26")
    assert ids == ["https://auth.example.com: -", "https://auth2.example.com: -"]
    assert outcome.startswith("fails at step 4, before the move: registration refused (404")
