"""A Resync proxy whose sign-in lives at other paths, for the dashboard's sign-in test.

A gateway in front of the proxy serves Resync's ``/api/v1/auth/*`` at ``/gateway/session/*``
only (the old paths answer 404), and the composition tells the dashboard so through
``create_resync_proxy(sign_in=...)``: a page that still used ``/api/v1/auth/login`` could not
sign in here.
"""

from __future__ import annotations

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from proxy.admin.dashboard.config import SignIn
from proxy.resync import create_resync_proxy

FACTORY = "tests.proxy.admin.dashboard.relocated:create_relocated_proxy"
PREFIX, TARGET = "/gateway/session/", "/api/v1/auth/"
RELOCATED = SignIn(login=f"{PREFIX}login", logout=f"{PREFIX}logout", refresh=f"{PREFIX}refresh")


class RelocatedSignIn:
    """Serve the apps' session endpoints under :data:`PREFIX` instead of their own paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(TARGET):
                await PlainTextResponse("not here", status_code=404)(scope, receive, send)
                return
            if path.startswith(PREFIX):
                moved = TARGET + path.removeprefix(PREFIX)
                scope = {**scope, "path": moved, "raw_path": moved.encode()}
        await self.app(scope, receive, send)


def create_relocated_proxy() -> ASGIApp:
    return RelocatedSignIn(create_resync_proxy(sign_in=RELOCATED))
