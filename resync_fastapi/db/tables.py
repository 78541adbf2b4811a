"""Describe the shared tables this app reads and writes (mirrors migrations 0001-0003).

The migration owns the schema; these Core ``Table`` objects only tell SQLAlchemy the column
types so timestamps and booleans come back as Python values. The FTS5 table and PostgreSQL's
generated ``tsvector`` column are reached with SQL in the search module.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "agents",
    "audit_items",
    "auth_version",
    "chat_messages",
    "login_attempts",
    "metadata",
    "rag_chunks",
    "rag_files",
    "revoked_tokens",
    "users",
]

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(32), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("full_name", sa.String(100), nullable=False, server_default=""),
    sa.Column("email", sa.String(254), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

revoked_tokens = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("token_id", sa.String(64), primary_key=True),
    sa.Column("revoked_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

# One row, bumped by triggers (migration 0003) on every revocation and user change.
auth_version = sa.Table(
    "auth_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
)

login_attempts = sa.Table(
    "login_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(128), nullable=False),
    sa.Column("client_addr", sa.String(64), nullable=False),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("attempted_at", sa.DateTime, nullable=False),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("agent_type", sa.String(32), nullable=False),
    sa.Column("role", sa.String(256), nullable=False),
    sa.Column("goal", sa.Text, nullable=False),
    sa.Column("backstory", sa.Text, nullable=False),
    sa.Column("tools", sa.Text, nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False),
)

chat_messages = sa.Table(
    "chat_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("reply", sa.Text, nullable=False),
    sa.Column("intent", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

audit_items = sa.Table(
    "audit_items",
    metadata,
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
)

rag_files = sa.Table(
    "rag_files",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("content_type", sa.String(64), nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("uploaded_by", sa.String(32), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

rag_chunks = sa.Table(
    "rag_chunks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "file_id", sa.String(36), sa.ForeignKey("rag_files.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("chunk_index", sa.Integer, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
)
