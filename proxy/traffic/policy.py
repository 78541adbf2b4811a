"""Say which routes the proxy captures, how often, and how much of each body it keeps.

A capture policy is a TOML file (``STRANGLER_CAPTURE_FILE``; no file, no capture)::

    version = 1

    [defaults]            # every route not listed below
    sample_rate = 0.0     # 0 = not captured (the default), 1 = every request
    body_limit = 65536    # bytes of request and response body kept

    [routes."GET /api/v1/agents"]
    sample_rate = 1.0

    [routes."POST /api/v1/chat"]
    sample_rate = 0.1
    body_limit = 16384

A request body longer than the route's ``body_limit`` is not captured at all (it could not be
replayed faithfully); a longer response is kept cut at the limit and marked ``truncated``.
An unknown key, a rate outside 0..1, a negative limit or a malformed route key fails with the
file and the route named, so a broken file stops the proxy at start instead of capturing wrong.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxy.traffic.errors import CaptureFileError

__all__ = ["DEFAULT_BODY_LIMIT", "CapturePolicy", "RouteCapture", "load_capture_file"]

DEFAULT_BODY_LIMIT = 64 * 1024
MAX_BODY_LIMIT = 16 * 1024 * 1024
_ROUTE_KEY = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S*$")
_KEYS = frozenset({"sample_rate", "body_limit"})


@dataclass(frozen=True)
class RouteCapture:
    """How one route is captured: the share of requests kept and the body bound."""

    sample_rate: float = 0.0
    body_limit: int = DEFAULT_BODY_LIMIT

    @property
    def enabled(self) -> bool:
        """Tell whether any request of the route is captured."""
        return self.sample_rate > 0.0


@dataclass(frozen=True)
class CapturePolicy:
    """The per-route capture settings in force (immutable; read on the hot path)."""

    defaults: RouteCapture = field(default_factory=RouteCapture)
    routes: Mapping[str, RouteCapture] = field(default_factory=dict)

    def for_route(self, route: str | None) -> RouteCapture | None:
        """Return the route's settings, or None when the route is not captured."""
        if route is None:
            return None
        chosen = self.routes.get(route, self.defaults)
        return chosen if chosen.enabled else None

    @property
    def enabled(self) -> bool:
        """Tell whether the policy captures anything at all."""
        return self.defaults.enabled or any(r.enabled for r in self.routes.values())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form (for the CLI and the docs)."""
        return {
            "defaults": vars(self.defaults),
            "routes": {k: vars(v) for k, v in sorted(self.routes.items())},
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<capture>") -> CapturePolicy:
        """Validate a parsed policy; raise :class:`CaptureFileError` naming what is wrong."""
        unknown = set(data) - {"version", "defaults", "routes"}
        if unknown:
            raise CaptureFileError(f"{source}: unknown top-level key(s) {sorted(unknown)}")
        if data.get("version", 1) != 1:
            raise CaptureFileError(f"{source}: version must be 1, not {data.get('version')!r}")
        defaults = _route(data.get("defaults", {}), RouteCapture(), f"{source} [defaults]")
        routes_table = data.get("routes", {})
        if not isinstance(routes_table, Mapping):
            raise CaptureFileError(f"{source}: [routes] must be a table")
        routes: dict[str, RouteCapture] = {}
        for key, table in routes_table.items():
            if not _ROUTE_KEY.match(str(key)):
                raise CaptureFileError(
                    f'{source}: route {key!r} is not a route key ("METHOD /path/{{param}}")'
                )
            routes[str(key)] = _route(table, defaults, f"{source} route {key!r}")
        return cls(defaults=defaults, routes=routes)


def _route(table: Any, base: RouteCapture, where: str) -> RouteCapture:
    if not isinstance(table, Mapping):
        raise CaptureFileError(f"{where}: must be a table")
    unknown = set(table) - _KEYS
    if unknown:
        raise CaptureFileError(f"{where}: unknown key(s) {sorted(unknown)}; known: {sorted(_KEYS)}")
    rate = table.get("sample_rate", base.sample_rate)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise CaptureFileError(f"{where}: sample_rate must be a number within 0..1, not {rate!r}")
    limit = table.get("body_limit", base.body_limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= MAX_BODY_LIMIT:
        raise CaptureFileError(
            f"{where}: body_limit must be an integer within 0..{MAX_BODY_LIMIT}, not {limit!r}"
        )
    return RouteCapture(sample_rate=float(rate), body_limit=limit)


def load_capture_file(path: str | Path) -> CapturePolicy:
    """Read and validate a capture policy file."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CaptureFileError(f"{source}: cannot read the capture file: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CaptureFileError(f"{source}: not valid TOML: {exc}") from exc
    return CapturePolicy.from_mapping(data, source=source)
