"""Flag values: modes, route keys, validation, the immutable table, and the error tree."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

import proxy.errors
import proxy.flags.stores
import proxy.modes
from proxy.errors import (
    FlagFileError,
    InvalidFlag,
    ProxyError,
    StoreError,
    StoreUnavailable,
    VersionConflict,
)
from proxy.modes import FlagChange, FlagTable, Mode, RouteFlag, split_route

ROUTE = "GET /api/v1/agents/{agent_id}"


def test_modes_are_the_five_agreed_strings() -> None:
    assert [mode.value for mode in Mode] == ["legacy", "new", "canary", "shadow", "shadow-new"]
    assert Mode.SHADOW_NEW == "shadow-new"
    assert f"{Mode.CANARY}" == "canary"


@pytest.mark.parametrize(
    ("route", "method", "path"),
    [
        pytest.param(
            "GET /api/v1/agents/{agent_id}", "GET", "/api/v1/agents/{agent_id}", id="param"
        ),
        pytest.param("DELETE /api/v1/chat/history", "DELETE", "/api/v1/chat/history", id="delete"),
        pytest.param("GET /", "GET", "/", id="root"),
    ],
)
def test_route_keys_split_into_method_and_path(route: str, method: str, path: str) -> None:
    assert split_route(route) == (method, path)
    flag = RouteFlag(route, Mode.LEGACY)
    assert (flag.method, flag.path) == (method, path)


@pytest.mark.parametrize(
    "route",
    [
        pytest.param("get /api/v1/agents", id="lower-case-method"),
        pytest.param("GET api/v1/agents", id="no-leading-slash"),
        pytest.param("GET  /api/v1/agents", id="two-spaces"),
        pytest.param("GET /api/v1/a b", id="space-in-path"),
        pytest.param("/api/v1/agents", id="no-method"),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_route_keys_are_rejected(route: str) -> None:
    with pytest.raises(InvalidFlag, match="METHOD /path"):
        RouteFlag(route, Mode.LEGACY)
    with pytest.raises(InvalidFlag):
        FlagChange(route, Mode.LEGACY)


def test_mode_given_as_a_string_becomes_a_mode() -> None:
    flag = RouteFlag(ROUTE, "shadow-new")  # type: ignore[arg-type]
    change = FlagChange(ROUTE, "canary", percent=5)  # type: ignore[arg-type]

    assert flag.mode is Mode.SHADOW_NEW
    assert change.mode is Mode.CANARY


def test_unknown_mode_names_the_route_and_the_valid_modes() -> None:
    with pytest.raises(InvalidFlag) as caught:
        FlagChange(ROUTE, "blue-green")  # type: ignore[arg-type]

    message = str(caught.value)
    assert ROUTE in message and "'blue-green'" in message
    assert "legacy, new, canary, shadow, shadow-new" in message
    assert caught.value.route == ROUTE


@pytest.mark.parametrize(
    "percent",
    [
        pytest.param(-1, id="negative"),
        pytest.param(101, id="over-100"),
        pytest.param(12.5, id="float"),
        pytest.param("10", id="string"),
        pytest.param(True, id="bool"),
    ],
)
def test_percent_outside_0_to_100_integers_is_rejected(percent: object) -> None:
    with pytest.raises(InvalidFlag, match="percent"):
        RouteFlag(ROUTE, Mode.CANARY, percent=percent)  # type: ignore[arg-type]
    with pytest.raises(InvalidFlag, match="percent"):
        FlagChange(ROUTE, Mode.CANARY, percent=percent)  # type: ignore[arg-type]


@pytest.mark.parametrize("percent", [0, 1, 50, 100])
def test_percent_bounds_are_inclusive(percent: int) -> None:
    assert RouteFlag(ROUTE, Mode.CANARY, percent=percent).percent == percent


def test_dry_run_must_be_a_bool_and_defaults_to_keep_in_a_change() -> None:
    assert FlagChange(ROUTE, Mode.SHADOW).dry_run is None
    assert RouteFlag(ROUTE, Mode.SHADOW).dry_run is False
    with pytest.raises(InvalidFlag, match="dry_run"):
        RouteFlag(ROUTE, Mode.SHADOW, dry_run="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidFlag, match="dry_run"):
        FlagChange(ROUTE, Mode.SHADOW, dry_run=1)  # type: ignore[arg-type]


def test_flags_are_frozen() -> None:
    flag = RouteFlag(ROUTE, Mode.LEGACY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        flag.mode = Mode.NEW  # type: ignore[misc]


def test_flag_table_is_a_read_only_snapshot_of_its_flags() -> None:
    source = {ROUTE: RouteFlag(ROUTE, Mode.NEW)}
    table = FlagTable(3, source)

    source["GET /x"] = RouteFlag("GET /x", Mode.LEGACY)
    with pytest.raises(TypeError):
        table.flags["GET /y"] = RouteFlag("GET /y", Mode.LEGACY)  # type: ignore[index]

    assert list(table.flags) == [ROUTE]
    assert len(table) == 1 and ROUTE in table and "GET /x" not in table
    assert table.get(ROUTE) == RouteFlag(ROUTE, Mode.NEW)
    assert table.get("GET /x") is None
    assert [flag.route for flag in table] == [ROUTE]


def test_flag_tables_compare_by_version_and_flags() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    flags = [RouteFlag(ROUTE, Mode.CANARY, 10, False, at, "alice")]

    assert FlagTable.from_flags(2, flags) == FlagTable(2, {ROUTE: flags[0]})
    assert FlagTable.from_flags(2, flags) != FlagTable.from_flags(3, flags)
    assert FlagTable(0) == FlagTable(0, {})


def test_error_tree_matches_the_docstring() -> None:
    assert issubclass(StoreError, ProxyError)
    assert issubclass(StoreUnavailable, StoreError)
    assert issubclass(VersionConflict, StoreError)
    assert issubclass(InvalidFlag, ProxyError) and issubclass(InvalidFlag, ValueError)
    assert issubclass(FlagFileError, InvalidFlag)
    assert not issubclass(InvalidFlag, StoreError)


def test_errors_carry_what_a_caller_needs_to_answer() -> None:
    conflict = VersionConflict(expected=4, actual=6)
    file_error = FlagFileError("proxy/flags.toml", "missing 'mode'", route=ROUTE)

    assert (conflict.expected, conflict.actual) == (4, 6)
    assert "6" in str(conflict) and "4" in str(conflict)
    assert str(file_error) == f"proxy/flags.toml: route {ROUTE!r}: missing 'mode'"
    assert (file_error.route, file_error.reason) == (ROUTE, "missing 'mode'")


@pytest.mark.parametrize(
    ("module", "names"),
    [
        pytest.param(
            proxy.modes,
            {
                "FlagChange",
                "FlagEvent",
                "FlagTable",
                "Mode",
                "RouteFlag",
                "SAFE_METHODS",
                "effective_flag",
                "mode_allowed",
                "parse_mode",
                "parse_percent",
                "split_route",
            },
            id="modes",
        ),
        pytest.param(
            proxy.errors,
            {
                "AdminProblem",
                "BulkheadConfigError",
                "ClientDisconnected",
                "CommandError",
                "FlagFileError",
                "HeadTooLarge",
                "InvalidFlag",
                "InvalidToken",
                "LifespanFailed",
                "MismatchStoreError",
                "ProxyError",
                "RejectedChange",
                "RejectedImport",
                "RulesError",
                "StoreError",
                "StoreMissing",
                "StoreUnavailable",
                "VersionConflict",
            },
            id="errors",
        ),
        pytest.param(
            proxy.flags.stores,
            {
                "FlagStore",
                "PostgresFlagStore",
                "RedisFlagStore",
                "SQLiteFlagStore",
                "VersionCallback",
                "open_store",
                "plan_changes",
            },
            id="stores",
        ),
    ],
)
def test_public_names_are_pinned(module: object, names: set[str]) -> None:
    assert set(module.__all__) == names  # type: ignore[attr-defined]
    for name in names:
        assert getattr(module, name) is not None
