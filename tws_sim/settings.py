"""Hold the simulator's settings: the server's fixed ones and the run-time fault ones.

``ServerSettings`` is read once at start (environment, then command line). ``FaultSettings`` is
an immutable value; the running app swaps whole values (see :mod:`tws_sim.faults`) so a request
never sees half of an update.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tws_sim.errors import InvalidSettings

__all__ = ["FaultSettings", "ServerSettings"]

_RATE_FIELDS = ("error_rate", "timeout_rate", "reset_rate")
_DURATION_FIELDS = ("latency_ms", "jitter_ms", "timeout_seconds")


def _number(name: str, value: Any) -> float:
    # bool is an int subclass; ``true`` is never a sensible latency.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSettings(f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidSettings(f"{name} must be finite")
    return number


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Latency and fault injection for /twsd requests; validated on construction."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    reset_rate: float = 0.0
    timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        for name in _DURATION_FIELDS:
            value = _number(name, getattr(self, name))
            if value < 0:
                raise InvalidSettings(f"{name} must be >= 0")
            object.__setattr__(self, name, value)
        for name in _RATE_FIELDS:
            value = _number(name, getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise InvalidSettings(f"{name} must be between 0 and 1")
            object.__setattr__(self, name, value)

    def updated(self, changes: Mapping[str, Any]) -> FaultSettings:
        """Return a copy with ``changes`` applied; unknown keys are an error, not ignored."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise InvalidSettings(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **dict(changes))

    def as_dict(self) -> dict[str, float]:
        """Return the settings as the JSON object ``GET /_control`` answers."""
        return {name: getattr(self, name) for name in self.field_names()}

    @staticmethod
    def field_names() -> tuple[str, ...]:
        """Return the names a client may set, in display order."""
        return (*_DURATION_FIELDS[:2], *_RATE_FIELDS, _DURATION_FIELDS[2])

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FaultSettings:
        """Read ``TWS_SIM_LATENCY_MS``, ``TWS_SIM_ERROR_RATE``... (unset means default)."""
        environ = os.environ if environ is None else environ
        values: dict[str, float] = {}
        for name in cls.field_names():
            raw = environ.get(f"TWS_SIM_{name.upper()}", "").strip()
            if not raw:
                continue
            try:
                values[name] = float(raw)
            except ValueError as exc:
                raise InvalidSettings(f"TWS_SIM_{name.upper()} must be a number") from exc
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Where the simulator listens, which data set it serves and whom it lets in."""

    host: str = "127.0.0.1"
    port: int = 8100
    seed: int = 42
    user: str = "twsuser"
    password: str = "twspass"  # noqa: S105 - the documented simulator default, not a secret
    access_log: bool = False
    faults: FaultSettings = dataclasses.field(default_factory=FaultSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        """Read ``TWS_SIM_HOST``, ``TWS_SIM_PORT``, ``TWS_SIM_SEED``, ``TWS_SIM_USER``..."""
        environ = os.environ if environ is None else environ
        defaults = cls()

        def integer(name: str, default: int) -> int:
            raw = environ.get(name, "").strip()
            try:
                return int(raw) if raw else default
            except ValueError as exc:
                raise InvalidSettings(f"{name} must be an integer") from exc

        access_log = environ.get("TWS_SIM_ACCESS_LOG", "").strip().lower()
        return cls(
            host=environ.get("TWS_SIM_HOST", "").strip() or defaults.host,
            port=integer("TWS_SIM_PORT", defaults.port),
            seed=integer("TWS_SIM_SEED", defaults.seed),
            user=environ.get("TWS_SIM_USER", defaults.user),
            password=environ.get("TWS_SIM_PASSWORD", defaults.password),
            access_log=access_log in {"1", "true", "yes", "on"},
            faults=FaultSettings.from_env(environ),
        )
