"""Settings: ``RESYNC_*`` variables, URL mapping, production's secret rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from resync_fastapi.core.config import DEV_SECRET_KEY, Settings, async_database_url


def test_defaults_run_on_one_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RESYNC_ENV", "RESYNC_SECRET_KEY", "RESYNC_DATABASE_URL", "RESYNC_DRY_RUN_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.env == "development"
    assert settings.secret_key == DEV_SECRET_KEY
    assert settings.database_url == "sqlite:///var/resync.db"
    assert settings.tws_url == "http://127.0.0.1:8100/twsd"
    assert (settings.tws_timeout, settings.rag_max_bytes) == (5.0, 5242880)
    assert settings.dry_run_key is None


def test_environment_variables_use_the_resync_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESYNC_TWS_TIMEOUT", "2.5")
    monkeypatch.setenv("RESYNC_RAG_MAX_BYTES", "1000")
    monkeypatch.setenv("RESYNC_DRY_RUN_KEY", "k")
    settings = Settings()
    assert (settings.tws_timeout, settings.rag_max_bytes, settings.dry_run_key) == (2.5, 1000, "k")


@pytest.mark.parametrize(
    "secret",
    [DEV_SECRET_KEY, "too-short", "x" * 31],
    ids=["development default", "short", "31 bytes"],
)
def test_production_refuses_a_weak_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="RESYNC_SECRET_KEY"):
        Settings(env="production", secret_key=secret)


def test_production_accepts_a_32_byte_secret() -> None:
    assert Settings(env="production", secret_key="s" * 32).env == "production"


@pytest.mark.parametrize(
    ("plain", "driver"),
    [
        ("sqlite:///var/resync.db", "sqlite+aiosqlite:///var/resync.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_urls_map_to_async_drivers(plain: str, driver: str) -> None:
    assert async_database_url(plain) == driver


def test_the_pool_settings_size_the_sqlite_pool_too(tmp_path: Path) -> None:
    from resync_fastapi.db import create_engine

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'p.db'}",
        db_pool_size=3,
        db_max_overflow=1,
        db_pool_timeout=0.5,
    )
    pool = create_engine(settings).sync_engine.pool
    assert (pool.size(), pool._max_overflow, pool._timeout) == (3, 1, 0.5)  # type: ignore[attr-defined]


def test_the_auth_cache_defaults_to_one_second_and_refuses_negative_bounds() -> None:
    assert Settings().auth_cache_seconds == 1.0
    with pytest.raises(ValueError, match="auth_cache_seconds"):
        Settings(auth_cache_seconds=-1)


def test_unset_pool_settings_take_the_databases_default(tmp_path: Path) -> None:
    from resync_fastapi.db import create_engine
    from resync_fastapi.db.engine import SQLITE_POOL

    pool = create_engine(Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}")).sync_engine.pool
    assert (pool.size(), pool._max_overflow) == SQLITE_POOL  # type: ignore[attr-defined]
