"""The admin API under ``/_strangler`` and the operator dashboard it serves.

Owns the admin routers (``api``) and the static dashboard (``dashboard/``). It works on a small
context (store, watcher, inventory, metrics, stats, mismatch store), never on the proxy's
dispatcher internals.

May import: everything below it (``flags``, ``shadow``, ``telemetry``, the top-level leaf
modules). Never ``cli``; ``routing`` only through the context it is given.
"""
