"""Define the proxy's exceptions, one tree for the whole package.

```
ProxyError                          anything the proxy raises on purpose
 ├── StoreError                     the flag store failed to do what was asked
 │    ├── StoreUnavailable          the store cannot be reached (refused, dropped, timed out)
 │    │    └── StoreMissing         reached, but the store is not there (no file, tables, keys)
 │    └── VersionConflict           a compare-and-set lost: the table moved since it was read
 ├── InvalidFlag (ValueError)       a mode, percent or route key that is not acceptable
 │    ├── FlagFileError             the same, found in a flag file (names the file and the route)
 │    ├── RejectedChange            a change the route inventory does not allow (field, code)
 │    └── RejectedImport            changes (a flag file) some of which the inventory refuses
 ├── InvalidToken                   a bearer token the admin API's verifier refuses
 ├── AdminProblem                   an admin API request answered with a problem document
 ├── LifespanFailed                 an inner app failed its lifespan startup or shutdown
 ├── ClientDisconnected             the client left before the legacy response was complete
 ├── HeadTooLarge                   a request head past the parser's cap (proxy.cli.serve)
 ├── MismatchStoreError (RuntimeError)  the mismatch database cannot be opened or written
 ├── BulkheadConfigError (ValueError)  a per-route bulkhead limit on a route no app serves
 ├── RulesError (ValueError)        a comparison rules file that is unreadable or malformed
 └── CommandError                   a CLI command that cannot be carried out (exit code 1)
```

Each is also importable from the module that raises it (``proxy.auth.InvalidToken``,
``proxy.problems.AdminProblem``...). Low-level driver errors (``sqlite3``, ``redis``,
``asyncpg``) are translated into these at the store boundary with ``raise ... from exc`` so
callers never import a driver to catch a failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "AdminProblem",
    "BulkheadConfigError",
    "ClientDisconnected",
    "CommandError",
    "FlagFileError",
    "HeadTooLarge",
    "InvalidFlag",
    "InvalidToken",
    "LifespanFailed",
    "MismatchStoreError",
    "ProxyError",
    "RejectedChange",
    "RejectedImport",
    "RulesError",
    "StoreError",
    "StoreMissing",
    "StoreUnavailable",
    "VersionConflict",
]


class ProxyError(Exception):
    """Base class of every error the proxy raises on purpose."""


class StoreError(ProxyError):
    """The flag store failed to load, change or list flags."""


class StoreUnavailable(StoreError):
    """The flag store cannot be reached; callers keep the last table they had."""


class StoreMissing(StoreUnavailable):
    """The flag store does not exist (no SQLite file, no tables, no keys).

    Only ``resync-strangler flags init`` (or a proxy's first start with its flag file) creates a
    store; every other writer refuses, so a vanished store is never silently replaced by an
    empty one. Callers that keep a last table keep it, as for any outage.
    """

    def __init__(self, store: object, detail: str = "does not exist") -> None:
        super().__init__(
            f"flag store {store} {detail}; create it with `resync-strangler flags init`"
            " (or restore the store that was there)"
        )
        self.store = str(store)


class VersionConflict(StoreError):
    """A compare-and-set lost: the table's version is not the one the caller expected."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"flag table is at version {actual}, not the expected {expected}")
        self.expected = expected
        self.actual = actual


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


class RejectedChange(InvalidFlag):
    """A change the inventory does not allow; ``field`` and ``code`` say which input is wrong."""

    def __init__(self, message: str, *, field: str, code: str, route: str | None = None) -> None:
        super().__init__(message, route=route)
        self.field = field
        self.code = code


class RejectedImport(InvalidFlag):
    """A set of changes refused as a whole because some routes cannot take them.

    ``rejections`` pairs each refused change's position with its :class:`RejectedChange`; the
    message names every refused route, one per line.
    """

    def __init__(self, rejections: Sequence[tuple[int, RejectedChange]]) -> None:
        self.rejections = list(rejections)
        lines = "".join(f"\n  {exc.route}: {exc.reason}" for _, exc in self.rejections)
        count = len(self.rejections)
        message = f"{count} route(s) refused, nothing imported:{lines}"
        super().__init__(message)


class InvalidToken(ProxyError):
    """A bearer token the verifier refuses (bad signature, expired, wrong audience...)."""


class AdminProblem(ProxyError):
    """An admin API request that is answered with a problem document.

    ``errors`` holds the validation errors (each a mapping such as ``{"field", "code",
    "message"}``), ``headers`` extra response headers, ``extra`` extra problem members.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class LifespanFailed(ProxyError):
    """An inner app reported (or raised) a failure during lifespan startup or shutdown."""


class ClientDisconnected(ProxyError):
    """The client closed the connection before the legacy response was complete."""


class MismatchStoreError(ProxyError, RuntimeError):
    """The mismatch database cannot be opened or written."""


class BulkheadConfigError(ProxyError, ValueError):
    """A per-route bulkhead limit names a route that neither app serves."""


class RulesError(ProxyError, ValueError):
    """The rules file is unreadable, of an unsupported version, or holds a malformed rule."""


class CommandError(ProxyError):
    """A command that cannot be carried out; the message is printed and the exit code is 1."""


class HeadTooLarge(ProxyError):
    """A request head grew past the parser's cap; raised inside the parser's callback."""
