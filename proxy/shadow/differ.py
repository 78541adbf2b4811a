"""Compare two JSON values under a route's rules and list every difference with its JSON pointer.

The structural core of the comparator (:mod:`proxy.shadow.comparator`): ignored and normalised
fields, arrays compared in order or as multisets, numeric and timestamp tolerances. Also the
value types both share: :class:`Difference`, :class:`Comparison` and :data:`MISSING` (the
value on the side where a field does not exist).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proxy.clock import parse_utc
from proxy.shadow.normalizers import NORMALIZERS, TIMESTAMP
from proxy.shadow.rules import ANY_INDEX, RouteRules, Segment

__all__ = ["MISSING", "Comparison", "Difference", "compare_json"]


class _Absent:
    """The value on the side where a field or item does not exist."""

    def __repr__(self) -> str:
        return "(absent)"


MISSING: Any = _Absent()


@dataclass(frozen=True)
class Difference:
    """One place where the candidate's answer differs from the expected one.

    ``area`` is ``status``, ``header`` or ``body``; ``path`` is a JSON pointer into the body
    (``/items/0/created_at``, ``""`` for the whole body), the header name, or ``""``.
    ``kind`` is one of ``value``, ``type``, ``missing``, ``unexpected``, ``key_order``,
    ``encoding``, ``text``, ``bytes``.
    """

    area: str
    path: str
    kind: str
    expected: Any = None
    actual: Any = None
    note: str = ""
    segments: tuple[Segment, ...] = field(default=(), compare=False, repr=False)

    @property
    def where(self) -> str:
        """Return a short location: ``status``, ``header content-type``, ``body /items/0``."""
        if self.area == "status":
            return "status"
        if self.area == "header":
            return f"header {self.path}"
        return f"body {self.path or '/'}"

    def noise_key(self) -> tuple[str, tuple[Segment, ...]]:
        """Return the location with array indices generalised, the unit noise is learnt in."""
        general = tuple(ANY_INDEX if isinstance(s, int) else s for s in self.segments)
        return (self.area, general if self.area == "body" else (self.path,))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form (values as they were compared)."""
        return {
            "area": self.area,
            "path": self.path,
            "kind": self.kind,
            "expected": _jsonable(self.expected),
            "actual": _jsonable(self.actual),
            "note": self.note,
        }


def _jsonable(value: Any) -> Any:
    if value is MISSING:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@dataclass(frozen=True)
class Comparison:
    """The outcome: equal when no difference is left after rules and learnt noise."""

    equal: bool
    differences: list[Difference] = field(default_factory=list)
    noise: list[Difference] = field(default_factory=list)
    truncated: bool = False
    omitted: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {
            "equal": self.equal,
            "differences": [d.to_dict() for d in self.differences],
            "noise": [d.to_dict() for d in self.noise],
            "truncated": self.truncated,
            "omitted": self.omitted,
        }


def _pointer(path: Sequence[Segment]) -> str:
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in path)


