"""Replay captured requests against both implementations and compare, as shadow mode would.

Each record becomes a :class:`~proxy.traffic.requests.ReplayRequest`, sent to legacy (the
expectation) and then to new (the candidate), authenticated with a token of the captured role;
the answers go through the proxy's comparator and rules. Requests run one at a time in capture
order, so writes see the same state on both sides. After each write the target compares the two
databases' rows (in-process targets), reported once per distinct difference. ``learn_noise``
asks legacy a safe request twice and reports what differs between its own answers as noise.

Result per request: ``match``, ``mismatch`` (answers or rows differ), ``error`` (a side failed
to answer) or ``skipped`` (a write against live URLs without a dry-run key, a role without a
token). :func:`print_report` renders a summary table per route and every mismatch's diff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from proxy.shadow.capture import CapturedResponse
from proxy.shadow.comparator import Comparator, format_diff
from proxy.shadow.differ import Comparison
from proxy.shadow.names import EXIT_ERROR, EXIT_MATCH, EXIT_MISMATCH, exit_code
from proxy.shadow.redaction import redact_text
from proxy.traffic.requests import ReplayRequest
from proxy.traffic.targets import WRITES_SKIP, ReplayTarget

__all__ = [
    "EXIT_ERROR",
    "EXIT_MATCH",
    "EXIT_MISMATCH",
    "ReplayReport",
    "ReplayResult",
    "print_report",
    "replay",
]

RESULTS = ("match", "mismatch", "error", "skipped")


@dataclass
class ReplayResult:
    """One captured request's outcome."""

    request: ReplayRequest
    status: str = "match"
    comparison: Comparison | None = None
    state: Comparison | None = None
    legacy: CapturedResponse | None = None
    new: CapturedResponse | None = None
    reason: str | None = None

    @property
    def noise(self) -> int:
        """Return how many differences were set aside as noise."""
        return len(self.comparison.noise) if self.comparison else 0

    def diff(self) -> str:
        """Return the readable diff (answers, then rows), redacted."""
        parts = []
        if self.comparison is not None and not self.comparison.equal:
            parts.append(format_diff(self.comparison))
        if self.state is not None and not self.state.equal:
            parts.append("database rows (legacy → new):\n" + format_diff(self.state))
        if self.reason:
            parts.append(self.reason)
        return redact_text("\n".join(parts))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        request = self.request
        return {
            "capture_id": request.capture_id,
            "route": request.route,
            "request": request.describe(),
            "result": self.status,
            "reason": self.reason,
            "legacy_status": self.legacy.status if self.legacy else None,
            "new_status": self.new.status if self.new else None,
            "noise": self.noise,
            "diff": self.diff() if self.status == "mismatch" else None,
            "comparison": self.comparison.to_dict() if self.comparison else None,
            "state": self.state.to_dict() if self.state else None,
        }


