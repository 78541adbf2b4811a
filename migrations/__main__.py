"""``python -m migrations upgrade|seed|reset`` against ``RESYNC_DATABASE_URL``."""

from __future__ import annotations

import sys

from migrations import current_revision, database_url, seed, upgrade


def main(argv: list[str] | None = None) -> int:
    """Run one database command and print what it did."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "help"
    url = database_url()
    if command == "upgrade":
        upgrade(url)
        print(f"database at revision {current_revision(url)} ({url})")
    elif command == "seed":
        report = seed(url)
        print(
            f"seeded users={report.users} agents={report.agents} "
            f"audit_items={report.audit_items} documents={report.documents}"
        )
    elif command == "current":
        print(current_revision(url) or "empty")
    else:
        print("usage: python -m migrations upgrade|seed|current", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
