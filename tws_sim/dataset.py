"""Generate the simulator's data set: workstations, 500 jobs, histories, logs and dependencies.

Everything is drawn from ``random.Random(seed)`` and timestamps are offsets from a fixed base time,
so one seed always yields byte-identical answers. The data set is built once at start; the
JSON answers are serialised then too (see :mod:`tws_sim.responses`), which keeps handlers cheap.

The simulated "now" is ``BASE_TIME + 12 h``: jobs that finished (``SUCC``, ``ABEND``) ran before it,
``EXEC`` jobs started in the hour before it, ``HOLD`` and ``READY`` jobs have not started.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "BASE_TIME",
    "JOB_COUNT",
    "JOB_STATUSES",
    "WORKSTATION_STATUSES",
    "WORKSTATION_TYPES",
    "DataSet",
    "build_dataset",
    "format_time",
]

BASE_TIME = datetime(2026, 11, 26, tzinfo=UTC)
NOW = BASE_TIME + timedelta(hours=12)
JOB_COUNT = 500
STREAM_COUNT = 25
HISTORY_LENGTH = 20
CRITICAL_PATH_LENGTH = 10
JOB_STATUSES = ("SUCC", "ABEND", "EXEC", "HOLD", "READY")
WORKSTATION_TYPES = ("MASTER", "FTA", "AGENT", "POOL")
WORKSTATION_STATUSES = ("LINKED", "UNLINKED")

# Exact counts, shuffled: every status is present and ABEND is 5 % whatever the seed.
_STATUS_COUNTS = {"SUCC": 370, "ABEND": 25, "EXEC": 30, "HOLD": 30, "READY": 45}
# Order within a stream: succeeded; then jobs whose predecessors all succeeded (ABEND and EXEC
# ran, READY may launch: in TWS, READY means "dependencies resolved"); then HOLD ("awaiting
# dependency resolution").
_RANK = {"SUCC": 0, "ABEND": 1, "EXEC": 1, "READY": 1, "HOLD": 2}

_DOMAINS = (
    "PAYROLL", "BILLING", "INVENTORY", "LEDGER", "CLAIMS", "ORDERS", "SHIPPING", "CRM",
    "TREASURY", "RISK", "AUDIT", "HR", "PRICING", "SETTLEMENT", "CARDS", "LOANS", "DEPOSITS",
    "REPORTING", "DWH", "MARKETING", "PROCUREMENT", "TAX", "FRAUD", "COMPLIANCE", "ARCHIVE",
    "STATEMENTS", "INVOICING", "ASSETS",
)  # fmt: skip
_FREQUENCIES = ("DAILY", "NIGHTLY", "HOURLY", "WEEKLY", "MONTHLY", "EOD")
_ACTIONS = (
    "EXTRACT", "LOAD", "TRANSFORM", "VALIDATE", "RECONCILE", "EXPORT", "IMPORT", "BACKUP",
    "PURGE", "REPORT", "NOTIFY", "AGGREGATE", "SORT", "MERGE", "TRANSFER", "CHECK",
)  # fmt: skip
_ABEND_CAUSES = (
    ("ORA-00060: deadlock detected while waiting for resource", 12),
    ("java.lang.OutOfMemoryError: Java heap space", 137),
    ("FTP transfer failed: 550 Requested action not taken. File unavailable", 4),
    ("Input file /data/in/{stream}.dat not found", 2),
    ("SQL0911N The current transaction has been rolled back because of a deadlock", 8),
    ("Connection refused: connect to dbhost01:50000", 16),
    ("Record count mismatch: expected {expected} got {got}", 3),
)


def format_time(moment: datetime) -> str:
    """Format a timestamp the way every answer does: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


@dataclass(frozen=True, slots=True)
class DataSet:
    """The whole simulated TWS: plain JSON-ready dicts, ordered as the API answers them."""

    seed: int
    plan: dict[str, Any]
    critical_path: list[str]
    workstations: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    histories: dict[str, list[dict[str, Any]]]
    logs: dict[str, str]
    dependencies: dict[str, list[dict[str, Any]]]


def _workstations(rng: random.Random) -> list[dict[str, Any]]:
    count = rng.randint(9, 12)
    # One master, then a mix; the shuffle decides which names land on which type.
    types = ["MASTER", "FTA", "FTA", "AGENT", "AGENT", "POOL"]
    types += [rng.choice(WORKSTATION_TYPES[1:]) for _ in range(count - len(types))]
    unlinked = set(rng.sample(range(1, count), k=rng.randint(2, 3)))  # never the master
    platforms = ["LNX", "AIX", "WIN", "ZOS", "SOL"]
    numbers: dict[str, int] = {}
    result = []
    for index, kind in enumerate(types):
        if kind == "MASTER":
            name = "MDM_MASTER"
        else:
            platform = rng.choice(platforms)
            prefix = {"FTA": "FTA", "AGENT": "AGT", "POOL": "POOL"}[kind]
            key = f"{prefix}_{platform}"
            numbers[key] = numbers.get(key, 0) + 1
            name = f"{key}{numbers[key]:02d}"
        status = "UNLINKED" if index in unlinked else "LINKED"
        seen = NOW - timedelta(
            seconds=rng.randint(5, 55) if status == "LINKED" else rng.randint(3600, 30 * 3600)
        )
        result.append({"name": name, "type": kind, "status": status, "last_seen": _iso(seen)})
    return sorted(result, key=lambda ws: ws["name"])


