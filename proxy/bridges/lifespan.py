"""Run an inner ASGI app's lifespan (startup and shutdown) from the proxy's own lifespan.

The server sends ``lifespan`` to the proxy only; the new app, called in-process, would otherwise
never open its database engine or HTTP clients. :class:`AppLifespan` speaks the protocol to the
inner app the way uvicorn would: the app's task runs for the life of the proxy, startup and
shutdown are messages on a queue, and the lifespan ``state`` dict is the server's own, so what
the inner app stores there reaches the request scopes the server builds. An app that does not
support lifespan (it raises before reading the startup message) is tolerated, as uvicorn's
``--lifespan auto`` does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from proxy.errors import LifespanFailed
from proxy.types import ASGIApp, Message

__all__ = ["AppLifespan", "LifespanFailed"]

log = structlog.get_logger("proxy.bridges.lifespan")


class AppLifespan:
    """Drive one inner app through ``lifespan.startup`` and ``lifespan.shutdown``."""

    def __init__(self, app: ASGIApp, *, name: str = "app", timeout: float = 60.0) -> None:
        self.app = app
        self.name = name
        self.timeout = timeout
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._asked = False
        self.supported = True

    async def startup(self, state: dict[str, Any] | None = None) -> None:
        """Start the inner app's lifespan and wait for ``lifespan.startup.complete``."""
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": state if state is not None else {},
        }
        self._task = asyncio.create_task(self._run(scope), name=f"lifespan {self.name}")
        await self._to_app.put({"type": "lifespan.startup"})
        reply = await self._reply()
        if reply is None:
            return
        if reply["type"] != "lifespan.startup.complete":
            raise LifespanFailed(f"{self.name} failed to start: {reply.get('message', '')}")

    async def shutdown(self) -> None:
        """Ask the inner app to shut down and wait for it."""
        if self._task is None:
            return
        if self.supported and not self._task.done():
            await self._to_app.put({"type": "lifespan.shutdown"})
            reply = await self._reply()
            if reply is not None and reply["type"] != "lifespan.shutdown.complete":
                raise LifespanFailed(f"{self.name} failed to stop: {reply.get('message', '')}")
        task, self._task = self._task, None
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self, scope: dict[str, Any]) -> None:
        try:
            await self.app(scope, self._receive, self._from_app.put)
        except BaseException as exc:
            if not self._asked:
                # Raised before reading a message: the app has no lifespan support.
                self.supported = False
                log.info("lifespan_unsupported", app=self.name, error=repr(exc))
            else:
                await self._from_app.put({"type": "lifespan.failed", "message": repr(exc)})
                if not isinstance(exc, Exception):
                    raise
        finally:
            # Wake a waiter if the app returned without answering.
            await self._from_app.put({"type": "lifespan.returned"})

    async def _receive(self) -> Message:
        self._asked = True
        return await self._to_app.get()

    async def _reply(self) -> Message | None:
        reply = await asyncio.wait_for(self._from_app.get(), self.timeout)
        if reply["type"] == "lifespan.returned":
            if not self.supported or not self._asked:
                self.supported = False
                return None
            raise LifespanFailed(f"{self.name} ended its lifespan without answering")
        return reply
