"""List the agents and show one."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.legacy_flask.harness import assert_problem, auth, field_errors

LIST_KEYS = ["id", "name", "agent_type", "role", "goal", "tools", "model_name"]


def test_list_agents(client: FlaskClient) -> None:
    body = client.get("/api/v1/agents", headers=auth("viewer")).get_json()
    assert body["total"] == 3 and body["limit"] == 50 and body["offset"] == 0
    assert [agent["id"] for agent in body["items"]] == [
        "tws-general",
        "tws-reporting",
        "tws-troubleshooting",
    ]
    assert all(list(agent) == LIST_KEYS for agent in body["items"])
    assert body["items"][0]["tools"] == ["tws_status", "tws_jobs", "tws_plan"]


@pytest.mark.parametrize(
    ("params", "ids"),
    [
        pytest.param("limit=1", ["tws-general"], id="first"),
        pytest.param("limit=1&offset=2", ["tws-troubleshooting"], id="last"),
        pytest.param("offset=3", [], id="past-the-end"),
    ],
)
def test_agents_pagination(client: FlaskClient, params: str, ids: list[str]) -> None:
    body = client.get(f"/api/v1/agents?{params}", headers=auth("viewer")).get_json()
    assert [agent["id"] for agent in body["items"]] == ids
    assert body["total"] == 3


def test_agents_bad_pagination(client: FlaskClient) -> None:
    response = client.get("/api/v1/agents?limit=1000", headers=auth("viewer"))
    assert field_errors(assert_problem(response, 400, "validation")) == [("limit", "out_of_range")]


def test_agent_detail_adds_backstory_last(client: FlaskClient) -> None:
    body = client.get("/api/v1/agents/tws-troubleshooting", headers=auth("viewer")).get_json()
    assert list(body) == [*LIST_KEYS, "backstory"]
    assert body["name"] == "TWS Troubleshooting Specialist"
    assert body["backstory"].startswith("Knows every return code")


def test_unknown_agent_is_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/agents/nope", headers=auth("viewer"))
    assert_problem(response, 404, "not-found", "Agent nope not found.")
