"""The strangler proxy: route each request of one URL space to a legacy or a new app.

Generic over any WSGI legacy app and any ASGI new app (see :func:`create_proxy`); only
:mod:`proxy.resync` knows the Resync apps. Public names are imported lazily so that importing a
leaf module (``proxy.modes``, ``proxy.flags.stores``) does not pull in the web stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proxy.app import StranglerProxy, create_proxy
    from proxy.auth import InvalidToken, Principal, TokenVerifier
    from proxy.inventory import Inventory, Route, inventory_from_fastapi, inventory_from_flask
    from proxy.routing.decide import Decision, decide
    from proxy.routing.table import RouteTable
    from proxy.settings import ProxySettings

__all__ = [
    "Decision",
    "InvalidToken",
    "Inventory",
    "Principal",
    "ProxySettings",
    "Route",
    "RouteTable",
    "StranglerProxy",
    "TokenVerifier",
    "create_proxy",
    "decide",
    "inventory_from_fastapi",
    "inventory_from_flask",
]

_HOMES = {
    "StranglerProxy": "proxy.app",
    "create_proxy": "proxy.app",
    "InvalidToken": "proxy.auth",
    "Principal": "proxy.auth",
    "TokenVerifier": "proxy.auth",
    "Decision": "proxy.routing.decide",
    "decide": "proxy.routing.decide",
    "Inventory": "proxy.inventory",
    "Route": "proxy.inventory",
    "inventory_from_fastapi": "proxy.inventory",
    "inventory_from_flask": "proxy.inventory",
    "ProxySettings": "proxy.settings",
    "RouteTable": "proxy.routing.table",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'proxy' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
