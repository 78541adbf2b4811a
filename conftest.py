"""Root conftest: the shared service fixtures live in tests/services.py."""

pytest_plugins = ["tests.services"]
