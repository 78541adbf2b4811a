"""Run the real locustfile with the Locust CLI against the legacy app under gunicorn.

These are smoke runs of a few seconds: they prove that every task's request and body check
passes against a real server, that the targets gate passes a healthy run and fails (naming the
target) a run that misses one, and that the benchmark users are selectable by class name. No
assertion is about speed.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from loadtest.common.markers import TARGET_MISSED, TARGETS_MET, WARMUP_OVER
from loadtest.servers import REPO_ROOT, Server
from tests.loadtest.conftest import LocustRun
from tests.services import TwsSim

SMOKE_TARGETS = str(REPO_ROOT / "loadtest" / "targets" / "smoke.toml")

# Tasks whose weight makes them all but certain to run in a few hundred requests.
OPERATOR_REQUESTS = [
    "GET /api/v1/status",
    "GET /api/v1/status/jobs",
    "GET /api/v1/status/jobs/[job_id]",
    "GET /api/v1/agents",
    "POST /api/v1/chat",
    "GET /api/v1/chat/history",
    "GET /api/v1/audit/flags",
    "GET /api/v1/rag/search",
    "POST /api/v1/auth/login",
]

RunLocust = Callable[..., LocustRun]


@pytest.mark.parametrize(
    "server_fixture",
    [
        pytest.param("legacy_server", id="legacy-gunicorn"),
        pytest.param("new_server", id="fastapi-uvicorn"),
    ],
)
def test_operator_run_passes_every_body_check_and_meets_lenient_targets(
    server_fixture: str, request: pytest.FixtureRequest, run_locust: RunLocust, tmp_path: Path
) -> None:
    server: Server = request.getfixturevalue(server_fixture)
    html = tmp_path / "report.html"
    run = run_locust(
        server.base_url,
        "--targets", SMOKE_TARGETS, "--think-time", "0", "--html", str(html), "ResyncOperator",
        seconds=6,
    )  # fmt: skip

    assert run.returncode == 0, run.output[-3000:]
    assert TARGETS_MET in run.output
    stats = run.stats
    assert stats["Aggregated"].failures == 0
    missing = [
        name for name in OPERATOR_REQUESTS if stats.get(name) is None or stats[name].requests == 0
    ]
    assert not missing, f"never requested: {missing}"
    assert html.stat().st_size > 0


def test_missed_targets_exit_non_zero_and_each_is_named(
    legacy_server: Server, run_locust: RunLocust, tmp_path: Path
) -> None:
    targets = tmp_path / "impossible.toml"
    targets.write_text(
        'description = "cannot be met"\n[aggregate]\nrps_min = 1e9\n'
        '[requests."GET /api/v1/agents"]\np99_ms_max = 0\n'
    )

    run = run_locust(legacy_server.base_url, "--targets", str(targets), "AgentsUser")

    assert run.returncode == 1, run.output[-3000:]
    assert f"{TARGET_MISSED} Aggregated: rps" in run.output
    assert "is below the floor 1e+09" in run.output
    assert f"{TARGET_MISSED} GET /api/v1/agents: p99_ms" in run.output
    assert "is above the ceiling 0 " in run.output
    assert run.stats["Aggregated"].failures == 0  # the run itself was healthy


def test_failed_requests_miss_the_default_zero_failure_target(
    legacy_server: Server, tws_sim: TwsSim, run_locust: RunLocust
) -> None:
    tws_sim.configure(error_rate=1.0)  # every TWS call fails: the app answers 502

    run = run_locust(legacy_server.base_url, "--targets", SMOKE_TARGETS, "JobsUser")

    assert run.returncode == 1
    assert f"{TARGET_MISSED} Aggregated: fail_ratio" in run.output
    assert "is above the ceiling 0 " in run.output
    failures = (run.csv_prefix.parent / "run_failures.csv").read_text()
    assert "expected status 200, got 502: TWS returned an error." in failures


def test_benchmark_users_are_picked_by_class_name_and_load_only_their_endpoint(
    legacy_server: Server, run_locust: RunLocust
) -> None:
    run = run_locust(legacy_server.base_url, "--targets", SMOKE_TARGETS, "AgentsUser", "JobsUser")

    assert run.returncode == 0, run.output[-3000:]
    assert '{"AgentsUser": 1, "JobsUser": 1}' in run.output
    names = {key for key in run.stats if key != "Aggregated"}
    assert names == {"GET /api/v1/agents", "GET /api/v1/status/jobs", "POST /api/v1/auth/login"}


def test_unreadable_targets_file_stops_the_run_before_any_request(
    legacy_server: Server, run_locust: RunLocust, tmp_path: Path
) -> None:
    targets = tmp_path / "typo.toml"
    targets.write_text("[aggregate]\nrps_minimum = 10\n")

    run = run_locust(legacy_server.base_url, "--targets", str(targets), "AgentsUser", seconds=3)

    assert run.returncode == 2
    assert "unknown keys rps_minimum" in run.output
    assert "Ramping" not in run.output
    stats = Path(f"{run.csv_prefix}_stats.csv")
    assert not stats.exists() or sum(row.requests for row in run.stats.values()) == 0


def _issue_token(base_url: str, tmp_path: Path) -> Path:
    login = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": "viewer", "password": "resync-viewer-dev"},
        timeout=30,
    )
    tokens = tmp_path / "tokens.tsv"
    tokens.write_text(f"viewer\t{login.json()['access_token']}\n")
    return tokens


def test_warmup_resets_statistics_after_the_ramp(
    legacy_server: Server, run_locust: RunLocust, tmp_path: Path
) -> None:
    tokens = _issue_token(legacy_server.base_url, tmp_path)  # requests start at once

    run = run_locust(
        legacy_server.base_url,
        *f"--warmup-seconds 2 --resync-tokens-file {tokens} AgentsUser".split(),
        seconds=5,
    )

    assert run.returncode == 0, run.output[-3000:]
    assert WARMUP_OVER in run.output
    with (run.csv_prefix.parent / "run_stats_history.csv").open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] == "Aggregated"]
    counts = [int(row["Total Request Count"]) for row in rows]
    drops = [later < earlier for earlier, later in itertools.pairwise(counts)]
    assert any(drops), counts  # the running total fell once: the reset


def test_issued_tokens_replace_signing_in(
    legacy_server: Server, run_locust: RunLocust, tmp_path: Path
) -> None:
    tokens = _issue_token(legacy_server.base_url, tmp_path)

    run = run_locust(
        legacy_server.base_url, "--resync-tokens-file", str(tokens), "AgentsUser", seconds=4
    )

    assert run.returncode == 0, run.output[-3000:]
    assert "POST /api/v1/auth/login" not in run.stats
    assert run.stats["GET /api/v1/agents"].requests > 0
