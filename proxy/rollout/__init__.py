"""The rollout autopilot: plans that move a route step by step, judged by gates, rolled back.

Owns plans and their state (``plans``, ``state``, ``storage/`` beside each flag store), the gates
and their statistics (``gates``, ``mannwhitney``, ``measure``), the lease-holding autopilot loop
(``autopilot``, ``control``), webhooks (``notify``), and its admin routes and CLI command
(``admin``, ``cli``), attached to a proxy by ``wiring``.

May import: ``flags``, ``telemetry``, the admin's auth and problems, and the top-level leaf
modules. Never ``routing``'s dispatcher or ``proxy.cli``.
"""
