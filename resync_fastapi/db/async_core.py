"""SQLAlchemy's asyncio engine and connection, without the ORM this app never uses.

``import sqlalchemy.ext.asyncio`` runs the package's ``__init__``, which also imports its
``AsyncSession`` and, through it, the whole ORM (``sqlalchemy.orm``): about 6 MiB resident in
every FastAPI server process, for an app that only speaks SQLAlchemy Core. The engine lives in
the package's own ``engine`` module, which needs none of that. This module loads that module on
its own: while it imports, the package is registered as an empty shell (its ``__path__`` only),
and the shell is removed again at once, so a later ``import sqlalchemy.ext.asyncio`` (a test, a
tool, the proxy) runs the real ``__init__`` and gets the very same classes (its ``from .engine
import ...`` finds the module already loaded). Then it does what that ``__init__`` does last:
initialise SQLAlchemy's greenlet shim, so a missing greenlet fails here, at import.

When the package is already imported, its classes are used as they are.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["AsyncConnection", "AsyncEngine", "create_async_engine"]

_PACKAGE = "sqlalchemy.ext.asyncio"
_ENGINE = f"{_PACKAGE}.engine"


def _load_engine_module() -> ModuleType:
    if _PACKAGE in sys.modules or _ENGINE in sys.modules:
        return importlib.import_module(_ENGINE)
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.submodule_search_locations is None:  # pragma: no cover - broken install
        raise ImportError(f"{_PACKAGE} is not installed")
    shell = importlib.util.module_from_spec(spec)  # the package, its __init__ not run
    sys.modules[_PACKAGE] = shell
    try:
        engine = importlib.import_module(_ENGINE)
    finally:
        if sys.modules.get(_PACKAGE) is shell:
            del sys.modules[_PACKAGE]
    from sqlalchemy.util import concurrency

    concurrency._concurrency_shim._initialize()  # as sqlalchemy.ext.asyncio's __init__ does
    return engine


if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
else:
    _engine = _load_engine_module()
    AsyncConnection = _engine.AsyncConnection
    AsyncEngine = _engine.AsyncEngine
    create_async_engine = _engine.create_async_engine
