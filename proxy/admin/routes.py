"""``/_strangler/routes`` and the flag changes: list, set one, set all, import, kill switch.

Each change is one compare-and-set through the shared :class:`~proxy.flags.service.FlagService`,
applied in this worker at once; other workers pick it up from the store's notifications.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.responses import Response

from proxy.admin.common import Admin, Reason, change_problems, json_response, store_problem
from proxy.admin.context import AdminContext
from proxy.errors import InvalidFlag, StoreError
from proxy.flags.changes import RejectedImport
from proxy.modes import FlagChange, Mode
from proxy.problems import AdminProblem

__all__ = ["create_routes_router"]

log = structlog.get_logger("proxy.admin.api")


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


def _import_errors(routes: list[ImportedRoute]) -> tuple[list[FlagChange], list[dict[str, str]]]:
    errors: list[dict[str, str]] = []
    changes: list[FlagChange] = []
    for index, item in enumerate(routes):
        try:
            changes.append(FlagChange(item.route, item.mode, item.percent, item.dry_run))
        except InvalidFlag as exc:  # a malformed route key
            field = f"routes.{index}.route"
            errors.append({"field": field, "code": "invalid_format", "message": str(exc)})
    return changes, errors


def create_routes_router(context: AdminContext) -> APIRouter:
    """The flag table's routes for one worker's admin context."""
    router = APIRouter()
    service = context.flag_service

    @router.get("/_strangler/routes")
    async def list_routes(_: Admin) -> Response:
        return json_response(await service.routes())

    @router.post("/_strangler/routes")
    async def set_route(body: RouteChange, admin: Admin) -> Response:
        with change_problems():
            answer = await service.set_route(
                body.route,
                body.mode,
                percent=body.percent,
                dry_run=body.dry_run,
                actor=admin.subject,
                reason=body.reason,
                expected_version=body.expected_version,
            )
        return json_response(answer)

    @router.post("/_strangler/routes/bulk")
    async def set_all(body: BulkChange, admin: Admin) -> Response:
        with change_problems():
            answer = await service.set_all(
                body.mode,
                percent=body.percent,
                actor=admin.subject,
                reason=body.reason,
                expected_version=body.expected_version,
            )
        return json_response(answer)

    @router.post("/_strangler/routes/import")
    async def import_routes(body: ImportChange, admin: Admin) -> Response:
        """Apply a flag file's routes as one compare-and-set, or refuse them all (400)."""
        changes, errors = _import_errors(body.routes)
        answer: dict[str, Any] = {}
        if not errors:
            try:
                answer = await service.import_table(
                    changes,
                    actor=admin.subject,
                    reason=body.reason,
                    expected_version=body.expected_version,
                )
            except RejectedImport as exc:
                errors = [
                    {
                        "field": f"routes.{index}.{rejection.field}",
                        "code": rejection.code,
                        "message": f"{rejection.route}: {rejection.reason}",
                    }
                    for index, rejection in exc.rejections
                ]
            except StoreError as exc:
                raise store_problem(exc) from exc
        if errors:
            raise AdminProblem(
                400, f"{len(errors)} route(s) refused, nothing imported.", errors=errors
            )
        return json_response(answer)

    @router.post("/_strangler/kill-switch")
    async def kill_switch(body: KillSwitch, admin: Admin) -> Response:
        with change_problems():
            answer = await service.kill_switch(actor=admin.subject, reason=body.reason)
        log.warning(
            "kill_switch", actor=admin.subject, reason=body.reason, changed=answer["changed"]
        )
        return json_response(answer)

    return router
