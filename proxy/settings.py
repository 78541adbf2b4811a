"""Read the proxy's configuration from ``STRANGLER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_FLAG_FILE", "ProxySettings"]

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
    served_by_headers: bool = True
    access_log: bool = True
    # Once started, move everything the apps built at import and startup into the collector's
    # permanent generation (gc.freeze): full collections then scan only what requests allocate.
    # Process-wide, so off for an embedded proxy; ``resync-strangler serve`` turns it on.
    gc_freeze: bool = False
    # Gather stdout (log lines) into 64 KiB writes flushed every half second instead of one
    # write per line (see proxy.accesslog.buffer_stdout); ``resync-strangler serve`` turns it on.
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
