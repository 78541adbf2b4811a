"""``resync-strangler``: serve the proxy and operate its flag table from a terminal.

Commands act on the local flag store (``STRANGLER_FLAG_STORE_URL``, the same one the workers
share) unless ``--url`` (and ``--token``, an admin access token) name a running proxy, in which
case they go through its admin API and so get exactly the API's checks and answers.

    resync-strangler serve --host 127.0.0.1 --port 8000 --workers 2
    resync-strangler routes
    resync-strangler set "GET /api/v1/agents" new --reason "verified in shadow"
    resync-strangler set "GET /api/v1/agents" canary --percent 10 --reason "10 % canary"
    resync-strangler set --all shadow --reason "compare everything"
    resync-strangler kill-switch --reason "errors on new"
    resync-strangler events --limit 20
    resync-strangler mismatches --route "GET /api/v1/agents"
    resync-strangler parity --legacy-url http://127.0.0.1:8001 --new-url http://127.0.0.1:8002
    resync-strangler db upgrade && resync-strangler db seed
    resync-strangler flags init        # create the flag store (nothing else ever creates one)
    resync-strangler flags identity    # its store id and version
    resync-strangler flags adopt --replaces STORE_ID   # serve a replaced store (see runbook)
    resync-strangler flags export proxy/flags.toml && resync-strangler flags import flags.toml
    resync-strangler capture list && resync-strangler replay --tws-url http://127.0.0.1:8100/twsd
    resync-strangler promote capture 42
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from proxy.errors import CommandError

__all__ = ["CommandError", "build_parser", "main", "print_flip_help"]

MODES = ("legacy", "new", "canary", "shadow", "shadow-new")
_READ_TOKEN = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"  # noqa: S105 - a shell snippet, not a secret


# Output ---------------------------------------------------------------------------------------


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _plain(value: object) -> Any:
    """Return ``value`` as rich text taken literally: server text is never console markup.

    A diff such as ``body.items[0]: [value] != [missing]`` (or a reason an operator typed with
    brackets) would otherwise be read as markup tags and silently disappear from the table.
    """
    from rich.text import Text

    return Text("" if value is None else str(value))


def _routes_table(body: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"Flag table, version {body['version']}")
    for column in ("route", "sides", "mode", "percent", "dry run", "updated"):
        table.add_column(column)
    for route in body["routes"]:
        updated = route["updated_at"] or ""
        if route.get("updated_by"):
            updated = f"{updated} by {route['updated_by']}"
        table.add_row(
            _plain(route["route"]),
            _plain("+".join(route["sides"])),
            _plain(route["mode"]),
            str(route["percent"]) if route["mode"] == "canary" else "",
            "yes" if route["dry_run"] else "",
            _plain(updated),
        )
    return table


def _events_table(body: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"Flag events ({body['total']} in all)")
    for column in ("id", "version", "at", "route", "from", "to", "actor", "reason"):
        table.add_column(column)
    for item in body["items"]:
        to = item["to"] + (f" {item['percent']}%" if item["to"] == "canary" else "")
        table.add_row(
            _plain(item["id"]),
            _plain(item["version"]),
            _plain(item["at"]),
            _plain(item["route"]),
            _plain(item["from"]),
            _plain(to),
            _plain(item["actor"]),
            _plain(item["reason"]),
        )
    return table


def _mismatches_table(body: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"Mismatches ({body['total']} kept)")
    for column in ("id", "at", "route", "primary", "result", "diff"):
        table.add_column(column)
    for item in body["items"]:
        diff = str(item.get("diff") or item.get("error") or "")
        table.add_row(
            _plain(item.get("id", "")),
            _plain(item.get("at", "")),
            _plain(item.get("route", "")),
            _plain(item.get("primary_side", "")),
            _plain(item.get("result", "")),
            _plain(diff if len(diff) < 400 else diff[:400] + "…"),
        )
    return table


# Backends: the local store, or a running proxy's admin API ---------------------------------


class AdminClient:
    """Run commands through a running proxy's admin API."""

    def __init__(self, url: str, token: str | None, timeout: float = 10.0) -> None:
        if not token:
            raise CommandError("--token (or STRANGLER_TOKEN) is required with --url")
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        import httpx

        try:
            with httpx.Client(
                base_url=self._url, headers=self._headers, timeout=self._timeout
            ) as http:
                response = http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CommandError(f"cannot reach the proxy: {exc}") from exc
        if response.status_code >= 400:
            try:
                problem = response.json()
                detail = problem.get("detail") or response.text
                errors = problem.get("errors") or []
            except ValueError:
                detail, errors = response.text, []
            extra = "".join(f"\n  {e.get('field')}: {e.get('message')}" for e in errors)
            raise CommandError(f"{response.status_code}: {detail}{extra}")
        return dict(response.json())

    def routes(self) -> dict[str, Any]:
        return self._call("GET", "/_strangler/routes")

    def set_route(self, **body: Any) -> dict[str, Any]:
        return self._call("POST", "/_strangler/routes", json=_without_none(body))

    def set_all(self, **body: Any) -> dict[str, Any]:
        return self._call("POST", "/_strangler/routes/bulk", json=_without_none(body))

    def kill_switch(self, reason: str) -> dict[str, Any]:
        return self._call("POST", "/_strangler/kill-switch", json={"reason": reason})

    def events(self, **params: Any) -> dict[str, Any]:
        return self._call("GET", "/_strangler/events", params=_without_none(params))

    def mismatches(self, **params: Any) -> dict[str, Any]:
        return self._call("GET", "/_strangler/mismatches", params=_without_none(params))

    def export(self) -> Any:
        raise CommandError("flags export works on the local store only (drop --url)")

    def init(self) -> dict[str, Any]:
        raise CommandError("flags init works on the local store only (drop --url)")

    def identity(self) -> dict[str, Any]:
        raise CommandError("flags identity works on the local store only (drop --url)")

    def adopt(self, replaces: str) -> dict[str, Any]:
        raise CommandError("flags adopt works on the local store only (drop --url)")

    def import_file(
        self, path: Path, reason: str | None, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Send a flag file's routes to the admin API, which checks them all and applies them
        as one compare-and-set (or refuses the whole file)."""
        from proxy.errors import InvalidFlag
        from proxy.flags.flagfile import load_flag_file

        try:
            changes = load_flag_file(path)
        except InvalidFlag as exc:
            raise CommandError(str(exc)) from exc
        routes = [
            _without_none(
                {
                    "route": change.route,
                    "mode": change.mode.value,
                    "percent": change.percent,
                    "dry_run": change.dry_run,
                }
            )
            for change in changes
        ]
        body = self._call(
            "POST",
            "/_strangler/routes/import",
            json=_without_none(
                {
                    "routes": routes,
                    "reason": reason or f"import {path.name}",
                    "expected_version": expected_version,
                }
            ),
        )
        return {"version": body["version"], "routes": body["routes"]}


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


class LocalStore:
    """Run commands directly against the flag store the workers share."""

    def __init__(self) -> None:
        from proxy.settings import ProxySettings

        self.settings = ProxySettings()
        self.actor = f"cli:{_user()}"

    def _run(self, work: Callable[[Any], Awaitable[Any]], *, create: bool = False) -> Any:
        from proxy.errors import StoreError, StoreMissing
        from proxy.flags.stores import open_store

        async def run() -> Any:
            store = open_store(self.settings.flag_store_url)
            try:
                if not create:  # never create a store as a side effect: flags init does
                    await store.open()
                return await work(store)
            finally:
                await store.close()

        try:
            return asyncio.run(run())
        except StoreMissing as exc:
            raise CommandError(f"{exc}; nothing changed") from exc
        except StoreError as exc:
            raise CommandError(f"flag store {self.settings.flag_store_url}: {exc}") from exc

    def _inventory(self) -> Any:
        from proxy.resync import resync_inventory

        return resync_inventory()

    def routes(self) -> dict[str, Any]:
        from proxy.flags.changes import route_states

        inventory = self._inventory()

        async def work(store: Any) -> dict[str, Any]:
            table = await store.load()
            states = route_states(inventory, table)
            return {"version": table.version, "routes": [s.as_json() for s in states]}

        return dict(self._run(work))

    def _apply(
        self, plan: Callable[[Any, Any], list[Any]], reason: str, expected: int | None
    ) -> Any:
        from proxy.flags.changes import RejectedChange

        inventory = self._inventory()

        async def work(store: Any) -> tuple[Any, int]:
            table = await store.load()
            try:
                changes = plan(inventory, table)
            except RejectedChange as exc:
                raise CommandError(f"{exc.field}: {exc.reason}") from exc
            if not changes:
                return table, 0
            new = await store.set_flags(
                changes, actor=self.actor, reason=reason, expected_version=expected
            )
            return new, len(changes)

        from proxy.errors import VersionConflict

        try:
            return self._run(work), inventory
        except VersionConflict as exc:
            raise CommandError(str(exc)) from exc

    def set_route(self, **body: Any) -> dict[str, Any]:
        from proxy.flags.changes import plan_route, route_states

        (table, _), inventory = self._apply(
            lambda inventory, table: [
                plan_route(
                    inventory,
                    table,
                    body["route"],
                    body["mode"],
                    percent=body.get("percent"),
                    dry_run=body.get("dry_run"),
                )
            ],
            body["reason"],
            body.get("expected_version"),
        )
        state = next(s for s in route_states(inventory, table) if s.route.key == body["route"])
        return {**state.as_json(), "version": table.version}

    def set_all(self, **body: Any) -> dict[str, Any]:
        from proxy.flags.changes import plan_bulk

        (table, changed), _ = self._apply(
            lambda inventory, table: plan_bulk(
                inventory, table, body["mode"], percent=body.get("percent")
            ),
            body["reason"],
            body.get("expected_version"),
        )
        return {"version": table.version, "changed": changed}

    def kill_switch(self, reason: str) -> dict[str, Any]:
        from proxy.flags.changes import plan_kill_switch

        (table, changed), _ = self._apply(plan_kill_switch, reason, None)
        return {"version": table.version, "changed": changed}

    def events(self, *, limit: int, offset: int, route: str | None) -> dict[str, Any]:
        from proxy.flags.service import event_json as _event

        async def work(store: Any) -> dict[str, Any]:
            items = await store.events(limit=limit, offset=offset, route=route)
            total = await store.count_events(route=route)
            return {
                "items": [_event(e) for e in items],
                "total": total,
                "limit": limit,
                "offset": offset,
            }

        return dict(self._run(work))

    def mismatches(self, *, limit: int, offset: int, route: str | None) -> dict[str, Any]:
        path = self.settings.mismatch_db
        if path is None or not Path(path).exists():
            return {"items": [], "total": 0, "limit": limit, "offset": offset}
        from proxy.shadow.mismatches import MismatchStore

        store = MismatchStore(limit=self.settings.mismatch_limit, path=path)
        return {
            "items": store.list(route, limit, offset),
            "total": store.count(route),
            "limit": limit,
            "offset": offset,
        }

    def export(self) -> Any:
        async def work(store: Any) -> Any:
            return await store.load()

        return self._run(work)

    def init(self) -> dict[str, Any]:
        """Create the flag store if it does not exist; say which store it is either way."""

        async def work(store: Any) -> dict[str, Any]:
            created = await store.create()
            return {"created": created, **(await store.identity()).as_json()}

        return {"store": self.settings.flag_store_url, **self._run(work, create=True)}

    def identity(self) -> dict[str, Any]:
        async def work(store: Any) -> dict[str, Any]:
            return dict((await store.identity()).as_json())

        return {"store": self.settings.flag_store_url, **self._run(work)}

    def adopt(self, replaces: str) -> dict[str, Any]:
        async def work(store: Any) -> dict[str, Any]:
            return dict((await store.adopt(replaces)).as_json())

        return {"store": self.settings.flag_store_url, **self._run(work)}

    def import_file(
        self, path: Path, reason: str | None, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Import a flag file checked against the Resync apps' routes, all or nothing."""
        from proxy.errors import InvalidFlag
        from proxy.flags.flagfile import import_flag_file

        inventory = self._inventory()

        async def work(store: Any) -> Any:
            return await import_flag_file(
                store,
                path,
                actor=self.actor,
                reason=reason,
                expected_version=expected_version,
                inventory=inventory,
            )

        try:
            table = self._run(work)
        except InvalidFlag as exc:  # unreadable, a bad entry, or a route the apps refuse
            raise CommandError(str(exc)) from exc
        return {"version": table.version, "routes": len(table)}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _backend(args: argparse.Namespace) -> AdminClient | LocalStore:
    if args.url:
        return AdminClient(args.url, args.token)
    return LocalStore()


# Commands ----------------------------------------------------------------------------------------


def print_flip_help(base_url: str, out: Any = None) -> None:
    """Print how to flip a route, with the CLI and with curl against ``base_url``."""
    out = out or sys.stdout
    route = "GET /api/v1/agents"
    development = os.environ.get("RESYNC_ENV", "development") != "production"
    password = "resync-admin-dev" if development else "<admin password>"
    login = (
        f"curl -s -X POST {base_url}/api/v1/auth/login -H 'Content-Type: application/json' "
        f'-d \'{{"username": "admin", "password": "{password}"}}\''
    )
    lines = [
        f"Resync strangler proxy on {base_url} (dashboard: {base_url}/_strangler/)",
        "Every route starts on the legacy app. To flip one to the new app:",
        f'  resync-strangler set "{route}" new --reason "verified in shadow"',
        "or through the admin API with an admin token:",
        f"  TOKEN=$({login} | {_READ_TOKEN})",
        f'  curl -X POST {base_url}/_strangler/routes -H "Authorization: Bearer $TOKEN" '
        "-H 'Content-Type: application/json' "
        f'-d \'{{"route": "{route}", "mode": "new", "reason": "verified in shadow"}}\'',
        'Roll everything back: resync-strangler kill-switch --reason "..."',
        "",
    ]
    out.write("\n".join(lines))
    out.flush()


# glibc's mallopt() parameter for the number of malloc arenas.
_M_ARENA_MAX = -8


def tune_server_process(environ: MutableMapping[str, str] | None = None) -> None:
    """Set what a serving process (and the workers it spawns) should run with, unless set.

    * ``STRANGLER_GC_FREEZE=true``: each worker freezes its startup heap (see
      :func:`proxy.app.freeze_heap`).
    * ``STRANGLER_BUFFER_STDOUT=true``: log lines leave in batches, not one ``write()`` each
      (see :func:`proxy.telemetry.accesslog.buffer_stdout`).
    * ``MALLOC_ARENA_MAX=2``: glibc gives every thread that allocates its own arena, up to eight
      per core; the a2wsgi pool and the thread-offloaded I/O would each grow one and keep it.
      Workers read the variable at start; this process is told through ``mallopt``.
    """
    this_process = environ is None
    environ = os.environ if environ is None else environ
    environ.setdefault("STRANGLER_GC_FREEZE", "true")
    environ.setdefault("STRANGLER_BUFFER_STDOUT", "true")
    if "MALLOC_ARENA_MAX" not in environ:
        environ["MALLOC_ARENA_MAX"] = "2"
        if this_process:
            _limit_malloc_arenas(2)


def _limit_malloc_arenas(count: int) -> bool:
    """Ask glibc for at most ``count`` malloc arenas in this process; false where unsupported."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    # The symbols already loaded into this process: glibc's mallopt, or none (musl, others).
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, count))


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from proxy.cli.serve import uvicorn_options
    from proxy.settings import ProxySettings, describe_settings_error
    from proxy.telemetry.accesslog import configure_logging
    from proxy.telemetry.logredact import install_log_redaction

    try:  # a bad STRANGLER_* value stops here, named, before any worker starts
        settings = ProxySettings()
    except ValueError as exc:
        raise CommandError(f"bad settings: {describe_settings_error(exc)}") from None
    if settings.bulkhead and (settings.bulkhead_legacy_routes or settings.bulkhead_new_routes):
        from proxy.resync import resync_inventory
        from proxy.routing.bulkhead import BulkheadConfigError, Bulkheads

        try:  # a per-route limit on a route neither app serves (a typo) would stop every worker
            Bulkheads.from_settings(settings, known_routes=list(resync_inventory()))
        except BulkheadConfigError as exc:
            raise CommandError(f"bad settings: {exc}") from None
    configure_logging(os.environ.get("RESYNC_LOG_LEVEL", "INFO"))
    install_log_redaction()
    tune_server_process()
    print_flip_help(f"http://{args.host}:{args.port}")
    uvicorn.run(
        "proxy.resync:create_resync_proxy",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,  # the proxy writes one structured access line per request
        lifespan="on",
        # Forwarded headers only from STRANGLER_FORWARDED_ALLOW_IPS; a bounded request head.
        **uvicorn_options(settings),
    )
    return 0


def _routes(args: argparse.Namespace) -> int:
    body = _backend(args).routes()
    if args.json:
        _print_json(body)
    else:
        _console().print(_routes_table(body))
    return 0


def _set(args: argparse.Namespace) -> int:
    backend = _backend(args)
    if args.all:
        if args.route_or_mode not in MODES or args.mode is not None:
            raise CommandError("usage: set --all MODE [--percent P] --reason R")
        body = backend.set_all(
            mode=args.route_or_mode,
            percent=args.percent,
            reason=args.reason,
            expected_version=args.expected_version,
        )
        print(f"version {body['version']}: {body['changed']} route(s) set to {args.route_or_mode}")
        return 0
    if args.mode is None:
        raise CommandError('usage: set "METHOD /path" MODE [--percent P] --reason R')
    body = backend.set_route(
        route=args.route_or_mode,
        mode=args.mode,
        percent=args.percent,
        dry_run=args.dry_run,
        reason=args.reason,
        expected_version=args.expected_version,
    )
    percent = f" {body['percent']}%" if body["mode"] == "canary" else ""
    print(f"version {body['version']}: {body['route']} is {body['mode']}{percent}")
    return 0


def _kill_switch(args: argparse.Namespace) -> int:
    body = _backend(args).kill_switch(args.reason)
    print(f"version {body['version']}: {body['changed']} route(s) back to legacy")
    return 0


def _events(args: argparse.Namespace) -> int:
    body = _backend(args).events(limit=args.limit, offset=args.offset, route=args.route)
    if args.json:
        _print_json(body)
    else:
        _console().print(_events_table(body))
    return 0


def _mismatches(args: argparse.Namespace) -> int:
    body = _backend(args).mismatches(limit=args.limit, offset=args.offset, route=args.route)
    if args.json:
        _print_json(body)
    else:
        _console().print(_mismatches_table(body))
    return 0


def _parity(args: argparse.Namespace) -> int:
    return _run_parity(args.parity_args)


def _run_parity(argv: list[str]) -> int:
    """Hand every argument to the live parity runner (it has its own options and help)."""
    try:
        from proxy.cli.parity import main as parity_main
    except ImportError as exc:
        raise CommandError("live parity is not installed (proxy.cli.parity)") from exc
    return int(parity_main(argv) or 0)


def _db(args: argparse.Namespace) -> int:
    import migrations

    url = migrations.database_url()
    if args.action == "upgrade":
        migrations.upgrade(url)
        print(f"database at revision {migrations.current_revision(url)} ({url})")
    else:
        report = migrations.seed(url)
        print(
            f"seeded users={report.users} agents={report.agents} "
            f"audit_items={report.audit_items} documents={report.documents}"
        )
    return 0


def _flags(args: argparse.Namespace) -> int:
    backend = _backend(args)
    if args.action == "init":
        body = backend.init()
        what = "created" if body["created"] else "already exists:"
        store_id, version = body["store_id"], body["version"]
        print(f"flag store {body['store']} {what} store id {store_id}, version {version}")
        return 0
    if args.action == "identity":
        _print_json(backend.identity())
        return 0
    if args.action == "adopt":
        if not args.replaces:
            raise CommandError(
                "usage: flags adopt --replaces STORE_ID (the store id the proxies serve: "
                "refused.serving_store_id in /_strangler/health)"
            )
        body = backend.adopt(args.replaces)
        print(
            f"flag store {body['store']} is now store id {body['store_id']} (version "
            f"{body['version']}), replacing {body['replaces']}: proxies serving it take it"
        )
        return 0
    if args.action == "export":
        from proxy.flags.flagfile import dump_flag_file

        table = backend.export()
        if args.path:
            dump_flag_file(table, args.path)
            print(f"exported {len(table)} route(s) at version {table.version} to {args.path}")
        else:
            import tempfile

            with tempfile.TemporaryDirectory() as folder:
                target = Path(folder) / "flags.toml"
                dump_flag_file(table, target)
                sys.stdout.write(target.read_text(encoding="utf-8"))
        return 0
    if not args.path:
        raise CommandError("usage: flags import PATH [--reason R] [--expected-version V]")
    body = backend.import_file(Path(args.path), args.reason, args.expected_version)
    print(
        f"imported {args.path}: version {body['version']}, {body['routes']} route(s) in the table"
    )
    return 0


# Parser ------------------------------------------------------------------------------------------


def _remote_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default_url = argparse.SUPPRESS if suppress else os.environ.get("STRANGLER_URL")
    default_token = argparse.SUPPRESS if suppress else os.environ.get("STRANGLER_TOKEN")
    parser.add_argument(
        "--url", default=default_url, help="a running proxy (its admin API) instead of the store"
    )
    parser.add_argument("--token", default=default_token, help="admin access token for --url")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``resync-strangler`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="resync-strangler",
        description="Serve the Resync strangler proxy and operate its route flags.",
    )
    _remote_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Callable[[argparse.Namespace], int], help: str) -> Any:
        sub = commands.add_parser(name, help=help, description=help)
        _remote_options(sub, suppress=True)
        sub.set_defaults(handler=handler)
        return sub

    serve = command("serve", _serve, "run the proxy (both apps behind one URL) under uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")

    routes = command("routes", _routes, "show every route, the sides serving it and its mode")
    routes.add_argument("--json", action="store_true")

    set_ = command("set", _set, "set one route's mode, or every shared route's with --all")
    set_.add_argument("route_or_mode", metavar="ROUTE", help='"METHOD /path" (or MODE with --all)')
    set_.add_argument("mode", nargs="?", choices=MODES, metavar="MODE", help=", ".join(MODES))
    set_.add_argument("--all", action="store_true", help="every route both sides serve")
    set_.add_argument("--percent", type=int, default=None, help="canary share for new (0..100)")
    set_.add_argument(
        "--dry-run",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="shadow unsafe methods in a rolled-back transaction",
    )
    set_.add_argument("--reason", required=True)
    set_.add_argument("--expected-version", type=int, default=None)

    kill = command("kill-switch", _kill_switch, "send every route back to legacy")
    kill.add_argument("--reason", required=True)

    for name, handler, help in (
        ("events", _events, "list flag changes, newest first"),
        ("mismatches", _mismatches, "list recorded shadow mismatches, newest first"),
    ):
        listing = command(name, handler, help)
        listing.add_argument("--limit", type=int, default=50)
        listing.add_argument("--offset", type=int, default=0)
        listing.add_argument("--route", default=None)
        listing.add_argument("--json", action="store_true")

    parity = commands.add_parser(
        "parity",
        help="compare two live deployments route by route (see: parity --help)",
        add_help=False,
    )
    parity.add_argument("parity_args", nargs=argparse.REMAINDER)
    parity.set_defaults(handler=_parity)

    db = command("db", _db, "upgrade or seed the shared Resync database")
    db.add_argument("action", choices=("upgrade", "seed"))

    from proxy.cli.plan import add_plan_command

    add_plan_command(command)

    flags = command(
        "flags",
        _flags,
        "create the flag store (init), show (identity) or adopt it, export or import TOML",
    )
    flags.add_argument("action", choices=("init", "identity", "adopt", "export", "import"))
    flags.add_argument("path", nargs="?", default=None)
    flags.add_argument("--reason", default=None)
    flags.add_argument(
        "--expected-version", type=int, default=None, help="import only at this table version"
    )
    flags.add_argument(
        "--replaces",
        default=None,
        metavar="STORE_ID",
        help="with adopt: the store id the running proxies serve (and refuse to leave)",
    )

    from proxy.traffic.commands import add_commands

    add_commands(command)  # capture, replay, promote
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``resync-strangler`` command; return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        if arguments[:1] == ["parity"]:  # its options are the parity runner's, not ours
            return _run_parity(arguments[1:])
        args = build_parser().parse_args(arguments)
        return int(args.handler(args))
    except CommandError as exc:
        print(f"resync-strangler: {exc}", file=sys.stderr)
        return 1
