"""Decisions: modes, shadow eligibility and sticky, monotonic canary buckets."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from proxy.modes import Mode, RouteFlag
from proxy.routing.decide import Decision, bucket_for, caller_identity, canary_bucket, decide

ROUTE = "GET /api/items"


def _token(sub: str) -> str:
    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'sub': sub, 'role': 'viewer'})}.c2lnbmF0dXJl"


def _scope(
    *, sub: str | None = None, client: str = "10.0.0.1", method: str = "GET"
) -> dict[str, Any]:
    headers = [(b"host", b"example")]
    if sub is not None:
        headers.append((b"authorization", f"Bearer {_token(sub)}".encode()))
    return {"type": "http", "method": method, "headers": headers, "client": (client, 5000)}


def _flag(mode: str, percent: int = 0, dry_run: bool = False, route: str = ROUTE) -> RouteFlag:
    return RouteFlag(route=route, mode=Mode(mode), percent=percent, dry_run=dry_run)


@pytest.mark.parametrize(
    ("mode", "method", "dry_run", "expected"),
    [
        pytest.param("legacy", "GET", False, Decision("legacy"), id="legacy"),
        pytest.param("new", "GET", False, Decision("new"), id="new"),
        pytest.param("shadow", "GET", False, Decision("legacy", "new"), id="shadow-safe"),
        pytest.param("shadow-new", "GET", False, Decision("new", "legacy"), id="shadow-new-safe"),
        pytest.param("shadow", "POST", False, Decision("legacy"), id="shadow-unsafe-no-dry-run"),
        pytest.param("shadow", "POST", True, Decision("legacy", "new"), id="shadow-unsafe-dry-run"),
        pytest.param("shadow-new", "DELETE", False, Decision("new"), id="shadow-new-unsafe"),
        pytest.param("canary", "GET", False, Decision("legacy"), id="canary-0"),
    ],
)
def test_modes_decide_primary_and_shadow(
    mode: str, method: str, dry_run: bool, expected: Decision
) -> None:
    route = f"{method} /api/items"
    assert decide(_flag(mode, dry_run=dry_run, route=route), _scope(method=method)) == expected


def test_canary_at_100_sends_everyone_to_new() -> None:
    decisions = {decide(_flag("canary", 100), _scope(sub=f"u{i}")).primary for i in range(200)}
    assert decisions == {"new"}


def test_canary_share_is_close_to_the_percentage_over_many_users() -> None:
    users = 20_000
    for percent in (1, 10, 25, 50, 90):
        flag = _flag("canary", percent)
        to_new = sum(decide(flag, _scope(sub=f"user-{i}")).primary == "new" for i in range(users))
        share = to_new / users * 100
        assert abs(share - percent) < 1.5, (percent, share)


def test_canary_is_sticky_per_user_across_requests_and_addresses() -> None:
    flag = _flag("canary", 30)
    for i in range(300):
        first = decide(flag, _scope(sub=f"user-{i}", client="10.0.0.1")).primary
        again = decide(flag, _scope(sub=f"user-{i}", client="192.168.9.9")).primary
        assert first == again


def test_raising_the_percentage_never_moves_a_user_back_to_legacy() -> None:
    users = [f"user-{i}" for i in range(2000)]
    on_new: set[str] = set()
    for percent in range(0, 101, 5):
        flag = _flag("canary", percent)
        now_new = {u for u in users if decide(flag, _scope(sub=u)).primary == "new"}
        assert on_new <= now_new, percent
        on_new = now_new
    assert on_new == set(users)


def test_canary_falls_back_to_the_client_address_without_a_token() -> None:
    assert caller_identity(_scope(client="10.1.2.3")) == "addr:10.1.2.3"
    assert canary_bucket(_scope(client="10.1.2.3")) == bucket_for("addr:10.1.2.3")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(b"Bearer not-a-jwt", id="not-a-jwt"),
        pytest.param(b"Bearer a.!!!.c", id="bad-base64"),
        pytest.param(b"Basic dXNlcjpwYXNz", id="basic-auth"),
        pytest.param(b"Bearer " + _token("").encode(), id="empty-sub"),
    ],
)
def test_unusable_tokens_fall_back_to_the_client_address(authorization: bytes) -> None:
    scope = _scope(client="10.9.9.9")
    scope["headers"].append((b"authorization", authorization))
    assert caller_identity(scope) == "addr:10.9.9.9"


def test_the_token_subject_is_the_identity() -> None:
    assert caller_identity(_scope(sub="alice")) == "sub:alice"


def test_buckets_cover_the_whole_range() -> None:
    buckets = {bucket_for(f"user-{i}") for i in range(5000)}
    assert buckets == set(range(100))
