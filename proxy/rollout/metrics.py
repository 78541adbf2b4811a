"""Count what the autopilot does, in the proxy's own Prometheus registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["RolloutMetrics"]


class RolloutMetrics:
    """Steps, rollbacks, lease, webhook outcomes and tester overrides."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.steps_total = Counter(
            "strangler_autopilot_steps_total",
            "Plan steps the autopilot applied, by route.",
            ["route"],
            registry=registry,
        )
        self.rollbacks_total = Counter(
            "strangler_autopilot_rollbacks_total",
            "Automatic rollbacks after a failed gate, by route.",
            ["route"],
            registry=registry,
        )
        self.lease_held = Gauge(
            "strangler_autopilot_lease_held",
            "1 while this worker holds the autopilot lease (drives the plans), else 0.",
            registry=registry,
        )
        self.store_refused = Gauge(
            "strangler_autopilot_store_refused",
            "1 while the autopilot changes no flag because the flag store is missing or its "
            "table is refused by this proxy, else 0.",
            registry=registry,
        )
        self.notifications_total = Counter(
            "strangler_autopilot_notifications_total",
            "Webhook notifications by result (sent, failed, dropped).",
            ["result"],
            registry=registry,
        )
        self.overrides_total = Counter(
            "strangler_side_overrides_total",
            "Requests a tester forced onto one side, by route and side.",
            ["route", "side"],
            registry=registry,
        )
