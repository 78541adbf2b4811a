"""Fixtures of the flag-store tests: each test runs on a real SQLite file, Redis and PostgreSQL.

``backend`` opens a fresh store of each kind (``tests/proxy/flag_store_backends.py``); the
PostgreSQL database is created once per module and dropped after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.proxy.flag_store_backends import BACKENDS, Backend, open_backend, postgres_database


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def postgres_flag_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    yield from postgres_database(request)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(request, tmp_path) as opened:
        yield opened
