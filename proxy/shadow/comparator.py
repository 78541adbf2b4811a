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

import difflib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from proxy.shadow.capture import CapturedResponse
from proxy.shadow.differ import MISSING, Comparison, Difference, compare_json
from proxy.shadow.rules import RouteRules, RuleSet, Segment, load_rules

__all__ = ["Comparator", "NoiseLearner", "compare_responses", "format_diff"]

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
    left = left_lines[number - 1] if number <= len(left_lines) else MISSING
    right = right_lines[number - 1] if number <= len(right_lines) else MISSING
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
    if value is MISSING:
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
