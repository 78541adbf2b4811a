"""The admin API under ``/_strangler`` and the operator dashboard it serves.

Owns the admin app (``app.create_admin_app``), one router per resource (``routes``: the flag
table and its changes; ``events``; ``health``: health, stats, progress, metrics; ``mismatches``),
what they share (``common``: auth dependency, JSON, problem documents) and the static dashboard
(``dashboard/``). It works on a small frozen context (``context.AdminContext``: store, watcher,
inventory, metrics, stats, mismatch store), never on the proxy itself: nothing here imports
``proxy.app``. Flag changes go through ``proxy.flags.service``, which the CLI shares.

May import: everything below it (``flags``, ``shadow``, ``telemetry``, the top-level leaf
modules). Never ``cli``; ``routing`` only through the context it is given.
"""
