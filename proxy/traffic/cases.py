"""Export a capture or a mismatch as a parity case file the differential suite runs.

A case is one request as JSON (``parity_tests/cases/<id>.json``)::

    {"version": 1, "id": "capture-42-get-api-v1-agents", "route": "GET /api/v1/agents",
     "source": "capture 42 at 2026-12-02T16:30:00.123Z", "note": "...",
     "request": {"method": "GET", "path": "/api/v1/agents", "query": "limit=5",
                 "headers": [["accept", "application/json"]], "auth": "viewer",
                 "body": {"encoding": "utf-8", "value": ""}},
     "expect": 200}

``auth`` is a role (``viewer``, ``operator``, ``admin``), ``null`` (no credential),
``"invalid"`` (a token both sides must refuse) or ``"other"`` (another scheme). ``expect`` is the
status legacy answered when the case was made (from a replay), or null. ``parity_tests`` loads
every file of the folder (``parity_tests/cases.py``) and runs it on both sides like its own
scenarios: read-only cases on the shared pair, writes on fresh copies with the rows compared.
Records hold no secret (they were redacted when captured), so neither do cases.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from proxy.shadow.redaction import redact_json
from proxy.traffic.errors import CaseFileError
from proxy.traffic.records import AUTH_INVALID, AUTH_NONE, AUTH_OTHER, AUTH_ROLE
from proxy.traffic.requests import ReplayRequest

__all__ = [
    "CASE_VERSION",
    "case_from_capture",
    "case_from_mismatch",
    "read_case",
    "write_case",
]

CASE_VERSION = 1
_SLUG = re.compile(r"[^a-z0-9]+")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")
_AUTH_NAMES = {AUTH_INVALID: "invalid", AUTH_OTHER: "other"}


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:80]


def _auth(request: ReplayRequest) -> str | None:
    if request.auth_kind == AUTH_NONE:
        return None
    if request.auth_kind == AUTH_ROLE:
        return request.role
    return _AUTH_NAMES.get(request.auth_kind, "invalid")


def _body(data: bytes) -> dict[str, Any]:
    try:
        return {"encoding": "utf-8", "value": data.decode("utf-8")}
    except UnicodeDecodeError:
        import base64

        return {"encoding": "base64", "value": base64.b64encode(data).decode("ascii")}


def case_from_capture(
    record: dict[str, Any],
    *,
    expect: int | None = None,
    note: str = "",
    case_id: str | None = None,
) -> dict[str, Any]:
    """Return the case of one capture record (``expect``: legacy's status, if known)."""
    request = ReplayRequest.from_record(record)
    identifier = case_id or f"capture-{request.capture_id}-{_slug(request.route)}"
    if not _ID.match(identifier):
        raise CaseFileError(f"{identifier!r} is not a case id (a-z, 0-9 and -, at most 120)")
    return {
        "version": CASE_VERSION,
        "id": identifier,
        "route": request.route,
        "source": f"capture {request.capture_id} at {record.get('at', '?')}",
        "note": note,
        "request": {
            "method": request.method,
            "path": request.raw_path,
            "query": request.query,
            "headers": [list(h) for h in request.headers],
            "auth": _auth(request),
            "body": _body(request.body),
        },
        "redacted": request.redacted,
        "expect": expect,
    }


def case_from_mismatch(
    record: dict[str, Any], *, note: str = "", case_id: str | None = None
) -> dict[str, Any]:
    """Return the case of a shadow mismatch record (``proxy.shadow.mismatches``).

    A mismatch record keeps a view of the request body, not its bytes: JSON, form and text
    bodies can be rebuilt; a multipart or binary body (kept as size and sha256) cannot.
    """
    request = record.get("request") or {}
    view = request.get("body") or {}
    kind = view.get("kind")
    if kind == "json":
        body = json.dumps(view.get("value"), ensure_ascii=False, separators=(",", ":"))
    elif kind in ("form", "text"):
        if view.get("truncated"):
            raise CaseFileError(f"mismatch {record.get('id')}: its request body was cut")
        body = str(view.get("value") or "")
    elif kind in ("empty", None):
        body = ""
    else:
        raise CaseFileError(
            f"mismatch {record.get('id')}: its request body was kept as size and sha256 only "
            f"({view.get('content_type')}); capture the route to promote such a request"
        )
    headers = [list(h) for h in request.get("headers", [])]
    authorization = next((v for k, v in headers if str(k).lower() == "authorization"), None)
    # A mismatch record does not know the caller's role: an admin token is the one that can
    # reach every route; edit "auth" in the file when the route's answer depends on the role.
    auth = {"kind": AUTH_ROLE, "role": "admin"} if authorization else {"kind": AUTH_NONE}
    capture_like = {
        "id": record.get("id"),
        "at": record.get("at"),
        "route": record["route"],
        "auth": auth,
        "request": {
            "method": request.get("method", "GET"),
            "path": request.get("path", "/"),
            "query": request.get("query", ""),
            "headers": headers,
            "body": {"encoding": "utf-8" if body else "empty", "value": body},
        },
    }
    primary = record.get("primary") or {}
    case = case_from_capture(
        capture_like,
        expect=primary.get("status") if record.get("primary_side") == "legacy" else None,
        note=note or f"shadow mismatch {record.get('id')}: {str(record.get('diff', ''))[:300]}",
        case_id=case_id or f"mismatch-{record.get('id')}-{_slug(str(record['route']))}",
    )
    case["source"] = f"shadow mismatch {record.get('id')} at {record.get('at', '?')}"
    return case


def write_case(case: dict[str, Any], folder: str | Path) -> Path:
    """Write a case as ``<folder>/<id>.json`` (refusing to overwrite one); return its path."""
    target = Path(folder) / f"{case['id']}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(redact_json(case), ensure_ascii=False, indent=2) + "\n"
    try:
        with target.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError as exc:
        raise CaseFileError(f"{target} exists already; choose another --name") from exc
    return target


def read_case(path: str | Path) -> dict[str, Any]:
    """Read and check one case file; raise :class:`CaseFileError` naming what is wrong."""
    source = str(path)
    try:
        case = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CaseFileError(f"{source}: cannot read the case: {exc}") from exc
    if not isinstance(case, dict) or case.get("version") != CASE_VERSION:
        raise CaseFileError(f"{source}: not a version {CASE_VERSION} parity case")
    for key in ("id", "route", "request"):
        if key not in case:
            raise CaseFileError(f"{source}: missing {key!r}")
    request = case["request"]
    if not isinstance(request, dict) or not {"method", "path"} <= set(request):
        raise CaseFileError(f"{source}: request needs at least a method and a path")
    if not _ID.match(str(case["id"])):
        raise CaseFileError(f"{source}: {case['id']!r} is not a case id")
    return case
