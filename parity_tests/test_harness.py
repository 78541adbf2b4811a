"""The harness itself: it compares the two real implementations and it does catch differences."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from migrations.database import sync_engine_url
from parity_tests.conftest import LegacySide, NewSide, ParityEnv, WritePair
from parity_tests.databases import snapshot
from parity_tests.harness import run_scenario
from parity_tests.sides import WsgiSide
from resync_scenarios import SCENARIOS, Scenario

pytestmark = pytest.mark.parametrize("parity_env", ["sqlite"], indirect=True)


def scenario(scenario_id: str) -> Scenario:
    return next(s for s in SCENARIOS if s.id == scenario_id)


class RenameFirstAgent:
    """A WSGI middleware that changes one value in a JSON answer: a difference to be found."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = b"".join(self.app(environ, start_response))
        data = json.loads(body)
        data["items"][0]["name"] = "Renamed"
        return [json.dumps(data, separators=(",", ":")).encode()]


def test_sides_are_the_two_implementations(read_pair: tuple[LegacySide, NewSide]) -> None:
    legacy, new = read_pair
    assert type(legacy.app).__module__.startswith("flask")
    assert type(new.app).__module__.startswith("fastapi")
    assert legacy.app.name == "legacy_flask"


def test_harness_reports_a_difference_with_route_request_and_diff(
    parity_env: ParityEnv, read_pair: tuple[LegacySide, NewSide]
) -> None:
    legacy, _ = read_pair
    altered = WsgiSide("new", RenameFirstAgent(legacy.app))
    outcome = run_scenario(
        scenario("agents-viewer"), legacy, altered, parity_env.credentials, parity_env.comparator
    )

    assert not outcome.equal
    report = outcome.report("sqlite")
    assert "route GET /api/v1/agents" in report
    assert "request: GET /api/v1/agents auth=viewer" in report
    assert "body /items/0/name [value]" in report
    assert '"Renamed"' in report


def test_restore_returns_a_copy_to_the_seeded_state(
    parity_env: ParityEnv, write_pair: WritePair
) -> None:
    seeded = snapshot(parity_env.copies.template_url)
    outcome = run_scenario(
        scenario("users-create-admin"),
        write_pair.legacy,
        write_pair.new,
        parity_env.credentials,
        parity_env.comparator,
    )
    assert outcome.main.legacy.status == 201
    assert snapshot(write_pair.legacy_url) != seeded

    write_pair.restore(parity_env.copies)

    assert snapshot(write_pair.legacy_url) == seeded
    assert snapshot(write_pair.new_url) == seeded


def test_snapshot_shows_timestamps_in_contract_form_and_flags_microseconds(
    parity_env: ParityEnv, write_pair: WritePair
) -> None:
    write_pair.restore(parity_env.copies)
    engine = sa.create_engine(sync_engine_url(write_pair.legacy_url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE users SET created_at = :t WHERE username = 'viewer'"),
                {"t": "2026-11-26 10:00:00.250000"},
            )
    finally:
        engine.dispose()
    users = {u["username"]: u for u in snapshot(write_pair.legacy_url)["users"]}
    write_pair.restore(parity_env.copies)

    assert users["viewer"]["created_at"] == "2026-11-26T10:00:00Z (+250000 us)"
    assert users["admin"]["created_at"].endswith("Z")
    assert users["admin"]["password_hash"] == "<argon2id>"
