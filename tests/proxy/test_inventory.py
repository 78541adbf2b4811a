"""Route inventory: both frameworks' routes normalised to ``METHOD /path/{param}`` keys."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from flask import Flask

from proxy.inventory import LEGACY, NEW, Route, inventory_from_fastapi, inventory_from_flask, merge


def _flask() -> Flask:
    app = Flask("inventory", static_folder=None)

    @app.get("/agents")
    def agents() -> str:
        return ""

    @app.route("/agents/<agent_id>", methods=["GET", "DELETE", "OPTIONS"])
    def agent(agent_id: str) -> str:
        return ""

    @app.get("/jobs/<int:job_id>/runs/<int(fixed_digits=3):run>")
    def run(job_id: int, run: int) -> str:
        return ""

    @app.get("/files/<path:name>")
    def file(name: str) -> str:
        return ""

    @app.get("/legacy-only")
    def legacy_only() -> str:
        return ""

    return app


def _fastapi() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    router = APIRouter(prefix="/v2")

    @app.get("/agents")
    async def agents() -> None: ...

    @app.get("/agents/{agent_id}")
    async def agent(agent_id: str) -> None: ...

    @app.get("/jobs/{job_id:int}/runs/{run}")
    async def run(job_id: int, run: int) -> None: ...

    @app.websocket("/ws/chat/{agent_id}")
    async def chat(websocket: WebSocket, agent_id: str) -> None: ...

    @router.post("/things/{thing_id}")
    async def thing(thing_id: str) -> None: ...

    app.include_router(router)
    return app


def _keys(routes: list[Route]) -> set[str]:
    return {route.key for route in routes}


def test_flask_rules_become_keys_with_plain_parameters() -> None:
    assert _keys(inventory_from_flask(_flask())) == {
        "GET /agents",
        "GET /agents/{agent_id}",
        "DELETE /agents/{agent_id}",
        "GET /jobs/{job_id}/runs/{run}",
        "GET /files/{name}",
        "GET /legacy-only",
    }


def test_fastapi_routes_become_keys_with_plain_parameters() -> None:
    assert _keys(inventory_from_fastapi(_fastapi())) == {
        "GET /agents",
        "GET /agents/{agent_id}",
        "GET /jobs/{job_id}/runs/{run}",
        "WS /ws/chat/{agent_id}",
        "POST /v2/things/{thing_id}",
    }


def test_head_and_options_are_not_keys() -> None:
    routes = inventory_from_flask(_flask()) + inventory_from_fastapi(_fastapi())
    assert {route.method for route in routes} == {"GET", "DELETE", "POST", "WS"}


@pytest.mark.parametrize(
    ("key", "path", "matches"),
    [
        pytest.param("GET /jobs/{job_id}/runs/{run}", "/jobs/12/runs/007", True, id="int-ok"),
        pytest.param("GET /jobs/{job_id}/runs/{run}", "/jobs/ab/runs/007", False, id="int-rejects"),
        pytest.param("GET /files/{name}", "/files/a/b/c.txt", True, id="path-spans-slashes"),
        pytest.param("GET /agents/{agent_id}", "/agents/a/b", False, id="default-one-segment"),
    ],
)
def test_flask_patterns_match_what_werkzeug_matches(key: str, path: str, matches: bool) -> None:
    route = next(r for r in inventory_from_flask(_flask()) if r.key == key)
    assert any(re.fullmatch(p, path) for p in route.patterns) is matches


def test_merge_records_which_sides_serve_each_key() -> None:
    inventory = merge(inventory_from_flask(_flask()), inventory_from_fastapi(_fastapi()))
    assert inventory["GET /agents"].sides == {LEGACY, NEW}
    assert inventory["GET /legacy-only"].sides == {LEGACY}
    assert inventory["WS /ws/chat/{agent_id}"].sides == {NEW}
    assert inventory["WS /ws/chat/{agent_id}"].websocket
    assert inventory["DELETE /agents/{agent_id}"].sides == {LEGACY}
    # Both sides' patterns are kept: Werkzeug's int and Starlette's int spell digits differently.
    assert len(inventory["GET /jobs/{job_id}/runs/{run}"].patterns) == 2


def test_inventory_iterates_by_path_then_method() -> None:
    inventory = merge(inventory_from_flask(_flask()))
    keys = list(inventory)
    assert keys.index("DELETE /agents/{agent_id}") < keys.index("GET /agents/{agent_id}")
    assert keys == sorted(keys, key=lambda k: (k.split(" ")[1], k.split(" ")[0]))
