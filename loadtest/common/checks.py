"""Check response bodies against the API contract: shape and values, not just the status.

Each ``check_*`` function takes a decoded JSON body (and what the request asked for) and raises
:class:`BodyMismatch` naming the first thing that is wrong. :func:`verify` applies one to a Locust
response inside ``catch_response`` and marks the request failed or successful; it relies only on
the response's ``status_code``, ``content``, ``headers``, ``success()`` and ``failure()``, so this
module never imports Locust and the checks can be tested in the pytest process.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from loadtest.common.data import AGENT_IDS, JOB_STATUSES, ChatPrompt, Upload

__all__ = [
    "HELP_REPLY",
    "BodyMismatch",
    "CaughtResponse",
    "check_agent_detail",
    "check_agent_list",
    "check_audit_list",
    "check_audit_metrics",
    "check_audit_review",
    "check_chat_history",
    "check_chat_reply",
    "check_conflict",
    "check_job_detail",
    "check_job_list",
    "check_login",
    "check_search",
    "check_status_summary",
    "check_upload",
    "verify",
]

HELP_REPLY = (
    "I can report a job's status ('job NAME'), failed jobs, workstations and the current plan."
)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
SHA256 = re.compile(r"[0-9a-f]{64}")

AGENT_KEYS = ("id", "name", "agent_type", "role", "goal", "tools", "model_name")
JOB_KEYS = ("id", "name", "workstation", "job_stream", "status", "start_time", "end_time")
CHAT_KEYS = ("id", "agent_id", "message", "reply", "intent", "created_at")
AUDIT_KEYS = (
    "id", "memory_id", "agent_id", "user_query", "agent_response", "reason", "confidence",
    "status", "created_at", "reviewed_at", "reviewed_by",
)  # fmt: skip
PLAN_KEYS = ("plan_id", "created_at", "jobs_count", "status", "estimated_end")
RAG_FILE_KEYS = ("id", "filename", "size", "sha256", "content_type", "chunks", "created_at")
SEARCH_RESULT_KEYS = ("file_id", "filename", "chunk_index", "content", "score")
PROBLEM_KEYS = ("type", "title", "status", "detail", "instance", "request_id")

_REPLIES = {
    "failures": re.compile(r"No jobs are in ABEND\.|\d+ jobs are in ABEND: [^.]+(, [^.]+)*\."),
    "workstations": re.compile(r"(\d+) of (\d+) workstations are LINKED\."),
    "plan": re.compile(r"Current plan \S+: \d+ jobs, status [A-Z_]+\."),
}
_JOB_FOUND = re.compile(r"Job (\S+) on (\S+) is (SUCC|ABEND|EXEC|HOLD|READY) \(stream (\S+)\)\.")


class BodyMismatch(Exception):
    """A response body that does not match the contract; the message says where."""


class CaughtResponse(Protocol):
    """The part of Locust's ``catch_response`` context manager that :func:`verify` uses."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes | None: ...

    @property
    def headers(self) -> Any: ...

    def success(self) -> None: ...

    def failure(self, exc: Any) -> None: ...


def verify(
    response: CaughtResponse,
    status: int | Iterable[int],
    check: Callable[[Any], None] | None = None,
    *,
    request_id: str | None = None,
) -> Any:
    """Mark ``response`` failed unless its status, request id and body are as expected.

    Returns the decoded body when the response passed, else ``None``. ``check`` receives the
    decoded JSON; pass a ``functools.partial`` or a lambda to give it the request's parameters.
    """
    expected = {status} if isinstance(status, int) else set(status)
    problem = _problem_with(response, expected, request_id)
    body: Any = None
    if problem is None:
        try:
            body = json.loads(response.content or b"")
            if check is not None:
                check(body)
        except ValueError:
            problem = f"status {response.status_code}: body is not JSON: {_excerpt(response)}"
        except BodyMismatch as exc:
            problem = f"status {response.status_code}: {exc}"
    if problem is not None:
        response.failure(problem)
        return None
    response.success()
    return body


