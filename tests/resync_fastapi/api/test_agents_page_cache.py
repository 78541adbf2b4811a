"""``GET /agents`` is served from resync_fastapi.db.page_cache: correct on the very next request.

Real SQLite files and the real app: a commit by another connection is seen by the next read, a
cached page never skips authentication, and PostgreSQL never caches.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import migrations
from resync_fastapi.db.page_cache import PageCache, SqliteDataVersion, sqlite_file_of
from tests.resync_fastapi.harness import (
    AppHarness,
    cheapen_password_hashes,
    create_user,
    execute,
    mint,
    settings_for,
)
from tests.services import TwsSim

AGENTS = "/api/v1/agents"


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    path = tmp_path / "resync.db"
    url = f"sqlite:///{path}"
    migrations.upgrade(url)
    migrations.seed(url, environment="test")
    cheapen_password_hashes(url)
    return str(path)


@pytest.fixture
def cached(sqlite_file: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    settings = settings_for(f"sqlite:///{sqlite_file}", tws_sim_process.twsd_url)
    with AppHarness(settings) as started:
        yield started


def _pages(harness: AppHarness) -> PageCache:
    pages: PageCache = harness.app.state.pages
    return pages


def _names(harness: AppHarness, token: str) -> dict[str, str]:
    response = harness.get(AGENTS, token=token)
    assert response.status_code == 200
    return {agent["id"]: agent["name"] for agent in response.json()["items"]}


def test_second_read_is_a_hit_with_identical_bytes_and_headers(cached: AppHarness) -> None:
    token = mint("viewer")
    pages = _pages(cached)
    assert pages.enabled
    first = cached.get(AGENTS, token=token)
    second = cached.get(AGENTS, token=token)
    assert (pages.misses, pages.hits) == (1, 1)
    assert second.content == first.content
    same = {k: v for k, v in first.headers.items() if k != "x-request-id"}
    assert {k: v for k, v in second.headers.items() if k != "x-request-id"} == same
    assert first.headers["content-type"] == "application/json"


def test_commit_by_another_sqlite_connection_is_seen_on_the_next_read(
    cached: AppHarness, sqlite_file: str
) -> None:
    token = mint("viewer")
    assert _names(cached, token)["tws-general"] != "renamed elsewhere"
    _names(cached, token)  # cached now
    hits = _pages(cached).hits
    with sqlite3.connect(sqlite_file) as other:
        other.execute("UPDATE agents SET name = 'renamed elsewhere' WHERE id = 'tws-general'")
    assert _names(cached, token)["tws-general"] == "renamed elsewhere"
    assert _pages(cached).hits == hits  # a miss, not a stale hit
    assert _names(cached, token)["tws-general"] == "renamed elsewhere"
    assert _pages(cached).hits == hits + 1


def test_commit_through_sqlalchemy_elsewhere_changes_total(
    cached: AppHarness, sqlite_file: str
) -> None:
    token = mint("viewer")
    before = cached.get(AGENTS, token=token).json()["total"]
    cached.get(AGENTS, token=token)
    execute(f"sqlite:///{sqlite_file}", "DELETE FROM agents WHERE id = 'tws-general'")
    body = cached.get(AGENTS, token=token).json()
    assert body["total"] == before - 1
    assert "tws-general" not in {agent["id"] for agent in body["items"]}


def test_pages_are_keyed_by_query(cached: AppHarness) -> None:
    token = mint("viewer")
    whole = cached.get(AGENTS, token=token).json()
    sliced = cached.get(AGENTS + "?limit=1&offset=2", token=token).json()
    assert [agent["id"] for agent in sliced["items"]] == [whole["items"][2]["id"]]
    assert (sliced["limit"], sliced["offset"]) == (1, 2)
    assert cached.get(AGENTS, token=token).json() == whole


def test_cached_page_still_requires_authentication(cached: AppHarness, sqlite_file: str) -> None:
    user = create_user(f"sqlite:///{sqlite_file}", "viewer")
    token = mint(user, "viewer")
    _names(cached, token)
    _names(cached, token)
    assert _pages(cached).hits == 1
    assert cached.get(AGENTS).status_code == 401
    assert cached.get(AGENTS, token="not-a-token").status_code == 401
    execute(f"sqlite:///{sqlite_file}", "DELETE FROM users WHERE username = :u", u=user)
    assert cached.get(AGENTS, token=token).status_code == 401
    assert _pages(cached).hits == 1  # no failed request reached the cache


def test_bad_query_is_still_400_with_a_cache(cached: AppHarness) -> None:
    token = mint("viewer")
    cached.get(AGENTS, token=token)
    assert cached.get(AGENTS + "?limit=abc", token=token).status_code == 400
    assert cached.get(AGENTS + "?limit=0", token=token).status_code == 400


def test_turned_off_reads_every_time(sqlite_file: str, tws_sim_process: TwsSim) -> None:
    settings = settings_for(f"sqlite:///{sqlite_file}", tws_sim_process.twsd_url, page_cache=False)
    with AppHarness(settings) as harness:
        token = mint("viewer")
        _names(harness, token)
        _names(harness, token)
        pages = _pages(harness)
        assert not pages.enabled
        assert (pages.hits, pages.misses) == (0, 0)


@pytest.mark.postgres
def test_postgresql_never_caches(postgres_admin_url: str, tws_sim_process: TwsSim) -> None:
    from tests.services import create_postgres_database, drop_postgres_database

    url = create_postgres_database(postgres_admin_url)
    try:
        migrations.upgrade(url)
        migrations.seed(url, environment="test")
        with AppHarness(settings_for(url, tws_sim_process.twsd_url)) as harness:
            token = mint("viewer")
            _names(harness, token)
            execute(url, "UPDATE agents SET name = 'pg rename' WHERE id = 'tws-general'")
            assert _names(harness, token)["tws-general"] == "pg rename"
            pages = _pages(harness)
            assert not pages.enabled
            assert (pages.hits, pages.misses) == (0, 0)
    finally:
        drop_postgres_database(postgres_admin_url, url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("sqlite:////tmp/x/resync.db", "/tmp/x/resync.db", id="file"),
        pytest.param("sqlite+aiosqlite:///resync.db", "resync.db", id="relative"),
        pytest.param("sqlite://", None, id="memory-empty"),
        pytest.param("sqlite:///:memory:", None, id="memory"),
        pytest.param("sqlite:///file:x?mode=memory&uri=true", None, id="uri-memory"),
        pytest.param("postgresql://postgres@127.0.0.1/test", None, id="postgresql"),
        pytest.param("postgresql+asyncpg://postgres@127.0.0.1/test", None, id="asyncpg"),
    ],
)
def test_sqlite_file_of(url: str, expected: str | None) -> None:
    assert sqlite_file_of(url) == expected


def test_unreadable_version_is_logged_counted_and_not_cached(tmp_path: Path) -> None:
    version = SqliteDataVersion(str(tmp_path / "missing-dir" / "resync.db"))
    pages = PageCache(version)
    with capture_logs() as logs:
        assert pages.lookup("k") == (None, None)
        pages.store("k", None, b"{}")
        assert pages.lookup("k") == (None, None)
    assert version.failures == 2
    assert [entry["event"] for entry in logs] == ["page_cache_version_unreadable"]
    assert (pages.hits, pages.misses) == (0, 0)


def test_lru_bound(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    sqlite3.connect(path).close()
    pages = PageCache(SqliteDataVersion(str(path)), max_entries=2)
    for key in ("a", "b", "c"):
        version, body = pages.lookup(key)
        assert body is None
        pages.store(key, version, key.encode())
    assert pages.lookup("a")[1] is None  # evicted, least recently used
    assert pages.lookup("c")[1] == b"c"
    assert len(pages) == 2
    pages.close()
