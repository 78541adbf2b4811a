"""Settings come from RESYNC_* variables and test overrides; production needs a real secret."""

from __future__ import annotations

import pytest

import legacy_flask
from legacy_flask.config import DEVELOPMENT_SECRET_KEY, load_settings
from legacy_flask.errors import ConfigurationError


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert settings.env == "development"
    assert settings.secret_key == DEVELOPMENT_SECRET_KEY
    assert settings.database_url == "sqlite:///var/resync.db"
    assert settings.tws_url == "http://127.0.0.1:8100/twsd"
    assert (settings.tws_user, settings.tws_password) == ("twsuser", "twspass")
    assert settings.tws_timeout == 5.0
    assert settings.rag_max_bytes == 5_242_880
    assert settings.log_level == "INFO"
    assert settings.dry_run_key is None


def test_environment_then_overrides() -> None:
    environ = {
        "RESYNC_ENV": "test",
        "RESYNC_TWS_TIMEOUT": "2.5",
        "RESYNC_RAG_MAX_BYTES": "1000",
        "RESYNC_DRY_RUN_KEY": "k",
        "RESYNC_DATABASE_URL": "postgresql://u@h/db",
    }
    settings = load_settings({"RAG_MAX_BYTES": 7, "TWS_URL": "http://x/twsd"}, environ=environ)
    assert settings.env == "test" and settings.tws_timeout == 2.5
    assert settings.rag_max_bytes == 7 and settings.tws_url == "http://x/twsd"
    assert settings.dry_run_key == "k"
    assert settings.database_url == "postgresql://u@h/db"


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"RESYNC_ENV": "production"}, id="no-secret"),
        pytest.param({"RESYNC_ENV": "production", "RESYNC_SECRET_KEY": "short"}, id="short"),
        pytest.param({"RESYNC_ENV": "production", "RESYNC_SECRET_KEY": "x" * 31}, id="31-bytes"),
        pytest.param(
            {"RESYNC_ENV": "production", "RESYNC_SECRET_KEY": DEVELOPMENT_SECRET_KEY},
            id="development-default",
        ),
        pytest.param({"RESYNC_ENV": "staging"}, id="unknown-environment"),
        pytest.param({"RESYNC_TWS_TIMEOUT": "soon"}, id="timeout-not-a-number"),
        pytest.param({"RESYNC_TWS_TIMEOUT": "0"}, id="timeout-zero"),
        pytest.param({"RESYNC_RAG_MAX_BYTES": "-1"}, id="negative-limit"),
    ],
)
def test_bad_settings_refuse_to_start(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        load_settings(environ=environ)


def test_production_accepts_a_32_byte_secret() -> None:
    settings = load_settings(
        environ={"RESYNC_ENV": "production", "RESYNC_SECRET_KEY": "é" * 16}  # 32 bytes in UTF-8
    )
    assert settings.is_production


def test_create_app_refuses_production_without_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESYNC_ENV", "production")
    monkeypatch.delenv("RESYNC_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="32 bytes"):
        legacy_flask.create_app()


def test_public_surface() -> None:
    assert sorted(legacy_flask.__all__) == [
        "AppState",
        "ConfigurationError",
        "LegacyFlaskError",
        "Settings",
        "create_app",
        "load_settings",
    ]
