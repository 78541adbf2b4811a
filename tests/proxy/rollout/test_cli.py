"""``resync-strangler plan`` on the local store: set, operate, list, history, refusals."""

from __future__ import annotations

from pathlib import Path

from tests.proxy.cli.test_cli import AGENTS, _cli, _json, _ok, local_env, missing_env

__all__ = ["local_env", "missing_env"]


def test_plan_set_then_pause_promote_and_abort_from_the_terminal(local_env: Path) -> None:
    line = _ok(
        local_env,
        "plan",
        "set",
        AGENTS,
        "shadow 1m -> 50% -> new",
        "--reason",
        "move agents",
        "--gate",
        "max_p95_ratio=2",
        "--min-requests",
        "10",
    )
    assert line == "  plan: shadow 1m -> canary 50% -> new"
    listed = _json(local_env, "plan", "list")["items"]
    assert listed[0]["status"] == "running"
    assert listed[0]["plan"]["gates"]["max_p95_ratio"] == 2
    assert listed[0]["plan"]["min_requests"] == 10
    assert _json(local_env, "plan", "pause", AGENTS, "--reason", "hold")["status"] == "paused"
    promoted = _json(local_env, "plan", "promote", AGENTS, "--step", "2", "--reason", "skip")
    assert (promoted["status"], promoted["current"]) == ("running", "new")
    assert _json(local_env, "plan", "abort", AGENTS, "--reason", "stop")["status"] == "aborted"
    routes = _json(local_env, "routes")["routes"]
    assert [r["mode"] for r in routes if r["route"] == AGENTS] == ["legacy"]
    events = _json(local_env, "events", "--route", AGENTS)["items"]
    assert events[0]["reason"] == "plan abort: stop"
    history = _json(local_env, "plan", "history", AGENTS)["items"]
    assert [h["kind"] for h in history] == ["abort", "promote", "pause", "plan"]


def test_plan_refusals_exit_1_with_the_reason(local_env: Path) -> None:
    bad = _cli(local_env, "plan", "set", AGENTS, "sideways", "--reason", "r")
    assert bad.returncode == 1 and "unknown mode 'sideways'" in bad.stderr
    unknown = _cli(local_env, "plan", "set", "GET /nope", "new", "--reason", "r")
    assert unknown.returncode == 1 and "no such route" in unknown.stderr
    missing = _cli(local_env, "plan", "pause", AGENTS, "--reason", "r")
    assert missing.returncode == 1 and "No plan for" in missing.stderr
    no_reason = _cli(local_env, "plan", "pause", AGENTS)
    assert no_reason.returncode == 1 and "--reason" in no_reason.stderr
    gate = _cli(local_env, "plan", "set", AGENTS, "new", "--reason", "r", "--gate", "x")
    assert gate.returncode == 1 and "NAME=VALUE" in gate.stderr
