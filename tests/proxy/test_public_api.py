"""The package's public surface: every name in ``proxy.__all__`` resolves."""

from __future__ import annotations

import pytest

import proxy


@pytest.mark.parametrize("name", proxy.__all__)
def test_public_names_resolve(name: str) -> None:
    assert getattr(proxy, name) is not None


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = proxy.no_such_name  # type: ignore[attr-defined]


def test_create_proxy_is_the_generic_factory() -> None:
    from proxy.app import create_proxy

    assert proxy.create_proxy is create_proxy
