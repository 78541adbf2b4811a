"""Keep capture records, bounded by count and age: a SQLite file, or PostgreSQL when configured.

``STRANGLER_CAPTURE_STORE_URL`` picks the store: ``sqlite:///var/strangler-capture.db``
(default; a file shared by the workers of a host and read by the CLI) or
``postgresql://user@host:5432/db`` (shared by every host). Both keep one table,
``strangler_captures`` (created by the proxy, not by the Resync schema), and trim it on every
write to the newest ``max_records`` rows no older than ``max_age`` seconds. Records arrive
already redacted (:mod:`proxy.traffic.records`); the store adds a last pass over the keys
(any secret-named key's value becomes ``[REDACTED]``) so a record built by hand cannot store a
``password`` or ``access_token`` field.

Stores are synchronous and thread-safe: the proxy writes from its capture thread, the CLI reads.
Driver errors become :class:`~proxy.traffic.errors.CaptureStoreError`.
"""

from __future__ import annotations

import builtins
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic_core import to_json

from proxy.shadow.redaction import REDACTED, is_secret_name
from proxy.traffic.errors import CaptureStoreError

__all__ = [
    "DEFAULT_CAPTURE_STORE_URL",
    "CaptureStore",
    "PostgresCaptureStore",
    "SQLiteCaptureStore",
    "iter_all",
    "open_capture_store",
]

DEFAULT_CAPTURE_STORE_URL = "sqlite:///var/strangler-capture.db"
DEFAULT_MAX_RECORDS = 10_000
DEFAULT_MAX_AGE = 7 * 24 * 3600.0
_COLUMNS = "id, record"


class CaptureStore(Protocol):
    """What the capture thread and the CLI need from a store."""

    url: str
    max_records: int
    max_age: float

    def add_many(self, records: Sequence[dict[str, Any]]) -> list[int]:
        """Store records (oldest first), trim the table, return the new ids."""
        ...

    def list(
        self,
        *,
        route: str | None = None,
        after: int = 0,
        limit: int = 100,
        newest_first: bool = False,
    ) -> builtins.list[dict[str, Any]]:
        """Return records with their ``id``, oldest first unless ``newest_first``."""
        ...

    def get(self, record_id: int) -> dict[str, Any] | None:
        """Return one record, or None."""
        ...

    def count(self, route: str | None = None) -> int:
        """Return how many records are kept (for one route, or all)."""
        ...

    def routes(self) -> dict[str, int]:
        """Return the number of records kept per route."""
        ...

    def clear(self) -> int:
        """Forget every record; return how many there were."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@functools.lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    return is_secret_name(name)


def _secret_keys_redacted(value: Any) -> Any:
    """Replace the value of every secret-named key at any depth (strings are left as built)."""
    if isinstance(value, dict):
        return {
            k: REDACTED if _secret_key(str(k)) and v is not None else _secret_keys_redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_secret_keys_redacted(v) for v in value]
    return value


# The shape build_capture gives a record: fixed key names (none of them secret: a test checks),
# scalars, and headers as [name, value] string pairs. A record of exactly this shape has no key
# for the safety net to replace, so it skips the walk; any other record gets the walk.
_SCALARS = frozenset({str, int, float, bool, type(None)})
_RECORD_KEYS = frozenset({"id", "at", "route", "side", "auth", "request", "response"})
_AUTH_KEYS = frozenset({"kind", "role"})
_REQUEST_KEYS = frozenset({"method", "path", "query", "headers", "body"})
_RESPONSE_KEYS = frozenset({"status", "headers", "body"})
_BODY_KEYS = frozenset({"size", "redacted", "truncated", "encoding", "value"})
SHAPE_KEYS = _RECORD_KEYS | _AUTH_KEYS | _REQUEST_KEYS | _RESPONSE_KEYS | _BODY_KEYS


def _flat(value: Any, keys: frozenset[str]) -> bool:
    if type(value) is not dict or not value.keys() <= keys:
        return False
    for item in value.values():  # noqa: SIM110 - loops: all() over a generator costs 2x here
        if type(item) not in _SCALARS:
            return False
    return True


def _pairs(value: Any) -> bool:
    if type(value) is not list:
        return False
    for pair in value:
        if type(pair) is not list or len(pair) != 2:
            return False
        if type(pair[0]) is not str or type(pair[1]) is not str:
            return False
    return True


def _part(value: Any, keys: frozenset[str]) -> bool:
    if type(value) is not dict or not value.keys() <= keys:
        return False
    for key, item in value.items():
        if key == "headers":
            if not _pairs(item):
                return False
        elif key == "body":
            if not _flat(item, _BODY_KEYS):
                return False
        elif type(item) not in _SCALARS:
            return False
    return True


def _known_shape(record: Any) -> bool:
    """Tell whether ``record`` has build_capture's shape (so no key of it can be secret)."""
    if type(record) is not dict or not record.keys() <= _RECORD_KEYS:
        return False
    for key, value in record.items():
        if key == "auth":
            if not _flat(value, _AUTH_KEYS):
                return False
        elif key == "request":
            if not _part(value, _REQUEST_KEYS):
                return False
        elif key == "response":
            if not _part(value, _RESPONSE_KEYS):
                return False
        elif type(value) not in _SCALARS:
            return False
    return True


