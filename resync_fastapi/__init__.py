"""The Resync API on FastAPI: same contract as the legacy Flask app, async end to end."""

from __future__ import annotations

from resync_fastapi.core.lean_imports import UNUSED_EXTRAS, without_extras

with without_extras(*UNUSED_EXTRAS):
    import structlog  # noqa: F401  # first import here: its dev renderer never loads rich

from resync_fastapi.core.config import Settings
from resync_fastapi.main import create_app

__all__ = ["Settings", "create_app"]
