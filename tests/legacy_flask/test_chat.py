"""Talk to the agents (against the running simulator) and manage my history."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from tests.legacy_flask.conftest import AppFactory
from tests.legacy_flask.harness import (
    assert_problem,
    auth,
    bearer,
    execute,
    field_errors,
    mint,
    query,
    snapshot,
)
from tests.services import TwsSim

HELP = "I can report a job's status ('job NAME'), failed jobs, workstations and the current plan."


def tws(sim: TwsSim, path: str, **params: Any) -> Any:
    """Ask the simulator directly, to know what the agent should say."""
    response = httpx.get(
        f"{sim.twsd_url}{path}", params=params, auth=(sim.user, sim.password), timeout=5
    )
    response.raise_for_status()
    return response.json()


def chat(
    client: FlaskClient, message: Any, agent_id: Any = "tws-general", role: str = "operator"
) -> Any:
    return client.post(
        "/api/v1/chat", json={"agent_id": agent_id, "message": message}, headers=auth(role)
    )


def test_job_status_intent(client: FlaskClient, tws_sim: TwsSim) -> None:
    job = tws(tws_sim, "/model/jobdefinition/J0042")
    response = chat(client, f"what about JOB {job['name'].lower()} today?")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["id", "agent_id", "message", "reply", "intent", "created_at"]
    assert body["intent"] == "job_status"
    assert body["reply"] == (
        f"Job {job['name']} on {job['workstation']} is {job['status']} "
        f"(stream {job['job_stream']})."
    )


def test_unknown_job(client: FlaskClient, tws_sim: TwsSim) -> None:
    body = chat(client, "job NO_SUCH_JOB_123").get_json()
    assert body["intent"] == "job_status"
    assert body["reply"] == "I could not find job NO_SUCH_JOB_123."


def test_failures_intent_lists_first_five_sorted(client: FlaskClient, tws_sim: TwsSim) -> None:
    abended = tws(tws_sim, "/model/jobdefinition", status="ABEND", limit=1000)
    names = sorted(job["name"] for job in abended["items"])
    body = chat(client, "Which jobs FAILED overnight?").get_json()
    assert body["intent"] == "failures"
    assert body["reply"] == f"{len(names)} jobs are in ABEND: {', '.join(names[:5])}."


def test_workstations_intent(client: FlaskClient, tws_sim: TwsSim) -> None:
    items = tws(tws_sim, "/model/workstation")["items"]
    linked = sum(1 for item in items if item["status"] == "LINKED")
    body = chat(client, "how are the Workstations?").get_json()
    assert body["intent"] == "workstations"
    assert body["reply"] == f"{linked} of {len(items)} workstations are LINKED."


def test_plan_intent(client: FlaskClient, tws_sim: TwsSim) -> None:
    plan = tws(tws_sim, "/plan/current")
    body = chat(client, "show the PLAN").get_json()
    assert body["intent"] == "plan"
    assert body["reply"] == (
        f"Current plan {plan['plan_id']}: {plan['jobs_count']} jobs, status {plan['status']}."
    )


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        pytest.param("job X1 failed, check the plan", "job_status", id="job-beats-failures"),
        pytest.param("abend on a workstation", "failures", id="failures-beats-workstation"),
        pytest.param("workstation plan", "workstations", id="workstation-beats-plan"),
        pytest.param("jobs in the planner", "plan", id="substring-plan"),
        pytest.param("jobless", "help", id="no-word-boundary"),
    ],
)
def test_rules_are_tried_in_order(
    client: FlaskClient, tws_sim: TwsSim, message: str, intent: str
) -> None:
    assert chat(client, message).get_json()["intent"] == intent


def test_help_reply_files_an_audit_item(client: FlaskClient, db_path: str, tws_sim: TwsSim) -> None:
    body = chat(client, "  tell me a joke\n ", agent_id="tws-reporting").get_json()
    assert body["intent"] == "help" and body["reply"] == HELP
    assert body["message"] == "tell me a joke"
    items = query(db_path, "SELECT * FROM audit_items WHERE memory_id = :m", m=f"chat-{body['id']}")
    assert len(items) == 1
    item = items[0]
    assert item.agent_id == "tws-reporting" and item.user_query == "tell me a joke"
    assert item.agent_response == HELP and item.reason == "unrecognized request"
    assert item.confidence == 0.0 and item.status == "pending"
    stored = query(db_path, "SELECT * FROM chat_messages WHERE id = :i", i=body["id"])[0]
    assert stored.intent == "help" and stored.message == "tell me a joke"


def test_recognised_intent_files_no_audit_item(
    client: FlaskClient, db_path: str, tws_sim: TwsSim
) -> None:
    body = chat(client, "plan please").get_json()
    assert (
        query(db_path, "SELECT 1 FROM audit_items WHERE memory_id = :m", m=f"chat-{body['id']}")
        == []
    )


def test_message_keeps_unicode_tabs_and_newlines(client: FlaskClient, tws_sim: TwsSim) -> None:
    response = chat(client, "héllo\twörld\nnext line ✓")
    assert response.status_code == 200
    assert response.get_json()["message"] == "héllo\twörld\nnext line ✓"
    assert "héllo".encode() in response.data  # not \\u-escaped


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        pytest.param({}, [("agent_id", "missing"), ("message", "missing")], id="empty"),
        pytest.param(
            {"agent_id": "tws-general", "message": 5}, [("message", "invalid_type")], id="number"
        ),
        pytest.param(
            {"agent_id": "tws-general", "message": "   \n\t "},
            [("message", "too_short")],
            id="blank",
        ),
        pytest.param(
            {"agent_id": "tws-general", "message": "x" * 4001},
            [("message", "too_long")],
            id="too-long",
        ),
        pytest.param(
            {"agent_id": "tws-general", "message": "a\x00b"},
            [("message", "invalid_format")],
            id="nul",
        ),
        pytest.param(
            {"agent_id": "tws-general", "message": "a\rb"},
            [("message", "invalid_format")],
            id="carriage-return",
        ),
        pytest.param(
            {"agent_id": "tws-general", "message": "a\x1bb"},
            [("message", "invalid_format")],
            id="escape",
        ),
        pytest.param(
            {"agent_id": "tws-general", "message": "a\x85b"},
            [("message", "invalid_format")],
            id="c1-control",
        ),
        pytest.param(
            {"agent_id": 3, "message": "hi"}, [("agent_id", "invalid_type")], id="agent-type"
        ),
    ],
)
def test_chat_validation_changes_nothing(
    client: FlaskClient, db_path: str, body: dict[str, Any], errors: list[tuple[str, str]]
) -> None:
    before = snapshot(db_path)
    response = client.post("/api/v1/chat", json=body, headers=auth("operator"))
    assert field_errors(assert_problem(response, 400, "validation")) == errors
    assert snapshot(db_path) == before


def test_message_length_is_counted_after_trimming(client: FlaskClient, tws_sim: TwsSim) -> None:
    assert chat(client, "  " + "x" * 4000 + "  ").status_code == 200


def test_too_short_message_text(client: FlaskClient) -> None:
    response = chat(client, " ")
    assert response.get_json()["errors"][0]["message"] == "Must be at least 1 characters."


def test_unknown_agent_is_404_and_changes_nothing(client: FlaskClient, db_path: str) -> None:
    before = snapshot(db_path)
    response = chat(client, "plan", agent_id="ghost-agent")
    assert_problem(response, 404, "not-found", "Agent ghost-agent not found.")
    assert snapshot(db_path) == before


def test_tws_failure_is_502_and_stores_nothing(
    client: FlaskClient, db_path: str, tws_sim: TwsSim
) -> None:
    tws_sim.configure(error_rate=1.0)
    before = snapshot(db_path)
    response = chat(client, "show the plan")
    assert_problem(response, 502, "upstream-error", "TWS returned an error.")
    assert snapshot(db_path) == before


def test_help_needs_no_tws(client: FlaskClient, tws_sim: TwsSim) -> None:
    tws_sim.configure(error_rate=1.0)
    assert chat(client, "hello there").status_code == 200


@pytest.fixture
def history_user(db_path: str) -> str:
    """An operator of its own, so history counts are exact."""
    import uuid

    username = f"op-{uuid.uuid4().hex[:8]}"
    execute(
        db_path,
        "INSERT INTO users (username, password_hash, role, full_name, created_at)"
        " VALUES (:u, 'x', 'operator', '', '2026-01-01 00:00:00')",
        u=username,
    )
    return username


def test_history_is_mine_newest_first(
    client: FlaskClient, tws_sim: TwsSim, history_user: str
) -> None:
    headers = bearer(mint(history_user, "operator"))
    sent = []
    for agent, text in [("tws-general", "plan"), ("tws-reporting", "hi"), ("tws-general", "yo")]:
        response = client.post(
            "/api/v1/chat", json={"agent_id": agent, "message": text}, headers=headers
        )
        sent.append(response.get_json())
    chat(client, "someone else's message")  # the seeded operator's
    body = client.get("/api/v1/chat/history", headers=headers).get_json()
    assert body["total"] == 3
    assert body["items"] == list(reversed(sent))
    general = client.get("/api/v1/chat/history?agent_id=tws-general", headers=headers).get_json()
    assert [m["id"] for m in general["items"]] == [sent[2]["id"], sent[0]["id"]]
    page = client.get("/api/v1/chat/history?limit=1&offset=1", headers=headers).get_json()
    assert page["items"] == [sent[1]] and page["total"] == 3 and page["limit"] == 1
    unknown = client.get("/api/v1/chat/history?agent_id=nope", headers=headers).get_json()
    assert unknown == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_history_bad_pagination(client: FlaskClient) -> None:
    response = client.get("/api/v1/chat/history?offset=-5", headers=auth("viewer"))
    assert field_errors(assert_problem(response, 400, "validation")) == [("offset", "out_of_range")]


def test_delete_history_only_mine(
    client: FlaskClient, db_path: str, tws_sim: TwsSim, history_user: str
) -> None:
    headers = bearer(mint(history_user, "operator"))
    for agent in ("tws-general", "tws-reporting"):
        client.post("/api/v1/chat", json={"agent_id": agent, "message": "hi"}, headers=headers)
    chat(client, "the seeded operator keeps this")
    others_before = query(db_path, "SELECT count(*) AS n FROM chat_messages")[0].n - 2
    response = client.delete("/api/v1/chat/history?agent_id=tws-reporting", headers=headers)
    assert response.status_code == 204 and response.data == b""
    assert "Content-Type" not in response.headers
    mine = client.get("/api/v1/chat/history", headers=headers).get_json()
    assert [m["agent_id"] for m in mine["items"]] == ["tws-general"]
    assert client.delete("/api/v1/chat/history", headers=headers).status_code == 204
    assert client.get("/api/v1/chat/history", headers=headers).get_json()["total"] == 0
    assert query(db_path, "SELECT count(*) AS n FROM chat_messages")[0].n == others_before


def test_chat_against_slow_tws_times_out(
    make_app: AppFactory, db_path: str, tws_sim: TwsSim
) -> None:
    app = make_app(db_path, TWS_TIMEOUT=0.2)
    tws_sim.configure(latency_ms=1000)
    response = app.test_client().post(
        "/api/v1/chat",
        json={"agent_id": "tws-general", "message": "plan"},
        headers=auth("operator"),
    )
    assert_problem(response, 504, "upstream-timeout", "TWS did not answer in time.")
