"""Locust users for the Resync API: an operator's working day, and two single-endpoint benchmarks.

Run from the repository root (see docs/loadtest.md)::

    .venv/bin/python -m locust --config loadtest/locust.conf ResyncOperator            # web UI
    .venv/bin/python -m locust --config loadtest/locust.conf --headless -u 20 -t 1m \
        --targets loadtest/targets/smoke.toml --csv var/loadtest/run --html var/loadtest/run.html \
        ResyncOperator

``AgentsUser`` and ``JobsUser`` are what ``python -m loadtest.bench`` measures; pick users by
class name (listing none runs all three). Tasks are tagged ``read``/``write`` and by resource.
"""

from __future__ import annotations

import random
import sys
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

# Locust imports this file by path with only loadtest/ on sys.path; the shared modules are
# imported as the ``loadtest`` package, so the repository root must be importable too.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from locust import constant, events, tag, task  # noqa: E402

from loadtest.common import checks, data, gate, options, warmup  # noqa: E402
from loadtest.common.auth import SignedInUser  # noqa: E402
from loadtest.common.checks import verify  # noqa: E402

options.install(events)
gate.install(events)
warmup.install(events)


class ResyncOperator(SignedInUser):
    """An operator: watches TWS status, chats with the agents, reviews audit items, uses RAG."""

    def on_start(self) -> None:
        """Sign in, then set up this user's random stream and think time."""
        super().on_start()
        self.rng = random.Random()
        self.think = options.think_time_range(self.environment.parsed_options.think_time)
        self.job_names: list[str] = []

    def wait_time(self) -> float:
        """Pause like a person between two things (``--think-time``)."""
        return self.rng.uniform(*self.think)

    @tag("read", "status")
    @task(3)
    def status_summary(self) -> None:
        headers = self.headers()
        with self.client.get("/api/v1/status", headers=headers, catch_response=True) as response:
            verify(response, 200, checks.check_status_summary, request_id=headers["X-Request-ID"])

    @tag("read", "status")
    @task(5)
    def jobs_list(self) -> None:
        headers, limit, offset = self.headers(), 20, self.rng.randrange(0, 500, 20)
        status = self.rng.choice((None, *data.JOB_STATUSES))
        query = f"limit={limit}&offset={0 if status else offset}" + (
            f"&status={status}" if status else ""
        )
        check = partial(
            checks.check_job_list, limit=limit, offset=0 if status else offset, status=status
        )
        with self.client.get(
            f"/api/v1/status/jobs?{query}",
            name="/api/v1/status/jobs",
            headers=headers,
            catch_response=True,
        ) as response:
            body = verify(response, 200, check, request_id=headers["X-Request-ID"])
        if body:
            self.job_names = [job["name"] for job in body["items"]][:50]

    @tag("read", "status")
    @task(4)
    def job_detail(self) -> None:
        headers, job_id = self.headers(), data.job_id(self.rng)
        with self.client.get(
            f"/api/v1/status/jobs/{job_id}",
            name="/api/v1/status/jobs/[job_id]",
            headers=headers,
            catch_response=True,
        ) as response:
            check = partial(checks.check_job_detail, job_id=job_id)
            verify(response, 200, check, request_id=headers["X-Request-ID"])

    @tag("read", "agents")
    @task(3)
    def agents_list(self) -> None:
        headers = self.headers()
        with self.client.get("/api/v1/agents", headers=headers, catch_response=True) as response:
            verify(response, 200, checks.check_agent_list, request_id=headers["X-Request-ID"])

    @tag("read", "agents")
    @task(1)
    def agent_detail(self) -> None:
        headers, agent_id = self.headers(), self.rng.choice(data.AGENT_IDS)
        with self.client.get(
            f"/api/v1/agents/{agent_id}",
            name="/api/v1/agents/[agent_id]",
            headers=headers,
            catch_response=True,
        ) as response:
            check = partial(checks.check_agent_detail, agent_id=agent_id)
            verify(response, 200, check, request_id=headers["X-Request-ID"])

    @tag("write", "chat")
    @task(4)
    def chat(self) -> None:
        headers, agent_id = self.headers(), self.rng.choice(data.AGENT_IDS)
        prompt = data.chat_prompt(self.rng, self.job_names)
        with self.client.post(
            "/api/v1/chat",
            json={"agent_id": agent_id, "message": prompt.message},
            headers=headers,
            catch_response=True,
        ) as response:
            check = partial(checks.check_chat_reply, agent_id=agent_id, prompt=prompt)
            verify(response, 200, check, request_id=headers["X-Request-ID"])

    @tag("read", "chat")
    @task(2)
    def chat_history(self) -> None:
        headers, agent_id = self.headers(), self.rng.choice(data.AGENT_IDS)
        with self.client.get(
            f"/api/v1/chat/history?agent_id={agent_id}&limit=20",
            name="/api/v1/chat/history",
            headers=headers,
            catch_response=True,
        ) as response:
            check = partial(checks.check_chat_history, agent_id=agent_id, limit=20)
            verify(response, 200, check, request_id=headers["X-Request-ID"])

    @tag("read", "audit")
    @task(2)
    def audit_flags(self) -> None:
        headers, status = (
            self.headers(),
            self.rng.choice(("pending", "approved", "rejected", "all")),
        )
        with self.client.get(
            f"/api/v1/audit/flags?status={status}&limit=20",
            name="/api/v1/audit/flags",
            headers=headers,
            catch_response=True,
        ) as response:
            check = partial(checks.check_audit_list, status=status, limit=20)
            verify(response, 200, check, request_id=headers["X-Request-ID"])

    @tag("read", "audit")
    @task(1)
    def audit_metrics(self) -> None:
        headers = self.headers()
        with self.client.get(
            "/api/v1/audit/metrics", headers=headers, catch_response=True
        ) as response:
            verify(response, 200, checks.check_audit_metrics, request_id=headers["X-Request-ID"])

    @tag("write", "audit")
    @task(2)
    def audit_review(self) -> None:
        """Review one pending item; a 409 means another operator was first, as in real life."""
        headers = self.headers()
        with self.client.get(
            "/api/v1/audit/flags?status=pending&limit=10",
            name="/api/v1/audit/flags",
            headers=headers,
            catch_response=True,
        ) as response:
            check = partial(checks.check_audit_list, status="pending", limit=10)
            pending = verify(response, 200, check, request_id=headers["X-Request-ID"])
        if not pending or not pending["items"]:
            return
        memory_id = self.rng.choice(pending["items"])["memory_id"]
        action = self.rng.choice(("approve", "reject"))
        headers = self.headers()
        with self.client.post(
            "/api/v1/audit/review",
            json={"memory_id": memory_id, "action": action},
            headers=headers,
            catch_response=True,
        ) as response:
            if response.status_code == 409:
                check = partial(checks.check_conflict, instance="/api/v1/audit/review")
                verify(response, 409, check, request_id=headers["X-Request-ID"])
            else:
                check = partial(
                    checks.check_audit_review,
                    memory_id=memory_id,
                    action=action,
                    reviewer=self.username,
                )
                verify(response, 200, check, request_id=headers["X-Request-ID"])

    @tag("read", "rag")
    @task(3)
    def rag_search(self) -> None:
        headers, query, top_k = self.headers(), self.rng.choice(data.SEARCH_QUERIES), 5
        with self.client.get(
            f"/api/v1/rag/search?{urlencode({'q': query, 'top_k': top_k})}",
            name="/api/v1/rag/search",
            headers=headers,
            catch_response=True,
        ) as response:
            check = partial(checks.check_search, query=query, top_k=top_k)
            verify(response, 200, check, request_id=headers["X-Request-ID"])

    @tag("write", "rag")
    @task(1)
    def rag_upload(self) -> None:
        headers, upload = self.headers(), data.unique_upload(self.rng)
        body, content_type = data.multipart_file("file", upload)
        with self.client.post(
            "/api/v1/rag/upload",
            data=body,  # type: ignore[arg-type]  # bytes go out as they are; the hint is narrow
            headers={**headers, "Content-Type": content_type},
            catch_response=True,
        ) as response:
            check = partial(checks.check_upload, upload=upload)
            verify(response, 201, check, request_id=headers["X-Request-ID"])


class AgentsUser(SignedInUser):
    """Benchmark: authenticated ``GET /api/v1/agents`` as fast as the server answers."""

    wait_time = constant(0)

    @tag("agents", "bench")
    @task
    def agents_list(self) -> None:
        with self.client.get(
            "/api/v1/agents", headers=self.bearer(), catch_response=True
        ) as response:
            verify(response, 200, checks.check_agent_list)


class JobsUser(SignedInUser):
    """Benchmark: ``GET /api/v1/status/jobs`` (one TWS call each) as fast as the server answers."""

    wait_time = constant(0)

    @tag("jobs", "bench")
    @task
    def jobs_list(self) -> None:
        with self.client.get(
            "/api/v1/status/jobs", headers=self.bearer(), catch_response=True
        ) as response:
            verify(response, 200, partial(checks.check_job_list, limit=50, offset=0))
