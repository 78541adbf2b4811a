"""Answer a chat message with the deterministic rule engine of the contract.

Rules are tried in order, case-insensitively; the first match asks TWS and writes the reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resync_fastapi.services.tws import TwsClient

__all__ = ["HELP_REPLY", "Answer", "answer", "classify"]

HELP_REPLY = (
    "I can report a job's status ('job NAME'), failed jobs, workstations and the current plan."
)
_JOB = re.compile(r"\bjob\s+([A-Za-z0-9_-]{1,64})\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Answer:
    """An intent and the reply it produced."""

    intent: str
    reply: str


def classify(message: str) -> tuple[str, str | None]:
    """Return the intent of ``message`` and, for ``job_status``, the job name asked for."""
    if match := _JOB.search(message):
        return "job_status", match.group(1)
    lowered = message.lower()
    if "abend" in lowered or "fail" in lowered:
        return "failures", None
    if "workstation" in lowered:
        return "workstations", None
    if "plan" in lowered:
        return "plan", None
    return "help", None


async def answer(message: str, tws: TwsClient) -> Answer:
    """Classify ``message`` and build the reply from TWS's data."""
    intent, job_name = classify(message)
    if intent == "job_status":
        assert job_name is not None
        items, _ = await tws.jobs(name=job_name, limit=1)
        if not items:
            return Answer(intent, f"I could not find job {job_name}.")
        job = items[0]
        return Answer(
            intent,
            f"Job {job['name']} on {job['workstation']} is {job['status']} "
            f"(stream {job['job_stream']}).",
        )
    if intent == "failures":
        names, total = await tws.all_job_names("ABEND")
        if not total:
            return Answer(intent, "No jobs are in ABEND.")
        return Answer(intent, f"{total} jobs are in ABEND: {', '.join(sorted(names)[:5])}.")
    if intent == "workstations":
        items, total = await tws.workstations()  # total: how many TWS listed
        linked = sum(1 for item in items if item.get("status") == "LINKED")
        return Answer(intent, f"{linked} of {total} workstations are LINKED.")
    if intent == "plan":
        plan = await tws.current_plan()
        return Answer(
            intent,
            f"Current plan {plan['plan_id']}: {plan['jobs_count']} jobs, status {plan['status']}.",
        )
    return Answer(intent, HELP_REPLY)
