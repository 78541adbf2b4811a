"""Liveness and readiness (no authentication)."""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from flask import Blueprint, Response
from sqlalchemy.exc import SQLAlchemyError

from legacy_flask.app_state import state
from legacy_flask.database import db
from legacy_flask.encoding import json_response
from legacy_flask.errors import LegacyFlaskError, ServiceUnavailable

__all__ = ["bp"]

bp = Blueprint("health", __name__, url_prefix="/health")
logger = structlog.get_logger("legacy_flask")


@bp.get("/live")
def live() -> Response:
    return json_response({"status": "ok"})


def _check_database() -> str:
    try:
        db().execute(sa.text("SELECT 1")).scalar_one()
    except SQLAlchemyError as exc:
        logger.warning("readiness_check_failed", check="database", error=type(exc).__name__)
        return "error"
    return "ok"


def _check_tws() -> str:
    try:
        state().tws.plan()
    except LegacyFlaskError as exc:
        logger.warning("readiness_check_failed", check="tws", error=type(exc).__name__)
        return "error"
    return "ok"


@bp.get("/ready")
def ready() -> Response:
    checks = {"database": _check_database(), "tws": _check_tws()}
    failing = [name for name, result in checks.items() if result != "ok"]
    if failing:
        raise ServiceUnavailable(f"Not ready: {', '.join(failing)}.", extra={"checks": checks})
    return json_response({"status": "ready", "checks": checks})
