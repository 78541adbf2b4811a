"""WebSocket chat: ``/api/v1/ws/chat/{agent_id}`` (FastAPI only; WSGI cannot carry it).

Protocol, and the decisions the contract left open:

- The socket is always accepted first, so every refusal is a proper close frame with code
  1008 (policy violation) and a reason a client can show.
- Authentication: ``Authorization: Bearer <token>`` on the handshake, or a first frame
  ``{"type": "auth", "token": "..."}`` within 5 seconds. A missing, malformed, late or refused
  token closes with 1008. The token is checked exactly as on HTTP (signature, expiry, type,
  revocation, user and role still current) and checked again before every chat message, so a
  logout or an expiry ends the session at the next message (1008).
- Chatting needs the ``operator`` role: a lower role closes with 1008 right after
  authentication ("This action requires the operator role.").
- Unknown agent: closes with 1008 right after authentication ("Agent X not found."); the agent
  is part of the URL, so no message on this socket could succeed.
- ``{"type": "chat_message", "content": "..."}`` runs exactly what ``POST /chat`` runs (same
  checks, same storage, same audit item for ``help``) and answers
  ``{"type": "reply", ...the POST /chat object}``.
- ``{"type": "ping"}`` answers ``{"type": "pong"}``.
- Anything else answers ``{"type": "error", "code", "detail"}`` and the socket stays open:
  ``bad_frame`` (not JSON, not an object, binary, unknown or missing type, a second auth frame),
  a validation code of the message rules (``invalid_type``, ``too_short``, ``too_long``,
  ``invalid_format``; detail is the rule's message), ``upstream-error`` / ``upstream-timeout``
  (TWS failed; detail as the HTTP problem's) or ``internal``.
- The transaction of each chat message is committed on its own (a dry-run header is ignored
  here: shadow mode never replays WebSockets).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from resync_fastapi.core.bearer import bearer_token
from resync_fastapi.core.exceptions import ApiError, Unauthorized
from resync_fastapi.core.responses import dumps, format_timestamp
from resync_fastapi.core.security import TokenService
from resync_fastapi.core.validation import field_errors, has_unpaired_surrogate
from resync_fastapi.models.chat import MessageText
from resync_fastapi.services.auth import AuthenticatedUser, authenticate
from resync_fastapi.services.chat import ensure_agent, exchange
from resync_fastapi.services.tws import TwsClient

__all__ = ["AUTH_TIMEOUT_SECONDS", "POLICY_VIOLATION", "router"]

AUTH_TIMEOUT_SECONDS = 5.0
POLICY_VIOLATION = 1008
_message_text: TypeAdapter[str] = TypeAdapter(MessageText)
logger = structlog.get_logger("resync_fastapi.websocket")

router = APIRouter(tags=["chat"])


class _Refused(Exception):
    """The session must end with 1008 and this reason."""


async def _first_frame_token(websocket: WebSocket) -> str:
    try:
        with anyio.fail_after(AUTH_TIMEOUT_SECONDS):
            raw = await websocket.receive_text()
    except TimeoutError:
        raise _Refused("Authentication timed out.") from None
    except (KeyError, RuntimeError):  # a binary first frame
        raise _Refused("Expected an auth frame.") from None
    try:
        frame = json.loads(raw)
    except ValueError:
        raise _Refused("Expected an auth frame.") from None
    if not isinstance(frame, dict) or has_unpaired_surrogate(frame):
        raise _Refused("Expected an auth frame.")
    token = frame.get("token")
    if frame.get("type") != "auth" or not isinstance(token, str):
        raise _Refused("Expected an auth frame.")
    return token


async def _authenticate(engine: AsyncEngine, tokens: TokenService, token: str) -> AuthenticatedUser:
    try:
        async with engine.connect() as conn:
            return await authenticate(conn, tokens, token)
    except Unauthorized as exc:
        raise _Refused(exc.detail) from None


async def _send(websocket: WebSocket, frame: dict[str, Any]) -> None:
    await websocket.send_text(dumps(frame).decode("utf-8"))


def _error(code: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "detail": detail}


async def _chat(
    engine: AsyncEngine, tws: TwsClient, user: AuthenticatedUser, agent_id: str, content: Any
) -> dict[str, Any]:
    try:
        message = _message_text.validate_python(content)
    except ValidationError as exc:
        error = field_errors(exc.errors(include_url=False))[0]
        return _error(error["code"], f"content: {error['message']}")
    try:
        async with engine.begin() as conn:
            reply = await exchange(conn, tws, user_id=user.id, agent_id=agent_id, message=message)
    except ApiError as exc:
        return _error(exc.slug, exc.detail)
    reply["created_at"] = format_timestamp(reply["created_at"])
    return {"type": "reply", **reply}


@router.websocket("/ws/chat/{agent_id}")
async def chat_socket(websocket: WebSocket, agent_id: str) -> None:
    """Chat with ``agent_id`` over a WebSocket (see the module docstring for the protocol)."""
    state = websocket.app.state
    engine: AsyncEngine = state.engine
    tokens: TokenService = state.tokens
    tws = TwsClient(state.tws_http)
    await websocket.accept()
    try:
        token = bearer_token(websocket.headers.getlist("authorization"))
        if token is None:
            token = await _first_frame_token(websocket)
        user = await _authenticate(engine, tokens, token)
        if not user.has_role("operator"):
            raise _Refused("This action requires the operator role.")
        async with engine.connect() as conn:
            try:
                await ensure_agent(conn, agent_id)
            except ApiError as exc:
                raise _Refused(exc.detail) from None
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            try:
                frame = json.loads(text) if text is not None else None
            except ValueError:
                frame = None
            # A lone surrogate (a "\\ud800" escape) has no UTF-8 form: not a usable frame.
            if not isinstance(frame, dict) or has_unpaired_surrogate(frame):
                await _send(websocket, _error("bad_frame", "Expected a JSON object."))
                continue
            kind = frame.get("type")
            if kind == "ping":
                answer: dict[str, Any] = {"type": "pong"}
            elif kind == "chat_message":
                user = await _authenticate(engine, tokens, token)
                answer = await _chat(engine, tws, user, agent_id, frame.get("content"))
            else:
                answer = _error("bad_frame", f"Unknown frame type: {kind!r}.")
            await _send(websocket, answer)
    except _Refused as refused:
        await websocket.close(code=POLICY_VIOLATION, reason=str(refused))
    except WebSocketDisconnect:
        return
