"""Tell listening apps when a table behind a cached page changes: ``NOTIFY resync_pages``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

The FastAPI app keeps the rendered bytes of read-mostly list pages (``GET /api/v1/agents``) in
memory. On SQLite it sees every commit through ``PRAGMA data_version``; PostgreSQL has no such
number, so a statement-level trigger on each table behind a cached page sends a notification on
channel ``resync_pages`` (payload: the table's name). PostgreSQL delivers it when, and only
when, the writing transaction commits, to every connection listening, whichever app, tool or
shell wrote. The app's listener (``resync_fastapi/db/page_cache.py``) forgets every page when
one arrives. Triggers rather than application code, so the legacy app, the seed and direct SQL
are all seen. SQLite needs nothing: this revision changes nothing there.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHANNEL = "resync_pages"
# The tables whose rows a cached page shows (keep in step with resync_fastapi.db.page_cache).
CACHED_TABLES = ("agents",)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION notify_page_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"
    )
    for table in CACHED_TABLES:
        op.execute(
            f"CREATE TRIGGER page_change_{table} "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION notify_page_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in CACHED_TABLES:
        op.execute(f"DROP TRIGGER page_change_{table} ON {table}")
    op.execute("DROP FUNCTION notify_page_change()")
