"""The bench's servers trust no forwarded headers: a local client cannot pick its address."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loadtest.servers import server_command
from tests.loadtest.conftest import start_server
from tests.services import TwsSim

PASSWORDS = {"operator": "resync-operator-dev"}


@pytest.mark.parametrize("kind", ["gunicorn", "uvicorn"])
def test_x_forwarded_for_does_not_lift_the_login_lockout(
    kind: str, seeded_database: Path, tws_sim_process: TwsSim, tmp_path: Path
) -> None:
    server = start_server(kind, seeded_database, tws_sim_process, tmp_path / kind)
    try:
        login = f"{server.base_url}/api/v1/auth/login"
        for _ in range(5):
            failed = httpx.post(login, json={"username": "operator", "password": "no"}, timeout=30)
            assert failed.status_code == 401
        spoofed = httpx.post(
            login,
            json={"username": "operator", "password": PASSWORDS["operator"]},
            headers={"X-Forwarded-For": "10.9.8.7"},
            timeout=30,
        )
        assert spoofed.status_code == 429, spoofed.text
    finally:
        server.stop()


def test_uvicorn_believes_only_the_configured_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESYNC_FORWARDED_ALLOW_IPS", raising=False)
    assert "--no-proxy-headers" in server_command("uvicorn", host="127.0.0.1", port=1)
    monkeypatch.setenv("RESYNC_FORWARDED_ALLOW_IPS", "10.0.0.1")
    command = server_command("uvicorn", host="127.0.0.1", port=1)
    assert command[command.index("--forwarded-allow-ips") + 1] == "10.0.0.1"
    assert "--no-proxy-headers" not in command
