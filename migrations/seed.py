"""Seed demo data: users, agents, an audit queue in all three states and runbook documents.

Idempotent: a second run adds only what is missing, so ``make run`` can call it every time.
Production (``RESYNC_ENV=production``) gets the agents and runbooks but no demo users.

argon2 is imported only when demo users are hashed: the FastAPI app imports this package (for
:func:`migrations.chunking.chunk_text`) and should not carry the hasher for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import DateTime, column, create_engine, insert, pool, table, text

from migrations.chunking import chunk_text
from migrations.database import database_url, sync_engine_url

RUNBOOK_DIR = Path(__file__).resolve().parent / "seed_data" / "runbooks"

DEMO_PASSWORDS = {
    # username: (role, environment variable, development default)
    "admin": ("admin", "RESYNC_DEMO_ADMIN_PASSWORD", "resync-admin-dev"),
    "operator": ("operator", "RESYNC_DEMO_OPERATOR_PASSWORD", "resync-operator-dev"),
    "viewer": ("viewer", "RESYNC_DEMO_VIEWER_PASSWORD", "resync-viewer-dev"),
}

AGENTS = [
    {
        "id": "tws-general",
        "name": "TWS General Assistant",
        "agent_type": "general",
        "role": "Workload automation generalist",
        "goal": "Answer operators' questions about the current plan, jobs and workstations.",
        "backstory": "Years on the night shift of a large HWA installation taught this agent "
        "where to look first and how to say it in one sentence.",
        "tools": ["tws_status", "tws_jobs", "tws_plan"],
        "model_name": "resync-rules-1",
    },
    {
        "id": "tws-reporting",
        "name": "TWS Reporting Analyst",
        "agent_type": "reporting",
        "role": "Plan and throughput reporter",
        "goal": "Summarise the plan's progress and the state of the workstation fleet.",
        "backstory": "Built the morning reports that the operations managers read over coffee.",
        "tools": ["tws_plan", "tws_workstations"],
        "model_name": "resync-rules-1",
    },
    {
        "id": "tws-troubleshooting",
        "name": "TWS Troubleshooting Specialist",
        "agent_type": "troubleshooting",
        "role": "Incident responder for failed jobs",
        "goal": "Find jobs in ABEND, explain their state and point to the runbook.",
        "backstory": "Knows every return code by heart and has restarted more job streams "
        "than anyone would care to count.",
        "tools": ["tws_jobs", "tws_job_log", "rag_search"],
        "model_name": "resync-rules-1",
    },
]

_AUDIT_QUERIES = [
    (
        "why did the payroll stream stop",
        "I can report a job's status ('job NAME'), failed jobs, workstations and the current plan.",
    ),
    (
        "restart everything in abend",
        "3 jobs are in ABEND: ETL_LOAD_014, PAYROLL_EXTRACT_07, REPORT_DAILY_22.",
    ),
    (
        "what is the weather on CPU_MASTER",
        "I can report a job's status ('job NAME'), failed jobs, workstations and the current plan.",
    ),
    ("cancel the plan", "Current plan PLAN_20261126: 500 jobs, status RUNNING."),
    (
        "show me job BACKUP_FULL_03",
        "Job BACKUP_FULL_03 on FTA_LINUX_02 is SUCC (stream JS_BACKUP).",
    ),
]
_AUDIT_STATES = ["pending"] * 14 + ["approved"] * 9 + ["rejected"] * 7

# Typed column lists so SQLAlchemy writes timestamps exactly as the apps' own tables do (on
# SQLite ``YYYY-MM-DD HH:MM:SS.000000``); a raw parameter would be stored without the
# fraction and sort before app-written rows of the same second.
_USERS = table(
    "users",
    column("username"),
    column("password_hash"),
    column("role"),
    column("full_name"),
    column("email"),
    column("created_at", DateTime),
)
_AUDIT_ITEMS = table(
    "audit_items",
    column("memory_id"),
    column("agent_id"),
    column("user_query"),
    column("agent_response"),
    column("reason"),
    column("confidence"),
    column("status"),
    column("created_at", DateTime),
    column("reviewed_at", DateTime),
    column("reviewed_by"),
)
_RAG_FILES = table(
    "rag_files",
    column("id"),
    column("filename"),
    column("size"),
    column("sha256"),
    column("content_type"),
    column("chunks"),
    column("uploaded_by"),
    column("created_at", DateTime),
)


@dataclass
class SeedReport:
    """What one seed run added."""

    users: list[str] = field(default_factory=list)
    agents: list[str] = field(default_factory=list)
    audit_items: int = 0
    documents: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def seed(url: str | None = None, *, environment: str | None = None) -> SeedReport:
    """Add the demo data that is missing from the database at ``url``."""
    environment = environment or os.environ.get("RESYNC_ENV", "development")
    engine = create_engine(sync_engine_url(url or database_url()), poolclass=pool.NullPool)
    report = SeedReport()
    now = _now()
    try:
        with engine.begin() as conn:
            if environment != "production":
                from argon2 import PasswordHasher

                hasher = PasswordHasher()
                for username, (role, env_var, default) in DEMO_PASSWORDS.items():
                    exists = conn.execute(
                        text("SELECT 1 FROM users WHERE username = :u"), {"u": username}
                    ).first()
                    if exists:
                        continue
                    conn.execute(
                        insert(_USERS).values(
                            username=username,
                            password_hash=hasher.hash(os.environ.get(env_var, default)),
                            role=role,
                            full_name=f"Demo {role.capitalize()}",
                            email=f"{username}@resync.example",
                            created_at=now,
                        )
                    )
                    report.users.append(username)
            for agent in AGENTS:
                if conn.execute(
                    text("SELECT 1 FROM agents WHERE id = :i"), {"i": agent["id"]}
                ).first():
                    continue
                conn.execute(
                    text(
                        "INSERT INTO agents (id, name, agent_type, role, goal, backstory, tools,"
                        " model_name) VALUES (:id, :name, :agent_type, :role, :goal, :backstory,"
                        " :tools, :model_name)"
                    ),
                    {**agent, "tools": json.dumps(agent["tools"])},
                )
                report.agents.append(str(agent["id"]))
            for n, status in enumerate(_AUDIT_STATES, start=1):
                memory_id = f"seed-{n:04d}"
                if conn.execute(
                    text("SELECT 1 FROM audit_items WHERE memory_id = :m"), {"m": memory_id}
                ).first():
                    continue
                query, response = _AUDIT_QUERIES[n % len(_AUDIT_QUERIES)]
                created = now - timedelta(hours=2 * (len(_AUDIT_STATES) - n) + 1)
                reviewed = status != "pending"
                conn.execute(
                    insert(_AUDIT_ITEMS).values(
                        memory_id=memory_id,
                        agent_id=AGENTS[n % len(AGENTS)]["id"],
                        user_query=f"{query} (#{n})",
                        agent_response=response,
                        reason="unrecognized request" if n % 2 else "low confidence",
                        confidence=round((n % 10) / 10, 2),
                        status=status,
                        created_at=created,
                        reviewed_at=created + timedelta(minutes=30) if reviewed else None,
                        reviewed_by="admin" if reviewed else None,
                    )
                )
                report.audit_items += 1
            for path in sorted(RUNBOOK_DIR.glob("*.md")):
                raw = path.read_bytes()
                digest = hashlib.sha256(raw).hexdigest()
                if conn.execute(
                    text("SELECT 1 FROM rag_files WHERE sha256 = :s"), {"s": digest}
                ).first():
                    continue
                chunks = chunk_text(raw.decode("utf-8"))
                file_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"resync-runbook:{path.name}"))
                conn.execute(
                    insert(_RAG_FILES).values(
                        id=file_id,
                        filename=path.name,
                        size=len(raw),
                        sha256=digest,
                        content_type="text/markdown",
                        chunks=len(chunks),
                        uploaded_by=None,
                        created_at=now,
                    )
                )
                for index, chunk in enumerate(chunks):
                    conn.execute(
                        text(
                            "INSERT INTO rag_chunks (file_id, chunk_index, content)"
                            " VALUES (:f, :i, :c)"
                        ),
                        {"f": file_id, "i": index, "c": chunk},
                    )
                report.documents.append(path.name)
    finally:
        engine.dispose()
    return report
