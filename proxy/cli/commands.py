"""``resync-strangler``: serve the proxy and operate its flag table from a terminal.

This module holds the parser and the handlers; ``backends`` where they act, ``tables`` what they
print. Commands act on the local flag store (``STRANGLER_FLAG_STORE_URL``, the same one the workers
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
import os
import sys
from collections.abc import Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from proxy.cli.backends import backend_for
from proxy.cli.tables import console, events_table, mismatches_table, print_json, routes_table
from proxy.errors import CommandError

__all__ = ["CommandError", "build_parser", "main", "print_flip_help"]

MODES = ("legacy", "new", "canary", "shadow", "shadow-new")
_READ_TOKEN = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])'"  # noqa: S105 - a shell snippet, not a secret


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
    body = backend_for(args).routes()
    if args.json:
        print_json(body)
    else:
        console().print(routes_table(body))
    return 0


def _set(args: argparse.Namespace) -> int:
    backend = backend_for(args)
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
    body = backend_for(args).kill_switch(args.reason)
    print(f"version {body['version']}: {body['changed']} route(s) back to legacy")
    return 0


def _events(args: argparse.Namespace) -> int:
    body = backend_for(args).events(limit=args.limit, offset=args.offset, route=args.route)
    if args.json:
        print_json(body)
    else:
        console().print(events_table(body))
    return 0


def _mismatches(args: argparse.Namespace) -> int:
    body = backend_for(args).mismatches(limit=args.limit, offset=args.offset, route=args.route)
    if args.json:
        print_json(body)
    else:
        console().print(mismatches_table(body))
    return 0


def _parity(args: argparse.Namespace) -> int:
    return _run_parity(args.parity_args)


def _run_parity(argv: list[str]) -> int:
    """Hand every argument to the live parity runner (it has its own options and help)."""
    from proxy.cli.parity import main as parity_main  # imported when used: rich, httpx

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
    backend = backend_for(args)
    if args.action == "init":
        body = backend.init()
        what = "created" if body["created"] else "already exists:"
        store_id, version = body["store_id"], body["version"]
        print(f"flag store {body['store']} {what} store id {store_id}, version {version}")
        return 0
    if args.action == "identity":
        print_json(backend.identity())
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
