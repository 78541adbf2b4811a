"""The body checks accept what the real legacy app answers and reject each kind of wrong body.

Bodies come from the legacy app under gunicorn (the contract's reference); the wrong ones are
those bodies with one thing changed, so a check that passes everything would fail here.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
import pytest

from loadtest.common import checks, data
from loadtest.common.checks import BodyMismatch, verify
from loadtest.servers import Server

Check = Callable[[Any], None]
UPLOAD = data.unique_upload(random.Random(7))
HELP = data.ChatPrompt("hello, who are you?", "help")
WORKSTATIONS = data.ChatPrompt("Are the workstations linked?", "workstations")


@pytest.fixture(scope="module")
def client(legacy_server: Server) -> Iterator[httpx.Client]:
    """An HTTP client signed in as the demo operator."""
    with httpx.Client(base_url=legacy_server.base_url, timeout=30) as http:
        login = http.post(
            "/api/v1/auth/login", json={"username": "operator", "password": "resync-operator-dev"}
        )
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        yield http


@pytest.fixture(scope="module")
def bodies(client: httpx.Client) -> dict[str, Any]:
    """One real body per endpoint the operator loads."""
    found: dict[str, Any] = {
        "agents": client.get("/api/v1/agents").json(),
        "agent": client.get("/api/v1/agents/tws-general").json(),
        "status": client.get("/api/v1/status").json(),
        "jobs": client.get("/api/v1/status/jobs?limit=20&offset=40").json(),
        "abend_jobs": client.get("/api/v1/status/jobs?limit=20&offset=0&status=ABEND").json(),
        "job": client.get("/api/v1/status/jobs/J0042").json(),
        "help": client.post(
            "/api/v1/chat", json={"agent_id": "tws-general", "message": HELP.message}
        ).json(),
        "workstations": client.post(
            "/api/v1/chat", json={"agent_id": "tws-general", "message": WORKSTATIONS.message}
        ).json(),
        "history": client.get("/api/v1/chat/history?agent_id=tws-general&limit=20").json(),
        "pending": client.get("/api/v1/audit/flags?status=pending&limit=20").json(),
        "metrics": client.get("/api/v1/audit/metrics").json(),
        "search": client.get(
            "/api/v1/rag/search", params={"q": "abend restart", "top_k": 5}
        ).json(),
    }
    body, content_type = data.multipart_file("file", UPLOAD)
    found["upload"] = client.post(
        "/api/v1/rag/upload", content=body, headers={"Content-Type": content_type}
    ).json()
    memory_id = found["pending"]["items"][0]["memory_id"]
    review = {"memory_id": memory_id, "action": "reject"}
    found["review"] = client.post("/api/v1/audit/review", json=review).json()
    conflict = client.post("/api/v1/audit/review", json=review)
    assert conflict.status_code == 409
    found["conflict"] = conflict.json()
    return found


CHECKS: dict[str, Check] = {
    "agents": checks.check_agent_list,
    "agent": partial(checks.check_agent_detail, agent_id="tws-general"),
    "status": checks.check_status_summary,
    "jobs": partial(checks.check_job_list, limit=20, offset=40),
    "abend_jobs": partial(checks.check_job_list, limit=20, offset=0, status="ABEND"),
    "job": partial(checks.check_job_detail, job_id="J0042"),
    "help": partial(checks.check_chat_reply, agent_id="tws-general", prompt=HELP),
    "workstations": partial(checks.check_chat_reply, agent_id="tws-general", prompt=WORKSTATIONS),
    "history": partial(checks.check_chat_history, agent_id="tws-general", limit=20),
    "pending": partial(checks.check_audit_list, status="pending", limit=20),
    "metrics": checks.check_audit_metrics,
    "search": partial(checks.check_search, query="abend restart", top_k=5),
    "upload": partial(checks.check_upload, upload=UPLOAD),
    "conflict": partial(checks.check_conflict, instance="/api/v1/audit/review"),
}


@pytest.mark.parametrize("endpoint", [pytest.param(name, id=name) for name in CHECKS])
def test_real_body_passes_its_check(bodies: dict[str, Any], endpoint: str) -> None:
    CHECKS[endpoint](bodies[endpoint])


def test_review_passes_with_the_reviewer_and_fails_with_another(bodies: dict[str, Any]) -> None:
    memory_id = bodies["review"]["memory_id"]
    checks.check_audit_review(
        bodies["review"], memory_id=memory_id, action="reject", reviewer="operator"
    )
    with pytest.raises(BodyMismatch, match="reviewed_by"):
        checks.check_audit_review(
            bodies["review"], memory_id=memory_id, action="reject", reviewer="admin"
        )
    with pytest.raises(BodyMismatch, match="after approve"):
        checks.check_audit_review(
            bodies["review"], memory_id=memory_id, action="approve", reviewer="operator"
        )


def _set(path: str, value: Any) -> Callable[[Any], None]:
    def change(body: Any) -> None:
        *parents, last = path.split(".")
        target = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return change


def _drop(key: str) -> Callable[[Any], None]:
    return lambda body: body.pop(key)


def _reverse(key: str) -> Callable[[Any], None]:
    return lambda body: body[key].reverse()


@dataclass(frozen=True)
class Wrong:
    endpoint: str
    change: Callable[[Any], None]
    message: str


WRONG = [
    pytest.param(Wrong("agents", _set("limit", 10), "limit 10, asked for 50"), id="agents-limit"),
    pytest.param(Wrong("agents", _reverse("items"), "not ordered by id"), id="agents-order"),
    pytest.param(Wrong("agents", _set("items.0.tools", "tws_jobs"), "tools"), id="agents-tools"),
    pytest.param(
        Wrong("agents", _set("total", 99), "3 items, expected 50 of 99"), id="agents-page"
    ),
    pytest.param(Wrong("agent", _drop("backstory"), "lacks backstory"), id="agent-backstory"),
    pytest.param(
        Wrong("agent", _set("id", "tws-reporting"), "asked for 'tws-general'"), id="agent-id"
    ),
    pytest.param(Wrong("status", _set("jobs.ABEND", 0), "add up"), id="status-counts"),
    pytest.param(
        Wrong("status", _set("generated_at", "2026-11-26 10:00:00"), "UTC timestamp"),
        id="status-time",
    ),
    pytest.param(Wrong("jobs", _set("offset", 0), "offset 0, asked for 40"), id="jobs-offset"),
    pytest.param(
        Wrong("jobs", _set("items.3.status", "DONE"), "items[3].status"), id="jobs-status"
    ),
    pytest.param(Wrong("jobs", _set("items.0.extra", 1), "unexpected extra"), id="jobs-extra-key"),
    pytest.param(
        Wrong("abend_jobs", _set("items.0.status", "SUCC"), "filtered on ABEND"), id="jobs-filter"
    ),
    pytest.param(Wrong("job", _set("id", "J0043"), "asked for 'J0042'"), id="job-id"),
    pytest.param(Wrong("job", _set("history", [{}] * 11), "at most 10"), id="job-history"),
    pytest.param(Wrong("help", _set("intent", "plan"), "expected 'help'"), id="chat-intent"),
    pytest.param(Wrong("help", _set("reply", "Hi!"), "help reply"), id="chat-reply"),
    pytest.param(
        Wrong("workstations", _set("reply", "9 of 8 workstations are LINKED."), "more linked"),
        id="chat-ws",
    ),
    pytest.param(Wrong("help", _set("message", "hello"), "trimmed text"), id="chat-message"),
    pytest.param(
        Wrong("history", _set("items.0.agent_id", "tws-reporting"), "is for agent"),
        id="history-agent",
    ),
    pytest.param(
        Wrong("pending", _set("items.0.status", "approved"), "asked for pending"), id="audit-status"
    ),
    pytest.param(Wrong("pending", _reverse("items"), "newest first"), id="audit-order"),
    pytest.param(Wrong("metrics", _set("total", 0), "add up"), id="metrics-total"),
    pytest.param(Wrong("search", _set("query", "other"), "searched"), id="search-query"),
    pytest.param(Wrong("search", _set("total", 99), "total 99"), id="search-total"),
    pytest.param(Wrong("upload", _set("sha256", "0" * 64), "digest"), id="upload-digest"),
    pytest.param(Wrong("upload", _set("size", 1), "size 1"), id="upload-size"),
    pytest.param(Wrong("conflict", _set("status", 404), "problem status"), id="conflict-status"),
]


@pytest.mark.parametrize("wrong", WRONG)
def test_wrong_body_fails_its_check_naming_the_problem(
    bodies: dict[str, Any], wrong: Wrong
) -> None:
    body = copy.deepcopy(bodies[wrong.endpoint])
    wrong.change(body)
    with pytest.raises(BodyMismatch) as raised:
        CHECKS[wrong.endpoint](body)
    assert wrong.message in str(raised.value)


class Outcome:
    """Records what :func:`verify` decided, as Locust's ``catch_response`` object would."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.content = response.content
        self.headers = response.headers
        self.result: str | None = None

    def success(self) -> None:
        self.result = "success"

    def failure(self, exc: Any) -> None:
        self.result = f"failure: {exc}"


def test_verify_passes_a_good_answer_and_checks_the_request_id_echo(client: httpx.Client) -> None:
    request_id = data.request_id()
    outcome = Outcome(client.get("/api/v1/agents", headers={"X-Request-ID": request_id}))

    body = verify(outcome, 200, checks.check_agent_list, request_id=request_id)

    assert outcome.result == "success"
    assert body["items"]
    other = Outcome(client.get("/api/v1/agents"))
    assert verify(other, 200, checks.check_agent_list, request_id=request_id) is None
    assert other.result == "failure: X-Request-ID not ours"


def test_verify_fails_an_unexpected_status_with_the_problem_detail(client: httpx.Client) -> None:
    outcome = Outcome(client.get("/api/v1/status/jobs/NOPE"))

    assert verify(outcome, 200, partial(checks.check_job_detail, job_id="NOPE")) is None
    assert outcome.result == "failure: expected status 200, got 404: Job NOPE not found."


def test_verify_fails_a_body_that_is_not_json() -> None:
    outcome = Outcome(httpx.Response(200, content=b"<html>oops</html>"))

    verify(outcome, 200, checks.check_agent_list)

    assert outcome.result == "failure: status 200: body is not JSON: <html>oops</html>"
