"""Helpers the per-resource modules share: paths, the per-role and pagination families, steps."""

from __future__ import annotations

from typing import Any

from resync_scenarios.model import BROKEN_CREDENTIALS, ROLE_RANK, ROLES, Scenario

__all__ = ["CHAT", "CHAT_HELP", "LOGIN", "A", "broken_credentials", "by_role", "pagination"]

A = "/api/v1"
LOGIN = f"{A}/auth/login"
CHAT = f"{A}/chat"

#: An operator's chat message, a step before scenarios that need a chat row (chat, audit).
CHAT_HELP = Scenario(
    "chat-step",
    "POST /api/v1/chat",
    CHAT,
    auth="operator",
    json={"agent_id": "tws-general", "message": "hello there"},
)


def by_role(
    prefix: str, route: str, path: str, minimum: str | None, ok: int = 200, **options: Any
) -> list[Scenario]:
    """Scenarios for no token and each role: below ``minimum`` 403, from it ``ok``."""
    found = [
        Scenario(
            f"{prefix}-anonymous",
            route,
            path,
            auth=None,
            expect=ok if minimum is None else 401,
            **options,
        )
    ]
    for role in ROLES:
        allowed = minimum is None or ROLE_RANK[role] >= ROLE_RANK[minimum]
        found.append(
            Scenario(
                f"{prefix}-{role}", route, path, auth=role, expect=ok if allowed else 403, **options
            )
        )
    return found


def pagination(prefix: str, route: str, path: str, auth: str) -> list[Scenario]:
    cases = [
        ("limit-0", (("limit", "0"),), 400),
        ("limit-101", (("limit", "101"),), 400),
        ("limit-100", (("limit", "100"),), 200),
        ("limit-1-offset-2", (("limit", "1"), ("offset", "2")), 200),
        ("limit-text", (("limit", "ten"),), 400),
        ("limit-float", (("limit", "1.5"),), 400),
        ("limit-empty", (("limit", ""),), 400),
        ("offset-negative", (("offset", "-1"),), 400),
        ("offset-text", (("offset", "x"),), 400),
        ("offset-beyond", (("offset", "100000"),), 200),
        ("offset-max", (("offset", "2147483647"),), 200),
        ("offset-over-max", (("offset", "2147483648"),), 400),
        ("offset-2-63", (("offset", "9223372036854775808"),), 400),
        ("offset-huge", (("offset", "12544549502980688017469997056"),), 400),
        ("limit-and-offset-bad", (("limit", "0"), ("offset", "-5")), 400),
    ]
    return [
        Scenario(f"{prefix}-page-{name}", route, path, auth=auth, query=query, expect=expect)
        for name, query, expect in cases
    ]


def broken_credentials(prefix: str, route: str, path: str, **options: Any) -> list[Scenario]:
    return [
        Scenario(f"{prefix}-token-{kind}", route, path, auth=kind, expect=401, **options)
        for kind in BROKEN_CREDENTIALS
    ]
