"""Define the proxy's exceptions, one tree for the whole package.

```
ProxyError                      anything the proxy raises on purpose
 ├── StoreError                 the flag store failed to do what was asked
 │    ├── StoreUnavailable      the store cannot be reached (connection refused, dropped, timed out)
 │    └── VersionConflict       a compare-and-set lost: the table moved since the caller read it
 ├── UnknownRoute               a route key that is not in the route inventory or flag table
 └── InvalidFlag (ValueError)   a mode, percent or route key that is not acceptable
      └── FlagFileError         the same, found in a flag file (names the file and the route)
```

Low-level driver errors (``sqlite3``, ``redis``, ``asyncpg``) are translated into these at the
store boundary with ``raise ... from exc`` so callers never import a driver to catch a failure.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "FlagFileError",
    "InvalidFlag",
    "ProxyError",
    "StoreError",
    "StoreUnavailable",
    "UnknownRoute",
    "VersionConflict",
]


class ProxyError(Exception):
    """Base class of every error the proxy raises on purpose."""


class StoreError(ProxyError):
    """The flag store failed to load, change or list flags."""


class StoreUnavailable(StoreError):
    """The flag store cannot be reached; callers keep the last table they had."""


class VersionConflict(StoreError):
    """A compare-and-set lost: the table's version is not the one the caller expected."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"flag table is at version {actual}, not the expected {expected}")
        self.expected = expected
        self.actual = actual


class UnknownRoute(ProxyError):
    """A route key that neither the inventory nor the flag table knows."""

    def __init__(self, route: str) -> None:
        super().__init__(f"unknown route {route!r}")
        self.route = route


class InvalidFlag(ProxyError, ValueError):
    """A flag value (mode, percent, route key) that is not acceptable."""

    def __init__(self, message: str, *, route: str | None = None) -> None:
        super().__init__(f"{route}: {message}" if route else message)
        self.route = route
        self.reason = message


class FlagFileError(InvalidFlag):
    """A flag file that cannot be read or holds an invalid entry."""

    def __init__(self, path: str | Path, message: str, *, route: str | None = None) -> None:
        where = f"{path}: route {route!r}" if route else str(path)
        ProxyError.__init__(self, f"{where}: {message}")
        self.path = Path(path)
        self.route = route
        self.reason = message