def _stream_sizes(rng: random.Random) -> list[int]:
    sizes = [12] * STREAM_COUNT
    for _ in range(JOB_COUNT - sum(sizes)):
        sizes[rng.randrange(STREAM_COUNT)] += 1
    return sizes


def _log(rng: random.Random, job: dict[str, Any], user: str) -> str:
    status = job["status"]
    header = [
        "===============================================================",
        f"= JOB       : {job['workstation']}#{job['job_stream']}.{job['name']}",
        f"= USER      : {user}",
        f"= JCLFILE   : /opt/tws/scripts/{job['job_stream'].lower()}/{job['name'].lower()}.sh",
        f"= Job Number: {rng.randint(100000, 999999)}",
    ]
    if status in {"HOLD", "READY"}:
        reason = (
            "awaiting dependency resolution"
            if status == "HOLD"
            else "dependencies resolved, waiting to launch"
        )
        return "\n".join([*header, f"= Job has not started: {reason}", "=" * 63, ""])
    start = _parse(job["start_time"])
    stamp = start.strftime("%a %m/%d/%Y %H:%M:%S UTC")
    lines = [*header, f"= {stamp}", "=" * 63]
    finish = NOW if job["end_time"] is None else _parse(job["end_time"])
    records = rng.randint(1_000, 2_000_000)
    steps = [
        f"Connecting to {rng.choice(['dbhost01', 'dbhost02', 'etl-db', 'dwh-db'])} as batch user",
        f"Reading input /data/in/{job['job_stream'].lower()}.dat",
        f"Processed {records} records",
        "Committing transaction",
    ]
    taken = steps[: rng.randint(1, 3)] if status == "EXEC" else steps
    # Spread the steps over the run so no line is stamped after the job ended.
    marks = sorted(rng.random() for _ in taken)
    moment = start
    for mark, step in zip(marks, taken, strict=True):
        moment = start + (finish - start) * mark
        lines.append(f"{moment:%H:%M:%S} INFO  {step}")
    if status == "EXEC":
        lines.append(f"{moment:%H:%M:%S} INFO  Job still running")
        return "\n".join([*lines, ""])
    if status == "ABEND":
        cause, code = rng.choice(_ABEND_CAUSES)
        cause = cause.format(stream=job["job_stream"].lower(), expected=records, got=records - 17)
        lines.append(f"{moment:%H:%M:%S} ERROR {cause}")
        lines.append(f"{moment:%H:%M:%S} ERROR Step failed, rolling back")
    else:
        code = 0
    minutes = max(1, round((finish - start).total_seconds() / 60))
    lines += [
        "=" * 63,
        f"= Exit Status           : {code}",
        f"= Elapsed Time (Minutes) : {minutes}",
        f"= {finish:%a %m/%d/%Y %H:%M:%S} UTC",
        "=" * 63,
        "",
    ]
    return "\n".join(lines)


def _history(rng: random.Random, job: dict[str, Any], start_offset: int) -> list[dict[str, Any]]:
    runs = []
    for day in range(1, HISTORY_LENGTH + 1):
        start = BASE_TIME - timedelta(days=day) + timedelta(seconds=start_offset)
        start += timedelta(seconds=rng.randint(-300, 300))
        failed = rng.random() < 0.05
        end = start + timedelta(seconds=rng.randint(30, 2400))
        runs.append(
            {
                "run_id": f"{job['id']}-{start:%Y%m%d}",
                "status": "ABEND" if failed else "SUCC",
                "start_time": _iso(start),
                "end_time": _iso(end),
                "return_code": rng.choice([2, 4, 8, 12, 16]) if failed else 0,
            }
        )
    return runs  # day 1 first: newest first


def _stream_links(rng: random.Random, statuses: list[str]) -> list[list[int]]:
    """Return each position's predecessors (positions, ascending; the last one is the main one).

    The statuses come ordered by ``_RANK``, and links keep them coherent: every job but a ``HOLD``
    one depends only on ``SUCC`` jobs (finished before it started). ``ABEND``, ``EXEC`` and
    ``READY`` jobs branch off the last ``SUCC`` job side by side; ``HOLD`` jobs queue behind the
    previous job, whatever its status.
    """
    links: list[list[int]] = []
    last_success: int | None = None
    for place, status in enumerate(statuses):
        main = last_success if _RANK[status] == 1 else (place - 1 if place else None)
        predecessors = [] if main is None else [main]
        # Now and then one more, earlier, predecessor (all jobs before ``main`` succeeded
        # whenever the job itself started).
        if main is not None and main >= 1 and rng.random() < 0.3:
            predecessors.insert(0, rng.randrange(main))
        links.append(predecessors)
        if status == "SUCC":
            last_success = place
    return links


