"""Never reuse chat message ids on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

A ``help`` reply files an audit item whose ``memory_id`` is ``chat-<message id>``. Plain SQLite
``INTEGER PRIMARY KEY`` hands out max(id)+1, so after a user deletes their newest messages the
next message reused an id and its audit item collided with the stale one. ``AUTOINCREMENT``
keeps ids monotonic; PostgreSQL sequences already are, so only SQLite's table is rebuilt.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "chat_messages", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass
    # The audit items already filed keep their ids; seed the counter past every id they name.
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'chat_messages'")
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'chat_messages', COALESCE(MAX(n), 0) FROM ("
        " SELECT MAX(id) AS n FROM chat_messages UNION ALL"
        " SELECT MAX(CAST(SUBSTR(memory_id, 6) AS INTEGER)) FROM audit_items"
        " WHERE memory_id LIKE 'chat-%')"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("chat_messages", recreate="always"):
        pass
