"""The ``capture``, ``replay`` and ``promote`` commands of ``resync-strangler``.

    resync-strangler capture list [--route R] [--limit N] [--json]
    resync-strangler capture show ID
    resync-strangler capture stats
    resync-strangler capture clear --yes
    resync-strangler replay [--route R] [--limit N] [--after ID] [--learn-noise] [--json F]
                            [--promote DIR]
        in-process (default): --tws-url URL [--database sqlite|postgresql --postgres-admin-url U]
                              [--template-url URL] [--user ROLE=NAME]
        live:                 --legacy-url URL --new-url URL [--role-token ROLE=TOKEN]...
                              [--mint-tokens] [--dry-run-key KEY]
    resync-strangler promote capture ID [--dir parity_tests/cases] [--name ID] [--note TEXT]
    resync-strangler promote mismatch ID [...]

Every command reads the capture store of ``STRANGLER_CAPTURE_STORE_URL`` (``--store`` to name
another), the same one the proxy's workers write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from proxy.errors import CommandError
from proxy.traffic.errors import TrafficError

__all__ = ["DEFAULT_CASES_DIR", "add_commands"]

DEFAULT_CASES_DIR = "parity_tests/cases"


def _settings() -> Any:
    from proxy.settings import ProxySettings

    return ProxySettings()


def _store(args: argparse.Namespace) -> Any:
    from proxy.traffic.store import open_capture_store

    settings = _settings()
    try:
        return open_capture_store(
            args.store or settings.capture_store_url,
            max_records=settings.capture_max_records,
            max_age=settings.capture_max_age,
        )
    except TrafficError as exc:
        raise CommandError(str(exc)) from exc


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    found = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise CommandError(f"{what} must be ROLE=VALUE, not {value!r}")
        found[name.strip()] = rest.strip()
    return found


def _capture(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    store = _store(args)
    try:
        if args.action == "list":
            items = store.list(route=args.route, limit=args.limit, newest_first=True)
            if args.json:
                print(json.dumps(items, indent=2, ensure_ascii=False))
                return 0
            table = Table(title=f"Captured requests ({store.count(args.route)} kept)")
            for column in ("id", "at", "route", "request", "auth", "status", "side"):
                table.add_column(column)
            for item in items:
                request, auth = item["request"], item.get("auth") or {}
                target = request["path"] + (f"?{request['query']}" if request.get("query") else "")
                table.add_row(
                    str(item["id"]),
                    Text(item.get("at", "")),
                    Text(item["route"]),
                    Text(f"{request['method']} {target}"),
                    Text(auth.get("role") or auth.get("kind") or ""),
                    str(item["response"]["status"]),
                    Text(item.get("side", "")),
                )
            Console(soft_wrap=True).print(table)
        elif args.action == "show":
            if args.id is None:
                raise CommandError("usage: capture show ID")
            record = store.get(args.id)
            if record is None:
                raise CommandError(f"no capture {args.id} in {store.url}")
            print(json.dumps(record, indent=2, ensure_ascii=False))
        elif args.action == "stats":
            settings = _settings()
            policy = None
            if settings.capture_file is not None:
                from proxy.traffic.policy import load_capture_file

                policy = load_capture_file(settings.capture_file).to_dict()
            print(
                json.dumps(
                    {"store": store.url, "total": store.count(), "routes": store.routes(),
                     "policy_file": str(settings.capture_file) if settings.capture_file else None,
                     "policy": policy},
                    indent=2,
                )
            )  # fmt: skip
        else:
            if not args.yes:
                raise CommandError("capture clear forgets every captured request: add --yes")
            print(f"cleared {store.clear()} captured request(s) from {store.url}")
    except TrafficError as exc:
        raise CommandError(str(exc)) from exc
    finally:
        store.close()
    return 0


def _records(store: Any, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    from proxy.traffic.store import iter_all

    sent = 0
    for record in iter_all(store, route=args.route):
        if record["id"] <= args.after:
            continue
        if args.limit is not None and sent >= args.limit:
            return
        sent += 1
        yield record


async def _open_target(args: argparse.Namespace) -> Any:
    if args.legacy_url or args.new_url:
        if not (args.legacy_url and args.new_url):
            raise CommandError("live replay needs both --legacy-url and --new-url")
        from proxy.traffic.targets import LiveTarget

        tokens = _pairs(args.role_token, "--role-token")
        if args.mint_tokens:
            secret = os.environ.get("RESYNC_SECRET_KEY")
            if not secret:
                raise CommandError("--mint-tokens signs with $RESYNC_SECRET_KEY, which is not set")
            from proxy.traffic.resync_replay import DEFAULT_ROLE_USERS, mint_access_token

            users = {**DEFAULT_ROLE_USERS, **_pairs(args.user, "--user")}
            for role, username in users.items():
                tokens.setdefault(role, mint_access_token(secret, username, role))
        return LiveTarget(
            args.legacy_url, args.new_url, tokens, dry_run_key=args.dry_run_key,
            timeout=args.timeout,
        )  # fmt: skip
    from proxy.traffic.resync_replay import DEFAULT_ROLE_USERS, open_resync_pair

    if args.database == "postgresql" and not args.postgres_admin_url:
        raise CommandError("--database postgresql needs --postgres-admin-url")
    return await open_resync_pair(
        tws_url=args.tws_url,
        backend=args.database,
        postgres_admin_url=args.postgres_admin_url,
        template_url=args.template_url,
        role_users={**DEFAULT_ROLE_USERS, **_pairs(args.user, "--user")},
    )


def _replay(args: argparse.Namespace) -> int:
    from rich.console import Console

    from proxy.errors import RulesError
    from proxy.progress import comparison_progress
    from proxy.shadow.comparator import Comparator
    from proxy.shadow.rules import load_rules
    from proxy.traffic.replay import ReplayResult, print_report, replay

    try:
        comparator = Comparator(load_rules(args.rules))
    except (RulesError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    console = Console(soft_wrap=True)
    store = _store(args)
    try:
        total = store.count(args.route)
        if args.limit is not None:
            total = min(total, args.limit)
        progress = comparison_progress("replay", console)

        async def run() -> Any:
            target = await _open_target(args)
            try:
                with progress:
                    task = progress.add_task("replay", total=total, current="")

                    def advance(result: ReplayResult) -> None:
                        progress.update(task, advance=1, current=result.request.route)

                    return await replay(
                        _records(store, args), target, comparator,
                        learn_noise=args.learn_noise, on_result=advance,
                    )  # fmt: skip
            finally:
                await target.aclose()

        try:
            report = asyncio.run(run())
        except TrafficError as exc:
            raise CommandError(str(exc)) from exc
    finally:
        store.close()
    print_report(report, console)
    if args.json_path:
        from proxy.shadow.redaction import redact_text

        Path(args.json_path).write_text(
            redact_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2, default=str)),
            encoding="utf-8",
        )
    if args.promote:
        _promote_mismatches(report, args.promote, console)
    return int(report.exit_code)


def _promote_mismatches(report: Any, folder: str, console: Any) -> None:
    from proxy.traffic.cases import case_from_capture, write_case
    from proxy.traffic.records import body_view

    store_records = {r.request.capture_id: r for r in report.results if r.status == "mismatch"}
    if not store_records:
        return
    for result in store_records.values():
        request = result.request
        record = {
            "id": request.capture_id,
            "route": request.route,
            "auth": {"kind": request.auth_kind, "role": request.role},
            "request": {
                "method": request.method,
                "path": request.raw_path,
                "query": request.query,
                "headers": [list(h) for h in request.headers],
                "body": body_view(request.body),
            },
        }
        case = case_from_capture(
            record,
            expect=result.legacy.status if result.legacy else None,
            note=f"replay mismatch: {result.diff()[:300]}",
        )
        try:
            path = write_case(case, folder)
        except TrafficError as exc:
            console.print(f"not promoted: {exc}")
            continue
        console.print(f"promoted capture {request.capture_id} to {path}")


def _promote(args: argparse.Namespace) -> int:
    from proxy.traffic.cases import case_from_capture, case_from_mismatch, write_case

    try:
        if args.kind == "capture":
            store = _store(args)
            try:
                record = store.get(args.id)
            finally:
                store.close()
            if record is None:
                raise CommandError(f"no capture {args.id}")
            case = case_from_capture(record, note=args.note or "", case_id=args.name)
        else:
            from proxy.shadow.mismatches import MismatchStore

            settings = _settings()
            if settings.mismatch_db is None:
                raise CommandError("STRANGLER_MISMATCH_DB is empty: mismatches are not kept")
            mismatch = MismatchStore(limit=settings.mismatch_limit, path=settings.mismatch_db).get(
                args.id
            )
            if mismatch is None:
                raise CommandError(f"no mismatch {args.id} in {settings.mismatch_db}")
            case = case_from_mismatch(mismatch, note=args.note or "", case_id=args.name)
        path = write_case(case, args.dir)
    except TrafficError as exc:
        raise CommandError(str(exc)) from exc
    print(f"wrote {path} (route {case['route']}); parity_tests/test_cases.py runs it")
    return 0


def add_commands(command: Callable[..., Any]) -> None:
    """Register the commands through the CLI's ``command(name, handler, help)`` helper."""
    capture = command("capture", _capture, "list, show, count or clear captured requests")
    capture.add_argument("action", choices=("list", "show", "stats", "clear"))
    capture.add_argument("id", nargs="?", type=int, default=None)
    capture.add_argument(
        "--store", default=None, help="capture store URL (sqlite:///… or postgresql://…)"
    )
    capture.add_argument("--route", default=None)
    capture.add_argument("--limit", type=int, default=50)
    capture.add_argument("--json", action="store_true")
    capture.add_argument("--yes", action="store_true", help="confirm clear")

    replay = command("replay", _replay, "replay captured requests against both sides and compare")
    replay.add_argument("--store", default=None, help="capture store URL")
    replay.add_argument("--route", default=None, help="only this route key")
    replay.add_argument("--limit", type=int, default=None, help="at most N requests")
    replay.add_argument("--after", type=int, default=0, help="only captures with a larger id")
    replay.add_argument("--rules", default=None, help="comparison rules file (TOML, version 1)")
    replay.add_argument(
        "--learn-noise", action="store_true", help="ask legacy twice (safe methods)"
    )
    replay.add_argument("--json", dest="json_path", default=None, help="also write a JSON report")
    replay.add_argument(
        "--promote", default=None, metavar="DIR", help="write each mismatch as a parity case"
    )
    replay.add_argument(
        "--tws-url", default=os.environ.get("RESYNC_TWS_URL"), help="TWS for in-process apps"
    )
    replay.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    replay.add_argument(
        "--postgres-admin-url", default=None, help="where PostgreSQL copies are made"
    )
    replay.add_argument(
        "--template-url", default=None, help="copy this database instead of a fresh seed"
    )
    replay.add_argument("--user", action="append", help="ROLE=USERNAME a role's token names")
    replay.add_argument("--legacy-url", default=None, help="live legacy deployment")
    replay.add_argument("--new-url", default=None, help="live new deployment")
    replay.add_argument("--role-token", action="append", help="ROLE=TOKEN for live replay (repeat)")
    replay.add_argument(
        "--mint-tokens", action="store_true", help="sign role tokens with $RESYNC_SECRET_KEY"
    )
    replay.add_argument(
        "--dry-run-key",
        default=os.environ.get("STRANGLER_REPLAY_DRY_RUN_KEY"),
        help="live: send writes with X-Resync-Dry-Run (rolled back); else skipped",
    )
    replay.add_argument("--timeout", type=float, default=10.0, help="live: seconds per request")

    promote = command("promote", _promote, "export a capture or a mismatch as a parity case file")
    promote.add_argument("kind", choices=("capture", "mismatch"))
    promote.add_argument("id", type=int)
    promote.add_argument("--dir", default=DEFAULT_CASES_DIR, help="folder of parity cases")
    promote.add_argument("--name", default=None, help="case id (file name without .json)")
    promote.add_argument("--note", default=None, help="why the case is kept")
    promote.add_argument("--store", default=None, help="capture store URL")
