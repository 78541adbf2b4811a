"""Build the strangler proxy: one ASGI app in front of a legacy WSGI app and a new ASGI app.

```
create_proxy(legacy_wsgi_app, new_asgi_app, store, settings, token_verifier=...)
    └── StranglerProxy (pure ASGI)
         ├── RequestLimits: 431 for oversized headers, 408 for slow bodies (proxy.routing.limits)
         ├── /_strangler[/...], /metrics ──► admin FastAPI app (admin API, dashboard, metrics)
         ├── lifespan ──► flag store + watcher, the new app's lifespan, shutdown of all
         └── everything else ──► Dispatcher ─► Bulkheads ─► LegacyWSGIApp (a2wsgi pool) │ new app
```

The front is a plain ASGI callable rather than a FastAPI app so that proxied requests pay for two
string checks, not for a framework's middleware stack and router. Nothing here knows the Resync
apps: :mod:`proxy.resync` composes them.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
from pathlib import Path
from typing import Any

import structlog

from proxy.admin.app import create_admin_app
from proxy.admin.context import AdminContext
from proxy.admin.dashboard.config import SignIn
from proxy.auth import TokenVerifier
from proxy.bridges.lifespan import AppLifespan
from proxy.bridges.wsgi import LegacyWSGIApp
from proxy.errors import StoreError, StoreMissing, StoreUnavailable
from proxy.flags.flagfile import ensure_initialised, load_flag_file
from proxy.flags.stores.base import FlagStore
from proxy.flags.watcher import FlagWatcher
from proxy.inventory import Inventory, inventory_from_fastapi, inventory_from_flask, merge
from proxy.modes import FlagTable
from proxy.rollout.measure import MeasuredStats
from proxy.routing.bulkhead import Bulkheads
from proxy.routing.dispatch import Dispatcher
from proxy.routing.limits import REJECT_KINDS, RequestLimits
from proxy.routing.requestid import REQUEST_ID_HEADER, ensure_request_id
from proxy.routing.table import RouteTable
from proxy.settings import ProxySettings
from proxy.shadow.runner import ShadowRunner
from proxy.telemetry.accesslog import AccessLog, buffer_stdout, flush_stdout
from proxy.telemetry.metrics import ProxyMetrics
from proxy.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ADMIN_PREFIX", "StranglerProxy", "build_inventory", "create_proxy", "freeze_heap"]

ADMIN_PREFIX = "/_strangler"
METRICS_PATH = "/metrics"
_ADMIN_SUBTREE = ADMIN_PREFIX + "/"

log = structlog.get_logger("proxy")


def build_inventory(legacy_wsgi_app: Any, new_asgi_app: Any) -> Inventory:
    """Merge the routes of a Flask app (if it is one) and a FastAPI/Starlette app."""
    legacy = inventory_from_flask(legacy_wsgi_app) if hasattr(legacy_wsgi_app, "url_map") else []
    new = inventory_from_fastapi(new_asgi_app) if hasattr(new_asgi_app, "routes") else []
    return merge(legacy, new)


class StranglerProxy:
    """The proxy's ASGI entry point and the state its admin API reads.

    Attributes a caller may use: ``inventory``, ``store``, ``watcher``, ``metrics``, ``stats``,
    ``dispatcher`` (its ``table`` is the routing state in force), ``admin`` (the FastAPI app of
    the admin API, to mount more routes on), ``settings`` and ``shadow_runner``.
    """

    def __init__(
        self,
        legacy_wsgi_app: Any,
        new_asgi_app: ASGIApp,
        store: FlagStore,
        settings: ProxySettings,
        *,
        token_verifier: TokenVerifier,
        shadow_runner: Any = None,
        metrics: ProxyMetrics | None = None,
        traffic_recorder: Any = None,
        sign_in: SignIn | None = None,
    ) -> None:
        self.settings = settings
        self.sign_in = sign_in
        self.traffic_recorder = traffic_recorder
        self.store = store
        self.token_verifier = token_verifier
        self.inventory = build_inventory(legacy_wsgi_app, new_asgi_app)
        self.metrics = metrics if metrics is not None else ProxyMetrics()
        if shadow_runner is None:
            # Every proxy can shadow: a table may name the shadow modes at any time.
            shadow_runner = ShadowRunner.from_settings(settings, self.metrics)
        self.shadow_runner = shadow_runner
        self.legacy = LegacyWSGIApp(
            legacy_wsgi_app,
            threads=settings.legacy_threads,
            send_queue_size=settings.legacy_send_queue,
            nice=settings.legacy_nice,
            on_disconnect=self.metrics.legacy_disconnects_total.inc,
        )
        self.new = new_asgi_app
        # Rolling stats for /_strangler/stats, plus the cumulative figures the autopilot shares.
        self.stats = MeasuredStats(settings.stats_window)
        self.access_log = AccessLog(enabled=settings.access_log)
        self._flusher: asyncio.Task[None] | None = None
        # Per-route concurrency limits; a per-route limit on an unknown route fails here.
        self.bulkheads = Bulkheads.from_settings(
            settings,
            known_routes=list(self.inventory),
            registry=self.metrics.registry,
        )
        self.dispatcher = Dispatcher(
            self.legacy,
            new_asgi_app,
            self.compile(FlagTable(version=0)),
            metrics=self.metrics,
            stats=self.stats,
            access_log=self.access_log,
            shadow_runner=shadow_runner,
            shadow_body_limit=settings.shadow_body_limit,
            capture=traffic_recorder,
            bulkheads=self.bulkheads,
        )
        self.watcher = FlagWatcher(
            store,
            self.apply_table,
            on_health=lambda up: self.metrics.flag_store_up.set(1 if up else 0),
            on_version=self.metrics.flag_version.set,
            bootstrap=self._bootstrap,
            on_refused=self.metrics.record_store_rejected,
            on_refusing=lambda refusing: self.metrics.flag_store_refusing.set(1 if refusing else 0),
        )
        self._new_lifespan = AppLifespan(new_asgi_app, name="new")
        for reason in REJECT_KINDS:  # exported at 0 from the start
            self.metrics.refused_total.labels(reason)
        self._limited = RequestLimits(
            self._route,
            max_header_bytes=settings.max_header_bytes,
            body_idle_timeout=settings.body_idle_timeout,
            body_total_timeout=settings.body_total_timeout,
            on_reject=self.metrics.record_refused,
        )
        self.admin = create_admin_app(self._admin_context())
        self._http: ASGIApp = self._side_override() or self.dispatcher.http
        from proxy.rollout.wiring import attach_rollout

        self.rollout = attach_rollout(
            settings, store, self.inventory, self.watcher, self.metrics, self.stats, self.admin
        )

    def _admin_context(self) -> AdminContext:
        """What the admin API works on: this worker's store, watcher, inventory and figures."""
        runner = self.shadow_runner
        return AdminContext(
            inventory=self.inventory,
            store=self.store,
            watcher=self.watcher,
            metrics=self.metrics,
            stats=self.stats,
            token_verifier=self.token_verifier,
            table_version=lambda: self.table.version,
            mismatch_store=getattr(runner, "mismatch_store", None),
            shadow_enabled=runner is not None,
            sign_in=self.sign_in,
        )

    def _side_override(self) -> ASGIApp | None:
        """The tester override in front of the dispatcher, when configured (routing.override)."""
        settings = self.settings
        roles = settings.override_role_set
        if not roles or not (settings.override_header or settings.override_cookie):
            return None
        from proxy.routing.override import SideOverride

        def route_of(method: str, path: str) -> tuple[str, frozenset[str]] | None:
            entry = self.dispatcher.table.match(method, path)
            route = entry.route
            return (route.key, route.sides) if route is not None else None

        def counted(route: str, side: str) -> None:
            self.rollout.metrics.overrides_total.labels(route, side).inc()

        return SideOverride(
            self.dispatcher.http,
            verifier=self.token_verifier,
            roles=roles,
            header=settings.override_header,
            cookie=settings.override_cookie,
            route_of=route_of,
            on_override=counted,
        )

    # Routing state ------------------------------------------------------------------------------
    def compile(self, flags: FlagTable) -> RouteTable:
        """Compile the route table for ``flags`` (no side effect)."""
        return RouteTable(self.inventory, flags, served_by_headers=self.settings.served_by_headers)

    def apply_table(self, flags: FlagTable) -> None:
        """Swap in the route table for ``flags``: one assignment, read once per request."""
        self.dispatcher.table = self.compile(flags)

    @property
    def flags(self) -> FlagTable:
        """The flag table in force in this worker (an empty one before the first load)."""
        return self.watcher.table or FlagTable(version=0)

    @property
    def table(self) -> RouteTable:
        """The compiled route table in force."""
        return self.dispatcher.table

    # ASGI ---------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        await self._limited(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send a request within the limits to the admin app or the dispatcher."""
        kind = scope["type"]
        path: str = scope["path"]
        # "/_strangler" and "/_strangler/..." only: "/_stranglerX" is an ordinary path.
        if path.startswith(_ADMIN_SUBTREE) or path in (ADMIN_PREFIX, METRICS_PATH):
            await self._admin(scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        else:
            await self.dispatcher(scope, receive, send)

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.admin(scope, receive, send)
            return
        request_id = ensure_request_id(scope)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id)]
            await send(message)

        await self.admin(scope, receive, send_with_id)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        try:
            await self.startup(scope.get("state"))
        except Exception as exc:
            log.exception("proxy_startup_failed")
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        try:
            await self.shutdown()
        except Exception as exc:
            log.exception("proxy_shutdown_failed")
            await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    # Lifespan -----------------------------------------------------------------------------------
    async def startup(self, state: dict[str, Any] | None = None) -> None:
        """Check the flag file, open the store, watch it (importing the file), start the new app.

        A broken flag file fails startup; a store that cannot be reached does not (fail static:
        every route serves from the side that has it until the watcher reaches the store, and the
        watcher's bootstrap then imports the flag file into it if it is still empty).
        """
        try:
            await self._check_flag_file()
            await self._open_store()
            await self.watcher.start()
            await self._new_lifespan.startup(state)
            await self.rollout.start()
        except BaseException:
            await self.rollout.stop()
            await self.watcher.stop()
            await self.store.close()
            raise
        buffered = buffer_stdout() if self.settings.buffer_stdout else False
        self._flusher = asyncio.create_task(self._flush_logs(), name="access-log-flush")
        frozen = freeze_heap() if self.settings.gc_freeze else 0
        log.info(
            "proxy_started",
            routes=len(self.inventory),
            version=self.table.version,
            legacy_threads=self.settings.legacy_threads,
            legacy_route_limit=self.settings.legacy_route_limit if self.bulkheads else None,
            gc_frozen_objects=frozen,
            stdout_buffered=buffered,
        )

    async def _check_flag_file(self) -> None:
        """Raise :class:`~proxy.errors.FlagFileError` if the flag file is broken: do not start."""
        flag_file = Path(self.settings.flag_file)
        if await asyncio.to_thread(flag_file.is_file):
            await asyncio.to_thread(load_flag_file, flag_file)

    async def _open_store(self) -> None:
        """Open the store; if it cannot be reached, log it and let the watcher keep trying."""
        try:
            await self.store.open()
        except StoreMissing as exc:  # the watcher's bootstrap creates it if there is a flag file
            log.warning("flag_store_missing_at_start", error=str(exc))
        except StoreError as exc:
            log.warning("flag_store_unreachable_at_start", error=repr(exc))

    async def _bootstrap(self, store: FlagStore) -> None:
        """Create a missing store and import the flag file into an empty one, at first start.

        The watcher runs this until the store has answered once (so a store that was down when
        the worker started is still initialised) and never again: a store that vanishes from
        under a running proxy is an outage, never replaced by an empty one. Without a flag file
        a missing store stays missing (``resync-strangler flags init`` creates it).
        """
        flag_file = Path(self.settings.flag_file)
        if not await asyncio.to_thread(flag_file.is_file):
            return
        try:
            await store.identity()
        except StoreUnavailable:  # missing, or (SQLite) its directory is not there yet
            # create() makes a store only where none is (atomically, on every backend), so
            # trying it on any failure at first start is safe; an outage fails it again.
            if await store.create():
                log.warning(
                    "flag_store_created",
                    store=repr(store),
                    store_id=(await store.identity()).store_id,
                    flag_file=str(flag_file),
                )
        await ensure_initialised(store, flag_file, actor="proxy", inventory=self.inventory)

    async def _flush_logs(self, interval: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval)
            self.access_log.flush()
            flush_stdout()

    async def shutdown(self) -> None:
        """Stop watching, finish shadow work, stop the new app, close the store and the pool."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        self.access_log.flush()
        flush_stdout()
        await self.rollout.stop()
        await self.watcher.stop()
        runner = self.shadow_runner
        if runner is not None and hasattr(runner, "aclose"):
            await runner.aclose()
        if self.traffic_recorder is not None:
            await asyncio.to_thread(self.traffic_recorder.close)
        try:
            await self._new_lifespan.shutdown()
        finally:
            closing = self.store.close()
            if inspect.isawaitable(closing):
                await closing
            await asyncio.to_thread(self.legacy.close)


def freeze_heap() -> int:
    """Collect, then freeze every object alive now; return how many objects are frozen.

    Both apps, their routers, schemas, ORM mappers and every imported module live as long as
    the process. Left in the collector's oldest generation, each full collection walks all of
    them (hundreds of thousands of objects, tens of milliseconds a time, several times a second
    under load). Frozen, they are never scanned; objects that requests create are collected as
    before, and a frozen object whose last reference goes is still freed by reference counting.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def create_proxy(
    legacy_wsgi_app: Any,
    new_asgi_app: ASGIApp,
    store: FlagStore,
    settings: ProxySettings | None = None,
    *,
    token_verifier: TokenVerifier,
    shadow_runner: Any = None,
    metrics: ProxyMetrics | None = None,
    traffic_recorder: Any = None,
    sign_in: SignIn | None = None,
) -> StranglerProxy:
    """Return the strangler proxy ASGI app for two apps and a (not yet opened) flag store.

    ``metrics`` lets the caller share the proxy's metrics with a shadow runner built first;
    ``traffic_recorder`` (:class:`proxy.traffic.TrafficRecorder`) turns traffic capture on;
    ``sign_in`` tells the dashboard where the apps sign users in (the proxy cannot know).
    """
    return StranglerProxy(
        legacy_wsgi_app,
        new_asgi_app,
        store,
        settings or ProxySettings(),
        token_verifier=token_verifier,
        shadow_runner=shadow_runner,
        metrics=metrics,
        traffic_recorder=traffic_recorder,
        sign_in=sign_in,
    )
