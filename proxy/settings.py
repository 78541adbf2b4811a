"""Read the proxy's configuration from ``STRANGLER_*`` environment variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["DEFAULT_FLAG_FILE", "ProxySettings", "describe_settings_error"]

#: The table the proxy ships with: every route of the Resync API on the legacy side.
DEFAULT_FLAG_FILE = Path(__file__).resolve().parent / "flags.toml"


class ProxySettings(BaseSettings):
    """Everything the strangler proxy can be told; defaults run on one machine."""

    model_config = SettingsConfigDict(env_prefix="STRANGLER_", extra="ignore")

    flag_store_url: str = "sqlite:///var/strangler-flags.db"
    flag_file: Path = DEFAULT_FLAG_FILE
    poll_interval: float = Field(default=0.2, gt=0)
    legacy_threads: int = Field(default=32, ge=1, le=1024)
    # Niceness added to the legacy pool's threads (Linux), so that at a saturated core the event
    # loop (the new app, every request's I/O) is not out-scheduled by busy legacy threads.
    legacy_nice: int = Field(default=0, ge=0, le=19)
    # How many response messages a2wsgi may queue between the WSGI thread and the event loop.
    legacy_send_queue: int = Field(default=10, ge=1)
    # Bulkheads (routing.bulkhead): per route and side, at most so many requests inside the app at
    # once; a request over the limit waits up to bulkhead_wait seconds in a queue of at most
    # bulkhead_queue, then is answered 503 with Retry-After. Off: no limit anywhere.
    bulkhead: bool = True
    # Legacy: each route may use the pool but for a reserve kept for every other route. Unset,
    # the reserve is max(min(4, threads // 2), ceil(threads / 4)) (8 of 32 threads: a cap of 24).
    bulkhead_legacy_limit: int | None = Field(default=None, ge=1)
    bulkhead_legacy_reserve: int | None = Field(default=None, ge=0)
    # New side: 0 means no limit (the default: the async app is not bounded by a pool).
    bulkhead_new_limit: int = Field(default=0, ge=0)
    # Per-route limits: "METHOD /path=limit" pairs separated by commas, or a JSON object
    # {"METHOD /path": limit}; 0 lifts the limit for that route.
    bulkhead_legacy_routes: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    bulkhead_new_routes: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    # Waiters per route and side (unset: twice the legacy pool), and how long each may wait.
    bulkhead_queue: int | None = Field(default=None, ge=0, le=100_000)
    bulkhead_wait: float = Field(default=1.0, ge=0, le=60)
    # The Retry-After (whole seconds) of a 503 from a full bulkhead.
    bulkhead_retry_after: int = Field(default=1, ge=0, le=3600)
    served_by_headers: bool = True
    access_log: bool = True
    # Once started, move everything the apps built at import and startup into the collector's
    # permanent generation (gc.freeze): full collections then scan only what requests allocate.
    # Process-wide, so off for an embedded proxy; ``resync-strangler serve`` turns it on.
    gc_freeze: bool = False
    # Gather stdout (log lines) into 64 KiB writes flushed every half second instead of one
    # write per line (telemetry.accesslog.buffer_stdout); ``resync-strangler serve`` turns it on.
    buffer_stdout: bool = False
    stats_window: int = Field(default=60, ge=1, le=3600)
    shadow_sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    shadow_max_concurrency: int = Field(default=8, ge=1)
    shadow_body_limit: int = Field(default=1024 * 1024, ge=0)
    # Seconds a shadow call may take before it counts as an error.
    shadow_timeout: float = Field(default=10.0, gt=0)
    # Ask the primary a shadowed safe request twice and ignore what differs between its own two
    # answers (timestamps, ids): more load on the primary, fewer false mismatches.
    shadow_learn_noise: bool = False
    mismatch_limit: int = Field(default=1000, ge=1)
    # A SQLite file shared by all workers (and read by the CLI); empty keeps mismatches in memory.
    mismatch_db: Path | None = Path("var/strangler-mismatches.db")
    # Addresses (or CIDR networks, comma-separated, "*" for any) of the reverse proxies whose
    # X-Forwarded-For / X-Forwarded-Proto are believed. Empty: nobody's, so a client cannot pick
    # the address the login lockout, the canary bucket and the logs see.
    forwarded_allow_ips: str = ""
    # Bytes of request line and headers (names, values, separators) a request may carry before
    # it is answered 431; a JWT is under 1 KiB, a browser's cookies a few KiB.
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    # Seconds a request body may pause between two chunks, and may take in all, before 408.
    body_idle_timeout: float = Field(default=10.0, gt=0)
    body_total_timeout: float = Field(default=60.0, gt=0)
    # The rollout autopilot (proxy.rollout): every worker publishes its figures and competes for
    # the lease each interval; the holder drives the plans. Off: plans are stored but not run.
    autopilot: bool = True
    autopilot_interval: float = Field(default=1.0, gt=0, le=60)
    autopilot_lease_ttl: float = Field(default=5.0, gt=0, le=600)
    # A URL that gets a JSON POST for every step, rollback and pause (empty: none).
    autopilot_webhook_url: str | None = None
    autopilot_webhook_queue: int = Field(default=100, ge=1, le=100_000)
    # Tester override: a header and/or cookie (names; empty = off) whose value, legacy or new,
    # forces that side for the caller, honoured only for a bearer token whose role is listed.
    override_header: str | None = None
    override_cookie: str | None = None
    # Comma-separated roles whose tokens may use the override (empty: nobody, override off).
    override_roles: str = ""

    # Traffic capture (proxy.traffic): a policy file (per-route sample rate and body limit) turns
    # it on; unset or empty, nothing is captured.
    capture_file: Path | None = None
    capture_store_url: str = "sqlite:///var/strangler-capture.db"
    capture_max_records: int = Field(default=10_000, ge=1)
    capture_max_age: float = Field(default=7 * 24 * 3600.0, gt=0)
    # Exchanges waiting for the capture writer; beyond that they are dropped and counted.
    capture_queue: int = Field(default=1024, ge=1)

    @field_validator("bulkhead_legacy_routes", "bulkhead_new_routes", mode="before")
    @classmethod
    def _parse_route_limits(cls, value: object) -> object:
        """Read ``GET /a=4, POST /b=2`` or ``{"GET /a": 4}``; empty means no per-route limit."""
        if value is None:
            return {}
        if not isinstance(value, str):
            return value
        text = value.strip()
        if not text:
            return {}
        if text.startswith("{"):
            try:
                return json.loads(text)
            except ValueError as exc:
                raise ValueError(f"not a JSON object of route limits: {exc}") from None
        limits: dict[str, str] = {}
        for item in text.split(","):
            if not item.strip():
                continue
            route, equals, limit = item.rpartition("=")
            if not equals:
                raise ValueError(
                    f'{item.strip()!r} is not "METHOD /path=limit" (e.g. "GET /api/v1/agents=8")'
                )
            limits[route.strip()] = limit.strip()
        return limits

    @field_validator("bulkhead_legacy_routes", "bulkhead_new_routes")
    @classmethod
    def _route_limits(cls, value: dict[str, int]) -> dict[str, int]:
        """Keys are route keys (``"GET /api/v1/agents"``), limits whole numbers from 0."""
        checked: dict[str, int] = {}
        for key, limit in value.items():
            method, _, path = key.strip().partition(" ")
            if not method.isalpha() or not method.isupper() or not path.startswith("/"):
                raise ValueError(f'{key!r} is not a route key like "GET /api/v1/agents"')
            if limit < 0:
                raise ValueError(f"{key!r}: the limit must be 0 (no limit) or more, not {limit}")
            checked[f"{method} {path.strip()}"] = limit
        return checked

    @model_validator(mode="after")
    def _bulkheads_fit_the_pool(self) -> ProxySettings:
        """A legacy limit or reserve that the pool cannot honour is a configuration error."""
        threads = self.legacy_threads
        if self.bulkhead_legacy_limit is not None and self.bulkhead_legacy_reserve is not None:
            raise ValueError(
                "set STRANGLER_BULKHEAD_LEGACY_LIMIT or STRANGLER_BULKHEAD_LEGACY_RESERVE, not both"
            )
        if self.bulkhead_legacy_limit is not None and self.bulkhead_legacy_limit > threads:
            raise ValueError(
                f"STRANGLER_BULKHEAD_LEGACY_LIMIT ({self.bulkhead_legacy_limit}) exceeds "
                f"STRANGLER_LEGACY_THREADS ({threads})"
            )
        if self.bulkhead_legacy_reserve is not None and self.bulkhead_legacy_reserve >= threads:
            raise ValueError(
                f"STRANGLER_BULKHEAD_LEGACY_RESERVE ({self.bulkhead_legacy_reserve}) must be "
                f"below STRANGLER_LEGACY_THREADS ({threads}): every route needs one thread"
            )
        for key, limit in self.bulkhead_legacy_routes.items():
            if limit > threads:
                raise ValueError(
                    f"STRANGLER_BULKHEAD_LEGACY_ROUTES: {key!r} has a limit of {limit}, above "
                    f"STRANGLER_LEGACY_THREADS ({threads})"
                )
        return self

    @property
    def legacy_route_limit(self) -> int:
        """The concurrency limit of a legacy route without its own (the pool minus a reserve)."""
        threads = self.legacy_threads
        if self.bulkhead_legacy_limit is not None:
            return self.bulkhead_legacy_limit
        reserve = self.bulkhead_legacy_reserve
        if reserve is None:
            reserve = max(min(4, threads // 2), -(-threads // 4))
        return max(1, threads - reserve)

    @property
    def bulkhead_queue_size(self) -> int:
        """Requests that may wait for a full route (per route and side)."""
        if self.bulkhead_queue is not None:
            return self.bulkhead_queue
        return 2 * self.legacy_threads

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _normalise_addresses(cls, value: object) -> object:
        """Read ``"10.0.0.1, 10.0.0.2"`` as ``"10.0.0.1,10.0.0.2"``; ``None`` as empty."""
        if value is None:
            return ""
        if isinstance(value, str):
            return ",".join(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("autopilot_webhook_url", "override_header", "override_cookie", mode="before")
    @classmethod
    def _empty_means_off(cls, value: object) -> object:
        """Read an empty variable as unset (off)."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def override_role_set(self) -> frozenset[str]:
        """The roles of ``STRANGLER_OVERRIDE_ROLES`` (``tester,admin``)."""
        return frozenset(part.strip() for part in self.override_roles.split(",") if part.strip())

    @field_validator("mismatch_db", "capture_file", mode="before")
    @classmethod
    def _empty_means_in_memory(cls, value: object) -> object:
        """Read ``STRANGLER_MISMATCH_DB=`` (empty) as unset: ``Path("")`` would be ``.``."""
        if isinstance(value, str) and not value.strip():
            return None
        return value


def describe_settings_error(exc: Exception) -> str:
    """One line per bad value, naming its ``STRANGLER_*`` variable (for a startup error)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = []
    for error in errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        name = f"STRANGLER_{where.split('.')[0].upper()}" if where else "settings"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "; ".join(lines)
