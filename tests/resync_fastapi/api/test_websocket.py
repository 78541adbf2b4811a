"""The WebSocket chat against a real uvicorn on loopback, with the ``websockets`` client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from resync_fastapi import create_app
from resync_fastapi.api.v1.websocket import handlers
from tests.resync_fastapi.harness import create_user, execute, mint, settings_for
from tests.services import TwsSim, free_port

HELP = "I can report a job's status ('job NAME'), failed jobs, workstations and the current plan."


@pytest.fixture(scope="module")
def server(module_database_url: str, tws_sim_process: TwsSim) -> Iterator[str]:
    """A uvicorn serving the app on a free loopback port; yields its ``ws://`` base URL."""
    port = free_port()
    app = create_app(settings_for(module_database_url, tws_sim_process.twsd_url))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not served.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"ws://127.0.0.1:{port}/api/v1/ws/chat"
    served.should_exit = True
    thread.join(timeout=10)


def _send(ws: ClientConnection, frame: Any) -> dict[str, Any]:
    ws.send(json.dumps(frame))
    return dict(json.loads(ws.recv(timeout=10)))


def _closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def _operator(database_url: str) -> tuple[str, str]:
    username = create_user(database_url, "operator", "socket")
    return username, mint(username, "operator")


class TestAuthentication:
    def test_header_token_then_ping_pong(self, server: str) -> None:
        with connect(
            f"{server}/tws-general",
            additional_headers={"Authorization": f"Bearer {mint('operator')}"},
        ) as ws:
            assert _send(ws, {"type": "ping"}) == {"type": "pong"}

    def test_first_frame_token(self, server: str) -> None:
        with connect(f"{server}/tws-general") as ws:
            ws.send(json.dumps({"type": "auth", "token": mint("admin")}))
            assert _send(ws, {"type": "ping"}) == {"type": "pong"}

    def test_no_auth_frame_in_time_closes_1008(
        self, server: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(handlers, "AUTH_TIMEOUT_SECONDS", 0.3)
        with connect(f"{server}/tws-general") as ws:
            assert _closed_with(ws) == (1008, "Authentication timed out.")

    @pytest.mark.parametrize(
        "frame",
        [
            pytest.param({"type": "ping"}, id="not an auth frame"),
            pytest.param({"type": "auth"}, id="no token"),
            pytest.param(["auth"], id="not an object"),
            pytest.param("auth", id="not json"),
        ],
    )
    def test_a_wrong_first_frame_closes_1008(self, server: str, frame: Any) -> None:
        with connect(f"{server}/tws-general") as ws:
            ws.send(frame if isinstance(frame, str) else json.dumps(frame))
            assert _closed_with(ws) == (1008, "Expected an auth frame.")

    @pytest.mark.parametrize(
        "token",
        [
            pytest.param(lambda: mint("operator", issued_ago=7200), id="expired"),
            pytest.param(lambda: mint("operator", typ="refresh"), id="refresh token"),
            pytest.param(lambda: "garbage", id="garbage"),
        ],
    )
    def test_a_refused_token_closes_1008(self, server: str, token: Any) -> None:
        with connect(f"{server}/tws-general") as ws:
            ws.send(json.dumps({"type": "auth", "token": token()}))
            assert _closed_with(ws) == (1008, "Invalid or expired token.")
        with connect(
            f"{server}/tws-general", additional_headers={"Authorization": f"Bearer {token()}"}
        ) as ws:
            assert _closed_with(ws) == (1008, "Invalid or expired token.")

    def test_viewers_cannot_chat(self, server: str) -> None:
        with connect(
            f"{server}/tws-general",
            additional_headers={"Authorization": f"Bearer {mint('viewer')}"},
        ) as ws:
            assert _closed_with(ws) == (1008, "This action requires the operator role.")

    def test_an_unknown_agent_closes_1008(self, server: str) -> None:
        with connect(
            f"{server}/nope", additional_headers={"Authorization": f"Bearer {mint('operator')}"}
        ) as ws:
            assert _closed_with(ws) == (1008, "Agent nope not found.")


class TestChat:
    def test_a_chat_message_gets_the_post_chat_object(
        self, server: str, module_database_url: str
    ) -> None:
        username, token = _operator(module_database_url)
        with connect(f"{server}/tws-reporting") as ws:
            ws.send(json.dumps({"type": "auth", "token": token}))
            reply = _send(ws, {"type": "chat_message", "content": "  good morning  "})
        assert list(reply) == [
            "type",
            "id",
            "agent_id",
            "message",
            "reply",
            "intent",
            "created_at",
        ]
        assert reply["type"] == "reply"
        assert (reply["agent_id"], reply["message"], reply["intent"], reply["reply"]) == (
            "tws-reporting",
            "good morning",
            "help",
            HELP,
        )
        assert reply["created_at"].endswith("Z")
        stored = execute(
            module_database_url,
            "SELECT m.message FROM chat_messages m JOIN users u ON u.id = m.user_id"
            " WHERE u.username = :u",
            u=username,
        )
        assert [row[0] for row in stored] == ["good morning"]
        audit = execute(
            module_database_url,
            "SELECT status FROM audit_items WHERE memory_id = :m",
            m=f"chat-{reply['id']}",
        )
        assert [row[0] for row in audit] == ["pending"]

    def test_intents_ask_the_simulator(self, server: str, tws_sim: TwsSim) -> None:
        with connect(
            f"{server}/tws-general",
            additional_headers={"Authorization": f"Bearer {mint('operator')}"},
        ) as ws:
            plan = _send(ws, {"type": "chat_message", "content": "plan?"})
            job = _send(ws, {"type": "chat_message", "content": "job J_NOPE"})
        assert plan["intent"] == "plan" and plan["reply"].startswith("Current plan ")
        assert job["reply"] == "I could not find job J_NOPE."

    @pytest.mark.parametrize(
        ("frame", "code"),
        [
            pytest.param("{not json", "bad_frame", id="not json"),
            pytest.param("[1, 2]", "bad_frame", id="array"),
            pytest.param('{"type": "shout"}', "bad_frame", id="unknown type"),
            pytest.param('{"content": "x"}', "bad_frame", id="no type"),
            pytest.param('{"type": "auth", "token": "x"}', "bad_frame", id="second auth"),
            pytest.param('{"type": "chat_message", "content": "   "}', "too_short", id="blank"),
            pytest.param('{"type": "chat_message"}', "invalid_type", id="no content"),
            pytest.param(
                json.dumps({"type": "chat_message", "content": "x" * 4001}), "too_long", id="long"
            ),
            pytest.param(
                json.dumps({"type": "chat_message", "content": "a\rb"}), "invalid_format", id="cr"
            ),
        ],
    )
    def test_anything_else_is_an_error_frame_and_the_socket_stays_open(
        self, server: str, frame: str, code: str
    ) -> None:
        with connect(
            f"{server}/tws-general",
            additional_headers={"Authorization": f"Bearer {mint('operator')}"},
        ) as ws:
            ws.send(frame)
            error = json.loads(ws.recv(timeout=10))
            assert list(error) == ["type", "code", "detail"]
            assert (error["type"], error["code"]) == ("error", code)
            assert error["detail"]
            assert _send(ws, {"type": "ping"}) == {"type": "pong"}

    def test_a_binary_frame_is_an_error_frame(self, server: str) -> None:
        with connect(
            f"{server}/tws-general",
            additional_headers={"Authorization": f"Bearer {mint('operator')}"},
        ) as ws:
            ws.send(b"\x00\x01")
            assert json.loads(ws.recv(timeout=10))["code"] == "bad_frame"
            assert _send(ws, {"type": "ping"}) == {"type": "pong"}

    def test_tws_failures_are_error_frames(self, server: str, tws_sim: TwsSim) -> None:
        with connect(
            f"{server}/tws-general",
            additional_headers={"Authorization": f"Bearer {mint('operator')}"},
        ) as ws:
            tws_sim.configure(error_rate=1.0)
            error = _send(ws, {"type": "chat_message", "content": "workstations"})
            assert error == {
                "type": "error",
                "code": "upstream-error",
                "detail": "TWS returned an error.",
            }
            tws_sim.reset()
            assert _send(ws, {"type": "chat_message", "content": "workstations"})["type"] == "reply"

    def test_revoking_the_session_ends_the_socket_at_the_next_message(
        self, server: str, module_database_url: str
    ) -> None:
        _, token = _operator(module_database_url)
        with connect(f"{server}/tws-general") as ws:
            ws.send(json.dumps({"type": "auth", "token": token}))
            assert _send(ws, {"type": "chat_message", "content": "hi"})["type"] == "reply"
            import jwt

            sid = jwt.decode(token, options={"verify_signature": False})["sid"]
            execute(
                module_database_url,
                "INSERT INTO revoked_tokens (token_id, revoked_at, expires_at)"
                " VALUES (:t, '2026-01-01 00:00:00', '2099-01-01 00:00:00')",
                t=sid,
            )
            assert _send(ws, {"type": "ping"}) == {"type": "pong"}
            ws.send(json.dumps({"type": "chat_message", "content": "still there?"}))
            assert _closed_with(ws) == (1008, "Invalid or expired token.")
