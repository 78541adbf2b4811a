"""Issue 13: a served proxy refuses a replaced or rewound SQLite flag store and keeps its table.

A real proxy under uvicorn on loopback watches a real SQLite file. The file is swapped under it
for a fresh store (another store id) and for an older copy of itself (a lower version); each
time the proxy keeps routing by its last good table, and says so in /_strangler/health and in
``strangler_flag_store_rejected_total{reason}``. Putting the original file back resumes it, and
``resync-strangler flags adopt --replaces ID`` is the one way to make it take another store.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import structlog

from proxy.cli.commands import main
from proxy.flags.stores.base import StoreIdentity
from proxy.flags.stores.sqlite import SQLiteFlagStore
from proxy.modes import FlagChange, Mode
from tests.proxy.harness import make_proxy, make_settings, serve, set_mode
from tests.proxy.sample_apps import ADMIN

T = TypeVar("T")
ITEMS = "GET /api/items"


def _eventually(fetch: Callable[[], T], ready: Callable[[T], bool], timeout: float = 15.0) -> T:
    """Poll until ``ready``; the timeout is only a safety net (the value is asserted after)."""
    deadline = time.monotonic() + timeout
    value = fetch()
    while not ready(value) and time.monotonic() < deadline:
        time.sleep(0.02)
        value = fetch()
    return value


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite store (the backup API, as an operator's backup)."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


def _put_in_place(copy: Path, path: Path) -> None:
    """Swap ``copy`` in at ``path`` the way a restore does: drop the old WAL, rename over."""
    staged = path.with_name(path.name + ".staged")
    _copy(copy, staged)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(str(path) + suffix)
    os.replace(staged, path)


def _rejected(http: httpx.Client) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in http.get("/metrics").text.splitlines():
        if line.startswith("strangler_flag_store_rejected_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] = float(line.rsplit(" ", 1)[1])
        if line.startswith("strangler_flag_store_refusing "):
            counts["refusing"] = float(line.rsplit(" ", 1)[1])
    return counts


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("STRANGLER_URL", "STRANGLER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STRANGLER_FLAG_STORE_URL", f"sqlite:///{tmp_path / 'flags.db'}")
    saved = structlog.get_config()
    yield tmp_path
    structlog.configure(**saved)


def test_a_served_proxy_refuses_a_replaced_or_rewound_store_and_resumes_on_the_original(
    env: Path,
) -> None:
    settings = make_settings(env)
    path = env / "flags.db"
    proxy = make_proxy(settings)
    with serve(proxy) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        health = _eventually(lambda: http.get("/_strangler/health").json(), lambda h: h["version"])
        assert health == {"status": "ok", "store": "ok", "version": 1} | {
            key: health[key] for key in health if key not in ("status", "store", "version")
        }
        assert "refused" not in health
        _copy(path, env / "at-v1.db")  # an older copy of this very store
        assert set_mode(http, ITEMS, "new")["version"] == 2
        _copy(path, env / "original.db")
        original_id = asyncio.run(_identity(path)).store_id
        assert _rejected(http) == {"version_rewound": 0, "store_replaced": 0, "refusing": 0}

        # 1. A fresh store where the file was (what the CLI used to make): refused.
        fresh = env / "fresh.db"
        asyncio.run(_fresh_store(fresh))
        _put_in_place(fresh, path)
        health = _eventually(
            lambda: http.get("/_strangler/health").json(), lambda h: "refused" in h
        )
        assert health["status"] == "degraded" and health["store"] == "refusing"
        assert health["worker"] == os.getpid()  # the worker that refuses says who it is
        assert health["version"] == 2
        refused = health["refused"]
        assert refused["reason"] == "store_replaced"
        assert refused["serving_store_id"] == original_id and refused["serving_version"] == 2
        assert refused["store_id"] not in (None, original_id) and refused["version"] == 1
        assert http.get("/api/items").headers["x-served-by"] == "new"
        assert _rejected(http) == {"version_rewound": 0, "store_replaced": 1, "refusing": 1}
        change = http.post(
            "/_strangler/routes",
            json={"route": ITEMS, "mode": "legacy", "reason": "r"},
            headers=ADMIN,
        )
        assert change.status_code == 503, change.text
        assert change.headers["content-type"] == "application/problem+json"
        assert "flags adopt" in change.json()["detail"]
        assert asyncio.run(_identity(path)).version == 1  # nothing changed

        # 2. The original file back: resumed, nothing counted again.
        _put_in_place(env / "original.db", path)
        health = _eventually(
            lambda: http.get("/_strangler/health").json(), lambda h: "refused" not in h
        )
        assert (health["status"], health["store"], health["version"]) == ("ok", "ok", 2)
        assert _rejected(http) == {"version_rewound": 0, "store_replaced": 1, "refusing": 0}

        # 3. An older copy of the same store (version 2 -> 1): refused as rewound.
        _put_in_place(env / "at-v1.db", path)
        health = _eventually(
            lambda: http.get("/_strangler/health").json(), lambda h: "refused" in h
        )
        assert health["refused"]["reason"] == "version_rewound"
        assert health["refused"]["store_id"] == original_id
        assert (health["refused"]["version"], health["version"]) == (1, 2)
        assert http.get("/api/items").headers["x-served-by"] == "new"
        assert _rejected(http) == {"version_rewound": 1, "store_replaced": 1, "refusing": 1}

        _put_in_place(env / "original.db", path)
        health = _eventually(
            lambda: http.get("/_strangler/health").json(), lambda h: "refused" not in h
        )
        assert (health["status"], health["version"]) == ("ok", 2)

        # 4. Adopting a replacement on purpose: the explicit command, then the proxy takes it.
        _put_in_place(fresh, path)
        health = _eventually(
            lambda: http.get("/_strangler/health").json(), lambda h: "refused" in h
        )
        assert _rejected(http)["store_replaced"] == 2
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert (
                main(["flags", "adopt", "--replaces", health["refused"]["serving_store_id"]]) == 0
            )
        adopted = asyncio.run(_identity(path))
        assert adopted.replaces == original_id and adopted.store_id in out.getvalue()
        health = _eventually(
            lambda: http.get("/_strangler/health").json(), lambda h: "refused" not in h
        )
        assert (health["status"], health["version"]) == ("ok", 1)
        assert http.get("/api/items").headers["x-served-by"] == "legacy"
        assert _rejected(http) == {"version_rewound": 1, "store_replaced": 2, "refusing": 0}


async def _fresh_store(path: Path) -> None:
    store = SQLiteFlagStore(path)
    assert await store.create()
    await store.set_flags([FlagChange(ITEMS, Mode.LEGACY)], actor="ops", reason="fresh")


async def _identity(path: Path) -> StoreIdentity:
    store = SQLiteFlagStore(path)
    await store.open()
    try:
        return await store.identity()
    finally:
        await store.close()
