"""Run the candidate side on a copy of a request, in the background, and compare its answer.

The dispatcher has already sent the primary's answer to the client when it calls
:meth:`ShadowRunner.submit`; shadow work can therefore never delay or break a client. It is
also bounded: a sample rate picks which requests are shadowed, a counter admits at most
``max_concurrency`` shadow calls at once (checked without waiting: when full, the job is dropped
and counted, never queued), each call has a timeout, and any exception in the candidate is
caught and counted as an ``error``.

Unsafe methods (POST, PUT, PATCH, DELETE) are shadowed only when the route opts in to dry-run
*and* a dry-run key is configured: the candidate request then carries
``X-Resync-Dry-Run: <key>`` and the app rolls its transaction back, so nothing is written twice.

Results go to metrics (``strangler_shadow_total{route,result}`` with ``match``, ``mismatch``,
``error``, ``dropped``) and mismatches and errors to the mismatch store.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import structlog

from proxy.modes import SAFE_METHODS
from proxy.shadow.capture import DEFAULT_BODY_LIMIT, CapturedResponse, call_asgi
from proxy.shadow.comparator import Comparator
from proxy.shadow.differ import Comparison
from proxy.shadow.mismatches import MismatchStore, build_record
from proxy.shadow.names import DROPPED, DRY_RUN_HEADER, ERROR, MATCH, MISMATCH, SHADOW_RESULTS
from proxy.types import ASGIApp

if TYPE_CHECKING:
    from proxy.settings import ProxySettings

__all__ = [
    "DRY_RUN_HEADER",
    "SAFE_METHODS",
    "CapturedResponse",
    "ShadowJob",
    "ShadowRunner",
]

RESULTS = SHADOW_RESULTS  # the older name, kept for readers of this module

# Keys a router writes into the scope it handled; the candidate routes the request afresh.
_ROUTING_KEYS = (
    "app",
    "router",
    "endpoint",
    "route",
    "path_params",
    "fastapi_astack",
    "fastapi_inner_astack",
    "fastapi_function_astack",
)

logger = structlog.get_logger("proxy.shadow.runner")


@dataclass(frozen=True)
class ShadowJob:
    """One request to replay on the candidate side after the primary answered it.

    ``scope`` is the primary's HTTP scope (copied, never mutated), ``body`` the whole buffered
    request body. ``primary_app``, when given, lets the runner answer the request a second time
    from the primary side to learn noise (safe methods only).
    """

    route: str
    candidate_app: ASGIApp
    candidate_side: str
    scope: MutableMapping[str, Any]
    body: bytes
    primary: CapturedResponse
    dry_run: bool = False
    primary_app: ASGIApp | None = None

    @property
    def method(self) -> str:
        """Return the request method, upper-cased."""
        return str(self.scope.get("method", "GET")).upper()

    @property
    def primary_side(self) -> str:
        """Return the side that answered the client."""
        return "new" if self.candidate_side == "legacy" else "legacy"


def _metrics_sink(metrics: Any) -> Callable[[str, str], None]:
    """One call per shadow outcome: ``ProxyMetrics.record_shadow``, a callback, or nothing."""
    if metrics is None:
        return lambda route, result: None
    record = getattr(metrics, "record_shadow", None)
    if callable(record):
        return record
    if callable(metrics):
        return metrics
    raise TypeError(f"cannot record shadow results on {type(metrics).__name__}")


class ShadowRunner:
    """Shadow requests on the candidate side in the background, bounded and isolated."""

    def __init__(
        self,
        sample_rate: float = 1.0,
        max_concurrency: int = 8,
        comparator: Comparator | None = None,
        mismatch_store: MismatchStore | None = None,
        metrics: Any = None,
        dry_run_key: str | None = None,
        *,
        timeout: float = 10.0,
        body_limit: int = DEFAULT_BODY_LIMIT,
        learn_noise: bool = False,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be within 0..1")
        if max_concurrency < 0:
            raise ValueError("max_concurrency must be >= 0")
        self.sample_rate = sample_rate
        self.max_concurrency = max_concurrency
        self.comparator = comparator or Comparator()
        self.mismatch_store = mismatch_store if mismatch_store is not None else MismatchStore()
        self.dry_run_key = dry_run_key or None
        self.timeout = timeout
        self.body_limit = body_limit
        self.learn_noise = learn_noise
        self._rng = rng
        self._record = _metrics_sink(metrics)
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.counts: Counter[str] = Counter()

    @classmethod
    def from_settings(
        cls, settings: ProxySettings, metrics: Any = None, dry_run_key: str | None = None
    ) -> ShadowRunner:
        """The runner a proxy's settings describe (``STRANGLER_SHADOW_*``, the mismatch store)."""
        return cls(
            sample_rate=settings.shadow_sample_rate,
            max_concurrency=settings.shadow_max_concurrency,
            mismatch_store=MismatchStore(limit=settings.mismatch_limit, path=settings.mismatch_db),
            metrics=metrics,
            dry_run_key=dry_run_key,
            timeout=settings.shadow_timeout,
            body_limit=settings.shadow_body_limit,
            learn_noise=settings.shadow_learn_noise,
        )

    @property
    def inflight(self) -> int:
        """Return the number of shadow calls running now."""
        return self._inflight

    def admit(self, route: str, method: str, dry_run: bool) -> bool:
        r"""Decide whether a request will be shadowed, before anything of it is copied.

        Never waits. Not eligible (an unsafe method without dry-run): counted as ``skipped``
        here only. Not sampled: counted as ``sampled_out`` here only (configuration, not
        load). Saturated: counted as ``dropped`` in metrics too. True reserves one of the
        ``max_concurrency`` slots: the caller then either :meth:`submit`\ s the job with
        ``admitted=True`` or gives the slot back with :meth:`release`.
        """
        # Eligible: a safe method, or dry-run with a key set.
        if self._closed or not (method in SAFE_METHODS or (dry_run and self.dry_run_key)):
            self.counts["skipped"] += 1
            return False
        if self.sample_rate < 1.0 and self._rng() >= self.sample_rate:
            self.counts["sampled_out"] += 1
            return False
        if self._inflight >= self.max_concurrency:
            self._count(route, DROPPED)
            return False
        self._inflight += 1
        return True

    def release(self) -> None:
        """Give back a slot :meth:`admit` reserved for a job that will not be submitted."""
        self._inflight -= 1

    def submit(self, job: ShadowJob, *, admitted: bool = False) -> bool:
        """Start shadowing ``job`` in the background; return False when it will not run.

        Without ``admitted``, the job goes through :meth:`admit` first. With it, the job takes
        the slot its admission reserved (and gives it back if it cannot start). Must be called
        from the event loop that serves the request.
        """
        if not admitted and not self.admit(job.route, job.method, job.dry_run):
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._inflight -= 1
            self._count(job.route, ERROR)
            logger.warning("shadow_no_event_loop", route=job.route)
            return False
        task = loop.create_task(self._run(job), name=f"shadow {job.route}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return True

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._inflight -= 1

    def _count(self, route: str, result: str) -> None:
        self.counts[result] += 1
        try:
            self._record(route, result)
        except Exception:  # metrics must never break shadowing
            logger.exception("shadow_metrics_failed", route=route, result=result)

    def candidate_scope(self, job: ShadowJob) -> dict[str, Any]:
        """Build a fresh scope for the candidate from the primary's (which stays untouched)."""
        scope = {k: v for k, v in job.scope.items() if k not in _ROUTING_KEYS}
        headers = [
            (bytes(k), bytes(v))
            for k, v in job.scope.get("headers", [])
            if bytes(k).lower() not in (DRY_RUN_HEADER, b"content-length")
        ]
        if job.body or job.method not in SAFE_METHODS:
            headers.append((b"content-length", str(len(job.body)).encode("ascii")))
        if job.method not in SAFE_METHODS and job.dry_run and self.dry_run_key:
            headers.append((DRY_RUN_HEADER, self.dry_run_key.encode("latin-1")))
        scope["headers"] = headers
        if isinstance(job.scope.get("state"), dict):
            scope["state"] = dict(job.scope["state"])
        if "extensions" in job.scope:
            scope["extensions"] = dict(job.scope["extensions"] or {})
        return scope

    async def _run(self, job: ShadowJob) -> None:
        candidate: CapturedResponse | None = None
        try:
            async with asyncio.timeout(self.timeout):
                candidate = await call_asgi(
                    job.candidate_app, self.candidate_scope(job), job.body, limit=self.body_limit
                )
                secondary = None
                if self.learn_noise and job.primary_app is not None and job.method in SAFE_METHODS:
                    primary_scope = {k: v for k, v in job.scope.items() if k not in _ROUTING_KEYS}
                    secondary = await call_asgi(
                        job.primary_app, primary_scope, job.body, limit=self.body_limit
                    )
            # Off the event loop: a large JSON body takes real time to diff.
            comparison = await asyncio.to_thread(self._compare, job, candidate, secondary)
        except TimeoutError:
            await self._error(
                job, candidate, f"the candidate did not answer within {self.timeout} s"
            )
            return
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # even SystemExit must not reach the loop
            await self._error(job, candidate, f"{type(exc).__name__}: {exc}")
            return
        if comparison.equal:
            self._count(job.route, MATCH)
            return
        self._count(job.route, MISMATCH)
        logger.info(
            "shadow_mismatch",
            route=job.route,
            candidate=job.candidate_side,
            differences=len(comparison.differences),
        )
        await self._store(job, candidate, comparison, None)

    def _compare(
        self, job: ShadowJob, candidate: CapturedResponse, secondary: CapturedResponse | None
    ) -> Comparison:
        # The primary is the expectation: legacy answers are the contract until a route flips;
        # in shadow-new the new side answered the client and legacy is the safety net.
        primary = job.primary
        if job.method == "HEAD":
            # A server sends no body in answer to HEAD whatever the app wrote (Starlette writes
            # one, uvicorn drops it), so bodies are not part of what a client sees.
            primary = replace(primary, body=b"", truncated=False)
            candidate = replace(candidate, body=b"", truncated=False)
            secondary = replace(secondary, body=b"", truncated=False) if secondary else None
        return self.comparator.compare(job.route, primary, candidate, secondary=secondary)

    async def _error(self, job: ShadowJob, candidate: CapturedResponse | None, error: str) -> None:
        self._count(job.route, ERROR)
        logger.warning("shadow_error", route=job.route, candidate=job.candidate_side, error=error)
        await self._store(job, candidate, None, error)

    async def _store(
        self,
        job: ShadowJob,
        candidate: CapturedResponse | None,
        comparison: Comparison | None,
        error: str | None,
    ) -> None:
        try:
            record = build_record(
                route=job.route,
                primary_side=job.primary_side,
                candidate_side=job.candidate_side,
                scope=job.scope,
                request_body=job.body,
                primary=job.primary,
                candidate=candidate,
                comparison=comparison,
                error=error,
            )
            await asyncio.to_thread(self.mismatch_store.add, record)
        except Exception:
            logger.exception("shadow_store_failed", route=job.route)

    async def drain(self, grace: float | None = None) -> bool:
        """Wait for running shadow calls; return False if some still ran after ``grace`` s."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        return not pending

    async def aclose(self, grace: float = 5.0) -> None:
        """Stop taking jobs, give running ones ``grace`` seconds, then cancel the rest."""
        self._closed = True
        if await self.drain(grace):
            return
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
