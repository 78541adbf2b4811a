"""Define what a route's flag says: the mode it runs in, and the versioned table of all flags.

A route key is ``"METHOD /path/{param}"`` (``"GET /api/v1/agents/{agent_id}"``), the method upper
case and the path the framework's template with parameters named as in the API contract. The
values here are immutable: the proxy swaps a whole :class:`FlagTable` when the store moves on, so a
request never sees half a change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from proxy.errors import InvalidFlag
from proxy.inventory import LEGACY, NEW, SIDES, Route

__all__ = [
    "SAFE_METHODS",
    "FlagChange",
    "FlagEvent",
    "FlagTable",
    "Mode",
    "RouteFlag",
    "effective_flag",
    "mode_allowed",
    "parse_mode",
    "parse_percent",
    "split_route",
]

#: Methods that must not change anything (RFC 9110 section 9.2.1): shadowed without dry-run.
#: The one definition: the decision, the dispatcher and the shadow runner read it from here.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_ROUTE_KEY = re.compile(r"^(?P<method>[A-Z]{1,16}) (?P<path>/\S*)$")


class Mode(StrEnum):
    """Which side serves a route, and whether the other side shadows it."""

    LEGACY = "legacy"  # legacy serves; nothing else runs
    NEW = "new"  # new serves; nothing else runs
    CANARY = "canary"  # new serves ``percent`` of callers (stable buckets), legacy the rest
    SHADOW = "shadow"  # legacy serves; new runs on a copy and is compared
    SHADOW_NEW = "shadow-new"  # new serves; legacy runs on a copy and is compared

    @property
    def hint(self) -> str:
        """One sentence for an operator choosing this mode (the dashboard shows it)."""
        return _MODE_HINTS[self]


_MODE_HINTS = {
    Mode.LEGACY: "Only the legacy app answers.",
    Mode.NEW: "Only the new app answers.",
    Mode.CANARY: "A sticky share of users goes to the new app; the rest stay on legacy.",
    Mode.SHADOW: "Legacy answers; the new app runs too and its answer is compared.",
    Mode.SHADOW_NEW: "The new app answers; legacy runs too and its answer is compared.",
}


def split_route(route: str) -> tuple[str, str]:
    """Split a route key into its method and path template, rejecting malformed keys."""
    match = _ROUTE_KEY.match(route) if isinstance(route, str) else None
    if match is None:
        raise InvalidFlag(
            "route key must be 'METHOD /path' (upper-case method, one space, path from '/')",
            route=str(route),
        )
    return match["method"], match["path"]


def parse_mode(value: object, *, route: str | None = None) -> Mode:
    """Return ``value`` as a :class:`Mode`, naming the valid modes when it is not one."""
    try:
        return Mode(value)  # type: ignore[arg-type]  # any object; ValueError says why
    except ValueError:
        valid = ", ".join(mode.value for mode in Mode)
        message = f"unknown mode {value!r} (expected one of: {valid})"
        raise InvalidFlag(message, route=route) from None


def parse_percent(value: object, *, route: str | None = None) -> int:
    """Return ``value`` as a canary percentage: an integer from 0 to 100 (bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InvalidFlag(f"percent must be an integer from 0 to 100, not {value!r}", route=route)
    return value


def _check_dry_run(value: object, route: str) -> None:
    if not isinstance(value, bool):
        raise InvalidFlag(f"dry_run must be true or false, not {value!r}", route=route)


@dataclass(frozen=True, slots=True)
class RouteFlag:
    """One route's current flag.

    ``percent`` only matters in canary mode (share of callers sent to the new side); ``dry_run``
    lets shadow mode run unsafe methods on the candidate inside a rolled-back transaction.
    """

    route: str
    mode: Mode
    percent: int = 0
    dry_run: bool = False
    updated_at: datetime | None = None
    updated_by: str | None = None

    def __post_init__(self) -> None:
        split_route(self.route)
        object.__setattr__(self, "mode", parse_mode(self.mode, route=self.route))
        parse_percent(self.percent, route=self.route)
        _check_dry_run(self.dry_run, self.route)

    @property
    def method(self) -> str:
        """The HTTP method of the route key (``GET``)."""
        return split_route(self.route)[0]

    @property
    def path(self) -> str:
        """The path template of the route key (``/api/v1/agents/{agent_id}``)."""
        return split_route(self.route)[1]


@dataclass(frozen=True, slots=True)
class FlagChange:
    """A requested change to one route's flag; ``dry_run=None`` keeps the route's current value."""

    route: str
    mode: Mode
    percent: int = 0
    dry_run: bool | None = None

    def __post_init__(self) -> None:
        split_route(self.route)
        object.__setattr__(self, "mode", parse_mode(self.mode, route=self.route))
        parse_percent(self.percent, route=self.route)
        if self.dry_run is not None:
            _check_dry_run(self.dry_run, self.route)


@dataclass(frozen=True, slots=True)
class FlagEvent:
    """One route's change, as recorded in the store's append-only history.

    ``from_mode`` is ``None`` when the route had no flag before (the first import). Modes are
    kept as plain strings so an old event stays readable even if a mode is ever retired.
    """

    id: int
    version: int
    route: str
    from_mode: str | None
    to_mode: str
    percent: int
    actor: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class FlagTable:
    """Every route's flag at one version of the store; read-only, replaced as a whole."""

    version: int
    flags: Mapping[str, RouteFlag] = field(default_factory=dict)
    #: The identity of the store the table was read from (a UUID written when the store was
    #: created) and the identity it was declared to replace (``flags adopt``), when known.
    store_id: str | None = field(default=None, compare=False)
    replaces: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flags", MappingProxyType(dict(self.flags)))

    @classmethod
    def from_flags(
        cls,
        version: int,
        flags: Iterable[RouteFlag],
        *,
        store_id: str | None = None,
        replaces: str | None = None,
    ) -> FlagTable:
        """Build a table from flags, keyed by their route."""
        return cls(version, {flag.route: flag for flag in flags}, store_id, replaces)

    def get(self, route: str) -> RouteFlag | None:
        """Return the route's flag, or ``None`` when the table has none for it."""
        return self.flags.get(route)

    def __contains__(self, route: object) -> bool:
        return route in self.flags

    def __iter__(self) -> Iterator[RouteFlag]:
        return iter(self.flags.values())

    def __len__(self) -> int:
        return len(self.flags)


_BOTH_SIDES = frozenset(SIDES)


def mode_allowed(mode: Mode, sides: frozenset[str]) -> bool:
    """Whether a route served by ``sides`` can run in ``mode``."""
    if mode is Mode.LEGACY:
        return LEGACY in sides
    if mode is Mode.NEW:
        return NEW in sides
    return sides >= _BOTH_SIDES


def _default_mode(sides: frozenset[str]) -> Mode:
    return Mode.LEGACY if LEGACY in sides else Mode.NEW


def effective_flag(route: Route, flag: RouteFlag | None) -> RouteFlag:
    """Return the flag the proxy obeys for ``route``.

    A route the table does not mention, or whose flag names a side that does not serve it (a
    stale flag after a route was removed from one app), goes to the side that has it.
    """
    if flag is not None and mode_allowed(flag.mode, route.sides):
        return flag
    return RouteFlag(
        route=route.key,
        mode=_default_mode(route.sides),
        updated_at=flag.updated_at if flag else None,
        updated_by=flag.updated_by if flag else None,
    )
