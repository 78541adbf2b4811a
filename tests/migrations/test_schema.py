"""The shared schema: upgrades, full-text search plumbing and the seed, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest
from sqlalchemy import create_engine, inspect, pool, text

import migrations
from migrations.chunking import chunk_text
from migrations.seed import AGENTS

EXPECTED_TABLES = {
    "users",
    "revoked_tokens",
    "login_attempts",
    "agents",
    "chat_messages",
    "audit_items",
    "rag_files",
    "rag_chunks",
}


def _engine(url: str):
    return create_engine(migrations.sync_engine_url(url), poolclass=pool.NullPool)


def test_upgrade_creates_every_table_at_head(database_url: str) -> None:
    tables = set(inspect(_engine(database_url)).get_table_names())
    assert tables >= EXPECTED_TABLES
    assert migrations.current_revision(database_url) == "0004"


def test_seed_adds_demo_data_in_every_state(database_url: str) -> None:
    with _engine(database_url).connect() as conn:
        roles = dict(conn.execute(text("SELECT username, role FROM users")).all())
        states = dict(
            conn.execute(text("SELECT status, COUNT(*) FROM audit_items GROUP BY status")).all()
        )
        agent_ids = {row[0] for row in conn.execute(text("SELECT id FROM agents"))}
        files = conn.execute(text("SELECT COUNT(*), SUM(chunks) FROM rag_files")).one()
        chunk_rows = conn.execute(text("SELECT COUNT(*) FROM rag_chunks")).scalar_one()
    assert roles == {"admin": "admin", "operator": "operator", "viewer": "viewer"}
    assert states == {"pending": 14, "approved": 9, "rejected": 7}
    assert {"tws-troubleshooting", "tws-general"} <= agent_ids == {a["id"] for a in AGENTS}
    assert files[0] >= 3
    assert files[1] == chunk_rows


def test_seed_is_idempotent(database_url: str) -> None:
    report = migrations.seed(database_url, environment="test")
    assert (report.users, report.agents, report.audit_items, report.documents) == ([], [], 0, [])


def test_production_seed_creates_no_demo_users(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    migrations.upgrade(url)
    report = migrations.seed(url, environment="production")
    assert report.users == []
    with _engine(url).connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM users")).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM agents")).scalar_one() == len(AGENTS)


def test_full_text_index_follows_inserts_and_deletes(database_url: str) -> None:
    engine = _engine(database_url)
    if engine.dialect.name == "postgresql":
        query = text("SELECT COUNT(*) FROM rag_chunks WHERE tsv @@ to_tsquery('english', 'netman')")
    else:
        query = text("SELECT COUNT(*) FROM rag_chunks_fts WHERE rag_chunks_fts MATCH '\"netman\"'")
    with engine.begin() as conn:
        assert conn.execute(query).scalar_one() == 1
        conn.execute(text("DELETE FROM rag_chunks WHERE content LIKE '%netman%'"))
        assert conn.execute(query).scalar_one() == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("", [], id="empty"),
        pytest.param("one\n\ntwo", ["one\n\ntwo"], id="paragraphs-packed"),
        pytest.param("a" * 600 + "\n\n" + "b" * 600, ["a" * 600, "b" * 600], id="split-when-full"),
        pytest.param("c" * 2500, ["c" * 1000, "c" * 1000, "c" * 500], id="long-paragraph-cut"),
        pytest.param("x\r\n\r\ny", ["x\n\ny"], id="crlf-normalised"),
        pytest.param("\n\n\nz\n\n\n", ["z"], id="blank-runs-ignored"),
    ],
)
def test_chunk_text_follows_the_contract(content: str, expected: list[str]) -> None:
    assert chunk_text(content) == expected
    assert all(len(chunk) <= 1000 for chunk in chunk_text(content))


def test_chat_message_ids_are_never_reused(database_url: str) -> None:
    insert = text(
        "INSERT INTO chat_messages (user_id, agent_id, message, reply, intent, created_at)"
        " VALUES (1, 'tws-general', 'hi', 'help', 'help', '2026-11-26 10:00:00') RETURNING id"
    )
    with _engine(database_url).begin() as conn:
        first = conn.execute(insert).scalar_one()
        conn.execute(text("DELETE FROM chat_messages"))
        second = conn.execute(insert).scalar_one()
    assert second > first


def test_seeded_timestamps_are_written_like_the_apps_write_them(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    migrations.upgrade(url)
    migrations.seed(url, environment="test")
    with _engine(url).connect() as conn:
        stamps = conn.execute(
            text("SELECT created_at FROM audit_items UNION ALL SELECT created_at FROM users")
        ).scalars()
        assert all(stamp.endswith(".000000") for stamp in stamps)


def test_the_url_helpers_do_not_load_alembic_until_the_schema_is_asked_for() -> None:
    script = (
        "import sys, migrations\n"
        "assert migrations.sync_engine_url('sqlite:///x.db') == 'sqlite:///x.db'\n"
        "assert callable(migrations.seed)\n"
        "assert 'alembic' not in sys.modules, 'alembic loaded with the URL helpers'\n"
        "from migrations import upgrade, current_revision\n"
        "assert upgrade is migrations.upgrade and callable(current_revision)\n"
        "assert 'alembic' in sys.modules\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        migrations.no_such_thing  # noqa: B018


def test_auth_version_is_bumped_by_every_change_that_can_invalidate_a_token(
    database_url: str,
) -> None:
    engine = _engine(database_url)
    now = datetime(2026, 12, 2, 12, 0, 0)

    def version() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT version FROM auth_version")).scalar_one())

    def run(sql: str) -> int:
        before = version()
        with engine.begin() as conn:
            conn.execute(text(sql), {"now": now})
        return version() - before

    assert (
        run(
            "INSERT INTO login_attempts (username, client_addr, succeeded, attempted_at)"
            " VALUES ('viewer', '127.0.0.1', true, :now)"
        )
        == 0
    )
    assert (
        run(
            "INSERT INTO users (username, password_hash, role, full_name, created_at)"
            " VALUES ('gone_soon', 'x', 'viewer', '', :now)"
        )
        == 0
    )  # a new user has no token to invalidate
    assert (
        run(
            "INSERT INTO revoked_tokens (token_id, revoked_at, expires_at)"
            " VALUES ('abc', :now, :now)"
        )
        == 1
    )
    assert run("UPDATE users SET role = 'admin' WHERE username = 'gone_soon'") == 1
    assert run("DELETE FROM users WHERE username = 'gone_soon'") == 1
    assert run("DELETE FROM revoked_tokens WHERE token_id = 'abc'") == 1
    with engine.begin() as conn:  # a rolled-back change leaves the version alone
        before = int(conn.execute(text("SELECT version FROM auth_version")).scalar_one())
        conn.execute(text("UPDATE users SET full_name = 'x' WHERE username = 'viewer'"))
        conn.rollback()
    assert version() == before
    engine.dispose()


def test_downgrade_to_0002_removes_the_auth_version_and_its_triggers(database_url: str) -> None:
    from alembic import command

    from migrations.schema import _config

    command.downgrade(_config(database_url), "0002")  # through 0004 and 0003
    engine = _engine(database_url)
    try:
        assert "auth_version" not in inspect(engine).get_table_names()
        with engine.begin() as conn:  # no trigger left pointing at the dropped table
            conn.execute(text("UPDATE users SET full_name = 'x' WHERE username = 'viewer'"))
    finally:
        engine.dispose()
    migrations.upgrade(database_url)
    assert migrations.current_revision(database_url) == "0004"


def test_downgrade_to_0003_removes_the_page_change_notification(database_url: str) -> None:
    from alembic import command

    from migrations.schema import _config

    postgres = database_url.startswith("postgresql")
    query = "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'page_change_%'"
    engine = _engine(database_url)
    try:
        if postgres:
            with engine.connect() as conn:
                assert conn.execute(text(query)).scalar_one() == 1
        command.downgrade(_config(database_url), "0003")
        assert migrations.current_revision(database_url) == "0003"
        if postgres:
            with engine.connect() as conn:
                assert conn.execute(text(query)).scalar_one() == 0
                function = "SELECT count(*) FROM pg_proc WHERE proname = 'notify_page_change'"
                assert conn.execute(text(function)).scalar_one() == 0
        with engine.begin() as conn:  # writes to agents still work
            conn.execute(text("UPDATE agents SET goal = 'g' WHERE id = 'tws-general'"))
    finally:
        engine.dispose()
    migrations.upgrade(database_url)
    assert migrations.current_revision(database_url) == "0004"
