"""Compare two running deployments over HTTP with the read-only parity scenarios.

``resync-strangler parity --legacy-url URL --new-url URL [--token T]`` calls :func:`main`; code
can call :func:`run_live_parity`. Only scenarios that cannot change anything are sent (``GET`` and
``HEAD``, no simulator faults): it is safe against production. Without a token only the
anonymous scenarios run; with one, every role's scenario runs once with that token (both sides
get the same token, so its role does not matter for parity). The comparator and its rules are
the ones shadow mode uses; ``--learn-noise`` asks the legacy side twice and reports what differs
between its own two answers as noise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from proxy.progress import comparison_progress
from proxy.shadow.capture import CapturedResponse
from proxy.shadow.comparator import Comparator, format_diff
from proxy.shadow.differ import Comparison
from proxy.shadow.names import exit_code
from proxy.shadow.redaction import redact_text
from proxy.shadow.rules import load_rules

__all__ = ["LiveParityReport", "LiveResult", "live_scenarios", "main", "run_live_parity"]


@dataclass
class LiveResult:
    """One scenario's outcome against the two deployments."""

    scenario: str
    route: str
    request: str
    comparison: Comparison | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """Return ``match``, ``mismatch`` or ``error``."""
        if self.error is not None:
            return "error"
        assert self.comparison is not None
        return "match" if self.comparison.equal else "mismatch"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {
            "scenario": self.scenario,
            "route": self.route,
            "request": self.request,
            "result": self.status,
            "error": self.error,
            "comparison": self.comparison.to_dict() if self.comparison else None,
        }


@dataclass
class LiveParityReport:
    """Every result of a live parity run, and how it should exit."""

    legacy_url: str
    new_url: str
    results: list[LiveResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """Return how many results have ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> int:
        """0 when everything matched, 1 on a mismatch, 2 when a request failed."""
        return exit_code(errors=self.count("error"), mismatches=self.count("mismatch"))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {
            "legacy_url": self.legacy_url,
            "new_url": self.new_url,
            "seconds": round(self.seconds, 3),
            "counts": {s: self.count(s) for s in ("match", "mismatch", "error")},
            "results": [r.to_dict() for r in self.results],
        }


def live_scenarios(token: str | None, *, route_filter: str | None = None) -> list[Any]:
    """Return the read-only scenarios to send, each request once.

    Imported lazily: the scenarios are data in ``resync_scenarios``, shared with the parity suite.
    """
    from resync_scenarios import SCENARIOS

    chosen: list[Any] = []
    seen: set[tuple[Any, ...]] = set()
    for scenario in SCENARIOS:
        if not scenario.live_safe or (scenario.auth is not None and token is None):
            continue
        if route_filter and route_filter not in scenario.route:
            continue
        live = replace(scenario, auth=None if scenario.auth is None else "token")
        key = (live.http_method, live.path, live.query, live.headers, live.auth)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(live)
    return chosen


def _request(scenario: Any, base_url: str, token: str | None) -> httpx.Request:
    headers = list(scenario.headers)
    if scenario.auth is not None and token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    return httpx.Request(
        scenario.http_method,
        base_url.rstrip("/") + scenario.path,
        params=list(scenario.query) or None,
        headers=headers,
    )


def run_live_parity(
    legacy_url: str,
    new_url: str,
    token: str | None = None,
    *,
    timeout: float = 10.0,
    learn_noise: bool = False,
    rules_path: str | Path | None = None,
    route_filter: str | None = None,
    console: Console | None = None,
    scenarios: Iterable[Any] | None = None,
) -> LiveParityReport:
    """Send each read-only scenario to both deployments, compare, print a report, return it."""
    console = console or Console(stderr=False)
    comparator = Comparator(load_rules(rules_path))
    chosen = (
        list(scenarios)
        if scenarios is not None
        else live_scenarios(token, route_filter=route_filter)
    )
    report = LiveParityReport(legacy_url, new_url)
    started = time.monotonic()
    progress = comparison_progress("parity", console)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client, progress:
        task = progress.add_task("parity", total=len(chosen), current="")
        for scenario in chosen:
            progress.update(task, current=scenario.id)
            route = None if scenario.route.startswith("(") else scenario.route
            result = LiveResult(scenario.id, scenario.route, scenario.describe())
            try:
                legacy = CapturedResponse.from_httpx(
                    client.send(_request(scenario, legacy_url, token))
                )
                secondary = None
                if learn_noise:
                    secondary = CapturedResponse.from_httpx(
                        client.send(_request(scenario, legacy_url, token))
                    )
                new = CapturedResponse.from_httpx(client.send(_request(scenario, new_url, token)))
                result.comparison = comparator.compare(route, legacy, new, secondary=secondary)
            except httpx.HTTPError as exc:
                result.error = f"{type(exc).__name__}: {exc}"
            report.results.append(result)
            progress.advance(task)
    report.seconds = time.monotonic() - started
    _print(report, console)
    return report


def _print(report: LiveParityReport, console: Console) -> None:
    for result in report.results:
        if result.status == "mismatch":
            assert result.comparison is not None
            title = f"MISMATCH {result.route} [{result.scenario}]\nrequest: {result.request}"
            console.print(redact_text(format_diff(result.comparison, title=title)), markup=False)
            console.print()
        elif result.status == "error":
            console.print(
                redact_text(f"ERROR {result.route} [{result.scenario}]: {result.error}"),
                markup=False,
            )
    table = Table(title=f"parity: {report.legacy_url} (legacy) vs {report.new_url} (new)")
    table.add_column("route")
    for name in ("match", "mismatch", "error"):
        table.add_column(name, justify="right")
    routes: dict[str, dict[str, int]] = {}
    for result in report.results:
        counts = routes.setdefault(result.route, {"match": 0, "mismatch": 0, "error": 0})
        counts[result.status] += 1
    for route, counts in sorted(routes.items()):
        table.add_row(route, *(str(counts[n]) for n in ("match", "mismatch", "error")))
    table.add_row(
        "[bold]total[/bold]", *(str(report.count(n)) for n in ("match", "mismatch", "error"))
    )
    console.print(table)
    console.print(f"{len(report.results)} requests in {report.seconds:.1f} s")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Add the ``parity`` options to ``parser`` (or a new one) and return it."""
    parser = parser or argparse.ArgumentParser(
        prog="resync-strangler parity", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--legacy-url", required=True, help="base URL of the legacy deployment")
    parser.add_argument("--new-url", required=True, help="base URL of the new deployment")
    parser.add_argument(
        "--token",
        default=os.environ.get("STRANGLER_PARITY_TOKEN"),
        help="access token sent to both sides (default: $STRANGLER_PARITY_TOKEN, which keeps it "
        "out of the process list)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument(
        "--learn-noise", action="store_true", help="ask legacy twice; report its own churn as noise"
    )
    parser.add_argument("--rules", default=None, help="comparison rules file (TOML, version 1)")
    parser.add_argument("--route", default=None, help="only routes whose key contains this text")
    parser.add_argument("--json", dest="json_path", default=None, help="also write a JSON report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``parity`` from the command line; return the exit code (0 match, 1 mismatch, 2 error)."""
    args = build_parser().parse_args(argv)
    report = run_live_parity(
        args.legacy_url,
        args.new_url,
        args.token,
        timeout=args.timeout,
        learn_noise=args.learn_noise,
        rules_path=args.rules,
        route_filter=args.route,
    )
    if args.json_path:
        Path(args.json_path).write_text(
            redact_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str)),
            encoding="utf-8",
        )
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
