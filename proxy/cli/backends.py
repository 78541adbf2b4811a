"""Where the commands act: a running proxy's admin API (``--url``) or the local flag store.

Both answer with the admin API's bodies: :class:`AdminClient` asks the API, :class:`LocalStore`
runs the API's own flag operations (:class:`~proxy.flags.service.FlagService`) on the store the
workers share. Failures are :class:`~proxy.errors.CommandError`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxy.errors import CommandError

if TYPE_CHECKING:
    from proxy.flags.service import FlagService

__all__ = ["AdminClient", "LocalStore", "backend_for", "current_user"]


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
    """Run commands directly against the flag store the workers share.

    The flag operations are the admin API's own (:class:`~proxy.flags.service.FlagService`),
    planned against the store's table and checked against the Resync apps' routes.
    """

    def __init__(self) -> None:
        from proxy.settings import ProxySettings

        self.settings = ProxySettings()
        self.actor = f"cli:{current_user()}"

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

    def _service(self, work: Callable[[FlagService], Awaitable[Any]]) -> dict[str, Any]:
        """Run ``work`` on a flag service over the store and the Resync apps' routes."""
        from proxy.flags.service import FlagService
        from proxy.resync import resync_inventory

        inventory = resync_inventory()

        async def run(store: Any) -> Any:
            return await work(FlagService(store, inventory))

        return dict(self._run(run))

    def _change(self, work: Callable[[FlagService], Awaitable[Any]]) -> dict[str, Any]:
        """Run a change (set, set --all, kill-switch): a refused one is a command error."""
        from proxy.errors import RejectedChange

        try:
            return self._service(work)
        except RejectedChange as exc:
            raise CommandError(f"{exc.field}: {exc.reason}") from exc

    def routes(self) -> dict[str, Any]:
        return self._service(lambda service: service.routes())

    def set_route(self, **body: Any) -> dict[str, Any]:
        return self._change(
            lambda service: service.set_route(
                body["route"],
                body["mode"],
                percent=body.get("percent"),
                dry_run=body.get("dry_run"),
                actor=self.actor,
                reason=body["reason"],
                expected_version=body.get("expected_version"),
            )
        )

    def set_all(self, **body: Any) -> dict[str, Any]:
        return self._change(
            lambda service: service.set_all(
                body["mode"],
                percent=body.get("percent"),
                actor=self.actor,
                reason=body["reason"],
                expected_version=body.get("expected_version"),
            )
        )

    def kill_switch(self, reason: str) -> dict[str, Any]:
        return self._change(lambda service: service.kill_switch(actor=self.actor, reason=reason))

    def events(self, *, limit: int, offset: int, route: str | None) -> dict[str, Any]:
        return self._service(
            lambda service: service.events(limit=limit, offset=offset, route=route)
        )

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
        from proxy.errors import FlagFileError, InvalidFlag, RejectedImport
        from proxy.flags.flagfile import load_flag_file

        async def work(service: FlagService) -> dict[str, Any]:
            changes = load_flag_file(path)
            try:
                return await service.import_table(
                    changes,
                    actor=self.actor,
                    reason=reason or f"import {Path(path).name}",
                    expected_version=expected_version,
                )
            except RejectedImport as exc:  # a route the apps refuse, named with the file
                raise FlagFileError(path, str(exc)) from exc

        try:
            return self._service(work)
        except InvalidFlag as exc:  # unreadable, a bad entry, or a route the apps refuse
            raise CommandError(str(exc)) from exc


def current_user() -> str:
    """The operator's login name, for the actor of the changes the CLI makes."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def backend_for(args: argparse.Namespace) -> AdminClient | LocalStore:
    """The running proxy ``--url`` names, else the local store."""
    if args.url:
        return AdminClient(args.url, args.token)
    return LocalStore()
