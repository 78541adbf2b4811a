"""Every promoted case (``parity_tests/cases/``), both implementations, as the scenarios run.

A case came from real traffic (a capture, a replay mismatch or a shadow mismatch), so once a
difference is fixed it stays tested. Read-only cases share one pair of apps per backend; a case
that may write gets freshly restored copies and the rows of both sides are compared too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parity_tests.cases import CASES_DIR, load_cases, scenario_from_case
from parity_tests.conftest import LegacySide, NewSide, ParityEnv, WritePair
from parity_tests.databases import compare_snapshots, snapshot
from parity_tests.harness import run_scenario
from parity_tests.test_parity import check_expectation, faults
from proxy.shadow.comparator import format_diff
from proxy.traffic.cases import case_from_capture, read_case, write_case

CASES = load_cases()


def test_the_cases_folder_holds_promoted_cases() -> None:
    assert CASES, f"no case in {CASES_DIR}"
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda s: s.id)
def test_case_answers_and_writes_alike(
    case: object,
    parity_env: ParityEnv,
    read_pair: tuple[LegacySide, NewSide],
    write_pair: WritePair,
) -> None:
    from resync_scenarios import Scenario

    assert isinstance(case, Scenario)
    if case.writes:
        write_pair.restore(parity_env.copies)
        legacy, new = write_pair.legacy, write_pair.new
    else:
        legacy, new = read_pair
    with faults(parity_env.sim, case):
        outcome = run_scenario(case, legacy, new, parity_env.credentials, parity_env.comparator)
    assert outcome.equal, outcome.report(parity_env.backend)
    if case.writes:
        rows = compare_snapshots(snapshot(write_pair.legacy_url), snapshot(write_pair.new_url))
        assert rows.equal, f"{case.id}: rows differ (legacy → new):\n{format_diff(rows)}"
    check_expectation(outcome, parity_env.backend)


def test_a_promoted_capture_runs_as_a_scenario(tmp_path: Path) -> None:
    record = {
        "id": 7,
        "at": "2026-12-02T16:30:00.000Z",
        "route": "POST /api/v1/chat",
        "auth": {"kind": "role", "role": "operator"},
        "request": {
            "method": "POST",
            "path": "/api/v1/chat",
            "query": "",
            "headers": [["content-type", "application/json"], ["authorization", "[REDACTED]"]],
            "body": {"encoding": "utf-8", "value": '{"agent_id":"tws-general","message":"plan"}'},
        },
        "response": {"status": 200, "headers": [], "body": {"encoding": "empty", "value": ""}},
    }
    path = write_case(case_from_capture(record, expect=200), tmp_path)
    scenario = scenario_from_case(read_case(path))

    assert path.name == "capture-7-post-api-v1-chat.json"
    assert scenario.route == "POST /api/v1/chat" and scenario.auth == "operator"
    assert scenario.payload() == (
        b'{"agent_id":"tws-general","message":"plan"}',
        "application/json",
    )
    assert scenario.writes and scenario.expect == 200
    assert "REDACTED" not in json.dumps(scenario.headers)
