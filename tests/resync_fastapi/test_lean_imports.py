"""Building the app leaves out what it never uses (resident memory: see docs/architecture.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.resync_fastapi.harness import SECRET, mint
from tests.services import REPO_ROOT, TwsSim

NOT_AT_BUILD = ("argon2", "_argon2_cffi_bindings", "pydantic_settings", "rich", "pygments")
# Never loaded while the app serves: it speaks SQLAlchemy Core only (db/async_core.py).
NOT_WHILE_SERVING = ("sqlalchemy.orm", "sqlalchemy.ext.asyncio.session")

# Runs in a fresh interpreter: serves a sign-in, a database page, a TWS-bound page and a write,
# then lists what of NOT_WHILE_SERVING got loaded, then checks the full package still imports.
SERVE_AND_LIST = """
import json, sys
from fastapi.testclient import TestClient
from resync_fastapi.main import create_app
from resync_fastapi.core.config import Settings
secret, database, tws = sys.argv[1:4]
settings = Settings(env="test", secret_key=secret, database_url=database, tws_url=tws)
statuses = []
with TestClient(create_app(settings)) as client:
    headers = {"Authorization": "Bearer " + sys.argv[4]}
    for path in ("/api/v1/agents", "/api/v1/agents?limit=2", "/api/v1/status/jobs"):
        statuses.append(client.get(path, headers=headers).status_code)
    agent = client.get("/api/v1/agents", headers=headers).json()["items"][0]["id"]
    chat = {"agent_id": agent, "message": "status of job PAYROLL"}
    statuses.append(client.post("/api/v1/chat", headers=headers, json=chat).status_code)
loaded = [m for m in sys.argv[5].split(",") if m in sys.modules]
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from resync_fastapi.db import async_core
same = async_core.AsyncEngine is AsyncEngine and AsyncSession.__module__.endswith("session")
print(json.dumps({"statuses": statuses, "loaded": loaded, "same": same}))
"""


def test_building_the_app_imports_no_hasher_settings_library_or_rich() -> None:
    code = (
        "import json, sys\n"
        "from resync_fastapi.main import create_app\n"
        "create_app()\n"
        f"loaded = [m for m in {NOT_AT_BUILD!r} if m in sys.modules]\n"
        "import rich.console, structlog\n"  # rich still imports normally afterwards
        "print(json.dumps(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_serving_loads_no_orm_and_the_full_asyncio_package_still_imports(
    module_database_url: str, tws_sim_process: TwsSim
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE_AND_LIST,
            SECRET,
            module_database_url,
            tws_sim_process.twsd_url,
            mint("admin"),
            ",".join(NOT_WHILE_SERVING),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"statuses": [200, 200, 200, 200], "loaded": [], "same": True}


def test_passwords_still_hash_and_verify_with_the_lazy_hasher() -> None:
    import anyio

    from resync_fastapi.core.security import hash_password, verify_password

    async def check() -> None:
        hashed = await hash_password("s3cret")
        assert hashed.startswith("$argon2id$")
        assert await verify_password(hashed, "s3cret")
        assert not await verify_password(hashed, "wrong")
        assert not await verify_password(None, "s3cret")

    anyio.run(check)
