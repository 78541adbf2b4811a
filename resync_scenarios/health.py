"""Parity scenarios for the health probes (``/health/live``, ``/health/ready``)."""

from __future__ import annotations

from resync_scenarios.builders import by_role
from resync_scenarios.model import Scenario

__all__ = ["scenarios"]


def scenarios() -> list[Scenario]:
    """Return the health scenarios (no auth needed), in suite order."""
    s: list[Scenario] = []

    # --- health (no auth) -------------------------------------------------------------------
    s += by_role("live", "GET /health/live", "/health/live", None)
    s += by_role("ready", "GET /health/ready", "/health/ready", None)
    s += [
        Scenario(
            "ready-tws-down",
            "GET /health/ready",
            "/health/ready",
            expect=503,
            tws={"error_rate": 1.0},
        ),
        Scenario("live-head", "GET /health/live", "/health/live", method="HEAD", expect=200),
        Scenario("live-post-405", "GET /health/live", "/health/live", method="POST", expect=405),
    ]
    return s
