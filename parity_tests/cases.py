"""Load the promoted parity cases (``parity_tests/cases/*.json``) as scenarios.

A case is a real request that once showed a difference, or one worth keeping, exported by
``resync-strangler promote`` (or ``replay --promote``) in the format of
:mod:`proxy.traffic.cases`. Each becomes a :class:`~resync_scenarios.Scenario` and runs
like the hand-written ones (``test_cases.py``): read-only on the shared pair, writes on fresh
copies with the rows compared. ``auth`` names a role (a token the legacy app issued),
``invalid`` (a malformed token) or ``other`` (Basic credentials), or null.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

from proxy.traffic.cases import read_case
from proxy.traffic.errors import CaseFileError
from proxy.traffic.records import decode_body
from resync_scenarios import ROLES, Scenario

__all__ = ["CASES_DIR", "load_cases", "scenario_from_case"]

CASES_DIR = Path(__file__).resolve().parent / "cases"
_AUTH = {"invalid": "not-a-jwt", "other": "basic", None: None}
_SENT_BY_HARNESS = frozenset({"content-type", "content-length", "host", "authorization"})


def scenario_from_case(case: dict[str, object], *, source: str = "<case>") -> Scenario:
    """Turn a case (as :func:`proxy.traffic.cases.read_case` returns it) into a scenario."""
    request = case["request"]
    assert isinstance(request, dict)
    auth = request.get("auth")
    if auth in ROLES:
        credential: str | None = str(auth)
    elif auth in _AUTH:
        credential = _AUTH[auth]
    else:
        raise CaseFileError(f"{source}: auth {auth!r} is not a role, invalid, other or null")
    headers = [(str(k), str(v)) for k, v in request.get("headers", [])]
    content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
    body = decode_body(request.get("body") or None)
    expect = case.get("expect")
    return Scenario(
        id=f"case-{case['id']}",
        route=str(case["route"]),
        path=str(request["path"]),
        auth=credential,
        method=str(request["method"]).upper(),
        query=tuple(parse_qsl(str(request.get("query") or ""), keep_blank_values=True)),
        body=body if body else None,
        content_type=content_type,
        headers=tuple((k, v) for k, v in headers if k.lower() not in _SENT_BY_HARNESS),
        expect=int(expect) if isinstance(expect, int) else None,
        tags=frozenset({"case"}),
    )


def load_cases(folder: Path = CASES_DIR) -> list[Scenario]:
    """Return every case of ``folder`` as a scenario, in file name order."""
    return [scenario_from_case(read_case(p), source=str(p)) for p in sorted(folder.glob("*.json"))]
