"""Building the app leaves out what it never uses (resident memory: see docs/architecture.md)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.services import REPO_ROOT

NOT_AT_BUILD = ("argon2", "_argon2_cffi_bindings", "pydantic_settings", "rich", "pygments")


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
