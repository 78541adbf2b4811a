"""Define a rollout plan: the steps a route moves through and the gates each step must pass.

A plan is data. It is written as one line an operator can read::

    shadow 5m -> canary 1% 5m -> 5% -> 25% -> 50% -> new 10m -> shadow-new 30m -> new

Each step names a mode (``shadow``, ``canary N%`` or just ``N%``, ``new``, ``shadow-new``) and,
optionally, how long it must last (``30s``, ``5m``, ``1h``) and how many requests it must see
(``200req``) before it can pass; steps that say neither take the plan's defaults. The last step is
where the plan ends: once it is applied the plan is done. :class:`Gates` holds the thresholds a
step is judged against (per plan; the defaults are :data:`DEFAULT_GATES`).

The same plan is accepted as a TOML table (``[plans."GET /api/v1/agents"]`` in the flag file), as
JSON in the admin API and as the text above on the command line; :func:`plan_from_mapping`
reads the first two, :func:`parse_steps` the third. Anything malformed raises
:class:`~proxy.errors.InvalidFlag` naming what is wrong; nothing is half-accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from proxy.errors import InvalidFlag
from proxy.modes import Mode, split_route

__all__ = [
    "DEFAULT_GATES",
    "ROLLBACK_TARGETS",
    "Gates",
    "Plan",
    "Step",
    "format_steps",
    "parse_duration",
    "parse_steps",
    "plan_from_mapping",
]

ROLLBACK_TARGETS = ("legacy", "last-good")
_STEP_MODES = {Mode.SHADOW, Mode.CANARY, Mode.NEW, Mode.SHADOW_NEW}
_DURATION = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PERCENT = re.compile(r"^(?P<value>\d{1,3})%$")
_REQUESTS = re.compile(r"^(?P<value>\d+)req$")
MAX_STEPS = 32


def parse_duration(text: str) -> float:
    """Return seconds for ``500ms``, ``30s``, ``5m``, ``1h`` (or a bare number of seconds)."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        match = _DURATION.match(value)
        if match is None:
            raise InvalidFlag(f"{text!r} is not a duration (like 30s, 5m, 1h)") from None
        seconds = float(match["value"]) * _UNITS[match["unit"]]
    if not 0 <= seconds <= 7 * 86400:
        raise InvalidFlag(f"duration {text!r} must be between 0 and 7 days")
    return seconds


