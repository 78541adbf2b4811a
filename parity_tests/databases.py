"""Database copies and snapshots for the differential suite: :mod:`proxy.traffic.databases`.

The code lives in the product so that ``resync-strangler replay`` copies databases and compares
their rows exactly as this suite does (the suite depends on the proxy, never the reverse).
"""

from proxy.traffic.databases import (
    SNAPSHOT_RULES,
    SNAPSHOT_TABLES,
    DatabaseCopies,
    compare_snapshots,
    snapshot,
)

__all__ = ["SNAPSHOT_RULES", "SNAPSHOT_TABLES", "DatabaseCopies", "compare_snapshots", "snapshot"]
