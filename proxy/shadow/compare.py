"""Compare two HTTP responses the way a client would notice, and say where they differ.

One comparator serves shadow mode and ``parity_tests/``: the status, the headers that carry
meaning (``content-type``, ``location``, ``allow``, ``retry-after``, ``www-authenticate``,
``content-disposition``), and the body: JSON (and NDJSON) structurally with a JSON-pointer path
for every difference, anything else as text or bytes, exactly. Per-route rules (``shadow.rules``)
ignore or normalise volatile fields, compare some arrays as multisets and allow numeric or
timestamp tolerances.

Noise learning follows Twitter's Diffy: answer the same request twice from the primary side;
whatever differs between those two answers is not the candidate's fault, so a candidate
difference at such a path is reported as *noise*, not as a mismatch. :class:`NoiseLearner`
remembers noisy paths per route so one noisy sample teaches the comparator for later requests.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from proxy.shadow.capture import CapturedResponse
from proxy.shadow.rules import ANY_INDEX, RouteRules, RuleSet, Segment, load_rules

__all__ = [
    "NORMALIZERS",
    "Comparator",
    "Comparison",
    "Difference",
    "NoiseLearner",
    "compare_json",
    "compare_responses",
    "format_diff",
]


class _Absent:
    """The value on the side where a field or item does not exist."""

    def __repr__(self) -> str:
        return "(absent)"


_MISSING: Any = _Absent()

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
# Claims that change on every issue; the rest (iss, aud, sub, role, typ, ...) must agree.
_VOLATILE_CLAIMS = frozenset({"jti", "sid", "iat", "exp", "nbf"})


def _shape(pattern: re.Pattern[str], placeholder: str) -> Callable[[Any], Any]:
    def normalise(value: Any) -> Any:
        if isinstance(value, str) and pattern.match(value):
            return placeholder
        return value

    return normalise


def _b64json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))


def _normalise_jwt(value: Any) -> Any:
    """Replace a JWT by its stable content: header alg, non-volatile claims and lifetime.

    Two tokens issued a second apart differ in every byte, but their issuer, audience,
    subject, role, type and lifetime must not; those stay visible to the comparison.
    """
    if not isinstance(value, str) or not _JWT.match(value):
        return value
    head, payload, _ = value.split(".")
    try:
        header = _b64json(head)
        claims = _b64json(payload)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return value
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return value
    stable = {k: v for k, v in sorted(claims.items()) if k not in _VOLATILE_CLAIMS}
    if isinstance(claims.get("exp"), int | float) and isinstance(claims.get("iat"), int | float):
        stable["ttl"] = claims["exp"] - claims["iat"]
    stable["has"] = sorted(k for k in claims if k in _VOLATILE_CLAIMS)
    return f"<jwt alg={header.get('alg')} {json.dumps(stable, sort_keys=True)}>"


NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    # Each replaces a value of the expected shape by a placeholder and leaves anything else
    # alone, so a value of the wrong shape (an RFC 822 date, an integer id) still differs.
    "timestamp": _shape(_TIMESTAMP, "<timestamp>"),
    "uuid": _shape(_UUID, "<uuid>"),
    "uuid4": _shape(_UUID4, "<uuid4>"),
    "hex32": _shape(_HEX32, "<hex32>"),
    "sha256": _shape(_SHA256, "<sha256>"),
    "request_id": _shape(_REQUEST_ID, "<request-id>"),
    "jwt": _normalise_jwt,
    "present": lambda value: "<present>",
}


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
    if value is _MISSING:
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
                self.add((*path, key), "missing", value, _MISSING, "absent from the actual body")
        for key, value in actual.items():
            if key not in expected:
                self.add(
                    (*path, key), "unexpected", _MISSING, value, "absent from the expected body"
                )

    def _diff_arrays(
        self, expected: list[Any], actual: list[Any], path: tuple[Segment, ...]
    ) -> None:
        for index, (left, right) in enumerate(zip(expected, actual, strict=False)):
            self.diff(left, right, (*path, index))
        for index in range(len(actual), len(expected)):
            self.add(
                (*path, index), "missing", expected[index], _MISSING, "absent from the actual array"
            )
        for index in range(len(expected), len(actual)):
            self.add(
                (*path, index),
                "unexpected",
                _MISSING,
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
                _MISSING,
                "no equal item in the actual array (unordered)",
            )
        for index in unmatched_actual:
            self.add(
                (*path, index),
                "unexpected",
                _MISSING,
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
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
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


_JSON_TYPES = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


def _decode_json(response: CapturedResponse) -> tuple[bool, Any]:
    """Parse a JSON or NDJSON body; ``(False, None)`` when it is not (valid) JSON."""
    media = response.content_type
    if response.truncated or not response.body:
        return False, None
    try:
        if _JSON_TYPES.match(media):
            return True, json.loads(response.body.decode("utf-8"))
        if media in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
            lines = response.body.decode("utf-8").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            return True, [json.loads(line) for line in lines]
    except (UnicodeDecodeError, ValueError):
        return False, None
    return False, None


def _is_compact_json(body: bytes) -> bool:
    """Tell whether ``body`` is exactly what the team's encoder writes (docs/api.md)."""
    try:
        text = body.decode("utf-8")
        return text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    except (UnicodeDecodeError, ValueError):
        return False


