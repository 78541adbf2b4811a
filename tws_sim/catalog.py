"""Serve the data set as ready-made JSON bytes, so a request costs a lookup, not a dumps.

Every fixed answer is encoded once at start. The job list is the one answer built per request:
the matching jobs are found by a scan of 500 small tuples and their pre-encoded bytes are
joined, which keeps even ``limit=1000`` cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tws_sim.dataset import JOB_STATUSES, DataSet
from tws_sim.errors import InvalidQuery

__all__ = ["MAX_LIMIT", "Catalog", "JobQuery", "encode"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def encode(value: Any) -> bytes:
    """Encode JSON the way the team's apps do: compact, UTF-8, keys in insertion order."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class JobQuery:
    """The filters and page of ``GET /model/jobdefinition``; ``None`` means no filter."""

    status: str | None = None
    workstation: str | None = None
    name: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def parse(cls, params: Any) -> JobQuery:
        """Validate query parameters (a mapping of str); an empty value counts as absent."""

        def text(key: str) -> str | None:
            value = params.get(key)
            return (value.strip() or None) if value is not None else None

        def integer(key: str, default: int, low: int, high: int | None) -> int:
            raw = text(key)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError as exc:
                raise InvalidQuery(f"{key} must be an integer") from exc
            if value < low or (high is not None and value > high):
                bound = f"between {low} and {high}" if high is not None else f">= {low}"
                raise InvalidQuery(f"{key} must be {bound}")
            return value

        status = text("status")
        if status is not None:
            status = status.upper()
            if status not in JOB_STATUSES:
                raise InvalidQuery(f"status must be one of {', '.join(JOB_STATUSES)}")
        return cls(
            status=status,
            workstation=text("workstation"),
            name=text("name"),
            limit=integer("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
            offset=integer("offset", 0, 0, None),
        )


class Catalog:
    """The encoded answers of every /twsd path for one data set."""

    def __init__(self, dataset: DataSet) -> None:
        self.dataset = dataset
        jobs_by_id = {job["id"]: job for job in dataset.jobs}
        self.plan = encode(dataset.plan)
        self.critical_path = encode(
            {
                "plan_id": dataset.plan["plan_id"],
                "jobs": [jobs_by_id[job_id] for job_id in dataset.critical_path],
            }
        )
        self.workstations = encode(
            {"items": dataset.workstations, "total": len(dataset.workstations)}
        )
        self.jobs = {job["id"]: encode(job) for job in dataset.jobs}
        self.histories = {
            job_id: encode({"job_id": job_id, "items": runs})
            for job_id, runs in dataset.histories.items()
        }
        self.logs = {
            job_id: encode({"job_id": job_id, "log": log}) for job_id, log in dataset.logs.items()
        }
        self.dependencies = {
            job_id: encode({"job_id": job_id, "items": items})
            for job_id, items in dataset.dependencies.items()
        }
        # (status, workstation folded, name folded, encoded job), in id order.
        self._index = [
            (job["status"], job["workstation"].casefold(), job["name"].casefold(), encode(job))
            for job in dataset.jobs
        ]

    def job_list(self, query: JobQuery) -> bytes:
        """Return ``{"items": [...], "total": n}`` for a validated query."""
        rows = self._index
        if query.status is not None:
            rows = [row for row in rows if row[0] == query.status]
        if query.workstation is not None:
            folded = query.workstation.casefold()
            rows = [row for row in rows if row[1] == folded]
        if query.name is not None:
            folded = query.name.casefold()
            rows = [row for row in rows if row[2] == folded]
        page = rows[query.offset : query.offset + query.limit]
        return b'{"items":[%s],"total":%d}' % (b",".join(row[3] for row in page), len(rows))
