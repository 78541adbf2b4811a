"""Plans are data: the plan line, TOML and JSON forms, and every way they can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.errors import FlagFileError, InvalidFlag
from proxy.flags.flagfile import load_flag_file
from proxy.modes import Mode
from proxy.rollout.flagfile import load_plans
from proxy.rollout.plans import Gates, Step, format_steps, parse_steps, plan_from_mapping

ISSUE_PLAN = "shadow 5m -> canary 1% 5m -> 5% -> 25% -> 50% -> new -> shadow-new 30m -> new"


def test_the_issue_plan_line_parses_into_its_steps() -> None:
    steps = parse_steps(ISSUE_PLAN)
    assert [s.label for s in steps] == [
        "shadow",
        "canary 1%",
        "canary 5%",
        "canary 25%",
        "canary 50%",
        "new",
        "shadow-new",
        "new",
    ]
    assert steps[0].min_duration == 300
    assert steps[1] == Step(Mode.CANARY, 1, 300.0, None)
    assert steps[2].min_duration is None
    assert steps[6].min_duration == 1800


def test_a_plan_line_round_trips() -> None:
    line = "shadow 30s 50req -> canary 10% 500ms -> new 1h -> new"
    assert format_steps(parse_steps(line)) == line


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param("", "at least one step", id="empty"),
        pytest.param("shadow ->", "empty step", id="dangling-arrow"),
        pytest.param("legacy 5m -> new", "cannot be 'legacy'", id="legacy-step"),
        pytest.param("canary 5m -> new", "needs a percent", id="canary-without-percent"),
        pytest.param("0% -> new", "percent from 1 to 99", id="zero-percent"),
        pytest.param("100% -> new", "percent from 1 to 99", id="hundred-percent"),
        pytest.param("shadow 5x -> new", "neither a duration", id="bad-duration"),
        pytest.param("blue 5m", "unknown mode", id="unknown-mode"),
        pytest.param("shadow 8d -> new", "neither a duration", id="too-long"),
    ],
)
def test_malformed_plan_lines_are_refused_with_the_reason(line: str, message: str) -> None:
    with pytest.raises(InvalidFlag, match=message):
        parse_steps(line)


def test_a_plan_mapping_takes_defaults_gates_and_rollback() -> None:
    plan = plan_from_mapping(
        "GET /api/v1/agents",
        {
            "steps": ["shadow 1m", "10%", "new"],
            "min_duration": "2m",
            "min_requests": 5,
            "rollback": "last-good",
            "gates": {"max_p95_ratio": 2.0},
        },
    )
    assert plan.duration_of(0) == 60 and plan.duration_of(1) == 120
    assert plan.requests_of(1) == 5
    assert plan.gates == Gates(max_p95_ratio=2.0)
    assert plan.rollback == "last-good"
    again = dict(plan.as_json())
    route = again.pop("route")
    assert plan_from_mapping(route, again) == plan


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({}, "needs 'steps'", id="no-steps"),
        pytest.param({"steps": "new", "colour": 1}, "unknown plan key", id="unknown-key"),
        pytest.param({"steps": "new", "gates": {"speed": 1}}, "unknown gate", id="unknown-gate"),
        pytest.param({"steps": "new", "gates": {"max_p95_ratio": 0.5}}, ">= 1", id="bad-ratio"),
        pytest.param(
            {"steps": "new", "gates": {"max_mismatch_rate": 2}}, "from 0 to 1", id="bad-rate"
        ),
        pytest.param({"steps": "new", "rollback": "sideways"}, "rollback", id="bad-rollback"),
        pytest.param({"steps": "new", "min_requests": "many"}, "integer", id="bad-requests"),
    ],
)
def test_malformed_plans_are_refused_naming_the_route(data: dict, message: str) -> None:
    with pytest.raises(InvalidFlag, match=message) as caught:
        plan_from_mapping("GET /api/v1/agents", data)
    assert caught.value.route == "GET /api/v1/agents"


def test_the_flag_file_carries_plans_beside_routes(tmp_path: Path) -> None:
    path = tmp_path / "flags.toml"
    path.write_text(
        '[routes."GET /api/v1/agents"]\nmode = "legacy"\n\n'
        '[plans."GET /api/v1/agents"]\nsteps = "shadow 1m -> 50% -> new"\n'
        "gates = { max_error_rate_increase = 0.02 }\n"
    )
    assert [c.route for c in load_flag_file(path)] == ["GET /api/v1/agents"]
    (plan,) = load_plans(path)
    assert plan.gates.max_error_rate_increase == 0.02
    assert [s.label for s in plan.steps] == ["shadow", "canary 50%", "new"]


def test_a_broken_plan_in_the_flag_file_names_the_file_and_route(tmp_path: Path) -> None:
    path = tmp_path / "flags.toml"
    path.write_text('[plans."GET /x"]\nsteps = "sideways"\n')
    with pytest.raises(FlagFileError, match="GET /x"):
        load_plans(path)