def _compare_headers(
    expected: CapturedResponse, actual: CapturedResponse, rules: RouteRules
) -> list[Difference]:
    found = []
    for name in rules.headers_to_compare():
        left, right = expected.header(name), actual.header(name)
        if left == right:
            continue
        tolerance = rules.header_tolerance.get(name)
        if tolerance is not None and left is not None and right is not None:
            try:
                if abs(float(left) - float(right)) <= tolerance:
                    continue
            except ValueError:
                pass
        kind = "missing" if right is None else "unexpected" if left is None else "value"
        found.append(Difference("header", name, kind, left, right, segments=(name,)))
    return found


def _compare_text(expected: str, actual: str) -> Difference:
    left_lines, right_lines = expected.split("\n"), actual.split("\n")
    for number, (left, right) in enumerate(zip(left_lines, right_lines, strict=False), start=1):
        if left != right:
            return Difference(
                "body",
                f"#L{number}",
                "text",
                left,
                right,
                f"first differing line is {number}",
                segments=(f"#L{number}",),
            )
    number = min(len(left_lines), len(right_lines)) + 1
    left = left_lines[number - 1] if number <= len(left_lines) else _MISSING
    right = right_lines[number - 1] if number <= len(right_lines) else _MISSING
    return Difference(
        "body",
        f"#L{number}",
        "text",
        left,
        right,
        f"{len(left_lines)} lines expected, {len(right_lines)} actual",
        segments=(f"#L{number}",),
    )


