"""Every scenario, both implementations, each on its own copy of the same seeded database.

A failure prints the route, the request and the readable diff of the two answers (and of the
database rows, for scenarios that write). A scenario that agrees on both sides but misses the
status it was written for fails separately: it no longer exercises what it claims to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from parity_tests.conftest import LegacySide, NewSide, ParityEnv, WritePair
from parity_tests.databases import compare_snapshots, snapshot
from parity_tests.harness import Outcome, run_scenario
from proxy.shadow.comparator import format_diff
from resync_scenarios import SCENARIOS, Scenario
from tests.services import TwsSim

READS = [s for s in SCENARIOS if not s.writes]
WRITES = [s for s in SCENARIOS if s.writes]


@contextlib.contextmanager
def faults(sim: TwsSim, scenario: Scenario) -> Iterator[None]:
    """Apply the scenario's simulator faults while it runs (the session's simulator is reset
    only around scenarios that change it, which saves two control calls per scenario)."""
    if not scenario.tws:
        yield
        return
    sim.configure(**scenario.tws)
    try:
        yield
    finally:
        sim.reset()


def check_expectation(outcome: Outcome, backend: str) -> None:
    scenario = outcome.scenario
    if scenario.expect is None:
        return
    status = outcome.main.legacy.status
    assert status == scenario.expect, (
        f"[{backend}] scenario {scenario.id} ({scenario.describe()}) was written to reach "
        f"{scenario.expect} but both sides answered {status}: the scenario no longer exercises "
        "what it says (or both sides break the contract)"
    )


@pytest.mark.parametrize("scenario", READS, ids=lambda s: s.id)
def test_read_scenario_answers_alike(
    scenario: Scenario,
    parity_env: ParityEnv,
    read_pair: tuple[LegacySide, NewSide],
) -> None:
    legacy, new = read_pair
    with faults(parity_env.sim, scenario):
        outcome = run_scenario(scenario, legacy, new, parity_env.credentials, parity_env.comparator)
    answered_alike = outcome.equal
    assert answered_alike, outcome.report(parity_env.backend)
    check_expectation(outcome, parity_env.backend)


@pytest.mark.parametrize("scenario", WRITES, ids=lambda s: s.id)
def test_write_scenario_answers_and_writes_alike(
    scenario: Scenario, parity_env: ParityEnv, write_pair: WritePair
) -> None:
    write_pair.restore(parity_env.copies)
    with faults(parity_env.sim, scenario):
        outcome = run_scenario(
            scenario,
            write_pair.legacy,
            write_pair.new,
            parity_env.credentials,
            parity_env.comparator,
        )
    answered_alike = outcome.equal
    assert answered_alike, outcome.report(parity_env.backend)
    rows = compare_snapshots(snapshot(write_pair.legacy_url), snapshot(write_pair.new_url))
    assert rows.equal, (
        f"[{parity_env.backend}] scenario {scenario.id} ({scenario.describe()}): both sides "
        f"answered alike but left different rows (legacy → new):\n{format_diff(rows)}"
    )
    check_expectation(outcome, parity_env.backend)
