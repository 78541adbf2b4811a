"""Keep the last shadow mismatches, redacted, for the admin API, the CLI and the runbook.

A record holds the request, both answers, the readable diff and the structured differences, so
an operator can read a mismatch without reproducing it. Records are bounded twice: a ring buffer
of ``limit`` records per process, and, when a file is given, a SQLite table trimmed to ``limit``
rows on every insert (shared by all workers of a host). Every record is redacted before it is
kept (``proxy.shadow.redaction``): no credentials header, cookie, password or token reaches storage.

Errors (defined in :mod:`proxy.errors`)::

    MismatchStoreError      the SQLite file cannot be opened or written
"""

from __future__ import annotations

import builtins
import hashlib
import itertools
import json
import sqlite3
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from proxy.clock import format_utc, utc_now
from proxy.errors import MismatchStoreError
from proxy.shadow.capture import CapturedResponse, header_value
from proxy.shadow.comparator import format_diff
from proxy.shadow.differ import Comparison, Difference
from proxy.shadow.names import ERROR, MISMATCH
from proxy.shadow.redaction import (
    REDACTED,
    is_secret_name,
    redact_headers,
    redact_json,
    redact_query,
    redact_text,
)

__all__ = [
    "DEFAULT_MISMATCH_DB",
    "MismatchStore",
    "MismatchStoreError",
    "build_record",
    "redact_record_body",
]

DEFAULT_MISMATCH_DB = "var/strangler-mismatches.db"
TEXT_LIMIT = 64 * 1024

_TEXT_TYPES = (
    "text/",
    "application/x-ndjson",
    "application/xml",
    "application/javascript",
)


def redact_record_body(
    content_type: str | None, body: bytes, *, truncated: bool = False
) -> dict[str, Any]:
    """Return a storable, redacted view of a body: parsed JSON, text, or only its size and hash.

    Multipart and binary bodies are never stored (an upload may hold anything); their size and
    sha256 identify them.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    view: dict[str, Any] = {"content_type": content_type, "size": len(body), "truncated": truncated}
    if not body:
        return {**view, "kind": "empty", "value": None}
    if (media == "application/json" or media.endswith("+json")) and not truncated:
        try:
            return {**view, "kind": "json", "value": redact_json(json.loads(body))}
        except (UnicodeDecodeError, ValueError):
            pass
    if media == "application/x-www-form-urlencoded":
        text = body[:TEXT_LIMIT].decode("utf-8", "replace")
        return {**view, "kind": "form", "value": redact_query(text)}
    if media.startswith(_TEXT_TYPES) or media == "application/json" or media.endswith("+json"):
        text = body[:TEXT_LIMIT].decode("utf-8", "replace")
        return {
            **view,
            "kind": "text",
            "value": redact_text(text),
            "truncated": truncated or len(body) > TEXT_LIMIT,
        }
    return {**view, "kind": "omitted", "value": None, "sha256": hashlib.sha256(body).hexdigest()}


def _response_view(response: CapturedResponse | None) -> dict[str, Any] | None:
    if response is None:
        return None
    return {
        "status": response.status,
        "headers": redact_headers(response.headers),
        "body": redact_record_body(
            response.header("content-type"), response.body, truncated=response.truncated
        ),
    }


def _redact_difference(difference: Difference) -> Difference:
    secret = any(isinstance(s, str) and is_secret_name(s) for s in difference.segments) or (
        difference.area == "header" and is_secret_name(difference.path)
    )

    def clean(value: Any) -> Any:
        if secret and value is not None:
            return REDACTED
        return redact_json(value) if isinstance(value, dict | list | str) else value

    return Difference(
        difference.area,
        difference.path,
        difference.kind,
        clean(difference.expected),
        clean(difference.actual),
        difference.note,
        segments=difference.segments,
    )


def build_record(
    *,
    route: str,
    primary_side: str,
    candidate_side: str,
    scope: Mapping[str, Any],
    request_body: bytes,
    primary: CapturedResponse,
    candidate: CapturedResponse | None,
    comparison: Comparison | None,
    error: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Build the redacted record of one shadow result (a mismatch or a candidate error)."""
    headers = list(scope.get("headers", []))
    raw_query = scope.get("query_string", b"")
    query = raw_query.decode("latin-1") if isinstance(raw_query, bytes) else str(raw_query)
    if comparison is not None:
        clean = Comparison(
            equal=comparison.equal,
            differences=[_redact_difference(d) for d in comparison.differences],
            noise=[_redact_difference(d) for d in comparison.noise],
            truncated=comparison.truncated,
            omitted=comparison.omitted,
        )
        diff = redact_text(format_diff(clean))
        differences = [d.to_dict() for d in clean.differences]
        noise = [d.to_dict() for d in clean.noise]
    else:
        diff, differences, noise = redact_text(error or ""), [], []
    moment = at or utc_now()
    return {
        "id": None,
        "route": route,
        "at": format_utc(moment),
        "result": ERROR if error is not None else MISMATCH,
        "primary_side": primary_side,
        "candidate_side": candidate_side,
        "request": {
            "method": scope.get("method", ""),
            "path": quote(str(scope.get("path", "")), safe="/:@!$&'()*+,;=-._~"),
            "query": redact_query(query),
            "headers": redact_headers(headers),
            "body": redact_record_body(header_value(headers, "content-type"), request_body),
        },
        "primary": _response_view(primary),
        "candidate": _response_view(candidate),
        "error": redact_text(error) if error is not None else None,
        "diff": diff,
        "differences": differences,
        "noise": noise,
    }


