"""Serve the admin API under ``/_strangler`` and the Prometheus text on ``/metrics``.

Every route but ``/_strangler/health`` (and the dashboard page, which signs in by itself) needs an
admin bearer token. Changes go to the flag store as one compare-and-set each, and the new table
is applied in this worker at once; other workers pick it up from the store's notifications.
Errors are problem documents, validation errors 400 (never 422) with the team's field codes.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from proxy.auth import Principal, require_admin
from proxy.errors import InvalidFlag, StoreError, StoreMissing, StoreUnavailable, VersionConflict
from proxy.flags.changes import (
    RejectedChange,
    RejectedImport,
    plan_bulk,
    plan_import,
    plan_kill_switch,
    plan_route,
    route_states,
)
from proxy.modes import FlagChange, FlagEvent, Mode
from proxy.problems import AdminProblem, json_bytes, problem_response
from proxy.telemetry.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from proxy.app import StranglerProxy

__all__ = ["create_admin_app"]

log = structlog.get_logger("proxy.admin.api")

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Admin = Annotated[Principal, Depends(require_admin)]


class RouteChange(BaseModel):
    """``POST /_strangler/routes``: set one route's mode."""

    route: str
    mode: Mode
    percent: int | None = Field(default=None, ge=0, le=100)
    dry_run: bool | None = None
    reason: Reason
    expected_version: int | None = Field(default=None, ge=0)


class BulkChange(BaseModel):
    """``POST /_strangler/routes/bulk``: set every route both sides serve."""

    mode: Mode
    percent: int | None = Field(default=None, ge=0, le=100)
    reason: Reason
    expected_version: int | None = Field(default=None, ge=0)


class ImportedRoute(BaseModel):
    """One route of an imported flag table."""

    route: str
    mode: Mode
    percent: int = Field(default=0, ge=0, le=100)
    dry_run: bool | None = None


class ImportChange(BaseModel):
    """``POST /_strangler/routes/import``: set many routes at once, all or nothing."""

    routes: list[ImportedRoute] = Field(max_length=10_000)
    reason: Reason
    expected_version: int | None = Field(default=None, ge=0)


class KillSwitch(BaseModel):
    """``POST /_strangler/kill-switch``: everything back to legacy."""

    reason: Reason


def _json(body: Any, status: int = 200) -> Response:
    return Response(json_bytes(body), status_code=status, media_type="application/json")


def _timestamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _event(event: FlagEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "version": event.version,
        "route": event.route,
        "from": event.from_mode,
        "to": event.to_mode,
        "percent": event.percent,
        "actor": event.actor,
        "reason": event.reason,
        "at": _timestamp(event.at),
    }


_CODES = {
    "missing": "missing",
    "string_type": "invalid_type",
    "int_type": "invalid_type",
    "int_parsing": "invalid_type",
    "int_from_float": "invalid_type",
    "bool_type": "invalid_type",
    "bool_parsing": "invalid_type",
    "model_attributes_type": "invalid_type",
    "dict_type": "invalid_type",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "greater_than_equal": "out_of_range",
    "less_than_equal": "out_of_range",
    "enum": "invalid_choice",
    "literal_error": "invalid_choice",
}


def _field_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    errors: list[dict[str, str]] = []
    detail = "The request has invalid fields."
    for error in exc.errors():
        kind = error.get("type", "")
        location = [str(part) for part in error.get("loc", ())]
        if kind == "json_invalid":
            return "The request body is not valid JSON.", [
                {"field": "body", "code": "invalid_format", "message": "Malformed JSON."}
            ]
        field = ".".join(location[1:]) or "body"
        if kind == "model_attributes_type" or field == "body":
            field, kind = "body", "model_attributes_type"
        message = str(error.get("msg", "Invalid value."))
        errors.append(
            {"field": field, "code": _CODES.get(kind, "invalid_format"), "message": message}
        )
    return detail, errors


