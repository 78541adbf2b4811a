"""``/chat``: the rule engine against the real simulator, history, and every failure mode."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.resync_fastapi.harness import (
    AppHarness,
    assert_problem,
    create_user,
    execute,
    field_errors,
    mint,
    settings_for,
    snapshot,
)
from tests.services import TwsSim, free_port

CHAT = "/api/v1/chat"
HISTORY = "/api/v1/chat/history"
HELP = "I can report a job's status ('job NAME'), failed jobs, workstations and the current plan."


def _tws(sim: TwsSim, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{sim.twsd_url}/{path}", params=params, auth=(sim.user, sim.password), timeout=5
    )
    response.raise_for_status()
    return response.json()


def _chat(harness: AppHarness, message: Any, agent_id: str = "tws-general", **kwargs: Any) -> Any:
    return harness.post(
        CHAT,
        token=kwargs.pop("token", mint("operator")),
        json={"agent_id": agent_id, "message": message},
    )


class TestIntents:
    def test_job_status_reports_the_job_with_tws_spelling(
        self, harness: AppHarness, tws_sim: TwsSim
    ) -> None:
        job = _tws(tws_sim, "model/jobdefinition", limit=1)["items"][0]
        response = _chat(harness, f"  what about JOB {job['name'].lower()} ?  ")
        assert response.status_code == 200
        body = response.json()
        assert list(body) == ["id", "agent_id", "message", "reply", "intent", "created_at"]
        assert body["intent"] == "job_status"
        assert body["message"] == f"what about JOB {job['name'].lower()} ?"
        assert body["reply"] == (
            f"Job {job['name']} on {job['workstation']} is {job['status']} "
            f"(stream {job['job_stream']})."
        )

    def test_unknown_job_uses_the_users_spelling(
        self, harness: AppHarness, tws_sim: TwsSim
    ) -> None:
        body = _chat(harness, "job No_Such_Job").json()
        assert (body["intent"], body["reply"]) == (
            "job_status",
            "I could not find job No_Such_Job.",
        )

    def test_failures_list_the_first_five_abended_jobs_sorted(
        self, harness: AppHarness, tws_sim: TwsSim
    ) -> None:
        abended = _tws(tws_sim, "model/jobdefinition", status="ABEND", limit=1000)
        names = sorted(job["name"] for job in abended["items"])
        body = _chat(harness, "Anything FAILED tonight?").json()
        assert body["intent"] == "failures"
        assert body["reply"] == f"{abended['total']} jobs are in ABEND: {', '.join(names[:5])}."

    def test_workstations_count_the_linked_ones(self, harness: AppHarness, tws_sim: TwsSim) -> None:
        fleet = _tws(tws_sim, "model/workstation")
        linked = sum(1 for item in fleet["items"] if item["status"] == "LINKED")
        body = _chat(harness, "how are the workstations").json()
        assert body["intent"] == "workstations"
        assert body["reply"] == f"{linked} of {fleet['total']} workstations are LINKED."

    def test_plan_summarises_the_current_plan(self, harness: AppHarness, tws_sim: TwsSim) -> None:
        plan = _tws(tws_sim, "plan/current")
        body = _chat(harness, "show me the PLAN").json()
        assert body["intent"] == "plan"
        assert body["reply"] == (
            f"Current plan {plan['plan_id']}: {plan['jobs_count']} jobs, status {plan['status']}."
        )

    @pytest.mark.parametrize(
        ("message", "intent"),
        [
            pytest.param("job X1 failed and the plan", "job_status", id="job wins over failures"),
            pytest.param("abend on a workstation", "failures", id="failures win over workstations"),
            pytest.param("workstation plan", "workstations", id="workstations win over plan"),
            pytest.param("jobs are fine", "help", id="job needs a name"),
            pytest.param("hello", "help", id="anything else"),
        ],
    )
    def test_rules_are_tried_in_order(
        self, harness: AppHarness, tws_sim: TwsSim, message: str, intent: str
    ) -> None:
        assert _chat(harness, message).json()["intent"] == intent

    def test_help_files_a_pending_audit_item(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        body = _chat(harness, "what is the weather?").json()
        assert (body["intent"], body["reply"]) == ("help", HELP)
        rows = execute(
            module_database_url,
            "SELECT agent_id, user_query, agent_response, reason, confidence, status"
            " FROM audit_items WHERE memory_id = :m",
            m=f"chat-{body['id']}",
        )
        assert [tuple(row) for row in rows] == [
            ("tws-general", "what is the weather?", HELP, "unrecognized request", 0.0, "pending")
        ]

    def test_non_ascii_is_kept_as_is(self, harness: AppHarness) -> None:
        response = _chat(harness, "héllo wörld ✓")
        assert "héllo wörld ✓".encode() in response.content


class TestHistory:
    @pytest.fixture
    def talker(self, harness: AppHarness, module_database_url: str) -> str:
        """A new operator with three help exchanges (two agents), after another user's one."""
        other = create_user(module_database_url, "admin", "other")
        assert _chat(harness, "someone else", token=mint(other, "admin")).status_code == 200
        username = create_user(module_database_url, "operator", "talker")
        token = mint(username, "operator")
        for message in ("hello one", "hello two"):
            assert _chat(harness, message, token=token).status_code == 200
        assert _chat(harness, "hello three", "tws-reporting", token=token).status_code == 200
        return username

    def test_history_is_the_callers_newest_first(self, harness: AppHarness, talker: str) -> None:
        body = harness.get(HISTORY, token=mint(talker, "operator")).json()
        assert [item["message"] for item in body["items"]] == [
            "hello three",
            "hello two",
            "hello one",
        ]
        assert (body["total"], body["limit"], body["offset"]) == (3, 50, 0)
        assert list(body["items"][0]) == [
            "id",
            "agent_id",
            "message",
            "reply",
            "intent",
            "created_at",
        ]

    def test_history_filters_by_agent_and_pages(self, harness: AppHarness, talker: str) -> None:
        token = mint(talker, "operator")
        body = harness.get(HISTORY + "?agent_id=tws-general&limit=1&offset=1", token=token).json()
        assert [item["message"] for item in body["items"]] == ["hello one"]
        assert body["total"] == 2
        unknown = harness.get(HISTORY + "?agent_id=nope", token=token).json()
        assert (unknown["items"], unknown["total"]) == ([], 0)

    def test_a_new_viewer_has_an_empty_history(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        viewer = create_user(module_database_url, "viewer", "reader")
        body = harness.get(HISTORY, token=mint(viewer, "viewer")).json()
        assert (body["items"], body["total"]) == ([], 0)

    def test_delete_removes_only_the_callers_messages(
        self, harness: AppHarness, talker: str, module_database_url: str
    ) -> None:
        token = mint(talker, "operator")
        audit_before = execute(module_database_url, "SELECT count(*) FROM audit_items")[0][0]
        deleted = harness.delete(HISTORY + "?agent_id=tws-reporting", token=token)
        assert deleted.status_code == 204 and deleted.content == b""
        assert harness.get(HISTORY, token=token).json()["total"] == 2
        assert harness.delete(HISTORY, token=token).status_code == 204
        assert harness.get(HISTORY, token=token).json()["total"] == 0
        others = execute(
            module_database_url,
            "SELECT count(*) FROM chat_messages WHERE message = 'someone else'",
        )[0][0]
        assert others >= 1
        # Audit items filed by the deleted help replies stay for the reviewers.
        assert (
            execute(module_database_url, "SELECT count(*) FROM audit_items")[0][0] == audit_before
        )


class TestRefusals:
    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            pytest.param({}, [("agent_id", "missing"), ("message", "missing")], id="nothing"),
            pytest.param(
                {"agent_id": 1, "message": 2},
                [("agent_id", "invalid_type"), ("message", "invalid_type")],
                id="types",
            ),
            pytest.param(
                {"agent_id": "tws-general", "message": " \n\t "},
                [("message", "too_short")],
                id="blank",
            ),
            pytest.param(
                {"agent_id": "tws-general", "message": "x" * 4001},
                [("message", "too_long")],
                id="4001 chars",
            ),
            pytest.param(
                {"agent_id": "tws-general", "message": "a\rb"},
                [("message", "invalid_format")],
                id="carriage return",
            ),
            pytest.param(
                {"agent_id": "tws-general", "message": "a\x00b"},
                [("message", "invalid_format")],
                id="nul",
            ),
            pytest.param(
                {"agent_id": "tws-general", "message": "a\x85b"},
                [("message", "invalid_format")],
                id="C1 control",
            ),
        ],
    )
    def test_invalid_messages_are_400_and_store_nothing(
        self,
        harness: AppHarness,
        module_database_url: str,
        body: dict[str, Any],
        expected: list[tuple[str, str]],
    ) -> None:
        before = snapshot(module_database_url)
        assert field_errors(harness.post(CHAT, token=mint("operator"), json=body)) == expected
        assert snapshot(module_database_url) == before

    def test_4000_characters_with_newlines_and_tabs_are_fine(self, harness: AppHarness) -> None:
        message = ("hello\tworld\n" * 400)[:4000]
        assert _chat(harness, "  " + message + "  ").status_code == 200

    def test_too_short_message_is_exact(self, harness: AppHarness) -> None:
        body = _chat(harness, "   ").json()
        assert body["errors"] == [
            {"field": "message", "code": "too_short", "message": "Must be at least 1 characters."}
        ]

    def test_unknown_agent_is_404_and_stores_nothing(
        self, harness: AppHarness, module_database_url: str
    ) -> None:
        before = snapshot(module_database_url)
        assert_problem(
            _chat(harness, "hello", agent_id="nope"), 404, "not-found", "Agent nope not found."
        )
        assert snapshot(module_database_url) == before

    @pytest.mark.parametrize(
        ("kwargs", "status"),
        [
            pytest.param(
                {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 415, id="text/plain"
            ),
            pytest.param({"content": b"{}"}, 415, id="no content type"),
            pytest.param(
                {"content": b"{oops", "headers": {"Content-Type": "application/json"}},
                400,
                id="malformed",
            ),
            pytest.param(
                {"content": b"NaN", "headers": {"Content-Type": "application/json"}}, 400, id="NaN"
            ),
            pytest.param(
                {"content": b"\xff", "headers": {"Content-Type": "application/json"}},
                400,
                id="not UTF-8",
            ),
            pytest.param({"json": ["a"]}, 400, id="array"),
        ],
    )
    def test_bad_bodies_are_refused_and_store_nothing(
        self, harness: AppHarness, module_database_url: str, kwargs: dict[str, Any], status: int
    ) -> None:
        before = snapshot(module_database_url)
        response = harness.post(CHAT, token=mint("operator"), **kwargs)
        assert response.status_code == status
        assert snapshot(module_database_url) == before

    def test_auth_comes_before_the_body(self, harness: AppHarness) -> None:
        response = harness.post(CHAT, content=b"{oops", headers={"Content-Type": "text/plain"})
        assert_problem(response, 401, "unauthorized")
        forbidden = harness.post(CHAT, token=mint("viewer"), content=b"{oops")
        assert_problem(forbidden, 403, "forbidden", "This action requires the operator role.")


@pytest.fixture(scope="module")
def impatient(module_database_url: str, tws_sim_process: TwsSim) -> Iterator[AppHarness]:
    """An app that gives TWS half a second."""
    settings = settings_for(module_database_url, tws_sim_process.twsd_url, tws_timeout=0.5)
    with AppHarness(settings) as started:
        yield started


class TestTwsFailures:
    def test_tws_errors_are_502_and_store_nothing(
        self, impatient: AppHarness, tws_sim: TwsSim, module_database_url: str
    ) -> None:
        tws_sim.configure(error_rate=1.0)
        before = snapshot(module_database_url)
        response = _chat(impatient, "show me the plan")
        assert_problem(response, 502, "upstream-error", "TWS returned an error.")
        assert snapshot(module_database_url) == before
        tws_sim.reset()
        assert _chat(impatient, "show me the plan").status_code == 200

    def test_a_slow_tws_is_504(self, impatient: AppHarness, tws_sim: TwsSim) -> None:
        tws_sim.configure(latency_ms=1500)
        response = _chat(impatient, "workstations?")
        assert_problem(response, 504, "upstream-timeout", "TWS did not answer in time.")
        assert impatient.get("/health/live").status_code == 200

    def test_a_reset_connection_is_502(self, impatient: AppHarness, tws_sim: TwsSim) -> None:
        tws_sim.configure(reset_rate=1.0)
        assert_problem(_chat(impatient, "job J1"), 502, "upstream-error")

    def test_an_unreachable_tws_is_502(self, module_database_url: str) -> None:
        dead = f"http://127.0.0.1:{free_port()}/twsd"
        with AppHarness(settings_for(module_database_url, dead)) as app:
            response = _chat(app, "plan please")
            assert_problem(response, 502, "upstream-error", "TWS is unreachable.")
            # Requests that do not need TWS are still served.
            assert app.get("/api/v1/agents", token=mint("viewer")).status_code == 200

    def test_help_needs_no_tws(self, impatient: AppHarness, tws_sim: TwsSim) -> None:
        tws_sim.configure(error_rate=1.0)
        assert _chat(impatient, "hello there").json()["intent"] == "help"


def test_a_reused_message_id_takes_over_the_stale_audit_item(
    harness: AppHarness, module_database_url: str
) -> None:
    # SQLite hands the highest rowid out again once that row is deleted; the audit item filed
    # for the deleted message must not turn the next help reply into a 500.
    username = create_user(module_database_url, "operator", "reuser")
    token = mint(username, "operator")
    first = _chat(harness, "first unknown question", token=token).json()
    assert harness.delete(HISTORY, token=token).status_code == 204
    second = _chat(harness, "second unknown question", token=token)
    assert second.status_code == 200
    rows = execute(
        module_database_url,
        "SELECT user_query, status FROM audit_items WHERE memory_id = :m",
        m=f"chat-{second.json()['id']}",
    )
    assert [tuple(row) for row in rows] == [("second unknown question", "pending")]
    if second.json()["id"] != first["id"]:  # PostgreSQL sequences never reuse ids
        old = execute(
            module_database_url,
            "SELECT user_query FROM audit_items WHERE memory_id = :m",
            m=f"chat-{first['id']}",
        )
        assert [row[0] for row in old] == ["first unknown question"]
