"""Keep capture records, bounded by count and age: a SQLite file, or PostgreSQL when configured.

``STRANGLER_CAPTURE_STORE_URL`` picks the store: ``sqlite:///var/strangler-capture.db``
(default; a file shared by the workers of a host and read by the CLI) or
``postgresql://user@host:5432/db`` (shared by every host). Both keep two tables (created by
the proxy, not by the Resync schema): ``strangler_captures``, one row per record, trimmed on
every write to the newest ``max_records`` rows and at least every ``AGE_SWEEP`` seconds to
rows no older than ``max_age`` seconds (reads skip older ones meanwhile), and
``strangler_capture_parts``, what many records share. The capture writer hands in
:class:`~proxy.traffic.records.PreparedCapture` rows: the record's redacted JSON without its
time and request ids is a *part*, kept once under its hash, and the row holds the time, the
hash and the ids (a few dozen bytes instead of the whole record: what a write costs is mostly
the bytes it writes). Parts no row refers to any more are deleted every ``PARTS_SWEEP`` writes
and by :meth:`clear`. Plain records (a dict; hand-built ones, or exchanges the writer did not
cache) are stored whole. Records arrive already redacted (:mod:`proxy.traffic.records`); the
store adds a last pass over the keys (any secret-named key's value becomes ``[REDACTED]``), of
a plain record and of each part a write brings, and checks each row's ids are ids, so a record
built by hand cannot store a ``password`` or ``access_token`` field.

Stores are synchronous and thread-safe: the proxy writes from its capture thread, the CLI reads.
Driver errors become :class:`~proxy.traffic.errors.CaptureStoreError`.
"""

from __future__ import annotations

import builtins
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from proxy.shadow.redaction import REDACTED, redact_json
from proxy.traffic.errors import CaptureStoreError
from proxy.traffic.records import SAFE_ID_TEXT, PreparedCapture, rebuild

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
PARTS_SWEEP = 64
AGE_SWEEP = 60.0  # seconds between deletions of expired rows (max_age / 10 when shorter)
_ID = rf'\[[01],\d{{1,4}},"{SAFE_ID_TEXT}"\]'
_EXTRA = re.compile(rf"\[(?:{_ID}(?:,{_ID})*)?\]")
_SELECT = (
    "SELECT c.id, c.at, c.record, c.part, p.text FROM strangler_captures c"
    " LEFT JOIN strangler_capture_parts p ON p.hash = c.part"
)


def _secret_keys_redacted(value: Any) -> Any:
    """Replace the value of every secret-named key at any depth (strings are left as built)."""
    return redact_json(value, None)


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


def _part_text(text: str) -> str:
    """Return a part's text as it may be stored: a part of another shape gets the key walk."""
    try:
        part = json.loads(text)
    except ValueError:
        return json.dumps({"unreadable": REDACTED})
    if _known_shape(part):
        return text
    return json.dumps(_secret_keys_redacted(part), ensure_ascii=False, separators=(",", ":"))


_checked: dict[str, str] = {}  # part hash -> a text _part_text passed (the writer resends it)


def _checked_part(part: str, text: str) -> str:
    if _checked.get(part) == text:
        return text
    clean = _part_text(text)
    if clean is text:
        if len(_checked) >= 1024:
            _checked.clear()
        _checked[part] = text
    return clean


def _rows(
    records: Sequence[dict[str, Any] | PreparedCapture],
) -> tuple[list[tuple[float, str, str, str | None]], dict[str, str]]:
    """Return the capture rows and the parts (by hash) a write brings."""
    rows: list[tuple[float, str, str, str | None]] = []
    parts: dict[str, str] = {}
    now = time.time()
    for record in records:
        if type(record) is PreparedCapture:
            extra = record.extra if _EXTRA.fullmatch(record.extra) else "[]"
            rows.append((record.at, record.route, extra, record.part))
            if record.part not in parts:
                parts[record.part] = _checked_part(record.part, record.part_text)
        else:
            assert isinstance(record, dict)
            rows.append((now, str(record.get("route", "")), _stored(record), None))
    return rows, parts


def _loaded(
    record_id: int, at: float, text: str, part: str | None, part_text: str | None
) -> dict[str, Any]:
    if part is None:
        record: dict[str, Any] = json.loads(text)
    elif part_text is None:  # the part is gone (cannot happen under the write lock): say so
        record = {"at": None, "route": None, "lost": True}
    else:
        record = rebuild(part_text, text, at)
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


