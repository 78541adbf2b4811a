"""Build the in-process replay target for Resync: both apps, each on its own database copy.

With :mod:`proxy.resync`, the only proxy module that knows the two Resync apps. The databases are
copied as the parity suite copies them (:class:`proxy.traffic.databases.DatabaseCopies`): a
template (freshly migrated and seeded with the demo data, or ``template_url``, a database of
yours) and one copy per side, so a replayed write changes neither the template nor anything
real, and the two copies' rows can be compared after each write. Both apps get one random
signing key for the run; a token per role is minted with it for each request (``sub`` is the
role's user: the demo seed names its users after their roles), never taken from the capture.
"""

from __future__ import annotations

import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
import structlog

from proxy.bridges.lifespan import AppLifespan
from proxy.bridges.wsgi import LegacyWSGIApp
from proxy.shadow.differ import Comparison
from proxy.traffic.databases import DatabaseCopies, compare_snapshots, snapshot
from proxy.traffic.targets import AppPairTarget
from proxy.types import ASGIApp

__all__ = ["DEFAULT_ROLE_USERS", "mint_access_token", "open_resync_pair"]

#: The user a role's token names; the demo seed's users are called after their roles.
DEFAULT_ROLE_USERS = {"viewer": "viewer", "operator": "operator", "admin": "admin"}


def mint_access_token(secret_key: str, username: str, role: str, *, ttl: int = 1800) -> str:
    """Return an access token as both apps issue them (HS256, the contract's claims)."""
    now = int(time.time())
    claims = {
        "iss": "resync",
        "aud": "resync-api",
        "sub": username,
        "role": role,
        "typ": "access",
        "jti": uuid.uuid4().hex,
        "sid": uuid.uuid4().hex,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret_key, algorithm="HS256")


def _apps(
    database_urls: Mapping[str, str], secret_key: str, tws_url: str | None
) -> tuple[Any, Any]:
    import legacy_flask
    from resync_fastapi.core.config import Settings
    from resync_fastapi.main import create_app

    saved = structlog.get_config()
    try:
        legacy_config: dict[str, Any] = {
            "ENV": "test",
            "SECRET_KEY": secret_key,
            "DATABASE_URL": database_urls["legacy"],
            "LOG_LEVEL": "WARNING",
        }
        new_options: dict[str, Any] = {
            "env": "test",
            "secret_key": secret_key,
            "database_url": database_urls["new"],
            "log_level": "WARNING",
        }
        if tws_url:
            legacy_config["TWS_URL"] = tws_url
            new_options["tws_url"] = tws_url
        legacy = legacy_flask.create_app(legacy_config)
        new = create_app(Settings(**new_options))
    finally:
        structlog.configure(**saved)
    return legacy, new


async def open_resync_pair(
    *,
    tws_url: str | None = None,
    backend: str = "sqlite",
    postgres_admin_url: str | None = None,
    template_url: str | None = None,
    workdir: str | Path | None = None,
    role_users: Mapping[str, str] | None = None,
    wrap_new: Callable[[ASGIApp], ASGIApp] | None = None,
) -> AppPairTarget:
    """Copy the template twice, start legacy and new on the copies, return the target.

    ``wrap_new`` wraps the new app (tests plant a difference with it). The caller must
    ``await target.aclose()``: it stops both apps and drops the copies (and a seeded template).
    """
    folder = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="resync-replay-"))
    if template_url is None:
        copies = DatabaseCopies.create(backend, folder, postgres_admin_url)
    else:
        if backend == "postgresql" and postgres_admin_url is None:
            raise ValueError("copying a PostgreSQL template needs postgres_admin_url")
        copies = DatabaseCopies(backend, template_url, folder, postgres_admin_url)
    seeded_here = template_url is None
    urls = {"legacy": copies.copy("replay-legacy"), "new": copies.copy("replay-new")}
    secret_key = secrets.token_urlsafe(48)
    legacy_flask_app, new_app = _apps(urls, secret_key, tws_url)
    legacy = LegacyWSGIApp(legacy_flask_app, threads=4)
    lifespan = AppLifespan(new_app, name="new")
    state: dict[str, Any] = {}
    await lifespan.startup(state)
    users = dict(DEFAULT_ROLE_USERS if role_users is None else role_users)

    def mint(role: str) -> str | None:
        username = users.get(role)
        return mint_access_token(secret_key, username, role) if username else None

    def state_check() -> Comparison:
        return compare_snapshots(snapshot(urls["legacy"]), snapshot(urls["new"]))

    async def close() -> None:
        try:
            await lifespan.shutdown()
        finally:
            legacy.close()
            from legacy_flask.app_state import EXTENSION_KEY

            legacy_flask_app.extensions[EXTENSION_KEY].close()
            for url in urls.values():
                copies.drop(url)
            if seeded_here:
                copies.close()

    return AppPairTarget(
        {"legacy": legacy, "new": wrap_new(new_app) if wrap_new else new_app},
        mint=mint,
        state_check=state_check,
        states={"new": state},
        on_close=close,
        description=f"in-process, {backend} copies of {template_url or 'a fresh seed'}",
    )