class MismatchStore:
    """A bounded, redacted store of mismatch records, newest first.

    In memory by default (a ring buffer of ``limit`` records, per process); with ``path``, a
    SQLite file trimmed to ``limit`` rows, shared by every process that opens it. Thread-safe:
    the shadow runner writes from a worker thread.
    """

    def __init__(self, limit: int = 1000, path: str | Path | None = None) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._ring: deque[dict[str, Any]] = deque(maxlen=limit)
        self._ids = itertools.count(1)
        if self.path is not None:
            self._init_db()

    # SQLite ------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise MismatchStoreError(f"cannot open {self.path}: {exc}") from exc
        return conn

    def _init_db(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS strangler_mismatches ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT, route TEXT NOT NULL,"
                " at TEXT NOT NULL, result TEXT NOT NULL, record TEXT NOT NULL)"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS ix_strangler_mismatches_route"
                " ON strangler_mismatches (route, id)"
            )
        except sqlite3.Error as exc:
            raise MismatchStoreError(
                f"cannot create the mismatch table in {self.path}: {exc}"
            ) from exc
        finally:
            conn.close()

    # API -----------------------------------------------------------------------------------
    def add(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Store a record (from :func:`build_record`) and return it with its id.

        The record is passed through JSON redaction once more as a safety net, so a caller
        that builds records by hand cannot store a secret-named field.
        """
        stored = redact_json(json.loads(json.dumps(record, default=str)))
        if self.path is None:
            with self._lock:
                stored["id"] = next(self._ids)
                self._ring.appendleft(stored)
            return stored
        conn = self._connect()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                cursor = conn.execute(
                    "INSERT INTO strangler_mismatches (route, at, result, record)"
                    " VALUES (?, ?, ?, '')",
                    (stored.get("route", ""), stored.get("at", ""), stored.get("result", "")),
                )
                stored["id"] = cursor.lastrowid
                conn.execute(
                    "UPDATE strangler_mismatches SET record = ? WHERE id = ?",
                    (json.dumps(stored, ensure_ascii=False), stored["id"]),
                )
                conn.execute(
                    "DELETE FROM strangler_mismatches WHERE id <= ?",
                    (int(stored["id"]) - self.limit,),
                )
        except sqlite3.Error as exc:
            raise MismatchStoreError(f"cannot write {self.path}: {exc}") from exc
        finally:
            conn.close()
        return stored

    def list(
        self, route: str | None = None, limit: int = 50, offset: int = 0
    ) -> builtins.list[dict[str, Any]]:
        """Return records newest first, optionally for one route."""
        limit, offset = max(0, limit), max(0, offset)
        if self.path is None:
            with self._lock:
                records = [r for r in self._ring if route is None or r["route"] == route]
            return records[offset : offset + limit]
        sql = "SELECT record FROM strangler_mismatches"
        params: builtins.list[Any] = []
        if route is not None:
            sql += " WHERE route = ?"
            params.append(route)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [json.loads(row[0]) for row in self._query(sql, params)]

    def count(self, route: str | None = None) -> int:
        """Return how many records are kept (for one route, or all)."""
        if self.path is None:
            with self._lock:
                return sum(1 for r in self._ring if route is None or r["route"] == route)
        if route is None:
            rows = self._query("SELECT count(*) FROM strangler_mismatches", [])
        else:
            rows = self._query("SELECT count(*) FROM strangler_mismatches WHERE route = ?", [route])
        return int(rows[0][0])

    def get(self, record_id: int) -> dict[str, Any] | None:
        """Return one record by id, or None."""
        if self.path is None:
            with self._lock:
                return next((r for r in self._ring if r["id"] == record_id), None)
        rows = self._query("SELECT record FROM strangler_mismatches WHERE id = ?", [record_id])
        return json.loads(rows[0][0]) if rows else None

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._ring.clear()
        if self.path is not None:
            conn = self._connect()
            try:
                conn.execute("DELETE FROM strangler_mismatches")
            finally:
                conn.close()

    def _query(self, sql: str, params: Sequence[Any]) -> builtins.list[tuple[Any, ...]]:
        conn = self._connect()
        try:
            return conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise MismatchStoreError(f"cannot read {self.path}: {exc}") from exc
        finally:
            conn.close()
