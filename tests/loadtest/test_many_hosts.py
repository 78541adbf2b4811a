"""Several proxy hosts share one flag table: a flip on one reaches all, a cut host serves on.

Each host is a network namespace (``ip netns``) with its own ``resync-strangler serve``; the
flag store (PostgreSQL, then Redis) listens on the root namespace's loopback and each host
reaches it through a forwarder on its own store link (:mod:`loadtest.netns`). Needs root and
iproute2: with ``CI=true`` a machine without them fails the test, elsewhere it skips.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadtest.fixtures import ADMIN_PASSWORD, seed_template, sign_in
from loadtest.netns import (
    Cluster,
    HostNetwork,
    netns_available,
    postgres_database,
    redis_prefix,
    wait_until,
)
from tests.services import IN_CI

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROUTE = "GET /api/v1/agents"
PATH = "/api/v1/agents"
# Generous safety nets, not measures: a cut PostgreSQL link is noticed after its 5 s timeout.
WITHIN = 60.0


@pytest.fixture(scope="module")
def namespaces() -> None:
    ok, reason = netns_available()
    if ok:
        return
    message = f"network namespaces are not available ({reason})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires them")
    pytest.skip(message)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded Resync database (development users) each host gets a copy of."""
    path = tmp_path_factory.mktemp("hosts-db") / "template.db"
    seed_template(path)
    from loadtest.fixtures import checkpoint

    checkpoint(path)
    return path


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def shared_store(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh shared flag store on 127.0.0.1 (a database or a key prefix)."""
    if request.param == "postgresql":
        admin_url = request.getfixturevalue("postgres_admin_url")
        with postgres_database(admin_url, "hosts") as url:
            yield url
    else:
        with redis_prefix(request.getfixturevalue("redis_url"), "hosts") as url:
            yield url


def _health(base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base_url}/_strangler/health", timeout=5).json()
    return body


def _served_by(base_url: str, admin: dict[str, str]) -> str:
    response = httpx.get(f"{base_url}{PATH}", headers=admin, timeout=10)
    assert response.status_code == 200, response.text[:300]
    return response.headers["x-served-by"]


def _mode_in_table(base_url: str, admin: dict[str, str]) -> tuple[int, str]:
    body = httpx.get(f"{base_url}/_strangler/routes", headers=admin, timeout=10).json()
    (route,) = [r for r in body["routes"] if r["route"] == ROUTE]
    return body["version"], route["mode"]


def _flip(base_url: str, admin: dict[str, str], mode: str) -> int:
    response = httpx.post(
        f"{base_url}/_strangler/routes",
        json={"route": ROUTE, "mode": mode, "reason": f"many hosts: {mode}"},
        headers=admin,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    version: int = response.json()["version"]
    return version


def test_hosts_share_one_table_and_a_cut_host_serves_its_last_one(
    namespaces: None, template: Path, shared_store: str, tmp_path: Path
) -> None:
    with (
        HostNetwork(2, tag=secrets.token_hex(2)) as network,
        Cluster(network, shared_store, template, tmp_path) as cluster,
    ):
        first, second = (server.base_url for server in cluster.servers)
        assert first != second
        admin = sign_in(first, "admin", ADMIN_PASSWORD)
        for url in (first, second):
            wait_until(lambda url=url: _health(url)["status"] == "ok", within=WITHIN)
            assert _served_by(url, admin) == "legacy"

        # A flip through the first host's admin API reaches the second host.
        version = _flip(first, admin, "new")
        for url in (first, second):
            wait_until(lambda url=url: _health(url)["version"] == version, within=WITHIN)
            assert _served_by(url, admin) == "new"
            assert _mode_in_table(url, admin) == (version, "new")

        # Cut the second host's link to the store: it keeps serving its last table.
        (_, cut) = network.hosts
        cut.cut_store()
        try:
            wait_until(
                lambda: _health(second)["store"] == "unreachable", within=WITHIN, what="degraded"
            )
            assert _health(second) | {"worker": 0} == {
                "status": "degraded",
                "store": "unreachable",
                "version": version,
                "worker": 0,
            }
            later = _flip(first, admin, "legacy")  # made while the second host is cut off
            assert _served_by(first, admin) == "legacy"
            for _ in range(5):
                assert _served_by(second, admin) == "new"
            assert _health(second)["version"] == version
            assert _mode_in_table(second, admin) == (version, "new")
        finally:
            cut.restore_store()

        # Back on the store, it recovers and picks up the flip made meanwhile.
        wait_until(lambda: _health(second)["status"] == "ok", within=WITHIN, what="recovered")
        wait_until(lambda: _health(second)["version"] == later, within=WITHIN)
        assert _served_by(second, admin) == "legacy"
        assert _mode_in_table(second, admin) == (later, "legacy")
        assert _health(first)["status"] == "ok"
