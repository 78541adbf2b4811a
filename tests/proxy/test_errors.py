"""One exception hierarchy for the package, drawn in ``proxy.errors``' docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import proxy
from proxy import errors


def _proxy_modules() -> list[ModuleType]:
    # The core package and its concept sub-packages; the traffic and rollout add-ons keep their
    # own trees (as before the move into sub-packages).
    names = [
        info.name
        for info in pkgutil.walk_packages(proxy.__path__, "proxy.")
        if not info.name.startswith(("proxy.traffic", "proxy.rollout"))
    ]
    return [importlib.import_module(name) for name in names if name != "proxy.__main__"]


def _exceptions_defined_in(module: ModuleType) -> list[type[BaseException]]:
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__.startswith("proxy")
    ]


EXCEPTIONS = sorted(
    {exc for module in _proxy_modules() for exc in _exceptions_defined_in(module)},
    key=lambda exc: exc.__name__,
)


def test_the_package_defines_the_known_exceptions() -> None:
    assert {exc.__name__ for exc in EXCEPTIONS} >= {
        "AdminProblem",
        "ClientDisconnected",
        "CommandError",
        "InvalidToken",
        "LifespanFailed",
        "MismatchStoreError",
        "RejectedChange",
        "RulesError",
    }


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda exc: exc.__name__)
def test_every_proxy_exception_lives_in_the_one_tree(exc: type[BaseException]) -> None:
    assert issubclass(exc, errors.ProxyError)
    assert exc.__module__ == "proxy.errors"
    assert exc.__name__ in errors.__all__
    assert f" {exc.__name__} " in (errors.__doc__ or "") or exc is errors.ProxyError


@pytest.mark.parametrize(
    ("module", "name"),
    [
        pytest.param("proxy.auth", "InvalidToken", id="auth"),
        pytest.param("proxy.flags.changes", "RejectedChange", id="changes"),
        pytest.param("proxy.cli.commands", "CommandError", id="cli"),
        pytest.param("proxy.bridges.wsgi", "ClientDisconnected", id="legacy"),
        pytest.param("proxy.bridges.lifespan", "LifespanFailed", id="lifespan"),
        pytest.param("proxy.shadow.mismatches", "MismatchStoreError", id="mismatches"),
        pytest.param("proxy.problems", "AdminProblem", id="problems"),
        pytest.param("proxy.shadow.rules", "RulesError", id="rules"),
    ],
)
def test_exceptions_stay_importable_where_they_are_raised(module: str, name: str) -> None:
    home = importlib.import_module(module)
    assert getattr(home, name) is getattr(errors, name)
    assert name in home.__all__