def _stream_times(
    rng: random.Random, statuses: list[str]
) -> list[tuple[datetime | None, datetime | None]]:
    """Return (start, end) per position: ``SUCC`` jobs one after another, then the rest."""
    budget = 10 * 3600  # the SUCC chain ends by 10:00, leaving room for what follows it
    steps = [(rng.randint(0, 300), rng.randint(30, 1500)) for s in statuses if s == "SUCC"]
    total = sum(gap + duration for gap, duration in steps)
    scale = min(1.0, budget / total) if total else 1.0
    cursor = BASE_TIME + timedelta(seconds=rng.randint(0, int(budget - total * scale)))
    pending = iter(steps)
    times: list[tuple[datetime | None, datetime | None]] = []
    for status in statuses:
        if status == "SUCC":
            gap, duration = next(pending)
            start = cursor + timedelta(seconds=int(gap * scale))
            cursor = start + timedelta(seconds=max(1, int(duration * scale)))
            times.append((start, cursor))
        elif status == "ABEND":
            start = cursor + timedelta(seconds=rng.randint(0, 600))
            times.append((start, start + timedelta(seconds=rng.randint(30, 1500))))
        elif status == "EXEC":
            times.append((NOW - timedelta(seconds=rng.randint(60, 3600)), None))
        else:
            times.append((None, None))
    return times


def _critical_path(
    streams: list[list[int]], links: dict[int, list[int]], rng: random.Random
) -> list[int]:
    """Follow main predecessors back from a stream's last job; keep the last ten of the chain."""
    chains = []
    for members in streams:
        chain = [members[-1]]
        while links[chain[-1]]:
            chain.append(links[chain[-1]][-1])
        chains.append(chain[::-1][-CRITICAL_PATH_LENGTH:])
    long_enough = [chain for chain in chains if len(chain) == CRITICAL_PATH_LENGTH]
    return rng.choice(long_enough) if long_enough else max(chains, key=len)


def build_dataset(seed: int = 42, *, user: str = "twsuser") -> DataSet:
    """Build the data set for ``seed``; the same seed always gives an equal data set."""
    rng = random.Random(seed)
    workstations = _workstations(rng)
    station_names = [ws["name"] for ws in workstations]
    domains = rng.sample(_DOMAINS, k=STREAM_COUNT)
    streams = [f"{domain}_{rng.choice(_FREQUENCIES)}" for domain in domains]
    statuses = [status for status, count in _STATUS_COUNTS.items() for _ in range(count)]
    rng.shuffle(statuses)

    jobs: list[dict[str, Any]] = []
    stream_members: list[list[int]] = []
    links: dict[int, list[int]] = {}
    start_offsets: dict[str, int] = {}
    for domain, stream, size in zip(domains, streams, _stream_sizes(rng), strict=True):
        first = len(jobs)
        # The stream's share of the shuffled statuses, finished first (a stable sort).
        share = sorted(statuses[first : first + size], key=_RANK.__getitem__)
        home = rng.choice(station_names)
        times = _stream_times(rng, share)
        for place, (status, (start, end)) in enumerate(zip(share, times, strict=True)):
            job_id = f"J{first + place + 1:04d}"
            # A job that has not run yet keeps a usual start later in the day for its history.
            if start is None:
                start_offsets[job_id] = rng.randint(12 * 3600, 23 * 3600)
            else:
                start_offsets[job_id] = int((start - BASE_TIME).total_seconds())
            # Most jobs run on their stream's workstation, a few elsewhere.
            station = home if rng.random() < 0.7 else rng.choice(station_names)
            jobs.append(
                {
                    "id": job_id,
                    "name": f"{domain}_{rng.choice(_ACTIONS)}_{place + 1:02d}",
                    "workstation": station,
                    "job_stream": stream,
                    "status": status,
                    "start_time": _iso(start),
                    "end_time": _iso(end),
                }
            )
        for place, predecessors in enumerate(_stream_links(rng, share)):
            links[first + place] = [first + p for p in predecessors]
        stream_members.append(list(range(first, first + size)))

    dependencies = {
        jobs[index]["id"]: [
            {
                "job_id": jobs[p]["id"],
                "name": jobs[p]["name"],
                "status": jobs[p]["status"],
                "type": "predecessor",
            }
            for p in predecessors
        ]
        for index, predecessors in links.items()
    }
    chain = _critical_path(stream_members, links, rng)
    histories = {job["id"]: _history(rng, job, start_offsets[job["id"]]) for job in jobs}
    logs = {job["id"]: _log(rng, job, user) for job in jobs}
    plan = {
        "plan_id": f"PLAN_{BASE_TIME:%Y%m%d}",
        "created_at": _iso(BASE_TIME),
        "jobs_count": len(jobs),
        "status": "RUNNING",
        "estimated_end": _iso(BASE_TIME + timedelta(hours=23, minutes=59, seconds=59)),
    }
    return DataSet(
        seed=seed,
        plan=plan,
        critical_path=[jobs[i]["id"] for i in chain],
        workstations=workstations,
        jobs=jobs,
        histories=histories,
        logs=logs,
        dependencies=dependencies,
    )
