"""The catalog: query validation and the filtered, paginated job list."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tws_sim.catalog import Catalog, JobQuery
from tws_sim.dataset import build_dataset
from tws_sim.errors import InvalidQuery


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(build_dataset(42))


def listing(catalog: Catalog, **params: str) -> dict[str, Any]:
    return dict(json.loads(catalog.job_list(JobQuery.parse(params))))


def test_no_parameters_mean_the_first_100_jobs_of_500(catalog: Catalog) -> None:
    body = listing(catalog)
    assert body["total"] == 500
    assert [job["id"] for job in body["items"]] == [f"J{n:04d}" for n in range(1, 101)]
    assert body["items"] == catalog.dataset.jobs[:100]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"limit": "0"}, "limit must be between 1 and 1000", id="limit-0"),
        pytest.param({"limit": "1001"}, "limit must be between 1 and 1000", id="limit-1001"),
        pytest.param({"limit": "-5"}, "limit must be between 1 and 1000", id="limit-negative"),
        pytest.param({"limit": "ten"}, "limit must be an integer", id="limit-word"),
        pytest.param({"limit": "1.5"}, "limit must be an integer", id="limit-float"),
        pytest.param({"offset": "-1"}, "offset must be >= 0", id="offset-negative"),
        pytest.param({"offset": "x"}, "offset must be an integer", id="offset-word"),
        pytest.param(
            {"status": "FAILED"},
            "status must be one of SUCC, ABEND, EXEC, HOLD, READY",
            id="status-unknown",
        ),
    ],
)
def test_bad_parameters_are_rejected(params: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidQuery) as caught:
        JobQuery.parse(params)
    assert caught.value.message == message
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, JobQuery(), id="defaults"),
        pytest.param({"status": "", "limit": "", "name": " "}, JobQuery(), id="empty-is-absent"),
        pytest.param({"status": "abend"}, JobQuery(status="ABEND"), id="status-any-case"),
        pytest.param({"limit": "1", "offset": "0"}, JobQuery(limit=1), id="limit-low-edge"),
        pytest.param({"limit": "1000"}, JobQuery(limit=1000), id="limit-high-edge"),
    ],
)
def test_good_parameters_parse(params: dict[str, str], expected: JobQuery) -> None:
    assert JobQuery.parse(params) == expected


def test_status_filter_keeps_only_that_status_in_id_order(catalog: Catalog) -> None:
    body = listing(catalog, status="ABEND", limit="1000")
    expected = [job for job in catalog.dataset.jobs if job["status"] == "ABEND"]
    assert body == {"items": expected, "total": len(expected)}


def test_workstation_filter_ignores_case(catalog: Catalog) -> None:
    station = catalog.dataset.workstations[0]["name"]
    body = listing(catalog, workstation=station.lower(), limit="1000")
    expected = [job for job in catalog.dataset.jobs if job["workstation"] == station]
    assert expected
    assert body == {"items": expected, "total": len(expected)}


def test_name_filter_is_exact_and_ignores_case(catalog: Catalog) -> None:
    job = catalog.dataset.jobs[41]
    assert listing(catalog, name=job["name"].lower()) == {"items": [job], "total": 1}
    assert listing(catalog, name=job["name"][:-1]) == {"items": [], "total": 0}


def test_filters_combine(catalog: Catalog) -> None:
    job = catalog.dataset.jobs[7]
    body = listing(catalog, name=job["name"], status=job["status"], workstation=job["workstation"])
    assert body["items"] == [job]
    other = next(s for s in ("SUCC", "ABEND") if s != job["status"])
    assert listing(catalog, name=job["name"], status=other) == {"items": [], "total": 0}


def test_pages_tile_the_list_and_total_ignores_the_page(catalog: Catalog) -> None:
    pages = [listing(catalog, limit="150", offset=str(start)) for start in range(0, 600, 150)]
    assert [page["total"] for page in pages] == [500] * 4
    assert [len(page["items"]) for page in pages] == [150, 150, 150, 50]
    assert [job for page in pages for job in page["items"]] == catalog.dataset.jobs


def test_an_offset_past_the_end_gives_an_empty_page(catalog: Catalog) -> None:
    assert listing(catalog, offset="500") == {"items": [], "total": 500}
    assert listing(catalog, offset="100000") == {"items": [], "total": 500}


def test_an_unknown_workstation_matches_nothing(catalog: Catalog) -> None:
    assert listing(catalog, workstation="NOWHERE") == {"items": [], "total": 0}
