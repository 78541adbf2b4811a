"""Targets files: parsing, validation, and naming every missed target."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.common.targets import Limits, Miss, Observed, TargetsError, evaluate, load_targets
from loadtest.servers import REPO_ROOT

HEALTHY = Observed(requests=1000, failures=0, rps=250.0, p50_ms=20, p95_ms=80, p99_ms=150)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(text)
    return path


def test_file_with_aggregate_and_per_request_limits_is_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'description = "d"\n[aggregate]\nrps_min = 100\np95_ms_max = 250.5\n'
        '[requests."GET /api/v1/agents"]\np99_ms_max = 300\nfail_ratio_max = 0.01\n',
    )

    targets = load_targets(path)

    assert targets.description == "d"
    assert targets.aggregate == Limits(rps_min=100.0, p95_ms_max=250.5)
    assert targets.requests == {"GET /api/v1/agents": Limits(p99_ms_max=300.0, fail_ratio_max=0.01)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[aggregate]\nrps_minimum = 1\n", "unknown keys rps_minimum", id="typo"),
        pytest.param("[aggregate]\nrps_min = -1\n", "non-negative number", id="negative"),
        pytest.param('[aggregate]\nrps_min = "fast"\n', "non-negative number", id="string"),
        pytest.param("[aggregate]\nrps_min = true\n", "non-negative number", id="bool"),
        pytest.param("[aggregate]\nrps_min = inf\n", "non-negative number", id="infinite"),
        pytest.param("threshold = 3\n", "unknown keys threshold", id="top-level"),
        pytest.param("[aggregate\n", "cannot read targets", id="not-toml"),
        pytest.param("requests = 3\n", "table of request names", id="requests-not-table"),
    ],
)
def test_bad_file_is_refused_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(TargetsError, match=message):
        load_targets(write(tmp_path, text))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="cannot read targets"):
        load_targets(tmp_path / "absent.toml")


def test_healthy_run_meets_every_target(tmp_path: Path) -> None:
    path = write(tmp_path, "[aggregate]\nrps_min = 200\np95_ms_max = 100\np99_ms_max = 200\n")

    assert evaluate(load_targets(path), HEALTHY, {}) == []


def test_each_missed_limit_is_reported_with_its_numbers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[aggregate]\nrps_min = 1e9\np50_ms_max = 10\np95_ms_max = 50\np99_ms_max = 100\n",
    )
    slow = Observed(requests=10, failures=1, rps=5.0, p50_ms=20, p95_ms=80, p99_ms=150)

    missed = evaluate(load_targets(path), slow, {})

    assert [str(m) for m in missed] == [
        "Aggregated: rps 5 is below the floor 1e+09",
        "Aggregated: p50_ms 20 is above the ceiling 10",
        "Aggregated: p95_ms 80 is above the ceiling 50",
        "Aggregated: p99_ms 150 is above the ceiling 100",
        "Aggregated: fail_ratio 0.1 is above the ceiling 0",
    ]


def test_failures_miss_by_default_and_pass_under_an_explicit_ratio(tmp_path: Path) -> None:
    one_failure = Observed(requests=100, failures=1, rps=10, p50_ms=1, p95_ms=1, p99_ms=1)

    assert [m.metric for m in evaluate(load_targets(write(tmp_path, "")), one_failure, {})] == [
        "fail_ratio"
    ]
    lenient = load_targets(write(tmp_path, "[aggregate]\nfail_ratio_max = 0.05\n"))
    assert evaluate(lenient, one_failure, {}) == []


def test_a_run_without_requests_always_misses(tmp_path: Path) -> None:
    idle = Observed(requests=0, failures=0, rps=0, p50_ms=0, p95_ms=0, p99_ms=0)

    missed = evaluate(load_targets(write(tmp_path, "")), idle, {})

    assert missed == [Miss("Aggregated", "requests", 0, 1, "floor")]
    assert str(missed[0]) == "Aggregated: no requests were made"


def test_per_request_targets_are_judged_by_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[requests."GET /api/v1/agents"]\np95_ms_max = 50\n'
        '[requests."GET /api/v1/status/jobs"]\np95_ms_max = 50\n',
    )
    fast = Observed(requests=10, failures=0, rps=5, p50_ms=5, p95_ms=10, p99_ms=12)

    missed = evaluate(load_targets(path), HEALTHY, {"GET /api/v1/agents": fast})

    assert [str(m) for m in missed] == ["GET /api/v1/status/jobs: no requests were made"]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, id=p.name)
        for p in sorted((REPO_ROOT / "loadtest" / "targets").glob("*.toml"))
    ],
)
def test_every_committed_targets_file_is_valid(path: Path) -> None:
    targets = load_targets(path)
    assert targets.description
    assert targets.aggregate.fail_ratio_max == 0.0
