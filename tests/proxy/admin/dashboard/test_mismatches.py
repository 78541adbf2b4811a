"""Show real shadow mismatches: the proxy's shadow runner over two apps that disagree on purpose.

The Resync apps are built to agree, so a mismatch cannot be produced on demand through them. Here
the real proxy (dispatcher, shadow runner, comparator, mismatch store, admin API, dashboard)
serves a Flask app and a FastAPI app whose answers differ in one field and one header.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from flask import Flask, jsonify
from playwright.sync_api import expect

from proxy.app import create_proxy
from proxy.auth import InvalidToken, Principal
from proxy.flags.stores import open_store
from proxy.settings import ProxySettings
from proxy.shadow.mismatches import MismatchStore
from proxy.shadow.runner import ShadowRunner
from proxy.telemetry.metrics import ProxyMetrics
from tests.proxy.admin.dashboard.conftest import screenshot
from tests.services import free_port

pytestmark = pytest.mark.browser

ROUTE = "GET /api/items"
ADMIN_TOKEN = "dashboard-admin-token"
FLAGS = '[routes."GET /api/items"]\nmode = "shadow"\n'


def verify(token: str) -> Principal:
    if token != ADMIN_TOKEN:
        raise InvalidToken("unknown token")
    return Principal("alice", "admin")


def legacy_app() -> Flask:
    app = Flask("dashboard_legacy")

    @app.get("/api/items")
    def items() -> Any:
        return jsonify(items=[{"id": 1, "state": "SUCC"}, {"id": 2, "state": "ABEND"}])

    return app


def new_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/items")
    async def items() -> dict[str, Any]:
        return {"items": [{"id": 1, "state": "SUCC"}, {"id": 2, "state": "<b>HOLD</b>"}]}

    return app


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on loopback in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def shadow_proxy(tmp_path: Path) -> Iterator[str]:
    flag_file = tmp_path / "flags.toml"
    flag_file.write_text(FLAGS)
    settings = ProxySettings(
        flag_store_url=f"sqlite:///{tmp_path / 'flags.db'}",
        flag_file=flag_file,
        poll_interval=0.05,
        legacy_threads=2,
        access_log=False,
    )
    metrics = ProxyMetrics()
    runner = ShadowRunner(mismatch_store=MismatchStore(limit=10), metrics=metrics)
    proxy = create_proxy(
        legacy_app(),
        new_app(),
        open_store(settings.flag_store_url, poll_interval=settings.poll_interval),
        settings,
        token_verifier=verify,
        shadow_runner=runner,
        metrics=metrics,
    )
    with serve(proxy) as base_url:
        yield base_url


def test_mismatches_show_their_readable_diff_as_text(page: Any, shadow_proxy: str) -> None:
    for _ in range(3):
        answer = httpx.get(f"{shadow_proxy}/api/items", timeout=10)
        assert answer.headers["X-Served-By"] == "legacy"
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kept = httpx.get(f"{shadow_proxy}/_strangler/mismatches", headers=admin, timeout=10)
        if kept.json()["total"] >= 3:
            break
        time.sleep(0.05)
    assert kept.json()["total"] >= 3
    record = kept.json()["items"][0]

    # This proxy has no login endpoint: put an admin token where the sign-in form would.
    page.add_init_script(f"sessionStorage.setItem('strangler.token', '{ADMIN_TOKEN}')")
    page.goto(f"{shadow_proxy}/_strangler/")
    expect(page.locator("#app-view")).to_be_visible()
    items = page.locator("#mismatches li")
    expect(items).to_have_count(min(kept.json()["total"], 10))
    newest = items.first
    expect(newest.locator("summary")).to_contain_text(ROUTE)
    expect(newest.locator("summary")).to_contain_text("legacy 200, new 200")
    newest.locator("summary").click()
    diff = newest.locator("pre")
    expect(diff).to_be_visible()
    expect(diff).to_have_text(record["diff"])
    assert "<b>HOLD</b>" in record["diff"]  # server text with markup in it ...
    expect(newest.locator("b")).to_have_count(0)  # ... stays text
    row = page.locator(f'#routes-body tr[data-route="{ROUTE}"]')
    expect(row.locator(".col-mode")).to_have_text("shadow")
    expect(row.locator(".col-mismatch")).to_have_text(str(kept.json()["total"]))
    progress = httpx.get(f"{shadow_proxy}/_strangler/progress", headers=admin, timeout=10).json()
    expect(page.locator("#parity-covered-text")).to_have_text(f"1 of {progress['total']}")
    expect(page.locator("#parity-passing-text")).to_have_text("0 of 1")
    screenshot(page, "mismatch-diff")
    # Opened details survive the next refreshes (rows are kept, not rebuilt).
    page.wait_for_timeout(2500)
    expect(newest.locator("details")).to_have_attribute("open", "")
