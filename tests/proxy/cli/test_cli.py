"""``resync-strangler``: local-store and remote (admin API) commands."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from proxy.cli.commands import main, print_flip_help, tune_server_process
from tests.proxy.harness import make_proxy, make_settings, serve
from tests.services import REPO_ROOT

AGENTS = "GET /api/v1/agents"


@pytest.fixture
def missing_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the CLI at a flag store in ``tmp_path`` that does not exist yet; restore structlog.

    Local commands build the Resync apps (for the route inventory), and each app configures
    structlog for the whole process when it is created.
    """
    for name in ("STRANGLER_URL", "STRANGLER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STRANGLER_FLAG_STORE_URL", f"sqlite:///{tmp_path / 'flags.db'}")
    monkeypatch.setenv("STRANGLER_MISMATCH_DB", str(tmp_path / "mismatches.db"))
    monkeypatch.setenv("RESYNC_DATABASE_URL", f"sqlite:///{tmp_path / 'resync.db'}")
    monkeypatch.setenv("RESYNC_ENV", "test")
    saved = structlog.get_config()
    yield tmp_path
    structlog.configure(**saved)


@pytest.fixture
def local_env(missing_env: Path) -> Path:
    """Point the CLI at an empty flag store in ``tmp_path``, created as an operator does."""
    assert _cli(missing_env, "flags", "init").returncode == 0
    return missing_env


