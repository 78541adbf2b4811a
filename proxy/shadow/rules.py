"""Load the per-route comparison rules that tell the comparator what may differ and how.

The rules live in a versioned TOML file (``shadow/compare_rules.toml``): a ``[defaults]`` table
and one ``[routes."METHOD /path/{param}"]`` table per route that needs more. A route's rules are
the defaults extended by its own table (lists are appended, mappings updated, scalars replaced).
Only volatile values belong here: ignoring or normalising a field hides it from every
comparison, so a rule that papers over a real difference is a bug in the rules.

Field paths are globs over the JSON body: ``request_id`` (a top-level key),
``items[*].created_at`` (a key in every element of ``items``), ``items[0].id`` (one element),
``*.name`` (any key at that level), ``**.created_at`` (that key at any depth, root included),
``[*].id`` (elements of a top-level array).

Errors (defined in :mod:`proxy.errors`)::

    RulesError          the file is unreadable, of an unknown version, or has a bad rule
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from proxy.errors import RulesError
from proxy.shadow.normalizers import NORMALIZERS

__all__ = [
    "DEFAULT_RULES_PATH",
    "SUPPORTED_VERSION",
    "FieldPattern",
    "RouteRules",
    "RuleSet",
    "RulesError",
    "load_rules",
]

SUPPORTED_VERSION = 1
DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "compare_rules.toml"

# Segment markers in a parsed glob. Plain strings are object keys, ints are array indices.
ANY_KEY = "\x00*"
ANY_INDEX = "\x00[*]"
ANY_DEPTH = "\x00**"

Segment = str | int

_TOKEN = re.compile(r"\[(\*|\d+)\]|([^.\[\]]+)|(\.)")


@dataclass(frozen=True)
class FieldPattern:
    """A compiled field glob such as ``items[*].created_at``."""

    text: str
    segments: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> FieldPattern:
        """Compile ``text``; raise :class:`RulesError` on a malformed glob."""
        if not text or text != text.strip():
            raise RulesError(f"bad field pattern {text!r}")
        segments: list[str | int] = []
        position = 0
        expect_name = True
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                raise RulesError(f"bad field pattern {text!r} at {position}")
            index, name, dot = match.groups()
            if dot:
                if expect_name:
                    raise RulesError(f"bad field pattern {text!r}: empty segment")
                expect_name = True
            elif index is not None:
                segments.append(ANY_INDEX if index == "*" else int(index))
                expect_name = False
            else:
                if not expect_name:
                    raise RulesError(f"bad field pattern {text!r}: missing '.' before {name!r}")
                segments.append({"*": ANY_KEY, "**": ANY_DEPTH}.get(name, name))
                expect_name = False
            position = match.end()
        if expect_name:
            raise RulesError(f"bad field pattern {text!r}: ends with '.'")
        return cls(text=text, segments=tuple(segments))

    def matches(self, path: Sequence[Segment]) -> bool:
        """Tell whether the concrete ``path`` (keys and indices) is selected by this glob."""
        return _match(self.segments, tuple(path))


@lru_cache(maxsize=4096)
def _match(pattern: tuple[str | int, ...], path: tuple[Segment, ...]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == ANY_DEPTH:
        return any(_match(rest, path[start:]) for start in range(len(path) + 1))
    if not path:
        return False
    step = path[0]
    if head == ANY_INDEX:
        ok = isinstance(step, int)
    elif head == ANY_KEY:
        ok = isinstance(step, str)
    else:
        ok = type(head) is type(step) and head == step
    return ok and _match(rest, path[1:])


def _patterns(values: Iterable[str]) -> tuple[FieldPattern, ...]:
    return tuple(FieldPattern.parse(value) for value in values)


@dataclass(frozen=True)
class RouteRules:
    """What the comparator checks for one route.

    ``normalize`` maps a field glob to a normaliser name (see ``normalizers.NORMALIZERS``);
    ``tolerance`` maps a glob to an absolute numeric tolerance; ``time_tolerance`` to seconds
    between two RFC 3339 timestamps; ``header_tolerance`` a header name to a numeric tolerance
    (``retry-after`` is computed from the clock).
    """

    compare_headers: tuple[str, ...] = (
        "content-type",
        "location",
        "allow",
        "retry-after",
        "www-authenticate",
        "content-disposition",
    )
    ignore_headers: frozenset[str] = frozenset({"x-request-id"})
    ignore: tuple[FieldPattern, ...] = ()
    normalize: tuple[tuple[FieldPattern, str], ...] = ()
    unordered: tuple[FieldPattern, ...] = ()
    tolerance: tuple[tuple[FieldPattern, float], ...] = ()
    time_tolerance: tuple[tuple[FieldPattern, float], ...] = ()
    header_tolerance: Mapping[str, float] = field(default_factory=dict)
    compare_body: bool = True
    check_key_order: bool = True
    check_json_encoding: bool = True
    max_differences: int = 100

    def headers_to_compare(self) -> tuple[str, ...]:
        """Return the lower-cased header names compared, minus the ignored ones."""
        return tuple(h for h in self.compare_headers if h not in self.ignore_headers)

    def is_ignored(self, path: Sequence[Segment]) -> bool:
        """Tell whether the field at ``path`` is left out of the comparison."""
        return any(p.matches(path) for p in self.ignore)

    def normalizer_for(self, path: Sequence[Segment]) -> str | None:
        """Return the normaliser named for ``path`` (the last matching rule wins)."""
        found = None
        for pattern, name in self.normalize:
            if pattern.matches(path):
                found = name
        return found

    def is_unordered(self, path: Sequence[Segment]) -> bool:
        """Tell whether the array at ``path`` is compared as a multiset."""
        return any(p.matches(path) for p in self.unordered)

    def tolerance_for(self, path: Sequence[Segment]) -> float | None:
        """Return the numeric tolerance for ``path``, if any."""
        return _last(self.tolerance, path)

    def time_tolerance_for(self, path: Sequence[Segment]) -> float | None:
        """Return the timestamp tolerance in seconds for ``path``, if any."""
        return _last(self.time_tolerance, path)

    def extended(self, table: Mapping[str, Any], *, where: str) -> RouteRules:
        """Return these rules extended by a TOML table (a route's own rules)."""
        known = {
            "compare_headers",
            "ignore_headers",
            "ignore",
            "normalize",
            "unordered",
            "tolerance",
            "time_tolerance",
            "header_tolerance",
            "compare_body",
            "check_key_order",
            "check_json_encoding",
            "max_differences",
            "replace_headers",
        }
        unknown = set(table) - known
        if unknown:
            raise RulesError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            headers = tuple(h.lower() for h in table.get("compare_headers", ()))
            if not table.get("replace_headers", False):
                headers = self.compare_headers + tuple(
                    h for h in headers if h not in self.compare_headers
                )
            return replace(
                self,
                compare_headers=headers,
                ignore_headers=self.ignore_headers
                | {h.lower() for h in table.get("ignore_headers", ())},
                ignore=self.ignore + _patterns(table.get("ignore", ())),
                normalize=self.normalize
                + tuple(
                    (FieldPattern.parse(k), _normalizer_name(v, where))
                    for k, v in table.get("normalize", {}).items()
                ),
                unordered=self.unordered + _patterns(table.get("unordered", ())),
                tolerance=self.tolerance
                + tuple(
                    (FieldPattern.parse(k), _number(v, where))
                    for k, v in table.get("tolerance", {}).items()
                ),
                time_tolerance=self.time_tolerance
                + tuple(
                    (FieldPattern.parse(k), _number(v, where))
                    for k, v in table.get("time_tolerance", {}).items()
                ),
                header_tolerance={
                    **self.header_tolerance,
                    **{
                        k.lower(): _number(v, where)
                        for k, v in table.get("header_tolerance", {}).items()
                    },
                },
                compare_body=bool(table.get("compare_body", self.compare_body)),
                check_key_order=bool(table.get("check_key_order", self.check_key_order)),
                check_json_encoding=bool(
                    table.get("check_json_encoding", self.check_json_encoding)
                ),
                max_differences=int(table.get("max_differences", self.max_differences)),
            )
        except (AttributeError, TypeError) as exc:
            raise RulesError(f"{where}: malformed rule ({exc})") from exc


def _last(rules: tuple[tuple[FieldPattern, float], ...], path: Sequence[Segment]) -> float | None:
    found = None
    for pattern, value in rules:
        if pattern.matches(path):
            found = value
    return found


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RulesError(f"{where}: tolerance must be a non-negative number, got {value!r}")
    return float(value)


def _normalizer_name(value: Any, where: str) -> str:
    if value not in NORMALIZERS:
        raise RulesError(f"{where}: unknown normaliser {value!r} (known: {sorted(NORMALIZERS)})")
    return str(value)


_PARAM = re.compile(r"\{[^}]*\}")


def _route_shape(route: str) -> str:
    """Blank out parameter names so ``{id}`` and ``{file_id}`` name the same route."""
    return _PARAM.sub("{}", route.strip())


@dataclass(frozen=True)
class RuleSet:
    """The whole rules file: defaults plus each route's rules, resolved on load."""

    version: int
    defaults: RouteRules
    routes: Mapping[str, RouteRules]

    def for_route(self, route: str | None) -> RouteRules:
        """Return the rules for a route key (``GET /api/v1/agents/{agent_id}``) or defaults."""
        if route is None:
            return self.defaults
        return self.routes.get(_route_shape(route), self.defaults)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<rules>") -> RuleSet:
        """Build a rule set from a parsed TOML document."""
        version = data.get("version")
        if version != SUPPORTED_VERSION:
            raise RulesError(
                f"{source}: rules version {version!r} is not supported "
                f"(this comparator reads version {SUPPORTED_VERSION})"
            )
        unknown = set(data) - {"version", "defaults", "routes"}
        if unknown:
            raise RulesError(f"{source}: unknown top-level keys {sorted(unknown)}")
        defaults = RouteRules().extended(data.get("defaults", {}), where=f"{source} [defaults]")
        routes: dict[str, RouteRules] = {}
        for key, table in data.get("routes", {}).items():
            method, _, path = key.partition(" ")
            if not method.isupper() or not path.startswith("/"):
                raise RulesError(f"{source}: route key {key!r} is not 'METHOD /path'")
            routes[_route_shape(key)] = defaults.extended(table, where=f"{source} [{key}]")
        return cls(version=version, defaults=defaults, routes=routes)


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read a rules file (the packaged ``compare_rules.toml`` by default)."""
    source = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"cannot read rules file {source}: {exc}") from exc
    return RuleSet.from_mapping(data, source=str(source))
