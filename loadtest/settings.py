"""What a bench run is parametrised by: its scenarios, its systems and :class:`BenchSettings`.

Shared by the bench (``loadtest/bench.py``, which runs them), the soak (``loadtest/soak.py``,
which reuses the settings for its simulator) and the report (``loadtest/report.py``, which
rebuilds the settings from a ``results.json``), so that none of them imports another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from loadtest.databases import DATABASE_KINDS, DEFAULT_POSTGRES_URL
from loadtest.servers import REPO_ROOT
from loadtest.sweep import SWEEP_LATENCIES

__all__ = [
    "BURST_APPS",
    "REPORTS_DIR",
    "SCENARIOS",
    "SWEEP_SYSTEMS",
    "SYSTEMS",
    "BenchSettings",
    "Scenario",
    "System",
]

REPORTS_DIR = REPO_ROOT / "loadtest" / "reports"


@dataclass(frozen=True, slots=True)
class Scenario:
    """What the simulated users do: one Locust user class and the route it loads."""

    name: str
    user_class: str
    route: str  # the flag key, "GET /api/v1/agents" (the one a shadow system shadows)
    locust_args: tuple[str, ...] = ()  # more Locust options for this scenario

    @property
    def path(self) -> str:
        """The route's path."""
        return self.route.split(" ", 1)[1]


@dataclass(frozen=True, slots=True)
class System:
    """One way to serve the API: a server kind and, for the proxy, how its flags are set."""

    name: str
    kind: str  # "gunicorn" | "uvicorn" | "proxy"
    label: str
    proxy_mode: str | None = None  # "legacy" | "new" | "canary" | "shadow"
    percent: int = 0


SCENARIOS = {
    "agents": Scenario("agents", "AgentsUser", "GET /api/v1/agents"),
    "jobs": Scenario("jobs", "JobsUser", "GET /api/v1/status/jobs"),
    # every resource, weighted as an operator's day, without the pauses (a closed loop)
    "operator": Scenario(
        "operator", "ResyncOperator", "GET /api/v1/status/jobs", ("--think-time", "0")
    ),
}
SYSTEMS = {
    system.name: system
    for system in (
        System("gunicorn", "gunicorn", "legacy Flask, gunicorn"),
        System("proxy-legacy", "proxy", "proxy, every route on legacy", "legacy"),
        System("uvicorn", "uvicorn", "FastAPI, uvicorn"),
        System("proxy-new", "proxy", "proxy, every route on new", "new"),
        System("proxy-canary50", "proxy", "proxy, canary 50 % to new", "canary", 50),
        System("proxy-shadow", "proxy", "proxy, measured route in shadow", "shadow"),
    )
}
SWEEP_SYSTEMS = {
    system.name: system
    for system in (
        System("gunicorn", "gunicorn", "legacy Flask, gunicorn, the same threads"),
        System("gunicorn-sized", "gunicorn", "legacy Flask, gunicorn, threads sized to latency"),
        System("uvicorn", "uvicorn", "FastAPI, uvicorn"),
    )
}
BURST_APPS = ("gunicorn", "uvicorn")


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """Everything a bench run is parametrised by (the command-line options)."""

    duration: int = 20
    users: int = 50
    spawn_rate: float = 50.0
    warmup: int = 5
    latency_ms: int = 20
    systems: tuple[str, ...] = tuple(SYSTEMS)
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    databases: tuple[str, ...] = DATABASE_KINDS
    postgres_url: str = DEFAULT_POSTGRES_URL
    sweep: tuple[int, ...] = SWEEP_LATENCIES  # TWS latencies of the sweep; () for none
    sweep_users: int = 100
    sweep_duration: int = 15
    burst: tuple[str, ...] = BURST_APPS  # apps the burst hits; () for none
    burst_requests: int = 240
    burst_timeout: float = 2.0  # the servers' RESYNC_TWS_TIMEOUT during the burst
    burst_hang: float = 30.0  # how long each TWS call hangs
    burst_client_timeout: float = 120.0
    legacy_threads: int = 8
    server_core: int | None = 0
    client_core: int | None = 1
    log_level: str = "INFO"
    html: bool = False
    label: str = ""  # report folder suffix: loadtest/reports/<date>-<label>
    report_dir: Path = REPORTS_DIR
    work_dir: Path = REPO_ROOT / "var" / "bench"
    command: str = ""

    @property
    def run_time(self) -> int:
        """Locust's ``--run-time``: the ramp, the warm-up, then the measured duration."""
        return self.run_time_for(self.users, self.duration)

    def run_time_for(self, users: int, duration: int) -> int:
        """``--run-time`` of a run with ``users`` users measured for ``duration`` seconds."""
        return math.ceil(users / self.spawn_rate) + self.warmup + duration
