"""Run a scenario on both sides and compare every answer with the proxy's comparator.

The legacy side's answer is the expectation (it is the contract until a route moves), the new
side's the candidate. A scenario's ``before`` steps are compared too: a difference in a login
that precedes a lockout is as much a finding as one in the lockout itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from parity_tests.credentials import Credentials
from proxy.shadow.capture import CapturedResponse
from proxy.shadow.comparator import Comparator, format_diff
from proxy.shadow.differ import Comparison
from proxy.shadow.redaction import redact_text
from resync_scenarios import Scenario

__all__ = ["Exchange", "Outcome", "build_request", "preview", "run_scenario"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _Side(Protocol):
    name: str

    def send(self, request: httpx.Request) -> CapturedResponse: ...


@dataclass
class Exchange:
    """One request sent to both sides and the comparison of their answers."""

    label: str
    scenario: Scenario
    legacy: CapturedResponse
    new: CapturedResponse
    comparison: Comparison


@dataclass
class Outcome:
    """A scenario's exchanges (steps first, the scenario's own request last)."""

    scenario: Scenario
    exchanges: list[Exchange] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def main(self) -> Exchange:
        """Return the exchange of the scenario's own request."""
        return self.exchanges[-1]

    @property
    def equal(self) -> bool:
        """Tell whether every exchange matched and no extra check failed."""
        return not self.problems and all(e.comparison.equal for e in self.exchanges)

    def report(self, context: str = "") -> str:
        """Render what differs: the route, the request, the readable diff, both answers."""
        scenario = self.scenario
        lines = [
            f"parity mismatch{f' [{context}]' if context else ''}: scenario {scenario.id} "
            f"on route {scenario.route}",
            f"request: {scenario.describe()}",
        ]
        for exchange in self.exchanges:
            if exchange.comparison.equal:
                continue
            lines.append(f"-- {exchange.label}: {exchange.scenario.describe()}")
            lines.append(format_diff(exchange.comparison))
            lines.append(f"   legacy answered: {preview(exchange.legacy)}")
            lines.append(f"   new answered:    {preview(exchange.new)}")
        lines += [f"-- {problem}" for problem in self.problems]
        return redact_text("\n".join(lines))


def preview(response: CapturedResponse, limit: int = 700) -> str:
    """Render an answer on one line: status, content type, start of the body."""
    body = response.body.decode("utf-8", "replace")
    if len(body) > limit:
        body = body[: limit - 1] + "…"
    return f"{response.status} {response.header('content-type') or '-'} {body}"


def build_request(
    scenario: Scenario,
    credentials: Credentials,
    base_url: str,
    previous: Any = None,
) -> httpx.Request:
    """Build the request a scenario describes (``{prev.id}`` from the last step's JSON)."""
    path = scenario.path
    if "{prev.id}" in path:
        if not isinstance(previous, dict) or "id" not in previous:
            raise LookupError(f"{scenario.id}: the previous step answered no id ({previous!r})")
        path = path.replace("{prev.id}", str(previous["id"]))
    headers = list(scenario.headers)
    authorization = credentials.authorization(scenario.auth)
    if authorization is not None:
        headers.append(("Authorization", authorization))
        if scenario.auth is not None and scenario.auth.startswith("twice:"):
            headers.append(("Authorization", authorization))
    credentials.require(_token_references(scenario.json))
    body, content_type = scenario.payload(credentials.tokens())
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return httpx.Request(
        scenario.http_method,
        base_url.rstrip("/") + path,
        params=list(scenario.query) or None,
        headers=headers,
        content=(
            iter([body])  # an iterator: httpx sends it chunked, with no Content-Length
            if scenario.chunked
            else body
            if body or scenario.http_method not in ("GET", "HEAD")
            else None
        ),
    )


def _token_references(value: Any) -> list[str]:
    """Return the ``refresh:NAME`` / ``access:NAME`` placeholders in a JSON body, as names."""
    if isinstance(value, str) and value.startswith(("refresh:", "access:")):
        return [value.split(":", 1)[1]]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _token_references(v)]
    if isinstance(value, list):
        return [n for v in value for n in _token_references(v)]
    return []


def _json(response: CapturedResponse) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        return None


def _send_all(
    side: _Side, scenario: Scenario, credentials: Credentials, base_url: str
) -> list[CapturedResponse]:
    answers: list[CapturedResponse] = []
    previous: Any = None
    for step in (*scenario.before, scenario):
        answer = side.send(build_request(step, credentials, base_url, previous))
        previous = _json(answer)
        answers.append(answer)
    return answers


def run_scenario(
    scenario: Scenario,
    legacy: _Side,
    new: _Side,
    credentials: Credentials,
    comparator: Comparator,
    *,
    base_urls: Mapping[str, str] | None = None,
) -> Outcome:
    """Send the scenario (steps, then its request) to legacy, then to new; compare each."""
    urls = base_urls or {}
    legacy_answers = _send_all(
        legacy, scenario, credentials, urls.get("legacy", "http://testserver")
    )
    new_answers = _send_all(new, scenario, credentials, urls.get("new", "http://testserver"))
    outcome = Outcome(scenario)
    steps = (*scenario.before, scenario)
    for index, (step, left, right) in enumerate(
        zip(steps, legacy_answers, new_answers, strict=True)
    ):
        route = None if step.route.startswith("(") else step.route
        label = "request" if index == len(steps) - 1 else f"step {index + 1} ({step.id})"
        outcome.exchanges.append(
            Exchange(label, step, left, right, comparator.compare(route, left, right))
        )
    sent_id = dict((k.lower(), v) for k, v in scenario.headers).get("x-request-id")
    if sent_id is not None and _REQUEST_ID.match(sent_id):
        for name, answer in (("legacy", legacy_answers[-1]), ("new", new_answers[-1])):
            if answer.header("x-request-id") != sent_id:
                outcome.problems.append(
                    f"{name} did not echo the client's X-Request-ID {sent_id!r}: "
                    f"{answer.header('x-request-id')!r}"
                )
    return outcome
