"""Define the simulator's exceptions: one tree, each carrying the HTTP status it becomes.

TwsSimError
 ├── InvalidSettings   (400 on PUT /_control; a bad value at start-up)
 └── InvalidQuery      (400 on a /twsd query parameter)
"""

from __future__ import annotations

__all__ = ["InvalidQuery", "InvalidSettings", "TwsSimError"]


class TwsSimError(Exception):
    """Base of every error the simulator raises on purpose."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSettings(TwsSimError, ValueError):
    """A latency or fault setting is missing its type or range."""

    status = 400


class InvalidQuery(TwsSimError, ValueError):
    """A query parameter of a /twsd request is malformed or out of range."""

    status = 400