def _compare_bytes(expected: bytes, actual: bytes) -> Difference:
    offset = next(
        (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
        min(len(expected), len(actual)),
    )
    return Difference(
        "body",
        f"#{offset}",
        "bytes",
        expected[offset : offset + 32].hex(),
        actual[offset : offset + 32].hex(),
        f"first differing byte at offset {offset}; {len(expected)} bytes expected, "
        f"{len(actual)} actual",
        segments=("#bytes",),
    )


def _compare_bodies(
    expected: CapturedResponse, actual: CapturedResponse, rules: RouteRules
) -> tuple[list[Difference], int]:
    if expected.truncated or actual.truncated:
        # Only a prefix of at least one body was kept: compare what both sides have.
        size = min(len(expected.body), len(actual.body))
        if expected.body[:size] == actual.body[:size]:
            return [], 0
        return [_compare_bytes(expected.body[:size], actual.body[:size])], 0
    left_ok, left = _decode_json(expected)
    right_ok, right = _decode_json(actual)
    if left_ok and right_ok:
        found, omitted = compare_json(left, right, rules)
        if rules.check_json_encoding and expected.content_type == actual.content_type:
            left_compact = _is_compact_json(expected.body)
            right_compact = _is_compact_json(actual.body)
            if _JSON_TYPES.match(expected.content_type) and left_compact != right_compact:
                found.append(
                    Difference(
                        "body",
                        "",
                        "encoding",
                        "compact" if left_compact else "not compact",
                        "compact" if right_compact else "not compact",
                        "JSON written differently (separators, ensure_ascii or a trailing newline)",
                    )
                )
        return found, omitted
    if expected.body == actual.body:
        return [], 0
    try:
        return [_compare_text(expected.body.decode("utf-8"), actual.body.decode("utf-8"))], 0
    except UnicodeDecodeError:
        return [_compare_bytes(expected.body, actual.body)], 0


def _raw_differences(
    expected: CapturedResponse, actual: CapturedResponse, rules: RouteRules
) -> tuple[list[Difference], int]:
    found: list[Difference] = []
    if expected.status != actual.status:
        found.append(Difference("status", "", "value", expected.status, actual.status))
    found.extend(_compare_headers(expected, actual, rules))
    omitted = 0
    if rules.compare_body:
        body, omitted = _compare_bodies(expected, actual, rules)
        found.extend(body)
    return found, omitted


def compare_responses(
    expected: CapturedResponse,
    actual: CapturedResponse,
    rules: RouteRules | None = None,
    *,
    secondary: CapturedResponse | None = None,
    noise_keys: Iterable[tuple[str, tuple[Segment, ...]]] = (),
) -> Comparison:
    """Compare the candidate's answer (``actual``) with the primary's (``expected``).

    ``secondary`` is a second answer from the primary side to the same request: what differs
    between it and ``expected`` is noise. ``noise_keys`` are noisy locations learnt earlier
    (:meth:`Difference.noise_key`). Differences at noisy locations land in ``noise``.
    """
    rules = rules or RouteRules()
    found, omitted = _raw_differences(expected, actual, rules)
    noisy = set(noise_keys)
    if secondary is not None:
        noisy.update(d.noise_key() for d in _raw_differences(expected, secondary, rules)[0])
    differences = [d for d in found if d.noise_key() not in noisy]
    noise = [d for d in found if d.noise_key() in noisy]
    return Comparison(
        equal=not differences,
        differences=differences,
        noise=noise,
        truncated=expected.truncated or actual.truncated,
        omitted=omitted,
    )


def _show(value: Any, limit: int = 240) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_diff(comparison: Comparison, *, title: str | None = None) -> str:
    """Render a comparison for logs, the CLI and test failures: location and both values."""
    lines = [title] if title else []
    if comparison.equal:
        lines.append(
            "responses match"
            + (f" ({len(comparison.noise)} noisy differences ignored)" if comparison.noise else "")
        )
    else:
        count = len(comparison.differences) + comparison.omitted
        lines.append(f"{count} difference{'s' if count != 1 else ''} (expected → actual):")
    for difference in comparison.differences:
        lines.extend(_render(difference))
    if comparison.omitted:
        lines.append(f"  … and {comparison.omitted} more differences not listed")
    if comparison.noise:
        lines.append("noise (also differs between two answers of the primary side):")
        for difference in comparison.noise:
            lines.extend(_render(difference))
    if comparison.truncated:
        lines.append("note: a body was truncated; only the common prefix was compared")
    return "\n".join(lines)


def _render(difference: Difference) -> list[str]:
    head = f"  {difference.where} [{difference.kind}]"
    if difference.note:
        head += f" ({difference.note})"
    expected, actual = _show(difference.expected), _show(difference.actual)
    if (
        difference.kind == "text"
        and isinstance(difference.expected, str)
        and isinstance(difference.actual, str)
    ):
        delta = difflib.ndiff([difference.expected], [difference.actual])
        return [head, *("      " + line.rstrip("\n") for line in delta)]
    return [head, f"      expected: {expected}", f"      actual:   {actual}"]


class NoiseLearner:
    """Remember, per route, the locations where the primary side disagrees with itself.

    Bounded: at most ``max_routes`` routes (least recently used dropped) and
    ``max_keys_per_route`` locations each. Thread-safe.
    """

    def __init__(self, *, max_routes: int = 512, max_keys_per_route: int = 256) -> None:
        self._max_routes = max_routes
        self._max_keys = max_keys_per_route
        self._noise: OrderedDict[str, set[tuple[str, tuple[Segment, ...]]]] = OrderedDict()
        self._lock = threading.Lock()

    def learn(
        self, route: str, first: CapturedResponse, second: CapturedResponse, rules: RouteRules
    ) -> list[Difference]:
        """Record what differs between two primary answers to one request; return it."""
        found, _ = _raw_differences(first, second, rules)
        if found:
            with self._lock:
                keys = self._noise.setdefault(route, set())
                self._noise.move_to_end(route)
                for difference in found:
                    if len(keys) < self._max_keys:
                        keys.add(difference.noise_key())
                while len(self._noise) > self._max_routes:
                    self._noise.popitem(last=False)
        return found

    def keys(self, route: str) -> frozenset[tuple[str, tuple[Segment, ...]]]:
        """Return the noisy locations learnt for ``route``."""
        with self._lock:
            return frozenset(self._noise.get(route, ()))


class Comparator:
    """The comparator with its rules and learnt noise: what shadow mode and parity tests hold."""

    def __init__(
        self, rules: RuleSet | None = None, *, learner: NoiseLearner | None = None
    ) -> None:
        self.rules = rules if rules is not None else load_rules()
        self.learner = learner or NoiseLearner()

    def rules_for(self, route: str | None) -> RouteRules:
        """Return the rules that apply to a route key."""
        return self.rules.for_route(route)

    def compare(
        self,
        route: str | None,
        expected: CapturedResponse,
        actual: CapturedResponse,
        *,
        secondary: CapturedResponse | None = None,
    ) -> Comparison:
        """Compare under the route's rules, learning from ``secondary`` when given."""
        rules = self.rules_for(route)
        if secondary is not None and route is not None:
            self.learner.learn(route, expected, secondary, rules)
        noise = self.learner.keys(route) if route is not None else frozenset()
        return compare_responses(expected, actual, rules, secondary=secondary, noise_keys=noise)
