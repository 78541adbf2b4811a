"""Tell a webhook about every rollout step, rollback and pause, without ever blocking on it.

``notify(event)`` puts a JSON document on a bounded queue and returns at once; one background
task posts the documents in order to ``STRANGLER_AUTOPILOT_WEBHOOK_URL``, retrying a failed post
(connection error, timeout or 5xx answer) with exponential backoff. When the queue is full the
new event is dropped, logged and counted: a dead receiver must not hold the autopilot up or grow
the worker's memory without bound. A 4xx answer is not retried (the receiver refused the body).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import httpx
import structlog

__all__ = ["WebhookNotifier"]

log = structlog.get_logger("proxy.rollout.notify")


class WebhookNotifier:
    """Post rollout events to one URL, from a bounded queue, with retries."""

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = 100,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 5.0,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._on_result = on_result
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._task is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
            self._task = asyncio.create_task(self._run(), name="rollout-webhook")

    async def stop(self, grace: float = 2.0) -> None:
        """Give queued events ``grace`` seconds to go out, then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def notify(self, event: dict[str, Any]) -> bool:
        """Queue ``event`` (adds ``sent_at``); return False when it was dropped."""
        body = {**event, "sent_at": round(time.time(), 3)}
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            log.warning("webhook_queue_full", url=self.url, kind=event.get("kind"))
            self._count("dropped")
            return False
        return True

    def _count(self, result: str) -> None:
        if self._on_result is not None:
            with contextlib.suppress(Exception):
                self._on_result(result)

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._deliver(event)
            finally:
                self._queue.task_done()

    async def _deliver(self, event: dict[str, Any]) -> None:
        assert self._client is not None
        delay = self.backoff
        for attempt in range(1, self.retries + 2):
            error: str
            try:
                response = await self._client.post(self.url, json=event)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    self._count("sent")
                    return
                if response.status_code < 500:
                    log.warning("webhook_refused", url=self.url, status=response.status_code)
                    self._count("failed")
                    return
                error = f"HTTP {response.status_code}"
            if attempt > self.retries:
                log.warning("webhook_failed", url=self.url, error=error, attempts=attempt)
                self._count("failed")
                return
            log.info("webhook_retry", url=self.url, error=error, attempt=attempt, delay=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)
