"""The flag table's life outside a request: where it is kept and how changes reach workers.

Owns the stores (``stores/``: SQLite, PostgreSQL, Redis behind one ``FlagStore`` interface, with
store identity), change planning and validation (``changes``), the flag operations the admin API
and the CLI share (``service``: plan, compare-and-set, the event JSON), the TOML flag file
(``flagfile``) and the per-worker watcher that keeps the served table in step with the store and
refuses a rewound or replaced one (``watcher``).

May import: the top-level leaf modules (``errors``, ``modes``, ``inventory``, ``settings``).
Never ``routing``, ``shadow``, ``admin``, ``cli`` or ``rollout``.
"""