def _stored(record: dict[str, Any]) -> str:
    # The safety net walks keys only: the strings of a record from build_capture are redacted
    # already, and scanning every body again cost more than the rest of a capture together.
    if _known_shape(record):
        clean = {k: v for k, v in record.items() if k != "id"} if "id" in record else record
        try:
            return to_json(clean).decode("utf-8")  # 3x json.dumps; only JSON scalars here
        except (ValueError, TypeError, UnicodeDecodeError):  # a lone surrogate, say
            pass
    clean = _secret_keys_redacted(record)
    clean.pop("id", None)
    return json.dumps(clean, ensure_ascii=False, separators=(",", ":"), default=str)


def _loaded(record_id: int, text: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(text)
    record["id"] = int(record_id)
    return record


def iter_all(
    store: CaptureStore, *, route: str | None = None, batch: int = 500
) -> Iterator[dict[str, Any]]:
    """Yield every record of the store, oldest first, in batches (for replay)."""
    after = 0
    while True:
        chunk = store.list(route=route, after=after, limit=batch)
        if not chunk:
            return
        yield from chunk
        after = int(chunk[-1]["id"])


class SQLiteCaptureStore:
    """Capture records in one SQLite file (WAL), shared by the processes that open it."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        if max_records < 1 or max_age <= 0:
            raise ValueError("max_records must be >= 1 and max_age > 0")
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self.max_records = max_records
        self.max_age = max_age
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=5.0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA busy_timeout=5000")
                # WAL with NORMAL: a commit is not an fsync (a power cut may lose the last
                # batches of captures, never corrupt the file), which keeps capture cheap.
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS strangler_captures ("
                    " id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,"
                    " route TEXT NOT NULL, record TEXT NOT NULL)"
                )
                conn.execute(
                    "CREATE INDEX IF NOT EXISTS ix_strangler_captures_route"
                    " ON strangler_captures (route, id)"
                )
                conn.execute(
                    "CREATE INDEX IF NOT EXISTS ix_strangler_captures_at ON strangler_captures (at)"
                )
            except (OSError, sqlite3.Error) as exc:
                raise CaptureStoreError(
                    f"cannot open the capture store {self.path}: {exc}"
                ) from exc
            self._conn = conn
        return self._conn

    def _run(self, work: Any) -> Any:
        with self._lock:
            try:
                return work(self._connection())
            except sqlite3.Error as exc:
                raise CaptureStoreError(f"capture store {self.path}: {exc}") from exc

    def add_many(self, records: Sequence[dict[str, Any]]) -> list[int]:
        rows = [(time.time(), str(r.get("route", "")), _stored(r)) for r in records]

        def work(conn: sqlite3.Connection) -> list[int]:
            ids: list[int] = []
            conn.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    conn.executemany(
                        "INSERT INTO strangler_captures (at, route, record) VALUES (?, ?, ?)", rows
                    )
                    # One writer holds the lock and ids only grow (AUTOINCREMENT): the batch's
                    # ids are the ones up to the last.
                    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
                    ids = list(range(last - len(rows) + 1, last + 1))
                if ids:
                    conn.execute(
                        "DELETE FROM strangler_captures WHERE id <= ?",
                        (ids[-1] - self.max_records,),
                    )
                conn.execute(
                    "DELETE FROM strangler_captures WHERE at < ?", (time.time() - self.max_age,)
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return ids

        result: list[int] = self._run(work)
        return result

    def list(
        self,
        *,
        route: str | None = None,
        after: int = 0,
        limit: int = 100,
        newest_first: bool = False,
    ) -> builtins.list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM strangler_captures WHERE id > ? AND at >= ?"  # noqa: S608
        params: builtins.list[Any] = [after, time.time() - self.max_age]
        if route is not None:
            sql += " AND route = ?"
            params.append(route)
        sql += f" ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT ?"
        params.append(max(0, limit))
        rows = self._run(lambda conn: conn.execute(sql, params).fetchall())
        return [_loaded(i, text) for i, text in rows]

    def get(self, record_id: int) -> dict[str, Any] | None:
        rows = self._run(
            lambda conn: conn.execute(
                f"SELECT {_COLUMNS} FROM strangler_captures WHERE id = ?",  # noqa: S608
                (record_id,),
            ).fetchall()
        )
        return _loaded(*rows[0]) if rows else None

    def count(self, route: str | None = None) -> int:
        if route is None:
            rows = self._run(
                lambda c: c.execute("SELECT count(*) FROM strangler_captures").fetchall()
            )
        else:
            rows = self._run(
                lambda c: c.execute(
                    "SELECT count(*) FROM strangler_captures WHERE route = ?", (route,)
                ).fetchall()
            )
        return int(rows[0][0])

    def routes(self) -> dict[str, int]:
        rows = self._run(
            lambda c: c.execute(
                "SELECT route, count(*) FROM strangler_captures GROUP BY route ORDER BY route"
            ).fetchall()
        )
        return {str(route): int(n) for route, n in rows}

    def clear(self) -> int:
        return int(self._run(lambda c: c.execute("DELETE FROM strangler_captures").rowcount))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PostgresCaptureStore:
    """Capture records in a PostgreSQL table, shared by every host (psycopg, one connection)."""

    def __init__(
        self,
        url: str,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        if max_records < 1 or max_age <= 0:
            raise ValueError("max_records must be >= 1 and max_age > 0")
        self.url = url
        self.max_records = max_records
        self.max_age = max_age
        self._lock = threading.Lock()
        self._conn: Any = None

    def _connection(self) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            try:
                conn = psycopg.connect(self._dsn(), autocommit=True, connect_timeout=5)
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS strangler_captures ("
                    " id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL,"
                    " route TEXT NOT NULL, record TEXT NOT NULL)"
                )
                conn.execute(
                    "CREATE INDEX IF NOT EXISTS ix_strangler_captures_route"
                    " ON strangler_captures (route, id)"
                )
                conn.execute(
                    "CREATE INDEX IF NOT EXISTS ix_strangler_captures_at ON strangler_captures (at)"
                )
            except psycopg.Error as exc:
                raise CaptureStoreError(f"cannot open the capture store: {exc}") from exc
            self._conn = conn
        return self._conn

    def _dsn(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return "postgresql://" + rest if scheme.startswith("postgres") else self.url

    def _run(self, work: Any) -> Any:
        import psycopg

        with self._lock:
            try:
                return work(self._connection())
            except psycopg.Error as exc:
                if self._conn is not None and self._conn.broken:
                    self._conn = None
                raise CaptureStoreError(f"capture store: {exc}") from exc

    def add_many(self, records: Sequence[dict[str, Any]]) -> list[int]:
        rows = [(time.time(), str(r.get("route", "")), _stored(r)) for r in records]

        def work(conn: Any) -> list[int]:
            ids: list[int] = []
            with conn.transaction():
                for row in rows:
                    found = conn.execute(
                        "INSERT INTO strangler_captures (at, route, record) VALUES (%s, %s, %s)"
                        " RETURNING id",
                        row,
                    ).fetchone()
                    ids.append(int(found[0]))
                if ids:
                    conn.execute(
                        "DELETE FROM strangler_captures WHERE id <= %s",
                        (ids[-1] - self.max_records,),
                    )
                conn.execute(
                    "DELETE FROM strangler_captures WHERE at < %s", (time.time() - self.max_age,)
                )
            return ids

        result: list[int] = self._run(work)
        return result

    def list(
        self,
        *,
        route: str | None = None,
        after: int = 0,
        limit: int = 100,
        newest_first: bool = False,
    ) -> builtins.list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM strangler_captures WHERE id > %s AND at >= %s"  # noqa: S608
        params: builtins.list[Any] = [after, time.time() - self.max_age]
        if route is not None:
            sql += " AND route = %s"
            params.append(route)
        sql += f" ORDER BY id {'DESC' if newest_first else 'ASC'} LIMIT %s"
        params.append(max(0, limit))
        rows = self._run(lambda conn: conn.execute(sql.encode(), params).fetchall())
        return [_loaded(i, text) for i, text in rows]

    def get(self, record_id: int) -> dict[str, Any] | None:
        rows = self._run(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM strangler_captures WHERE id = %s".encode(),  # noqa: S608
                (record_id,),
            ).fetchall()
        )
        return _loaded(*rows[0]) if rows else None

    def count(self, route: str | None = None) -> int:
        if route is None:
            rows = self._run(
                lambda c: c.execute("SELECT count(*) FROM strangler_captures").fetchall()
            )
        else:
            rows = self._run(
                lambda c: c.execute(
                    "SELECT count(*) FROM strangler_captures WHERE route = %s", (route,)
                ).fetchall()
            )
        return int(rows[0][0])

    def routes(self) -> dict[str, int]:
        rows = self._run(
            lambda c: c.execute(
                "SELECT route, count(*) FROM strangler_captures GROUP BY route ORDER BY route"
            ).fetchall()
        )
        return {str(route): int(n) for route, n in rows}

    def clear(self) -> int:
        return int(self._run(lambda c: c.execute("DELETE FROM strangler_captures").rowcount))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def open_capture_store(
    url: str = DEFAULT_CAPTURE_STORE_URL,
    *,
    max_records: int = DEFAULT_MAX_RECORDS,
    max_age: float = DEFAULT_MAX_AGE,
) -> CaptureStore:
    """Return the store a URL names (not connected until first used)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.split("+", 1)[0].lower()
    if scheme == "sqlite" and sep:
        path = rest[1:] if rest.startswith("/") else rest
        if not path:
            raise CaptureStoreError(f"{url!r}: a SQLite capture store needs a file path")
        return SQLiteCaptureStore(path, max_records=max_records, max_age=max_age)
    if scheme in ("postgresql", "postgres") and sep:
        return PostgresCaptureStore(url, max_records=max_records, max_age=max_age)
    raise CaptureStoreError(
        f"{url!r}: the capture store must be sqlite:///PATH or postgresql://..."
    )
