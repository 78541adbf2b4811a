"""The proxy's settings read from ``STRANGLER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.settings import ProxySettings
from proxy.shadow.mismatches import MismatchStore


@pytest.mark.parametrize("value", [pytest.param("", id="empty"), pytest.param("  ", id="blank")])
def test_an_empty_mismatch_db_keeps_mismatches_in_memory(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STRANGLER_MISMATCH_DB", value)
    settings = ProxySettings()
    assert settings.mismatch_db is None
    store = MismatchStore(limit=settings.mismatch_limit, path=settings.mismatch_db)
    store.add({"route": "GET /x", "at": "2026-01-01T00:00:00Z", "result": "mismatch"})
    assert store.count() == 1


def test_a_mismatch_db_path_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STRANGLER_MISMATCH_DB", str(tmp_path / "m.db"))
    assert ProxySettings().mismatch_db == tmp_path / "m.db"


def test_the_mismatch_db_defaults_to_a_shared_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRANGLER_MISMATCH_DB", raising=False)
    assert ProxySettings().mismatch_db == Path("var/strangler-mismatches.db")


def test_the_heap_is_not_frozen_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRANGLER_GC_FREEZE", raising=False)
    assert ProxySettings().gc_freeze is False
    monkeypatch.setenv("STRANGLER_GC_FREEZE", "true")
    assert ProxySettings().gc_freeze is True
