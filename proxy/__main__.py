"""``python -m proxy``: the ``resync-strangler`` command line."""

from __future__ import annotations

from proxy.cli.commands import main

if __name__ == "__main__":
    raise SystemExit(main())
