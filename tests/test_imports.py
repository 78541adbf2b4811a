"""Which packages may import which, read from the source (every import, lazy ones included).

The product (``proxy``) does not depend on its test suite; the scenarios it shares with the
suite (``resync_scenarios``) depend on neither the apps' internals nor the suite; no two modules
of ``loadtest`` (or of ``resync_scenarios``) import each other, directly or round a longer circle;
the FastAPI app's exception classes import no request handling (their handlers do); the chunking
of documents into ``rag_chunks`` rows is defined once, by the schema (``migrations``).
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


def module_name(path: Path) -> str:
    """Return the dotted module name of a source file under the repository."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str) -> dict[str, set[str]]:
    """Return, for each module of ``package``, the modules of ``package`` it imports."""
    modules = {module_name(path): path for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_modules(path):
            parts = imported.split(".")
            # ``from a.b import c``: the module a.b.c if there is one, else a.b
            hit = next(
                (".".join(parts[:n]) for n in range(len(parts), 0, -1)
                 if ".".join(parts[:n]) in modules),
                None,
            )  # fmt: skip
            if hit is not None and hit != package:
                targets.add(hit)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (or a module importing
    itself): each is an import circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
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
    import proxy.cli.parity
    import resync_scenarios

    assert suite.SCENARIOS is resync_scenarios.SCENARIOS
    live = proxy.cli.parity.live_scenarios("token")
    assert live and {s.id for s in live} <= {s.id for s in resync_scenarios.SCENARIOS}


@pytest.mark.parametrize("package", ["loadtest", "resync_scenarios"])
def test_no_modules_import_each_other_in_a_circle(package: str) -> None:
    graph = import_graph(package)
    assert graph, f"no modules found in {package}"
    assert circles(graph) == []


def test_the_circle_check_sees_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"a"}}) == [["a"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_fastapi_exceptions_module_holds_only_classes() -> None:
    """``core/exceptions.py`` imports no request handling; ``core/handlers.py`` renders them."""
    core = ROOT / "resync_fastapi" / "core"
    imported = {name.split(".")[0] for name in imported_modules(core / "exceptions.py")}
    assert imported.isdisjoint({"fastapi", "starlette", "resync_fastapi"}), imported
    main = imported_modules(ROOT / "resync_fastapi" / "main.py")
    assert "resync_fastapi.core.handlers.install_exception_handlers" in main


def test_the_schema_owns_the_chunking() -> None:
    """One ``chunk_text`` (``migrations.chunking``): the seed and both apps' uploads use it."""
    defined = [
        str(path.relative_to(ROOT))
        for package in ("legacy_flask", "resync_fastapi", "migrations")
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name == "chunk_text"
    ]
    assert defined == ["migrations/chunking.py"]
    for user in ("migrations/seed.py", "legacy_flask/routes/rag.py",
                 "resync_fastapi/services/documents.py"):  # fmt: skip
        assert "migrations.chunking.chunk_text" in imported_modules(ROOT / user), user
