"""``resync-strangler capture``, ``promote`` and live ``replay``, on real stores and servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.bridges.wsgi import LegacyWSGIApp
from proxy.cli.commands import main
from proxy.shadow.capture import CapturedResponse
from proxy.shadow.mismatches import MismatchStore, build_record
from proxy.traffic.cases import read_case
from proxy.traffic.records import Exchange, build_capture
from proxy.traffic.store import SQLiteCaptureStore
from tests.proxy.harness import serve
from tests.proxy.sample_apps import create_legacy_app, create_new_app


def _record(
    method: str, path: str, body: bytes = b"", *, role: str | None = "viewer"
) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")] if body else []
    if role:
        headers.append((b"authorization", b"Bearer token-of-" + role.encode()))
    exchange = Exchange(
        at=1796230866.0,
        route=f"{method} {path}",
        side="legacy",
        method=method,
        raw_path=path.encode(),
        query_string=b"n=1",
        headers=headers,
        body=body,
        response=CapturedResponse(200, [(b"content-type", b"application/json")], b'{"ok":true}'),
        body_limit=65536,
    )
    return build_capture(exchange, lambda token: token.removeprefix("token-of-"))


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    store = SQLiteCaptureStore(tmp_path / "capture.db")
    store.add_many(
        [
            _record("GET", "/echo"),
            _record("POST", "/echo", b'{"password":"pw-9","n":2}', role="operator"),
        ]
    )
    store.close()
    yield f"sqlite:///{tmp_path / 'capture.db'}"


def test_capture_list_show_stats_and_clear(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["capture", "list", "--store", store_url]) == 0
    listing = capsys.readouterr().out
    assert "GET /echo?n=1" in listing and "operator" in listing

    assert main(["capture", "show", "2", "--store", store_url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["request"]["method"] == "POST" and "pw-9" not in json.dumps(shown)

    assert main(["capture", "stats", "--store", store_url]) == 0
    assert json.loads(capsys.readouterr().out)["routes"] == {"GET /echo": 1, "POST /echo": 1}

    assert main(["capture", "clear", "--store", store_url]) == 1  # needs --yes
    assert "--yes" in capsys.readouterr().err
    assert main(["capture", "clear", "--yes", "--store", store_url]) == 0
    assert main(["capture", "show", "1", "--store", store_url]) == 1


def test_promote_a_capture_writes_a_case_file(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = tmp_path / "cases"

    code = main(
        ["promote", "capture", "2", "--store", store_url, "--dir", str(cases), "--note", "why"]
    )

    assert code == 0
    case = read_case(cases / "capture-2-post-echo.json")
    assert case["route"] == "POST /echo" and case["note"] == "why"
    assert case["request"]["auth"] == "operator"
    assert json.loads(case["request"]["body"]["value"]) == {"password": "[REDACTED]", "n": 2}
    assert main(["promote", "capture", "2", "--store", store_url, "--dir", str(cases)]) == 1
    assert "exists already" in capsys.readouterr().err


def test_promote_a_shadow_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "mismatches.db"
    monkeypatch.setenv("STRANGLER_MISMATCH_DB", str(database))
    store = MismatchStore(path=database)
    stored = store.add(
        build_record(
            route="POST /echo",
            primary_side="legacy",
            candidate_side="new",
            scope={
                "method": "POST",
                "path": "/echo",
                "query_string": b"n=3",
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"authorization", b"Bearer x"),
                ],
            },
            request_body=b'{"n":3}',
            primary=CapturedResponse(200, [], b"{}"),
            candidate=CapturedResponse(500, [], b"{}"),
            comparison=None,
            error="boom",
        )
    )

    assert main(["promote", "mismatch", str(stored["id"]), "--dir", str(tmp_path / "cases")]) == 0

    (path,) = (tmp_path / "cases").iterdir()
    case = read_case(path)
    assert case["request"]["body"]["value"] == '{"n":3}'
    assert case["request"]["query"] == "n=3" and case["expect"] == 200
    assert case["request"]["auth"] == "admin"


def test_live_replay_skips_writes_without_a_dry_run_key_and_sends_them_with_one(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    legacy = LegacyWSGIApp(create_legacy_app(), threads=2)
    with serve(legacy) as legacy_url, serve(create_new_app()) as new_url:
        base = ["replay", "--store", store_url, "--legacy-url", legacy_url, "--new-url", new_url]
        report = tmp_path / "report.json"

        main([*base, "--role-token", "viewer=tok", "--json", str(report)])
        first = json.loads(report.read_text())
        main([*base, "--role-token", "viewer=tok", "--role-token", "operator=tok2",
              "--dry-run-key", "k-123", "--json", str(report)])  # fmt: skip
        second = json.loads(report.read_text())
    legacy.close()

    assert first["totals"]["skipped"] == 1
    assert "dry-run-key" in first["results"][1]["reason"]
    assert second["totals"]["skipped"] == 0
    assert second["results"][1]["legacy_status"] == 200
    shown = capsys.readouterr().out
    assert "replay:" in shown and "GET /echo" in shown


def test_replay_refuses_half_a_live_target(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", "--store", store_url, "--legacy-url", "http://127.0.0.1:9"]) == 1
    assert "--new-url" in capsys.readouterr().err


def test_replay_promotes_each_mismatch_to_a_case(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The two sample apps echo the request in different JSON encodings: a real mismatch.
    legacy = LegacyWSGIApp(create_legacy_app(), threads=2)
    cases = tmp_path / "cases"
    with serve(legacy) as legacy_url, serve(create_new_app()) as new_url:
        code = main(
            ["replay", "--store", store_url, "--legacy-url", legacy_url, "--new-url", new_url,
             "--role-token", "viewer=tok", "--promote", str(cases)]
        )  # fmt: skip
    legacy.close()

    assert code == 1
    (path,) = cases.iterdir()
    case = read_case(path)
    assert case["route"] == "GET /echo" and case["expect"] == 200
    assert case["note"].startswith("replay mismatch:")
    assert f"promoted capture 1 to {path}" in capsys.readouterr().out
