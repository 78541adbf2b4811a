"""Parity scenarios for ``/api/v1/status``: TWS status, workstations, jobs, job logs, plan."""

from __future__ import annotations

from resync_scenarios.builders import A, by_role, pagination
from resync_scenarios.model import Scenario

__all__ = ["scenarios"]

KNOWN_JOB_ID = "J0001"


def scenarios() -> list[Scenario]:
    """Return the TWS status scenarios, in suite order."""
    s: list[Scenario] = []

    # --- TWS status -------------------------------------------------------------------------
    s += by_role("status", "GET /api/v1/status", f"{A}/status", "viewer")
    s += [
        Scenario(
            "status-tws-error",
            "GET /api/v1/status",
            f"{A}/status",
            auth="viewer",
            expect=502,
            tws={"error_rate": 1.0},
        ),
        Scenario(
            "status-tws-reset",
            "GET /api/v1/status",
            f"{A}/status",
            auth="viewer",
            expect=502,
            tws={"reset_rate": 1.0},
        ),
        Scenario("status-slash", "(unknown)", f"{A}/status/", auth="viewer", expect=404),
    ]
    ws = "GET /api/v1/status/workstations"
    s += by_role("workstations", ws, f"{A}/status/workstations", "viewer")
    s += pagination("workstations", ws, f"{A}/status/workstations", "viewer")
    s.append(
        Scenario(
            "workstations-tws-error",
            ws,
            f"{A}/status/workstations",
            auth="viewer",
            expect=502,
            tws={"error_rate": 1.0},
        )
    )
    jobs = "GET /api/v1/status/jobs"
    jpath = f"{A}/status/jobs"
    s += by_role("jobs", jobs, jpath, "viewer")
    s += pagination("jobs", jobs, jpath, "viewer")
    for status in ("SUCC", "ABEND", "EXEC", "HOLD", "READY"):
        s.append(
            Scenario(
                f"jobs-{status.lower()}",
                jobs,
                jpath,
                auth="viewer",
                expect=200,
                query=(("status", status), ("limit", "5")),
            )
        )
    s += [
        Scenario(
            "jobs-bad-status", jobs, jpath, auth="viewer", expect=400, query=(("status", "FAILED"),)
        ),
        Scenario(
            "jobs-lowercase-status",
            jobs,
            jpath,
            auth="viewer",
            expect=400,
            query=(("status", "succ"),),
        ),
        Scenario(
            "jobs-workstation",
            jobs,
            jpath,
            auth="viewer",
            expect=200,
            query=(("workstation", "AGT_LNX01"),),
        ),
        Scenario(
            "jobs-unknown-workstation",
            jobs,
            jpath,
            auth="viewer",
            expect=200,
            query=(("workstation", "NOPE"),),
        ),
        Scenario(
            "jobs-last-page",
            jobs,
            jpath,
            auth="viewer",
            expect=200,
            query=(("limit", "100"), ("offset", "450")),
        ),
        Scenario("jobs-tws-error", jobs, jpath, auth="viewer", expect=502, tws={"error_rate": 1.0}),
    ]
    job = "GET /api/v1/status/jobs/{job_id}"
    s += by_role("job", job, f"{jpath}/{KNOWN_JOB_ID}", "viewer")
    s += [
        Scenario("job-abend", job, f"{jpath}/J0002", auth="viewer"),
        Scenario("job-unknown", job, f"{jpath}/J9999", auth="viewer", expect=404),
        Scenario("job-bad-id", job, f"{jpath}/bad%21id", auth="viewer", expect=400),
        Scenario("job-id-too-long", job, f"{jpath}/{'J' * 65}", auth="viewer", expect=400),
        Scenario("job-id-64", job, f"{jpath}/{'J' * 64}", auth="viewer", expect=404),
        Scenario("job-id-dot", job, f"{jpath}/J.1", auth="viewer", expect=400),
        Scenario(
            "job-tws-error",
            job,
            f"{jpath}/{KNOWN_JOB_ID}",
            auth="viewer",
            expect=502,
            tws={"error_rate": 1.0},
        ),
    ]
    log = "GET /api/v1/status/jobs/{job_id}/log"
    s += by_role("job-log", log, f"{jpath}/{KNOWN_JOB_ID}/log", "viewer")
    s += [
        Scenario("job-log-unknown", log, f"{jpath}/J9999/log", auth="viewer", expect=404),
        Scenario("job-log-bad-id", log, f"{jpath}/bad%24id/log", auth="viewer", expect=400),
    ]
    plan = "GET /api/v1/status/plan"
    s += by_role("plan", plan, f"{A}/status/plan", "viewer")
    s += [
        Scenario(
            "plan-tws-error",
            plan,
            f"{A}/status/plan",
            auth="viewer",
            expect=502,
            tws={"error_rate": 1.0},
        ),
        Scenario(
            "plan-tws-timeout",
            plan,
            f"{A}/status/plan",
            auth="viewer",
            expect=504,
            tws={"timeout_rate": 1.0, "timeout_seconds": 3.0},
        ),
        Scenario("plan-issued-by-new", plan, f"{A}/status/plan", auth="viewer@new", expect=200),
    ]
    return s