class Result:
    """What one CLI run printed."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.returncode, self.stdout, self.stderr = code, out, err


def _cli(env: Path, *argv: str) -> Result:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Result(code, out.getvalue(), err.getvalue())


def _ok(env: Path, *argv: str) -> str:
    result = _cli(env, *argv)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def _json(env: Path, *argv: str) -> Any:
    result = _cli(env, *argv, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _modes(body: dict[str, Any]) -> dict[str, str]:
    return {route["route"]: route["mode"] for route in body["routes"]}


def test_routes_lists_the_resync_inventory_from_an_empty_store(local_env: Path) -> None:
    body = _json(local_env, "routes")
    modes = _modes(body)
    assert body["version"] == 0
    assert modes[AGENTS] == "legacy"
    assert modes["WS /api/v1/ws/chat/{agent_id}"] == "new"
    table = _cli(local_env, "routes").stdout
    assert AGENTS in table and "legacy+new" in table


def test_set_flips_a_route_and_records_who_did_it(local_env: Path) -> None:
    assert _ok(local_env, "set", AGENTS, "new", "--reason", "verified") == (
        f"version 1: {AGENTS} is new"
    )
    assert _ok(local_env, "set", AGENTS, "canary", "--percent", "10", "--reason", "ten") == (
        f"version 2: {AGENTS} is canary 10%"
    )
    assert _modes(_json(local_env, "routes"))[AGENTS] == "canary"
    events = _json(local_env, "events", "--route", AGENTS)
    assert events["total"] == 2
    newest = events["items"][0]
    assert (newest["from"], newest["to"], newest["percent"]) == ("new", "canary", 10)
    assert newest["actor"].startswith("cli:") and newest["reason"] == "ten"


def test_set_all_and_the_kill_switch(local_env: Path) -> None:
    assert "route(s) set to shadow" in _ok(local_env, "set", "--all", "shadow", "--reason", "x")
    routes = _json(local_env, "routes")["routes"]
    both = {r["mode"] for r in routes if r["sides"] == ["legacy", "new"]}
    assert both == {"shadow"}
    assert "back to legacy" in _ok(local_env, "kill-switch", "--reason", "stop")
    routes = _json(local_env, "routes")["routes"]
    assert {r["mode"] for r in routes if "legacy" in r["sides"]} == {"legacy"}
    assert {r["mode"] for r in routes if r["sides"] == ["new"]} == {"new"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["set", "GET /nope", "new", "--reason", "r"], "Unknown route", id="route"),
        pytest.param(
            ["set", "WS /api/v1/ws/chat/{agent_id}", "legacy", "--reason", "r"],
            "needs the legacy side",
            id="side",
        ),
        pytest.param(["set", AGENTS, "--reason", "r"], "usage", id="no-mode"),
    ],
)
def test_refused_changes_exit_1_with_the_reason(
    local_env: Path, argv: list[str], message: str
) -> None:
    result = _cli(local_env, *argv)
    assert result.returncode == 1
    assert message in result.stderr


def test_a_reason_is_required() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["set", AGENTS, "new"])
    assert exit_.value.code == 2


def test_flags_export_and_import_round_trip(local_env: Path, tmp_path: Path) -> None:
    _ok(local_env, "set", AGENTS, "canary", "--percent", "30", "--reason", "r")
    exported = tmp_path / "exported.toml"
    assert "version 1" in _ok(local_env, "flags", "export", str(exported))
    text = exported.read_text()
    assert '[routes."GET /api/v1/agents"]' in text and "percent = 30" in text
    _ok(local_env, "set", AGENTS, "legacy", "--reason", "back")
    _ok(local_env, "flags", "import", str(exported), "--reason", "restore")
    route = next(r for r in _json(local_env, "routes")["routes"] if r["route"] == AGENTS)
    assert (route["mode"], route["percent"]) == ("canary", 30)
    assert "percent = 30" in _cli(local_env, "flags", "export").stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(
            '[routes."GET /api/v1/agents"]\nmode = "sideways"\n', "sideways", id="bad-mode"
        ),
        pytest.param("[routes\n", "not valid TOML", id="bad-toml"),
        pytest.param(None, "cannot read the file", id="missing"),
    ],
)
def test_flags_import_of_a_bad_file_is_a_clear_error_not_a_traceback(
    local_env: Path, tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "bad.toml"
    if content is not None:
        path.write_text(content)
    result = _cli(local_env, "flags", "import", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"resync-strangler: {path}: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert _json(local_env, "routes")["version"] == 0


def test_flags_import_refuses_routes_set_would_refuse_and_imports_nothing(
    local_env: Path, tmp_path: Path
) -> None:
    path = tmp_path / "refused.toml"
    path.write_text(
        f'[routes."{AGENTS}"]\nmode = "new"\n\n'
        '[routes."GET /nope"]\nmode = "new"\n\n'
        '[routes."WS /api/v1/ws/chat/{agent_id}"]\nmode = "legacy"\n\n'
        '[routes."GET /docs"]\nmode = "shadow"\n'
    )
    result = _cli(local_env, "flags", "import", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"resync-strangler: {path}: 3 route(s) refused")
    assert "GET /nope: Unknown route GET /nope." in result.stderr
    assert "WS /api/v1/ws/chat/{agent_id}: Mode legacy needs the legacy side" in result.stderr
    assert "GET /docs: Mode shadow needs both sides" in result.stderr
    body = _json(local_env, "routes")
    assert body["version"] == 0 and _modes(body)[AGENTS] == "legacy"


def test_flags_import_honours_the_expected_version(local_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "good.toml"
    path.write_text(f'[routes."{AGENTS}"]\nmode = "new"\n')
    result = _cli(local_env, "flags", "import", str(path), "--expected-version", "3")
    assert result.returncode == 1 and "not the expected 3" in result.stderr
    assert "version 1" in _ok(local_env, "flags", "import", str(path), "--expected-version", "0")


def test_mismatches_lists_an_empty_store(local_env: Path) -> None:
    assert _json(local_env, "mismatches") == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_tables_show_server_text_literally_not_as_rich_markup(
    local_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from proxy.shadow.mismatches import MismatchStore

    monkeypatch.setenv("COLUMNS", "400")
    diff = "$.items[0].name: [value] != [missing] [bold]x[/bold]"
    MismatchStore(path=local_env / "mismatches.db").add(
        {"route": AGENTS, "at": "2026-01-01T00:00:00Z", "result": "mismatch", "diff": diff}
    )
    assert diff in _cli(local_env, "mismatches").stdout
    _ok(local_env, "set", AGENTS, "new", "--reason", "see [red]ticket[/red] [42]")
    assert "see [red]ticket[/red] [42]" in _cli(local_env, "events").stdout


def test_db_upgrade_and_seed_prepare_the_database(local_env: Path) -> None:
    assert "database at revision" in _ok(local_env, "db", "upgrade")
    assert "seeded users=" in _ok(local_env, "db", "seed")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    # The in-process server logs to the same stdout; the command's answer is the last line.
    return code, lines[-1] if lines else "", captured.err


def _remote_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out[out.index("{") :])


def test_parity_hands_over_to_the_live_parity_runner(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["parity", "--help"])
    assert exit_.value.code == 0
    assert "--legacy-url" in capsys.readouterr().out


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[str]:
    with serve(make_proxy(make_settings(tmp_path))) as base_url:
        yield base_url


def test_remote_commands_go_through_the_admin_api(
    remote: str, capsys: pytest.CaptureFixture[str]
) -> None:
    auth = ["--url", remote, "--token", "admin-token"]
    assert _modes(_remote_json(capsys, *auth, "routes"))["GET /api/items"] == "legacy"
    code, out, _ = _run(capsys, *auth, "set", "GET /api/items", "new", "--reason", "remote")
    assert (code, out.strip()) == (0, "version 2: GET /api/items is new")
    assert httpx.get(f"{remote}/api/items").headers["x-app"] == "new"
    code, out, _ = _run(capsys, "kill-switch", "--reason", "stop", *auth)  # options after, too
    assert code == 0 and "version 3" in out
    events = _remote_json(capsys, *auth, "events", "--limit", "1")
    assert events["items"][0]["actor"] == "alice"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("viewer-token", "403: This action requires the admin role.", id="viewer"),
        pytest.param("nope", "401: Invalid or expired token.", id="bad"),
    ],
)
def test_remote_refusals_are_reported(
    remote: str, capsys: pytest.CaptureFixture[str], token: str, message: str
) -> None:
    code, _, err = _run(capsys, "--url", remote, "--token", token, "routes")
    assert code == 1 and message in err


def test_remote_validation_errors_name_the_field(
    remote: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys, "--url", remote, "--token", "admin-token", "set", "GET /x", "new", "--reason", "r"
    )
    assert code == 1 and "route: Unknown route GET /x." in err


def test_remote_flags_import_is_checked_by_the_admin_api_all_or_nothing(
    remote: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    auth = ["--url", remote, "--token", "admin-token"]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[routes."GET /api/items"]\nmode = "new"\n\n'
        '[routes."GET /nope"]\nmode = "new"\n\n'
        '[routes."WS /ws/echo"]\nmode = "legacy"\n\n'
        '[routes."GET /legacy-only"]\nmode = "new"\n'
    )
    code, _, err = _run(capsys, *auth, "flags", "import", str(bad))
    assert code == 1
    assert "400: 3 route(s) refused, nothing imported." in err
    assert "routes.1.route: GET /nope: Unknown route GET /nope." in err
    assert "routes.2.mode: WS /ws/echo: Mode legacy needs the legacy side" in err
    assert "routes.3.mode: GET /legacy-only: Mode new needs the new side" in err
    before = _remote_json(capsys, *auth, "routes")
    assert _modes(before)["GET /api/items"] == "legacy"

    good = tmp_path / "good.toml"
    good.write_text('[routes."GET /api/items"]\nmode = "canary"\npercent = 40\n')
    stale = ["--expected-version", str(before["version"] + 5)]
    code, _, err = _run(capsys, *auth, "flags", "import", str(good), *stale)
    assert code == 1 and "409:" in err
    code, out, _ = _run(capsys, *auth, "flags", "import", str(good), "--reason", "restore")
    assert code == 0 and f"version {before['version'] + 1}" in out
    after = _remote_json(capsys, *auth, "routes")
    item = next(r for r in after["routes"] if r["route"] == "GET /api/items")
    assert (item["mode"], item["percent"]) == ("canary", 40)
    events = _remote_json(capsys, *auth, "events", "--limit", "1")
    assert (events["items"][0]["actor"], events["items"][0]["reason"]) == ("alice", "restore")


def test_flip_help_shows_the_cli_and_curl_commands() -> None:
    import io

    out = io.StringIO()
    print_flip_help("http://127.0.0.1:8000", out)
    text = out.getvalue()
    assert 'resync-strangler set "GET /api/v1/agents" new --reason' in text
    assert "curl -X POST http://127.0.0.1:8000/_strangler/routes" in text
    assert "http://127.0.0.1:8000/api/v1/auth/login" in text


def test_python_dash_m_proxy_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    for command in ("serve", "routes", "set", "kill-switch", "events", "mismatches", "parity"):
        assert command in result.stdout


def test_serve_tunes_its_workers_unless_told_otherwise() -> None:
    environ: dict[str, str] = {}
    tune_server_process(environ)
    assert environ == {
        "STRANGLER_GC_FREEZE": "true",
        "STRANGLER_BUFFER_STDOUT": "true",
        "MALLOC_ARENA_MAX": "2",
    }

    chosen = {
        "STRANGLER_GC_FREEZE": "false",
        "STRANGLER_BUFFER_STDOUT": "false",
        "MALLOC_ARENA_MAX": "8",
    }
    tune_server_process(chosen)
    assert chosen == {
        "STRANGLER_GC_FREEZE": "false",
        "STRANGLER_BUFFER_STDOUT": "false",
        "MALLOC_ARENA_MAX": "8",
    }


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["set", AGENTS, "new", "--reason", "r"], id="set"),
        pytest.param(["set", "--all", "shadow", "--reason", "r"], id="set-all"),
        pytest.param(["flags", "import", str(REPO_ROOT / "proxy" / "flags.toml")], id="import"),
        pytest.param(["flags", "identity"], id="identity"),
    ],
)
def test_a_command_on_a_missing_store_fails_clearly_and_creates_nothing(
    missing_env: Path, argv: list[str]
) -> None:
    """Issue 13: ``set`` on a vanished SQLite store made a fresh one (version 1, history lost)."""
    result = _cli(missing_env, *argv)

    assert result.returncode != 0
    assert "does not exist" in result.stderr
    assert "resync-strangler flags init" in result.stderr
    assert "nothing changed" in result.stderr
    assert not (missing_env / "flags.db").exists()


def _identity(env: Path) -> Any:
    result = _cli(env, "flags", "identity")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_flags_init_creates_the_store_once_and_identity_names_it(missing_env: Path) -> None:
    first = _ok(missing_env, "flags", "init")
    assert " created store id " in first and first.endswith("version 0")
    identity = _identity(missing_env)
    assert identity["version"] == 0 and identity["replaces"] is None
    assert identity["store_id"] in first

    _ok(missing_env, "set", AGENTS, "new", "--reason", "r")
    again = _ok(missing_env, "flags", "init")

    assert "already exists" in again and identity["store_id"] in again
    assert _identity(missing_env) == {**identity, "version": 1}


def test_flags_adopt_gives_the_store_a_new_id_declaring_the_one_it_replaces(
    local_env: Path,
) -> None:
    before = _identity(local_env)

    refused = _cli(local_env, "flags", "adopt")
    assert refused.returncode != 0 and "--replaces STORE_ID" in refused.stderr
    assert _identity(local_env) == before

    said = _ok(local_env, "flags", "adopt", "--replaces", "the-old-store-id")
    after = _identity(local_env)

    assert after["replaces"] == "the-old-store-id"
    assert after["store_id"] not in (None, before["store_id"])
    assert after["version"] == before["version"]
    assert after["store_id"] in said and "the-old-store-id" in said
