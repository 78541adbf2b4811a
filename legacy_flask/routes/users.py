"""List and create users (admin only)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response
from sqlalchemy.exc import IntegrityError

from legacy_flask.access import ROLES, require_role
from legacy_flask.app_state import state
from legacy_flask.database import db, utcnow
from legacy_flask.encoding import json_response
from legacy_flask.errors import Conflict
from legacy_flask.tables import users
from legacy_flask.validation import FieldErrors, read_json_object

__all__ = ["bp", "user_json"]

bp = Blueprint("users", __name__, url_prefix="/api/v1")

_USERNAME = re.compile(r"[a-z0-9_-]{3,32}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def user_json(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Render a user (never its password hash)."""
    return {
        "id": row["id"],
        "username": row["username"],
        "role": row["role"],
        "full_name": row["full_name"],
        "email": row["email"],
        "created_at": row["created_at"],
    }


@bp.get("/users")
@require_role("admin")
def list_users() -> Response:
    fields = FieldErrors()
    limit, offset = fields.pagination()
    fields.raise_if_any()
    total = db().execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
    rows = db().execute(sa.select(users).order_by(users.c.id).limit(limit).offset(offset))
    return json_response(
        {
            "items": [user_json(r._mapping) for r in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@bp.post("/users")
@require_role("admin")
def create_user() -> Response:
    body = read_json_object()
    fields = FieldErrors()
    username = fields.string(body, "username")
    if username is not None and not _USERNAME.fullmatch(username):
        fields.add(
            "username", "invalid_format", "Must be 3 to 32 characters of a-z, 0-9, '_' or '-'."
        )
    password = fields.string(body, "password", min_length=12, max_length=128)
    role = fields.choice(body, "role", ROLES)
    full_name = fields.string(body, "full_name", required=False, max_length=100, default="")
    email: str | None = None
    if body.get("email") is not None:
        email = fields.string(body, "email", max_length=254)
        if email is not None and not _EMAIL.fullmatch(email):
            fields.add("email", "invalid_format", "Must be an email address.")
    fields.raise_if_any()
    assert username is not None and password is not None and role is not None
    exists = db().execute(sa.select(users.c.id).where(users.c.username == username)).first()
    if exists is not None:
        raise Conflict(f"User {username} already exists.")
    values = {
        "username": username,
        "password_hash": state().passwords.hash(password),
        "role": role,
        "full_name": full_name or "",
        "email": email,
        "created_at": utcnow(),
    }
    try:
        new_id = db().execute(users.insert().values(**values).returning(users.c.id)).scalar_one()
    except IntegrityError as exc:  # created concurrently
        raise Conflict(f"User {username} already exists.") from exc
    return json_response(user_json({"id": new_id, **values}), status=201)
