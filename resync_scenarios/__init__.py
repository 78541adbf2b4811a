"""The parity scenarios: every route of the Resync API, per role and without a token, plus the
contract's bad inputs, as data.

This package owns the scenarios and their type (:class:`Scenario`, in :mod:`.model`), one module
per resource (health, auth, users, agents, chat, audit, rag, status, and the hardening review's
inputs across them), the routes waived from parity (:data:`WAIVERS`), and :data:`SCENARIOS`, which
this module assembles from the resource modules in a fixed order (names and order are what the
suite and its reports show). It is plain data: it imports neither the apps' internals
(``legacy_flask``, ``resync_fastapi``) nor ``parity_tests``, only the seed's runbook folder
(``migrations.seed``) for an upload of a seeded file.

Used by ``parity_tests/`` (in-process, each side on its own copy of a seeded database, plus the
promoted case files it loads itself) and by ``proxy.cli.parity`` (the read-only ones, against
two running deployments).
"""

from __future__ import annotations

from resync_scenarios import agents, audit, auth, chat, hardening, health, rag, status, users
from resync_scenarios.model import BROKEN_CREDENTIALS, NO_BODY, ROLES, Scenario, multipart
from resync_scenarios.waivers import WAIVERS

__all__ = [
    "BROKEN_CREDENTIALS",
    "NO_BODY",
    "ROLES",
    "SCENARIOS",
    "WAIVERS",
    "Scenario",
    "multipart",
]

#: The resource modules, in the order their scenarios run.
_MODULES = (health, auth, users, agents, chat, audit, rag, status, hardening)

SCENARIOS: tuple[Scenario, ...] = tuple(
    scenario for module in _MODULES for scenario in module.scenarios()
)
