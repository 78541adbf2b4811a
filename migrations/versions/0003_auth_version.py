"""Count every change that can invalidate a token: the ``auth_version`` row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

The FastAPI app keeps verified tokens and their user rows in memory. It stays correct by
re-reading one number, ``auth_version.version``, which database triggers bump whenever a token is
revoked (or a revocation removed) and whenever a user row is changed or deleted. Triggers rather
than application code, so the legacy app, the seed, admin scripts and direct SQL all bump it too;
a changed version empties the cache of every process that reads it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# (table, SQLite trigger event) pairs whose changes bump the version.
_SQLITE_EVENTS = (
    ("revoked_tokens", "INSERT"),
    ("revoked_tokens", "DELETE"),
    ("users", "UPDATE"),
    ("users", "DELETE"),
)
# PostgreSQL: statement-level triggers (one bump per statement, TRUNCATE included).
_POSTGRES_EVENTS = (
    ("revoked_tokens", "INSERT OR DELETE OR TRUNCATE"),
    ("users", "UPDATE OR DELETE OR TRUNCATE"),
)


def _sqlite_trigger(table: str, event: str) -> str:
    return (
        f"CREATE TRIGGER auth_version_{table}_{event.lower()} AFTER {event} ON {table} "  # noqa: S608 - constants
        "BEGIN UPDATE auth_version SET version = version + 1 WHERE id = 1; END"
    )


def upgrade() -> None:
    op.create_table(
        "auth_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("id = 1", name="ck_auth_version_single_row"),
    )
    op.execute("INSERT INTO auth_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for table, event in _SQLITE_EVENTS:
            op.execute(_sqlite_trigger(table, event))
        return
    op.execute(
        "CREATE FUNCTION bump_auth_version() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN UPDATE auth_version SET version = version + 1 WHERE id = 1; RETURN NULL; END $$"
    )
    for table, events in _POSTGRES_EVENTS:
        op.execute(
            f"CREATE TRIGGER auth_version_{table} AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_auth_version()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, event in _SQLITE_EVENTS:
            op.execute(f"DROP TRIGGER auth_version_{table}_{event.lower()}")
    else:
        for table, _events in _POSTGRES_EVENTS:
            op.execute(f"DROP TRIGGER auth_version_{table} ON {table}")
        op.execute("DROP FUNCTION bump_auth_version()")
    op.drop_table("auth_version")
