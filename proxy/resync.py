"""Compose the strangler proxy for Resync: the only module that knows the two Resync apps.

:func:`create_resync_proxy` is the uvicorn factory ``resync-strangler serve`` runs in every
worker. It builds the legacy Flask app and the FastAPI app with one random dry-run key per
process (the proxy adds it to shadowed unsafe requests; a client can never send a valid one, and
the proxy strips the header from client requests anyway), the flag store named by
``STRANGLER_FLAG_STORE_URL``, the shadow runner with a mismatch store shared by the workers,
the traffic recorder when ``STRANGLER_CAPTURE_FILE`` names a capture policy, the admin
API's token verifier for Resync's JWTs, and where the dashboard signs in (:data:`RESYNC_SIGN_IN`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any

import jwt
import structlog
from sqlalchemy import Engine, bindparam, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from proxy.admin.dashboard.config import SignIn
from proxy.app import StranglerProxy, build_inventory, create_proxy
from proxy.auth import InvalidToken, Principal
from proxy.flags.stores import FlagStore, open_store
from proxy.inventory import Inventory
from proxy.settings import ProxySettings
from proxy.shadow.runner import ShadowRunner
from proxy.telemetry.accesslog import configure_logging
from proxy.telemetry.logredact import install_log_redaction
from proxy.telemetry.metrics import ProxyMetrics
from proxy.traffic import build_traffic_recorder

__all__ = [
    "RESYNC_SIGN_IN",
    "ResyncTokenVerifier",
    "build_resync_apps",
    "create_resync_proxy",
    "open_flag_store",
    "resync_inventory",
]

log = structlog.get_logger("proxy.resync")

ISSUER = "resync"
AUDIENCE = "resync-api"
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("iss", "aud", "sub", "role", "typ", "jti", "sid", "iat", "exp")
# Claims both apps require to be non-empty strings of at most 64 characters
# (docs/api-legacy-notes.md, item 20): they are looked up in the database.
TEXT_CLAIMS = ("sub", "role", "typ", "jti", "sid")
MAX_CLAIM_LENGTH = 64
#: Resync's session endpoints (docs/api.md), served by both apps: where the dashboard signs in.
RESYNC_SIGN_IN = SignIn(
    login="/api/v1/auth/login", logout="/api/v1/auth/logout", refresh="/api/v1/auth/refresh"
)


class ResyncTokenVerifier:
    """Verify a Resync access token for the admin API, exactly as the apps themselves would.

    The apps' rules (docs/api.md, docs/api-legacy-notes.md): HS256 with ``RESYNC_SECRET_KEY``,
    ``iss`` ``resync``, ``aud`` ``resync-api``, every claim of :data:`REQUIRED_CLAIMS` present,
    ``sub``/``role``/``typ``/``jti``/``sid`` non-empty strings of at most 64 characters,
    ``iat``/``exp`` integers, ``exp`` with 30 s of leeway, ``typ == "access"``. A token without
    ``jti`` or ``sid`` could never be revoked, so it is refused like the apps refuse it. With a
    ``database_url``, the token must also not be revoked (its ``jti`` or ``sid`` in
    ``revoked_tokens``) and its ``role`` must still be the user's role: read-only queries on the
    shared database, off the event loop, on every admin request (a logout takes effect at once).
    """

    def __init__(self, secret_key: str, *, database_url: str | None = None) -> None:
        self._secret_key = secret_key
        self._engine: Engine | None = None
        if database_url is not None:
            self._engine = _sync_engine(database_url)

    def decode(self, token: str) -> dict[str, Any]:
        """Return the verified claims of an access token, or raise :class:`InvalidToken`."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret_key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        for name in TEXT_CLAIMS:
            value = claims.get(name)
            if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_LENGTH:
                raise InvalidToken(f"claim {name} must be a non-empty string of at most 64")
        for name in ("iat", "exp"):
            try:
                int(claims[name])
            except (TypeError, ValueError) as exc:
                raise InvalidToken(f"claim {name} is not a number") from exc
        if claims["typ"] != "access":
            raise InvalidToken("not an access token")
        return claims

    async def __call__(self, token: str) -> Principal:
        claims = self.decode(token)
        if self._engine is not None:
            await asyncio.to_thread(self._check_database, claims)
        return Principal(subject=claims["sub"], role=claims["role"])

    def _check_database(self, claims: dict[str, Any]) -> None:
        assert self._engine is not None
        ids = [claims["jti"], claims["sid"]]  # both present: decode() requires them
        try:
            with self._engine.connect() as connection:
                role = connection.execute(
                    text("SELECT role FROM users WHERE username = :username"),
                    {"username": claims["sub"]},
                ).scalar()
                revoked = connection.execute(
                    text("SELECT 1 FROM revoked_tokens WHERE token_id IN :ids").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": ids},
                ).first()
        except SQLAlchemyError as exc:
            # Fail closed: without the database the proxy cannot tell a revoked token.
            log.warning("admin_token_check_failed", error=type(exc).__name__)
            raise InvalidToken("cannot check the token against the database") from exc
        if role is None or role != claims["role"]:
            raise InvalidToken("unknown user or changed role")
        if revoked is not None:
            raise InvalidToken("revoked token")


