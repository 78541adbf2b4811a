"""Create the shared Resync schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Timestamps are stored as naive UTC at second precision so both apps render them identically.
Full-text search uses the database's own engine: an external-content FTS5 table kept in step by
triggers on SQLite, a generated ``tsvector`` column with a GIN index on PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(32), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("full_name", sa.String(100), nullable=False, server_default=""),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "revoked_tokens",
        # A token's ``jti``, or the ``sid`` shared by an access/refresh pair (logout revokes both).
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("revoked_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("client_addr", sa.String(64), nullable=False),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("attempted_at", sa.DateTime, nullable=False),
    )
    op.create_index(
        "ix_login_attempts_lookup", "login_attempts", ["username", "client_addr", "attempted_at"]
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("agent_type", sa.String(32), nullable=False),
        sa.Column("role", sa.String(256), nullable=False),
        sa.Column("goal", sa.Text, nullable=False),
        sa.Column("backstory", sa.Text, nullable=False),
        sa.Column("tools", sa.Text, nullable=False),  # JSON array of tool names
        sa.Column("model_name", sa.String(128), nullable=False),
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("reply", sa.Text, nullable=False),
        sa.Column("intent", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_chat_messages_owner", "chat_messages", ["user_id", "agent_id", "id"])
    op.create_table(
        "audit_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("memory_id", sa.String(64), nullable=False, unique=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("user_query", sa.Text, nullable=False),
        sa.Column("agent_response", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("reviewed_at", sa.DateTime, nullable=True),
        sa.Column("reviewed_by", sa.String(32), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')", name="ck_audit_items_status"
        ),
    )
    op.create_index("ix_audit_items_status", "audit_items", ["status", "id"])
    op.create_table(
        "rag_files",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("uploaded_by", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "rag_chunks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "file_id",
            sa.String(36),
            sa.ForeignKey("rag_files.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("chunk_index", sa.Integer, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.UniqueConstraint("file_id", "chunk_index", name="uq_rag_chunks_position"),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE rag_chunks ADD COLUMN tsv tsvector "
            "GENERATED ALWAYS AS (to_tsvector('english', content)) STORED"
        )
        op.execute("CREATE INDEX ix_rag_chunks_tsv ON rag_chunks USING GIN (tsv)")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE rag_chunks_fts USING fts5("
            "content, content='rag_chunks', content_rowid='id', tokenize='porter unicode61')"
        )
        op.execute(
            "CREATE TRIGGER rag_chunks_ai AFTER INSERT ON rag_chunks BEGIN "
            "INSERT INTO rag_chunks_fts(rowid, content) VALUES (new.id, new.content); END"
        )
        op.execute(
            "CREATE TRIGGER rag_chunks_ad AFTER DELETE ON rag_chunks BEGIN "
            "INSERT INTO rag_chunks_fts(rag_chunks_fts, rowid, content) "
            "VALUES ('delete', old.id, old.content); END"
        )
        op.execute(
            "CREATE TRIGGER rag_chunks_au AFTER UPDATE ON rag_chunks BEGIN "
            "INSERT INTO rag_chunks_fts(rag_chunks_fts, rowid, content) "
            "VALUES ('delete', old.id, old.content); "
            "INSERT INTO rag_chunks_fts(rowid, content) VALUES (new.id, new.content); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for trigger in ("rag_chunks_ai", "rag_chunks_ad", "rag_chunks_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS rag_chunks_fts")
    for table in (
        "rag_chunks",
        "rag_files",
        "audit_items",
        "chat_messages",
        "agents",
        "login_attempts",
        "revoked_tokens",
        "users",
    ):
        op.drop_table(table)
