"""What the dashboard page learns from the proxy that serves it: where to sign in, and the modes.

The page is generic: it knows the admin API (beside it, under ``/_strangler``) and nothing of the
apps behind the proxy. Where a user signs in, signs out and renews a session is the composition
module's word (:mod:`proxy.resync` for Resync), handed to :func:`~proxy.admin.dashboard.
mount_dashboard` as a :class:`SignIn`; the modes are :class:`proxy.modes.Mode`'s. Both are served
at ``GET /_strangler/dashboard.json``, which the page reads before anything else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from proxy.modes import Mode

__all__ = ["CONFIG_PATH", "SignIn", "dashboard_config"]

#: Where the page reads its configuration (beside the page: ``./dashboard.json``).
CONFIG_PATH = "/_strangler/dashboard.json"


@dataclass(frozen=True, slots=True)
class SignIn:
    """The sign-in endpoints of the apps behind the proxy, as paths on the proxy (``/...``).

    ``login`` takes ``{"username", "password"}`` and answers ``{"access_token",
    "refresh_token"}``; ``logout`` revokes the bearer token it is sent with; ``refresh`` trades
    ``{"refresh_token"}`` for a new pair. The page resolves each path against the proxy's root
    (the folder above ``/_strangler/``), so a proxy mounted under a prefix keeps working.
    """

    login: str
    logout: str
    refresh: str

    def __post_init__(self) -> None:
        for name, path in asdict(self).items():
            if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
                raise ValueError(f"sign-in {name} must be a path on the proxy, not {path!r}")


def dashboard_config(sign_in: SignIn | None) -> dict[str, Any]:
    """The document served at :data:`CONFIG_PATH` (``sign_in`` is ``null`` when none is set)."""
    return {
        "sign_in": asdict(sign_in) if sign_in is not None else None,
        "modes": [{"mode": mode.value, "hint": mode.hint} for mode in Mode],
    }
