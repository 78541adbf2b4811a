"""Which packages may import which, read from the source (every import, lazy ones included).

The product (``proxy``) does not depend on its test suite; the scenarios it shares with the
suite (``resync_scenarios``) depend on neither the apps' internals nor the suite.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Return every module ``path`` imports, at any depth (absolute names)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Return the files of ``package`` importing any of ``forbidden`` (or below), and what."""
    bad: dict[str, list[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        hits = sorted(
            name
            for name in imported_modules(path)
            if any(name == f or name.startswith(f + ".") for f in forbidden)
        )
        if hits:
            bad[str(path.relative_to(ROOT))] = hits
    return bad


def test_the_proxy_does_not_import_its_test_suite() -> None:
    assert offenders("proxy", ("parity_tests", "tests")) == {}


@pytest.mark.parametrize("forbidden", ["parity_tests", "tests", "legacy_flask", "resync_fastapi"])
def test_the_scenarios_import_neither_the_suite_nor_the_apps(forbidden: str) -> None:
    assert offenders("resync_scenarios", (forbidden,)) == {}


def test_the_parity_suite_and_the_live_command_share_one_scenario_list() -> None:
    import parity_tests.test_parity as suite
    import proxy.parity_live
    import resync_scenarios

    assert suite.SCENARIOS is resync_scenarios.SCENARIOS
    live = proxy.parity_live.live_scenarios("token")
    assert live and {s.id for s in live} <= {s.id for s in resync_scenarios.SCENARIOS}
