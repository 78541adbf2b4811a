"""``GET /agents`` is served from resync_fastapi.db.page_cache: correct on the very next request.

Real SQLite files and the real app: a commit by another connection is seen by the next read, a
cached page never skips authentication, and PostgreSQL never caches.
"""

from __future__ import annotations

import importlib
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

import migrations
from resync_fastapi.db.page_cache import (
    APPLICATION_NAME,
    CACHED_TABLES,
    PageCache,
    PostgresDataVersion,
    SqliteDataVersion,
    data_version_for,
    postgres_dsn_of,
    sqlite_file_of,
)
from tests.resync_fastapi.harness import (
    AppHarness,
    cheapen_password_hashes,
    create_user,
    execute,
    mint,
    settings_for,
    sync_engine,
)
from tests.services import TwsSim

NOTIFY_MIGRATION = importlib.import_module("migrations.versions.0004_page_change_notify")

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


@pytest.fixture
def pg_url(postgres_admin_url: str) -> Iterator[str]:
    from tests.services import create_postgres_database, drop_postgres_database

    url = create_postgres_database(postgres_admin_url)
    try:
        migrations.upgrade(url)
        migrations.seed(url, environment="test")
        cheapen_password_hashes(url)
        yield url
    finally:
        drop_postgres_database(postgres_admin_url, url)


def _listener(harness: AppHarness) -> PostgresDataVersion:
    version = _pages(harness).version
    assert isinstance(version, PostgresDataVersion)
    return version


def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait for an event of the app's background listener (a bound for a hung test only)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.01)


@pytest.fixture
def pg_cached(pg_url: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    with AppHarness(settings_for(pg_url, tws_sim_process.twsd_url)) as started:
        listener = _listener(started)
        _until(lambda: listener.read() is not None, "the listener is connected")
        yield started


@pytest.mark.postgres
def test_postgresql_caches_and_a_commit_elsewhere_is_seen_once_notified(
    pg_cached: AppHarness, pg_url: str
) -> None:
    token = mint("viewer")
    pages, listener = _pages(pg_cached), _listener(pg_cached)
    first = pg_cached.get(AGENTS, token=token)
    assert pg_cached.get(AGENTS, token=token).content == first.content
    assert (pages.misses, pages.hits) == (1, 1)
    heard = listener.notifications
    execute(pg_url, "UPDATE agents SET name = 'pg rename' WHERE id = 'tws-general'")
    _until(lambda: listener.notifications == heard + 1, "the commit's notification arrives")
    assert _names(pg_cached, token)["tws-general"] == "pg rename"
    assert (pages.misses, pages.hits) == (2, 1)  # a miss, not a stale hit
    assert _names(pg_cached, token)["tws-general"] == "pg rename"
    assert pages.hits == 2


@pytest.mark.postgres
def test_only_committed_writes_to_cached_tables_notify(pg_cached: AppHarness, pg_url: str) -> None:
    listener = _listener(pg_cached)
    heard = listener.notifications
    engine = sync_engine(pg_url)
    try:
        with engine.connect() as conn:  # rolled back: PostgreSQL sends nothing
            conn.execute(sa.text("UPDATE agents SET name = 'never' WHERE id = 'tws-general'"))
            conn.rollback()
        with engine.begin() as conn:  # a table no page shows
            conn.execute(sa.text("UPDATE users SET full_name = 'x' WHERE username = 'viewer'"))
        with engine.begin() as conn:  # two statements, one transaction: one notification
            conn.execute(sa.text("UPDATE agents SET goal = 'g1' WHERE id = 'tws-general'"))
            conn.execute(sa.text("DELETE FROM agents WHERE id = 'nonexistent'"))
    finally:
        engine.dispose()
    # Notifications arrive in commit order: once the last commit's is here, any earlier one
    # would have arrived before it.
    _until(lambda: listener.notifications > heard, "the last commit's notification arrives")
    assert listener.notifications == heard + 1


@pytest.mark.postgres
def test_a_killed_listener_turns_the_cache_off_and_comes_back_without_stale_pages(
    pg_cached: AppHarness, pg_url: str
) -> None:
    token = mint("viewer")
    pages, listener = _pages(pg_cached), _listener(pg_cached)
    _names(pg_cached, token)
    _names(pg_cached, token)
    assert pages.hits == 1
    with capture_logs() as logs:
        # The rename commits while its listener is being killed: its notification may never
        # reach the app; the reconnection must forget the page all the same.
        execute(
            pg_url,
            "WITH killed AS (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = :listener AND datname = current_database()) "
            "UPDATE agents SET name = 'renamed while deaf' "
            "WHERE id = 'tws-general' AND (SELECT count(*) FROM killed) = 1",
            listener=APPLICATION_NAME,
        )
        _until(lambda: listener.connections == 2, "the listener reconnects")
    assert listener.failures >= 1
    events = [entry["event"] for entry in logs]
    assert events == ["page_cache_listener_down", "page_cache_listener_recovered"]
    hits = pages.hits
    assert _names(pg_cached, token)["tws-general"] == "renamed while deaf"
    assert pages.hits == hits
    _names(pg_cached, token)
    assert pages.hits == hits + 1  # caching again


@pytest.mark.postgres
def test_a_listener_whose_server_stops_answering_is_replaced_within_the_ping(
    pg_cached: AppHarness, pg_url: str
) -> None:
    # The listening backend is frozen (SIGSTOP, this machine's own PostgreSQL): its socket stays
    # open and nothing arrives, as when the network drops. The ping must notice it.
    token = mint("viewer")
    pages, listener = _pages(pg_cached), _listener(pg_cached)
    _names(pg_cached, token)
    query = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE application_name = :listener AND datname = current_database()"
    )
    [(frozen,)] = execute(pg_url, query, listener=APPLICATION_NAME)
    try:
        os.kill(frozen, signal.SIGSTOP)
    except PermissionError:
        pytest.fail("the test must be able to signal PostgreSQL's backends (run as root)")
    try:
        execute(pg_url, "UPDATE agents SET name = 'renamed, never heard' WHERE id = 'tws-general'")
        _until(lambda: listener.connections == 2, "a new listener replaces the frozen one")
    finally:
        os.kill(frozen, signal.SIGCONT)
    execute(pg_url, "SELECT pg_terminate_backend(:pid)", pid=frozen)
    assert listener.notifications == 0  # the rename was never heard...
    assert _names(pg_cached, token)["tws-general"] == "renamed, never heard"  # ...nor served stale
    assert pages.hits == 0


@pytest.mark.postgres
def test_every_cached_table_has_its_notify_trigger(pg_url: str) -> None:
    assert NOTIFY_MIGRATION.CACHED_TABLES == CACHED_TABLES
    rows = execute(
        pg_url,
        "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE 'page_change_%'",
    )
    assert sorted(row[0] for row in rows) == sorted(CACHED_TABLES)


def test_postgresql_urls_get_a_listener_and_memory_none() -> None:
    assert isinstance(data_version_for("postgresql+asyncpg://u:p@h:5/db"), PostgresDataVersion)
    assert postgres_dsn_of("postgresql+psycopg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
    assert data_version_for("postgresql://u@h/db", enabled=False) is None
    assert data_version_for("sqlite://") is None
    assert isinstance(data_version_for("sqlite:///x.db"), SqliteDataVersion)


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
    anyio.run(pages.aclose)
