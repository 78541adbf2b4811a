"""Keep the flag table in SQLite (default), Redis or PostgreSQL behind one interface.

``open_store(url)`` picks the store by the URL's scheme; the drivers of the stores not used are
never imported, so a SQLite deployment needs neither Redis nor PostgreSQL client libraries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from proxy.flags.stores.base import FlagStore, VersionCallback, plan_changes

if TYPE_CHECKING:
    from proxy.flags.stores.postgres import PostgresFlagStore
    from proxy.flags.stores.redis import RedisFlagStore
    from proxy.flags.stores.sqlite import SQLiteFlagStore

__all__ = [
    "FlagStore",
    "PostgresFlagStore",
    "RedisFlagStore",
    "SQLiteFlagStore",
    "VersionCallback",
    "open_store",
    "plan_changes",
]

DEFAULT_STORE_URL = "sqlite:///var/strangler-flags.db"

_LAZY = {
    "SQLiteFlagStore": "proxy.flags.stores.sqlite",
    "RedisFlagStore": "proxy.flags.stores.redis",
    "PostgresFlagStore": "proxy.flags.stores.postgres",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def open_store(url: str = DEFAULT_STORE_URL, *, poll_interval: float | None = None) -> FlagStore:
    """Build (not yet open) the store a URL names.

    ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (SQLAlchemy's form),
    ``redis://`` or ``rediss://`` (``?prefix=`` picks the key prefix, default ``strangler``),
    ``postgresql://`` or ``postgres://`` (a ``+driver`` suffix is ignored).
    ``poll_interval`` overrides the store's polling period in seconds.
    """
    scheme, _, rest = url.partition("://")
    scheme = scheme.split("+", 1)[0].lower()
    options: dict[str, Any] = {} if poll_interval is None else {"poll_interval": poll_interval}
    if scheme == "sqlite":
        from proxy.flags.stores.sqlite import SQLiteFlagStore

        path = rest[1:] if rest.startswith("/") else rest
        if not path or path == ":memory:":
            raise ValueError("a SQLite flag store needs a file path: sqlite:///var/flags.db")
        return SQLiteFlagStore(path, **options)
    if scheme in {"redis", "rediss", "unix"}:
        from proxy.flags.stores.redis import RedisFlagStore

        return RedisFlagStore.from_url(url, **options)
    if scheme in {"postgresql", "postgres"}:
        from proxy.flags.stores.postgres import PostgresFlagStore

        return PostgresFlagStore(f"postgresql://{rest}", **options)
    raise ValueError(f"unsupported flag store URL scheme {scheme!r} (sqlite, redis, postgresql)")
