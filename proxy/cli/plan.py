"""``resync-strangler plan``: set, list and operate rollout plans from a terminal.

::

    resync-strangler plan set "GET /api/v1/agents" "shadow 5m -> canary 1% 5m -> 5% -> new" \\
        --reason "move agents" [--min-requests 200] [--gate max_p95_ratio=1.3] [--paused]
    resync-strangler plan list                     # plans, current step, last gate figures
    resync-strangler plan history --route "GET /api/v1/agents"
    resync-strangler plan pause|resume|promote|abort|delete "GET /api/v1/agents" --reason "..."
    resync-strangler plan promote "GET /api/v1/agents" --step 3 --reason "skip ahead"

Like the other commands, it works on the local store (``STRANGLER_FLAG_STORE_URL``) or, with
``--url`` and ``--token``, through a running proxy's admin API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from proxy.errors import CommandError, InvalidFlag, StoreError

__all__ = ["add_plan_command"]

ACTIONS = ("list", "history", "set", "pause", "resume", "promote", "abort", "delete")


def _gates(values: list[str]) -> dict[str, float]:
    gates: dict[str, float] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            raise CommandError(f"--gate takes NAME=VALUE, not {item!r}")
        try:
            number = float(value)
        except ValueError:
            raise CommandError(f"--gate {name}: {value!r} is not a number") from None
        gates[name.strip()] = int(number) if name.strip() == "min_samples" else number
    return gates


def _remote(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    import httpx

    if not args.token:
        raise CommandError("--token (or STRANGLER_TOKEN) is required with --url")
    try:
        response = httpx.request(
            method,
            args.url.rstrip("/") + path,
            headers={"Authorization": f"Bearer {args.token}"},
            timeout=10,
            **kwargs,
        )
    except httpx.HTTPError as exc:
        raise CommandError(f"cannot reach the proxy: {exc}") from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail") or response.text
        except ValueError:
            detail = response.text
        raise CommandError(f"{response.status_code}: {detail}")
    return dict(response.json())


def _local(work: Callable[[Any], Awaitable[Any]]) -> Any:
    from proxy.flags.stores import open_store
    from proxy.resync import resync_inventory
    from proxy.rollout.control import PlanControl
    from proxy.rollout.storage import rollout_store_for
    from proxy.settings import ProxySettings

    settings = ProxySettings()

    async def run() -> Any:
        store = open_store(settings.flag_store_url)
        await store.open()
        rollout = rollout_store_for(store)
        await rollout.open()
        try:
            return await work(PlanControl(store, rollout, resync_inventory()))
        finally:
            await rollout.close()
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        raise CommandError(f"flag store {settings.flag_store_url}: {exc}") from exc


def _run(args: argparse.Namespace) -> int:
    from proxy.cli.backends import current_user
    from proxy.rollout.control import PlanActionRefused, plan_view
    from proxy.rollout.plans import plan_from_mapping

    action = args.action
    if action not in ("list", "history") and not args.route:
        raise CommandError(f"plan {action} needs a ROUTE")
    if action not in ("list", "history") and not args.reason:
        raise CommandError(f"plan {action} needs --reason")
    if action == "set" and not args.steps:
        raise CommandError('plan set needs STEPS, like "shadow 5m -> 50% -> new"')
    data: dict[str, Any] = {"steps": args.steps, "gates": _gates(args.gate)}
    if args.min_duration is not None:
        data["min_duration"] = args.min_duration
    if args.min_requests is not None:
        data["min_requests"] = args.min_requests
    if args.rollback is not None:
        data["rollback"] = args.rollback

    if args.url:
        if action == "list":
            body = _remote(args, "GET", "/_strangler/plans")
        elif action == "history":
            params = {"limit": args.limit, **({"route": args.route} if args.route else {})}
            body = _remote(args, "GET", "/_strangler/plans/history", params=params)
        elif action == "set":
            payload = {"route": args.route, "reason": args.reason, "start": not args.paused}
            body = _remote(args, "POST", "/_strangler/plans", json={**payload, **data})
        else:
            payload = {"route": args.route, "reason": args.reason}
            if args.step is not None:
                payload["step"] = args.step
            body = _remote(args, "POST", f"/_strangler/plans/{action}", json=payload)
        return _show(args, action, body)

    actor = f"cli:{current_user()}"

    async def work(control: Any) -> Any:
        try:
            if action == "list":
                return {"items": [plan_view(d) for d in await control.rollout.plans()]}
            if action == "history":
                entries = await control.rollout.history(route=args.route, limit=args.limit)
                return {
                    "items": [{"id": e.id, "route": e.route, "at": e.at, **e.body} for e in entries]
                }
            if action == "set":
                plan = plan_from_mapping(args.route, data)
                await control.put(plan, actor=actor, reason=args.reason, start=not args.paused)
                document = await control.rollout.plan(args.route)
                return plan_view(document)
            if action == "delete":
                await control.delete(args.route, actor=actor, reason=args.reason)
                return {"route": args.route, "deleted": True}
            return await control.act(
                args.route, action, actor=actor, reason=args.reason, to_step=args.step
            )
        except (InvalidFlag, PlanActionRefused) as exc:
            raise CommandError(str(exc)) from exc

    return _show(args, action, _local(work))


def _show(args: argparse.Namespace, action: str, body: dict[str, Any]) -> int:
    if args.json or action == "history":
        print(json.dumps(body, indent=2, sort_keys=True, default=str))
        return 0
    items = body.get("items") if action == "list" else [body]
    for item in items or []:
        if "steps" not in item:
            print(json.dumps(item, sort_keys=True))
            continue
        print(
            f"{item['route']}: {item['status']} at step {item['step'] + 1}/{len(item['steps'])}"
            f" ({item['current']}) - {item['reason']}"
        )
        print(f"  plan: {item['plan']['steps']}")
    if action == "list" and not items:
        print("no plans", file=sys.stderr)
    return 0


def add_plan_command(command: Callable[..., Any]) -> None:
    """Register ``plan`` on the CLI's parser (``command``: the CLI's sub-parser factory)."""
    plan = command("plan", _run, "set, list and operate rollout plans (the autopilot)")
    plan.add_argument("action", choices=ACTIONS)
    plan.add_argument("route", nargs="?", default=None, metavar="ROUTE")
    plan.add_argument("steps", nargs="?", default=None, metavar="STEPS")
    plan.add_argument("--reason", default=None)
    plan.add_argument("--step", type=int, default=None, help="promote: the step to jump to (0..)")
    plan.add_argument("--min-duration", default=None, help="steps without one (5m)")
    plan.add_argument("--min-requests", type=int, default=None, help="steps without one")
    plan.add_argument("--rollback", choices=("legacy", "last-good"), default=None)
    plan.add_argument("--gate", action="append", default=[], metavar="NAME=VALUE")
    plan.add_argument("--paused", action="store_true", help="set the plan without starting it")
    plan.add_argument("--limit", type=int, default=50)
    plan.add_argument("--json", action="store_true")