@dataclass
class ReplayReport:
    """Every result of a replay and the summary per route."""

    target: str
    results: list[ReplayResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """Return how many results have ``status``."""
        return sum(1 for r in self.results if r.status == status)

    def by_route(self) -> dict[str, dict[str, int]]:
        """Return ``{route: {requests, match, mismatch, error, skipped, noise}}``."""
        routes: dict[str, dict[str, int]] = {}
        for result in self.results:
            counts = routes.setdefault(
                result.request.route, {"requests": 0, **dict.fromkeys(RESULTS, 0), "noise": 0}
            )
            counts["requests"] += 1
            counts[result.status] += 1
            counts["noise"] += 1 if result.noise else 0
        return dict(sorted(routes.items()))

    @property
    def exit_code(self) -> int:
        """0 when everything replayed matched, 1 on a mismatch, 2 when a side failed."""
        return exit_code(errors=self.count("error"), mismatches=self.count("mismatch"))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {
            "target": self.target,
            "seconds": round(self.seconds, 3),
            "totals": {name: self.count(name) for name in RESULTS},
            "routes": self.by_route(),
            "results": [r.to_dict() for r in self.results],
        }


def _without_body(response: CapturedResponse) -> CapturedResponse:
    return replace(response, body=b"", truncated=False)


async def _replay_one(
    request: ReplayRequest,
    target: ReplayTarget,
    comparator: Comparator,
    *,
    learn_noise: bool,
    last_state: list[str],
) -> ReplayResult:
    result = ReplayResult(request)
    if not request.safe and target.writes == WRITES_SKIP:
        result.status, result.reason = (
            "skipped",
            "a write: replayed against live URLs only with --dry-run-key",
        )
        return result
    token = target.token_for(request.role) if request.role else None
    authorization = request.authorization(token)
    if request.role and token is None:
        result.status, result.reason = "skipped", f"no token for role {request.role!r}"
        return result
    try:
        legacy = await target.send("legacy", request, authorization)
        secondary = None
        if learn_noise and request.safe:
            again = request.authorization(target.token_for(request.role) if request.role else None)
            secondary = await target.send("legacy", request, again)
        new = await target.send("new", request, authorization)
    except Exception as exc:
        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
        return result
    result.legacy, result.new = legacy, new
    if request.method == "HEAD":
        legacy, new = _without_body(legacy), _without_body(new)
        secondary = _without_body(secondary) if secondary else None
    result.comparison = comparator.compare(request.route, legacy, new, secondary=secondary)
    if not request.safe:
        state = await target.state_difference()
        if state is not None and not state.equal:
            rendered = format_diff(state)
            if not last_state or last_state[-1] != rendered:
                result.state = state
                last_state.append(rendered)
        elif state is not None:
            last_state.clear()
    if not result.comparison.equal or result.state is not None:
        result.status = "mismatch"
    return result


async def replay(
    records: Iterable[dict[str, Any]],
    target: ReplayTarget,
    comparator: Comparator,
    *,
    learn_noise: bool = False,
    on_result: Callable[[ReplayResult], None] | None = None,
) -> ReplayReport:
    """Replay ``records`` (oldest first) against ``target``; return the report."""
    report = ReplayReport(target.description)
    started = time.monotonic()
    last_state: list[str] = []
    for record in records:
        request = ReplayRequest.from_record(record)
        result = await _replay_one(
            request, target, comparator, learn_noise=learn_noise, last_state=last_state
        )
        report.results.append(result)
        if on_result is not None:
            on_result(result)
    report.seconds = time.monotonic() - started
    return report


def print_report(report: ReplayReport, console: Any) -> None:
    """Print every mismatch and error, then the summary table per route."""
    from rich.table import Table
    from rich.text import Text

    for result in report.results:
        if result.status == "mismatch":
            title = (
                f"MISMATCH {result.request.route} [capture {result.request.capture_id}]\n"
                f"request: {result.request.describe()}"
            )
            console.print(Text(redact_text(title)))
            console.print(Text(result.diff()))
            console.print()
        elif result.status == "error":
            console.print(
                Text(
                    redact_text(
                        f"ERROR {result.request.route} [capture "
                        f"{result.request.capture_id}]: {result.reason}"
                    )
                )
            )
    table = Table(title=f"replay: {report.target}")
    table.add_column("route")
    for name in ("requests", *RESULTS, "noise"):
        table.add_column(name, justify="right")
    routes = report.by_route()
    for route, counts in routes.items():
        table.add_row(Text(route), *(str(counts[n]) for n in ("requests", *RESULTS, "noise")))
    totals = {n: sum(c[n] for c in routes.values()) for n in ("requests", *RESULTS, "noise")}
    table.add_row(Text("total", style="bold"), *(str(totals[n]) for n in totals))
    console.print(table)
    console.print(
        f"{len(report.results)} captured requests replayed in {report.seconds:.1f} s: "
        f"{report.count('match')} match, {report.count('mismatch')} mismatch, "
        f"{report.count('error')} error, {report.count('skipped')} skipped"
    )
