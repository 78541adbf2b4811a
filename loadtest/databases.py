"""The databases a bench run serves from: SQLite files, or PostgreSQL databases it creates.

Every measured run gets a fresh copy of one seeded template so that runs do not see each other's
writes. SQLite: the template is a file, checkpointed and copied. PostgreSQL (the production
shape: psycopg on the legacy app, asyncpg on the new one): the bench creates a uniquely named
template database on the server given (``--postgres-url``, default ``postgresql://postgres@
127.0.0.1:5432/postgres``, trust authentication), clones it per run with ``CREATE DATABASE ...
TEMPLATE`` and drops every database it made when the run or the whole bench ends, whatever
happened. The PostgreSQL server itself is not pinned to the server core: its CPU is not in the
server's figures (the report says so).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DATABASE_KINDS",
    "DEFAULT_POSTGRES_URL",
    "BenchDatabase",
    "PostgresDatabase",
    "SqliteDatabase",
    "open_database",
]

DATABASE_KINDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = os.environ.get(
    "RESYNC_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _seed(url: str) -> None:
    import migrations  # the shared schema; imported here so --help works without a database

    migrations.upgrade(url)
    migrations.seed(url, environment="development")


@dataclass
class SqliteDatabase:
    """A seeded SQLite file; each run copies it."""

    work: Path
    kind: str = "sqlite"

    @property
    def template_path(self) -> Path:
        """The template file (bench users are added to it before it is copied)."""
        return self.work / "template.db"

    @property
    def template_url(self) -> str:
        """The template's URL, for the setup server that adds users and signs them in."""
        return f"sqlite:///{self.template_path}"

    def create_template(self) -> str:
        """Migrate and seed the template; return its URL."""
        self.template_path.parent.mkdir(parents=True, exist_ok=True)
        _seed(self.template_url)
        return self.template_url

    def freeze_template(self) -> None:
        """Fold the WAL into the file so that copying the file copies everything."""
        with sqlite3.connect(self.template_path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()

    def copy(self, folder: Path) -> str:
        """A fresh copy of the template in ``folder``; return its URL."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "resync.db"
        shutil.copyfile(self.template_path, target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        """Nothing to drop: the copy stays in the work folder with the run's logs."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass
class PostgresDatabase:
    """A seeded PostgreSQL template database; each run clones it; everything made is dropped."""

    admin_url: str = DEFAULT_POSTGRES_URL
    kind: str = "postgresql"
    prefix: str = field(default_factory=lambda: f"resync_bench_{uuid.uuid4().hex[:10]}")
    made: list[str] = field(default_factory=list)
    _copies: int = 0

    def _url(self, name: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def _execute(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    @property
    def template_name(self) -> str:
        """The template database's name."""
        return f"{self.prefix}_template"

    @property
    def template_url(self) -> str:
        """The template's URL, for the setup server that adds users and signs them in."""
        return self._url(self.template_name)

    def create_template(self) -> str:
        """Create, migrate and seed the template database; return its URL."""
        self._execute(f'CREATE DATABASE "{self.template_name}"')
        self.made.append(self.template_name)
        _seed(self.template_url)
        return self.template_url

    def freeze_template(self) -> None:
        """Nothing to fold: ``CREATE DATABASE ... TEMPLATE`` copies committed data."""

    def copy(self, folder: Path) -> str:
        """Clone the template (no session may be connected to it meanwhile); return its URL."""
        import psycopg

        self._copies += 1
        name = f"{self.prefix}_{self._copies:03d}"
        # a setup server that just stopped may leave its sessions for a moment
        for attempt in range(20):
            try:
                self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template_name}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.25)
        self.made.append(name)
        return self._url(name)

    def drop(self, url: str) -> None:
        """Drop one clone, closing whatever sessions are left on it."""
        name = url.rsplit("/", 1)[1]
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.made:
            self.made.remove(name)

    def close(self) -> None:
        """Drop every database this bench made (clones first, the template last)."""
        for name in reversed(list(self.made)):
            self.drop(self._url(name))


BenchDatabase = SqliteDatabase | PostgresDatabase


def open_database(kind: str, work: Path, postgres_url: str = DEFAULT_POSTGRES_URL) -> BenchDatabase:
    """The bench database of ``kind`` (``sqlite`` or ``postgresql``), not yet created."""
    if kind == "sqlite":
        return SqliteDatabase(work / "sqlite")
    if kind == "postgresql":
        return PostgresDatabase(postgres_url)
    raise ValueError(f"unknown database {kind!r}; known: {', '.join(DATABASE_KINDS)}")
