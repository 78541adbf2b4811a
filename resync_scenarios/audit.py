"""Parity scenarios for ``/api/v1/audit``: flags, review, metrics, export."""

from __future__ import annotations

from resync_scenarios.builders import CHAT_HELP, A, by_role, pagination
from resync_scenarios.model import Scenario

__all__ = ["scenarios"]


def scenarios() -> list[Scenario]:
    """Return the audit scenarios, in suite order."""
    s: list[Scenario] = []

    # --- audit ------------------------------------------------------------------------------
    flags = "GET /api/v1/audit/flags"
    fpath = f"{A}/audit/flags"
    s += by_role("audit-flags", flags, fpath, "viewer")
    s += pagination("audit-flags", flags, fpath, "viewer")
    for status in ("pending", "approved", "rejected", "all"):
        s.append(
            Scenario(
                f"audit-flags-{status}",
                flags,
                fpath,
                auth="viewer",
                expect=200,
                query=(("status", status),),
            )
        )
    s += [
        Scenario(
            "audit-flags-bad-status",
            flags,
            fpath,
            auth="viewer",
            expect=400,
            query=(("status", "open"),),
        ),
        Scenario(
            "audit-flags-status-case",
            flags,
            fpath,
            auth="viewer",
            expect=400,
            query=(("status", "PENDING"),),
        ),
        Scenario(
            "audit-flags-q",
            flags,
            fpath,
            auth="viewer",
            expect=200,
            query=(("status", "all"), ("q", "PAYROLL")),
        ),
        Scenario(
            "audit-flags-q-no-match",
            flags,
            fpath,
            auth="viewer",
            expect=200,
            query=(("q", "zzz-nothing"),),
        ),
        Scenario(
            "audit-flags-q-like-wildcards",
            flags,
            fpath,
            auth="viewer",
            expect=200,
            query=(("status", "all"), ("q", "%_")),
        ),
        Scenario(
            "audit-flags-q-too-long",
            flags,
            fpath,
            auth="viewer",
            expect=400,
            query=(("q", "q" * 201),),
        ),
        Scenario(
            "audit-flags-q-and-limit-bad",
            flags,
            fpath,
            auth="viewer",
            expect=400,
            query=(("q", "q" * 201), ("limit", "0"), ("status", "x")),
        ),
    ]
    review = "POST /api/v1/audit/review"
    rpath = f"{A}/audit/review"
    s += by_role(
        "audit-review",
        review,
        rpath,
        "operator",
        json={"memory_id": "seed-0002", "action": "approve"},
    )
    s += [
        Scenario(
            "audit-review-reject",
            review,
            rpath,
            auth="operator",
            expect=200,
            json={"memory_id": "seed-0003", "action": "reject"},
        ),
        Scenario(
            "audit-review-unknown",
            review,
            rpath,
            auth="operator",
            expect=404,
            json={"memory_id": "seed-9999", "action": "approve"},
        ),
        Scenario(
            "audit-review-already-approved",
            review,
            rpath,
            auth="operator",
            expect=409,
            json={"memory_id": "seed-0016", "action": "reject"},
        ),
        Scenario(
            "audit-review-already-rejected",
            review,
            rpath,
            auth="operator",
            expect=409,
            json={"memory_id": "seed-0028", "action": "approve"},
        ),
        Scenario(
            "audit-review-twice",
            review,
            rpath,
            auth="operator",
            expect=409,
            json={"memory_id": "seed-0004", "action": "reject"},
            before=(
                Scenario(
                    "audit-review-step",
                    review,
                    rpath,
                    auth="operator",
                    json={"memory_id": "seed-0004", "action": "approve"},
                ),
            ),
        ),
        Scenario(
            "audit-review-bad-action",
            review,
            rpath,
            auth="operator",
            expect=400,
            json={"memory_id": "seed-0002", "action": "delete"},
        ),
        Scenario("audit-review-missing", review, rpath, auth="operator", expect=400, json={}),
        Scenario(
            "audit-review-number-id",
            review,
            rpath,
            auth="operator",
            expect=400,
            json={"memory_id": 2, "action": "approve"},
        ),
        Scenario(
            "audit-review-malformed",
            review,
            rpath,
            auth="operator",
            expect=400,
            body=b"{memory_id}",
            content_type="application/json",
        ),
        Scenario(
            "audit-review-then-metrics",
            "GET /api/v1/audit/metrics",
            f"{A}/audit/metrics",
            auth="viewer",
            expect=200,
            before=(
                Scenario(
                    "audit-review-step-2",
                    review,
                    rpath,
                    auth="operator",
                    json={"memory_id": "seed-0005", "action": "reject"},
                ),
            ),
        ),
    ]
    s += by_role("audit-metrics", "GET /api/v1/audit/metrics", f"{A}/audit/metrics", "viewer")
    export = "GET /api/v1/audit/export"
    epath = f"{A}/audit/export"
    s += by_role("audit-export", export, epath, "admin")
    s += [
        Scenario(
            "audit-export-ndjson",
            export,
            epath,
            auth="admin",
            expect=200,
            query=(("format", "ndjson"),),
        ),
        Scenario(
            "audit-export-csv", export, epath, auth="admin", expect=200, query=(("format", "csv"),)
        ),
        Scenario(
            "audit-export-xml", export, epath, auth="admin", expect=400, query=(("format", "xml"),)
        ),
        Scenario(
            "audit-export-csv-upper",
            export,
            epath,
            auth="admin",
            expect=400,
            query=(("format", "CSV"),),
        ),
        Scenario(
            "audit-export-after-chat",
            export,
            epath,
            auth="admin",
            expect=200,
            query=(("format", "csv"),),
            before=(CHAT_HELP,),
        ),
    ]
    return s