def _problem_with(
    response: CaughtResponse, expected: set[int], request_id: str | None
) -> str | None:
    if response.status_code not in expected:
        wanted = " or ".join(str(code) for code in sorted(expected))
        return f"expected status {wanted}, got {response.status_code}: {_excerpt(response)}"
    if request_id is not None:
        echoed = response.headers.get("X-Request-ID") if response.headers else None
        if echoed != request_id:
            return "X-Request-ID not echoed" if echoed is None else "X-Request-ID not ours"
    return None


def _excerpt(response: CaughtResponse) -> str:
    """A short, stable description of a body: a problem's detail, else its first characters.

    Stable matters: Locust groups failures by message, and a request id in it would make every
    failure unique.
    """
    raw = response.content or b""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return raw.decode("utf-8", "replace")[:100]


# -- building blocks --------------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BodyMismatch(message)


def _object(value: Any, keys: Sequence[str], what: str) -> Mapping[str, Any]:
    _require(isinstance(value, dict), f"{what} is not an object")
    missing = [key for key in keys if key not in value]
    extra = [key for key in value if key not in keys]
    _require(not missing, f"{what} lacks {', '.join(missing)}")
    _require(not extra, f"{what} has unexpected {', '.join(extra)}")
    return value


def _timestamp(value: Any, what: str, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    _require(
        isinstance(value, str) and bool(TIMESTAMP.fullmatch(value)),
        f"{what} {value!r} is not a UTC timestamp",
    )


def _integer(value: Any, what: str, *, minimum: int = 0) -> int:
    _require(
        type(value) is int and value >= minimum, f"{what} {value!r} is not an integer >= {minimum}"
    )
    return int(value)


def _list_body(body: Any, *, limit: int, offset: int, exact_page: bool) -> list[Any]:
    """Check a paginated list body; ``exact_page`` when the data cannot change under the run."""
    _object(body, ("items", "total", "limit", "offset"), "list body")
    _require(body["limit"] == limit, f"limit {body['limit']!r}, asked for {limit}")
    _require(body["offset"] == offset, f"offset {body['offset']!r}, asked for {offset}")
    total = _integer(body["total"], "total")
    items = body["items"]
    _require(isinstance(items, list), "items is not a list")
    _require(len(items) <= limit, f"{len(items)} items for limit {limit}")
    if exact_page:
        expected = max(0, min(limit, total - offset))
        _require(len(items) == expected, f"{len(items)} items, expected {expected} of {total}")
    return items


def _newest_first(items: Sequence[Mapping[str, Any]], what: str) -> None:
    keys = [(item["created_at"], item["id"]) for item in items]
    _require(keys == sorted(keys, reverse=True), f"{what} are not newest first")


# -- auth -------------------------------------------------------------------------------------


def check_login(body: Any) -> None:
    """A token pair: two JWTs, bearer, 30 minutes."""
    _object(body, ("access_token", "refresh_token", "token_type", "expires_in"), "token pair")
    for key in ("access_token", "refresh_token"):
        token = body[key]
        _require(isinstance(token, str) and token.count(".") == 2, f"{key} is not a JWT")
    _require(body["token_type"] == "bearer", f"token_type {body['token_type']!r}")
    _require(body["expires_in"] == 1800, f"expires_in {body['expires_in']!r}")


# -- agents -----------------------------------------------------------------------------------


def _agent(item: Any, what: str, keys: Sequence[str] = AGENT_KEYS) -> None:
    _object(item, keys, what)
    for key in keys:
        if key != "tools":
            _require(isinstance(item[key], str) and bool(item[key]), f"{what}.{key} is empty")
    tools = item["tools"]
    _require(
        isinstance(tools, list) and all(isinstance(t, str) for t in tools),
        f"{what}.tools is not a list of names",
    )


def check_agent_list(body: Any, *, limit: int = 50, offset: int = 0) -> None:
    """Every seeded agent, ordered by id, each with the list keys."""
    items = _list_body(body, limit=limit, offset=offset, exact_page=True)
    for n, item in enumerate(items):
        _agent(item, f"items[{n}]")
    ids = [item["id"] for item in items]
    _require(ids == sorted(ids), "agents are not ordered by id")
    if offset == 0:
        missing = set(AGENT_IDS) - set(ids)
        _require(not missing, f"seeded agents missing: {', '.join(sorted(missing))}")


def check_agent_detail(body: Any, *, agent_id: str) -> None:
    """The agent asked for, with its backstory."""
    _agent(body, "agent", (*AGENT_KEYS, "backstory"))
    _require(body["id"] == agent_id, f"agent id {body['id']!r}, asked for {agent_id!r}")


# -- TWS status -------------------------------------------------------------------------------


def _job(item: Any, what: str) -> None:
    _object(item, JOB_KEYS, what)
    _require(
        isinstance(item["id"], str) and bool(JOB_ID.fullmatch(item["id"])),
        f"{what}.id {item['id']!r}",
    )
    for key in ("name", "workstation", "job_stream"):
        _require(isinstance(item[key], str) and bool(item[key]), f"{what}.{key} is empty")
    status = item["status"]
    _require(status in JOB_STATUSES, f"{what}.status {status!r}")
    _timestamp(item["start_time"], f"{what}.start_time", nullable=True)
    _timestamp(item["end_time"], f"{what}.end_time", nullable=True)
    _require(
        (item["start_time"] is None) == (status in ("HOLD", "READY")),
        f"{what}: start_time vs {status}",
    )
    _require(
        (item["end_time"] is not None) == (status in ("SUCC", "ABEND")),
        f"{what}: end_time vs {status}",
    )


def check_job_list(body: Any, *, limit: int, offset: int, status: str | None = None) -> None:
    """A page of jobs ordered by id, all with the status filtered on."""
    items = _list_body(body, limit=limit, offset=offset, exact_page=True)
    for n, item in enumerate(items):
        _job(item, f"items[{n}]")
        if status is not None:
            _require(
                item["status"] == status,
                f"items[{n}].status {item['status']!r}, filtered on {status}",
            )
    ids = [item["id"] for item in items]
    _require(ids == sorted(ids), "jobs are not ordered by id")


def check_job_detail(body: Any, *, job_id: str) -> None:
    """The job asked for, its dependencies and its last ten runs, newest first."""
    _object(body, (*JOB_KEYS, "dependencies", "history"), "job")
    _job({key: body[key] for key in JOB_KEYS}, "job")
    _require(body["id"] == job_id, f"job id {body['id']!r}, asked for {job_id!r}")
    dependencies = body["dependencies"]
    _require(isinstance(dependencies, list), "dependencies is not a list")
    for n, dependency in enumerate(dependencies):
        _object(dependency, ("job_id", "name", "status", "type"), f"dependencies[{n}]")
        _require(
            dependency["type"] == "predecessor", f"dependencies[{n}].type {dependency['type']!r}"
        )
    history = body["history"]
    _require(
        isinstance(history, list) and len(history) <= 10, "history is not a list of at most 10 runs"
    )
    for n, run in enumerate(history):
        _object(run, ("run_id", "status", "start_time", "end_time", "return_code"), f"history[{n}]")
    starts = [run["start_time"] or "" for run in history]
    _require(starts == sorted(starts, reverse=True), "history is not newest first")


def check_status_summary(body: Any) -> None:
    """Plan, workstation and job counts that add up, the critical path, a timestamp."""
    _object(body, ("plan", "workstations", "jobs", "critical_jobs", "generated_at"), "status")
    plan = _object(body["plan"], PLAN_KEYS, "plan")
    _integer(plan["jobs_count"], "plan.jobs_count")
    stations = _object(body["workstations"], ("total", "linked"), "workstations")
    total = _integer(stations["total"], "workstations.total", minimum=1)
    _require(
        0 <= _integer(stations["linked"], "workstations.linked") <= total, "more linked than total"
    )
    jobs = _object(body["jobs"], ("total", *JOB_STATUSES), "jobs")
    counts = [_integer(jobs[status], f"jobs.{status}") for status in JOB_STATUSES]
    _require(
        sum(counts) == jobs["total"], f"job counts add up to {sum(counts)}, total {jobs['total']}"
    )
    critical = body["critical_jobs"]
    _require(isinstance(critical, list), "critical_jobs is not a list")
    for n, item in enumerate(critical):
        _job(item, f"critical_jobs[{n}]")
    _timestamp(body["generated_at"], "generated_at")


# -- chat -------------------------------------------------------------------------------------


def _chat_message(item: Any, what: str) -> None:
    _object(item, CHAT_KEYS, what)
    _integer(item["id"], f"{what}.id", minimum=1)
    for key in ("agent_id", "message", "reply", "intent"):
        _require(isinstance(item[key], str) and bool(item[key]), f"{what}.{key} is empty")
    _timestamp(item["created_at"], f"{what}.created_at")


def check_chat_reply(body: Any, *, agent_id: str, prompt: ChatPrompt) -> None:
    """The stored exchange: our message, the intent its wording implies, a reply in that form."""
    _chat_message(body, "chat message")
    _require(body["agent_id"] == agent_id, f"agent_id {body['agent_id']!r}, sent {agent_id!r}")
    _require(body["message"] == prompt.message.strip(), "message is not the trimmed text sent")
    _require(
        body["intent"] == prompt.intent, f"intent {body['intent']!r}, expected {prompt.intent!r}"
    )
    reply = body["reply"]
    if prompt.intent == "help":
        _require(reply == HELP_REPLY, f"help reply {reply!r}")
    elif prompt.intent == "job_status":
        found = _JOB_FOUND.fullmatch(reply)
        if prompt.job_known:
            _require(found is not None, f"job reply {reply!r}")
            assert found is not None
            _require(
                found.group(1).lower() == (prompt.job_name or "").lower(),
                f"reply is about {found.group(1)}",
            )
        else:
            _require(
                reply == f"I could not find job {prompt.job_name}.", f"unknown-job reply {reply!r}"
            )
    else:
        match = _REPLIES[prompt.intent].fullmatch(reply)
        _require(match is not None, f"{prompt.intent} reply {reply!r}")
        if prompt.intent == "workstations":
            assert match is not None
            _require(
                int(match.group(1)) <= int(match.group(2)),
                f"reply {reply!r}: more linked than total",
            )


def check_chat_history(body: Any, *, agent_id: str, limit: int, offset: int = 0) -> None:
    """The caller's messages with that agent, newest first."""
    items = _list_body(body, limit=limit, offset=offset, exact_page=False)
    for n, item in enumerate(items):
        _chat_message(item, f"items[{n}]")
        _require(item["agent_id"] == agent_id, f"items[{n}] is for agent {item['agent_id']!r}")
    _newest_first(items, "messages")


# -- audit ------------------------------------------------------------------------------------


def _audit_item(item: Any, what: str) -> None:
    _object(item, AUDIT_KEYS, what)
    _require(
        item["status"] in ("pending", "approved", "rejected"), f"{what}.status {item['status']!r}"
    )
    _require(
        isinstance(item["memory_id"], str) and bool(item["memory_id"]), f"{what}.memory_id is empty"
    )
    _require(isinstance(item["confidence"], int | float), f"{what}.confidence is not a number")
    _timestamp(item["created_at"], f"{what}.created_at")
    reviewed = item["status"] != "pending"
    _timestamp(item["reviewed_at"], f"{what}.reviewed_at", nullable=not reviewed)
    _require((item["reviewed_at"] is None) != reviewed, f"{what}: reviewed_at vs {item['status']}")
    _require((item["reviewed_by"] is None) != reviewed, f"{what}: reviewed_by vs {item['status']}")


def check_audit_list(body: Any, *, status: str, limit: int, offset: int = 0) -> None:
    """Audit items in the status asked for, newest first."""
    items = _list_body(body, limit=limit, offset=offset, exact_page=False)
    for n, item in enumerate(items):
        if status != "all" and isinstance(item, dict):  # the filter first: the likelier bug
            got = item.get("status")
            _require(got == status, f"items[{n}].status {got!r}, asked for {status}")
        _audit_item(item, f"items[{n}]")
    _newest_first(items, "audit items")


def check_audit_review(body: Any, *, memory_id: str, action: str, reviewer: str) -> None:
    """The reviewed item, in the state the action gives, reviewed by us."""
    _audit_item(body, "audit item")
    _require(
        body["memory_id"] == memory_id, f"memory_id {body['memory_id']!r}, reviewed {memory_id!r}"
    )
    expected = {"approve": "approved", "reject": "rejected"}[action]
    _require(body["status"] == expected, f"status {body['status']!r} after {action}")
    _require(
        body["reviewed_by"] == reviewer,
        f"reviewed_by {body['reviewed_by']!r}, expected {reviewer!r}",
    )


def check_audit_metrics(body: Any) -> None:
    """Counts per state that add up to the total."""
    _object(body, ("pending", "approved", "rejected", "total"), "audit metrics")
    parts = [_integer(body[key], key) for key in ("pending", "approved", "rejected")]
    _require(sum(parts) == body["total"], f"counts add up to {sum(parts)}, total {body['total']}")


def check_conflict(body: Any, *, instance: str | None = None) -> None:
    """A 409 problem: the expected answer when another user reviewed the item first."""
    _object(body, PROBLEM_KEYS, "problem")
    _require(body["type"] == "urn:resync:problem:conflict", f"problem type {body['type']!r}")
    _require(body["status"] == 409, f"problem status {body['status']!r}")
    if instance is not None:
        _require(body["instance"] == instance, f"problem instance {body['instance']!r}")


# -- RAG --------------------------------------------------------------------------------------


def check_search(body: Any, *, query: str, top_k: int) -> None:
    """Results for our query, at most ``top_k``, best first, with a consistent total."""
    _object(body, ("query", "results", "total"), "search")
    _require(body["query"] == query, f"query {body['query']!r}, searched {query!r}")
    results = body["results"]
    _require(
        isinstance(results, list) and len(results) <= top_k,
        f"not a list of at most {top_k} results",
    )
    _require(body["total"] == len(results), f"total {body['total']!r} for {len(results)} results")
    for n, result in enumerate(results):
        _object(result, SEARCH_RESULT_KEYS, f"results[{n}]")
        _require(isinstance(result["score"], int | float), f"results[{n}].score is not a number")
        _require(
            isinstance(result["content"], str) and bool(result["content"]),
            f"results[{n}].content is empty",
        )
    scores = [result["score"] for result in results]
    _require(scores == sorted(scores, reverse=True), "results are not ordered by score")


def check_upload(body: Any, *, upload: Upload) -> None:
    """The stored file: our name, size and digest, its type, at least one chunk."""
    _object(body, RAG_FILE_KEYS, "file")
    _require(
        isinstance(body["id"], str) and bool(UUID4.fullmatch(body["id"])),
        f"id {body['id']!r} is not a uuid4",
    )
    _require(body["filename"] == upload.filename, f"filename {body['filename']!r}")
    _require(
        body["size"] == len(upload.content), f"size {body['size']!r}, sent {len(upload.content)}"
    )
    digest = hashlib.sha256(upload.content).hexdigest()
    _require(body["sha256"] == digest, "sha256 is not the digest of the content sent")
    _require(body["content_type"] == upload.content_type, f"content_type {body['content_type']!r}")
    _integer(body["chunks"], "chunks", minimum=1)
    _timestamp(body["created_at"], "created_at")
