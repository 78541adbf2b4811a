"""The capture store on real SQLite and real PostgreSQL: bounded by count and by age."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.traffic.errors import CaptureStoreError
from proxy.traffic.store import CaptureStore, iter_all, open_capture_store
from tests.services import create_postgres_database, drop_postgres_database


def record(route: str, n: int, **extra: Any) -> dict[str, Any]:
    return {"route": route, "at": "2026-12-02T00:00:00.000Z", "request": {"n": n}, **extra}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'capture.db'}"
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    url = create_postgres_database(admin_url)
    try:
        yield url
    finally:
        drop_postgres_database(admin_url, url)


def opened(url: str, **bounds: Any) -> CaptureStore:
    return open_capture_store(url, **bounds)


def test_records_come_back_in_order_with_their_ids(store_url: str) -> None:
    store = opened(store_url)
    try:
        ids = store.add_many([record("GET /a", 1), record("GET /b", 2), record("GET /a", 3)])

        assert ids == sorted(ids)
        assert [r["request"]["n"] for r in store.list()] == [1, 2, 3]
        assert [r["request"]["n"] for r in store.list(route="GET /a")] == [1, 3]
        assert [r["request"]["n"] for r in store.list(newest_first=True, limit=2)] == [3, 2]
        assert store.get(ids[1]) == {**record("GET /b", 2), "id": ids[1]}
        assert store.get(ids[-1] + 100) is None
        assert store.routes() == {"GET /a": 2, "GET /b": 1}
        assert [r["id"] for r in iter_all(store, batch=1)] == ids
    finally:
        store.close()


def test_the_store_keeps_only_the_newest_max_records(store_url: str) -> None:
    store = opened(store_url, max_records=3)
    try:
        for n in range(5):
            store.add_many([record("GET /a", n)])
        store.add_many([record("GET /a", n) for n in range(5, 8)])

        assert store.count() == 3
        assert [r["request"]["n"] for r in store.list()] == [5, 6, 7]
    finally:
        store.close()


def test_records_older_than_max_age_are_dropped(store_url: str) -> None:
    store = opened(store_url, max_age=1.0)
    try:
        store.add_many([record("GET /old", 1)])
        time.sleep(1.2)
        assert store.list() == []  # too old to replay, even before the next write trims it
        store.add_many([record("GET /new", 2)])

        assert store.routes() == {"GET /new": 1}
    finally:
        store.close()


def test_a_secret_named_field_never_reaches_the_table(store_url: str) -> None:
    store = opened(store_url)
    try:
        (stored_id,) = store.add_many([record("GET /a", 1, extra={"password": "pw-1", "x": 1})])

        assert store.get(stored_id)["extra"] == {"password": "[REDACTED]", "x": 1}
    finally:
        store.close()


def test_clear_forgets_everything(store_url: str) -> None:
    store = opened(store_url)
    try:
        store.add_many([record("GET /a", 1), record("GET /a", 2)])

        assert store.clear() == 2
        assert store.count() == 0
    finally:
        store.close()


def test_an_unreachable_store_raises_the_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = open_capture_store(f"sqlite:///{blocker / 'capture.db'}")

    with pytest.raises(CaptureStoreError, match="cannot open"):
        store.add_many([record("GET /a", 1)])
    pg = open_capture_store("postgresql://postgres@127.0.0.1:1/none")
    with pytest.raises(CaptureStoreError):
        pg.count()


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://", "capture.db"])
def test_an_unknown_store_url_is_refused(url: str) -> None:
    with pytest.raises(CaptureStoreError):
        open_capture_store(url)
