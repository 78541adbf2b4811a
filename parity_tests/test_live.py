"""Live parity (``resync-strangler parity``) against both apps served for real on loopback.

The legacy app runs under Werkzeug's threaded WSGI server, the FastAPI app under uvicorn, each
on its own copy of the seeded database; :func:`proxy.cli.parity.main` then compares them over
HTTP with the read-only scenarios.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from rich.console import Console
from werkzeug.serving import make_server

from parity_tests.conftest import ParityEnv, legacy_app, new_app
from proxy.cli.parity import live_scenarios, main, run_live_parity
from resync_scenarios import SCENARIOS
from tests.services import free_port

pytestmark = pytest.mark.parametrize("parity_env", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def deployments(parity_env: ParityEnv) -> Iterator[tuple[str, str]]:
    """Serve legacy and new on loopback ports; yield their base URLs."""
    legacy_url, new_url = parity_env.copies.copy("live-legacy"), parity_env.copies.copy("live-new")
    legacy = legacy_app(legacy_url, parity_env.sim)
    wsgi = make_server("127.0.0.1", free_port(), legacy, threaded=True)
    wsgi_thread = threading.Thread(target=wsgi.serve_forever, name="live-legacy", daemon=True)
    wsgi_thread.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            new_app(new_url, parity_env.sim),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    asgi_thread = threading.Thread(target=server.run, name="live-new", daemon=True)
    asgi_thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert asgi_thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{wsgi.server_port}", f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        asgi_thread.join(timeout=10)
        wsgi.shutdown()
        wsgi_thread.join(timeout=10)
        from legacy_flask.app_state import EXTENSION_KEY

        legacy.extensions[EXTENSION_KEY].close()
        parity_env.copies.drop(legacy_url)
        parity_env.copies.drop(new_url)


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def test_live_parity_compares_every_read_only_request_once(
    parity_env: ParityEnv, deployments: tuple[str, str], tmp_path: Path
) -> None:
    legacy_url, new_url = deployments
    token = parity_env.credentials.pairs["admin"].access
    report_path = tmp_path / "report.json"

    code = main(
        [
            "--legacy-url",
            legacy_url,
            "--new-url",
            new_url,
            "--token",
            token,
            "--json",
            str(report_path),
        ]
    )

    report = json.loads(report_path.read_text())
    expected = live_scenarios(token)
    assert len(report["results"]) == len(expected) > 50
    assert report["counts"]["error"] == 0, [r for r in report["results"] if r["error"]]
    mismatches = [r for r in report["results"] if r["result"] == "mismatch"]
    assert code == (1 if mismatches else 0)
    assert not mismatches, json.dumps(mismatches, indent=1)[:4000]
    assert token not in report_path.read_text()
    assert {r["route"] for r in report["results"]} >= {"GET /api/v1/agents", "GET /health/ready"}


def test_without_a_token_only_anonymous_requests_are_sent(deployments: tuple[str, str]) -> None:
    legacy_url, new_url = deployments
    report = run_live_parity(legacy_url, new_url, console=quiet())
    anonymous = [s for s in SCENARIOS if s.live_safe and s.auth is None]
    assert 0 < len(report.results) <= len(anonymous)
    assert all("auth=none" in r.request for r in report.results)
    assert report.exit_code == 0, [r.to_dict() for r in report.results if r.status != "match"]


def test_one_deployment_against_itself_learns_no_noise_where_there_is_none(
    parity_env: ParityEnv, deployments: tuple[str, str]
) -> None:
    legacy_url, _ = deployments
    token = parity_env.credentials.pairs["viewer"].access
    report = run_live_parity(
        legacy_url, legacy_url, token, learn_noise=True, route_filter="/status", console=quiet()
    )
    assert report.results and report.exit_code == 0
    assert all(r.comparison is not None and not r.comparison.noise for r in report.results)


def test_an_unreachable_side_is_an_error_with_exit_code_2(deployments: tuple[str, str]) -> None:
    legacy_url, _ = deployments
    report = run_live_parity(
        legacy_url,
        f"http://127.0.0.1:{free_port()}",
        route_filter="/health/live",
        timeout=2,
        console=quiet(),
    )
    assert report.exit_code == 2
    assert all(r.status == "error" and "ConnectError" in (r.error or "") for r in report.results)
    assert httpx.get(f"{legacy_url}/health/live").status_code == 200
