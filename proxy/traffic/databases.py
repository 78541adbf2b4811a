"""Give each side its own identical copy of one freshly seeded database, and compare their rows.

Shared by the differential suite (``parity_tests``) and ``resync-strangler replay``, so a replay
compares database states exactly as the parity suite does. It knows the shared Resync schema
(``migrations``), not either app.

Seed once (argon2 hashing makes seeding slow), then copy: a SQLite file through SQLite's online
backup (consistent even with the WAL), a PostgreSQL database with ``CREATE DATABASE ... TEMPLATE``.
A snapshot is every row of the shared tables with the values that legitimately differ between
two writers made comparable: timestamps as RFC 3339 strings (compared within a tolerance),
password hashes and random token ids replaced by their shape, random uuid4 file ids too.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import migrations
from migrations.database import sync_engine_url
from proxy.clock import format_utc
from proxy.shadow.differ import Comparison, compare_json
from proxy.shadow.rules import RuleSet

__all__ = ["SNAPSHOT_RULES", "SNAPSHOT_TABLES", "DatabaseCopies", "compare_snapshots", "snapshot"]

#: The tables a request can write, and the columns rows are ordered by.
SNAPSHOT_TABLES = {
    "users": "id",
    "revoked_tokens": None,  # random primary keys: rows are sorted after normalising
    "login_attempts": "id",
    "chat_messages": "id",
    "audit_items": "id",
    "rag_files": None,
    "rag_chunks": "id",
}
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
# SQLite hands DateTime columns back as text when read through plain SQL.
_SQLITE_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@dataclass
class DatabaseCopies:
    """A seeded template database and the copies made from it."""

    backend: str  # "sqlite" | "postgresql"
    template_url: str
    workdir: Path
    admin_url: str | None = None

    def __post_init__(self) -> None:
        self._counter = itertools.count(1)
        self._made: list[str] = []
        self._contents: (
            tuple[dict[sa.Table, list[dict[str, Any]]], dict[str, tuple[int, bool]]] | None
        ) = None

    @classmethod
    def create(cls, backend: str, workdir: Path, admin_url: str | None = None) -> DatabaseCopies:
        """Create, migrate and seed the template database."""
        if backend == "sqlite":
            url = f"sqlite:///{workdir / 'template.db'}"
        else:
            assert admin_url is not None
            name = f"resync_parity_tpl_{uuid.uuid4().hex[:10]}"
            _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
            url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        migrations.upgrade(url)
        migrations.seed(url, environment="test")
        return cls(backend=backend, template_url=url, workdir=workdir, admin_url=admin_url)

    def copy(self, label: str) -> str:
        """Return the URL of a new copy of the template (close all template users first)."""
        number = next(self._counter)
        if self.backend == "sqlite":
            target = self.workdir / f"{label}-{number}.db"
            source = sqlite3.connect(self.template_url.removeprefix("sqlite:///"))
            destination = sqlite3.connect(target)
            try:
                source.backup(destination)
            finally:
                destination.close()
                source.close()
            url = f"sqlite:///{target}"
        else:
            assert self.admin_url is not None
            template = self.template_url.rsplit("/", 1)[1]
            name = f"{template}_{label.replace('-', '_')[:20]}_{number}"
            _admin_execute(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            url = self.admin_url.rsplit("/", 1)[0] + f"/{name}"
        self._made.append(url)
        return url

    def restore(self, url: str) -> None:
        """Make an existing copy identical to the template again, in place.

        Lets one pair of running apps serve scenario after scenario without a new database
        (and new apps) each time. SQLite: the online backup API writes the template's pages
        over the copy. PostgreSQL: truncate every table, insert the template's rows, set the
        sequences to the template's values. Both need the apps idle (no open transaction).
        """
        if self.backend == "sqlite":
            source = sqlite3.connect(self.template_url.removeprefix("sqlite:///"))
            destination = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10)
            try:
                source.backup(destination)
            finally:
                destination.close()
                source.close()
            return
        rows, sequences = self._template_contents()
        engine = sa.create_engine(sync_engine_url(url), poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as conn:
                names = ", ".join(f'"{table.name}"' for table in rows)
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                for table, data in rows.items():
                    if data:
                        conn.execute(table.insert(), data)
                for name, (value, called) in sequences.items():
                    conn.execute(
                        sa.text("SELECT setval(:name, :value, :called)"),
                        {"name": name, "value": value, "called": called},
                    )
        finally:
            engine.dispose()

    def _template_contents(
        self,
    ) -> tuple[dict[sa.Table, list[dict[str, Any]]], dict[str, tuple[int, bool]]]:
        if self._contents is None:
            engine = sa.create_engine(
                sync_engine_url(self.template_url), poolclass=sa.pool.NullPool
            )
            try:
                metadata = sa.MetaData()
                metadata.reflect(engine)
                rows: dict[sa.Table, list[dict[str, Any]]] = {}
                sequences: dict[str, tuple[int, bool]] = {}
                with engine.connect() as conn:
                    for table in metadata.sorted_tables:
                        if table.name == "alembic_version":
                            continue
                        columns = [c for c in table.columns if c.computed is None]
                        insertable = sa.Table(
                            table.name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in columns)
                        )
                        result = conn.execute(sa.select(*columns))
                        rows[insertable] = [dict(r._mapping) for r in result]
                    for (name,) in conn.execute(
                        sa.text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
                    ):
                        value, called = conn.execute(
                            sa.text(f'SELECT last_value, is_called FROM "{name}"')  # noqa: S608
                        ).one()
                        sequences[name] = (int(value), bool(called))
            finally:
                engine.dispose()
            self._contents = (rows, sequences)
        return self._contents

    def drop(self, url: str) -> None:
        """Remove a copy (its connections are closed by force on PostgreSQL)."""
        if self.backend == "sqlite":
            path = Path(url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            assert self.admin_url is not None
            name = url.rsplit("/", 1)[1]
            _admin_execute(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if url in self._made:
            self._made.remove(url)

    def close(self) -> None:
        """Drop every copy left and the template."""
        for url in list(self._made):
            self.drop(url)
        if self.backend != "sqlite":
            self.drop(self.template_url)


def _admin_execute(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.encode())  # names are generated here, never input


def _normalise(table: str, row: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for column, value in row.items():
        if isinstance(value, str) and (match := _SQLITE_DATETIME.match(value)):
            day, clock, fraction = match.groups()
            micro = int((fraction or "0").ljust(6, "0"))
            value = f"{day}T{clock}Z" + (f" (+{micro} us)" if micro else "")
        elif isinstance(value, datetime):
            value = format_utc(value) + (f" (+{value.microsecond} us)" if value.microsecond else "")
        elif column == "password_hash" and isinstance(value, str):
            value = "<argon2id>" if value.startswith("$argon2id$") else value
        elif isinstance(value, str) and _HEX32.match(value) and table == "revoked_tokens":
            value = "<hex32>"
        elif isinstance(value, str) and _UUID4.match(value):
            value = "<uuid4>"
        elif column == "tsv":
            continue  # PostgreSQL's generated search vector follows the content
        clean[column] = value
    return clean


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    """Return every row of the writable tables, normalised for comparison."""
    engine = sa.create_engine(sync_engine_url(url), poolclass=sa.pool.NullPool)
    tables: dict[str, list[dict[str, Any]]] = {}
    try:
        with engine.connect() as conn:
            for table, order in SNAPSHOT_TABLES.items():
                sql = f"SELECT * FROM {table}" + (f" ORDER BY {order}" if order else "")  # noqa: S608 - fixed names
                rows = [_normalise(table, dict(r._mapping)) for r in conn.execute(sa.text(sql))]
                if order is None:
                    rows.sort(key=lambda r: sorted((k, str(v)) for k, v in r.items()))
                tables[table] = rows
    finally:
        engine.dispose()
    return tables


#: How two snapshots are compared: row timestamps are written by each side's clock, seconds
#: apart, and the encoding of a snapshot is not the contract's.
SNAPSHOT_RULES = RuleSet.from_mapping(
    {
        "version": 1,
        "defaults": {
            "check_json_encoding": False,
            "time_tolerance": {
                f"*[*].{column}": 120
                for column in (
                    "created_at",
                    "reviewed_at",
                    "revoked_at",
                    "expires_at",
                    "attempted_at",
                )
            },
        },
    }
).defaults


def compare_snapshots(
    expected: dict[str, list[dict[str, Any]]], actual: dict[str, list[dict[str, Any]]]
) -> Comparison:
    """Compare two snapshots (legacy's first) under :data:`SNAPSHOT_RULES`."""
    found, omitted = compare_json(expected, actual, SNAPSHOT_RULES)
    return Comparison(equal=not found, differences=found, omitted=omitted)