def _format_duration(seconds: float) -> str:
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True, slots=True)
class Gates:
    """The thresholds a step is judged against; every figure is over the step's own window.

    ``max_error_rate_increase``: how far the new side's 5xx rate may exceed legacy's (absolute,
    0.01 = one point). ``max_p95_ratio``: new p95 latency over legacy's. ``latency_alpha`` and
    ``max_slower_probability``: the new side fails the latency comparison when a one-sided
    Mann-Whitney U test says it is slower at significance ``latency_alpha`` *and* a random new
    request is slower than a random legacy one with probability above ``max_slower_probability``
    (0.5 means "the same"): significance alone would fail tiny differences on large samples.
    ``max_mismatch_rate``: shadow mismatches and candidate errors over comparisons (noise the
    comparator learned is not a mismatch). ``max_drop_rate``: above it the step's comparisons
    were mostly dropped and the step is not judged at all. ``min_samples``: requests per side
    (or comparisons) before a gate may fail a step early, before its minimum duration.
    """

    max_error_rate_increase: float = 0.01
    max_p95_ratio: float = 1.5
    latency_alpha: float = 0.01
    max_slower_probability: float = 0.6
    max_mismatch_rate: float = 0.01
    max_drop_rate: float = 0.5
    min_samples: int = 20

    def __post_init__(self) -> None:
        for name in (
            "max_error_rate_increase",
            "latency_alpha",
            "max_slower_probability",
            "max_mismatch_rate",
            "max_drop_rate",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InvalidFlag(f"gate {name} must be a number from 0 to 1, not {value!r}")
        ratio = self.max_p95_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or ratio < 1:
            raise InvalidFlag(f"gate max_p95_ratio must be a number >= 1, not {ratio!r}")
        samples = self.min_samples
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise InvalidFlag(f"gate min_samples must be an integer >= 1, not {samples!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: Gates | None = None) -> Gates:
        """Override ``base`` (the defaults) with the keys given; unknown keys are refused."""
        allowed = {f.name for f in fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise InvalidFlag(
                f"unknown gate(s) {sorted(unknown)} (allowed: {', '.join(sorted(allowed))})"
            )
        return replace(base or DEFAULT_GATES, **dict(data))

    def as_json(self) -> dict[str, Any]:
        """Return the thresholds as a plain dict."""
        return asdict(self)


DEFAULT_GATES = Gates()


@dataclass(frozen=True, slots=True)
class Step:
    """One step: the flag it sets and how long, and over how many requests, it must hold."""

    mode: Mode
    percent: int = 0
    min_duration: float | None = None
    min_requests: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in _STEP_MODES:
            raise InvalidFlag(f"a plan step cannot be {self.mode.value!r} (plans move to new)")
        if self.mode is Mode.CANARY and not 1 <= self.percent <= 99:
            raise InvalidFlag(f"a canary step needs a percent from 1 to 99, not {self.percent}")
        if self.mode is not Mode.CANARY and self.percent:
            raise InvalidFlag(f"only canary steps take a percent ({self.mode.value})")
        if self.min_requests is not None and self.min_requests < 0:
            raise InvalidFlag("min_requests must not be negative")

    @property
    def label(self) -> str:
        """The step as the plan line writes it (``canary 5%``)."""
        return f"canary {self.percent}%" if self.mode is Mode.CANARY else self.mode.value

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "percent": self.percent,
            "min_duration": self.min_duration,
            "min_requests": self.min_requests,
        }


def _parse_step(text: str) -> Step:
    words = text.split()
    if not words:
        raise InvalidFlag("empty step (two arrows in a row?)")
    head, rest = words[0], words[1:]
    percent = 0
    if (match := _PERCENT.match(head)) is not None:
        mode, percent = Mode.CANARY, int(match["value"])
    else:
        try:
            mode = Mode(head)
        except ValueError:
            raise InvalidFlag(
                f"step {text!r}: unknown mode {head!r} (shadow, canary N%, N%, new, shadow-new)"
            ) from None
        if mode is Mode.CANARY:
            if not rest or (match := _PERCENT.match(rest[0])) is None:
                raise InvalidFlag(f"step {text!r}: canary needs a percent (canary 5%)")
            percent, rest = int(match["value"]), rest[1:]
    duration: float | None = None
    requests: int | None = None
    for word in rest:
        if (match := _REQUESTS.match(word)) is not None:
            requests = int(match["value"])
        else:
            try:
                duration = parse_duration(word)
            except InvalidFlag:
                raise InvalidFlag(
                    f"step {text!r}: {word!r} is neither a duration (5m) nor a count (200req)"
                ) from None
    return Step(mode, percent, duration, requests)


def parse_steps(text: str) -> tuple[Step, ...]:
    """Parse ``shadow 5m -> canary 1% 5m -> ... -> new`` into steps."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidFlag("a plan needs at least one step")
    steps = tuple(_parse_step(part) for part in text.split("->"))
    if len(steps) > MAX_STEPS:
        raise InvalidFlag(f"a plan has at most {MAX_STEPS} steps")
    return steps


def format_steps(steps: tuple[Step, ...]) -> str:
    """Write steps back as a plan line (what :func:`parse_steps` reads)."""
    parts = []
    for step in steps:
        words = [step.label]
        if step.min_duration is not None:
            words.append(_format_duration(step.min_duration))
        if step.min_requests is not None:
            words.append(f"{step.min_requests}req")
        parts.append(" ".join(words))
    return " -> ".join(parts)


@dataclass(frozen=True, slots=True)
class Plan:
    """A route's rollout plan: steps, the defaults they fall back on, gates and rollback target.

    ``rollback`` is where a failed gate sends the route: ``legacy`` (default), or ``last-good``,
    the last step that passed its gates (legacy when none has).
    """

    route: str
    steps: tuple[Step, ...]
    gates: Gates = field(default_factory=Gates)
    min_duration: float = 300.0
    min_requests: int = 100
    rollback: str = "legacy"

    def __post_init__(self) -> None:
        split_route(self.route)
        if not self.steps:
            raise InvalidFlag("a plan needs at least one step", route=self.route)
        if self.rollback not in ROLLBACK_TARGETS:
            raise InvalidFlag(
                f"rollback must be one of {', '.join(ROLLBACK_TARGETS)}, not {self.rollback!r}",
                route=self.route,
            )
        if self.min_requests < 0 or self.min_duration < 0:
            raise InvalidFlag("plan defaults must not be negative", route=self.route)

    def duration_of(self, index: int) -> float:
        """Minimum seconds step ``index`` must last."""
        step = self.steps[index]
        return step.min_duration if step.min_duration is not None else self.min_duration

    def requests_of(self, index: int) -> int:
        """Minimum requests (or, in shadow, comparisons) step ``index`` must see."""
        step = self.steps[index]
        return step.min_requests if step.min_requests is not None else self.min_requests

    def as_json(self) -> dict[str, Any]:
        """The plan as the admin API, the store and the flag file write it."""
        return {
            "route": self.route,
            "steps": format_steps(self.steps),
            "min_duration": self.min_duration,
            "min_requests": self.min_requests,
            "rollback": self.rollback,
            "gates": self.gates.as_json(),
        }


_PLAN_KEYS = {"steps", "min_duration", "min_requests", "rollback", "gates"}


def plan_from_mapping(
    route: str, data: Mapping[str, Any], *, defaults: Gates | None = None
) -> Plan:
    """Build a plan from a TOML table or JSON object (``steps`` a plan line or a list of steps).

    ``min_duration`` may be seconds or a duration string; ``gates`` overrides ``defaults``.
    """
    if not isinstance(data, Mapping):
        raise InvalidFlag("a plan must be a table with 'steps'", route=route)
    unknown = set(data) - _PLAN_KEYS
    if unknown:
        raise InvalidFlag(
            f"unknown plan key(s) {sorted(unknown)} (allowed: {', '.join(sorted(_PLAN_KEYS))})",
            route=route,
        )
    raw_steps = data.get("steps")
    if isinstance(raw_steps, list):
        if not all(isinstance(item, str) for item in raw_steps):
            raise InvalidFlag("steps must be a plan line or a list of step strings", route=route)
        raw_steps = " -> ".join(raw_steps)
    if not isinstance(raw_steps, str):
        raise InvalidFlag("a plan needs 'steps' (like \"shadow 5m -> 50% -> new\")", route=route)
    try:
        steps = parse_steps(raw_steps)
        duration = data.get("min_duration", 300.0)
        if isinstance(duration, str):
            duration = parse_duration(duration)
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            raise InvalidFlag(f"min_duration must be seconds or a duration, not {duration!r}")
        requests = data.get("min_requests", 100)
        if isinstance(requests, bool) or not isinstance(requests, int):
            raise InvalidFlag(f"min_requests must be an integer, not {requests!r}")
        gates_data = data.get("gates", {})
        if not isinstance(gates_data, Mapping):
            raise InvalidFlag("gates must be a table of thresholds")
        gates = Gates.from_mapping(gates_data, defaults)
        return Plan(
            route=route,
            steps=steps,
            gates=gates,
            min_duration=float(duration),
            min_requests=requests,
            rollback=str(data.get("rollback", "legacy")),
        )
    except InvalidFlag as exc:
        if exc.route is None:
            raise InvalidFlag(exc.reason, route=route) from exc
        raise
    except TypeError as exc:  # a gate given as something dataclasses cannot take
        raise InvalidFlag(f"malformed plan: {exc}", route=route) from exc
