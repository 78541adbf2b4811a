"""Build a proxy over the sample apps with a real SQLite flag store in a temporary folder."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from proxy.app import StranglerProxy, create_proxy
from proxy.flags.stores import open_store
from proxy.modes import FlagChange, Mode
from proxy.settings import ProxySettings
from tests.proxy.sample_apps import ADMIN, create_legacy_app, create_new_app, verify_token
from tests.services import free_port

FLAG_FILE = """\
[routes."GET /api/items"]
mode = "legacy"

[routes."GET /api/items/{item_id}"]
mode = "legacy"
"""


def make_settings(tmp_path: Path, **overrides: Any) -> ProxySettings:
    """Settings for a test proxy: a store and a flag file in ``tmp_path``, fast polling."""
    flag_file = tmp_path / "flags.toml"
    if not flag_file.exists():
        flag_file.write_text(FLAG_FILE)
    values: dict[str, Any] = {
        "flag_store_url": f"sqlite:///{tmp_path / 'flags.db'}",
        "flag_file": flag_file,
        "poll_interval": 0.05,
        "legacy_threads": 4,
        "access_log": False,
        "mismatch_db": tmp_path / "mismatches.db",
    }
    values.update(overrides)
    return ProxySettings(**values)


def make_proxy(
    settings: ProxySettings, *, legacy: Any = None, new: Any = None, **kwargs: Any
) -> StranglerProxy:
    """A proxy over the given apps (fresh sample apps by default)."""
    store = open_store(settings.flag_store_url, poll_interval=settings.poll_interval)
    return create_proxy(
        legacy if legacy is not None else create_legacy_app(),
        new if new is not None else create_new_app(),
        store,
        settings,
        token_verifier=verify_token,
        **kwargs,
    )


@contextlib.contextmanager
def serve(app: Any, **config: Any) -> Iterator[str]:
    """Run ``app`` under a real uvicorn on loopback in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **config
        )
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def set_mode(client: httpx.Client, route: str, mode: str, **extra: Any) -> dict[str, Any]:
    """Flip a route through the admin API and return the answer."""
    response = client.post(
        "/_strangler/routes",
        json={"route": route, "mode": mode, "reason": "test", **extra},
        headers=ADMIN,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def set_flags_directly(proxy: StranglerProxy, *changes: FlagChange) -> None:
    """Write flags to the proxy's store from outside (as another worker or the CLI would)."""

    async def write() -> None:
        await proxy.store.set_flags(list(changes), actor="test", reason="test")

    asyncio.run(write())


@pytest.fixture
def proxy_settings(tmp_path: Path) -> ProxySettings:
    return make_settings(tmp_path)


@pytest.fixture
def proxy_app(proxy_settings: ProxySettings) -> StranglerProxy:
    return make_proxy(proxy_settings)


@pytest.fixture
def client(proxy_app: StranglerProxy) -> Iterator[httpx.Client]:
    """An HTTP client for a proxy served by a real uvicorn on loopback."""
    with serve(proxy_app) as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


__all__ = [
    "ADMIN",
    "FlagChange",
    "Mode",
    "client",
    "make_proxy",
    "make_settings",
    "proxy_app",
    "proxy_settings",
    "serve",
    "set_flags_directly",
    "set_mode",
]
