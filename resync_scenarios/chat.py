"""Parity scenarios for ``/api/v1/chat`` and its history (list, delete)."""

from __future__ import annotations

from dataclasses import replace

from resync_scenarios.builders import CHAT, CHAT_HELP, A, by_role, pagination
from resync_scenarios.model import Scenario

__all__ = ["scenarios"]

KNOWN_JOB_NAME = "FRAUD_MERGE_01"


def scenarios() -> list[Scenario]:
    """Return the chat and chat history scenarios, in suite order."""
    s: list[Scenario] = []

    # --- chat -------------------------------------------------------------------------------
    post = "POST /api/v1/chat"
    message = {"agent_id": "tws-general", "message": f"what about job {KNOWN_JOB_NAME}?"}
    s += by_role("chat", post, CHAT, "operator", json=message)
    chats = [
        (
            "job-found-lowercase",
            {"agent_id": "tws-troubleshooting", "message": f"Job {KNOWN_JOB_NAME.lower()} status"},
            200,
        ),
        ("job-not-found", {"agent_id": "tws-general", "message": "job NO_SUCH_JOB_9"}, 200),
        ("failures", {"agent_id": "tws-troubleshooting", "message": "Which jobs FAILED?"}, 200),
        ("abend", {"agent_id": "tws-general", "message": "anything in abend"}, 200),
        ("workstations", {"agent_id": "tws-reporting", "message": "workstation summary"}, 200),
        ("plan", {"agent_id": "tws-reporting", "message": "current PLAN please"}, 200),
        ("help-files-audit", {"agent_id": "tws-general", "message": "  hello  "}, 200),
        ("tabs-and-newlines", {"agent_id": "tws-general", "message": "a\tb\nc"}, 200),
        ("unicode", {"agent_id": "tws-general", "message": "Grüße 東京 — ok?"}, 200),
        ("exactly-4000", {"agent_id": "tws-general", "message": "x" * 4000}, 200),
        ("too-long", {"agent_id": "tws-general", "message": "x" * 4001}, 400),
        ("long-after-trim-ok", {"agent_id": "tws-general", "message": " " + "y" * 4000 + " "}, 200),
        ("empty", {"agent_id": "tws-general", "message": ""}, 400),
        ("blank", {"agent_id": "tws-general", "message": "   \n\t "}, 400),
        ("control-char", {"agent_id": "tws-general", "message": "bell\x07"}, 400),
        ("carriage-return", {"agent_id": "tws-general", "message": "a\r\nb"}, 400),
        ("nul", {"agent_id": "tws-general", "message": "a\x00b"}, 400),
        ("message-number", {"agent_id": "tws-general", "message": 12}, 400),
        ("message-null", {"agent_id": "tws-general", "message": None}, 400),
        ("agent-number", {"agent_id": 7, "message": "hi"}, 400),
        ("missing-message", {"agent_id": "tws-general"}, 400),
        ("missing-both", {}, 400),
        ("unknown-agent", {"agent_id": "nope", "message": "hi"}, 404),
        ("unknown-agent-and-bad-message", {"agent_id": "nope", "message": ""}, 400),
        ("extra-fields-ignored", {"agent_id": "tws-general", "message": "plan", "x": 1}, 200),
        ("json-array", ["tws-general", "hi"], 400),
        ("json-string", "hi", 400),
        ("json-null", None, 400),
    ]
    s += [
        Scenario(f"chat-{name}", post, CHAT, auth="operator", json=body, expect=expect)
        for name, body, expect in chats
    ]
    s += [
        Scenario(
            "chat-malformed-json",
            post,
            CHAT,
            auth="operator",
            expect=400,
            body=b'{"agent_id": "tws-general", "message": ',
            content_type="application/json",
        ),
        Scenario(
            "chat-invalid-utf8",
            post,
            CHAT,
            auth="operator",
            expect=400,
            body=b'{"agent_id": "tws-general", "message": "\xff"}',
            content_type="application/json",
        ),
        Scenario(
            "chat-no-content-type",
            post,
            CHAT,
            auth="operator",
            expect=415,
            body=b'{"agent_id": "tws-general", "message": "hi"}',
        ),
        Scenario(
            "chat-text-plain",
            post,
            CHAT,
            auth="operator",
            expect=415,
            body=b"hi",
            content_type="text/plain",
        ),
        Scenario(
            "chat-empty-body",
            post,
            CHAT,
            auth="operator",
            expect=400,
            body=b"",
            content_type="application/json",
        ),
        Scenario(
            "chat-too-large-anonymous",
            post,
            CHAT,
            expect=413,
            body=b'{"message":"' + b"z" * (1024 * 1024 + 10) + b'"}',
            content_type="application/json",
        ),
        Scenario(
            "chat-tws-error",
            post,
            CHAT,
            auth="operator",
            expect=502,
            json={"agent_id": "tws-general", "message": "plan"},
            tws={"error_rate": 1.0},
        ),
        Scenario(
            "chat-tws-timeout",
            post,
            CHAT,
            auth="operator",
            expect=504,
            json={"agent_id": "tws-general", "message": "plan"},
            tws={"timeout_rate": 1.0, "timeout_seconds": 3.0},
        ),
        Scenario(
            "chat-help-then-audit",
            "GET /api/v1/audit/flags",
            f"{A}/audit/flags",
            auth="viewer",
            expect=200,
            before=(CHAT_HELP,),
        ),
    ]

    history = "GET /api/v1/chat/history"
    hpath = f"{A}/chat/history"
    s += by_role("history", history, hpath, "viewer")
    s += pagination("history", history, hpath, "viewer")
    s += [
        Scenario(
            "history-unknown-agent",
            history,
            hpath,
            auth="viewer",
            expect=200,
            query=(("agent_id", "nope"),),
        ),
        Scenario(
            "history-after-chat",
            history,
            hpath,
            auth="operator",
            expect=200,
            before=(
                CHAT_HELP,
                replace(CHAT_HELP, json={"agent_id": "tws-reporting", "message": "plan"}),
            ),
        ),
        Scenario(
            "history-after-chat-by-agent",
            history,
            hpath,
            auth="operator",
            expect=200,
            query=(("agent_id", "tws-reporting"), ("limit", "1")),
            before=(
                CHAT_HELP,
                replace(CHAT_HELP, json={"agent_id": "tws-reporting", "message": "plan"}),
            ),
        ),
        Scenario(
            "history-other-users-not-shown",
            history,
            hpath,
            auth="admin",
            expect=200,
            before=(CHAT_HELP,),
        ),
    ]
    delete = "DELETE /api/v1/chat/history"
    s += by_role("history-delete", delete, hpath, "operator", ok=204)
    s += [
        Scenario(
            "history-delete-by-agent",
            delete,
            hpath,
            auth="operator",
            expect=204,
            query=(("agent_id", "tws-general"),),
            before=(
                CHAT_HELP,
                replace(CHAT_HELP, json={"agent_id": "tws-reporting", "message": "plan"}),
            ),
        ),
        Scenario(
            "history-delete-then-list",
            history,
            hpath,
            auth="operator",
            expect=200,
            before=(CHAT_HELP, Scenario("history-delete-step", delete, hpath, auth="operator")),
        ),
        Scenario("history-patch-405", history, hpath, auth="operator", method="PATCH", expect=405),
    ]
    return s