class _Differ:
    """Walk two JSON trees under one route's rules and collect differences (bounded)."""

    def __init__(self, rules: RouteRules) -> None:
        self.rules = rules
        self.found: list[Difference] = []
        self.omitted = 0

    def add(
        self, path: tuple[Segment, ...], kind: str, expected: Any, actual: Any, note: str = ""
    ) -> None:
        if len(self.found) >= self.rules.max_differences:
            self.omitted += 1
            return
        self.found.append(
            Difference("body", _pointer(path), kind, expected, actual, note, segments=path)
        )

    def prepare(self, value: Any, path: tuple[Segment, ...] = ()) -> Any:
        """Drop ignored fields and normalise volatile ones, depth first."""
        name = self.rules.normalizer_for(path) if path else None
        if name is not None:
            value = NORMALIZERS[name](value)
        if isinstance(value, dict):
            return {
                k: self.prepare(v, (*path, k))
                for k, v in value.items()
                if not self.rules.is_ignored((*path, k))
            }
        if isinstance(value, list):
            return [
                self.prepare(v, (*path, i))
                for i, v in enumerate(value)
                if not self.rules.is_ignored((*path, i))
            ]
        return value

    def diff(self, expected: Any, actual: Any, path: tuple[Segment, ...] = ()) -> None:
        if isinstance(expected, dict) and isinstance(actual, dict):
            self._diff_objects(expected, actual, path)
        elif isinstance(expected, list) and isinstance(actual, list):
            if self.rules.is_unordered(path):
                self._diff_multisets(expected, actual, path)
            else:
                self._diff_arrays(expected, actual, path)
        elif _json_type(expected) != _json_type(actual):
            if self._numbers_within(expected, actual, path):
                return
            self.add(
                path, "type", expected, actual, f"{_json_type(expected)} != {_json_type(actual)}"
            )
        elif expected != actual:
            if self._numbers_within(expected, actual, path) or self._times_within(
                expected, actual, path
            ):
                return
            self.add(path, "value", expected, actual)

    def _diff_objects(
        self, expected: dict[str, Any], actual: dict[str, Any], path: tuple[Segment, ...]
    ) -> None:
        if self.rules.check_key_order:
            common_expected = [k for k in expected if k in actual]
            common_actual = [k for k in actual if k in expected]
            if common_expected != common_actual:
                self.add(path, "key_order", common_expected, common_actual, "keys in another order")
        for key, value in expected.items():
            if key in actual:
                self.diff(value, actual[key], (*path, key))
            else:
                self.add((*path, key), "missing", value, MISSING, "absent from the actual body")
        for key, value in actual.items():
            if key not in expected:
                self.add(
                    (*path, key), "unexpected", MISSING, value, "absent from the expected body"
                )

    def _diff_arrays(
        self, expected: list[Any], actual: list[Any], path: tuple[Segment, ...]
    ) -> None:
        for index, (left, right) in enumerate(zip(expected, actual, strict=False)):
            self.diff(left, right, (*path, index))
        for index in range(len(actual), len(expected)):
            self.add(
                (*path, index), "missing", expected[index], MISSING, "absent from the actual array"
            )
        for index in range(len(expected), len(actual)):
            self.add(
                (*path, index),
                "unexpected",
                MISSING,
                actual[index],
                "absent from the expected array",
            )

    def _diff_multisets(
        self, expected: list[Any], actual: list[Any], path: tuple[Segment, ...]
    ) -> None:
        remaining: dict[str, list[int]] = {}
        for index, item in enumerate(actual):
            remaining.setdefault(_canonical(item), []).append(index)
        unmatched_expected = []
        for index, item in enumerate(expected):
            slots = remaining.get(_canonical(item))
            if slots:
                slots.pop(0)
            else:
                unmatched_expected.append(index)
        unmatched_actual = sorted(i for slots in remaining.values() for i in slots)
        for index in unmatched_expected:
            self.add(
                (*path, index),
                "missing",
                expected[index],
                MISSING,
                "no equal item in the actual array (unordered)",
            )
        for index in unmatched_actual:
            self.add(
                (*path, index),
                "unexpected",
                MISSING,
                actual[index],
                "no equal item in the expected array (unordered)",
            )

    def _numbers_within(self, expected: Any, actual: Any, path: tuple[Segment, ...]) -> bool:
        tolerance = self.rules.tolerance_for(path)
        return (
            tolerance is not None
            and _is_number(expected)
            and _is_number(actual)
            and abs(expected - actual) <= tolerance
        )

    def _times_within(self, expected: Any, actual: Any, path: tuple[Segment, ...]) -> bool:
        tolerance = self.rules.time_tolerance_for(path)
        if tolerance is None:
            return False
        left, right = _parse_timestamp(expected), _parse_timestamp(actual)
        return (
            left is not None
            and right is not None
            and abs((left - right).total_seconds()) <= tolerance
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not TIMESTAMP.match(value):
        return None
    try:
        return parse_utc(value)
    except ValueError:
        return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def compare_json(expected: Any, actual: Any, rules: RouteRules) -> tuple[list[Difference], int]:
    """Diff two parsed JSON documents under ``rules``; return the differences and how many
    were left out beyond ``rules.max_differences``.

    Also used for database snapshots in ``parity_tests/`` (rows as JSON objects).
    """
    differ = _Differ(rules)
    differ.diff(differ.prepare(expected), differ.prepare(actual))
    return differ.found, differ.omitted
