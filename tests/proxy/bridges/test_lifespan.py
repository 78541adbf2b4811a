"""Lifespan: the proxy drives the new app's startup and shutdown and reports their failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from proxy.bridges.lifespan import AppLifespan, LifespanFailed
from proxy.types import Message, Receive, Scope, Send
from tests.proxy.harness import make_proxy, make_settings, serve
from tests.proxy.sample_apps import create_new_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_the_new_apps_shutdown_runs_when_the_server_stops(tmp_path: Path) -> None:
    new = create_new_app()
    proxy = make_proxy(make_settings(tmp_path), new=new)
    with serve(proxy) as url:
        assert httpx.get(f"{url}/lifespan").json()["events"] == ["startup"]
    assert new.state.events == ["startup", "shutdown"]


async def test_a_new_app_that_fails_to_start_fails_the_proxys_startup(tmp_path: Path) -> None:
    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("database is gone")
        yield

    proxy = make_proxy(make_settings(tmp_path), new=FastAPI(lifespan=broken))
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []
    await incoming.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        sent.append(message)

    await proxy({"type": "lifespan", "state": {}}, incoming.get, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "database is gone" in sent[0]["message"]


async def test_lifespan_state_reaches_the_servers_state_dict() -> None:
    state: dict[str, Any] = {}
    driver = AppLifespan(create_new_app(), name="new")
    await driver.startup(state)
    assert state == {"resource": "opened-by-lifespan"}
    await driver.shutdown()


async def test_an_app_without_lifespan_support_is_tolerated() -> None:
    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http", "no lifespan here"

    driver = AppLifespan(http_only, name="plain")
    await driver.startup({})
    assert not driver.supported
    await driver.shutdown()


async def test_a_failed_startup_message_raises() -> None:
    async def refuses(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no config"})

    with pytest.raises(LifespanFailed, match="no config"):
        await AppLifespan(refuses, name="refuses").startup({})


async def test_a_failed_shutdown_message_raises() -> None:
    async def flaky(scope: Scope, receive: Receive, send: Send) -> None:
        message: Message = await receive()
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        await send({"type": "lifespan.shutdown.failed", "message": "stuck"})

    driver = AppLifespan(flaky, name="flaky")
    await driver.startup({})
    with pytest.raises(LifespanFailed, match="stuck"):
        await driver.shutdown()
    await asyncio.sleep(0)


async def test_a_broken_flag_file_stops_the_proxy_from_starting(tmp_path: Path) -> None:
    (tmp_path / "flags.toml").write_text('[routes."GET /api/items"]\nmode = "sideways"\n')
    proxy = make_proxy(make_settings(tmp_path))
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    sent: list[Message] = []
    await incoming.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        sent.append(message)

    await proxy({"type": "lifespan", "state": {}}, incoming.get, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "sideways" in sent[0]["message"]
