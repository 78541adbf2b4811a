"""``/agents`` (viewer): list and detail."""

from __future__ import annotations

from tests.resync_fastapi.harness import AppHarness, assert_problem, field_errors, mint

AGENTS = "/api/v1/agents"


def test_lists_the_seeded_agents_ordered_by_id(harness: AppHarness) -> None:
    body = harness.get(AGENTS, token=mint("viewer")).json()
    ids = [agent["id"] for agent in body["items"]]
    assert ids == sorted(ids)
    assert {"tws-troubleshooting", "tws-general"} <= set(ids)
    assert (body["total"], body["limit"], body["offset"]) == (3, 50, 0)
    assert list(body["items"][0]) == [
        "id",
        "name",
        "agent_type",
        "role",
        "goal",
        "tools",
        "model_name",
    ]
    assert isinstance(body["items"][0]["tools"], list)


def test_pagination_slices_the_list(harness: AppHarness) -> None:
    body = harness.get(AGENTS + "?limit=1&offset=2", token=mint("viewer")).json()
    assert [agent["id"] for agent in body["items"]] == ["tws-troubleshooting"]
    assert body["total"] == 3


def test_detail_adds_the_backstory_last(harness: AppHarness) -> None:
    body = harness.get(AGENTS + "/tws-troubleshooting", token=mint("viewer")).json()
    assert list(body)[-1] == "backstory"
    assert body["tools"] == ["tws_jobs", "tws_job_log", "rag_search"]


def test_unknown_agent_is_404(harness: AppHarness) -> None:
    response = harness.get(AGENTS + "/nope", token=mint("viewer"))
    assert_problem(response, 404, "not-found", "Agent nope not found.")


def test_bad_limit_is_400(harness: AppHarness) -> None:
    assert field_errors(harness.get(AGENTS + "?limit=abc", token=mint("viewer"))) == [
        ("limit", "invalid_type")
    ]
