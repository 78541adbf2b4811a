"""Parity scenarios for ``/api/v1/agents``, plus unknown paths (404 on both sides)."""

from __future__ import annotations

from resync_scenarios.builders import A, broken_credentials, by_role, pagination
from resync_scenarios.model import Scenario

__all__ = ["scenarios"]


def scenarios() -> list[Scenario]:
    """Return the agents scenarios, in suite order."""
    s: list[Scenario] = []

    # --- agents -----------------------------------------------------------------------------
    s += by_role("agents", "GET /api/v1/agents", f"{A}/agents", "viewer")
    s += pagination("agents", "GET /api/v1/agents", f"{A}/agents", "viewer")
    s += broken_credentials("agents", "GET /api/v1/agents", f"{A}/agents")
    detail = "GET /api/v1/agents/{agent_id}"
    s += by_role("agent", detail, f"{A}/agents/tws-troubleshooting", "viewer")
    s += [
        Scenario("agent-general", detail, f"{A}/agents/tws-general", auth="viewer", expect=200),
        Scenario("agent-unknown", detail, f"{A}/agents/nope", auth="viewer", expect=404),
        Scenario("agent-unknown-anonymous", detail, f"{A}/agents/nope", expect=401),
        Scenario("agent-encoded-slash", detail, f"{A}/agents/a%2Fb", auth="viewer", expect=404),
        Scenario("agent-unicode", detail, f"{A}/agents/%C3%BCber", auth="viewer", expect=404),
        Scenario(
            "agent-delete-405",
            detail,
            f"{A}/agents/tws-general",
            auth="admin",
            method="DELETE",
            expect=405,
        ),
        Scenario(
            "agents-options-405",
            "GET /api/v1/agents",
            f"{A}/agents",
            auth="viewer",
            method="OPTIONS",
            expect=405,
        ),
        Scenario(
            "agents-head",
            "GET /api/v1/agents",
            f"{A}/agents",
            auth="viewer",
            method="HEAD",
            expect=200,
        ),
        Scenario(
            "agents-post-405",
            "GET /api/v1/agents",
            f"{A}/agents",
            auth="admin",
            method="POST",
            json={},
            expect=405,
        ),
        Scenario(
            "agents-trailing-slash", "GET /api/v1/agents", f"{A}/agents/", auth="viewer", expect=404
        ),
        Scenario("unknown-path", "(unknown)", f"{A}/does-not-exist", auth="viewer", expect=404),
        Scenario("unknown-path-anonymous", "(unknown)", "/nothing/here", expect=404),
        Scenario("double-slash", "(unknown)", f"{A}//agents", auth="viewer", expect=404),
    ]
    return s