def _sync_engine(database_url: str) -> Engine:
    import migrations

    engine = create_engine(migrations.sync_engine_url(database_url), poolclass=NullPool)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def build_resync_apps(dry_run_key: str | None = None) -> tuple[Any, Any, Any]:
    """Return ``(legacy Flask app, FastAPI app, FastAPI settings)`` sharing a dry-run key."""
    import legacy_flask
    from resync_fastapi.core.config import Settings as NewSettings
    from resync_fastapi.main import create_app as create_new_app

    legacy_config = {"DRY_RUN_KEY": dry_run_key} if dry_run_key else {}
    new_settings = NewSettings(dry_run_key=dry_run_key) if dry_run_key else NewSettings()
    return (
        legacy_flask.create_app(legacy_config),
        create_new_app(new_settings),
        new_settings,
    )


def resync_inventory() -> Inventory:
    """Return the merged route inventory of the two Resync apps (for the CLI).

    Creating an app configures structlog for the whole process; the CLI only wants the routes,
    so the logging configuration it had is put back.
    """
    saved = structlog.get_config()
    try:
        legacy, new, _ = build_resync_apps()
    finally:
        structlog.configure(**saved)
    return build_inventory(legacy, new)


def open_flag_store(settings: ProxySettings) -> FlagStore:
    """Build (not open) the flag store of ``STRANGLER_FLAG_STORE_URL``.

    ``STRANGLER_POLL_INTERVAL`` applies to SQLite only, whose polling is how workers learn of a
    change. Redis and PostgreSQL push changes (pub/sub, LISTEN/NOTIFY) and poll only as a safety
    net, at their own 1 s default: polling them five times a second from every worker would load
    a shared server for nothing.
    """
    url = settings.flag_store_url
    scheme = url.partition("://")[0].split("+", 1)[0].lower()
    return open_store(url, poll_interval=settings.poll_interval if scheme == "sqlite" else None)


def create_resync_proxy(
    settings: ProxySettings | None = None, *, sign_in: SignIn = RESYNC_SIGN_IN
) -> StranglerProxy:
    """Build the Resync strangler proxy (the uvicorn factory of ``resync-strangler serve``).

    ``sign_in`` is where the dashboard signs in: Resync's own endpoints unless the deployment
    puts them elsewhere (behind a gateway that rewrites paths, say).
    """
    settings = settings or ProxySettings()
    # Before the apps are built, so the proxy's (redacting) logging is the process's in every
    # worker, and uvicorn's own lines (a WebSocket target with ?token=) are redacted too.
    configure_logging(os.environ.get("RESYNC_LOG_LEVEL", "INFO"))
    install_log_redaction()
    dry_run_key = secrets.token_urlsafe(32)
    legacy, new, new_settings = build_resync_apps(dry_run_key)
    metrics = ProxyMetrics()
    verifier = ResyncTokenVerifier(new_settings.secret_key, database_url=new_settings.database_url)
    return create_proxy(
        legacy,
        new,
        open_flag_store(settings),
        settings,
        token_verifier=verifier,
        shadow_runner=ShadowRunner.from_settings(settings, metrics, dry_run_key),
        metrics=metrics,
        traffic_recorder=build_traffic_recorder(
            settings, registry=metrics.registry, role_of=lambda token: _role(verifier, token)
        ),
        sign_in=sign_in,
    )


def _role(verifier: ResyncTokenVerifier, token: str) -> str | None:
    """Return the role of a valid access token (signature, claims, expiry), else None.

    Capture records the caller's role, never the token: a replay authenticates as that role.
    The database checks (revocation) are skipped: capture runs off the request path, and a
    revoked token's request was answered 401 anyway, which the captured answer shows.
    """
    try:
        return str(verifier.decode(token)["role"])
    except InvalidToken:
        return None
