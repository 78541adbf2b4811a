"""The data set: deterministic per seed, and coherent with the shapes docs/tws_sim.md promises."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from tws_sim.dataset import (
    JOB_STATUSES,
    WORKSTATION_TYPES,
    DataSet,
    build_dataset,
)

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
NOW = "2026-11-26T12:00:00Z"


@pytest.fixture(scope="module")
def dataset() -> DataSet:
    return build_dataset(42)


def test_same_seed_builds_an_equal_data_set(dataset: DataSet) -> None:
    assert build_dataset(42) == dataset


@pytest.mark.parametrize("seed", [pytest.param(0, id="seed-0"), pytest.param(43, id="seed-43")])
def test_another_seed_builds_different_jobs(dataset: DataSet, seed: int) -> None:
    other = build_dataset(seed)
    assert other.jobs != dataset.jobs
    assert other.logs != dataset.logs


def test_plan_is_the_running_plan_of_the_base_day(dataset: DataSet) -> None:
    assert dataset.plan == {
        "plan_id": "PLAN_20261126",
        "created_at": "2026-11-26T00:00:00Z",
        "jobs_count": 500,
        "status": "RUNNING",
        "estimated_end": "2026-11-26T23:59:59Z",
    }


def test_workstations_mix_types_and_some_are_unlinked(dataset: DataSet) -> None:
    stations = dataset.workstations
    assert len(stations) >= 8
    assert [ws["name"] for ws in stations] == sorted(ws["name"] for ws in stations)
    assert len({ws["name"] for ws in stations}) == len(stations)
    assert {ws["type"] for ws in stations} == set(WORKSTATION_TYPES)
    statuses = Counter(ws["status"] for ws in stations)
    assert statuses["UNLINKED"] >= 1
    assert statuses["LINKED"] > statuses["UNLINKED"]
    for ws in stations:
        assert set(ws) == {"name", "type", "status", "last_seen"}
        assert TIMESTAMP.match(ws["last_seen"])


def test_jobs_have_sequential_ids_and_unique_upper_case_names(dataset: DataSet) -> None:
    assert [job["id"] for job in dataset.jobs] == [f"J{n:04d}" for n in range(1, 501)]
    names = [job["name"] for job in dataset.jobs]
    assert len(set(names)) == 500
    assert all(re.fullmatch(r"[A-Z0-9_]+", name) for name in names)


def test_jobs_spread_over_about_25_streams_on_known_workstations(dataset: DataSet) -> None:
    streams = Counter(job["job_stream"] for job in dataset.jobs)
    assert 20 <= len(streams) <= 30
    stations = {ws["name"] for ws in dataset.workstations}
    assert {job["workstation"] for job in dataset.jobs} <= stations


def test_every_status_is_present_and_most_jobs_succeeded(dataset: DataSet) -> None:
    counts = Counter(job["status"] for job in dataset.jobs)
    assert set(counts) == set(JOB_STATUSES)
    assert counts["SUCC"] > 250
    assert 15 <= counts["ABEND"] <= 40


def test_job_times_follow_the_status(dataset: DataSet) -> None:
    for job in dataset.jobs:
        assert set(job) == {
            "id", "name", "workstation", "job_stream", "status", "start_time", "end_time"
        }  # fmt: skip
        if job["status"] in {"HOLD", "READY"}:
            assert job["start_time"] is None, job
        else:
            assert TIMESTAMP.match(job["start_time"]), job
            assert "2026-11-26T00:00:00Z" <= job["start_time"] < NOW
        if job["status"] in {"SUCC", "ABEND"}:
            assert TIMESTAMP.match(job["end_time"]), job
            assert job["start_time"] <= job["end_time"] <= NOW
        else:
            assert job["end_time"] is None, job


def test_histories_hold_20_runs_newest_first(dataset: DataSet) -> None:
    assert set(dataset.histories) == {job["id"] for job in dataset.jobs}
    for job_id, runs in dataset.histories.items():
        assert len(runs) == 20
        starts = [run["start_time"] for run in runs]
        assert starts == sorted(starts, reverse=True)
        assert len({run["run_id"] for run in runs}) == 20
        for run in runs:
            assert set(run) == {"run_id", "status", "start_time", "end_time", "return_code"}
            assert run["run_id"].startswith(job_id)
            assert run["start_time"] < run["end_time"] < "2026-11-26T00:00:00Z"
            assert (run["return_code"] == 0) == (run["status"] == "SUCC")


def test_logs_are_multi_line_and_abends_show_a_non_zero_exit(dataset: DataSet) -> None:
    for job in dataset.jobs:
        log = dataset.logs[job["id"]]
        assert log.count("\n") >= 5
        assert job["name"] in log
        exit_status = re.search(r"Exit Status\s*:\s*(\d+)", log)
        if job["status"] == "ABEND":
            assert exit_status and int(exit_status.group(1)) != 0, log
            assert "ERROR" in log
        elif job["status"] == "SUCC":
            assert exit_status and int(exit_status.group(1)) == 0, log
        else:
            assert exit_status is None, log


def test_log_lines_are_stamped_within_the_run(dataset: DataSet) -> None:
    for job in dataset.jobs:
        if job["status"] not in {"SUCC", "ABEND"}:
            continue
        start = job["start_time"][11:19]
        end = job["end_time"][11:19]
        for stamp in re.findall(r"^(\d{2}:\d{2}:\d{2}) ", dataset.logs[job["id"]], re.M):
            assert start <= stamp <= end, (job, stamp)


def test_dependencies_are_earlier_jobs_of_the_same_stream(dataset: DataSet) -> None:
    jobs = {job["id"]: job for job in dataset.jobs}
    with_predecessors = 0
    for job_id, items in dataset.dependencies.items():
        with_predecessors += bool(items)
        for dependency in items:
            predecessor = jobs[dependency["job_id"]]
            assert dependency == {
                "job_id": predecessor["id"],
                "name": predecessor["name"],
                "status": predecessor["status"],
                "type": "predecessor",
            }
            assert predecessor["job_stream"] == jobs[job_id]["job_stream"]
            assert predecessor["id"] < job_id
    assert with_predecessors > 400  # all but the first job of each stream


def test_critical_path_is_a_chain_of_about_ten_jobs(dataset: DataSet) -> None:
    path = dataset.critical_path
    assert 8 <= len(path) <= 12
    for earlier, later in itertools.pairwise(path):
        assert earlier in {d["job_id"] for d in dataset.dependencies[later]}


@pytest.mark.parametrize("seed", [pytest.param(seed, id=f"seed-{seed}") for seed in (42, 0, 7, 99)])
def test_statuses_agree_with_dependencies(seed: int) -> None:
    """Only a HOLD job waits on an unfinished predecessor; others follow SUCC ones that ended."""
    dataset = build_dataset(seed)
    jobs = {job["id"]: job for job in dataset.jobs}
    for job_id, items in dataset.dependencies.items():
        job = jobs[job_id]
        if job["status"] == "HOLD":
            continue
        for dependency in items:
            predecessor = jobs[dependency["job_id"]]
            assert predecessor["status"] == "SUCC", (job, predecessor)
            if job["start_time"] is not None:
                assert predecessor["end_time"] <= job["start_time"], (job, predecessor)


@pytest.mark.parametrize("seed", [pytest.param(seed, id=f"seed-{seed}") for seed in (42, 0, 7, 99)])
def test_the_critical_path_has_ten_jobs_for_any_seed(seed: int) -> None:
    path = build_dataset(seed).critical_path
    assert len(path) == 10
    assert len(set(path)) == 10
