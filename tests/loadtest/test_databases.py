"""The bench's databases: a seeded template, a fresh copy per run, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import sqlalchemy

from loadtest.databases import PostgresDatabase, SqliteDatabase, open_database


def count_users(url: str) -> int:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sqlalchemy.text("SELECT count(*) FROM users")).scalar_one())
    finally:
        engine.dispose()


def test_sqlite_runs_get_copies_of_the_seeded_template(tmp_path: Path) -> None:
    database = open_database("sqlite", tmp_path)
    assert isinstance(database, SqliteDatabase)
    database.create_template()
    database.freeze_template()

    first, second = database.copy(tmp_path / "a"), database.copy(tmp_path / "b")

    assert first != second
    assert count_users(first) == count_users(second) > 0


@pytest.mark.postgres
def test_postgresql_clones_the_template_per_run_and_drops_everything(
    postgres_admin_url: str,
) -> None:
    database = PostgresDatabase(postgres_admin_url)
    try:
        template = database.create_template()
        clone = database.copy(Path("unused"))
        seeded = count_users(template)
        with psycopg.connect(clone) as conn:
            conn.execute("DELETE FROM users WHERE username = 'operator'")  # a run's writes
        assert count_users(clone) == seeded - 1
        assert count_users(database.copy(Path("unused"))) == seeded  # the next run: fresh
    finally:
        database.close()

    with psycopg.connect(postgres_admin_url) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{database.prefix}%",)
        ).fetchall()
    assert left == []
    assert database.made == []


def test_an_unknown_database_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown database 'mysql'"):
        open_database("mysql", tmp_path)
