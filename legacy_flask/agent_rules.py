"""Answer a chat message with the deterministic rule engine the agents run today.

Rules are tried in order, case-insensitively; the first that matches asks TWS and writes the
reply. Anything else gets the help text (and, in the chat view, an audit item).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from legacy_flask.tws import TwsClient, items_of, project

__all__ = ["HELP_REPLY", "Reply", "answer"]

HELP_REPLY = (
    "I can report a job's status ('job NAME'), failed jobs, workstations and the current plan."
)
_JOB = re.compile(r"\bjob\s+([A-Za-z0-9_-]{1,64})\b", re.IGNORECASE)
_TWS_PAGE = 1000
_FAILURES_SHOWN = 5


@dataclass(frozen=True)
class Reply:
    """The intent a message matched and the agent's answer."""

    intent: str
    text: str


def _job_status(tws: TwsClient, name: str) -> Reply:
    items = items_of(tws.jobs(name=name, limit=1))
    if not items:
        return Reply("job_status", f"I could not find job {name}.")
    job = project(items[0], ("name", "workstation", "status", "job_stream"))
    return Reply(
        "job_status",
        f"Job {job['name']} on {job['workstation']} is {job['status']} "
        f"(stream {job['job_stream']}).",
    )


def _failures(tws: TwsClient) -> Reply:
    names: list[str] = []
    offset = 0
    while True:
        page = tws.jobs(status="ABEND", limit=_TWS_PAGE, offset=offset)
        items = items_of(page)
        names.extend(str(project(item, ("name",))["name"]) for item in items)
        offset += len(items)
        total = page.get("total")
        if not items or not isinstance(total, int) or offset >= total:
            break
    if not names:
        return Reply("failures", "No jobs are in ABEND.")
    shown = ", ".join(sorted(names)[:_FAILURES_SHOWN])
    return Reply("failures", f"{len(names)} jobs are in ABEND: {shown}.")


def _workstations(tws: TwsClient) -> Reply:
    items = [project(item, ("status",)) for item in items_of(tws.workstations())]
    linked = sum(1 for item in items if item["status"] == "LINKED")
    return Reply("workstations", f"{linked} of {len(items)} workstations are LINKED.")


def _plan(tws: TwsClient) -> Reply:
    plan = project(tws.plan(), ("plan_id", "jobs_count", "status"))
    return Reply(
        "plan",
        f"Current plan {plan['plan_id']}: {plan['jobs_count']} jobs, status {plan['status']}.",
    )


def answer(message: str, tws: TwsClient) -> Reply:
    """Match ``message`` against the rules in order and build the reply from TWS."""
    job = _JOB.search(message)
    if job:
        return _job_status(tws, job.group(1))
    lowered = message.lower()
    if "abend" in lowered or "fail" in lowered:
        return _failures(tws)
    if "workstation" in lowered:
        return _workstations(tws)
    if "plan" in lowered:
        return _plan(tws)
    return Reply("help", HELP_REPLY)