class CaptureStore:
    """What the capture thread and the CLI need from a store, in the SQL both dialects share.

    A dialect (:class:`SQLiteCaptureStore`, :class:`PostgresCaptureStore`) says how to connect,
    which driver errors it raises, its placeholder, and how a write takes the tables' write lock
    and inserts rows returning their ids. Every method is thread-safe (one lock, one connection).
    """

    url: str
    max_records: int
    max_age: float

    _errors: tuple[type[BaseException], ...] = ()
    _placeholder = "?"
    _id_column = "id INTEGER PRIMARY KEY AUTOINCREMENT"
    _real = "REAL"

    def __init__(self, url: str, *, max_records: int, max_age: float) -> None:
        if max_records < 1 or max_age <= 0:
            raise ValueError("max_records must be >= 1 and max_age > 0")
        self.url = url
        self.max_records = max_records
        self.max_age = max_age
        self._lock = threading.Lock()
        self._conn: Any = None
        self._writes = 0
        self._aged = 0.0  # when expired rows were last deleted (time.time())

    # Dialect ----------------------------------------------------------------------------------
    def _connect(self) -> Any:
        raise NotImplementedError

    def _usable(self, conn: Any) -> bool:
        return conn is not None

    def _add_part_column(self, conn: Any) -> None:
        raise NotImplementedError

    def _insert(self, conn: Any, rows: builtins.list[tuple[Any, ...]]) -> builtins.list[int]:
        raise NotImplementedError

    def _transaction(self, conn: Any, work: Callable[[], Any]) -> Any:
        raise NotImplementedError

    def _describe(self, exc: BaseException) -> str:
        return f"capture store: {exc}"

    def _executemany(self, conn: Any, sql: str, rows: builtins.list[tuple[Any, ...]]) -> None:
        conn.executemany(sql, rows)

    # Shared -----------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", self._placeholder)

    def _create(self, conn: Any) -> None:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS strangler_captures ({self._id_column},"
            f" at {self._real} NOT NULL, route TEXT NOT NULL, record TEXT NOT NULL, part TEXT)"
        )
        self._add_part_column(conn)  # a table made before parts existed
        conn.execute(
            "CREATE TABLE IF NOT EXISTS strangler_capture_parts ("
            " hash TEXT PRIMARY KEY, text TEXT NOT NULL)"
        )
        # No index but the id's: one by route cost a sixth of a write and one by time a tenth;
        # the age bound deletes by time at most every AGE_SWEEP seconds (a scan of a bounded
        # table), reads skip expired rows meanwhile, and per-route reads scan too.
        conn.execute("DROP INDEX IF EXISTS ix_strangler_captures_route")  # older tables had them
        conn.execute("DROP INDEX IF EXISTS ix_strangler_captures_at")

    def _connection(self) -> Any:
        if not self._usable(self._conn):
            self._conn = self._connect()
        return self._conn

    def _run(self, work: Callable[[Any], Any]) -> Any:
        with self._lock:
            try:
                return work(self._connection())
            except self._errors as exc:
                if self._conn is not None and getattr(self._conn, "broken", False):
                    self._conn = None
                raise CaptureStoreError(self._describe(exc)) from exc

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> builtins.list[Any]:
        rows: builtins.list[Any] = self._run(
            lambda conn: conn.execute(self._sql(sql), params).fetchall()
        )
        return rows

    def add_many(self, records: Sequence[dict[str, Any] | PreparedCapture]) -> builtins.list[int]:
        """Store records or prepared rows (oldest first), trim the table, return the new ids."""
        rows, parts = _rows(records)

        def work(conn: Any) -> builtins.list[int]:
            def write() -> builtins.list[int]:
                ids: builtins.list[int] = []
                if parts:
                    self._executemany(conn, self._insert_part_sql, builtins.list(parts.items()))
                if rows:
                    ids = self._insert(conn, rows)
                    conn.execute(
                        self._sql("DELETE FROM strangler_captures WHERE id <= ?"),
                        (ids[-1] - self.max_records,),
                    )
                now = time.time()
                if now - self._aged >= min(AGE_SWEEP, self.max_age / 10):
                    conn.execute(
                        self._sql("DELETE FROM strangler_captures WHERE at < ?"),
                        (now - self.max_age,),
                    )
                    self._aged = now
                self._writes += 1
                if self._writes % PARTS_SWEEP == 0:
                    self._sweep_parts(conn)
                return ids

            result: builtins.list[int] = self._transaction(conn, write)
            return result

        result: builtins.list[int] = self._run(work)
        return result

    def _oldest(self) -> float:
        return time.time() - self.max_age

    @property
    def _insert_part_sql(self) -> str:
        return self._sql(
            "INSERT INTO strangler_capture_parts (hash, text) VALUES (?, ?)"
            " ON CONFLICT (hash) DO NOTHING"
        )

    def _sweep_parts(self, conn: Any) -> None:
        conn.execute(
            "DELETE FROM strangler_capture_parts WHERE hash NOT IN"
            " (SELECT part FROM strangler_captures WHERE part IS NOT NULL)"
        )

    def list(
        self,
        *,
        route: str | None = None,
        after: int = 0,
        limit: int = 100,
        newest_first: bool = False,
    ) -> builtins.list[dict[str, Any]]:
        """Return records with their ``id``, oldest first unless ``newest_first``."""
        sql = f"{_SELECT} WHERE c.id > ? AND c.at >= ?"
        params: builtins.list[Any] = [after, self._oldest()]
        if route is not None:
            sql += " AND c.route = ?"
            params.append(route)
        sql += f" ORDER BY c.id {'DESC' if newest_first else 'ASC'} LIMIT ?"
        params.append(max(0, limit))
        return [_loaded(*row) for row in self._fetch(sql, params)]

    def get(self, record_id: int) -> dict[str, Any] | None:
        """Return one record, or None."""
        rows = self._fetch(f"{_SELECT} WHERE c.id = ? AND c.at >= ?", (record_id, self._oldest()))
        return _loaded(*rows[0]) if rows else None

    def count(self, route: str | None = None) -> int:
        """Return how many records are kept (for one route, or all)."""
        sql = "SELECT count(*) FROM strangler_captures WHERE at >= ?"
        params: builtins.list[Any] = [self._oldest()]
        if route is not None:
            sql += " AND route = ?"
            params.append(route)
        return int(self._fetch(sql, params)[0][0])

    def routes(self) -> dict[str, int]:
        """Return the number of records kept per route."""
        rows = self._fetch(
            "SELECT route, count(*) FROM strangler_captures WHERE at >= ?"
            " GROUP BY route ORDER BY route",
            (self._oldest(),),
        )
        return {str(route): int(n) for route, n in rows}

    def clear(self) -> int:
        """Forget every record (and every part); return how many records there were."""

        def work(conn: Any) -> int:
            def forget() -> int:
                count = int(conn.execute("DELETE FROM strangler_captures").rowcount)
                conn.execute("DELETE FROM strangler_capture_parts")
                return count

            result: int = self._transaction(conn, forget)
            return result

        result: int = self._run(work)
        return result

    def close(self) -> None:
        """Release the connection (the next call opens a new one)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SQLiteCaptureStore(CaptureStore):
    """Capture records in one SQLite file (WAL), shared by the processes that open it."""

    _errors = (sqlite3.Error,)

    def __init__(
        self,
        path: str | Path,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        self.path = Path(path)
        super().__init__(f"sqlite:///{self.path}", max_records=max_records, max_age=max_age)

    def _connect(self) -> sqlite3.Connection:
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
            self._create(conn)
        except (OSError, sqlite3.Error) as exc:
            raise CaptureStoreError(f"cannot open the capture store {self.path}: {exc}") from exc
        return conn

    def _describe(self, exc: BaseException) -> str:
        return f"capture store {self.path}: {exc}"

    def _add_part_column(self, conn: Any) -> None:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(strangler_captures)")}
        if "part" not in columns:
            conn.execute("ALTER TABLE strangler_captures ADD COLUMN part TEXT")

    def _transaction(self, conn: Any, work: Callable[[], Any]) -> Any:
        conn.execute("BEGIN IMMEDIATE")  # the file's write lock, across processes
        try:
            result = work()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result

    def _insert(self, conn: Any, rows: builtins.list[tuple[Any, ...]]) -> builtins.list[int]:
        conn.executemany(
            "INSERT INTO strangler_captures (at, route, record, part) VALUES (?, ?, ?, ?)", rows
        )
        # One writer holds the lock and ids only grow (AUTOINCREMENT): the batch's ids are the
        # ones up to the last.
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        return builtins.list(range(last - len(rows) + 1, last + 1))


class PostgresCaptureStore(CaptureStore):
    """Capture records in PostgreSQL tables, shared by every host (psycopg, one connection)."""

    _placeholder = "%s"
    _id_column = "id BIGSERIAL PRIMARY KEY"
    _real = "DOUBLE PRECISION"
    # Writers of every host take this transaction lock first, so a sweep of unused parts never
    # runs between another writer's "the part is there" and its rows' commit.
    _WRITE_LOCK = 0x5354_4341_5054  # "STCAPT"

    def __init__(
        self,
        url: str,
        *,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_age: float = DEFAULT_MAX_AGE,
    ) -> None:
        import psycopg

        super().__init__(url, max_records=max_records, max_age=max_age)
        self._errors = (psycopg.Error,)

    def _usable(self, conn: Any) -> bool:
        return conn is not None and not conn.closed

    def _executemany(self, conn: Any, sql: str, rows: builtins.list[tuple[Any, ...]]) -> None:
        with conn.cursor() as cursor:
            cursor.executemany(sql, rows)

    def _connect(self) -> Any:
        import psycopg

        try:
            conn = psycopg.connect(self._dsn(), autocommit=True, connect_timeout=5)
            self._create(conn)
        except psycopg.Error as exc:
            raise CaptureStoreError(f"cannot open the capture store: {exc}") from exc
        return conn

    def _dsn(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return "postgresql://" + rest if scheme.startswith("postgres") else self.url

    def _add_part_column(self, conn: Any) -> None:
        conn.execute("ALTER TABLE strangler_captures ADD COLUMN IF NOT EXISTS part TEXT")

    def _transaction(self, conn: Any, work: Callable[[], Any]) -> Any:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._WRITE_LOCK,))
            return work()

    def _insert(self, conn: Any, rows: builtins.list[tuple[Any, ...]]) -> builtins.list[int]:
        ids: builtins.list[int] = []
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO strangler_captures (at, route, record, part)"
                " VALUES (%s, %s, %s, %s) RETURNING id",
                rows,
                returning=True,
            )
            while True:
                ids.append(int(cursor.fetchone()[0]))
                if not cursor.nextset():
                    break
        return ids


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
