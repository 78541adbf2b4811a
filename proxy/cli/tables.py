"""What the commands print: JSON, or rich tables of routes, events and mismatches."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["console", "events_table", "mismatches_table", "print_json", "routes_table"]


def console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _plain(value: object) -> Any:
    """Return ``value`` as rich text taken literally: server text is never console markup.

    A diff such as ``body.items[0]: [value] != [missing]`` (or a reason an operator typed with
    brackets) would otherwise be read as markup tags and silently disappear from the table.
    """
    from rich.text import Text

    return Text("" if value is None else str(value))


def routes_table(body: dict[str, Any]) -> Any:
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


def events_table(body: dict[str, Any]) -> Any:
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


def mismatches_table(body: dict[str, Any]) -> Any:
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