def create_admin_app(proxy: StranglerProxy) -> FastAPI:
    """Return the FastAPI app of the admin API, bound to one proxy."""
    app = FastAPI(
        title="Resync strangler admin API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.proxy = proxy
    app.state.token_verifier = proxy.token_verifier

    def problem(request: Request, exc: AdminProblem) -> Response:
        return problem_response(
            exc.status,
            exc.detail,
            instance=request.url.path,
            request_id=request.headers.get("x-request-id"),
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra,
        )

    @app.exception_handler(AdminProblem)
    async def on_problem(request: Request, exc: AdminProblem) -> Response:
        return problem(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        detail, errors = _field_errors(exc)
        return problem(request, AdminProblem(400, detail, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return problem(request, AdminProblem(404, "The requested URL was not found."))
        if exc.status_code == 405:
            return problem(
                request,
                AdminProblem(
                    405,
                    f"Method {request.method} is not allowed for this URL.",
                    headers=dict(exc.headers or {}),
                ),
            )
        return problem(request, AdminProblem(exc.status_code, str(exc.detail)))

    async def apply(
        changes: list[FlagChange], actor: str, reason: str, expected: int | None
    ) -> int:
        """Write changes as one compare-and-set, apply the result here, return the version."""
        if not changes:
            if expected is not None and expected != proxy.flags.version:
                raise AdminProblem(409, _conflict(expected, proxy.flags.version))
            return proxy.flags.version
        refusal = proxy.watcher.refusal
        if refusal is not None:
            raise AdminProblem(
                503,
                f"The flag store's table is refused ({refusal['reason']}): this proxy keeps "
                "serving its last good table and changes nothing until the store it served "
                "comes back or an operator adopts the new one (resync-strangler flags adopt).",
                extra={"refusal": refusal},
            )
        try:
            table = await proxy.store.set_flags(
                changes, actor=actor, reason=reason, expected_version=expected
            )
        except VersionConflict as exc:
            raise AdminProblem(409, _conflict(exc.expected, exc.actual)) from exc
        except StoreMissing as exc:
            raise AdminProblem(
                503,
                "The flag store does not exist; nothing changed. Restore it, or create it with "
                "`resync-strangler flags init`.",
            ) from exc
        except StoreUnavailable as exc:
            raise AdminProblem(503, "The flag store is unreachable.") from exc
        except StoreError as exc:
            raise AdminProblem(500, "The flag store failed to apply the change.") from exc
        proxy.watcher.offer(table)
        log.info(
            "flags_changed",
            actor=actor,
            reason=reason,
            version=table.version,
            routes=[change.route for change in changes],
        )
        return table.version

    def rejected(exc: RejectedChange) -> AdminProblem:
        return AdminProblem(
            400,
            str(exc.reason),
            errors=[{"field": exc.field, "code": exc.code, "message": str(exc.reason)}],
        )

    @app.get("/_strangler/health")
    async def health() -> Response:
        up = proxy.watcher.healthy
        refusal = proxy.watcher.refusal
        body: dict[str, Any] = {
            "status": "ok" if up and refusal is None else "degraded",
            "store": "ok" if up else "unreachable",
            "version": proxy.table.version,
            "worker": os.getpid(),  # which worker answered: versions are per worker
        }
        if refusal is not None:  # the store answers, but with a table this proxy refuses
            body["store"] = "refusing" if up else "unreachable"
            body["refused"] = refusal
        return _json(body)

    @app.get("/_strangler/routes")
    async def list_routes(_: Admin) -> Response:
        flags = proxy.flags
        routes = [state.as_json() for state in route_states(proxy.inventory, flags)]
        return _json({"version": flags.version, "routes": routes})

    @app.post("/_strangler/routes")
    async def set_route(body: RouteChange, admin: Admin) -> Response:
        flags = proxy.flags
        try:
            change = plan_route(
                proxy.inventory,
                flags,
                body.route,
                body.mode,
                percent=body.percent,
                dry_run=body.dry_run,
            )
        except RejectedChange as exc:
            raise rejected(exc) from exc
        version = await apply([change], admin.subject, body.reason, body.expected_version)
        state = next(
            s for s in route_states(proxy.inventory, proxy.flags) if s.route.key == body.route
        )
        return _json({**state.as_json(), "version": version})

    @app.post("/_strangler/routes/bulk")
    async def set_all(body: BulkChange, admin: Admin) -> Response:
        try:
            changes = plan_bulk(proxy.inventory, proxy.flags, body.mode, percent=body.percent)
        except RejectedChange as exc:
            raise rejected(exc) from exc
        version = await apply(changes, admin.subject, body.reason, body.expected_version)
        return _json({"version": version, "changed": len(changes)})

    @app.post("/_strangler/routes/import")
    async def import_routes(body: ImportChange, admin: Admin) -> Response:
        """Apply a flag file's routes as one compare-and-set, or refuse them all (400)."""
        errors: list[dict[str, str]] = []
        changes: list[FlagChange] = []
        for index, item in enumerate(body.routes):
            try:
                changes.append(FlagChange(item.route, item.mode, item.percent, item.dry_run))
            except InvalidFlag as exc:  # a malformed route key
                field = f"routes.{index}.route"
                errors.append({"field": field, "code": "invalid_format", "message": str(exc)})
        if not errors:
            try:
                changes = plan_import(proxy.inventory, proxy.flags, changes)
            except RejectedImport as exc:
                errors = [
                    {
                        "field": f"routes.{index}.{rejection.field}",
                        "code": rejection.code,
                        "message": f"{rejection.route}: {rejection.reason}",
                    }
                    for index, rejection in exc.rejections
                ]
        if errors:
            raise AdminProblem(
                400, f"{len(errors)} route(s) refused, nothing imported.", errors=errors
            )
        version = await apply(changes, admin.subject, body.reason, body.expected_version)
        return _json({"version": version, "routes": len(proxy.flags)})

    @app.post("/_strangler/kill-switch")
    async def kill_switch(body: KillSwitch, admin: Admin) -> Response:
        changes = plan_kill_switch(proxy.inventory, proxy.flags)
        version = await apply(changes, admin.subject, body.reason, None)
        log.warning("kill_switch", actor=admin.subject, reason=body.reason, changed=len(changes))
        return _json({"version": version, "changed": len(changes)})

    @app.get("/_strangler/events")
    async def events(
        _: Admin,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        route: str | None = None,
    ) -> Response:
        route = route or None
        try:
            items = await proxy.store.events(limit=limit, offset=offset, route=route)
            total = await proxy.store.count_events(route=route)
        except StoreError as exc:
            raise AdminProblem(503, "The flag store is unreachable.") from exc
        return _json(
            {"items": [_event(e) for e in items], "total": total, "limit": limit, "offset": offset}
        )

    @app.get("/_strangler/stats")
    async def stats(_: Admin) -> Response:
        routes: dict[str, dict[str, Any]] = proxy.stats.snapshot()
        for route, counts in proxy.metrics.shadow_counts().items():
            routes.setdefault(route, {})["shadow"] = counts
        return _json({"window_seconds": proxy.stats.window, "routes": routes})

    @app.get("/_strangler/progress")
    async def progress(_: Admin) -> Response:
        states = route_states(proxy.inventory, proxy.flags)
        by_mode = {mode.value: 0 for mode in Mode}
        for state in states:
            by_mode[state.flag.mode.value] += 1
        covered = passing = 0
        for counts in proxy.metrics.shadow_counts().values():
            if counts["match"] or counts["mismatch"]:
                covered += 1
                passing += not counts["mismatch"] and not counts["error"]
        parity = {
            "covered": covered,
            "passing": passing if proxy.shadow_runner is not None else None,
        }
        return _json({"total": len(states), "by_mode": by_mode, "parity": parity})

    def mismatch_store() -> Any:
        return getattr(proxy.shadow_runner, "mismatch_store", None)

    @app.get("/_strangler/mismatches")
    async def mismatches(
        _: Admin,
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
        route: str | None = None,
    ) -> Response:
        store = mismatch_store()
        route = route or None
        if store is None:
            items: list[Any] = []
            total = 0
        else:
            items = await asyncio.to_thread(store.list, route, limit, offset)
            total = await asyncio.to_thread(store.count, route)
        return _json({"items": items, "total": total, "limit": limit, "offset": offset})

    @app.get("/_strangler/mismatches/{mismatch_id}")
    async def mismatch(mismatch_id: int, _: Admin) -> Response:
        store = mismatch_store()
        record = await asyncio.to_thread(store.get, mismatch_id) if store is not None else None
        if record is None:
            raise AdminProblem(404, f"Mismatch {mismatch_id} not found.")
        return _json(record)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(proxy.metrics.exposition(), media_type=CONTENT_TYPE)

    try:
        from proxy.admin.dashboard import mount_dashboard
    except ImportError:  # the dashboard is optional: the API works without it
        log.info("dashboard_not_installed")
    else:
        mount_dashboard(app)
    return app


def _conflict(expected: int, actual: int) -> str:
    return f"The flag table is at version {actual}, not the expected {expected}."
